"""The quantization engine's results in a .tflite: scheme, FakeQuant ranges, and reading scales back.

Full-int8 TFLite builds take their activation ranges from ``edgec.quantization``
(``BuildRequest.quantization``), not from the converter's own
calibration: the lowering puts a FakeQuant op with the engine's range on every
calibrated activation, and TFLite's converter turns each into that tensor's
quantization parameters (scale ``(max - min) / 255``, zero point
``qmin - min / scale``). The ranges handed over are the engine's parameters
already nudged so 0.0 is exact (``[(qmin - zp) * scale, (qmax - zp) * scale]``),
so TensorFlow's own nudging leaves them unchanged and the .tflite's scales and
zero points are the engine's (except where TFLite fixes them: ``TFLITE_DECIDES``).
Graph outputs included: an int8 .tflite ends in an int8 tensor, and the
engine gives outputs a range with headroom under this scheme
(``edgec.quantization.parameters.output_params``) and simulates them quantized.
Weights carry no FakeQuant: the converter quantizes them per channel,
symmetric, from their largest magnitude, which is the engine's rule too.
GPTQ-rounded layers (``QuantizationResult.rounded``) reach it as ``q * scale``
(``with_rounded_weights``): rounding those again gives back ``q`` wherever a
channel keeps a +-127 entry, so the .tflite holds the engine's integers.
Layers the engine kept in float (mixed precision, only on targets with float
fallback) read their inputs from before the producers' FakeQuant ops, as the
engine's simulation does, so the converter leaves them in float.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import replace

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from edgec.backends.tflite.lowering import scope_of_tensor
from edgec.plugin import (
    FIXED_OUTPUT_RANGES,
    SAME_RANGE_OPS,
    Calibration,
    Graph,
    QuantParams,
    QuantScheme,
    Target,
    clone_graph,
    dequantize_array,
    range_params,
)

Range = tuple[float, float]

# TFLite full-integer: asymmetric int8 activations, per-channel int8 weights, every tensor (C1);
# LOGISTIC, SOFTMAX and TANH outputs on the grids TFLite's integer kernels fix; written-out
# normalizations in float where the target runs float. GPTQ integers reach the converter as
# q * scale (``with_rounded_weights``).
TFLITE_SCHEME = QuantScheme(symmetric=False, placement="all", fixed_output_ranges=True, float_islands=True)

# Ops whose int8 output parameters TFLite fixes: the same as the input's (data movement, pooling)
# or a constant range (softmax and logistic: scale 1/256; tanh: 1/128). The engine gives them the
# same (TFLITE_SCHEME's ``fixed_output_ranges``); a FakeQuant would only add a requantizing op.
TFLITE_DECIDES = SAME_RANGE_OPS | frozenset(FIXED_OUTPUT_RANGES)


def tflite_scheme(target: Target) -> QuantScheme:
    """TFLite's scheme (REFERENCE C1); float fallback in fp32 unless the target is integer-only."""
    if target.hardware.get("integer_only", False):
        return replace(TFLITE_SCHEME, float_fallback=None)
    return TFLITE_SCHEME


def engine_params(calibration: Calibration, name: str) -> QuantParams:
    """The per-tensor parameters the engine gives activation ``name`` (its range under its scheme)."""
    return range_params(calibration.scheme, *calibration.ranges[name])


def nudged_range(params: QuantParams) -> Range:
    """``[(qmin - zp) * scale, (qmax - zp) * scale]``: the range FakeQuant keeps as it is."""
    info = np.iinfo(params.dtype)
    scale, zero = float(np.float32(params.scale)), int(params.zero_point)
    return ((info.min - zero) * scale, (info.max - zero) * scale)


def fake_quant_ranges(graph: Graph, calibration: Calibration) -> dict[str, Range]:
    """Value name -> FakeQuant range for every calibrated activation, except the outputs of ops
    whose int8 output parameters TFLite itself fixes (``TFLITE_DECIDES``)."""
    skipped = {v.name for node in graph.nodes if node.op in TFLITE_DECIDES for v in node.outputs}
    return {
        name: nudged_range(engine_params(calibration, name))
        for name in calibration.ranges
        if name not in skipped
    }


def with_rounded_weights(
    graph: Graph, rounded: Mapping[str, np.ndarray], float_layers: Collection[str] = ()
) -> Graph:
    """``graph``, or a copy whose layers in ``rounded`` (but not in ``float_layers``) have the
    weights ``q * scale``: the GPTQ integers ``q`` dequantized with the weight's per-channel scales."""
    layers = set(rounded) - set(float_layers)
    if not layers:
        return graph
    copy = clone_graph(graph)
    for node in copy.nodes:
        if node.name not in layers:
            continue
        weight = node.inputs[1]
        assert weight is not None and weight.quant is not None
        weight.data = dequantize_array(rounded[node.name], weight.quant)
    return copy


def activation_scales(model: bytes, graph: Graph) -> dict[str, tuple[float, int]]:
    """Value name -> (scale, zero point) of the per-tensor int8/uint8 tensors of a .tflite made
    from ``graph`` (tensor names start with the scope of the input or node that made them)."""
    owners = {"i": [[v] for v in graph.inputs], "n": [node.outputs for node in graph.nodes]}
    scales: dict[str, tuple[float, int]] = {}
    for detail in Interpreter(model_content=model).get_tensor_details():
        params, scope = detail["quantization_parameters"], scope_of_tensor(detail["name"])
        if scope is None or len(params["scales"]) != 1 or detail["dtype"] not in (np.int8, np.uint8):
            continue
        outputs = owners[scope[0]][scope[1]]
        if len(outputs) == 1:
            scales[outputs[0].name] = (float(params["scales"][0]), int(params["zero_points"][0]))
    return scales
