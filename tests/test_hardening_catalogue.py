"""Issue 19 item 7: Jetson TX1 and the Snapdragon SoCs SNPE supports below the 855, each with the
runtimes it really has; a runtime the SoC lacks is refused naming the ones it has."""

from __future__ import annotations

import pytest
from hardening_helpers import assert_clean, conv_model, run_cli

from edgec.errors import TargetError
from edgec.targets import load_catalogue

# SoC -> (SoC id, Hexagon version, runtimes). The DSP runtime runs on HVX (REFERENCE B4): only the
# SoCs whose Hexagon DSP has HVX get it.
OLDER_SOCS = {
    "845": ("SDM845", "v65", ["cpu", "gpu", "dsp"]),
    "835": ("MSM8998", "v62", ["cpu", "gpu", "dsp"]),
    "821": ("MSM8996 Pro", "v60", ["cpu", "gpu", "dsp"]),
    "820": ("MSM8996", "v60", ["cpu", "gpu", "dsp"]),
    "710": ("SDM710", "v65", ["cpu", "gpu", "dsp"]),
    "660": ("SDM660", "v62", ["cpu", "gpu", "dsp"]),
    "652": ("MSM8976", "v56", ["cpu", "gpu"]),
    "636": ("SDM636", "v62", ["cpu", "gpu"]),
    "630": ("SDM630", "v60", ["cpu", "gpu"]),
    "625": ("MSM8953", "v56", ["cpu", "gpu"]),
    "605": ("QCS605", "v65", ["cpu", "gpu", "dsp"]),
    "450": ("SDM450", "v56", ["cpu", "gpu"]),
}
PRECISIONS = {"cpu": ("fp32",), "gpu": ("fp32", "fp16"), "dsp": ("int8",)}


@pytest.fixture(scope="module")
def catalogue():
    return load_catalogue()


@pytest.mark.parametrize("soc", sorted(OLDER_SOCS))
def test_older_snapdragons_have_exactly_their_runtimes(catalogue, soc):
    soc_id, hexagon, runtimes = OLDER_SOCS[soc]
    members = catalogue.group(f"snapdragon-{soc}")
    assert sorted(t.hardware["runtime"] for t in members) == sorted(runtimes)
    for target in members:
        runtime = target.hardware["runtime"]
        assert target.name == f"snapdragon-{soc}-{runtime}" and target.backend == "snpe"
        assert target.precisions == PRECISIONS[runtime]
        assert set(target.peak_gops) == set(target.precisions) and target.memory_bandwidth_gbs > 0
        assert target.hardware["soc_id"] == soc_id and target.hardware["hexagon"] == hexagon
        assert target.hardware["has_aip"] is False and target.hardware["in_snpe2_device_list"] is False
        assert "unverified" in target.hardware["notes"]
    default = catalogue.get(f"snapdragon-{soc}")
    assert default.hardware["runtime"] == ("dsp" if "dsp" in runtimes else "gpu")


@pytest.mark.parametrize(("soc", "runtime"), [("625", "dsp"), ("450", "dsp"), ("845", "aip"), ("820", "htp")])
def test_a_runtime_the_soc_lacks_is_refused_naming_what_it_has(catalogue, soc, runtime):
    has = ", ".join(OLDER_SOCS[soc][2])
    with pytest.raises(TargetError, match=f"no runtime '{runtime}' \\(runtimes: {has}\\)"):
        catalogue.select(f"snapdragon-{soc}", runtime)


def test_int8_on_a_soc_without_the_dsp_runtime_says_there_is_none(catalogue):
    with pytest.raises(TargetError, match="SNPE has no int8 runtime on the 625"):
        catalogue["snapdragon-625-gpu"].resolve_precision("int8")


def test_jetson_tx1_facts(catalogue):
    tx1 = catalogue["jetson-tx1"]
    assert tx1.backend == "tensorrt" and tx1.precisions == ("fp32", "fp16")
    assert tx1.hardware["compute_capability"] == "5.3" and tx1.hardware["fast_int8"] is False
    assert tx1.hardware["dla_cores"] == 0 and tx1.hardware["tensorrt"] == "8.2.1"
    with pytest.raises(TargetError, match="no fast INT8"):
        tx1.resolve_precision("int8")


@pytest.mark.parametrize(
    ("target", "runtime"), [("jetson-tx1", None), ("snapdragon-845", None), ("snapdragon-450", "cpu")]
)
def test_new_targets_build(tmp_path, capsys, target, runtime):
    model = conv_model(tmp_path / "m.onnx")
    out = tmp_path / "out"
    extra = ("--runtime", runtime) if runtime else ()
    code, err = run_cli(capsys, "build", str(model), "-t", target, "-o", str(out), *extra)
    assert code == 0, err
    assert (out / "manifest.json").is_file()


def test_building_for_a_missing_runtime_exits_6(tmp_path, capsys):
    model = conv_model(tmp_path / "m.onnx")
    code, err = run_cli(
        capsys, "build", str(model), "-t", "snapdragon-630", "--runtime", "dsp", "-o", str(tmp_path / "o")
    )
    assert_clean(code, err, 6, "snapdragon-630", "runtimes: cpu, gpu")
