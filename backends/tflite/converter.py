"""The converter driver: trace the lowered IR as a ``tf.function``, convert with TFLiteConverter.

A concrete function (not a SavedModel on disk) goes to the converter: it is the
fastest route and gives the same native fused ops. Inputs are named
``input_<i>`` and take the stored (layout-pass) shape of graph input ``i``;
outputs follow the graph's output order. The quantization recipes are
LiteRT's (REFERENCE C1).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgec.backends.tflite.flatbuffer import in_signature_order
from edgec.backends.tflite.lowering import Lowering, scope_name
from edgec.backends.tflite.op_support import precision_problems
from edgec.plugin import Graph, UnsupportedOpError, missing_dependency, stored_shape

Calibration = Callable[[], Iterable[Sequence[np.ndarray]]]


@dataclass(frozen=True)
class Recipe:
    """How to quantize (the precision, and for int8 whether everything must be integer) and
    which runtime runs the model (the target's ``hardware.runtime``: the lowering picks the
    forms XNNPACK delegates when it is ``xnnpack``)."""

    precision: str
    integer_only: bool = False
    io_dtype: str = "float32"
    runtime: str = "xnnpack"


def import_tensorflow() -> Any:
    """TensorFlow, imported on first use only (it takes seconds), with its logging quieted."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        import tensorflow as tf
    except ModuleNotFoundError as exc:
        raise missing_dependency("tflite", "a TFLite target", exc) from exc

    tf.get_logger().setLevel("ERROR")
    return tf


@dataclass
class Traced:
    """The traced graph: its concrete function, the module that holds it (the converter's SavedModel
    route needs one), and how many recurrent layers went in as functions the converter fuses."""

    function: Any
    module: Any
    fused_recurrent: int


def trace(
    tf: Any,
    graph: Graph,
    fake_quant: Mapping[str, tuple[float, float]] | None = None,
    float_layers: Collection[str] = (),
    xnnpack: bool = True,
    integer_states: bool = False,
    fuse_recurrent: bool = True,
) -> Traced:
    """The graph as a TF concrete function over inputs in their stored order (``Lowering``'s
    ``fake_quant``: ranges of values to quantize; ``xnnpack``: pick XNNPACK-delegated forms)."""
    specs = [
        tf.TensorSpec(stored_shape(v), tf.as_dtype(v.dtype), name=f"input_{i}")
        for i, v in enumerate(graph.inputs)
    ]
    fused = [0]
    outputs = [v.name for v in graph.outputs]

    def model(*args: Any) -> list[Any]:
        ctx = Lowering(tf, fake_quant, float_layers, xnnpack, outputs, integer_states, fuse_recurrent)
        for i, (value, arg) in enumerate(zip(graph.inputs, args, strict=True)):
            with tf.name_scope(scope_name("i", i)):
                ctx.bind(value, arg)
        for node in graph.nodes:
            ctx.lower(node)
        fused[0] = ctx.fused_recurrent
        return [tf.identity(ctx.get(value)) for value in graph.outputs]

    module = tf.Module()
    module.model = tf.function(model, input_signature=specs, autograph=False)
    function = module.model.get_concrete_function()
    return Traced(function, module, fused[0])


def _configure(
    tf: Any, converter: Any, recipe: Recipe, calibration: Calibration | None, ranged: bool
) -> None:
    precision = recipe.precision
    if precision == "fp32":
        return
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if precision == "fp16":
        converter.target_spec.supported_types = [tf.float16]
        return
    if precision == "int8-dynamic":
        return
    # With ranges (FakeQuant ops) the representative data is given only where TFLiteConverter demands
    # it, for integer-only conversion: elsewhere the converter would calibrate the tensors that carry no
    # range from it (the inputs of the engine's float layers) and quantize those layers after all.
    assert calibration is not None or ranged, f"precision {precision} needs calibration data or ranges"
    if calibration is not None and (recipe.integer_only or not ranged):
        converter.representative_dataset = lambda: (
            [np.asarray(a) for a in sample] for sample in calibration()
        )
    if precision == "int16x8":
        ops = tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
        converter.target_spec.supported_ops = (
            [ops] if recipe.integer_only else [ops, tf.lite.OpsSet.TFLITE_BUILTINS]
        )
        return
    if recipe.integer_only:
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.as_dtype(recipe.io_dtype)
        converter.inference_output_type = tf.as_dtype(recipe.io_dtype)


def convert(
    graph: Graph,
    recipe: Recipe,
    calibration: Calibration | None,
    where: str,
    ranges: Mapping[str, tuple[float, float]] | None = None,
    float_layers: Collection[str] = (),
) -> bytes:
    """The .tflite bytes of ``graph``; ``where`` (file and target) goes into error messages.

    int8 takes its activation ranges from ``ranges`` (value name -> (min, max), lowered as
    FakeQuant ops; the converter then needs no representative dataset) or, without them, from
    the converter's own calibration on ``calibration``'s samples. With ranges, the nodes named in
    ``float_layers`` stay in float.
    """
    refused = precision_problems(graph, recipe.precision)
    if refused:
        raise UnsupportedOpError(
            f"{where}: cannot convert at {recipe.precision}: "
            + "; ".join(f"{u.op} node '{u.node}': {u.reason}" for u in refused)
            + "."
        )
    tf = import_tensorflow()
    from tensorflow.lite.python.convert import ConverterError

    ranged = bool(ranges) and recipe.precision == "int8"
    xnnpack = recipe.runtime == "xnnpack"
    integer, fuse = recipe.precision == "int8", recipe.precision != "int16x8"
    traced = trace(
        tf, graph, ranges if ranged else None, float_layers if ranged else (), xnnpack, integer, fuse
    )
    # Only the SavedModel route (a module given) keeps the functions the converter fuses into
    # recurrent ops; it costs a save and a load, so plain graphs take the direct route.
    module = traced.module if traced.fused_recurrent else None
    converter = tf.lite.TFLiteConverter.from_concrete_functions([traced.function], module)
    _configure(tf, converter, recipe, calibration, ranged)
    try:
        return in_signature_order(bytes(converter.convert()))
    except ConverterError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UnsupportedOpError(
            f"{where}: TensorFlow's TFLite converter cannot convert the model at {recipe.precision}"
            f"{' (integer-only)' if recipe.integer_only else ''}: {first}. Some op has no kernel at this "
            f"precision; try another precision or a target that allows float fallback."
        ) from exc
