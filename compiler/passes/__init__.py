"""Passes over the IR. Importing this package registers every graph pass; the compression passes
(``prune``, ``prune-channels``, ``cluster``, ``low-rank``, ``ternary``) are registered by importing
``edgec.compression``."""

from edgec.passes import (  # noqa: F401  (importing a pass module registers its pass)
    cleanup,
    conv1d_to_2d,
    equalize,
    fold_constants,
    fuse_pad,
    layout,
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
