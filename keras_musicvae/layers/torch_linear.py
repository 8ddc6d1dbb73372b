"""oneDNN's prepacked matrix products for the PyTorch step loops (backend-specific module).

Sampling runs the decoders one step at a time: at every step, every LSTM
layer and the output head multiply a small batch (8 rows when sampling 8
sequences) by a large weight matrix (up to 2048 x 4096). On the torch
backend those products go to `torch.mm`, which on CPU calls a general
matrix kernel that re-reads the weights in their plain row-major layout at
every call; profiled (`hierdec_trio_16bar`, 8 samples, one thread) they
were 88% of the sampling time. oneDNN, which PyTorch ships for its CPU
inference paths, can reorder a weight matrix once into the blocked layout
its kernels read fastest (`torch.ops.mkldnn._reorder_linear_weight`) and
then multiply by it (`torch.ops.mkldnn._linear_pointwise`): at batch 8 that
is 2-4x faster in float32 and, on CPUs with AVX512_BF16, 6-10x in bfloat16
(`benchmarks/README.md`, "PyTorch step loops").

The path is taken (`is_available`) only where it cannot change what a user
sees except by float rounding: on the torch backend, with the fast paths on
(`torch_lstm.fast_paths_enabled`: `KERAS_MUSICVAE_TORCH_LSTM=0` or
`torch_lstm.disabled()` turn it off), for CPU weights in float32 or
bfloat16, and when autograd is off (`torch.no_grad()`: the models'
inference methods, see `models/inference_mode.py`). These kernels have no
backward pass, so training (scheduled sampling) keeps `keras.ops.matmul`.
"""

import keras

from keras_musicvae.layers import torch_lstm

_PACKED_DTYPES = ("float32", "bfloat16")


def is_available(kernel):
    """Whether `x @ kernel` in a step loop may use a prepacked oneDNN product.

    Args:
        kernel: `[K, N]` weights in the compute dtype (a tensor or variable).
    """
    if not torch_lstm.fast_paths_enabled():
        return False
    import torch

    if torch.is_grad_enabled() or not torch.backends.mkldnn.is_available():
        return False
    kernel = _tensor(kernel)
    if kernel.device.type != "cpu" or kernel.ndim != 2:
        return False
    return keras.backend.standardize_dtype(kernel.dtype) in _PACKED_DTYPES


def pack(kernel, bias=None):
    """A `PackedProjection` of `kernel` (and `bias`) where the path is
    available (`is_available`), else None; also None where oneDNN refuses to
    reorder the weights (a PyTorch build whose oneDNN lacks the op)."""
    if not is_available(kernel):
        return None
    try:
        return PackedProjection(kernel, bias)
    except (RuntimeError, AttributeError, NotImplementedError):
        return None


class PackedProjection:
    """`x @ kernel + bias` with the kernel reordered once for oneDNN.

    Args:
        kernel: `[K, N]` torch tensor (float32 or bfloat16, CPU).
        bias: `[N]` tensor of the same dtype, or None.
    """

    def __init__(self, kernel, bias=None):
        import torch

        kernel = _tensor(kernel)
        self.output_dim = int(kernel.shape[1])
        # oneDNN takes the weights as [N, K] (torch.nn.Linear's layout).
        self.weight = torch.ops.mkldnn._reorder_linear_weight(kernel.detach().t().contiguous())
        self.bias = None if bias is None else _tensor(bias).detach().contiguous()

    def __call__(self, inputs):
        """`[..., K]` -> `[..., N]`, in the weights' dtype."""
        import torch

        inputs = _tensor(inputs)
        if inputs.dtype != self.weight.dtype:
            inputs = inputs.to(self.weight.dtype)
        return torch.ops.mkldnn._linear_pointwise(
            inputs.contiguous(), self.weight, self.bias, "none", [], ""
        )


def _tensor(x):
    return x.value if isinstance(x, keras.Variable) else x
