"""The target catalogue: bundled facts, precision refusal, validation errors, user overrides."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from edgec.errors import TargetError
from edgec.targets import PRECISIONS, format_table, load_catalogue, table_rows

REQUIRED = [
    "jetson-nano",
    "jetson-tx2",
    "jetson-xavier-nx",
    "jetson-agx-xavier",
    "jetson-orin-nano",
    "jetson-orin-nx",
    "jetson-agx-orin",
    "rpi4",
    "rpi5",
    "arm64",
    "android-gpu",
    "coral-edgetpu",
    "cortex-m7",
    "onnxruntime-cpu",
]

SOC_RUNTIMES = {
    "855": ("v66", ["cpu", "gpu", "dsp"]),
    "865": ("v66", ["cpu", "gpu", "dsp", "aip"]),
    "888": ("v68", ["cpu", "gpu", "htp"]),
    "8gen1": ("v69", ["cpu", "gpu", "htp"]),
    "8gen2": ("v73", ["cpu", "gpu", "htp"]),
    "8gen3": ("v75", ["cpu", "gpu", "htp"]),
}


@pytest.fixture(scope="module")
def catalogue():
    return load_catalogue()


def test_bundled_catalogue_has_every_required_target(catalogue):
    snapdragon = [f"snapdragon-{soc}-{rt}" for soc, (_, runtimes) in SOC_RUNTIMES.items() for rt in runtimes]
    assert set(REQUIRED + snapdragon) <= set(catalogue)
    assert catalogue.files[0].endswith("targets.toml")


# (target, hardware key, value) from REFERENCE.md A6.
JETSON_FACTS = [
    ("jetson-nano", "compute_capability", "5.3"),
    ("jetson-nano", "fast_int8", False),
    ("jetson-nano", "fast_fp16", True),
    ("jetson-nano", "dla_cores", 0),
    ("jetson-nano", "tensorrt", "8.2.1"),
    ("jetson-nano", "jetpack", "4.6.x"),
    ("jetson-tx2", "compute_capability", "6.2"),
    ("jetson-tx2", "fast_int8", False),
    ("jetson-tx2", "dla_cores", 0),
    ("jetson-xavier-nx", "compute_capability", "7.2"),
    ("jetson-xavier-nx", "fast_int8", True),
    ("jetson-xavier-nx", "dla_cores", 2),
    ("jetson-xavier-nx", "tensorrt", "8.5.2"),
    ("jetson-agx-xavier", "compute_capability", "7.2"),
    ("jetson-agx-xavier", "dla_cores", 2),
    ("jetson-agx-xavier", "memory_gb", (32,)),
    ("jetson-orin-nano", "compute_capability", "8.7"),
    ("jetson-orin-nano", "dla_cores", 0),
    ("jetson-orin-nano", "tensorrt", "10.3"),
    ("jetson-orin-nano", "cuda", "12.6"),
    ("jetson-orin-nx", "compute_capability", "8.7"),
    ("jetson-agx-orin", "compute_capability", "8.7"),
    ("jetson-agx-orin", "dla_cores", 2),
    ("jetson-agx-orin", "memory_gb", (32, 64)),
]


@pytest.mark.parametrize(("name", "key", "value"), JETSON_FACTS)
def test_jetson_facts_match_the_reference(catalogue, name, key, value):
    assert catalogue[name].hardware[key] == value


def test_int8_offered_exactly_where_the_gpu_has_fast_int8(catalogue):
    for target in catalogue.values():
        if target.family == "jetson":
            assert ("int8" in target.precisions) == target.hardware["fast_int8"], target.name


@pytest.mark.parametrize("soc", sorted(SOC_RUNTIMES))
def test_snapdragon_hexagon_versions_and_runtimes(catalogue, soc):
    hexagon, runtimes = SOC_RUNTIMES[soc]
    entries = {
        t.hardware["runtime"]: t for t in catalogue.values() if t.name.startswith(f"snapdragon-{soc}-")
    }
    assert sorted(entries) == sorted(runtimes)
    for runtime, target in entries.items():
        assert target.backend == "snpe"
        assert target.hardware["hexagon"] == hexagon
        assert target.hardware["has_aip"] is (soc == "865")
        assert target.name == f"snapdragon-{soc}-{runtime}"


def test_quantized_only_runtimes_refuse_float(catalogue):
    for name in ["snapdragon-865-aip", "snapdragon-865-dsp", "coral-edgetpu", "cortex-m7"]:
        assert catalogue[name].precisions == ("int8",), name
        with pytest.raises(TargetError, match="int8"):
            catalogue[name].resolve_precision("fp32")


def test_every_entry_is_usable_by_the_pipeline(catalogue):
    for target in catalogue.values():
        assert target.default_batch == 1
        assert [name for name, _ in target.passes] == ["cleanup"]
        assert set(target.peak_gops) == set(target.precisions)
        assert target.memory_bandwidth_gbs > 0
        assert target.backend in {"tensorrt", "tflite", "snpe", "onnxruntime"}
    assert catalogue["onnxruntime-cpu"].precisions == ("fp32", "int8", "ternary")
    assert catalogue["cortex-m7"].hardware["flash_bytes"] == 2 * 1024 * 1024
    assert catalogue["cortex-m7"].hardware["ram_bytes"] == 512 * 1024


def test_resolve_precision_refuses_int8_on_nano_with_the_reason(catalogue):
    nano = catalogue.get("jetson-nano")
    assert nano.resolve_precision(None) == "fp16"
    assert nano.resolve_precision("fp16") == "fp16"
    assert nano.resolve_precision("fp32") == "fp32"
    with pytest.raises(TargetError) as info:
        nano.resolve_precision("int8")
    message = str(info.value)
    assert "jetson-nano" in message
    assert "compute capability 5.3" in message
    assert "use fp16" in message
    assert "runs fp32, fp16 (default fp16)" in message


def test_resolve_precision_without_a_catalogue_reason_names_what_runs(catalogue):
    with pytest.raises(TargetError, match=r"cannot run precision 'ternary'.*runs fp32, fp16"):
        catalogue["jetson-nano"].resolve_precision("ternary")


def test_resolve_precision_rejects_unknown_words(catalogue):
    with pytest.raises(TargetError, match=r"unknown precision 'int4'.*fp32, fp16, int8, int8-dynamic"):
        catalogue["rpi4"].resolve_precision("int4")


def test_unknown_target_suggests_close_names(catalogue):
    with pytest.raises(TargetError, match=r"unknown target 'jetson-nanno'.*'jetson-nano'.*edgec targets"):
        catalogue.get("jetson-nanno")
    with pytest.raises(KeyError):
        catalogue["nope"]


def test_table_rows_and_aligned_text_table(catalogue):
    rows = table_rows(catalogue)
    assert len(rows) == len(catalogue)
    assert rows[0] == {
        "name": "jetson-nano",
        "group": None,
        "family": "jetson",
        "backend": "tensorrt",
        "precisions": ["fp32", "fp16"],
        "default_precision": "fp16",
        "description": catalogue["jetson-nano"].description,
    }
    json.dumps(rows)
    lines = format_table(rows).splitlines()
    assert len(lines) == len(rows) + 1
    column = lines[0].index("DEFAULT")
    for line, row in zip(lines[1:], rows, strict=True):
        assert line.startswith(row["name"])
        assert line[column:].startswith(row["default_precision"] + " ")


def test_targets_hash_and_as_dict_is_plain_json_without_the_machine_path(catalogue):
    assert {catalogue["jetson-agx-orin"]: 1}[load_catalogue()["jetson-agx-orin"]] == 1
    data = catalogue["jetson-agx-orin"].as_dict()
    assert "source" not in data
    assert data["hardware"]["memory_gb"] == [32, 64]
    assert json.loads(json.dumps(data)) == data


# -- user files and validation ----------------------------------------------------------------


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_scalar(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f'"{k}" = {_scalar(v)}' for k, v in value.items()) + " }"
    return repr(value)


def _toml(entries: dict[str, dict[str, Any]]) -> str:
    lines = []
    for name, entry in entries.items():
        lines.append(f'[targets."{name}"]')
        lines += [f'"{key}" = {_scalar(value)}' for key, value in entry.items()]
    return "\n".join(lines) + "\n"


def _entry(**changes: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "description": "a test board",
        "family": "jetson",
        "backend": "tensorrt",
        "precisions": ["fp32", "fp16"],
        "default_precision": "fp16",
        "unsupported_precisions": {"int8": "no INT8 here; use fp16"},
        "default_batch": 1,
        "passes": ["cleanup", {"name": "cleanup", "options": {}}],
        "peak_gops": {"fp32": 100, "fp16": 200.5},
        "memory_bandwidth_gbs": 10,
        "hardware": {
            "module": "Test",
            "gpu": "test gpu",
            "compute_capability": "5.3",
            "cuda_cores": 1,
            "fast_fp16": True,
            "fast_int8": False,
            "dla_cores": 0,
            "memory_gb": [1],
            "jetpack": "4.6",
            "tensorrt": "8.2.1",
            "cuda": "10.2",
        },
    }
    for key, value in changes.items():
        if value is None:
            del entry[key]
        else:
            entry[key] = value
    return entry


def _write(tmp_path: Path, text: str, name: str = "user.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_user_file_adds_a_target(tmp_path):
    path = _write(tmp_path, _toml({"my-board": _entry()}))
    catalogue = load_catalogue([path])
    board = catalogue.get("my-board")
    assert board.source == str(path)
    assert board.passes == (("cleanup", {}), ("cleanup", {}))
    assert board.peak_gops == {"fp32": 100.0, "fp16": 200.5}
    assert list(catalogue)[-1] == "my-board"
    assert catalogue.files[-1] == str(path)


def test_user_file_replaces_a_bundled_entry_and_later_files_win(tmp_path):
    first = _write(tmp_path, _toml({"jetson-nano": _entry(description="my nano")}), "a.toml")
    second = _write(tmp_path, _toml({"jetson-nano": _entry(description="their nano")}), "b.toml")
    assert load_catalogue([first])["jetson-nano"].description == "my nano"
    catalogue = load_catalogue([first, second])
    assert catalogue["jetson-nano"].description == "their nano"
    assert catalogue["jetson-nano"].source == str(second)
    assert next(iter(catalogue)) == "jetson-nano"
    assert load_catalogue()["jetson-nano"].description != "their nano"


def test_unknown_family_and_backend_are_accepted_with_free_form_hardware(tmp_path):
    entry = _entry(family="my-npu", backend="my-plugin", hardware={"anything": [1, 2], "npu": "x"})
    catalogue = load_catalogue([_write(tmp_path, _toml({"npu-board": entry}))])
    assert catalogue["npu-board"].hardware["anything"] == (1, 2)


MALFORMED = [
    ("missing key", {"backend": None}, "backend", "missing"),
    ("wrong type", {"default_batch": "1"}, "default_batch", "must be an integer"),
    ("bool is not a number", {"memory_bandwidth_gbs": True}, "memory_bandwidth_gbs", "must be a number"),
    ("unknown key", {"bandwidth": 3}, "bandwidth", "unknown key"),
    ("default not offered", {"default_precision": "int8"}, "default_precision", "not among precisions"),
    ("unknown precision word", {"precisions": ["fp32", "fp8"]}, "precisions", "unknown precision 'fp8'"),
    ("duplicate precision", {"precisions": ["fp32", "fp32"]}, "precisions", "twice"),
    ("peak missing", {"peak_gops": {"fp32": 1}}, "peak_gops.fp16", "missing"),
    ("peak not positive", {"peak_gops": {"fp32": 1, "fp16": 0}}, "peak_gops.fp16", "positive"),
    (
        "peak for other precision",
        {"peak_gops": {"fp32": 1, "fp16": 2, "int8": 3}},
        "peak_gops.int8",
        "not among",
    ),
    (
        "reason for offered",
        {"unsupported_precisions": {"fp16": "x"}},
        "unsupported_precisions.fp16",
        "also listed",
    ),
    (
        "reason not text",
        {"unsupported_precisions": {"int8": 3}},
        "unsupported_precisions.int8",
        "non-empty string",
    ),
    ("batch below one", {"default_batch": 0}, "default_batch", "at least 1"),
    ("pass form", {"passes": [3]}, "passes[0]", "pass name"),
    ("pass option key", {"passes": [{"name": "cleanup", "opts": {}}]}, "passes[0].opts", "unknown key"),
    ("hardware missing key", {"hardware": {"module": "x"}}, "hardware.gpu", "missing"),
]


@pytest.mark.parametrize(("case", "changes", "key", "problem"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_entry_names_file_entry_and_key(tmp_path, case, changes, key, problem):
    path = _write(tmp_path, _toml({"bad-board": _entry(**changes)}))
    with pytest.raises(TargetError) as info:
        load_catalogue([path])
    message = str(info.value)
    assert f"targets file '{path}'" in message
    assert "entry 'bad-board'" in message
    assert f"key '{key}'" in message
    assert problem in message


def test_hardware_typo_in_a_known_family_is_caught(tmp_path):
    hardware = dict(_entry()["hardware"], dla_core=2)
    path = _write(tmp_path, _toml({"bad-board": _entry(hardware=hardware)}))
    with pytest.raises(TargetError, match=r"key 'hardware.dla_core': unknown key; known keys: .*dla_cores"):
        load_catalogue([path])


def test_bad_target_name(tmp_path):
    path = _write(tmp_path, _toml({"My Board": _entry()}))
    with pytest.raises(TargetError, match=r"entry 'My Board', key 'name'"):
        load_catalogue([path])


def test_toml_syntax_error_names_file_and_line(tmp_path):
    path = _write(tmp_path, '[targets.x]\ndescription = "ok"\nfamily = = "jetson"\n')
    with pytest.raises(TargetError, match=r"is not valid TOML: .*line 3") as info:
        load_catalogue([path])
    assert str(path) in str(info.value)


def test_file_level_problems(tmp_path):
    with pytest.raises(TargetError, match=r"cannot read targets file '.*missing.toml'"):
        load_catalogue([tmp_path / "missing.toml"])
    with pytest.raises(TargetError, match=r"unknown top-level key 'target'"):
        load_catalogue([_write(tmp_path, '[target.x]\ndescription = "a"\n', "top.toml")])
    with pytest.raises(TargetError, match=r"defines no targets"):
        load_catalogue([_write(tmp_path, "", "empty.toml")])


def test_the_vocabulary_is_the_design_one():
    assert PRECISIONS == ("fp32", "fp16", "int8", "int8-dynamic", "int16x8", "ternary")
