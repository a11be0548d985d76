"""Calibration and validation data: image directories or arrays keyed by input name.

Accepted forms of ``path``:

- a directory of images (.jpg, .jpeg, .png, .bmp; searched recursively, in
  sorted order), decoded with Pillow and preprocessed by a ``Preprocess``
  spec; optional labels in ``labels.txt`` beside them, one
  ``<relative file name> <integer label>`` per line;
- an ``.npz`` file keyed by input name, each array one input or a stack
  ``[N, *input shape]``; an optional integer array ``labels`` (``[N]``);
- an ``.npy`` file, for a model with one input;
- a directory of ``.npz`` files, concatenated in sorted order.

Errors name the file and say what to do: unreadable files, no samples,
fewer samples than asked for, shapes that do not fit the model's inputs.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from edgec.errors import UsageError
from edgec.ir.graph import Value
from edgec.quantization.preprocess import Preprocess

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
LABELS_FILE = "labels.txt"
LABELS_KEY = "labels"

Feeds = dict[str, np.ndarray]


@dataclass(frozen=True)
class Dataset:
    """``arrays[name]`` stacks the samples of one input: ``[N, *input shape]``.

    ``labels`` (optional) has one integer per sample, or ``[N, batch]`` for a
    model batch above 1. ``preprocess`` is the spec images went through.
    """

    arrays: dict[str, np.ndarray]
    source: str
    labels: np.ndarray | None = None
    preprocess: Preprocess | None = None

    def __len__(self) -> int:
        return len(next(iter(self.arrays.values()))) if self.arrays else 0

    def sample(self, index: int) -> Feeds:
        return {name: np.asarray(stack[index]) for name, stack in self.arrays.items()}  # a scalar stays 0-d

    def samples(self) -> Iterator[Feeds]:
        return (self.sample(i) for i in range(len(self)))

    def head(self, count: int) -> Dataset:
        """The first ``count`` samples."""
        labels = self.labels[:count] if self.labels is not None else None
        return replace(self, arrays={k: v[:count] for k, v in self.arrays.items()}, labels=labels)


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
        images = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        archives = sorted(path.glob("*.npz"))
        if images:
            dataset = _load_images(path, images, inputs, preprocess or Preprocess(), count)
        elif archives:
            dataset = _concatenate([load_arrays(p, inputs) for p in archives], path)
        else:
            raise UsageError(
                f"{purpose} data directory '{path}' holds no images ({', '.join(IMAGE_SUFFIXES)}) "
                f"and no .npz files"
            )
    elif path.suffix in (".npz", ".npy"):
        dataset = load_arrays(path, inputs)
    else:
        raise UsageError(f"{purpose} data '{path}' is neither a directory of images nor an .npz/.npy file")
    return _take(dataset, count, purpose)


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


def _load_images(
    root: Path, files: list[Path], inputs: Sequence[Value], preprocess: Preprocess, count: int | None
) -> Dataset:
    from PIL import Image, UnidentifiedImageError

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
    arrays = []
    for file in files[:wanted]:
        try:
            with Image.open(file) as image:
                arrays.append(spec.apply(image))
        except (OSError, UnidentifiedImageError, ValueError) as exc:
            raise UsageError(f"cannot decode image '{file}': {exc}. Remove or replace the file.") from exc
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


def _read_archive(path: Path, inputs: Sequence[Value]) -> dict[str, np.ndarray]:
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise UsageError(
            f"cannot read '{path}': {exc}. Give an .npz keyed by input name, or an .npy."
        ) from exc
    if isinstance(loaded, np.ndarray):
        if len(inputs) != 1:
            raise UsageError(
                f"'{path}' is one array, but the model has {len(inputs)} inputs; "
                f"give an .npz keyed by input name ({', '.join(v.name for v in inputs)})"
            )
        return {inputs[0].name: loaded}
    with loaded:
        return {key: loaded[key] for key in loaded.files}


def load_arrays(path: Path, inputs: Sequence[Value]) -> Dataset:
    """An .npz keyed by input name (an .npy for one input); each array is one input or a stack [N, ...]."""
    content = _read_archive(path, inputs)
    missing = [v.name for v in inputs if v.name not in content]
    if missing:
        raise UsageError(f"'{path}' lacks input(s) {missing}; it has {sorted(content)}")
    arrays = {}
    for value in inputs:
        data, shape = content[value.name], tuple(value.shape or ())
        if data.shape == shape:
            data = data[None]
        if data.shape[1:] != shape:
            raise UsageError(
                f"'{path}': input '{value.name}' has shape {list(data.shape)}, "
                f"expected {list(shape)} or [N, {', '.join(map(str, shape))}]"
            )
        arrays[value.name] = data.astype(value.dtype)
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
