"""report.html per bundle and per matrix, opened in headless Chromium (Debian's chromium through
Playwright): every figure loads and the console stays clean."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from release_helpers import conv_model

from edgec.cli import main

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-dev-shm-usage",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.fail("Chromium is a test prerequisite: apt-get install -y chromium (see README)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def _open(browser, page_file: Path) -> tuple[dict[str, int], list[str]]:
    """Every image's naturalWidth by id, and the console errors and page errors."""
    page = browser.new_page()
    problems: list[str] = []
    page.on(
        "console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None
    )
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
    page.goto(page_file.resolve().as_uri(), wait_until="load")
    widths = page.eval_on_selector_all(
        "img", "imgs => imgs.map(i => [i.id, i.complete ? i.naturalWidth : 0])"
    )
    page.close()
    return dict(widths), problems


def test_bundle_report_shows_sizes_sensitivity_and_roofline(browser, tmp_path, capsys):
    model = conv_model(tmp_path / "<i>cls&x.onnx", 8)
    argv = ["build", str(model), "-t", "onnxruntime-cpu", "--precision", "int8", "-o", str(tmp_path / "b")]
    # An SNR budget the all-int8 model misses (38.1 dB): the sensitivity table is computed.
    assert main([*argv, "--samples", "2", "--max-accuracy-drop", "snr=39", "--no-cache"]) == 0
    weights = json.loads((tmp_path / "b" / "report.json").read_text())["weight_quantization"]
    assert [(row["layer"], row["op"]) for row in weights] == [("logits", "Gemm")]  # the Conv stays in float
    assert 30 < weights[0]["weight_snr_db"] < 60  # 8-bit per-channel weights: about 6 dB per bit
    html = (tmp_path / "b" / "report.html").read_text()
    assert "&lt;i&gt;cls&amp;x.onnx" in html and "<i>cls" not in html
    widths, problems = _open(browser, tmp_path / "b" / "report.html")
    assert problems == []
    assert set(widths) == {
        "fig-sizes",
        "fig-weights",
        "fig-outputs",
        "fig-sensitivity",
        "fig-roofline",
        "fig-latency",
    }
    assert all(width > 0 for width in widths.values()), widths


def test_matrix_report_loads(browser, tmp_path, capsys):
    model = conv_model(tmp_path / "m.onnx", 4)
    argv = ["build", str(model), "-t", "jetson-nano", "--precision", "fp32,fp16", "-o", str(tmp_path / "d")]
    assert main([*argv, "--samples", "2", "-j", "1"]) == 0
    widths, problems = _open(browser, tmp_path / "d" / "report.html")
    assert problems == []
    assert set(widths) == {"fig-sizes", "fig-seconds"} and all(w > 0 for w in widths.values())
    html = (tmp_path / "d" / "report.html").read_text()
    assert 'href="m-jetson-nano-fp32/report.html"' in html
