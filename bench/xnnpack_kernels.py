"""Where bench/tflite.py's latency ratios come from: the same timing on chains of one kind of layer.

    python bench/xnnpack_kernels.py [--repeat N] [--rounds R]

Each case is a small ONNX model made here with onnx.helper: a chain of
``DEPTH`` layers of one kind at the shapes of one of ../shared/models (so the
QUANTIZE/DEQUANTIZE at the int8 model's float edges are a small share of
it), built by bench/tflite.py's ``bench_model`` exactly as `edgec build`
builds the real models for rpi4, and timed the same way (one thread, ONNX
Runtime / fp32 .tflite / int8 .tflite in alternation). Every layer of every
case runs in XNNPACK (the ``ops left to LiteRT kernels`` line says so), so the
ratios are XNNPACK's kernels against ONNX Runtime's on this machine, with no
graph of edgec's around them to blame. The activation is ReLU (fused into
the convolution by both runtimes) unless the case names another; YOLOX's SiLU
costs little next to its convolutions (its fp32 .tflite with every SiLU made
a ReLU ran no faster: 94 ms against 92). Never part of the tests' pass/fail.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from tflite import bench_model

from edgec.backends.tflite.converter import import_tensorflow

DEPTH = 6


@dataclass(frozen=True)
class Case:
    name: str
    height: int
    width: int
    channels: tuple[int, ...]  # the channel counts the chain cycles through (1x1 convs)
    kernel: int = 1
    depthwise: bool = False
    activation: str = "Relu"


CASES = (
    Case("yolox_3x3_conv_64ch_104x104", 104, 104, (64,), kernel=3),
    Case("effnet_1x1_conv_24-144ch_56x56", 56, 56, (24, 144)),
    Case("effnet_3x3_depthwise_144ch_56x56", 56, 56, (144,), kernel=3, depthwise=True),
    Case("ppocr_1x1_conv_16-88ch_3x96", 3, 96, (16, 88)),
    Case("ppocr_3x3_depthwise_88ch_3x96", 3, 96, (88,), kernel=3, depthwise=True),
    Case("ppocr_1x1_conv_88ch_3x96", 3, 96, (88,)),
    Case("ppocr_1x1_conv_88ch_hardswish_3x96", 3, 96, (88,), activation="HardSwish"),
)


def chain(case: Case) -> onnx.ModelProto:
    """``DEPTH`` layers of ``case``: each a Conv (bias, same padding) and its activation."""
    rng = np.random.default_rng(0)
    widths = [case.channels[i % len(case.channels)] for i in range(DEPTH + 1)]
    nodes, weights = [], []
    previous = "x"
    for index in range(DEPTH):
        c_in, c_out = widths[index], widths[index + 1]
        group = c_in if case.depthwise else 1
        shape = (c_out, c_in // group, case.kernel, case.kernel)
        fan_in = shape[1] * case.kernel**2
        weight = rng.standard_normal(shape).astype(np.float32) * np.float32(np.sqrt(2.0 / fan_in))
        weights += [
            numpy_helper.from_array(weight, f"w{index}"),
            numpy_helper.from_array(rng.standard_normal(c_out).astype(np.float32) * 0.1, f"b{index}"),
        ]
        pad = case.kernel // 2
        nodes += [
            helper.make_node(
                "Conv", [previous, f"w{index}", f"b{index}"], [f"c{index}"], group=group, pads=[pad] * 4
            ),
            helper.make_node(case.activation, [f"c{index}"], [f"a{index}"]),
        ]
        previous = f"a{index}"
    shape_in = [1, widths[0], case.height, case.width]
    shape_out = [1, widths[-1], case.height, case.width]
    graph = helper.make_graph(
        nodes,
        case.name,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape_in)],
        [helper.make_tensor_value_info(previous, TensorProto.FLOAT, shape_out)],
        weights,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=20, help="calls per round")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds")
    args = parser.parse_args()
    import_tensorflow()
    with tempfile.TemporaryDirectory() as tmp:
        for case in CASES:
            path = Path(tmp) / f"{case.name}.onnx"
            onnx.save(chain(case), path)
            bench_model(path, {}, args.rounds, args.repeat, int8=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
