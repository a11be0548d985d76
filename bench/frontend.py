"""Frontend speed: load + cleanup per model as a ratio to creating an ONNX
Runtime session on the same file, and scaling on synthetic chains.

    python bench/frontend.py [--models DIR] [--repeat N]

Prints, per model, the median time of `load_model` + the cleanup pipeline
and of `onnxruntime.InferenceSession(file)`, and their ratio. Then times
chains of 500 and 5,000 nodes; the ratio of the two times must stay under
15 (near-linear: 10x the nodes). Exits 1 when it does not.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from timing import median_seconds

from edgec.frontend import load_model
from edgec.passes import make_spec, run_passes

MODELS = {
    "efficientnet_lite0.onnx": {},
    "ppocr_mobile_v2_cls.onnx": {"x": (1, 3, 48, 192)},
    "yolox_det.onnx": {},
}
MAX_SCALING = 15.0


def compile_once(path: Path, shapes: dict[str, tuple[int, ...]]) -> None:
    graph = load_model(path, shapes)
    run_passes(graph, [make_spec("cleanup")])


def ort_session(path: Path) -> None:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def chain_model(nodes: int, path: Path) -> None:
    """``nodes`` nodes in groups of x -> MatMul W -> Add b -> Relu -> Identity on a 1x32 tensor.

    Cleanup rewrites every group (MatMul + Add -> Gemm, Relu fused, Identity
    removed), so the timing covers the rewrite machinery, not just the import.
    """
    rng = np.random.default_rng(0)
    body, inits, prev = [], [], "x"
    for i in range(nodes):
        kind = i % 4
        out = f"t{i}" if i < nodes - 1 else "y"
        inputs = [prev]
        if kind in (0, 1):
            shape = (32, 32) if kind == 0 else (32,)
            inits.append(numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32), f"c{i}"))
            inputs.append(f"c{i}")
        op = ("MatMul", "Add", "Relu", "Identity")[kind]
        body.append(helper.make_node(op, inputs, [out], name=f"n{i}"))
        prev = out
    graph = helper.make_graph(
        body,
        "chain",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 32])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 32])],
        initializer=inits,
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), path)


def bench_models(models_dir: Path, repeat: int) -> None:
    print(f"{'model':28} {'edgec s':>9} {'ort s':>9} {'ratio':>7}")
    for name, shapes in MODELS.items():
        path = models_dir / name
        ours = median_seconds(lambda p=path, s=shapes: compile_once(p, s), repeat, warmup=False)
        ref = median_seconds(lambda p=path: ort_session(p), repeat, warmup=False)
        print(f"{name:28} {ours:9.3f} {ref:9.3f} {ours / ref:7.2f}")


def bench_scaling(repeat: int) -> float:
    times = {}
    with tempfile.TemporaryDirectory() as tmp:
        for nodes in (500, 5000):
            path = Path(tmp) / f"chain{nodes}.onnx"
            chain_model(nodes, path)
            times[nodes] = median_seconds(lambda p=path: compile_once(p, {}), repeat, warmup=False)
            ref = median_seconds(lambda p=path: ort_session(p), repeat, warmup=False)
            ratio = times[nodes] / ref
            print(f"chain of {nodes:5} nodes: edgec {times[nodes]:.3f} s, ort {ref:.3f} s, ratio {ratio:.2f}")
    scaling = times[5000] / times[500]
    print(f"scaling 500 -> 5000 nodes: x{scaling:.2f} (must stay under {MAX_SCALING:g})")
    return scaling


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    default_models = Path(__file__).resolve().parents[2] / "shared" / "models"
    parser.add_argument("--models", type=Path, default=default_models)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    bench_models(args.models, args.repeat)
    return 0 if bench_scaling(args.repeat) < MAX_SCALING else 1


if __name__ == "__main__":
    sys.exit(main())
