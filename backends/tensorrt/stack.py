"""What a Jetson's software stack can do, from its targets.toml entry.

The TensorRT version decides the ONNX opset the parser reads, the trtexec
flags (``--workspace`` before 8.4.1, ``--memPoolSize`` after), whether INT8
goes through explicit Q/DQ or a calibration cache, whether precision flags
or strong typing apply, and the engine API the device scripts call.
Nothing here names a target: every fact comes from ``target.hardware``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from edgec.plugin import Target, TargetError

# Newest ONNX opset the onnx-tensorrt parser of each TensorRT release reads, by (major, minor).
# onnx-tensorrt docs/operators.md: "TensorRT 8.0/8.2 supports operators up to Opset 13",
# "TensorRT 8.4/8.5 ... up to Opset 17"; REFERENCE A7: "TensorRT 10.0 ... opset 9 to opset 20"
# (the 10.9+ range of 22 is unverified, so 10.x stays at 20).
_MAX_OPSET = ((8, 0, 13), (8, 4, 17), (10, 0, 20))


@dataclass(frozen=True)
class Stack:
    """TensorRT, CUDA and JetPack facts of one Jetson target."""

    module: str
    tensorrt: tuple[int, int, int]
    tensorrt_text: str
    compute_capability: str
    jetpack: str
    l4t: str
    cuda: str
    fast_int8: bool
    dla_cores: int
    memory_gb: tuple[int, ...]

    @classmethod
    def of(cls, target: Target) -> Stack:
        hw = target.hardware
        return cls(
            module=hw["module"],
            tensorrt=_version(hw["tensorrt"], target.name),
            tensorrt_text=hw["tensorrt"],
            compute_capability=hw["compute_capability"],
            jetpack=hw["jetpack"],
            l4t=hw.get("l4t", ""),
            cuda=hw["cuda"],
            fast_int8=hw["fast_int8"],
            dla_cores=hw["dla_cores"],
            memory_gb=tuple(hw["memory_gb"]),
        )

    @property
    def major_minor(self) -> str:
        return f"{self.tensorrt[0]}.{self.tensorrt[1]}"

    @property
    def max_opset(self) -> int:
        opset = 0
        for major, minor, limit in _MAX_OPSET:
            if self.tensorrt[:2] >= (major, minor):
                opset = limit
        if opset == 0:
            raise TargetError(
                f"TensorRT {self.tensorrt_text} is older than 8.0, the oldest release edgec writes ONNX for; "
                f"update the target's JetPack or choose another target."
            )
        return opset

    @property
    def mem_pool_flag(self) -> bool:
        """trtexec ``--memPoolSize`` (and ``set_memory_pool_limit``) replaced ``--workspace`` in 8.4.1."""
        return self.tensorrt >= (8, 4, 1)

    @property
    def explicit_int8(self) -> bool:
        """Q/DQ ONNX for INT8 (the brief's cut-off: 8.5 and newer); older stacks use a calibration cache."""
        return self.tensorrt >= (8, 5, 0)

    @property
    def strongly_typed(self) -> bool:
        """TensorRT 10 builds Q/DQ networks strongly typed, without precision flags (REFERENCE A2)."""
        return self.tensorrt >= (10, 0, 0)

    @property
    def tensor_api(self) -> bool:
        """Named I/O tensors (``num_io_tensors``, ``set_tensor_address``) exist from 8.5; bindings before."""
        return self.tensorrt >= (8, 5, 0)

    @property
    def version_int(self) -> int:
        """TensorRT's integer version, as in a calibration cache header (REFERENCE A1)."""
        major, minor, patch = self.tensorrt
        return major * (10000 if major >= 10 else 1000) + minor * 100 + patch

    @property
    def workspace_mib(self) -> int:
        """Default builder workspace: a quarter of the smallest module's memory, at most 4 GiB."""
        return min(4096, min(self.memory_gb) * 1024 // 4)

    def compatibility(self) -> dict[str, str]:
        """The keys an engine built from this bundle depends on; the device scripts check them."""
        return {
            "module": self.module,
            "compute_capability": self.compute_capability,
            "tensorrt": self.major_minor,
            "jetpack": self.jetpack,
            "l4t": self.l4t,
            "cuda": self.cuda,
        }


def _version(text: str, target: str) -> tuple[int, int, int]:
    match = re.fullmatch(r"(\d+)\.(\d+)(?:\.(\d+))?(?:\.\d+)*", text.strip())
    if match is None:
        raise TargetError(
            f"target '{target}': hardware.tensorrt = {text!r} is not a version like 8.5.2; fix the entry."
        )
    return int(match[1]), int(match[2]), int(match[3] or 0)
