"""Calibration and held-out inputs for the conformance zoo, from different sources.

The split is fixed here, before any model is judged (``SOURCES``):

- image: calibration crops of scikit-image's colour photographs and microscopy
  (astronaut, rocket, stereo_motorcycle, hubble_deep_field,
  immunohistochemistry); held out: other photographs (chelsea, coffee, camera),
  textures (brick, grass, gravel) and drawings rendered with Pillow.
- document: calibration pages rendered with Pillow in one layout (paragraphs of
  one word list); held out: pages of another word list laid out as tables and
  two columns, and crops of scikit-image's scanned ``page`` and ``text``; all
  turned by 0/90/180/270 degrees.
- textline: calibration lines of one word list; held out: lines of another,
  in other sizes and colours; half turned upside down.
- bytes: calibration files are Python sources of the standard library; held
  out: binary and data files (shared libraries, PNG, JSON, compiled bytecode).
- audio: calibration tones (sums of sines, chirps); held out: noise bursts and
  speech-like signals (pulse trains through formant resonators, syllable-rate
  envelopes). State inputs come from streaming the signal chunk by chunk
  through the input model (ONNX Runtime), as a device would carry them.
- tokens/mask: calibration ids uniform over the vocabulary; held out: ids with
  a Zipf (natural language) frequency; padding lengths differ per sample.
"""

from __future__ import annotations

import sysconfig
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image, ImageDraw, ImageFont
from skimage import data as skdata
from zoo_models import InputSpec, ZooModel

