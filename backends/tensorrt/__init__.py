"""The TensorRT backend, for the Jetson targets: TensorRT-ready ONNX, engine build scripts, checks."""

from edgec.backends.tensorrt.backend import BACKEND, TensorRTBackend

__all__ = ["BACKEND", "TensorRTBackend"]
