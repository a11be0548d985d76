"""Writes the target-ready IR as ONNX (opset 21; an int8 Q/DQ model at opset 20), which ONNX Runtime
runs as is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import onnx

from edgec.backends.onnxruntime.hardware import HARDWARE_SCHEMAS
from edgec.plugin import (
    OPSET,
    RECURRENT,
    Artifact,
    Backend,
    BuildRequest,
    Graph,
    PassSpec,
    Target,
    Unsupported,
    render,
    run,
    session,
    state_pairs,
    to_onnx,
)

MODEL_FILE = "model.onnx"
# ONNX Runtime 1.32's MatMulAddFusion on a Q/DQ model at opset 21 whose MatMul input is 3-D reshapes it
# through a new QuantizeLinear that fails the session's own type inference ("output_dtype INT8 does not
# match y_zero_point type UINT8"; the message of microsoft/onnxruntime#25526, about opset 21's
# output_dtype). Opset 20's QuantizeLinear has no output_dtype, and int8 Q/DQ needs nothing newer.
QDQ_OPSET = 20


class OnnxRuntimeBackend(Backend):
    name = "onnxruntime"
    hardware_schemas = HARDWARE_SCHEMAS

    def check(self, graph: Graph, target: Target) -> list[Unsupported]:
        """ONNX Runtime's CPU provider runs every op of the IR's canonical set."""
        return []

    def passes(self, target: Target, precision: str) -> list[PassSpec]:
        return []

    def emit(self, graph: Graph, request: BuildRequest, out_dir: Path) -> Artifact:
        model_path = out_dir / MODEL_FILE
        # int8: the quantization engine's Q/DQ model, which ONNX Runtime runs with its int8 kernels.
        quantization = request.quantization
        model_format = "onnx, int8 QuantizeLinear/DequantizeLinear" if quantization is not None else "onnx"
        opset = OPSET if quantization is None else QDQ_OPSET
        onnx.save_model(to_onnx(graph if quantization is None else quantization.qdq, opset=opset), model_path)
        script = render(
            "onnxruntime/run.py.j2",
            model_file=MODEL_FILE,
            inputs=[v.name for v in graph.inputs],
            outputs=[v.name for v in graph.outputs],
            state=[(p.input, p.output) for p in state_pairs(graph.inputs, graph.outputs)],
        )
        (out_dir / "run.py").write_text(script, encoding="utf-8")
        sess = session(model_path, threads=1)
        return Artifact(
            main=MODEL_FILE,
            runner=lambda feeds: run(sess, feeds),
            run_instructions=render(
                "onnxruntime/run_instructions.md.j2",
                model_file=MODEL_FILE,
                opset=opset,
                quantized=quantization is not None,
            ),
            report=_float_recurrent(graph) if quantization is not None else {},
            metadata={
                "format": model_format,
                "opset": opset,
                "runtime": "onnxruntime (CPUExecutionProvider)",
            },
        )


BACKEND = OnnxRuntimeBackend()


def _float_recurrent(graph: Graph) -> dict[str, Any]:
    """The recurrent layers an int8 build leaves in float32: the Q/DQ model gives them no Q/DQ, and
    ONNX Runtime's integer LSTM (com.microsoft DynamicQuantizeLSTM) is not used."""
    layers = [n.name for n in graph.nodes if n.op in RECURRENT]
    return {"float_recurrent_layers": {"layers": layers, "precision": "fp32"}} if layers else {}
