"""Passes over the IR. Importing this package registers every pass."""

from edgec.compression import ternary  # noqa: F401  (the experimental ternary precision's pass)
from edgec.passes import (  # noqa: F401  (importing a pass module registers its pass)
    cleanup,
    cluster_weights,
    conv1d_to_2d,
    equalize,
    fold_constants,
    fuse_pad,
    layout,
    low_rank,
    prune_channels,
    prune_magnitude,
    unfuse_activation,
)
from edgec.passes.instruments import DumpIR, PassContext, PassInstrument, PassRun, PassTiming, VerifyIR
from edgec.passes.manager import (
    REGISTRY,
    PassSpec,
    make_spec,
    register,
    run_passes,
    run_step,
    run_to_fixpoint,
)

__all__ = [
    "REGISTRY",
    "DumpIR",
    "PassContext",
    "PassInstrument",
    "PassRun",
    "PassSpec",
    "PassTiming",
    "VerifyIR",
    "make_spec",
    "register",
    "run_passes",
    "run_step",
    "run_to_fixpoint",
]
