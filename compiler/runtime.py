"""ONNX Runtime as the reference executor, for ONNX files and for any IR state."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.capi import onnxruntime_pybind11_state as ort_state

from edgec.errors import ModelError
from edgec.ir.graph import Graph
from edgec.ir.onnx_export import to_onnx

Feeds = Mapping[str, np.ndarray]

# What ONNX Runtime raises for a model it cannot load or run.
ORT_ERRORS = (
    ort_state.Fail,
    ort_state.InvalidArgument,
    ort_state.InvalidGraph,
    ort_state.InvalidProtobuf,
    ort_state.NoSuchFile,
    ort_state.NotImplemented,
    ort_state.RuntimeException,
)


def session(
    model: onnx.ModelProto | bytes | Path, threads: int = 0, optimize: bool = True
) -> ort.InferenceSession:
    """A CPU session; ``threads`` 0 lets ONNX Runtime choose.

    ``optimize=False`` turns ONNX Runtime's graph rewrites off. Simulations of
    quantization need that: the rewrites fuse Q/DQ pairs into ONNX Runtime's own
    integer kernels and move them across Reshape and Clip, which changes the
    rounding being simulated (and fails outright on some asymmetric placements).
    """
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    if not optimize:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    source = model.SerializeToString() if isinstance(model, onnx.ModelProto) else model
    return ort.InferenceSession(
        str(source) if isinstance(source, Path) else source, options, providers=["CPUExecutionProvider"]
    )


def run(sess: ort.InferenceSession, feeds: Feeds) -> dict[str, np.ndarray]:
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, dict(feeds)), strict=True))


def run_graph(graph: Graph, feeds: Feeds, extra_outputs: Iterable[str] = ()) -> dict[str, np.ndarray]:
    """Execute an IR state: export it to ONNX and run it with ONNX Runtime."""
    return run(session(to_onnx(graph, extra_outputs=extra_outputs)), feeds)


def reference_session(path: Path) -> ort.InferenceSession:
    """A single-threaded session on the input model, for deterministic reference outputs."""
    try:
        return session(path, threads=1)
    except ORT_ERRORS as exc:
        raise ModelError(
            f"{path.name}: ONNX Runtime {ort.__version__}, the reference executor, cannot load the model "
            f"({str(exc).strip()}). Re-export it with an IR version and opset this ONNX Runtime supports."
        ) from exc
