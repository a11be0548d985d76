"""Passes over the IR. Importing this package registers every pass."""

from edgec.passes import cleanup, fold_constants, fuse_pad  # noqa: F401  (importing a pass registers it)
from edgec.passes.manager import REGISTRY, PassSpec, make_spec, register, run_passes, run_to_fixpoint

__all__ = ["REGISTRY", "PassSpec", "make_spec", "register", "run_passes", "run_to_fixpoint"]
