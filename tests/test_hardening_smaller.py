"""Issue 19 item 6: generated scripts pass shellcheck, a static dim <= 0 is invalid (not "dynamic"),
an unknown pass in --targets-file exits 6, hostile names keep the bundle README's tables whole,
--max-accuracy-drop on a build it cannot bind is refused."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import onnx
import pytest
from hardening_helpers import assert_clean, conv_model, relu_model, run_cli, save_model, tensor
from onnx import helper

SHELLCHECK = Path(sys.executable).parent / "shellcheck"


def _shellcheck(directory: Path) -> subprocess.CompletedProcess[str]:
    scripts = sorted(str(p) for p in directory.glob("*.sh"))
    assert scripts
    return subprocess.run([str(SHELLCHECK), *scripts], capture_output=True, text=True, check=False)


@pytest.mark.parametrize("target", ["snapdragon-855-cpu", "snapdragon-855-gpu", "snapdragon-625-gpu"])
def test_snpe_float_runtime_scripts_pass_shellcheck(tmp_path, capsys, target):
    model = conv_model(tmp_path / "m.onnx")
    out = tmp_path / "out"
    code, err = run_cli(capsys, "build", str(model), "-t", target, "-o", str(out))
    assert code == 0, err
    done = _shellcheck(out)
    assert done.returncode == 0, done.stdout


def test_tensorrt_scripts_with_a_shape_profile_and_a_dollar_in_a_name_pass_shellcheck(tmp_path, capsys):
    model = conv_model(tmp_path / "m.onnx", input_name="in$put", dims=("N", 3, 8, 8))
    out = tmp_path / "out"
    profile = "in$put=1x3x8x8:2x3x8x8:4x3x8x8"
    code, err = run_cli(
        capsys, "build", str(model), "-t", "jetson-orin-nano", "-o", str(out), "--shape-profile", profile
    )
    assert code == 0, err
    assert "in$put" in (out / "build_engine.sh").read_text()
    done = _shellcheck(out)
    assert done.returncode == 0, done.stdout


@pytest.mark.parametrize("dim", [0, -3])
def test_a_static_dim_of_zero_or_below_is_invalid_not_dynamic(tmp_path, capsys, dim):
    model = relu_model(tmp_path / "m.onnx", dims=(1, 4))
    proto = onnx.load(model)
    proto.graph.input[0].type.tensor_type.shape.dim[0].dim_value = dim
    onnx.save(proto, model)
    code, err = run_cli(capsys, "build", str(model), "-t", "onnxruntime-cpu", "-o", str(tmp_path / "o"))
    assert_clean(code, err, 5, "m.onnx", "input 'x'", f"dim 0 as {dim}", "not a valid size")
    assert "has a dynamic" not in err


def test_an_unknown_pass_in_a_targets_file_exits_6(tmp_path, capsys):
    catalogue = tmp_path / "mine.toml"
    catalogue.write_text(
        "[targets.mybox]\n"
        'description = "a box"\nfamily = "x86-cpu"\nbackend = "onnxruntime"\nprecisions = ["fp32"]\n'
        'default_precision = "fp32"\ndefault_batch = 1\npasses = ["cleanup", "make-it-fast"]\n'
        "peak_gops = { fp32 = 10 }\nmemory_bandwidth_gbs = 1\n"
        '[targets.mybox.hardware]\ncpu = "x"\ncores = 1\nisa = "x86-64"\n'
    )
    model = relu_model(tmp_path / "m.onnx")
    argv = ("build", str(model), "-t", "mybox", "--targets-file", str(catalogue), "-o", str(tmp_path / "o"))
    code, err = run_cli(capsys, *argv)
    assert_clean(code, err, 6, "mine.toml", "mybox", "make-it-fast")


HOSTILE_IN = "in|put `x` ``y``\nsecond line"
HOSTILE_OUT = "out|\r\nput`"


def _table_rows(readme: str, header: str) -> list[list[str]]:
    """The cells of the Markdown table after ``header``, split at unescaped pipes."""
    lines = readme.splitlines()
    start = lines.index(header)
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]])
    return rows


def test_names_with_newlines_backticks_and_pipes_keep_the_readme_tables_whole(tmp_path, capsys):
    nodes = [helper.make_node("Relu", [HOSTILE_IN], [HOSTILE_OUT], name="r")]
    model = save_model(
        tmp_path / "m.onnx", nodes, [tensor(HOSTILE_IN, [1, 4])], [tensor(HOSTILE_OUT, [1, 4])]
    )
    out = tmp_path / "out"
    code, err = run_cli(capsys, "build", str(model), "-t", "onnxruntime-cpu", "-o", str(out))
    assert code == 0, err
    readme = (out / "README.md").read_text()
    rows = _table_rows(readme, "| | name | shape | dtype | layout |")
    assert [row[0] for row in rows] == ["input", "output"]
    assert all(len(row) == 5 for row in rows)
    name_in, name_out = rows[0][1], rows[1][1]
    # One code span each, fenced by more backticks than the name holds, line breaks shown as \n.
    assert name_in.startswith("```") and name_in.endswith("```") and "second line" in name_in
    assert "\\n" in name_in and "\\|" in name_in and "\\r\\n" in name_out
    files = _table_rows(readme, "| file | sha256 |")
    assert all(len(row) == 2 for row in files) and len(files) >= 4


def test_max_accuracy_drop_on_a_float_build_is_refused(tmp_path, capsys):
    model = relu_model(tmp_path / "m.onnx")
    argv = (
        "build",
        str(model),
        "-t",
        "onnxruntime-cpu",
        "-o",
        str(tmp_path / "o"),
        "--max-accuracy-drop",
        "top1=1",
    )
    code, err = run_cli(capsys, *argv)
    assert_clean(code, err, 2, "--max-accuracy-drop", "fp32", "onnxruntime-cpu")
    assert not (tmp_path / "o").exists()
