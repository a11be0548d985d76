"""Calibration and validation data: image directories or arrays keyed by input name.

Accepted forms of ``path``:

- a directory of images (.jpg, .jpeg, .png, .bmp; searched recursively, in
  sorted order), decoded with Pillow and preprocessed by a ``Preprocess``
  spec; optional labels in ``labels.txt`` beside them, one
  ``<relative file name> <integer label>`` per line;
- an ``.npz`` file keyed by input name, each array one input or a stack
  ``[N, *input shape]`` or, for an input of batch B, ``[N * B, *input shape
  without the batch dim]`` (so ``[N, C, H, W]`` is N samples of a
  ``[1, C, H, W]`` input); an optional integer array ``labels`` (``[N]``);
- an ``.npy`` file, for a model with one input;
- a directory of ``.npz`` files, concatenated in sorted order.

Errors name the file and say what to do: unreadable, corrupt or pickled
files (never loaded with pickle), no samples, fewer samples than asked for,
shapes that do not fit the model's inputs, NaN or Inf values (named by input
and sample index), integer inputs given values their dtype cannot hold
exactly, images above Pillow's decompression-bomb limit, more data than
fits in memory. Integer inputs keep their exact values.
"""

from __future__ import annotations

import warnings
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from edgec.data.preprocess import Preprocess
from edgec.errors import UsageError
from edgec.ir.graph import Value
from edgec.limits import SAMPLES_SHARE, available_memory, format_bytes, tensor_bytes

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
LABELS_FILE = "labels.txt"
LABELS_KEY = "labels"

Feeds = dict[str, np.ndarray]


@dataclass(frozen=True)
class Dataset:
    """``arrays[name]`` stacks the samples of one input: ``[N, *input shape]``.

    ``labels`` (optional) has one integer per sample, or ``[N, batch]`` for a
    model batch above 1. ``preprocess`` is the spec images went through.
    ``indices`` (optional): the samples' positions in ``source``.
    """

    arrays: dict[str, np.ndarray]
    source: str
    labels: np.ndarray | None = None
    preprocess: Preprocess | None = None
    indices: range | None = None

    @classmethod
    def stack(cls, feeds: Sequence[Mapping[str, np.ndarray]], source: str) -> Dataset:
        """``feeds`` (one input name -> array mapping per sample) stacked."""
        names = feeds[0].keys() if feeds else ()
        return cls({name: np.stack([feed[name] for feed in feeds]) for name in names}, source)

    def __len__(self) -> int:
        return len(next(iter(self.arrays.values()))) if self.arrays else 0

    def sample(self, index: int) -> Feeds:
        return {name: np.asarray(stack[index]) for name, stack in self.arrays.items()}  # a scalar stays 0-d

    def samples(self) -> Iterator[Feeds]:
        return (self.sample(i) for i in range(len(self)))

    def head(self, count: int) -> Dataset:
        """The first ``count`` samples."""
        return self.rows(0, count)

    def rows(self, start: int, stop: int) -> Dataset:
        """Samples ``start`` to ``stop`` (exclusive)."""
        labels = self.labels[start:stop] if self.labels is not None else None
        indices = self.indices[start:stop] if self.indices is not None else None
        arrays = {k: v[start:stop] for k, v in self.arrays.items()}
        return replace(self, arrays=arrays, labels=labels, indices=indices)

    def describe(self) -> dict[str, Any]:
        """Where the samples came from, for reports: source, count and first/last index."""
        shown = None
        if self.indices is not None and len(self.indices):
            shown = {"first": self.indices[0], "last": self.indices[-1]}
        return {"source": self.source, "count": len(self), "indices": shown}


