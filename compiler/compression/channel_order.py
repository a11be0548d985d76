"""prune-channels with data: groups pruned one after another in the order of their consumers.

For each group, in the order of the layers that read it, the channels go
that leave the least output error in those consumers after the best
compensation, measured on the already-pruned model's inputs
(edgec.compression.channel_selection, which also refits the consumers).
``global_keeps`` sets how many channels each group loses from one ranking
of those errors instead of the same share everywhere; ``reconstruct`` also
refits the other layers after the first pruned group, in the same order,
so that they absorb the error before them (edgec.compression.reconstruction).
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
    uniform_keep,
)
from edgec.compression.channel_selection import (
    GroupChoice,
    GroupConsumer,
    allocate,
    choose_group,
    removal_costs,
)
from edgec.compression.reconstruction import DEFAULT_SETTINGS, reconstruct
from edgec.compression.sequential import split
from edgec.ir.graph import Graph, Node
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


def global_keeps(
    graph: Graph, spaces: ChannelSpaces, roots: list[int], ratio: float, multiple: int, fit: list[Feeds]
) -> dict[int, int]:
    """Channels kept per group of ``roots`` from one ranking of the consumers' relative OBS costs on
    ``fit``: the cheapest steps of ``multiple`` channels go until ``ratio`` of all their channels is
    removed, no group losing more than twice the ratio."""
    curves, fixed, total = {}, {}, 0
    for root in roots:
        channels = channels_of(spaces, root)
        total += channels
        consumers = _consumers(graph, spaces, root, {})
        most = channels - uniform_keep(channels, min(2 * ratio, 1.0), multiple)
        if consumers is None or most == 0:
            fixed[root] = uniform_keep(channels, ratio, multiple)
            continue
        curves[root] = (channels, removal_costs(graph, consumers, fit, DEFAULT_SETTINGS, most))
    target = round(ratio * total) - sum(channels_of(spaces, r) - k for r, k in fixed.items())
    return {**fixed, **allocate(curves, target, multiple)}


def _refit_up_to(
    graph: Graph,
    reference: Graph,
    feeds: list[Feeds],
    stop: Node | None,
    rows: dict[str, np.ndarray | None],
    fitted: set[str],
) -> None:
    """Refit the layers before ``stop`` (all with None) that nothing fitted yet, towards the reference,
    so that they absorb the error of the groups pruned before them (edgec.compression.reconstruction)."""
    layers = weighted_layers(graph)
    end = next((i for i, node in enumerate(layers) if node is stop), len(layers))
    names = [node.name for node in layers[:end] if node.name not in fitted]
    if not names:
        return
    output_rows = {n.name: rows[n.output.name] for n in layers[:end] if rows.get(n.output.name) is not None}
    reconstruct(graph, reference, feeds, names, output_rows=output_rows)
    fitted.update(names)


def prune_in_order(
    graph: Graph, spaces: ChannelSpaces, l1: dict[int, np.ndarray], feeds: list[Feeds], refit_all: bool
) -> list[GroupChoice]:
    """Group by group in the order of their consumers, each choice on the already-pruned model's inputs
    (edgec.compression.channel_selection), as many channels kept as the weight-norm choice ``l1``
    keeps. With ``refit_all`` the other layers after the first pruned group are refitted in the same
    order."""
    data = split(feeds)
    reference = copy.deepcopy(graph)
    original = copy.deepcopy(spaces.segments)
    done: dict[int, np.ndarray] = {}
    choices: list[GroupChoice] = []
    order = sorted(l1, key=lambda r: _first_use(graph, spaces, r))
    first = _first_use(graph, spaces, order[0]) if order else 0
    fitted = {node.name for node in graph.nodes[:first] if is_weighted_layer(node)}  # no error to absorb
    for root in order:
        rows = {name: indices(spaces, done, segs, sum(n for _, n in segs)) for name, segs in original.items()}
        consumers = _consumers(graph, spaces, root, rows)
        if refit_all and consumers:
            _refit_up_to(graph, reference, feeds, consumers[0].node, rows, fitted)
        settings = replace(DEFAULT_SETTINGS, seed=DEFAULT_SETTINGS.seed + 10 * len(choices))
        choice = (
            GroupChoice(l1[root], [], [], "l1 (consumers not fitted)", np.nan, np.nan)
            if consumers is None
            else choose_group(graph, reference, consumers, data, l1[root], len(l1[root]), settings)
        )
        consumers = consumers or []
        _apply(graph, spaces, root, choice, consumers)
        fitted.update(c.node.name for c in consumers)
        done[root] = choice.keep
        choices.append(choice)
    if refit_all:
        rows = {name: indices(spaces, done, segs, sum(n for _, n in segs)) for name, segs in original.items()}
        _refit_up_to(graph, reference, feeds, None, rows, fitted)
    return choices
