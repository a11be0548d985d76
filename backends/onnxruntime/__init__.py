"""The onnxruntime backend, for target onnxruntime-cpu: the optimized ONNX and a run script."""

from edgec.backends.onnxruntime.backend import BACKEND, OnnxRuntimeBackend

__all__ = ["BACKEND", "OnnxRuntimeBackend"]
