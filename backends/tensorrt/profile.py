"""Optimization profiles: the emitted ONNX gets the profiled input dims back as dynamic dims.

The compiler works at the profile's OPT shape; TensorRT builds the engine
for MIN..MAX (trtexec ``--minShapes/--optShapes/--maxShapes``, REFERENCE A4;
``IOptimizationProfile.set_shape``, A5). Only the dims that differ between
MIN and MAX become dynamic. Constant-folded Reshape targets that baked the
batch in are made batch-agnostic (``[-1, ...]``) where that is provably
safe: the data's dim 0 is the only varying dim, the target's dim 0 is the
OPT batch, and the other dims keep their product. Anything else that pins
a varying dim is refused, and ONNX Runtime must run the result at MIN and
MAX (and, for batch profiles, give each batch item what a smaller batch gives).
"""

from __future__ import annotations

from collections.abc import Sequence
from math import prod

import numpy as np
import onnx
from onnx import numpy_helper
from onnxruntime import InferenceSession

from edgec.backends.tensorrt.shape_profile import ShapeProfile, format_dims
from edgec.plugin import ORT_ERRORS, ShapeError, TargetError, run, session

# Characters trtexec's shape specs cannot carry in a quoted input name (A4: 'Input:0' quoting).
_SPEC_UNSAFE = (",", "'")


def dim_name(profile: ShapeProfile, axis: int) -> str:
    return f"{profile.name}_dim{axis}"


def dynamic(profiles: Sequence[ShapeProfile]) -> bool:
    return any(p.dynamic_axes for p in profiles)


def trtexec_flags(profiles: Sequence[ShapeProfile]) -> list[str]:
    """``--minShapes='x':1x3x48x192,...`` and the opt/max twins; names single-quoted as trtexec reads them."""
    for profile in profiles:
        if any(ch in profile.name for ch in _SPEC_UNSAFE):
            raise TargetError(
                f"input '{profile.name}' contains a comma or single quote, which trtexec's shape specs "
                f"cannot carry; rename the input in the model to use --shape-profile."
            )
    flags = []
    for flag, key in (("--minShapes", "min"), ("--optShapes", "opt"), ("--maxShapes", "max")):
        spec = ",".join(f"'{p.name}':{format_dims(getattr(p, key))}" for p in profiles)
        flags.append(f"{flag}={spec}")
    return flags


def python_profile(profiles: Sequence[ShapeProfile]) -> list[tuple[str, list[int], list[int], list[int]]]:
    return [(p.name, list(p.min), list(p.opt), list(p.max)) for p in profiles]


def make_dynamic(model: onnx.ModelProto, profiles: Sequence[ShapeProfile], label: str) -> onnx.ModelProto:
    """A copy of ``model`` (built at the OPT shapes) whose profiled dims are dynamic; checked with ORT."""
    result = onnx.ModelProto()
    result.CopyFrom(model)
    graph = result.graph
    inputs = {info.name: info for info in graph.input}
    for profile in profiles:
        dims = inputs[profile.name].type.tensor_type.shape.dim
        for axis in profile.dynamic_axes:
            dims[axis].Clear()
            dims[axis].dim_param = dim_name(profile, axis)
    varying = _downstream(graph, {p.name for p in profiles if p.dynamic_axes})
    static_info = {info.name: info for info in graph.value_info}
    _unbake_reshapes(graph, varying, static_info, label)
    used = {name for node in graph.node for name in node.input}
    kept_inits = [init for init in graph.initializer if init.name in used]
    graph.ClearField("initializer")
    graph.initializer.extend(kept_inits)
    kept = [info for info in graph.value_info if info.name not in varying]
    graph.ClearField("value_info")
    graph.value_info.extend(kept)
    for output in graph.output:
        if output.name in varying:
            output.type.tensor_type.ClearField("shape")
    _set_output_dims(result, profiles, label)
    onnx.checker.check_model(result, full_check=True)
    return result


def _downstream(graph: onnx.GraphProto, names: set[str]) -> set[str]:
    """Every tensor computed from the named inputs (nodes are in topological order)."""
    reached = set(names)
    for node in graph.node:
        if any(name in reached for name in node.input):
            reached.update(node.output)
    return reached


def _dims(info: onnx.ValueInfoProto | None) -> list[int] | None:
    if info is None:
        return None
    return [d.dim_value for d in info.type.tensor_type.shape.dim]


