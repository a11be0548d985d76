"""``edgec.plugin``: everything a backend may use of edgec, and the only edgec module backends import.

A backend is a package with an entry point in the group ``edgec.backends``
naming an object that satisfies ``Backend`` (subclass it for the optional
hooks' defaults). The surface, by purpose:

IR: ``Graph``, ``Node``, ``Value``, ``QuantParams``, ``Layout``, ``Op``,
``RECURRENT`` (the recurrent ops), ``to_onnx``/``OPSET`` (export) and
``clone_graph`` (a structural copy, for a backend that rewrites a graph of
its own without touching the pipeline's).

Stored layout (for backends that run the ``layout`` pass, which keeps the
logical shape and records how a value is stored): ``stored_shape``,
``stored_perm``, ``stored_axis``, ``stored_transpose``, ``is_noop_transpose``.

Passes: ``register`` a pass with its options dataclass (``NoOptions``),
``make_spec``/``PassSpec`` to ask for one after cleanup; pattern rewrites
with ``Rule``, ``apply_rules``, ``substitute``, ``produced_by``.

The backend contract: ``Backend``, ``BackendOptions`` (its typed options:
the fields its ``add_arguments`` group sets), ``BuildRequest``,
``Artifact``, ``Runner``, ``Unsupported``, ``SparseKernels``;
``missing_dependency`` (exit 6 naming the extra to install).

Targets: ``Target``; a family's ``[hardware]`` schema is a ``Schema``
(key -> (kind, required)) of the kinds ``STRING``, ``INTEGER``, ``NUMBER``,
``BOOLEAN``, ``STRINGS``, ``INTEGERS``, ``TABLE``.

Quantization: the backend's ``QuantScheme`` (``asymmetric_params``,
``range_params`` and ``dequantize_array`` for its grids), the engine's
``QuantizationResult`` and ``Calibration``, ``calibrate``/``CalibrationConfig``,
``quantize_qdq`` (the Q/DQ model), ``weighted_nodes``, ``activation_values``
(the tensors it calibrates, in graph order), the ranges the scheme fixes
(``FIXED_OUTPUT_RANGES``, ``SAME_RANGE_OPS``).

Data and metrics: ``Dataset`` (samples stacked by input name, with where
they came from), ``load_samples``, ``random_samples``, ``compare`` (the
accuracy check's metrics), ``MIN_COSINE``; ``state_pairs`` (a stateful model's state
inputs/outputs).

Running here: ``session``, ``run``, ``ORT_ERRORS`` (ONNX Runtime).

Writing the bundle: ``render`` (edgec's templates/), ``render_from`` (a
plugin's own template directory), ``write_json``, ``safe_name``.

Errors (each with its exit code): ``EdgecError``, ``UsageError``,
``ModelError``, ``ShapeError``, ``TargetError``, ``UnsupportedOpError``.
"""

from __future__ import annotations

from edgec.accuracy import MIN_COSINE, compare
from edgec.backend_protocol import (
    Artifact,
    Backend,
    BackendOptions,
    BuildRequest,
    Runner,
    SparseKernels,
    Unsupported,
)
from edgec.backend_registry import missing_dependency
from edgec.bundle import safe_name, write_json
from edgec.data.datasets import Dataset
from edgec.data.samples import load_samples, random_samples
from edgec.errors import EdgecError, ModelError, ShapeError, TargetError, UnsupportedOpError, UsageError
from edgec.ir.graph import Graph, Layout, Node, QuantParams, Value
from edgec.ir.onnx_export import OPSET, to_onnx
from edgec.ir.ops import RECURRENT, Op
from edgec.passes.layout import is_noop_transpose, stored_axis, stored_perm, stored_shape, stored_transpose
from edgec.passes.manager import NoOptions, PassSpec, make_spec, register
from edgec.passes.rewrite import Rule, apply_rules, produced_by, substitute
from edgec.quantization.collect import activation_values
from edgec.quantization.parameters import (
    FIXED_OUTPUT_RANGES,
    SAME_RANGE_OPS,
    Calibration,
    CalibrationConfig,
    calibrate,
    weighted_nodes,
)
from edgec.quantization.qdq import clone_graph, quantize_qdq
from edgec.quantization.quantize_graph import QuantizationResult
from edgec.quantization.scheme import QuantScheme, asymmetric_params, dequantize_array, range_params
from edgec.runtime import ORT_ERRORS, run, session
from edgec.streaming import state_pairs
from edgec.targets import BOOLEAN, INTEGER, INTEGERS, NUMBER, STRING, STRINGS, TABLE, Schema, Target
from edgec.templating import render, render_from

__all__ = [
    "BOOLEAN",
    "FIXED_OUTPUT_RANGES",
    "INTEGER",
    "INTEGERS",
    "MIN_COSINE",
    "NUMBER",
    "OPSET",
    "ORT_ERRORS",
    "RECURRENT",
    "SAME_RANGE_OPS",
    "STRING",
    "STRINGS",
    "TABLE",
    "Artifact",
    "Backend",
    "BackendOptions",
    "BuildRequest",
    "Calibration",
    "CalibrationConfig",
    "Dataset",
    "EdgecError",
    "Graph",
    "Layout",
    "ModelError",
    "NoOptions",
    "Node",
    "Op",
    "PassSpec",
    "QuantParams",
    "QuantScheme",
    "QuantizationResult",
    "Rule",
    "Runner",
    "Schema",
    "ShapeError",
    "SparseKernels",
    "Target",
    "TargetError",
    "Unsupported",
    "UnsupportedOpError",
    "UsageError",
    "Value",
    "activation_values",
    "apply_rules",
    "asymmetric_params",
    "calibrate",
    "clone_graph",
    "compare",
    "dequantize_array",
    "is_noop_transpose",
    "load_samples",
    "make_spec",
    "missing_dependency",
    "produced_by",
    "quantize_qdq",
    "random_samples",
    "range_params",
    "register",
    "render",
    "render_from",
    "run",
    "safe_name",
    "session",
    "state_pairs",
    "stored_axis",
    "stored_perm",
    "stored_shape",
    "stored_transpose",
    "substitute",
    "to_onnx",
    "weighted_nodes",
    "write_json",
]
