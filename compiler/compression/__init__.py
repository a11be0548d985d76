"""Compression: pruning, weight sharing, low-rank, reconstruction, ternary weights, Huffman accounting.

Importing this package registers its passes (``prune``: ``prune_magnitude``,
``prune-channels``: ``prune_channels``, ``cluster``: ``cluster_weights``,
``low-rank``: ``low_rank``, ``ternary``: ``ternary``). Beside them: the
passes' calibration data (``pass_inputs``), second-order pruning and cluster
assignment of one layer (``obs``), layer-by-layer compression on the
compressed model's inputs with choices made on held-out samples
(``sequential``), data-aware reconstruction (``reconstruction``), storage
accounting and Huffman coding (``huffman``), the per-pass size, MACs and
metric records (``accounting``), the ``--max-accuracy-drop`` budgets with
the shared metrics (``budget``), 2:4 structured sparsity and what a target
gains from zeros (``sparsity``), and the build stage (``stage``). The view
of Conv/Gemm/MatMul weights as matrices is ``edgec.ir.weight_matrices``.
"""

from edgec.compression import (  # noqa: F401  (importing a pass module registers its pass)
    cluster_weights,
    low_rank,
    prune_channels,
    prune_magnitude,
    ternary,
)