def _unbake_reshapes(
    graph: onnx.GraphProto, varying: set[str], info: dict[str, onnx.ValueInfoProto], label: str
) -> None:
    """Reshape targets that pin a varying dim become ``[-1, ...]``, or the build is refused."""
    info.update({v.name: v for v in graph.input})
    info.update({v.name: v for v in graph.output})
    inits = {init.name: init for init in graph.initializer}
    batch_only = _batch_only(graph, varying)
    for node in graph.node:
        if node.op_type != "Reshape" or node.input[0] not in varying:
            continue
        data, out = _dims(info.get(node.input[0])), _dims(info.get(node.output[0]))
        allowzero = any(a.name == "allowzero" and a.i for a in node.attribute)
        target = inits.get(node.input[1])
        safe = (
            batch_only
            and target is not None
            and not allowzero
            and data is not None
            and out is not None
            and out[0] == data[0]
            and prod(data[1:]) == prod(out[1:])
        )
        if not safe:
            raise ShapeError(
                f"{label}: Reshape node '{node.name}' has a constant target shape computed at the OPT shape "
                f"and cannot be proven batch-agnostic, so the engine would not take other sizes of the "
                f"profiled dims. Export the model with dynamic shapes kept (Reshape from Shape), or build "
                f"with static shapes (--input-shape) instead of --shape-profile."
            )
        name = f"{node.input[1]}__profile_{len(graph.initializer)}"
        graph.initializer.append(numpy_helper.from_array(np.array([-1, *out[1:]], np.int64), name))
        node.input[1] = name


def _batch_only(graph: onnx.GraphProto, varying: set[str]) -> bool:
    """Whether every dynamic input varies in dim 0 only."""
    for info in graph.input:
        dims = info.type.tensor_type.shape.dim
        params = [i for i, d in enumerate(dims) if d.dim_param]
        if info.name in varying and params != [0]:
            return False
    return True


def _feeds(model: onnx.ModelProto, profiles: Sequence[ShapeProfile], key: str) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    shapes = {p.name: getattr(p, key) for p in profiles}
    feeds = {}
    for info in model.graph.input:
        dtype = onnx.helper.tensor_dtype_to_np_dtype(info.type.tensor_type.elem_type)
        shape = shapes.get(info.name) or tuple(d.dim_value for d in info.type.tensor_type.shape.dim)
        feeds[info.name] = rng.standard_normal(shape).astype(dtype)
    return feeds


def _set_output_dims(model: onnx.ModelProto, profiles: Sequence[ShapeProfile], label: str) -> None:
    """Run ONNX Runtime at MIN and MAX; output dims that differ become dynamic, the rest static."""
    try:
        sess = session(model, threads=1)
        low = run(sess, _feeds(model, profiles, "min"))
        high_feeds = _feeds(model, profiles, "max")
        high = run(sess, high_feeds)
    except ORT_ERRORS as exc:
        raise ShapeError(
            f"{label}: with the profiled dims dynamic, ONNX Runtime cannot run the model at the MIN and MAX "
            f"shapes ({str(exc).strip()}); a node pins a profiled dim. Build with static shapes "
            f"(--input-shape) instead of --shape-profile."
        ) from exc
    for output in model.graph.output:
        if output.type.tensor_type.HasField("shape"):
            continue
        for axis, (a, b) in enumerate(zip(low[output.name].shape, high[output.name].shape, strict=True)):
            dim = output.type.tensor_type.shape.dim.add()
            if a == b:
                dim.dim_value = a
            else:
                dim.dim_param = f"{output.name}_dim{axis}"
    if _batch_only(model.graph, {p.name for p in profiles if p.dynamic_axes}):
        _check_batch_items(sess, profiles, high_feeds, high, label)


def _check_batch_items(
    sess: InferenceSession,
    profiles: Sequence[ShapeProfile],
    high_feeds: dict[str, np.ndarray],
    high: dict[str, np.ndarray],
    label: str,
) -> None:
    """The first MIN batch items of a MAX run equal a MIN run on the same items."""
    count = min(p.min[0] for p in profiles if p.dynamic_axes)
    varying = {p.name for p in profiles if p.dynamic_axes}
    feeds = {n: (v[:count] if n in varying else v) for n, v in high_feeds.items()}
    low = run(sess, feeds)
    for name, values in low.items():
        if values.shape[:1] == high[name].shape[:1]:
            continue
        if not np.allclose(values, high[name][:count], rtol=1e-3, atol=1e-4):
            raise ShapeError(
                f"{label}: output '{name}' of a batch-{count} run differs from the same items in a larger "
                f"batch: the model mixes batch items (a folded shape pins the batch). Build with static "
                f"shapes (--input-shape) instead of --shape-profile."
            )
