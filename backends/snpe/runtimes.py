"""SNPE's runtimes: what each executes, which DLC it needs, how snpe-net-run selects it.

Facts from ../shared/REFERENCE.md B1 (snpe-net-run flags) and B4 (runtimes and
the quantized-DLC requirement). A target names its runtime in
``hardware.runtime``; the SoC facts (``soc_id``, ``hexagon``) come from the
same table.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgec.plugin import Target, TargetError

QUANTIZED = frozenset({"int8", "int16x8"})

# Bit widths (weights, activations) of the quantized precisions (snpe-dlc-quantize flags).
BITWIDTHS = {"int8": (8, 8), "int16x8": (8, 16)}


@dataclass(frozen=True)
class Runtime:
    name: str
    label: str
    precisions: frozenset[str]
    net_run_flags: tuple[str, ...]
    uses_hexagon: bool
    why_not: str


RUNTIMES: dict[str, Runtime] = {
    runtime.name: runtime
    for runtime in (
        # B4: CPU runs fp32; a quantized DLC is dequantized when it loads.
        Runtime("cpu", "SNPE's CPU runtime", frozenset({"fp32"}), (), False, "it computes in fp32"),
        # B4: GPU_FLOAT32_16_HYBRID (default) or GPU_FLOAT16; a quantized DLC is dequantized.
        Runtime(
            "gpu",
            "SNPE's GPU runtime",
            frozenset({"fp32", "fp16"}),
            ("--use_gpu",),
            False,
            "it computes in fp32/fp16 and dequantizes a quantized DLC",
        ),
        # B4: the V66 DSP runs fixed point; a float DLC is quantized at init without calibration data.
        Runtime(
            "dsp",
            "SNPE's DSP runtime (Hexagon V66)",
            frozenset({"int8"}),
            ("--use_dsp",),
            True,
            "it runs fixed point only and needs a quantized DLC",
        ),
        # B4: "Non-quantized models are not supported by the AIP runtime".
        Runtime(
            "aip",
            "SNPE's AIP runtime (HTA + HVX)",
            frozenset({"int8"}),
            ("--use_aip",),
            True,
            "it does not accept non-quantized models",
        ),
        # B4: HTP (DSP v68+) runs a quantized DLC or an fp16 cache prepared from a float DLC;
        # snpe-net-run reaches it through the DSP runtime.
        Runtime(
            "htp",
            "SNPE's HTP runtime (Hexagon V68+)",
            frozenset({"int8", "int16x8", "fp16"}),
            ("--use_dsp",),
            True,
            "it runs int8/int16 or an fp16 cache, not fp32",
        ),
    )
}


def runtime_of(target: Target, precision: str) -> Runtime:
    """The target's runtime; TargetError if it is unknown or cannot run ``precision``."""
    name = str(target.hardware.get("runtime", ""))
    if name not in RUNTIMES:
        raise TargetError(
            f"target '{target.name}' names SNPE runtime '{name}' in hardware.runtime; "
            f"the snpe backend knows {', '.join(RUNTIMES)}. Fix the target entry."
        )
    runtime = RUNTIMES[name]
    if precision not in runtime.precisions:
        offered = ", ".join(sorted(runtime.precisions))
        raise TargetError(
            f"target '{target.name}': {runtime.label} cannot run precision '{precision}' "
            f"({runtime.why_not}); it runs {offered}. Choose one of them with --precision, "
            f"or another runtime with --runtime."
        )
    return runtime
