"""Huffman coding of weights and the Deep Compression storage stages.

A layer's weight is stored as entries of (relative index, codebook index):
the relative index counts the zeros skipped since the previous entry in
``index_bits`` bits (a run too long for it is bridged by a filler entry
holding zero), the codebook index picks one of the layer's distinct
non-zero values (symbol 0 is zero). Dense storage (codebook indices for
every position) is used where it is smaller. Stages, in bytes:

- ``fp32``: 4 bytes per weight;
- ``pruned``: sparse entries with a 32-bit value each (or dense fp32);
- ``clustered``: fixed-width codebook indices plus the codebook: one per
  layer, or one per output channel (each float32 value and a 16-bit size
  per channel counted); layers with more than ``MAX_CODEBOOK`` distinct
  values (per channel) stay as in ``pruned``;
- ``huffman``: both index streams Huffman-coded, plus one byte per symbol
  of code-length table.

``encode_weights`` writes those streams to a file that
templates/compression/decode_weights.py.j2 decodes with numpy only.
"""

from __future__ import annotations

import heapq
import math
import struct
from dataclasses import dataclass, field

import numpy as np

from edgec.compression.accounting import MAX_CODEBOOK
from edgec.ir.graph import Graph, Node
from edgec.ir.ops import Op
from edgec.ir.weight_matrices import weighted_layers

MAGIC = b"EDGECHUF"
RAW, DENSE, SPARSE = 0, 1, 2
ROWS = 2  # added to DENSE/SPARSE: one codebook per output channel (modes 3 and 4)


def code_lengths(counts: np.ndarray) -> np.ndarray:
    """Huffman code length per symbol (0 for symbols that never occur)."""
    lengths = np.zeros(len(counts), dtype=np.int64)
    heap = [(int(c), s, [s]) for s, c in enumerate(counts) if c > 0]
    if len(heap) == 1:
        lengths[heap[0][1]] = 1
    heapq.heapify(heap)
    while len(heap) > 1:
        c1, t1, s1 = heapq.heappop(heap)
        c2, t2, s2 = heapq.heappop(heap)
        lengths[s1 + s2] += 1
        heapq.heappush(heap, (c1 + c2, min(t1, t2), s1 + s2))
    return lengths


def canonical_codes(lengths: np.ndarray) -> np.ndarray:
    """Canonical Huffman codes: by (length, symbol), each code the previous plus one, shifted."""
    codes = np.zeros(len(lengths), dtype=np.uint64)
    code, previous = 0, 0
    for symbol in sorted(np.flatnonzero(lengths), key=lambda s: (lengths[s], s)):
        code <<= int(lengths[symbol]) - previous
        codes[symbol] = code
        code, previous = code + 1, int(lengths[symbol])
    return codes


def pack(symbols: np.ndarray, lengths: np.ndarray) -> tuple[bytes, int]:
    """The bit stream of ``symbols`` under the canonical code of ``lengths``; returns (bytes, bits)."""
    codes = canonical_codes(lengths)
    sizes = lengths[symbols]
    total = int(sizes.sum())
    starts = np.cumsum(sizes) - sizes
    repeated_code = np.repeat(codes[symbols], sizes)
    offset = np.arange(total) - np.repeat(starts, sizes)
    shifts = (np.repeat(sizes, sizes) - 1 - offset).astype(np.uint64)
    bits = ((repeated_code >> shifts) & np.uint64(1)).astype(np.uint8)
    return np.packbits(bits).tobytes(), total


@dataclass(frozen=True)
class Streams:
    """One weight as codebooks and index streams.

    ``row_sizes`` is empty for one codebook per layer; else the weight is
    seen with its output-channel axis first and row ``r`` has its own
    codebook of ``row_sizes[r]`` values (concatenated in ``codebook``).
    """

    mode: int
    codebook: np.ndarray  # float32, the distinct non-zero values (per row, concatenated)
    indices: np.ndarray  # symbol per entry: 0 = zero, i = codebook[i - 1] (of the entry's row)
    gaps: np.ndarray  # zeros skipped before each entry (SPARSE only)
    row_sizes: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    @property
    def alphabet(self) -> int:
        return int(self.row_sizes.max(initial=0) if self.row_sizes.size else self.codebook.size) + 1


