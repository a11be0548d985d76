"""The SNPE backend for Snapdragon targets: SNPE-ready ONNX, calibration inputs, DLC export scripts."""

from edgec.backends.snpe.backend import BACKEND, SnpeBackend

__all__ = ["BACKEND", "SnpeBackend"]