def load_dataset(
    path: Path,
    inputs: Sequence[Value],
    preprocess: Preprocess | None = None,
    count: int | None = None,
    purpose: str = "calibration",
) -> Dataset:
    """Load ``path`` for a graph with ``inputs``; ``count`` samples exactly, or all when None."""
    if not path.exists():
        raise UsageError(f"{purpose} data '{path}' does not exist")
    if path.is_dir():
        images = sorted(_images(path))
        archives = sorted(path.glob("*.npz"))
        if images:
            dataset = _load_images(path, images, inputs, preprocess or Preprocess(), count, purpose)
        elif archives:
            dataset = _concatenate([load_arrays(p, inputs, purpose) for p in archives], path)
        else:
            raise UsageError(
                f"{purpose} data directory '{path}' holds no images ({', '.join(IMAGE_SUFFIXES)}) "
                f"and no .npz files"
            )
    elif path.suffix in (".npz", ".npy"):
        dataset = load_arrays(path, inputs, purpose)
    else:
        raise UsageError(f"{purpose} data '{path}' is neither a directory of images nor an .npz/.npy file")
    return _take(dataset, count, purpose)


def check_arrays(path: Path, purpose: str) -> None:
    """Before any work: an array file (or directory of .npz) readable, unpickled and free of NaN/Inf,
    naming the file, the input and the sample index. Shapes are checked when the data is used."""
    if path.is_dir():
        files = sorted(path.glob("*.npz")) if not any(_images(path)) else []
    elif path.suffix in (".npz", ".npy"):
        files = [path]
    else:
        return
    for file in files:
        content = _read_archive(file, (), purpose)
        for name, data in content.items():
            if name != LABELS_KEY and data.ndim > 0:
                _check_finite(file, name, data, data)


