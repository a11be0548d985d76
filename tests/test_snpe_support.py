"""The SNPE support table: every IR op has a row; per-runtime limits name the node and why."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from edgec.backends.snpe import BACKEND
from edgec.backends.snpe.op_support import SUPPORT, unsupported
from edgec.backends.snpe.runtimes import RUNTIMES
from edgec.errors import ShapeError, TargetError, UnsupportedOpError
from edgec.ir import Op
from edgec.passes import run_passes
from edgec.pipeline import BuildOptions, build
from edgec.targets import load_catalogue
from tests.helpers import Builder


def test_every_ir_op_has_a_row():
    assert set(SUPPORT) == set(Op)


def _layernorm_graph():
    b = Builder()
    x = b.input("x", (1, 4, 8))
    y = b.node(
        Op.LAYER_NORMALIZATION,
        [x, b.weight("s", 8), b.weight("bias", 8)],
        name="ln 'a' $(x)",
        axis=-1,
        epsilon=1e-5,
        stash_type=1,
    )
    return b.output(b.node(Op.RELU, [y]))


@pytest.mark.parametrize("runtime", sorted(RUNTIMES))
def test_layernorm_runs_where_the_layers_table_says(runtime):
    found = unsupported(_layernorm_graph(), runtime)
    if runtime in ("dsp", "aip"):
        assert [(u.node, u.op) for u in found] == [("ln 'a' $(x)", "LayerNormalization")]
        assert "LayerNorm" in found[0].reason and "cpu, gpu, htp" in found[0].reason
    else:
        assert found == []


def _resize_graph(mode):
    b = Builder()
    x = b.input("x", (1, 3, 8, 8))
    scales = b.const("scales", np.asarray([1, 1, 2, 2], np.float32))
    attrs = {
        "mode": mode,
        "coordinate_transformation_mode": "asymmetric",
        "nearest_mode": "floor",
        "cubic_coeff_a": -0.75,
        "antialias": 0,
        "exclude_outside": 0,
        "extrapolation_value": 0.0,
        "keep_aspect_ratio_policy": "stretch",
    }
    return b.output(b.node(Op.RESIZE, [x, None, scales], (1, 3, 16, 16), **attrs))


@pytest.mark.parametrize(("mode", "runtimes"), [("nearest", set(RUNTIMES)), ("cubic", {"cpu", "htp"})])
def test_resize_generic_only_on_cpu_and_htp(mode, runtimes):
    graph = _resize_graph(mode)
    assert {rt for rt in RUNTIMES if not unsupported(graph, rt)} == runtimes


def test_standalone_erf_is_refused_everywhere():
    b = Builder()
    graph = b.output(b.node(Op.ERF, [b.input("x", (1, 4))]))
    for runtime in RUNTIMES:
        assert "GELU" in unsupported(graph, runtime)[0].reason


def test_dim_0_other_than_one_is_refused_only_where_the_quantizer_runs():
    b = Builder()
    graph = b.output(b.node(Op.RELU, [b.input("x", (2, 4))]))
    catalogue = load_catalogue()
    assert BACKEND.check(graph, catalogue["snapdragon-8gen2-cpu"]) == []
    for target, precision in (("snapdragon-8gen2-cpu", "fp32"), ("snapdragon-8gen2-htp", "fp16")):
        run_passes(graph, BACKEND.passes(catalogue[target], precision))
    with pytest.raises(ShapeError, match=r"HTP runtime .* at int8 .*snpe-dlc-quantize requires dim 0"):
        run_passes(graph, BACKEND.passes(catalogue["snapdragon-8gen2-htp"], "int8"))


def _layernorm_onnx(path):
    nodes = [helper.make_node("LayerNormalization", ["x", "s", "b"], ["y"], name="norm", axis=-1)]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8])],
        initializer=[
            helper.make_tensor("s", TensorProto.FLOAT, [8], [1.0] * 8),
            helper.make_tensor("b", TensorProto.FLOAT, [8], [0.0] * 8),
        ],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9), path)
    return path


def test_build_stops_naming_the_node_and_the_runtime(tmp_path):
    model = _layernorm_onnx(tmp_path / "ln.onnx")
    with pytest.raises(
        UnsupportedOpError, match=r"snapdragon-865-aip.*LayerNormalization node 'norm'.*LayerNorm"
    ):
        build(BuildOptions(model=model, target="snapdragon-865", runtime="aip", output=tmp_path / "out"))
    assert not (tmp_path / "out").exists()
    result = build(BuildOptions(model=model, target="snapdragon-865", runtime="cpu", output=tmp_path / "cpu"))
    assert result.manifest["target"] == "snapdragon-865-cpu"


def test_float_on_a_quantized_only_runtime_fails_before_any_work(tmp_path):
    with pytest.raises(TargetError, match="non-quantized"):
        build(
            BuildOptions(
                model=tmp_path / "missing.onnx",
                target="snapdragon-865",
                runtime="aip",
                precision="fp32",
                output=tmp_path / "out",
            )
        )


def test_backend_refuses_a_precision_its_runtime_cannot_run():
    target = load_catalogue()["snapdragon-8gen2-cpu"]
    with pytest.raises(TargetError, match="CPU runtime cannot run precision 'int8'"):
        BACKEND.passes(target, "int8")


def test_group_name_picks_the_default_runtime_and_runtime_picks_a_member():
    catalogue = load_catalogue()
    assert catalogue.select("snapdragon-8gen2").name == "snapdragon-8gen2-htp"
    assert catalogue.select("snapdragon-8gen2", "gpu").name == "snapdragon-8gen2-gpu"
    assert catalogue.select("snapdragon-865").name == "snapdragon-865-dsp"
    assert catalogue.select("snapdragon-8gen2-htp", "htp").name == "snapdragon-8gen2-htp"
    with pytest.raises(TargetError, match=r"no runtime 'aip' \(runtimes: cpu, gpu, htp\)"):
        catalogue.select("snapdragon-8gen2", "aip")
    with pytest.raises(TargetError, match="--target snapdragon-8gen2 --runtime gpu"):
        catalogue.select("snapdragon-8gen2-htp", "gpu")
