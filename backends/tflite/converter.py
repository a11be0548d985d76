"""The converter driver: trace the lowered IR as a ``tf.function``, convert with TFLiteConverter.

A concrete function (not a SavedModel on disk) goes to the converter: it is the
fastest route and gives the same native fused ops. Inputs are named
``input_<i>`` and take the stored (layout-pass) shape of graph input ``i``;
outputs follow the graph's output order. The quantization recipes are
LiteRT's (REFERENCE C1).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgec.backends.tflite.lowering import Lowering
from edgec.errors import UnsupportedOpError
from edgec.ir.graph import Graph
from edgec.passes.layout import stored_shape

Calibration = Callable[[], Iterable[Sequence[np.ndarray]]]


@dataclass(frozen=True)
class Recipe:
    """How to quantize: the precision, and for int8 whether everything must be integer."""

    precision: str
    integer_only: bool = False
    io_dtype: str = "float32"


def import_tensorflow() -> Any:
    """TensorFlow, imported on first use only (it takes seconds), with its logging quieted."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    return tf


def trace(tf: Any, graph: Graph) -> Any:
    """The graph as a TF concrete function over inputs in their stored order."""
    specs = [
        tf.TensorSpec(stored_shape(v), tf.as_dtype(v.dtype), name=f"input_{i}")
        for i, v in enumerate(graph.inputs)
    ]

    def model(*args: Any) -> list[Any]:
        ctx = Lowering(tf)
        for value, arg in zip(graph.inputs, args, strict=True):
            ctx.tensors[value.name] = arg
        for node in graph.nodes:
            ctx.lower(node)
        return [tf.identity(ctx.get(value)) for value in graph.outputs]

    return tf.function(model, input_signature=specs, autograph=False).get_concrete_function()


def _configure(tf: Any, converter: Any, recipe: Recipe, calibration: Calibration | None) -> None:
    precision = recipe.precision
    if precision == "fp32":
        return
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if precision == "fp16":
        converter.target_spec.supported_types = [tf.float16]
        return
    if precision == "int8-dynamic":
        return
    assert calibration is not None, f"precision {precision} needs calibration data"
    converter.representative_dataset = lambda: ([np.asarray(a) for a in sample] for sample in calibration())
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


def convert(graph: Graph, recipe: Recipe, calibration: Calibration | None, where: str) -> bytes:
    """The .tflite bytes of ``graph``; ``where`` (file and target) goes into error messages."""
    tf = import_tensorflow()
    from tensorflow.lite.python.convert import ConverterError

    function = trace(tf, graph)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function])
    _configure(tf, converter, recipe, calibration)
    try:
        return bytes(converter.convert())
    except ConverterError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UnsupportedOpError(
            f"{where}: TensorFlow's TFLite converter cannot convert the model at {recipe.precision}"
            f"{' (integer-only)' if recipe.integer_only else ''}: {first}. Some op has no kernel at this "
            f"precision; try another precision or a target that allows float fallback."
        ) from exc
