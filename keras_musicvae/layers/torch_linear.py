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

Inside `torch_int8.int8_products()` (`MusicVAE.decode_quantization = "int8"`)
the prepared product is an int8 one instead (`torch_int8.py`). Either is
kept on the kernel until the weights change (`cached`).
"""

import keras

from keras_musicvae.layers import torch_int8
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
    """A prepared product of `kernel` (and `bias`) where the path is
    available (`is_available`), else None.

    Inside `torch_int8.int8_products()` it is an `Int8Projection` (weights
    quantized to int8), else a `PackedProjection` (oneDNN's layout). None
    also where PyTorch refuses to prepare the weights (a build without the
    operator).
    """
    if not is_available(kernel):
        return None
    kernel = _tensor(kernel)
    bias = None if bias is None else _tensor(bias)
    factory = _factory()
    try:
        return cached(kernel, factory, _version(bias), lambda: factory(kernel, bias))
    except (RuntimeError, AttributeError, NotImplementedError):
        return None


def pack_stacked(kernel, recurrent_kernel, bias):
    """A prepared `[x, h] @ [[kernel], [recurrent_kernel]] + bias`: an LSTM
    layer's input and recurrent products as one (`StackedProjection`, one
    call per step instead of two), where the path is available, else None.
    """
    if not is_available(kernel):
        return None
    kernel, recurrent_kernel, bias = _tensor(kernel), _tensor(recurrent_kernel), _tensor(bias)
    factory = _factory()

    def make():
        import torch

        return StackedProjection(factory(torch.cat([kernel, recurrent_kernel], 0), bias))

    try:
        return cached(kernel, StackedProjection, (factory, _version(recurrent_kernel), _version(bias)), make)
    except (RuntimeError, AttributeError, NotImplementedError):
        return None


def _factory():
    return torch_int8.Int8Projection if torch_int8.current_mode() == "int8" else PackedProjection


_CACHE_ATTRIBUTE = "_keras_musicvae_step_projections"


def cached(kernel, kind, key, make):
    """`make()`, made once per version of the weights and kept on `kernel`.

    Preparing the weights costs a share of every `decode` (reordering the
    16-bar trio's decoder weights for oneDNN: about 45 ms in bfloat16,
    quantizing them to int8: about 260 ms, against 550-850 ms for the
    decode; 1.7 ms of the 11 ms of a cat_mel_2bar_small one), so the
    prepared product is kept on the kernel tensor itself, a model variable
    (it goes when the tensor goes), and made again only when a tensor it was
    made from changed: PyTorch counts in-place writes in `_version`, so an
    optimizer step, `assign` or `set_weights` invalidate it. A kernel made
    for this call (a cast or a slice) is prepared every call. The peak
    memory of a `decode` is unchanged (the copies exist during it anyway);
    between calls the model holds them too.

    Args:
        kernel: the tensor the result is kept on (its version is part of
            the key).
        kind: the kind of product (one result of each kind is kept).
        key: hashable: what else the result was made from (`_version` of
            the other tensors, ...).
        make: builds the result.
    """
    full_key = (_version(kernel), tuple(kernel.shape), key)
    entries = getattr(kernel, _CACHE_ATTRIBUTE, None)
    if entries is None:
        entries = {}
        try:
            setattr(kernel, _CACHE_ATTRIBUTE, entries)
        except (AttributeError, RuntimeError):  # a tensor type that takes no attributes
            return make()
    entry = entries.get(kind)
    if entry is not None and entry[0] == full_key:
        return entry[1]
    result = make()
    entries[kind] = (full_key, result)
    return result


def _version(tensor):
    """What identifies a tensor's current contents (None for None)."""
    if tensor is None:
        return None
    return (id(tensor), tensor._version, tensor.data_ptr())


class StackedProjection:
    """`[x, h] @ stacked_kernel + bias` given `x` and `h` (see `pack_stacked`).

    Args:
        projection: a prepared product of the stacked `[K + H, N]` kernel.
    """

    def __init__(self, projection):
        self.projection = projection

    def __call__(self, inputs, hidden):
        import torch

        return self.projection(torch.cat([_tensor(inputs), _tensor(hidden)], -1))


class PackedProjection:
    """`x @ kernel + bias` with the kernel reordered once for oneDNN.

    Args:
        kernel: `[K, N]` torch tensor (float32 or bfloat16, CPU).
        bias: `[N]` tensor of the same dtype, or None.
    """

    def __init__(self, kernel, bias=None):
        import torch

        self.output_dim = int(kernel.shape[1])
        # oneDNN takes the weights as [N, K] (torch.nn.Linear's layout).
        self.weight = torch.ops.mkldnn._reorder_linear_weight(kernel.detach().t().contiguous())
        self.bias = None if bias is None else bias.detach().contiguous()

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
