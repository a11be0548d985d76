"""edgec: a deployment-target compiler for deep-learning inference on edge hardware."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("edgec")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0+unknown"
