"""The TFLite backend (ARM CPUs, Android GPU, Edge TPU, microcontrollers).

TensorFlow is imported only when a TFLite build converts a model.
"""

from edgec.backends.tflite.backend import BACKEND, TFLiteBackend

__all__ = ["BACKEND", "TFLiteBackend"]
