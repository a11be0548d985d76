"""Huffman coding of weights and the Deep Compression storage stages.

A layer's weight is stored as entries of (relative index, codebook index):
the relative index counts the zeros skipped since the previous entry in
``index_bits`` bits (a run too long for it is bridged by a filler entry
holding zero), the codebook index picks one of the layer's distinct
non-zero values (symbol 0 is zero). Dense storage (codebook indices for
every position) is used where it is smaller. Stages, in bytes:

- ``fp32``: 4 bytes per weight;
- ``pruned``: sparse entries with a 32-bit value each (or dense fp32);
- ``clustered``: fixed-width codebook indices plus the codebook (layers
  with more than ``MAX_CODEBOOK`` distinct values stay as in ``pruned``);
- ``huffman``: both index streams Huffman-coded, plus one byte per symbol
  of code-length table.

``encode_weights`` writes those streams to a file that
templates/compression/decode_weights.py.j2 decodes with numpy only.
"""

from __future__ import annotations

import heapq
import math
import struct
from dataclasses import dataclass

import numpy as np

from edgec.compression.accounting import MAX_CODEBOOK
from edgec.compression.layers import weighted_layers
from edgec.ir.graph import Graph

MAGIC = b"EDGECHUF"
RAW, DENSE, SPARSE = 0, 1, 2


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
    """One weight as codebook and index streams."""

    mode: int
    codebook: np.ndarray  # float32, the distinct non-zero values
    indices: np.ndarray  # symbol per entry: 0 = zero, i = codebook[i - 1]
    gaps: np.ndarray  # zeros skipped before each entry (SPARSE only)


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


def streams(weight: np.ndarray, index_bits: int) -> Streams:
    flat = weight.ravel()
    codebook, inverse = np.unique(flat[flat != 0], return_inverse=True)
    if codebook.size > MAX_CODEBOOK:
        return Streams(RAW, codebook, np.zeros(0, np.int64), np.zeros(0, np.int64))
    symbols = np.zeros(flat.size, dtype=np.int64)
    symbols[flat != 0] = inverse.reshape(-1) + 1
    gaps, positions = sparse_entries(flat, index_bits)
    sparse = Streams(SPARSE, codebook.astype(np.float32), symbols[positions], gaps)
    dense = Streams(DENSE, codebook.astype(np.float32), symbols, np.zeros(0, np.int64))
    return min((sparse, dense), key=lambda s: huffman_bytes(s, index_bits))


def _huffman_stream_bits(symbols: np.ndarray, alphabet: int) -> int:
    if symbols.size == 0:
        return 0
    counts = np.bincount(symbols, minlength=alphabet)
    return int(counts @ code_lengths(counts)) + 8 * alphabet


def huffman_bytes(s: Streams, index_bits: int) -> int:
    bits = _huffman_stream_bits(s.indices, s.codebook.size + 1)
    if s.mode == SPARSE:
        bits += _huffman_stream_bits(s.gaps, 1 << index_bits)
    return math.ceil(bits / 8) + 4 * s.codebook.size


def stage_bytes(weight: np.ndarray, index_bits: int = 4) -> dict[str, int]:
    """Bytes of one weight at each Deep Compression stage."""
    fp32 = 4 * weight.size
    gaps, _ = sparse_entries(weight.ravel(), index_bits)
    pruned = min(fp32, math.ceil(gaps.size * (32 + index_bits) / 8))
    s = streams(weight, index_bits)
    if s.mode == RAW:
        return {"fp32": fp32, "pruned": pruned, "clustered": pruned, "huffman": pruned}
    width = max(1, math.ceil(math.log2(s.codebook.size + 1)))
    clustered = 4 * s.codebook.size + min(
        math.ceil(weight.size * width / 8), math.ceil(gaps.size * (width + index_bits) / 8)
    )
    return {"fp32": fp32, "pruned": pruned, "clustered": clustered, "huffman": huffman_bytes(s, index_bits)}


def storage_report(graph: Graph, index_bits: int = 4) -> dict[str, object]:
    """Per-stage totals over the weighted layers, per-layer stages, and the ratio fp32 / huffman."""
    layers = {node.name: stage_bytes(node.const_input(1), index_bits) for node in weighted_layers(graph)}
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
        s = streams(weight, index_bits)
        chunks.append(struct.pack("<BB", s.mode, index_bits))
        if s.mode == RAW:
            chunks.append(weight.tobytes())
            continue
        chunks.append(struct.pack("<H", s.codebook.size) + s.codebook.tobytes())
        chunks.append(_stream_bytes(s.indices, s.codebook.size + 1))
        if s.mode == SPARSE:
            chunks.append(_stream_bytes(s.gaps, 1 << index_bits))
    return b"".join(chunks)
