"""FP16 for TensorRT: the overflow check, and fp16 simulated under ONNX Runtime.

TensorRT builds FP16 engines from the float32 ONNX (``--fp16``): weights and
activations are stored in half precision, whose largest finite value is
65504. ``overflows`` names the weights and activations beyond that (the
activations measured by running ONNX Runtime on the sample inputs).
``simulate`` rewrites the ONNX so that ONNX Runtime rounds every weight and
every tensor to fp16 while computing in fp32: the local stand-in for the
engine in the accuracy check.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import onnx
import onnx_graphsurgeon as gs

from edgec.plugin import Graph, run, session, to_onnx

FP16_MAX = float(np.finfo(np.float16).max)  # 65504


def _floating(dtype: Any) -> bool:
    return dtype is not None and np.issubdtype(np.dtype(dtype), np.floating)


def weight_overflows(graph: Graph) -> list[dict[str, Any]]:
    """Float constants with values beyond fp16's range, with the nodes that use them."""
    found = []
    for value in graph.constants():
        if not value.uses or not _floating(value.dtype) or value.data is None or value.data.size == 0:
            continue
        peak = float(np.max(np.abs(value.data)))
        if peak > FP16_MAX:
            nodes = [node.name for node in value.users()]
            found.append({"tensor": value.name, "nodes": nodes, "max_abs": peak})
    return found


def activation_overflows(graph: Graph, samples: Sequence[Mapping[str, np.ndarray]]) -> list[dict[str, Any]]:
    """Computed float tensors whose magnitude exceeds fp16's range on any sample, with their producer."""
    computed = [
        v for node in graph.nodes for v in node.outputs if v.uses or v in graph.outputs if _floating(v.dtype)
    ]
    if not samples or not computed:
        return []
    sess = session(to_onnx(graph, extra_outputs=[v.name for v in computed]))
    peaks = dict.fromkeys((v.name for v in computed), 0.0)
    for feed in samples:
        outputs = run(sess, feed)
        for name in peaks:
            data = outputs[name]
            if data.size:
                peaks[name] = max(peaks[name], float(np.max(np.abs(data))))
    return [
        {"tensor": v.name, "node": v.producer.name, "max_abs": peaks[v.name]}  # type: ignore[union-attr]
        for v in computed
        if peaks[v.name] > FP16_MAX
    ]


def overflows(graph: Graph, samples: Sequence[Mapping[str, np.ndarray]]) -> dict[str, Any]:
    return {
        "limit": FP16_MAX,
        "weights": weight_overflows(graph),
        "activations": activation_overflows(graph, samples),
        "activation_samples": len(samples),
    }


def _round_trip(graph: gs.Graph, src: gs.Variable, dst: gs.Variable, tag: str) -> None:
    """``dst = float32(float16(src))``: two Casts appended to ``graph``."""
    half = gs.Variable(f"{tag}/fp16", dtype=np.float16, shape=src.shape)
    graph.nodes.append(gs.Node("Cast", f"{tag}/to_fp16", {"to": onnx.TensorProto.FLOAT16}, [src], [half]))
    graph.nodes.append(gs.Node("Cast", f"{tag}/to_fp32", {"to": onnx.TensorProto.FLOAT}, [half], [dst]))


def simulate(model: onnx.ModelProto) -> onnx.ModelProto:
    """``model`` with fp16 weights and fp16 rounding after every float input and node output."""
    graph = gs.import_onnx(model)
    for tensor in graph.tensors().values():
        if isinstance(tensor, gs.Constant) and tensor.values.dtype == np.float32:
            tensor.values = tensor.values.astype(np.float16).astype(np.float32)
    tags = (f"edgec_fp16_sim_{i}" for i in range(1 << 62))
    for node in list(graph.nodes):
        for i, out in enumerate(node.outputs):
            if out.dtype == np.float32:
                tag = next(tags)
                raw = gs.Variable(f"{tag}/fp32", dtype=out.dtype, shape=out.shape)
                node.outputs[i] = raw
                _round_trip(graph, raw, out, tag)
    for inp in graph.inputs:
        if inp.dtype == np.float32:
            consumers = list(inp.outputs)
            tag = next(tags)
            rounded = gs.Variable(f"{tag}/input", dtype=inp.dtype, shape=inp.shape)
            _round_trip(graph, inp, rounded, tag)
            for consumer in consumers:
                for j, tensor in enumerate(consumer.inputs):
                    if tensor is inp:
                        consumer.inputs[j] = rounded
    graph.cleanup().toposort()
    return gs.export_onnx(graph)
