"""What TensorRT targets declare about their hardware: the Jetson ``[hardware]`` schema, 2:4 sparsity."""

from __future__ import annotations

from edgec.plugin import BOOLEAN, INTEGER, INTEGERS, STRING, Schema, SparseKernels, Target

HARDWARE_SCHEMAS: dict[str, Schema] = {
    "jetson": {
        "module": (STRING, True),
        "gpu": (STRING, True),
        "compute_capability": (STRING, True),
        "cuda_cores": (INTEGER, True),
        "fast_fp16": (BOOLEAN, True),
        "fast_int8": (BOOLEAN, True),
        "dla_cores": (INTEGER, True),
        "dla_generation": (INTEGER, False),
        "memory_gb": (INTEGERS, True),
        "jetpack": (STRING, True),
        "l4t": (STRING, False),
        "tensorrt": (STRING, True),
        "cuda": (STRING, True),
    },
}

SPARSE_TENSOR_CORES = (8, 0)  # compute capability of Ampere, the first GPUs with 2:4 sparse tensor cores
TENSORRT_SPARSITY = (8, 0)  # first TensorRT with structured sparsity (BuilderFlag.SPARSE_WEIGHTS)
TENSORRT_FLAG = "--sparsity=enable"


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".") if part.isdigit())


def sparse_kernels(target: Target) -> SparseKernels:
    """Whether the target's TensorRT runs 2:4 sparse kernels (trtexec ``--sparsity=enable``), and why."""
    hardware = target.hardware
    if "compute_capability" not in hardware or "tensorrt" not in hardware:
        return SparseKernels(False, f"the {target.backend} runtime of {target.name} runs dense kernels only")
    facts = f"compute capability {hardware['compute_capability']}, TensorRT {hardware['tensorrt']}"
    capable = _version(hardware["compute_capability"]) >= SPARSE_TENSOR_CORES
    capable = capable and _version(hardware["tensorrt"]) >= TENSORRT_SPARSITY
    if not capable:
        return SparseKernels(
            False,
            f"{target.name} ({facts}) has no 2:4 sparse tensor cores "
            f"(compute capability 8.0+ with TensorRT 8.0+)",
        )
    return SparseKernels(True, f"{target.name} ({facts}) has 2:4 sparse tensor cores", TENSORRT_FLAG)
