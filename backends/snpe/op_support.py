"""Which IR ops each SNPE runtime can run, one line per op, each limit with its reason.

Source: ../shared/REFERENCE.md B6 (SNPE-BL "Supported ONNX Ops" for what the
converter takes, "Supported Network Layers" for the per-runtime columns
CPU / GPU / AIP / HTP / DSP V66). A check takes the node and the runtime name
and returns None when the runtime can run the node, else why not.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from edgec.plugin import Graph, Node, Op, Unsupported, produced_by

Check = Callable[[Node, str], str | None]

EVERYWHERE = frozenset({"cpu", "gpu", "dsp", "aip", "htp"})
_LAYERS = "SNPE 'Supported Network Layers'"


def only(runtimes: set[str], layer: str) -> Check:
    """The layer runs on ``runtimes`` only (a column pattern of the layers table)."""
    allowed = frozenset(runtimes)

    def check(node: Node, runtime: str) -> str | None:
        if runtime in allowed:
            return None
        return f"SNPE's {layer} layer runs only on {', '.join(sorted(allowed))} ({_LAYERS})"

    return check


def when(condition: Callable[[Node], bool], inner: Check) -> Check:
    """Apply ``inner`` only to nodes that meet ``condition`` (e.g. 3-D convolutions)."""
    return lambda node, runtime: inner(node, runtime) if condition(node) else None


def never(reason: str) -> Check:
    return lambda node, runtime: reason


def require(condition: Callable[[Node], bool], reason: str) -> Check:
    """The converter takes the node only if ``condition`` holds."""
    return lambda node, runtime: None if condition(node) else reason


def _rank(node: Node) -> int:
    return node.inputs[0].rank if node.inputs[0] is not None else 0


def _is_3d(node: Node) -> bool:
    return _rank(node) == 5


def _static(index: int) -> Callable[[Node], bool]:
    return lambda node: node.computed_input(index) is None


def _simple_resize(node: Node) -> bool:
    """ResizeBilinear / ResizeNearestNeighbor (every runtime) rather than the generic Resize."""
    return _rank(node) == 4 and node.attrs["mode"] in ("nearest", "linear") and not node.attrs["antialias"]


def _erf_in_gelu(node: Node) -> bool:
    """x/sqrt(2) -> Erf -> +1: the GELU pattern the converter matches."""
    scaled = produced_by(node.inputs[0], Op.DIV, Op.MUL) is not None
    users = node.output.users()
    return scaled and len(users) == 1 and users[0].op is Op.ADD


_NOT_GPU_3D = when(_is_3d, only({"cpu", "aip", "htp", "dsp"}, "3-D (Conv3d/PoolAvg3d)"))
_FC = (
    require(
        lambda n: n.attrs["transA"] == 0 and n.attrs["transB"] == 1,
        "Gemm converts only as "
        "FullyConnected (transA=0, transB=1); the snpe-ready pass could not rewrite it "
        "because B is not constant",
    ),
    require(
        lambda n: n.attrs["alpha"] == 1.0 and n.attrs["beta"] == 1.0,
        "Gemm converts only as FullyConnected (alpha=1, beta=1) and B or C is not constant",
    ),
)
_FOLDED = (
    "SNPE evaluates Shape only at conversion time (shape subgraphs are constant-folded); "
    "this node survived folding, so its input shape is not static"
)

SUPPORT: dict[Op, Sequence[Check]] = {
    Op.ABS: (),
    Op.ADD: (),
    Op.AVERAGE_POOL: (_NOT_GPU_3D,),
    Op.BATCH_NORMALIZATION: (
        require(
            lambda n: n.computed_input(*range(1, len(n.inputs))) is None,
            "BatchNormalization converts only with static scale/bias/mean/var",
        ),
    ),
    Op.CAST: (),
    Op.CLIP: (),
    Op.CONCAT: (),
    Op.CONSTANT_OF_SHAPE: (only({"cpu"}, "ConstantOfShape"),),
    Op.CONV: (_NOT_GPU_3D,),
    Op.CONV_TRANSPOSE: (when(_is_3d, only({"cpu", "htp"}, "TransposeConv3d")),),
    Op.DEQUANTIZE_LINEAR: (),
    Op.DIV: (),
    Op.ELU: (),
    Op.EQUAL: (),
    Op.ERF: (
        require(_erf_in_gelu, "SNPE converts Erf only as part of a GELU pattern"),
        only({"cpu", "htp"}, "Gelu"),
    ),
    Op.EXP: (),
    Op.EXPAND: (require(_static(1), "SNPE converts Expand only with a static shape"),),
    Op.FLATTEN: (),
    Op.GATHER: (),
    Op.GELU: (only({"cpu", "htp"}, "Gelu"),),
    Op.GEMM: _FC,
    Op.GLOBAL_AVERAGE_POOL: (
        require(lambda n: 3 <= _rank(n) <= 5, "GlobalAveragePool converts for 3-D to 5-D"),
    ),
    Op.GLOBAL_MAX_POOL: (require(lambda n: 3 <= _rank(n) <= 5, "GlobalMaxPool converts for 3-D to 5-D"),),
    Op.HARD_SIGMOID: (),
    Op.HARD_SWISH: (),
    Op.IDENTITY: (),
    Op.LAYER_NORMALIZATION: (only({"cpu", "gpu", "htp"}, "LayerNorm"),),
    Op.LEAKY_RELU: (),
    Op.LOG: (),
    Op.LSTM: (),
    # The converter takes ONNX GRU and RNN (B6's ONNX list), but the layers table has Gru as "N
    # everywhere" and no RNN row: no runtime is documented to run either.
    Op.GRU: (never(f"SNPE's Gru layer runs on no runtime ({_LAYERS}: N everywhere)"),),
    Op.RNN: (never(f"SNPE's layers table lists no RNN layer for any runtime ({_LAYERS})"),),
    Op.MATMUL: (),
    Op.MAX: (),
    Op.MAX_POOL: (
        require(lambda n: len(n.outputs) == 1, "SNPE's MaxPool has no Indices output"),
        require(lambda n: set(n.attrs["dilations"]) == {1}, "SNPE's MaxPool needs dilation 1"),
        when(_is_3d, only({"cpu", "aip", "dsp"}, "PoolMax3d")),
    ),
    Op.MIN: (),
    Op.MUL: (),
    Op.NEG: (),
    Op.PAD: (
        require(
            lambda n: n.attrs["mode"] in ("constant", "reflect", "edge"),
            "SNPE's Pad takes constant, reflect or edge mode",
        ),
    ),
    Op.POW: (),
    Op.PRELU: (require(_static(1), "SNPE converts PRelu only with a static slope"),),
    Op.QUANTIZE_LINEAR: (only({"cpu", "aip", "htp", "dsp"}, "Quantize"),),
    Op.RANGE: (),
    Op.RECIPROCAL: (),
    Op.REDUCE_MAX: (),
    Op.REDUCE_MEAN: (),
    Op.REDUCE_SUM: (),
    Op.RELU: (),
    Op.RESHAPE: (
        require(lambda n: n.attrs["allowzero"] == 0, "SNPE converts Reshape only with allowzero=0"),
    ),
    Op.RESIZE: (
        require(lambda n: 3 <= _rank(n) <= 5, "SNPE converts Resize for 3-D to 5-D"),
        when(lambda n: not _simple_resize(n), only({"cpu", "htp"}, "generic Resize")),
    ),
    Op.SHAPE: (never(_FOLDED),),
    Op.SIGMOID: (),
    Op.SILU: (),
    Op.SLICE: (),
    Op.SOFTMAX: (),
    Op.SPLIT: (),
    Op.SQRT: (),
    Op.SQUEEZE: (),
    Op.SUB: (),
    Op.TANH: (),
    Op.TRANSPOSE: (),
    Op.UNSQUEEZE: (only({"cpu", "gpu", "htp"}, "ExpandDims"),),
    Op.WHERE: (),
}


def node_reason(node: Node, runtime: str) -> str | None:
    """Why ``runtime`` cannot run ``node`` (its fused activation included), or None."""
    checks = SUPPORT.get(node.op)
    if checks is None:
        return f"{node.op} is not among SNPE's supported ONNX ops"
    for check in checks:
        reason = check(node, runtime)
        if reason is not None:
            return reason
    activation = node.attrs.get("activation")
    if activation is not None and activation not in SUPPORT:
        return f"its fused activation {activation} is not among SNPE's supported ONNX ops"
    return None


def unsupported(graph: Graph, runtime: str) -> list[Unsupported]:
    """Every node of ``graph`` that ``runtime`` cannot run, in graph order."""
    found = []
    for node in graph.nodes:
        reason = node_reason(node, runtime)
        if reason is not None:
            found.append(Unsupported(node.name, str(node.op), reason))
    return found
