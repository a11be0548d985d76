"""``cleanup``: the passes every target runs first, repeated until nothing changes."""

from __future__ import annotations

from dataclasses import dataclass, field

from edgec.ir.graph import Graph
from edgec.passes import (  # noqa: F401  (importing a pass module registers its pass)
    eliminate_dead,
    eliminate_identity,
    fold_constants,
    fuse_activation,
    fuse_batchnorm,
    fuse_bias,
    fuse_pad,
    fuse_scale,
    recognize_hardswish,
    recognize_silu,
)
from edgec.passes.manager import make_spec, register, run_to_fixpoint

CLEANUP_PASSES: tuple[str, ...] = (
    "fold-constants",
    "eliminate-identity",
    "eliminate-dead",
    "fuse-pad",
    "fuse-batchnorm",
    "fuse-scale",
    "fuse-bias",
    "recognize-silu",
    "recognize-hardswish",
    "fuse-activation",
    "eliminate-dead",
)


@dataclass(frozen=True)
class CleanupOptions:
    max_rounds: int = field(
        default=20, metadata={"help": "stop repeating the cleanup passes after this many rounds"}
    )


@register("cleanup", CleanupOptions)
def cleanup(graph: Graph, options: CleanupOptions) -> int:
    """Fold constants, drop no-ops and dead code, fuse Pad, BatchNorm, bias and activations, to a fixpoint."""
    records = run_to_fixpoint(
        graph, [make_spec(name) for name in CLEANUP_PASSES], max_rounds=options.max_rounds
    )
    return sum(record.rewrites for record in records)
