"""The wheel works like the editable install: build it, install it into a fresh
venv (dependencies come from the test venv; edgec only from the wheel) and run
`edgec targets` and a build of the example model."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(*cmd: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, check=False)
    assert done.returncode == 0, (cmd, done.stdout[-2000:], done.stderr[-2000:])
    return done


SOURCES = ("pyproject.toml", "README.md", "targets.toml", "compiler", "backends", "templates")


def _copy_sources(dest: Path) -> Path:
    """A copy of what the wheel is built from, so no stale build/ directory leaks in."""
    dest.mkdir()
    for name in SOURCES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dest / name)
    return dest


def test_wheel_installs_and_runs(tmp_path):
    src = _copy_sources(tmp_path / "src")
    dist = tmp_path / "dist"
    _run(sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", dist, src, cwd=tmp_path)
    (wheel,) = (tmp_path / "dist").glob("edgec-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {
        "edgec/targets.toml",
        "edgec/templates/onnxruntime/run.py.j2",
        "edgec/backends/onnxruntime/backend.py",
    } <= names
    assert not [n for n in names if n.startswith(("compiler/", "backends/", "templates/", "tests/"))]

    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    _run(python, "-m", "pip", "install", "--no-deps", "--no-index", wheel, cwd=tmp_path)
    site = Path(
        _run(
            python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=tmp_path
        ).stdout.strip()
    )
    (site / "test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    where = _run(python, "-c", "import edgec; print(edgec.__file__)", cwd=tmp_path).stdout.strip()
    assert where.startswith(str(venv)), where
    targets = json.loads(_run(venv / "bin" / "edgec", "targets", "--json", cwd=tmp_path).stdout)
    assert "onnxruntime-cpu" in {t["name"] for t in targets}
    example = ROOT / "tests" / "data" / "ppocr_mobile_v2_cls.onnx"
    _run(
        venv / "bin" / "edgec",
        "build",
        example,
        "-t",
        "onnxruntime-cpu",
        "--input-shape",
        "x=1x3x48x192",
        cwd=tmp_path,
    )
    assert (tmp_path / "dist" / "ppocr_mobile_v2_cls-onnxruntime-cpu" / "run.py").is_file()
