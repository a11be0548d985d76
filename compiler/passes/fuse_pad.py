"""``fuse-pad``: a zero constant Pad of the spatial dims before a Conv becomes the Conv's own padding.

TF-style "same" padding exported from PyTorch arrives as Pad -> Conv
(EfficientNet-Lite0 has 17); folding it into the Conv's ``pads`` (which may
be asymmetric) saves a full copy of the activation per convolution.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgec.ir.graph import Graph, Node
from edgec.ir.ops import Op
from edgec.passes.manager import NoOptions, register
from edgec.passes.rewrite import Rule, apply_rules, produced_by, scalar, sole_use_reason, substitute


@dataclass(frozen=True)
class _Match:
    conv: Node
    pad: Node
    pads: list[int]


def _check(graph: Graph, conv: Node) -> _Match | str:
    pad = produced_by(conv.inputs[0], Op.PAD)
    if pad is None:
        return "the input of Conv is not produced by Pad"
    if pad.attrs.get("mode", "constant") != "constant":
        return f"Pad '{pad.name}' is not in constant mode"
    if pad.input(2) is not None and scalar(pad.input(2)) != 0.0:
        return f"Pad '{pad.name}' pads with a value other than zero"
    amounts = pad.const_input(1)
    if amounts is None:
        return f"the pads of Pad '{pad.name}' should be constant"
    rank = len(amounts) // 2
    begins, ends = amounts[:rank], amounts[rank:]
    if np.any(amounts < 0) or np.any(begins[:2]) or np.any(ends[:2]):
        return f"Pad '{pad.name}' crops, or pads the batch or channel dims"
    reason = sole_use_reason(graph, pad.output)
    if reason is not None:
        return reason
    spatial = [int(p) for p in list(begins[2:]) + list(ends[2:])]
    return _Match(conv, pad, [a + b for a, b in zip(conv.attrs["pads"], spatial, strict=True)])


def _fuse(graph: Graph, match: _Match) -> None:
    conv = match.conv
    inputs = [match.pad.inputs[0], *conv.inputs[1:]]
    fused = graph.make_node(
        Op.CONV, inputs, like=conv.output, attrs={**conv.attrs, "pads": match.pads}, before=conv
    )
    substitute(graph, conv.output, fused.output, node_name=conv.name)


RULES = (Rule("pad-into-conv", frozenset({Op.CONV}), _check, _fuse),)


@register("fuse-pad", NoOptions)
def fuse_pad(graph: Graph, options: NoOptions) -> int:
    """Fold a zero constant Pad of the spatial dims into the following Conv's pads."""
    return apply_rules(graph, RULES)
