"""Forms of ops that XNNPACK, LiteRT's default CPU delegate, runs where the plain form falls out of it.

An op XNNPACK does not take runs in LiteRT's own kernels (often the slow
reference ones, single-threaded and unvectorized) and cuts the delegated graph
in two. ``Lowering`` uses these forms when the target's runtime is XNNPACK
(``Recipe.runtime``); each computes the same values as the plain op:

- a Slice with a step (YOLOX's "focus" stem takes every second row and
  column): STRIDED_SLICE is delegated only with unit strides, so the axis is
  split into (n / step, step) by a RESHAPE and a unit-stride SLICE picks the
  phase;
- nearest Resize by an integer factor: RESIZE_NEAREST_NEIGHBOR is not
  delegated; CONCATENATION of ``factor ** 2`` copies and DEPTH_TO_SPACE is the
  same upsampling, and both are pure data movement (int8 scales unchanged);
- int8 HardSwish: XNNPACK delegates HARD_SWISH in float only; as MUL, ADD
  (fused RELU6) and MUL it stays delegated.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edgec.backends.tflite.lowering import Lowering
    from edgec.plugin import Node

Tensor = Any


def every_nth(tf: Any, x: Tensor, shape: list[int], axis: int, start: int, count: int, step: int) -> Tensor:
    """``count`` entries of ``x`` along ``axis`` from ``start`` every ``step`` (``shape[axis] % step == 0``),
    with unit strides only: rows of ``step`` entries, then the column ``start % step`` of them."""
    inner = math.prod(shape[axis + 1 :])
    outer = math.prod(shape[:axis])
    rows = tf.reshape(x, [outer, shape[axis] // step, step * inner])
    picked = tf.slice(rows, [0, start // step, (start % step) * inner], [outer, count, inner])
    return tf.reshape(picked, [*shape[:axis], count, *shape[axis + 1 :]])


def upsample_factor(in_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> int | None:
    """The integer factor (>= 2) by which NHWC ``in_shape`` grows into ``out_shape`` along both
    spatial axes, or None."""
    factors = set()
    for axis in (1, 2):
        if in_shape[axis] == 0 or out_shape[axis] % in_shape[axis]:
            return None
        factors.add(out_shape[axis] // in_shape[axis])
    factor = factors.pop() if len(factors) == 1 else 0
    return factor if factor >= 2 else None


def nearest_upsample(ctx: Lowering, node: Node, x: Tensor, factor: int) -> Tensor:
    """NHWC ``x`` upsampled by ``factor`` (nearest, asymmetric, floor) as ``node``'s output: each
    output block of ``factor`` x ``factor`` pixels is one input pixel, which is DEPTH_TO_SPACE of the
    channels repeated ``factor ** 2`` times. The copies hold the output's values, so they take the
    output's range (its FakeQuant, if it has one)."""
    tf = ctx.tf
    copies = ctx.fake_quantized(node.output, tf.concat([x] * factor**2, axis=3))
    return tf.nn.depth_to_space(copies, factor)


def hard_swish_in_steps(ctx: Lowering, node: Node, x: Tensor) -> Tensor:
    """``(x / 6) * relu6(x + 3)`` for an int8 HardSwish: ``x / 6`` through a FakeQuant at a sixth of
    the input's range (the same int8 values, rescaled), the gate through one over its exact range
    [0, 6] (steps of 6/255), the product at the output's range. (TFLite's converter fuses
    ``x * relu6(x + 3) / 6`` back into HARD_SWISH, FakeQuant ops or not; this order it leaves alone.)"""
    tf = ctx.tf
    source = node.inputs[0]
    assert source is not None
    sixth = ctx.fake_quantized(source, x * (1.0 / 6.0), factor=1.0 / 6.0)
    gate = ctx.fake_quant_range(tf.nn.relu6(x + 3.0), (0.0, 6.0))
    return sixth * gate
