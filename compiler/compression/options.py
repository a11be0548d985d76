"""The compression flags of ``edgec build`` and their request (light imports: the CLI loads this).

The accuracy budget is the quantization engine's ``--max-accuracy-drop``
(edgec.quantization.options): it bounds the compression passes too.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass


@dataclass(frozen=True)
class CompressionRequest:
    """What the command line asked for; None/False: that technique is off."""

    prune: str | None = None  # "SPARSITY" or "SPARSITY:MODE" (layer, global, sensitivity, 2of4)
    prune_channels: float | str | None = None  # RATIO or "RATIO:obs"
    low_rank: float | None = None
    cluster: int | str | None = None  # K or "K:MODE" (layer, channel)
    huffman: bool = False

    @property
    def active(self) -> bool:
        chosen = (self.prune, self.prune_channels, self.low_rank, self.cluster)
        return any(value is not None for value in chosen) or self.huffman


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("compression (after cleanup, before the backend; see report.json)")
    group.add_argument(
        "--prune",
        metavar="SPARSITY[:MODE]",
        help="zero the smallest weights, e.g. 0.5 (per layer), 0.8:global, 0.9:sensitivity (per-layer "
        "sparsities up to 0.9 under --max-accuracy-drop, default top1=1), 0.5:2of4 (2 of every 4 input "
        "channels: TensorRT's structured sparsity); the rest is refitted on the samples",
    )
    group.add_argument(
        "--prune-channels",
        metavar="RATIO[:obs]",
        help="remove this fraction of Conv/Gemm output channels, e.g. 0.2 (the smallest weights; their "
        "consumers refitted) or 0.2:obs (those whose loss leaves the least output error in their consumers "
        "on the samples: for samples like the deployment data)",
    )
    group.add_argument(
        "--low-rank",
        type=float,
        metavar="RATIO",
        help="SVD-split Gemm/MatMul/1x1 Conv to at most RATIO of the MACs",
    )
    group.add_argument(
        "--cluster",
        metavar="K[:MODE]",
        help="share weights: K values per layer (16) or per output channel (16:channel), assigned "
        "in layer order to minimise each layer's output error on the samples",
    )
    group.add_argument(
        "--huffman", action="store_true", help="add Huffman-coded weights (weights.huf) and their decoder"
    )


def request_from_args(args: argparse.Namespace) -> CompressionRequest:
    return CompressionRequest(
        prune=args.prune,
        prune_channels=args.prune_channels,
        low_rank=args.low_rank,
        cluster=args.cluster,
        huffman=args.huffman,
    )
