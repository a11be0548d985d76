"""The ONNX frontend: ``load_model`` turns an ONNX file into canonical IR with static shapes."""

from edgec.frontend.importers import SUPPORTED_OPS
from edgec.frontend.loader import load_model

__all__ = ["SUPPORTED_OPS", "load_model"]
