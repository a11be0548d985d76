"""Image collections for held-out int8 measurements: calibrate on one, validate on the other.

Fixed before any measurement was made with them (no tuning on the validation collection):

- calibration: photographs (scikit-image's astronaut, rocket, stereo_motorcycle, camera,
  hubble_deep_field) and documents (scikit-image's page and text, and rendered text pages);
- validation: other photographs (scikit-image's chelsea and coffee, scikit-learn's china and
  flower), textures (brick, grass, gravel) and drawings (colorwheel, logo, horse, and rendered
  line drawings of shapes);
- development, for choosing settings without looking at the validation collection:
  immunohistochemistry, retina, moon, coins, clock and two other rendered drawings.

``crops`` cuts seeded random crops (30-100 % of the largest box of the input's aspect, half
mirrored) as 8-bit RGB ``[N, H, W, 3]``; ``text_lines`` renders OCR recognizer inputs.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from natural_inputs import random_crop
from PIL import Image, ImageDraw, ImageFont
from skimage import data as skdata
from sklearn.datasets import load_sample_image

WORDS_CALIBRATION = ("compiler", "tensor", "engine", "quantize", "calibrate", "device", "layer", "stride")
WORDS_VALIDATION = ("the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "while", "seven")


def _rgb(image: np.ndarray | tuple[np.ndarray, ...]) -> np.ndarray:
    image = image[0] if isinstance(image, tuple) else image
    if image.dtype == bool:
        image = np.where(image, 255, 0).astype(np.uint8)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    return np.ascontiguousarray(image[..., :3])


def _skimage(name: str) -> Callable[[], np.ndarray]:
    return lambda: _rgb(getattr(skdata, name)())


def _sklearn(name: str) -> Callable[[], np.ndarray]:
    return lambda: _rgb(load_sample_image(name))


def _document(seed: int, words: tuple[str, ...]) -> Callable[[], np.ndarray]:
    def render() -> np.ndarray:
        rng = np.random.default_rng(seed)
        page = Image.new("RGB", (640, 480), tuple(int(v) for v in rng.integers(200, 256, 3)))
        draw = ImageDraw.Draw(page)
        top = 10
        while top < 440:
            size = int(rng.integers(14, 34))
            font = ImageFont.load_default(size=size)
            text = " ".join(rng.choice(words, int(rng.integers(3, 8))))
            draw.text(
                (int(rng.integers(5, 60)), top),
                text,
                fill=tuple(int(v) for v in rng.integers(0, 80, 3)),
                font=font,
            )
            top += size + int(rng.integers(4, 20))
        return np.asarray(page)

    return render


def _drawing(seed: int) -> Callable[[], np.ndarray]:
    def render() -> np.ndarray:
        rng = np.random.default_rng(seed)
        canvas = Image.new("RGB", (512, 512), (255, 255, 255))
        draw = ImageDraw.Draw(canvas)
        for _ in range(12):
            box = sorted(rng.integers(0, 512, 2)), sorted(rng.integers(0, 512, 2))
            xy = (int(box[0][0]), int(box[1][0]), int(box[0][1]), int(box[1][1]))
            colour = tuple(int(v) for v in rng.integers(0, 256, 3))
            shape = rng.integers(0, 3)
            if shape == 0:
                draw.ellipse(xy, outline=colour, width=int(rng.integers(2, 8)))
            elif shape == 1:
                draw.rectangle(xy, fill=colour)
            else:
                draw.line(xy, fill=colour, width=int(rng.integers(2, 10)))
        return np.asarray(canvas)

    return render


CALIBRATION: dict[str, Callable[[], np.ndarray]] = {
    **{n: _skimage(n) for n in ("astronaut", "rocket", "stereo_motorcycle", "camera", "hubble_deep_field")},
    **{n: _skimage(n) for n in ("page", "text")},
    "document-0": _document(0, WORDS_CALIBRATION),
    "document-1": _document(1, WORDS_CALIBRATION),
}
VALIDATION: dict[str, Callable[[], np.ndarray]] = {
    **{n: _skimage(n) for n in ("chelsea", "coffee")},
    **{n: _sklearn(n) for n in ("china.jpg", "flower.jpg")},
    **{n: _skimage(n) for n in ("brick", "grass", "gravel")},
    **{n: _skimage(n) for n in ("colorwheel", "logo", "horse")},
    "drawing-0": _drawing(0),
    "drawing-1": _drawing(1),
}
# For choosing settings (methods, defaults): neither calibration nor validation.
DEVELOPMENT: dict[str, Callable[[], np.ndarray]] = {
    **{n: _skimage(n) for n in ("immunohistochemistry", "retina", "moon", "coins", "clock")},
    "drawing-5": _drawing(5),
    "drawing-6": _drawing(6),
}
DOCUMENTS_VALIDATION: dict[str, Callable[[], np.ndarray]] = {
    f"document-{seed}": _document(seed, WORDS_VALIDATION) for seed in (10, 11, 12)
}


def crops(
    collection: dict[str, Callable[[], np.ndarray]], count: int, height: int, width: int, seed: int
) -> np.ndarray:
    """``count`` 8-bit RGB crops ``[count, height, width, 3]``, cycling through ``collection``."""
    images = [load() for load in collection.values()]
    rng = np.random.default_rng(seed)
    return np.stack(
        [np.asarray(random_crop(images[i % len(images)], height, width, rng)) for i in range(count)]
    )


def text_lines(words: tuple[str, ...], count: int, height: int, width: int, seed: int) -> np.ndarray:
    """``count`` text lines of 2-4 ``words``, dark on light, resized to ``height`` and padded to
    ``width`` on the right with white: ``[count, height, width, 3]`` uint8."""
    rng = np.random.default_rng(seed)
    found = []
    for _ in range(count):
        text = " ".join(rng.choice(words, int(rng.integers(2, 5))))
        font = ImageFont.load_default(size=int(rng.integers(24, 40)))
        left, top, right, bottom = font.getbbox(text)
        paper = tuple(int(v) for v in rng.integers(170, 256, 3))
        line = Image.new("RGB", (right - left + 16, bottom - top + 12), paper)
        ink = tuple(int(v) for v in rng.integers(0, 90, 3))
        ImageDraw.Draw(line).text((8 - left, 6 - top), text, fill=ink, font=font)
        fitted = min(width, round(line.width * height / line.height))
        canvas = Image.new("RGB", (width, height), paper)
        canvas.paste(line.resize((fitted, height), Image.BILINEAR), (0, 0))
        found.append(np.asarray(canvas))
    return np.stack(found)
