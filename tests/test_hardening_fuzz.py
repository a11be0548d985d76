"""Issue 19: a seeded fuzz test. Mutated copies of the shared models (truncation, flipped bytes, dims,
attributes, wiring, op types, initializers, opsets) go through load + cleanup in process, and a few
dozen through the whole `edgec build -t onnxruntime-cpu` in subprocesses. Every one ends in success
or a documented user-error exit code (2-6): never exit 1 or 70, never a traceback, never a file
outside -o, never a hang (each case has a time bound)."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fuzz_models import mutate, pick, seeds

from edgec.errors import EdgecError
from edgec.frontend import load_model
from edgec.passes import PassContext, make_spec, run_passes

IN_PROCESS = 500
IN_SUBPROCESS = 24
SECONDS_PER_CASE = 30
USER_ERRORS = {2, 3, 4, 5, 6}
SEED = 19


class Hang(Exception):
    pass


@contextlib.contextmanager
def time_bound(seconds: int) -> Iterator[None]:
    """Raise Hang in this (main) thread when the block runs longer than ``seconds``."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: object) -> None:
        raise Hang(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="module")
def cases(shared_models: Path) -> list[tuple[str, bytes, dict]]:
    found = seeds(shared_models)
    rng = np.random.default_rng(SEED)
    made = []
    for index in range(IN_PROCESS):
        seed = pick(rng, found)
        what, data = mutate(rng, seed.data)
        made.append((f"case {index}: {seed.name}: {what}", data, dict(seed.shapes)))
    return made


def test_mutated_models_load_or_fail_with_a_user_error(cases, tmp_path):
    failures, outcomes = [], {"built": 0}
    for index, (what, data, shapes) in enumerate(cases):
        path = tmp_path / f"m{index}.onnx"
        path.write_bytes(data)
        try:
            with time_bound(SECONDS_PER_CASE), PassContext():  # no VerifyIR: the structural verify still runs
                graph = load_model(path, shapes, default_batch=1)
                run_passes(graph, [make_spec("cleanup")])
            outcomes["built"] += 1
        except EdgecError as exc:
            outcomes[exc.exit_code] = outcomes.get(exc.exit_code, 0) + 1
            if exc.exit_code not in USER_ERRORS or "\n\n" in str(exc):
                failures.append(f"{what}: exit {exc.exit_code}: {exc}")
        except (Exception, Hang) as exc:  # what the CLI reports as an internal error (exit 1)
            failures.append(f"{what}: {type(exc).__name__}: {exc}")
        path.unlink()
    assert not failures, f"{len(failures)} of {len(cases)} mutated models: " + "\n".join(failures[:15])
    assert list(tmp_path.iterdir()) == []
    assert sum(outcomes.values()) == IN_PROCESS >= 500
    assert outcomes["built"] >= 25 and len(outcomes) >= 4, outcomes  # the mutations reach deep, and vary


def test_mutated_models_through_the_whole_build(cases, tmp_path):
    failures = []
    for index, (what, data, shapes) in enumerate(cases[:: len(cases) // IN_SUBPROCESS][:IN_SUBPROCESS]):
        work = tmp_path / f"case{index}"
        work.mkdir()
        (work / "m.onnx").write_bytes(data)
        argv = ["build", "m.onnx", "-t", "onnxruntime-cpu", "-o", "out", "--samples", "2"]
        argv += [f"--input-shape={name}={'x'.join(map(str, dims))}" for name, dims in shapes.items()]
        try:
            done = subprocess.run(
                [sys.executable, "-m", "edgec", *argv],
                cwd=work,
                capture_output=True,
                text=True,
                timeout=SECONDS_PER_CASE * 4,
                check=False,
            )
        except subprocess.TimeoutExpired:
            failures.append(f"{what}: hung")
            continue
        left = sorted(p.relative_to(work).as_posix() for p in work.iterdir())
        if done.returncode not in USER_ERRORS | {0} or "Traceback" in done.stderr:
            failures.append(f"{what}: exit {done.returncode}: {done.stderr.strip()[-400:]}")
        elif left != (["m.onnx", "out"] if done.returncode == 0 else ["m.onnx"]):
            failures.append(f"{what}: exit {done.returncode} left {left}")
    assert not failures, "\n".join(failures)