def sparse_entries(flat: np.ndarray, index_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """(gap, position) per entry of the relative-index format, fillers included."""
    span = 1 << index_bits
    positions = np.flatnonzero(flat)
    previous = np.concatenate([[-1], positions[:-1]])
    fillers = (positions - previous - 1) // span
    within = np.arange(int(fillers.sum())) - np.repeat(np.cumsum(fillers) - fillers, fillers)
    filler_positions = np.repeat(previous, fillers) + span * (within + 1)
    entries = np.sort(np.concatenate([positions, filler_positions]))
    gaps = np.diff(np.concatenate([[-1], entries])) - 1
    return gaps.astype(np.int64), entries.astype(np.int64)


def _layer_symbols(flat: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    codebook, inverse = np.unique(flat[flat != 0], return_inverse=True)
    if codebook.size > MAX_CODEBOOK:
        return None
    symbols = np.zeros(flat.size, dtype=np.int64)
    symbols[flat != 0] = inverse.reshape(-1) + 1
    return codebook.astype(np.float32), symbols, np.zeros(0, np.int64)


def _row_symbols(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    books, symbols, sizes = [], np.zeros(rows.shape, dtype=np.int64), []
    for r, row in enumerate(rows):
        book, inverse = np.unique(row[row != 0], return_inverse=True)
        if book.size > MAX_CODEBOOK:
            return None
        symbols[r, row != 0] = inverse.reshape(-1) + 1
        books.append(book.astype(np.float32))
        sizes.append(book.size)
    return np.concatenate(books), symbols.ravel(), np.asarray(sizes, np.int64)


def streams(weight: np.ndarray, index_bits: int, row_axis: int = 0) -> Streams:
    """The smallest coding of ``weight``: raw, one codebook, or a codebook per output channel
    (``row_axis``), each dense or sparse."""
    raw = Streams(RAW, np.zeros(0, np.float32), np.zeros(0, np.int64), np.zeros(0, np.int64))
    candidates = [raw]
    layouts = [(weight.ravel(), _layer_symbols(weight.ravel()))]
    if weight.ndim >= 2:
        rows = np.moveaxis(weight, row_axis, 0).reshape(weight.shape[row_axis], -1)
        layouts.append((rows.ravel(), _row_symbols(rows)))
    for flat, coded in layouts:
        if coded is None:
            continue
        codebook, symbols, sizes = coded
        gaps, positions = sparse_entries(flat, index_bits)
        candidates.append(Streams(SPARSE, codebook, symbols[positions], gaps, sizes))
        candidates.append(Streams(DENSE, codebook, symbols, np.zeros(0, np.int64), sizes))
    return min(candidates, key=lambda s: huffman_bytes(s, index_bits, weight.size))


def _huffman_stream_bits(symbols: np.ndarray, alphabet: int) -> int:
    if symbols.size == 0:
        return 0
    counts = np.bincount(symbols, minlength=alphabet)
    return int(counts @ code_lengths(counts)) + 8 * alphabet


def codebook_bytes(s: Streams) -> int:
    """float32 values, plus a 16-bit size per row for per-row codebooks."""
    return 4 * s.codebook.size + 2 * s.row_sizes.size


def huffman_bytes(s: Streams, index_bits: int, size: int) -> int:
    if s.mode == RAW:
        return 4 * size
    bits = _huffman_stream_bits(s.indices, s.alphabet)
    if s.mode == SPARSE:
        bits += _huffman_stream_bits(s.gaps, 1 << index_bits)
    return math.ceil(bits / 8) + codebook_bytes(s)


def stage_bytes(weight: np.ndarray, index_bits: int = 4, row_axis: int = 0) -> dict[str, int]:
    """Bytes of one weight at each Deep Compression stage."""
    fp32 = 4 * weight.size
    gaps, _ = sparse_entries(weight.ravel(), index_bits)
    pruned = min(fp32, math.ceil(gaps.size * (32 + index_bits) / 8))
    s = streams(weight, index_bits, row_axis)
    if s.mode == RAW:
        return {"fp32": fp32, "pruned": pruned, "clustered": pruned, "huffman": pruned}
    width = max(1, math.ceil(math.log2(s.alphabet)))
    clustered = codebook_bytes(s) + min(
        math.ceil(weight.size * width / 8), math.ceil(gaps.size * (width + index_bits) / 8)
    )
    return {
        "fp32": fp32,
        "pruned": pruned,
        "clustered": clustered,
        "huffman": huffman_bytes(s, index_bits, weight.size),
    }


def row_axis(node: Node) -> int:
    """The output-channel axis of the layer's weight tensor."""
    return 1 if node.op is Op.MATMUL or (node.op is Op.GEMM and not node.attrs["transB"]) else 0


def storage_report(graph: Graph, index_bits: int = 4) -> dict[str, object]:
    """Per-stage totals over the weighted layers, per-layer stages, and the ratio fp32 / huffman."""
    layers = {
        node.name: stage_bytes(node.const_input(1), index_bits, row_axis(node))
        for node in weighted_layers(graph)
    }
    totals = {
        stage: sum(sizes[stage] for sizes in layers.values())
        for stage in ("fp32", "pruned", "clustered", "huffman")
    }
    ratio = totals["fp32"] / totals["huffman"] if totals["huffman"] else 1.0
    return {"index_bits": index_bits, "bytes": totals, "ratio": round(ratio, 3), "layers": layers}


def _stream_bytes(symbols: np.ndarray, alphabet: int) -> bytes:
    counts = np.bincount(symbols, minlength=alphabet)
    lengths = code_lengths(counts)
    payload, bits = pack(symbols, lengths)
    header = struct.pack("<IH", symbols.size, alphabet) + lengths.astype(np.uint8).tobytes()
    return header + struct.pack("<Q", bits) + payload


def encode_weights(graph: Graph, index_bits: int = 4) -> bytes:
    """The weights of every weighted layer, by constant name, in the compressed file format."""
    chunks = [MAGIC, struct.pack("<I", len(weighted_layers(graph)))]
    for node in weighted_layers(graph):
        value = node.inputs[1]
        weight = np.asarray(value.data, dtype=np.float32)
        name = value.name.encode("utf-8")
        chunks.append(struct.pack("<H", len(name)) + name + struct.pack("<B", weight.ndim))
        chunks.append(struct.pack(f"<{weight.ndim}I", *weight.shape))
        axis = row_axis(node)
        s = streams(weight, index_bits, axis)
        mode = s.mode + (ROWS if s.row_sizes.size else 0)
        chunks.append(struct.pack("<BB", mode, index_bits))
        if s.mode == RAW:
            chunks.append(weight.tobytes())
            continue
        if s.row_sizes.size:
            chunks.append(struct.pack("<BI", axis, s.row_sizes.size) + s.row_sizes.astype("<u2").tobytes())
            chunks.append(struct.pack("<I", s.codebook.size) + s.codebook.tobytes())
        else:
            chunks.append(struct.pack("<H", s.codebook.size) + s.codebook.tobytes())
        chunks.append(_stream_bytes(s.indices, s.alphabet))
        if s.mode == SPARSE:
            chunks.append(_stream_bytes(s.gaps, 1 << index_bits))
    return b"".join(chunks)
