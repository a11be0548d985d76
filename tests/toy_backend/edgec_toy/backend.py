"""The toy backend: ``--toy-lanes-used N`` of the target's ``hardware.lanes``; ONNX out."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import onnx

from edgec.plugin import (
    INTEGER,
    NUMBER,
    STRING,
    Artifact,
    Backend,
    BackendOptions,
    BuildRequest,
    Graph,
    PassSpec,
    Schema,
    Target,
    TargetError,
    Unsupported,
    make_spec,
    render_from,
    run,
    session,
    to_onnx,
)

TEMPLATES = Path(__file__).parent / "templates"
MODEL = "model.onnx"


@dataclass(frozen=True)
class ToyOptions(BackendOptions):
    label: ClassVar[str] = "toy NPU"

    lanes_used: int | None = field(default=None, metadata={"flag": "--toy-lanes-used"})


class ToyBackend(Backend):
    name = "toy"
    hardware_schemas: ClassVar[dict[str, Schema]] = {
        "toy-npu": {"lanes": (INTEGER, True), "tops": (NUMBER, True), "vendor": (STRING, False)},
    }
    options_type = ToyOptions

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        group = parser.add_argument_group("toy NPU (toy-npu targets)")
        group.add_argument("--toy-lanes-used", type=int, metavar="N", help="lanes of the NPU to use")

    def parse_options(self, args: argparse.Namespace) -> ToyOptions:
        return ToyOptions(args.toy_lanes_used)

    def check(self, graph: Graph, target: Target) -> list[Unsupported]:
        return []

    def passes(self, target: Target, precision: str) -> list[PassSpec]:
        return [make_spec("cleanup")]

    def emit(self, graph: Graph, request: BuildRequest, out_dir: Path) -> Artifact:
        options = request.options if isinstance(request.options, ToyOptions) else ToyOptions()
        lanes = int(request.target.hardware["lanes"])
        used = lanes if options.lanes_used is None else options.lanes_used
        if not 1 <= used <= lanes:
            raise TargetError(f"--toy-lanes-used {used}: target '{request.target.name}' has lanes 1..{lanes}")
        onnx.save_model(to_onnx(graph), out_dir / MODEL)
        (out_dir / "toy.json").write_text(
            render_from(TEMPLATES, "toy.json.j2", model=MODEL, lanes=used), encoding="utf-8"
        )
        sess = session(out_dir / MODEL, threads=1)
        return Artifact(
            MODEL,
            lambda feeds: run(sess, feeds),
            "Load `model.onnx` on the toy NPU.",
            "",
            {"lanes_used": used},
        )


BACKEND = ToyBackend()
