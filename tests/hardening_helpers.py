"""Small models and a CLI runner shared by the tests/test_hardening_*.py files (issue 19)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgec.cli import main


def save_model(
    path: Path,
    nodes: Sequence[onnx.NodeProto],
    inputs: Sequence[onnx.ValueInfoProto],
    outputs: Sequence[onnx.ValueInfoProto],
    initializers: Sequence[onnx.TensorProto] = (),
) -> Path:
    graph = helper.make_graph(list(nodes), "g", list(inputs), list(outputs), list(initializers))
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8), path)
    return path


def tensor(
    name: str, dims: Sequence[int | str] | None, dtype: int = TensorProto.FLOAT
) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, dtype, dims)


def relu_model(path: Path, dims: Sequence[int | str] = (1, 4), name: str = "x") -> Path:
    """y = Relu(x): the smallest model a build accepts."""
    return save_model(
        path,
        [helper.make_node("Relu", [name], ["y"], name="relu")],
        [tensor(name, dims)],
        [tensor("y", dims)],
    )


def conv_model(path: Path, input_name: str = "x", dims: Sequence[int | str] = (1, 3, 8, 8)) -> Path:
    """A 3x3 Conv (2 output channels) then Relu: a small image model every backend builds."""
    weight = numpy_helper.from_array(
        np.random.default_rng(0).standard_normal((2, 3, 3, 3)).astype(np.float32), "w"
    )
    nodes = [
        helper.make_node("Conv", [input_name, "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["y"], name="relu"),
    ]
    out_dims = [dims[0], 2, dims[2], dims[3]]
    return save_model(path, nodes, [tensor(input_name, dims)], [tensor("y", out_dims)], [weight])


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    """``edgec ARGV`` in this process: (exit code, stderr)."""
    code = main(list(argv))
    return code, capsys.readouterr().err


def assert_clean(code: int, err: str, expected: int, *needles: str) -> None:
    """A documented exit code, one line on stderr, no traceback, every needle named."""
    assert code == expected, (code, err)
    text = err.strip()
    assert "Traceback" not in text and "internal error" not in text, text
    assert text.startswith("edgec: error: ") or text.startswith("usage: "), text
    assert "\n" not in text or text.startswith("usage: "), text
    for needle in needles:
        assert needle in text, (needle, text)


def edgec_subprocess(
    *argv: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edgec", *argv], cwd=cwd, capture_output=True, text=True, check=False, env=env
    )


def files_below(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}