SPLITS = ("calibration", "validation")
SOURCES = {
    "image": (
        "skimage photographs: astronaut, rocket, stereo_motorcycle, hubble_deep_field, immunohistochemistry",
        "skimage chelsea, coffee, camera; textures brick, grass, gravel; Pillow drawings",
    ),
    "document": (
        "Pillow pages, word list A, paragraphs",
        "Pillow tables/columns of word list B; skimage page, text",
    ),
    "textline": ("Pillow text lines, word list A", "Pillow text lines, word list B"),
    "bytes": ("Python standard library sources", "shared libraries, PNG, JSON, .pyc files"),
    "audio": ("tones: sums of sines, chirps", "noise bursts, speech-like formant signals"),
    "tokens": ("uniform ids", "Zipf-distributed ids"),
}
CALIBRATION_PHOTOS = ("astronaut", "rocket", "stereo_motorcycle", "hubble_deep_field", "immunohistochemistry")
VALIDATION_PHOTOS = ("chelsea", "coffee", "camera", "brick", "grass", "gravel")
WORDS_A = (
    "compiler",
    "tensor",
    "engine",
    "quantize",
    "calibrate",
    "device",
    "layer",
    "stride",
    "kernel",
    "42",
)
WORDS_B = ("the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "invoice", "total", "1997", "page")
_SEEDS = {"calibration": 0, "validation": 1}
_MEAN = np.array([0.485, 0.456, 0.406], np.float32).reshape(3, 1, 1)
_STD = np.array([0.229, 0.224, 0.225], np.float32).reshape(3, 1, 1)
_PADDING_TOKEN = 256
_SAMPLE_RATE = 16000


def samples(model: ZooModel, path: Path, split: str, count: int) -> list[dict[str, np.ndarray]]:
    """``count`` feeds for ``model`` (file ``path``) from ``split``'s sources, in the model's dtypes."""
    if split not in SPLITS:
        raise ValueError(f"split {split!r} not in {SPLITS}")
    rng = np.random.default_rng(_SEEDS[split])
    dtypes = _input_dtypes(path)
    feeds: list[dict[str, np.ndarray]] = [{} for _ in range(count)]
    for spec in model.inputs:
        if spec.data in ("state", "mask"):
            continue
        for feed, array in zip(feeds, _arrays(spec, split, count, rng), strict=True):
            feed[spec.name] = array.astype(dtypes[spec.name]).reshape(spec.shape)
    for spec in model.inputs:
        if spec.data == "mask":
            for feed in feeds:
                feed[spec.name] = _mask(spec, rng).astype(dtypes[spec.name])
    states = [spec for spec in model.inputs if spec.data == "state"]
    if states:
        _stream_states(path, feeds, states, dtypes)
    return feeds


def stack(feeds: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Feeds as one ``[N, *input shape]`` array per input, the form edgec reads from an .npz."""
    return {name: np.stack([feed[name] for feed in feeds]) for name in feeds[0]}


def _input_dtypes(path: Path) -> dict[str, np.dtype]:
    names = {"tensor(float)": np.float32, "tensor(int64)": np.int64, "tensor(int32)": np.int32}
    names |= {"tensor(bool)": np.bool_, "tensor(float16)": np.float16}
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return {i.name: np.dtype(names[i.type]) for i in sess.get_inputs()}


def _arrays(spec: InputSpec, split: str, count: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    if spec.data in ("image", "document", "textline"):
        height, width = spec.shape[-2:]
        make = {"image": _image, "document": _document, "textline": _textline}[spec.data]
        for _ in range(count):
            yield _normalize(make(split, height, width, rng), spec)
    elif spec.data == "bytes":
        yield from _byte_samples(split, count, spec.shape[-1], rng)
    elif spec.data == "audio":
        yield from _audio_chunks(split, count, int(np.prod(spec.shape)), rng)
    elif spec.data == "tokens":
        for _ in range(count):
            yield _tokens(spec, split, rng)
    else:
        raise ValueError(f"input {spec.name}: no data kind {spec.data!r}")


def _normalize(image: Image.Image, spec: InputSpec) -> np.ndarray:
    if spec.color == "gray":
        pixels = np.asarray(image.convert("L"), np.float32)[None]
    else:
        pixels = np.asarray(image.convert("RGB"), np.float32).transpose(2, 0, 1)
        pixels = pixels[::-1] if spec.color == "bgr" else pixels
    if spec.norm == "imagenet":
        return (pixels / 255.0 - _MEAN) / _STD
    if spec.norm == "half":
        return (pixels / 255.0 - 0.5) / 0.5
    return pixels / 255.0 if spec.norm == "unit" else pixels


# --- images ---------------------------------------------------------------------------------------


def _photo(name: str) -> np.ndarray:
    image = getattr(skdata, name)()
    image = image[0] if isinstance(image, tuple) else image
    return np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image[..., :3]


def _crop(image: np.ndarray, height: int, width: int, rng: np.random.Generator) -> Image.Image:
    rows, cols = image.shape[:2]
    fit = min(rows / height, cols / width) * rng.uniform(0.4, 1.0)
    box_h, box_w = max(1, int(height * fit)), max(1, int(width * fit))
    top, left = rng.integers(0, rows - box_h + 1), rng.integers(0, cols - box_w + 1)
    crop = image[top : top + box_h, left : left + box_w]
    crop = crop[:, ::-1] if rng.random() < 0.5 else crop
    return Image.fromarray(np.ascontiguousarray(crop)).resize((width, height), Image.BILINEAR)


def _drawing(height: int, width: int, rng: np.random.Generator) -> Image.Image:
    canvas = Image.new("RGB", (width, height), tuple(int(v) for v in rng.integers(180, 256, 3)))
    draw = ImageDraw.Draw(canvas)
    for _ in range(int(rng.integers(4, 12))):
        x0, x1 = sorted(rng.integers(0, width, 2))
        y0, y1 = sorted(rng.integers(0, height, 2))
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        shape = rng.integers(0, 3)
        if shape == 0:
            draw.ellipse((x0, y0, x1, y1), outline=colour, width=int(rng.integers(1, 6)))
        elif shape == 1:
            draw.rectangle((x0, y0, x1, y1), fill=colour)
        else:
            draw.line((x0, y0, x1, y1), fill=colour, width=int(rng.integers(1, 8)))
    return canvas


def _image(split: str, height: int, width: int, rng: np.random.Generator) -> Image.Image:
    names = CALIBRATION_PHOTOS if split == "calibration" else VALIDATION_PHOTOS
    if split == "validation" and rng.random() < 0.25:
        return _drawing(height, width, rng)
    return _crop(_photo(str(rng.choice(names))), height, width, rng)


def _font(rng: np.random.Generator, low: int, high: int) -> ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=int(rng.integers(low, high)))


def _page(words: tuple[str, ...], layout: str, rng: np.random.Generator) -> Image.Image:
    page = Image.new("RGB", (600, 800), tuple(int(v) for v in rng.integers(225, 256, 3)))
    draw = ImageDraw.Draw(page)
    ink = tuple(int(v) for v in rng.integers(0, 70, 3))
    columns = 2 if layout == "columns" else 1
    y = int(rng.integers(20, 80))
    while y < 760:
        font = _font(rng, 14, 30)
        for column in range(columns):
            x = 30 + column * 290
            draw.text(
                (x, y),
                " ".join(rng.choice(words, int(rng.integers(2, 7 // columns + 2)))),
                fill=ink,
                font=font,
            )
        if layout == "table":
            draw.line((20, y - 4, 580, y - 4), fill=ink, width=1)
        y += int(font.size * rng.uniform(1.3, 2.2))
    if layout == "table":
        for x in (20, 200, 400, 580):
            draw.line((x, 0, x, 800), fill=ink, width=1)
    return page


def _document(split: str, height: int, width: int, rng: np.random.Generator) -> Image.Image:
    if split == "calibration":
        page = _page(WORDS_A, "paragraphs", rng)
    elif rng.random() < 0.3:
        page = Image.fromarray(_photo(str(rng.choice(("page", "text")))))
    else:
        page = _page(WORDS_B, str(rng.choice(("table", "columns"))), rng)
    page = page.rotate(90 * int(rng.integers(0, 4)), expand=True)
    return _crop(np.asarray(page), height, width, rng)


def _textline(split: str, height: int, width: int, rng: np.random.Generator) -> Image.Image:
    words = WORDS_A if split == "calibration" else WORDS_B
    text = " ".join(rng.choice(words, int(rng.integers(2, 5))))
    font = _font(rng, 24, 40) if split == "calibration" else _font(rng, 18, 48)
    left, top, right, bottom = font.getbbox(text)
    paper = tuple(int(v) for v in rng.integers(170, 256, 3))
    ink = tuple(int(v) for v in rng.integers(0, 90, 3))
    line = Image.new("RGB", (right - left + 16, bottom - top + 12), paper)
    ImageDraw.Draw(line).text((8 - left, 6 - top), text, fill=ink, font=font)
    line = line.rotate(180) if rng.random() < 0.5 else line
    fitted = min(width, round(line.width * height / line.height))
    canvas = Image.new("RGB", (width, height), (0, 0, 0))
    canvas.paste(line.resize((fitted, height), Image.BILINEAR), (0, 0))
    return canvas


# --- bytes ----------------------------------------------------------------------------------------


def _files(split: str) -> list[Path]:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    if split == "calibration":
        return sorted(stdlib.glob("*.py"))
    site = Path(np.__file__).parents[1]
    found = sorted(site.glob("numpy/**/*.so"))[:40] + sorted(Path(skdata.__file__).parent.glob("*.png"))
    found += sorted(site.glob("**/*.json"))[:40] + sorted(stdlib.glob("__pycache__/*.pyc"))[:40]
    return found


def _byte_features(content: bytes, size: int) -> np.ndarray:
    half = size // 2
    beg = np.full(half, _PADDING_TOKEN, np.int64)
    end = np.full(half, _PADDING_TOKEN, np.int64)
    head, tail = content[:half], content[-half:]
    beg[: len(head)] = np.frombuffer(head, np.uint8)
    end[half - len(tail) :] = np.frombuffer(tail, np.uint8)
    return np.concatenate([beg, end])


def _byte_samples(split: str, count: int, size: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    files = [f for f in _files(split) if f.stat().st_size >= 8]
    for index in rng.choice(len(files), count, replace=len(files) < count):
        yield _byte_features(files[int(index)].read_bytes(), size)


# --- audio ----------------------------------------------------------------------------------------


def _tones(length: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(length) / _SAMPLE_RATE
    signal = np.zeros(length)
    for _ in range(int(rng.integers(1, 4))):
        f0, f1 = rng.uniform(100, 4000, 2)
        phase = 2 * np.pi * (f0 * t + (f1 - f0) * t**2 / (2 * t[-1]))
        signal += rng.uniform(0.05, 0.4) * np.sin(phase)
    return signal


def _speech_like(length: int, rng: np.random.Generator) -> np.ndarray:
    pitch = rng.uniform(90, 250)
    pulses = np.zeros(length)
    pulses[:: int(_SAMPLE_RATE / pitch)] = 1.0
    signal = pulses
    for formant in rng.uniform((500, 1200, 2400), (800, 1800, 3200)):
        r, theta = 0.97, 2 * np.pi * formant / _SAMPLE_RATE
        out = np.zeros(length)
        for n in range(2, length):
            out[n] = signal[n] + 2 * r * np.cos(theta) * out[n - 1] - r * r * out[n - 2]
        signal = out
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(3, 6) * np.arange(length) / _SAMPLE_RATE)
    return 0.3 * signal / (np.abs(signal).max() + 1e-9) * envelope


def _noise(length: int, rng: np.random.Generator) -> np.ndarray:
    burst = rng.standard_normal(length) * rng.uniform(0.01, 0.3)
    return burst * (rng.random(length // 400 + 1).repeat(400)[:length] < 0.6)


def _audio_chunks(split: str, count: int, size: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """One stream cut into ``count`` consecutive chunks of ``size`` samples."""
    pieces, length = [], 0
    while length < count * size:
        piece_length = int(rng.integers(4000, 12000))
        if split == "calibration":
            pieces.append(_tones(piece_length, rng))
        else:
            pieces.append((_speech_like if rng.random() < 0.5 else _noise)(piece_length, rng))
        length += piece_length
    stream = np.concatenate(pieces)
    for index in range(count):
        yield stream[index * size : (index + 1) * size]


def _stream_states(
    path: Path, feeds: list[dict[str, np.ndarray]], states: list[InputSpec], dtypes: dict[str, np.dtype]
) -> None:
    """Each feed's state inputs: zeros for the first chunk, then the model's own state outputs."""
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    carried = {spec.name: np.zeros(spec.shape, dtypes[spec.name]) for spec in states}
    for feed in feeds:
        feed.update(carried)
        outputs = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feed), strict=True))
        carried = {spec.name: outputs[spec.carried_by].reshape(spec.shape) for spec in states}


# --- tokens ---------------------------------------------------------------------------------------


def _tokens(spec: InputSpec, split: str, rng: np.random.Generator) -> np.ndarray:
    length = spec.shape[-1]
    low = 1000 if spec.vocab > 2000 else 4
    if split == "calibration":
        ids = rng.integers(low, spec.vocab, length)
    else:
        ids = low + np.minimum(rng.zipf(1.3, length) - 1, spec.vocab - low - 1)
    if spec.vocab > 2000:
        ids[0], ids[-1] = 101, 102
    return ids


def _mask(spec: InputSpec, rng: np.random.Generator) -> np.ndarray:
    length = spec.shape[-1]
    mask = np.zeros(spec.shape, np.int64)
    mask[..., : int(rng.integers(max(2, length // 4), length + 1))] = 1
    return mask
