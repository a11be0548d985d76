"""A toy backend for a made-up NPU family: what a backend package outside edgec looks like.

It imports nothing of edgec but ``edgec.plugin`` and brings a target family
(``toy-npu``, with its ``[hardware]`` schema), a flag of its own
(``--toy-lanes-used N``) and a bundle: the target-ready ONNX, which ONNX
Runtime runs here, and a ``toy.json`` rendered from its own template.
"""

from edgec_toy.backend import BACKEND, ToyBackend, ToyOptions

__all__ = ["BACKEND", "ToyBackend", "ToyOptions"]
