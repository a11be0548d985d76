"""Shared pieces of the TensorRT backend tests: real models loaded once, emit without the CLI."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

from edgec.backends.tensorrt import BACKEND
from edgec.backends.tensorrt.options import TensorRTOptions
from edgec.frontend import load_model
from edgec.ir.graph import Graph
from edgec.passes import make_spec, run_passes
from edgec.plugin import Artifact, BuildRequest
from edgec.targets import load_catalogue

SHELLCHECK = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "shellcheck"
MODELS = {
    "efficientnet_lite0.onnx": {},
    "ppocr_mobile_v2_cls.onnx": {"x": (1, 3, 48, 192)},
    "yolox_det.onnx": {},
}
JETSONS = [t for t in load_catalogue().values() if t.family == "jetson"]
HOSTILE = "a b'c\"$(touch pwned)`id`/../x;rm -rf ~"


def cleaned(path: Path, shapes: dict) -> Graph:
    graph = load_model(path, shapes, default_batch=1)
    run_passes(graph, [make_spec("cleanup")])
    return graph


def emit(
    graph: Graph, target_name: str, precision: str, out: Path, samples=(), quantization=None, **options
) -> Artifact:
    target = load_catalogue().get(target_name)
    out.mkdir(parents=True, exist_ok=True)
    request = BuildRequest(
        target,
        precision,
        "model",
        options=TensorRTOptions(**options),
        samples=list(samples),
        quantization=quantization,
    )
    return BACKEND.emit(graph, request, out)


def random_feed(graph: Graph, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {v.name: np.clip(rng.standard_normal(v.shape), -3, 3).astype(v.dtype) for v in graph.inputs}


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def shellcheck(*paths: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(SHELLCHECK), *map(str, paths)], capture_output=True, text=True, check=False)


def hostile_model(path: Path) -> Path:
    """Conv -> Relu -> Add(residual) with names full of shell and path metacharacters."""
    rng = np.random.default_rng(0)
    weight = helper.make_tensor(
        f"w {HOSTILE}", TensorProto.FLOAT, [4, 4, 3, 3], rng.standard_normal(144).astype(np.float32)
    )
    nodes = [
        helper.make_node(
            "Conv",
            [f"in {HOSTILE}", f"w {HOSTILE}"],
            [f"conv {HOSTILE}"],
            name=f"Conv {HOSTILE}",
            pads=[1, 1, 1, 1],
        ),
        helper.make_node("Relu", [f"conv {HOSTILE}"], [f"relu {HOSTILE}"], name=f"Relu {HOSTILE}"),
        helper.make_node(
            "Add", [f"relu {HOSTILE}", f"in {HOSTILE}"], [f"out {HOSTILE}"], name=f"Add {HOSTILE}"
        ),
    ]
    graph = helper.make_graph(
        nodes,
        f"graph {HOSTILE}",
        [helper.make_tensor_value_info(f"in {HOSTILE}", TensorProto.FLOAT, [1, 4, 8, 8])],
        [helper.make_tensor_value_info(f"out {HOSTILE}", TensorProto.FLOAT, [1, 4, 8, 8])],
        initializer=[weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.save_model(model, path)
    return path
