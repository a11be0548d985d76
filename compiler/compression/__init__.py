"""Compression: pruning, weight sharing, low-rank, reconstruction, ternary weights, Huffman accounting.

The passes live in edgec.passes (``prune``, ``prune-channels``, ``cluster``,
``low-rank``, ``ternary``); this package holds what they share: the view of
Conv/Gemm/MatMul weights as matrices (``layers``), calibration data
(``calibration``), second-order pruning and cluster assignment of one layer
(``obs``), layer-by-layer compression on the compressed model's inputs with
choices made on held-out samples (``sequential``), data-aware
reconstruction (``reconstruction``), storage
accounting and Huffman coding (``huffman``), the per-pass size, MACs and
metric records (``accounting``), the ``--max-accuracy-drop`` budgets with the
quantization engine's metrics (``budget``), 2:4 structured sparsity and what
a target gains from zeros (``sparsity``), and the build stage (``stage``).
"""
