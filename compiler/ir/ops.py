"""The closed, canonical op set of the IR.

One spelling per operation. The spelling is ONNX opset 21's (inputs, not
attributes, for axes, sizes, pads, Clip bounds and Resize scales; every
attribute present with its default filled in), so the frontend upgrades
older opsets and nothing downstream sees an opset version. Two additions
are IR-only: ``SiLU`` (x * sigmoid(x)) and the fused ``activation``
attribute of Conv, ConvTranspose and Gemm.
"""

from __future__ import annotations

import enum


class Op(enum.Enum):
    ABS = "Abs"
    ADD = "Add"
    AVERAGE_POOL = "AveragePool"
    BATCH_NORMALIZATION = "BatchNormalization"
    CAST = "Cast"
    CLIP = "Clip"
    CONCAT = "Concat"
    CONSTANT_OF_SHAPE = "ConstantOfShape"
    CONV = "Conv"
    CONV_TRANSPOSE = "ConvTranspose"
    DEQUANTIZE_LINEAR = "DequantizeLinear"
    DIV = "Div"
    ELU = "Elu"
    EQUAL = "Equal"
    ERF = "Erf"
    EXP = "Exp"
    EXPAND = "Expand"
    FLATTEN = "Flatten"
    GATHER = "Gather"
    GELU = "Gelu"
    GEMM = "Gemm"
    GLOBAL_AVERAGE_POOL = "GlobalAveragePool"
    GLOBAL_MAX_POOL = "GlobalMaxPool"
    GRU = "GRU"
    HARD_SIGMOID = "HardSigmoid"
    HARD_SWISH = "HardSwish"
    IDENTITY = "Identity"
    LAYER_NORMALIZATION = "LayerNormalization"
    LEAKY_RELU = "LeakyRelu"
    LOG = "Log"
    LSTM = "LSTM"
    MATMUL = "MatMul"
    MAX = "Max"
    MAX_POOL = "MaxPool"
    MIN = "Min"
    MUL = "Mul"
    NEG = "Neg"
    PAD = "Pad"
    POW = "Pow"
    PRELU = "PRelu"
    QUANTIZE_LINEAR = "QuantizeLinear"
    RANGE = "Range"
    RECIPROCAL = "Reciprocal"
    REDUCE_MAX = "ReduceMax"
    REDUCE_MEAN = "ReduceMean"
    REDUCE_SUM = "ReduceSum"
    RELU = "Relu"
    RESHAPE = "Reshape"
    RESIZE = "Resize"
    RNN = "RNN"
    SHAPE = "Shape"
    SIGMOID = "Sigmoid"
    SILU = "SiLU"
    SLICE = "Slice"
    SOFTMAX = "Softmax"
    SPLIT = "Split"
    SQRT = "Sqrt"
    SQUEEZE = "Squeeze"
    SUB = "Sub"
    TANH = "Tanh"
    TRANSPOSE = "Transpose"
    UNSQUEEZE = "Unsqueeze"
    WHERE = "Where"

    def __str__(self) -> str:
        return self.value


ELEMENTWISE_BINARY = frozenset({Op.ADD, Op.SUB, Op.MUL, Op.DIV, Op.POW, Op.MAX, Op.MIN, Op.EQUAL})

ACTIVATIONS = frozenset(
    {
        Op.RELU,
        Op.CLIP,
        Op.SIGMOID,
        Op.HARD_SIGMOID,
        Op.HARD_SWISH,
        Op.SILU,
        Op.TANH,
        Op.LEAKY_RELU,
        Op.ELU,
        Op.GELU,
    }
)

# Ops that may carry a fused ``activation`` attribute.
FUSABLE = frozenset({Op.CONV, Op.CONV_TRANSPOSE, Op.GEMM})

# Ops whose output depends only on input shapes, never on input data.
SHAPE_ONLY = frozenset({Op.SHAPE})

# Activations that can be fused into a producer, with the attributes they keep.
FUSABLE_ACTIVATIONS: dict[Op, tuple[str, ...]] = {
    Op.RELU: (),
    Op.CLIP: (),
    Op.SIGMOID: (),
    Op.SILU: (),
    Op.HARD_SWISH: (),
    Op.TANH: (),
    Op.LEAKY_RELU: ("alpha",),
    Op.HARD_SIGMOID: ("alpha", "beta"),
}

BY_NAME: dict[str, Op] = {op.value: op for op in Op}

# Recurrent layers: input 0 the sequence, 1-3 the weights, recurrences and biases, 4 sequence_lens,
# 5 the initial hidden state (LSTM: 6 the initial cell state, 7 the peepholes).
RECURRENT = frozenset({Op.LSTM, Op.GRU, Op.RNN})
