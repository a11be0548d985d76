"""``prune-channels``: structured pruning, whole output channels of Conv/Gemm/MatMul removed.

Channels that must go together form groups (edgec.compression.channel_groups:
the producers of a channel space, through per-channel ops, depthwise convs,
concatenations and residual adds). Every unfrozen group keeps its
``1 - ratio`` most important channels (residual groups only with
``residual``: in inverted-residual networks such as EfficientNet-Lite the
linear bottleneck is far more sensitive than the expanded channels), by the
summed, per-layer normalized L1 (or L2) norms of its producers' weight rows,
and every node on the way is rewritten. With ``reconstruct`` the consumers
are refitted on calibration data to reproduce their original outputs from
the channels that remain
(ridge least squares, the damping and whether to refit at all chosen per
layer on held-out calibration samples: edgec.compression.reconstruction).
With criterion ``obs`` the channels are chosen from data instead, group by
group in the order of their consumers, by the output error their removal
leaves in the consumers after the best compensation (structured OBS on the
already-pruned model's inputs, edgec.compression.channel_selection), the
refit included (edgec.compression.channel_order; ``reconstruct`` is then
implied).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from edgec.compression.channel_groups import (
    ChannelSpaces,
    analyze,
    channels_of,
    choose_channels,
    prunable,
    rewrite,
    uniform_keep,
)
from edgec.compression.channel_order import prune_in_order
from edgec.compression.pass_inputs import CalibrationOptions, calibration_feeds
from edgec.compression.reconstruction import reconstruct
from edgec.errors import UsageError
from edgec.ir.graph import Graph
from edgec.passes.manager import register

CRITERIA = ("l1", "l2", "obs")


@dataclass(frozen=True)
class PruneChannelsOptions(CalibrationOptions):
    ratio: float = field(default=0.3, metadata={"help": "fraction of the channels of each group removed"})
    criterion: str = field(
        default="l1",
        metadata={
            "help": "channel choice: l1 | l2 norm of the producers' weight rows, or obs: the consumers' "
            "output error on calibration data (structured OBS in layer order, with the refit; helps on "
            "inputs like the calibration data, not on others: README)"
        },
    )
    multiple: int = field(
        default=8,
        metadata={
            "help": "round the channels kept up to a multiple of this (CPU kernels block channels by 8)"
        },
    )
    residual: bool = field(
        default=False,
        metadata={"help": "also prune residual streams (Add/Sub groups); they are the most sensitive"},
    )
    reconstruct: bool = field(default=False, metadata={"help": "refit the consumers on calibration data"})


def _uniform(spaces: ChannelSpaces, roots: list[int], options: PruneChannelsOptions) -> dict[int, int]:
    return {r: uniform_keep(channels_of(spaces, r), options.ratio, options.multiple) for r in roots}


@register("prune-channels", PruneChannelsOptions)
def prune_channels(graph: Graph, options: PruneChannelsOptions) -> int:
    """Remove the least important output channels of Conv/Gemm/MatMul groups; returns the groups pruned."""
    if not 0.0 <= options.ratio < 1.0:
        raise UsageError(f"pass 'prune-channels': ratio must be in [0, 1), got {options.ratio}")
    if options.criterion not in CRITERIA or options.multiple < 1:
        raise UsageError(
            f"pass 'prune-channels': criterion must be one of {', '.join(CRITERIA)} and multiple at least 1"
        )
    spaces = analyze(graph)
    roots = prunable(spaces, options.residual)
    if options.criterion == "obs":
        feeds = calibration_feeds(graph, options)
        l1 = choose_channels(spaces, roots, "l1", _uniform(spaces, roots, options))
        pruned = len(prune_in_order(graph, spaces, l1, feeds))
        graph.prune_unused_constants()
        return pruned
    kept = choose_channels(spaces, roots, options.criterion, _uniform(spaces, roots, options))
    if not kept:
        return 0
    reference = copy.deepcopy(graph) if options.reconstruct else None
    sinks = rewrite(graph, spaces, kept)
    if reference is not None:
        feeds = calibration_feeds(graph, options)
        rows = {name: keep for name, keep in sinks.items() if keep is not None}
        reconstruct(graph, reference, feeds, list(sinks), output_rows=rows)
    graph.prune_unused_constants()
    return len(kept)
