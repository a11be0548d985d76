"""Issue 19 items 1 and 5: --force never destroys a user's files, concurrent builds and outputs that
appear mid-build fail cleanly (exit 8), stale staging directories of dead builds are removed."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys

import pytest
from hardening_helpers import assert_clean, edgec_subprocess, relu_model, run_cli

from edgec import bundle
from edgec.bundle import staging
from edgec.errors import OutputExistsError

BUILD = ("build", "-t", "onnxruntime-cpu")


def test_force_never_replaces_the_current_directory(tmp_path, monkeypatch, capsys):
    model = relu_model(tmp_path / "m.onnx")
    monkeypatch.chdir(tmp_path)
    code, err = run_cli(capsys, *BUILD, str(model), "-o", ".", "--force")
    assert_clean(code, err, 8, "--force", "current directory")
    assert model.is_file()


def test_force_never_replaces_a_directory_containing_the_model(tmp_path, capsys):
    folder = tmp_path / "work"
    folder.mkdir()
    model = relu_model(folder / "m.onnx")
    (folder / "manifest.json").write_text('{"edgec_version": "0"}')  # even one that looks like a bundle
    code, err = run_cli(capsys, *BUILD, str(model), "-o", str(tmp_path), "--force")
    assert_clean(code, err, 8, "contains the input")
    code, err = run_cli(capsys, *BUILD, str(model), "-o", str(folder), "--force")
    assert_clean(code, err, 8, "contains the input")
    assert model.is_file() and (folder / "manifest.json").is_file()


def test_force_replaces_only_an_edgec_bundle(tmp_path, capsys):
    model = relu_model(tmp_path / "m.onnx")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work")
    code, err = run_cli(capsys, *BUILD, str(model), "-o", str(mine), "--force")
    assert_clean(code, err, 8, "holds no edgec bundle")
    assert (mine / "thesis.tex").read_text() == "years of work"
    out = tmp_path / "out"
    assert run_cli(capsys, *BUILD, str(model), "-o", str(out))[0] == 0
    assert run_cli(capsys, *BUILD, str(model), "-o", str(out), "--force")[0] == 0
    assert (out / "manifest.json").is_file()


@pytest.mark.parametrize("appeared", ["empty", "with a file"])
def test_an_output_that_appears_during_the_build_is_left_alone(tmp_path, appeared):
    out = tmp_path / "out"
    with pytest.raises(OutputExistsError, match=r"exists|appeared"), staging(out, force=False) as tmp:
        (tmp / "model.onnx").write_bytes(b"new")
        out.mkdir()
        if appeared == "with a file":
            (out / "precious.txt").write_text("keep")
    assert out.is_dir() and not list(tmp_path.glob(".out.*"))
    if appeared == "with a file":
        assert (out / "precious.txt").read_text() == "keep"
    else:
        assert list(out.iterdir()) == []


def test_a_foreign_directory_appearing_under_force_is_left_alone(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(OutputExistsError, match="no edgec bundle"), staging(out, force=True) as tmp:
        (tmp / "model.onnx").write_bytes(b"new")
        out.mkdir()
        (out / "precious.txt").write_text("keep")
    assert (out / "precious.txt").read_text() == "keep"


def test_a_build_while_another_holds_the_output_exits_8(tmp_path, capsys):
    model = relu_model(tmp_path / "m.onnx")
    out = tmp_path / "out"
    with open(tmp_path / ".out.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        code, err = run_cli(capsys, *BUILD, str(model), "-o", str(out))
    assert_clean(code, err, 8, "another edgec build", str(out))
    assert not out.exists()


SYNCED = (
    "import os, sys, time\n"
    "from pathlib import Path\n"
    "from edgec import pipeline\n"
    "real, sync = pipeline._compile, Path(sys.argv.pop(1))\n"
    "def synced(options, plan):\n"  # both builds have passed their checks before either compiles
    "    (sync / str(os.getpid())).touch()\n"
    "    while len(list(sync.iterdir())) < 2:\n"
    "        time.sleep(0.05)\n"
    "    return real(options, plan)\n"
    "pipeline._compile = synced\n"
    "from edgec.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def test_two_concurrent_builds_to_one_output_one_wins_one_exits_8(tmp_path):
    work, sync = tmp_path / "work", tmp_path / "sync"
    work.mkdir()
    sync.mkdir()
    model = relu_model(work / "m.onnx")
    argv = [sys.executable, "-c", SYNCED, str(sync), *BUILD, str(model), "-o", "out"]
    runs = [subprocess.Popen(argv, cwd=work, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(run.wait(timeout=300), run.stderr.read()) for run in runs if run.stderr is not None]
    assert sorted(code for code, _ in results) == [0, 8], results
    loser = next(err for code, err in results if code == 8)
    assert "Traceback" not in loser and loser.startswith("edgec: error: ")
    assert sorted(p.name for p in work.iterdir()) == ["m.onnx", "out"]


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_the_next_build_removes_staging_directories_of_dead_builds(tmp_path, capsys):
    model = relu_model(tmp_path / "m.onnx")
    stale = tmp_path / f".out.{_dead_pid()}-abc123.tmp"
    stale.mkdir()
    (stale / "manifest.json").write_text('{"edgec_version": "0"}')  # a complete-looking bundle
    alive = tmp_path / ".out.1-def456.tmp"  # pid 1 is always alive: not ours to remove
    alive.mkdir()
    other = tmp_path / f".out.b.{_dead_pid()}-abc123.tmp"  # the staging directory of output 'out.b'
    other.mkdir()
    assert run_cli(capsys, *BUILD, str(model), "-o", str(tmp_path / "out"))[0] == 0
    assert not stale.exists() and alive.exists() and other.exists()
    assert not (tmp_path / ".out.lock").exists()


def test_a_killed_build_leaves_a_staging_directory_the_next_build_removes(tmp_path):
    model = relu_model(tmp_path / "m.onnx")
    # The build stops (SIGKILL) in the middle of writing its bundle, as a kill -9 would leave it.
    script = (
        "import os, signal, sys\n"
        "from edgec import pipeline\n"
        "real = pipeline.write_json\n"
        "def dying(path, data):\n"
        "    real(path, data)\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "pipeline.write_json = dying\n"
        "from edgec.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    killed = subprocess.run(
        [sys.executable, "-c", script, *BUILD, str(model), "-o", "out"], cwd=tmp_path, check=False
    )
    assert killed.returncode == -9
    leftovers = list(tmp_path.glob(".out.*.tmp"))
    assert len(leftovers) == 1 and not (tmp_path / "out").exists()
    done = edgec_subprocess(*BUILD, str(model), "-o", "out", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "out"]


def test_remove_stale_skips_symlinks_and_files(tmp_path):
    target = tmp_path / "target"
    target.mkdir()
    (tmp_path / f".out.{_dead_pid()}-x.tmp").symlink_to(target)
    (tmp_path / f".out.{_dead_pid()}-y.tmp").write_text("a file")
    assert bundle.remove_stale(tmp_path, "out") == []
    assert target.is_dir() and os.path.islink(tmp_path / next(p.name for p in tmp_path.glob(".out.*-x.tmp")))