def _images(root: Path) -> Iterator[Path]:
    return (p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def _take(dataset: Dataset, count: int | None, purpose: str) -> Dataset:
    available = len(dataset)
    if available == 0:
        raise UsageError(f"{purpose} data '{dataset.source}' has no samples")
    if count is None:
        return dataset
    if available < count:
        raise UsageError(
            f"{purpose} data '{dataset.source}' has {available} sample(s), fewer than the {count} asked for; "
            f"add data or ask for at most {available}"
        )
    return dataset.head(count)


def _check_memory(what: str, count: int, per_sample: int, purpose: str) -> None:
    budget = available_memory() // SAMPLES_SHARE
    if count * per_sample > budget:
        raise UsageError(
            f"{purpose} data {what}: {count} samples of {format_bytes(per_sample)} each would take "
            f"{format_bytes(count * per_sample)}, more than half of the memory available; use at most "
            f"{budget // max(per_sample, 1)} (--calibration-samples, or fewer files)"
        )


def _decode(file: Path, spec: Preprocess) -> np.ndarray:
    """One image through ``spec``; Pillow's decompression-bomb guard (warning and error) refuses it."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(file) as image:
                array = spec.apply(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise UsageError(
            f"image '{file}' is too large to decode safely ({exc}); downscale it or remove it"
        ) from exc
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise UsageError(f"cannot decode image '{file}': {exc}. Remove or replace the file.") from exc
    if not np.isfinite(array).all():
        raise UsageError(
            f"image '{file}' becomes NaN or Inf after preprocessing; check --preprocess (a std or "
            f"scale of 0?)"
        )
    return array


def _load_images(
    root: Path,
    files: list[Path],
    inputs: Sequence[Value],
    preprocess: Preprocess,
    count: int | None,
    purpose: str,
) -> Dataset:
    if len(inputs) != 1:
        names = ", ".join(v.name for v in inputs)
        raise UsageError(
            f"'{root}' holds images, but the model has {len(inputs)} inputs ({names}); "
            f"images feed single-input models only: give an .npz keyed by input name"
        )
    value = inputs[0]
    spec = preprocess.for_input(value)
    batch = (value.shape or (1,))[0]
    wanted = len(files) if count is None else min(len(files), count * batch)
    wanted -= wanted % batch
    _check_memory(f"'{root}'", wanted // max(batch, 1), tensor_bytes(value.shape or (), value.dtype), purpose)
    arrays = [_decode(file, spec) for file in files[:wanted]]
    stack = np.stack(arrays).reshape(-1, *(value.shape or ())).astype(value.dtype) if arrays else None
    data = {value.name: stack} if stack is not None else {}
    labels = _image_labels(root, files[:wanted], batch)
    return Dataset(data, str(root), labels, spec)


def _image_labels(root: Path, files: list[Path], batch: int) -> np.ndarray | None:
    labels_path = root / LABELS_FILE
    if not labels_path.is_file():
        return None
    table: dict[str, int] = {}
    lines = labels_path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, _, label = line.replace(",", " ").rpartition(" ")
        if not name.strip() or not label.strip().lstrip("-").isdigit():
            raise UsageError(f"{labels_path}:{number}: expected '<file name> <integer label>', got {line!r}")
        table[name.strip()] = int(label)
    missing = [str(f.relative_to(root)) for f in files if f.relative_to(root).as_posix() not in table]
    if missing:
        raise UsageError(
            f"{labels_path} has no label for {len(missing)} image(s), e.g. '{missing[0]}'; "
            f"label every image or remove the file"
        )
    labels = np.asarray([table[f.relative_to(root).as_posix()] for f in files], dtype=np.int64)
    return labels.reshape(-1, batch) if batch > 1 else labels


def _archive_size(path: Path) -> int:
    """Bytes the arrays of ``path`` take once loaded (an .npz's members uncompressed)."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            return sum(info.file_size for info in archive.infolist())
    return path.stat().st_size


def _unreadable(path: Path, exc: Exception) -> UsageError:
    text = str(exc)
    if "Object arrays" in text:
        reason = "it holds object arrays (pickled Python objects), which edgec never loads"
    elif "pickled data" in text:
        reason = "it is neither an .npz nor an .npy (numpy would have to unpickle it, which edgec never does)"
    else:
        reason = f"{text or type(exc).__name__}; the file is corrupt or not numpy data"
    return UsageError(
        f"cannot read '{path}': {reason}. Give an .npz of plain numeric arrays keyed by input name, "
        "or an .npy."
    )


def _read_archive(path: Path, inputs: Sequence[Value], purpose: str) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise UsageError(f"{purpose} data '{path}' is not a regular file; give an .npz or .npy file")
    try:
        size = _archive_size(path)
        if size > available_memory() // SAMPLES_SHARE:
            raise UsageError(
                f"'{path}' holds {format_bytes(size)} of arrays, more than half of the memory available; "
                f"give fewer samples"
            )
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.ndarray):
            return _single(path, loaded, inputs)
        with loaded:
            return {key: loaded[key] for key in loaded.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError, RuntimeError) as exc:
        raise _unreadable(path, exc) from exc


def _single(path: Path, array: np.ndarray, inputs: Sequence[Value]) -> dict[str, np.ndarray]:
    if not inputs:  # check_arrays: no model inputs to match yet
        return {path.stem: array}
    if len(inputs) != 1:
        raise UsageError(
            f"'{path}' is one array, but the model has {len(inputs)} inputs; "
            f"give an .npz keyed by input name ({', '.join(v.name for v in inputs)})"
        )
    return {inputs[0].name: array}


def _as_samples(path: Path, value: Value, data: np.ndarray) -> np.ndarray:
    """``data`` as a stack ``[N, *shape]``: one input, a stack of them, or ``[N * B, *shape[1:]]``."""
    shape = tuple(value.shape or ())
    if data.shape == shape:
        return data[None]
    if data.shape[1:] == shape:
        return data
    batch = shape[0] if shape else 0
    if batch >= 1 and data.ndim == len(shape) and data.shape[1:] == shape[1:] and len(data) % batch == 0:
        return data.reshape(-1, *shape)
    rest = ", ".join(map(str, shape[1:]))
    raise UsageError(
        f"'{path}': input '{value.name}' has shape {list(data.shape)}, expected {list(shape)}, "
        f"[N, {', '.join(map(str, shape))}] or [N x {batch}, {rest}]"
    )


def _check_finite(path: Path, name: str, data: np.ndarray, converted: np.ndarray) -> None:
    """Refuse NaN/Inf, naming the input and the first sample that holds one."""
    for array, what in ((data, "NaN or Inf values"), (converted, f"values beyond {converted.dtype}'s range")):
        if not np.issubdtype(array.dtype, np.floating) and not np.issubdtype(array.dtype, np.complexfloating):
            continue
        finite = np.isfinite(array).reshape(len(array), -1).all(axis=1)
        if not finite.all():
            bad = np.flatnonzero(~finite)
            raise UsageError(
                f"'{path}': input '{name}', sample {bad[0]} holds {what} ({len(bad)} of {len(array)} "
                f"samples do); edgec takes finite inputs only: clean or drop those samples"
            )


def _as_integers(path: Path, value: Value, data: np.ndarray) -> np.ndarray:
    """Integer and bool inputs keep their exact values: no rounding, no wrap-around."""
    if np.issubdtype(data.dtype, np.floating):
        _check_finite(path, value.name, data, data)
        if data.size and not np.array_equal(data, np.round(data)):
            raise UsageError(
                f"'{path}': input '{value.name}' is {value.dtype} in the model, but the data holds "
                f"fractional values; give whole numbers"
            )
    if value.dtype == np.bool_:
        low, high = 0, 1
    else:
        low, high = np.iinfo(value.dtype).min, np.iinfo(value.dtype).max
    if data.size and (data.min() < low or data.max() > high):
        raise UsageError(
            f"'{path}': input '{value.name}' is {value.dtype} in the model, but the data holds values from "
            f"{data.min()} to {data.max()}, outside {low}..{high}"
        )
    return data.astype(value.dtype)


def _convert(path: Path, value: Value, data: np.ndarray) -> np.ndarray:
    if not (np.issubdtype(data.dtype, np.number) or data.dtype == np.bool_):
        raise UsageError(f"'{path}': input '{value.name}' holds {data.dtype} data, not numbers")
    if np.issubdtype(value.dtype, np.integer) or value.dtype == np.bool_:
        return _as_integers(path, value, data)
    with np.errstate(over="ignore", invalid="ignore"):
        converted = data.astype(value.dtype)
    _check_finite(path, value.name, data, converted)
    return converted


def load_arrays(path: Path, inputs: Sequence[Value], purpose: str = "sample") -> Dataset:
    """An .npz keyed by input name (an .npy for one input); each array is one input or a stack of them
    (see the module's docstring). NaN/Inf and inexact integers are refused."""
    content = _read_archive(path, inputs, purpose)
    missing = [v.name for v in inputs if v.name not in content]
    if missing:
        raise UsageError(f"'{path}' lacks input(s) {missing}; it has {sorted(content)}")
    arrays = {
        value.name: _convert(path, value, _as_samples(path, value, content[value.name])) for value in inputs
    }
    counts = {name: len(stack) for name, stack in arrays.items()}
    if len(set(counts.values())) > 1:
        raise UsageError(f"'{path}': inputs hold different numbers of samples: {counts}")
    labels = None
    if LABELS_KEY in content and LABELS_KEY not in arrays:
        labels = _array_labels(path, content[LABELS_KEY], len(next(iter(arrays.values()))))
    return Dataset(arrays, str(path), labels)


def _array_labels(path: Path, labels: np.ndarray, count: int) -> np.ndarray:
    if not np.issubdtype(labels.dtype, np.integer) or len(labels) != count:
        raise UsageError(
            f"'{path}': '{LABELS_KEY}' must be {count} integer label(s), one per sample; "
            f"it has dtype {labels.dtype} and shape {list(labels.shape)}"
        )
    return labels.astype(np.int64)


def _concatenate(parts: list[Dataset], root: Path) -> Dataset:
    names = parts[0].arrays.keys()
    arrays = {name: np.concatenate([p.arrays[name] for p in parts]) for name in names}
    with_labels = [p.labels is not None for p in parts]
    if any(with_labels) and not all(with_labels):
        raise UsageError(f"'{root}': some .npz files have '{LABELS_KEY}' and some do not")
    labels = np.concatenate([p.labels for p in parts if p.labels is not None]) if all(with_labels) else None
    return Dataset(arrays, str(root), labels)
