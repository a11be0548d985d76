"""Pass instruments: the context, IR verification, --dump-ir over the whole build, per-pass timing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import Builder
from release_helpers import bundle_bytes, conv_model

from edgec.cli import main
from edgec.errors import PassError
from edgec.ir import Op
from edgec.ir.graph import Graph
from edgec.passes import (
    REGISTRY,
    DumpIR,
    PassContext,
    PassInstrument,
    PassRun,
    PassTiming,
    VerifyIR,
    make_spec,
    manager,
    run_passes,
    run_step,
)
from edgec.passes.instruments import verifying


class Recorder(PassInstrument):
    def __init__(self) -> None:
        self.events: list[tuple[str, str, int]] = []

    def before_pass(self, graph: Graph, run: PassRun) -> None:
        self.events.append(("before", run.name, run.depth))

    def after_pass(self, graph: Graph, run: PassRun, rewrites: int, seconds: float) -> None:
        self.events.append(("after", run.name, run.depth))


def _graph() -> Graph:
    """x -> Conv -> Relu -> Relu -> Identity -> y: cleanup has work to do."""
    b = Builder()
    relu = b.node(Op.RELU, [b.conv(b.input("x", (1, 3, 8, 8)), 4)])
    return b.output(b.node(Op.IDENTITY, [b.node(Op.RELU, [relu])]))


def test_instruments_see_each_pass_and_the_passes_it_runs_at_depth_1():
    recorder = Recorder()
    with PassContext.current().with_instruments(recorder) as context:
        assert isinstance(context.instruments[0], VerifyIR)  # the suite's, kept (tests/conftest.py)
        run_passes(_graph(), [make_spec("cleanup"), make_spec("eliminate-dead")])
    top = [event for event in recorder.events if event[2] == 0]
    assert top == [
        ("before", "cleanup", 0),
        ("after", "cleanup", 0),
        ("before", "eliminate-dead", 0),
        ("after", "eliminate-dead", 0),
    ]
    inner = {name for _, name, depth in recorder.events if depth == 1}
    assert {"fold-constants", "eliminate-identity", "fuse-activation"} <= inner
    assert recorder.events.index(("after", "fuse-activation", 1)) < recorder.events.index(
        ("after", "cleanup", 0)
    )


def test_a_new_context_replaces_the_instruments_and_the_old_one_returns():
    assert verifying()
    with PassContext() as bare:
        assert not verifying() and PassContext.current() is bare
        with PassContext.current().with_instruments(VerifyIR()):
            assert verifying()
        assert not verifying()
    assert verifying()


def test_dump_numbers_every_pass_across_calls_and_timing_records_each(tmp_path):
    graph, timing = _graph(), PassTiming()
    with PassContext.current().with_instruments(DumpIR(tmp_path), timing):
        records = run_passes(graph, [make_spec("cleanup")])
        count = run_step(graph, "rename", lambda g: len(g.nodes), int)
        records += run_passes(graph, [make_spec("eliminate-dead")])
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "001-cleanup.ir",
        "002-rename.ir",
        "003-eliminate-dead.ir",
    ]
    assert "Conv" in (tmp_path / "002-rename.ir").read_text()
    assert [(e["name"], e["rewrites"]) for e in timing.entries] == [
        ("cleanup", records[0].rewrites),
        ("rename", count),
        ("eliminate-dead", records[1].rewrites),
    ]
    assert records[0].rewrites >= 1 and all(e["seconds"] >= 0 for e in timing.entries)


def test_verification_names_the_failing_pass_and_the_ones_before_it(monkeypatch):
    def breaks(graph: Graph, options: manager.NoOptions) -> int:
        graph.nodes = graph.nodes[::-1]
        return 1

    monkeypatch.setitem(REGISTRY, "breaks", manager.PassInfo("breaks", breaks, manager.NoOptions, ""))
    pipeline = [make_spec("cleanup"), make_spec("eliminate-dead"), make_spec("breaks")]
    with pytest.raises(
        PassError, match=r"pass 'breaks' left an invalid graph \(passes before it: cleanup, elim"
    ):
        run_passes(_graph(), pipeline)
    with PassContext():  # without VerifyIR nothing checks the graph
        assert run_passes(_graph(), pipeline)[-1].rewrites == 1


@pytest.fixture(scope="module")
def pruned_int8(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An rpi4 int8 build with --prune 0.3 and --dump-ir (the TFLite backend has passes of its own)."""
    work = tmp_path_factory.mktemp("pruned")
    model = conv_model(work / "m.onnx", 8)
    argv = ["build", str(model), "-t", "rpi4", "--precision", "int8", "--prune", "0.3", "--samples", "16"]
    assert main([*argv, "-o", str(work / "b"), "--dump-ir", str(work / "ir"), "--no-cache"]) == 0
    return work


def test_dump_ir_numbers_every_pass_of_the_build_in_order(pruned_int8):
    dumps = sorted(p.name for p in (pruned_int8 / "ir").iterdir())
    assert [name[:3] for name in dumps] == [f"{i:03d}" for i in range(1, len(dumps) + 1)]
    names = [name[4:-3] for name in dumps]
    backend = ["conv1d-to-2d", "unfuse-activation", "layout"]
    assert names == ["cleanup", "prune", *backend, "fit-int8-grid", "calibrate", "bias-correction"]
    assert "Conv" in (pruned_int8 / "ir" / dumps[1]).read_text()


def test_report_times_every_pass_in_the_order_of_the_dump(pruned_int8):
    report = json.loads((pruned_int8 / "b" / "report.json").read_text())
    timing = report["pass_timing"]
    assert [f"{i:03d}-{e['name']}.ir" for i, e in enumerate(timing, 1)] == sorted(
        p.name for p in (pruned_int8 / "ir").iterdir()
    )
    assert report["passes"] == [{"name": e["name"], "rewrites": e["rewrites"]} for e in timing[:5]]
    assert all(isinstance(e["seconds"], float) and e["seconds"] >= 0 for e in timing)
    manifest = json.loads((pruned_int8 / "b" / "manifest.json").read_text())
    assert [p["name"] for p in manifest["passes"]] == [e["name"] for e in timing[:5]]


def test_two_builds_differ_only_in_the_timing_which_no_hash_covers(tmp_path, capsys):
    model = conv_model(tmp_path / "m.onnx", 4)
    argv = ["build", str(model), "-t", "onnxruntime-cpu", "--samples", "2", "--no-cache"]
    for name in ("one", "two"):
        assert main([*argv, "-o", str(tmp_path / name)]) == 0
    one, two = (json.loads((tmp_path / n / "report.json").read_text()) for n in ("one", "two"))
    assert [e["name"] for e in one["pass_timing"]] == [e["name"] for e in two["pass_timing"]] == ["cleanup"]
    assert bundle_bytes(tmp_path / "one") == bundle_bytes(tmp_path / "two")
    report = tmp_path / "one" / "report.json"
    one["pass_timing"][0]["seconds"] = 1234.5
    report.write_text(json.dumps(one, indent=2) + "\n")
    capsys.readouterr()
    assert main(["verify", str(tmp_path / "one")]) == 0
    one["passes"][0]["rewrites"] += 1
    report.write_text(json.dumps(one, indent=2) + "\n")
    assert main(["verify", str(tmp_path / "one")]) == 20
    assert "report.json: sha256 differs" in capsys.readouterr().err
