"""low-rank: SVD split of Gemm, MatMul and 1x1 Conv where it cuts MACs."""

from __future__ import annotations

import numpy as np
from helpers import Builder, random_feeds, run_and_compare

from edgec.compression.accounting import total_macs
from edgec.ir import Op
from edgec.passes import make_spec, run_passes
from edgec.runtime import run_graph


def _low_rank(*shape: int, rank: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((shape[0], rank)) @ rng.standard_normal((rank, shape[1]))).astype(np.float32)


def test_rank_4_gemm_and_1x1_conv_split_exactly():
    b = Builder()
    x = b.input("x", (1, 32, 5, 5))
    conv = b.conv(x, 48, kernel=1)
    conv.producer.inputs[1].data[:] = _low_rank(48, 32, rank=4).reshape(48, 32, 1, 1)
    act = b.node(Op.RELU, [conv], name="act")
    flat = b.node(
        Op.FLATTEN, [b.node(Op.GLOBAL_AVERAGE_POOL, [act], shape=(1, 48, 1, 1))], shape=(1, 48), axis=1
    )
    fc = b.gemm(flat, 64, trans_b=1, alpha=2.0)
    fc.producer.inputs[1].data[:] = _low_rank(64, 48, rank=4, seed=1)
    graph = b.output(fc)
    before = total_macs(graph)
    (record,) = run_and_compare(graph, "low-rank", rtol=1e-3, atol=1e-3)
    assert record.rewrites == 2
    assert [n.op for n in graph.nodes].count(Op.CONV) == 2 and [n.op for n in graph.nodes].count(Op.GEMM) == 2
    assert total_macs(graph) < 0.5 * before


def test_energy_picks_the_rank_and_matmul_splits():
    b = Builder()
    x = b.input("x", (4, 64))
    weight = b.const("w", _low_rank(64, 64, rank=3).T)
    graph = b.output(b.node(Op.MATMUL, [x, weight], shape=(4, 64), name="mm"))
    feeds = random_feeds(graph)
    expected = run_graph(graph, feeds)["mm"]
    run_passes(graph, [make_spec("low-rank", {"ratio": 0.5, "energy": 0.999})])
    first, second = graph.nodes
    assert first.output.shape == (4, 3) and second.inputs[1].shape == (3, 64)
    np.testing.assert_allclose(run_graph(graph, feeds)["mm"], expected, rtol=1e-3, atol=1e-3)
    assert total_macs(graph) == 4 * 3 * 128


def test_layers_where_no_rank_pays_off_stay():
    b = Builder()
    x = b.input("x", (1, 2))
    graph = b.output(b.gemm(x, 2))
    assert run_passes(graph, [make_spec("low-rank", {"ratio": 0.4})])[0].rewrites == 0
