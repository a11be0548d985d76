"""``eliminate-dead``: remove nodes that do not contribute to any graph output."""

from __future__ import annotations

from edgec.ir.graph import Graph
from edgec.passes.manager import NoOptions, register


@register("eliminate-dead", NoOptions)
def eliminate_dead(graph: Graph, options: NoOptions) -> int:
    """Remove nodes none of whose outputs reach a graph output, and unused constants."""
    live = {id(value) for value in graph.outputs}
    dead = []
    for node in reversed(graph.nodes):
        if any(id(value) in live for value in node.outputs):
            live.update(id(value) for value in node.inputs if value is not None)
        else:
            dead.append(node)
    for node in dead:
        graph.remove_node(node)
    return len(dead) + graph.prune_unused_constants()
