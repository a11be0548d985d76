"""The TFLite support tables: the Edge TPU partition end, GPU delegate fallbacks, TFLite Micro ops."""

from __future__ import annotations

import numpy as np
from helpers import Builder

from edgec.backends.tflite import BACKEND
from edgec.backends.tflite.op_support import edgetpu_partition_end, gpu_fallbacks, micro_method, micro_missing
from edgec.ir import Op
from edgec.passes import make_spec, run_passes
from edgec.targets import load_catalogue

EDGETPU = {"max_varying_dims": 3}


def _graph_with(op: Op):
    b = Builder()
    x = b.input("x", (1, 3, 8, 8))
    y = b.conv(x, 4, name="first")
    z = b.node(op, [y], name="odd")
    b.output(b.conv(z, 4, name="last"))
    run_passes(b.graph, [make_spec("layout")])
    return b.graph


def test_edgetpu_partition_ends_at_the_first_unmapped_node():
    end = edgetpu_partition_end(_graph_with(Op.EXP), EDGETPU)
    assert end is not None and end.node == "odd" and "1 after it" in end.reason
    assert edgetpu_partition_end(_graph_with(Op.RELU), EDGETPU) is None


def test_edgetpu_rank_limit_names_the_tensor():
    b = Builder()
    x = b.input("x", (2, 3, 8, 8))  # batch 2: four dims vary
    b.output(b.conv(x, 4, name="conv"))
    run_passes(b.graph, [make_spec("layout")])
    end = edgetpu_partition_end(b.graph, EDGETPU)
    assert end is not None and end.node == "conv" and "innermost 3 dims" in end.reason


def test_check_reports_edgetpu_end_only_for_edgetpu_targets():
    catalogue = load_catalogue()
    graph = _graph_with(Op.EXP)
    assert [u.node for u in BACKEND.check(graph, catalogue.get("coral-edgetpu"))] == ["odd"]
    assert BACKEND.check(graph, catalogue.get("rpi4")) == []


def test_lowering_check_names_unsupported_resize_mode():
    b = Builder()
    x = b.input("x", (1, 3, 4, 4))
    scales = b.const("scales", np.array([1, 1, 2, 2], np.float32))
    b.output(b.node(Op.RESIZE, [x, None, scales], (1, 3, 8, 8), mode="cubic", name="up"))
    (problem,) = BACKEND.check(b.graph, load_catalogue().get("rpi4"))
    assert problem.node == "up" and "cubic" in problem.reason


def test_gpu_fallbacks_name_op_and_version():
    found = gpu_fallbacks([("CONV_2D", 1), ("DEPTHWISE_CONV_2D", 3), ("ARG_MAX", 1), ("HARD_SWISH", 1)])
    assert found == [
        "ARG_MAX (not in the GPU delegate's op list)",
        "DEPTHWISE_CONV_2D v3 (the delegate documents versions up to 2)",
    ]


def test_micro_resolver_names():
    assert micro_method("CONV_2D") == "AddConv2D"
    assert micro_method("DEPTHWISE_CONV_2D") == "AddDepthwiseConv2D"
    assert micro_method("SELECT_V2") == "AddSelectV2"
    assert micro_missing(["CONV_2D", "NON_MAX_SUPPRESSION_V4"]) == ["NON_MAX_SUPPRESSION_V4"]
