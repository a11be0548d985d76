"""``--seed`` reaches the TFLite int16x8 calibration: its random representative inputs are drawn with it."""

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edgec.pipeline import BuildOptions, build


def _conv_model(path: Path) -> Path:
    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])],
        "conv",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])],
        [weight],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def _int16x8(model: Path, seed: int, out: Path) -> tuple[bytes, str]:
    result = build(BuildOptions(model=model, target="rpi4", precision="int16x8", output=out, seed=seed))
    return (out / "model.tflite").read_bytes(), result.manifest["backend_metadata"]["calibration"]


def test_seed_draws_the_int16x8_representative_inputs(tmp_path):
    model = _conv_model(tmp_path / "conv.onnx")
    first, first_source = _int16x8(model, 1, tmp_path / "a")
    again, _ = _int16x8(model, 1, tmp_path / "b")
    other, other_source = _int16x8(model, 2, tmp_path / "c")
    assert first_source.endswith("random, seed 1") and other_source.endswith("random, seed 2")
    assert first == again
    assert first != other  # other random inputs, other int16 activation scales
