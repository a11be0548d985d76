"""prune-channels with data: groups pruned one after another in the order of their consumers.

For each group, in the order of the layers that read it, the channels go
that leave the least output error in those consumers after the best
compensation, measured on the already-pruned model's inputs
(edgec.compression.channel_selection, which also refits the consumers).
Measured and dropped (commit 17939e8, EfficientNet-Lite0 at 0.2 with
bench/compression.py's calibration and validation crops): one global ranking of the consumers' relative errors
setting how many channels each group loses (11.7 % top-1 agreement on the
held-out photos against 35.2 % with the same share everywhere: it piled the
pruning onto the last stages), and refitting every other layer after the
first pruned group in the same order (26.6 %).
"""

from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np

from edgec.compression.channel_groups import (
    ChannelSpaces,
    channels_of,
    indices,
    is_depthwise,
    rewrite,
    shrink,
)
from edgec.compression.channel_selection import (
    GroupChoice,
    GroupConsumer,
    choose_group,
)
from edgec.compression.reconstruction import DEFAULT_SETTINGS
from edgec.compression.sequential import split
from edgec.ir.graph import Graph
from edgec.ir.weight_matrices import (
    groups,
    is_weighted_layer,
    set_bias_vector,
    set_weight_matrix,
    weight_matrix,
    weighted_layers,
)
from edgec.runtime import Feeds


def _consumers(
    graph: Graph, spaces: ChannelSpaces, root: int, rows: dict[str, np.ndarray | None]
) -> list[GroupConsumer] | None:
    """The group-1 layers reading the group's channels (None if one reads them twice or grouped)."""
    channels = channels_of(spaces, root)
    found = []
    for node in weighted_layers(graph):
        offsets, offset = [], 0
        for space, count in spaces.segments.get(node.inputs[0].name, []) if not is_depthwise(node) else []:
            if space is not None and spaces.find(space) == root:
                offsets.append(offset)
            offset += count
        if not offsets:
            continue
        if len(offsets) > 1 or groups(node) != 1:
            return None
        per = weight_matrix(node).shape[1] // node.inputs[0].shape[1]
        columns = (offsets[0] + np.arange(channels))[:, None] * per + np.arange(per)
        found.append(GroupConsumer(node, columns, rows.get(node.output.name)))
    return found or None


def _first_use(graph: Graph, spaces: ChannelSpaces, root: int) -> int:
    for index, node in enumerate(graph.nodes):
        segments = spaces.segments.get(node.inputs[0].name, []) if node.inputs and node.inputs[0] else []
        if is_weighted_layer(node) and any(s is not None and spaces.find(s) == root for s, _ in segments):
            return index
    return len(graph.nodes)


def _apply(
    graph: Graph, spaces: ChannelSpaces, root: int, choice: GroupChoice, consumers: list[GroupConsumer]
) -> None:
    rewrite(graph, spaces, {root: choice.keep})
    for consumer, w, bias in zip(consumers, choice.weights, choice.biases, strict=True):
        set_weight_matrix(graph, consumer.node, w)
        if bias is not None:
            set_bias_vector(graph, consumer.node, bias)
    shrink(spaces, root, len(choice.keep))


def prune_in_order(
    graph: Graph, spaces: ChannelSpaces, l1: dict[int, np.ndarray], feeds: list[Feeds]
) -> list[GroupChoice]:
    """Group by group in the order of their consumers, each choice on the already-pruned model's inputs
    (edgec.compression.channel_selection), as many channels kept as the weight-norm choice ``l1``
    keeps."""
    data = split(feeds)
    reference = copy.deepcopy(graph)
    original = copy.deepcopy(spaces.segments)
    done: dict[int, np.ndarray] = {}
    choices: list[GroupChoice] = []
    for root in sorted(l1, key=lambda r: _first_use(graph, spaces, r)):
        rows = {name: indices(spaces, done, segs, sum(n for _, n in segs)) for name, segs in original.items()}
        consumers = _consumers(graph, spaces, root, rows)
        settings = replace(DEFAULT_SETTINGS, seed=DEFAULT_SETTINGS.seed + 10 * len(choices))
        choice = (
            GroupChoice(l1[root], [], [], "l1 (consumers not fitted)", np.nan, np.nan)
            if consumers is None
            else choose_group(graph, reference, consumers, data, l1[root], len(l1[root]), settings)
        )
        consumers = consumers or []
        _apply(graph, spaces, root, choice, consumers)
        done[root] = choice.keep
        choices.append(choice)
    return choices
