"""Natural inputs for the INT8 tests: photograph crops, and rendered text lines for the OCR classifier.

Calibration and test inputs come from different sources (no photograph,
and no word, feeds both), so the agreement is measured on inputs
calibration never saw. Both photograph sets are colour photographs of
everyday scenes, as a user would calibrate an ImageNet classifier with
(grey or microscope images would calibrate ranges the test images never
reach). The PaddleOCR direction classifier sees what it classifies: text
lines, half of them upside down, resized to height 48 and padded on the
right as PaddleOCR does. Each model's preprocessing follows
../shared/models/README.md.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from skimage import data

CALIBRATION_PHOTOS = ("astronaut", "rocket", "stereo_motorcycle")
TEST_PHOTOS = ("chelsea", "coffee")
CALIBRATION_WORDS = ("compiler", "tensor", "engine", "quantize", "calibrate", "device", "layer", "stride")
TEST_WORDS = ("the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "while", "seven", "pilots")

_MEAN = np.array([0.485, 0.456, 0.406], np.float32).reshape(3, 1, 1)
_STD = np.array([0.229, 0.224, 0.225], np.float32).reshape(3, 1, 1)


def _efficientnet(rgb: np.ndarray) -> np.ndarray:
    return (rgb / 255.0 - _MEAN) / _STD


def _ppocr(rgb: np.ndarray) -> np.ndarray:
    return (rgb / 255.0 - 0.5) / 0.5


def _yolox(rgb: np.ndarray) -> np.ndarray:
    return rgb


# model file -> (input name, height, width, normalization of a CHW float32 image in 0..255)
PREPROCESS: dict[str, tuple[str, int, int, Callable[[np.ndarray], np.ndarray]]] = {
    "efficientnet_lite0.onnx": ("input", 224, 224, _efficientnet),
    "ppocr_mobile_v2_cls.onnx": ("x", 48, 192, _ppocr),
    "yolox_det.onnx": ("images", 416, 416, _yolox),
}


def photo(name: str) -> np.ndarray:
    image = getattr(data, name)()
    image = image[0] if isinstance(image, tuple) else image
    return np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image[..., :3]


def crop_pixels(model: str, photos: tuple[str, ...], count: int, seed: int) -> list[Image.Image]:
    """``count`` 8-bit RGB crops at the input's size: 30-100 % of the largest box of its aspect, half
    mirrored."""
    _, height, width, _ = PREPROCESS[model]
    images = [photo(name) for name in photos]
    rng = np.random.default_rng(seed)
    return [random_crop(images[index % len(images)], height, width, rng) for index in range(count)]


def random_crop(image: np.ndarray, height: int, width: int, rng: np.random.Generator) -> Image.Image:
    """A crop of 30-100 % of ``image``'s largest box of aspect ``height:width``, mirrored half of the
    time, resized to ``height`` x ``width``."""
    rows, cols = image.shape[:2]
    fit = min(rows / height, cols / width) * rng.uniform(0.3, 1.0)
    box_h, box_w = max(1, int(height * fit)), max(1, int(width * fit))
    top, left = rng.integers(0, rows - box_h + 1), rng.integers(0, cols - box_w + 1)
    crop = image[top : top + box_h, left : left + box_w]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    return Image.fromarray(np.ascontiguousarray(crop)).resize((width, height), Image.BILINEAR)


def crops(model: str, photos: tuple[str, ...], count: int, seed: int) -> np.ndarray:
    """``crop_pixels`` preprocessed for ``model``: [count, 3, height, width] float32."""
    normalize = PREPROCESS[model][3]
    chw = (
        np.asarray(image, np.float32).transpose(2, 0, 1) for image in crop_pixels(model, photos, count, seed)
    )
    return np.stack([normalize(image).astype(np.float32) for image in chw])


def text_lines(words: tuple[str, ...], count: int, seed: int) -> np.ndarray:
    """``count`` PaddleOCR classifier inputs: 2-4 random ``words``, dark on light, half upside down."""
    rng = np.random.default_rng(seed)
    found = []
    for _ in range(count):
        text = " ".join(rng.choice(words, rng.integers(2, 5)))
        font = ImageFont.load_default(size=int(rng.integers(24, 40)))
        left, top, right, bottom = font.getbbox(text)
        paper = tuple(int(v) for v in rng.integers(170, 256, 3))
        ink = tuple(int(v) for v in rng.integers(0, 90, 3))
        line = Image.new("RGB", (right - left + 16, bottom - top + 12), paper)
        ImageDraw.Draw(line).text((8 - left, 6 - top), text, fill=ink, font=font)
        if rng.random() < 0.5:
            line = line.rotate(180)
        width = min(192, round(line.width * 48 / line.height))
        chw = np.asarray(line.resize((width, 48), Image.BILINEAR), np.float32).transpose(2, 0, 1)
        padded = np.zeros((3, 48, 192), np.float32)
        padded[:, :, :width] = _ppocr(chw)
        found.append(padded)
    return np.stack(found)


def calibration_inputs(model: str, count: int) -> np.ndarray:
    if model == "ppocr_mobile_v2_cls.onnx":
        return text_lines(CALIBRATION_WORDS, count, seed=0)
    return crops(model, CALIBRATION_PHOTOS, count, seed=0)


def held_out_inputs(model: str, count: int) -> np.ndarray:
    if model == "ppocr_mobile_v2_cls.onnx":
        return text_lines(TEST_WORDS, count, seed=1)
    return crops(model, TEST_PHOTOS, count, seed=1)
