"""Natural-image inputs for the INT8 tests: random crops of scikit-image's photographs.

Calibration and test images come from different photographs (no photograph
feeds both), so the top-1 agreement is measured on images calibration never
saw. Each model's preprocessing follows ../shared/models/README.md.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image
from skimage import data

# Different photographs for calibration and for testing; grey ones are repeated into RGB.
CALIBRATION_PHOTOS = ("astronaut", "rocket", "camera", "coins", "hubble_deep_field", "grass", "brick")
TEST_PHOTOS = (
    "chelsea",
    "coffee",
    "stereo_motorcycle",
    "clock",
    "retina",
    "gravel",
    "moon",
    "immunohistochemistry",
)

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


def crops(model: str, photos: tuple[str, ...], count: int, seed: int) -> np.ndarray:
    """``count`` preprocessed crops: 30-100 % of the largest box of the input's aspect, half mirrored."""
    _, height, width, normalize = PREPROCESS[model]
    images = [photo(name) for name in photos]
    rng = np.random.default_rng(seed)
    found = []
    for index in range(count):
        image = images[index % len(images)]
        rows, cols = image.shape[:2]
        fit = min(rows / height, cols / width) * rng.uniform(0.3, 1.0)
        box_h, box_w = int(height * fit), int(width * fit)
        top, left = rng.integers(0, rows - box_h + 1), rng.integers(0, cols - box_w + 1)
        crop = image[top : top + box_h, left : left + box_w]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        resized = Image.fromarray(np.ascontiguousarray(crop)).resize((width, height), Image.BILINEAR)
        chw = np.asarray(resized, np.float32).transpose(2, 0, 1)
        found.append(normalize(chw).astype(np.float32))
    return np.stack(found)
