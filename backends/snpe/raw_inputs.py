"""Inputs for snpe-dlc-quantize and snpe-net-run: .raw files and input_list.txt.

REFERENCE B2: a .raw file is one input tensor as headerless float32 in the
layout the DLC input has; the converter makes a 4-D NCHW ONNX input NHWC
(permutation [0, 2, ..., n-1, 1]). input_list.txt has one line per sample:
the path alone for a one-input model, ``name:=path`` pairs separated by
spaces otherwise. Paths are relative to the bundle so it can be moved.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from edgec.plugin import Layout, Value, safe_name


def dlc_permutation(value: Value) -> tuple[int, ...] | None:
    """How an input's axes move into the DLC's layout (channels last), or None if they do not."""
    if value.layout is not Layout.NCHW or value.rank < 3:
        return None
    return (0, *range(2, value.rank), 1)


def dlc_shape(value: Value) -> tuple[int, ...]:
    perm = dlc_permutation(value)
    shape = tuple(value.shape or ())
    return shape if perm is None else tuple(shape[axis] for axis in perm)


def to_dlc_layout(value: Value, array: np.ndarray) -> np.ndarray:
    """One model input as SNPE reads it: float32, channels last for image inputs."""
    perm = dlc_permutation(value)
    data = array if perm is None else np.transpose(array, perm)
    return np.ascontiguousarray(data, dtype=np.float32)


def file_names(inputs: Sequence[Value]) -> list[str]:
    """A distinct, file-name-safe .raw name per input."""
    names: list[str] = []
    for index, value in enumerate(inputs):
        name = f"{safe_name(value.name, fallback='input')}.raw"
        names.append(name if name not in names else f"{index}_{name}")
    return names


def list_name_problem(inputs: Sequence[Value]) -> str | None:
    """Why input_list.txt cannot name these inputs (several inputs, one with a space or ':=')."""
    if len(inputs) < 2:
        return None
    for value in inputs:
        if ":=" in value.name or any(ch.isspace() for ch in value.name):
            return (
                f"input {value.name!r} contains whitespace or ':=', which SNPE's input_list.txt "
                "('name:=path name2:=path2', separated by spaces) cannot express for a multi-input model"
            )
    return None


def write_input_list(
    bundle: Path,
    folder: str,
    list_file: str,
    inputs: Sequence[Value],
    samples: Sequence[Mapping[str, np.ndarray]],
) -> list[str]:
    """Write ``folder/NNNN/<input>.raw`` per sample and ``list_file``; returns the list's lines."""
    names = file_names(inputs)
    lines = []
    for index, sample in enumerate(samples):
        sample_dir = f"{folder}/{index:04d}"
        (bundle / sample_dir).mkdir(parents=True)
        paths = []
        for value, name in zip(inputs, names, strict=True):
            path = f"{sample_dir}/{name}"
            to_dlc_layout(value, sample[value.name]).tofile(bundle / path)
            paths.append(path)
        if len(inputs) == 1:
            lines.append(paths[0])
        else:
            lines.append(" ".join(f"{v.name}:={p}" for v, p in zip(inputs, paths, strict=True)))
    (bundle / list_file).write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return lines
