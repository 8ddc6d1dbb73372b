"""PyTorch's own LSTM for the teacher-forced recurrences (backend-specific module).

On the torch backend, Keras runs `ops.scan` as a Python loop: every time step
of every recurrence is a dozen eager operations, and training a small model
took seconds per step. Where the whole input sequence is known in advance
(the encoders, and the decoders under teacher forcing), the recurrence is
handed here to `torch.nn.LSTM`, which runs the time loop in C++ on the CPU
and as one cuDNN kernel on an NVIDIA GPU, with its own backward pass. The
step-by-step decoders (sampling, scheduled sampling) keep the generic loop.

The numbers are those of the generic path (`lstm_recurrence.py`): PyTorch's
gate order (input, forget, cell, output) is the layers' own, the layers'
`[input_dim, 4H]` kernels are PyTorch's `weight_ih` transposed, and the
bias goes in `bias_ih` (with a zero `bias_hh`). Sequence lengths are given
as packed sequences, which is exactly the encoders' rule: the forward
direction stops at the last valid step, the backward one starts there, and
outputs past a length are zero.

The path is taken (`is_available`) on the torch backend, in float32 (the
generic path keeps cell states in float32 under half-precision policies,
which PyTorch's kernel does not), when no input dropout is drawn (the
layers drop out each direction's input independently at every step), and
unless the environment sets `KERAS_MUSICVAE_TORCH_LSTM=0` (or a test turns
it off with `disabled()`), which runs the generic loop instead.
"""

import functools

import keras

from keras_musicvae.utils.path_switch import PathSwitch

ENVIRONMENT_VARIABLE = "KERAS_MUSICVAE_TORCH_LSTM"
_SWITCH = PathSwitch(ENVIRONMENT_VARIABLE)


def is_available(compute_dtype, training=False, dropout_rate=0.0):
    """Whether a teacher-forced recurrence of a layer runs on PyTorch's LSTM.

    Args:
        compute_dtype: the layer's compute dtype.
        training: whether the call is in training mode.
        dropout_rate: the layer's input dropout (drawn only in training).
    """
    if not fast_paths_enabled():
        return False
    if keras.backend.standardize_dtype(compute_dtype) != "float32":
        return False
    return not (training and dropout_rate > 0)


def fast_paths_enabled():
    """Whether PyTorch's own kernels may replace the generic loops: on the
    torch backend, unless `KERAS_MUSICVAE_TORCH_LSTM=0` or `disabled()`
    says otherwise (this switch also governs `torch_linear.py`)."""
    return keras.backend.backend() == "torch" and _SWITCH.is_on()


#: Within the block, every recurrence and step projection takes the generic
#: path (for comparisons).
disabled = _SWITCH.disabled


@functools.lru_cache(maxsize=None)
def _module(input_size, hidden_size, bidirectional):
    """A weightless `torch.nn.LSTM` (on the meta device): the weights come with each call."""
    import torch

    return torch.nn.LSTM(
        input_size, hidden_size, batch_first=True, bidirectional=bidirectional, device="meta"
    )


def run(inputs, weights, initial_states=None, lengths=None):
    """One LSTM layer (one or two directions) over whole sequences.

    Args:
        inputs: `[B, T, D]` float32 tensor.
        weights: one `(kernel [D, 4H], recurrent_kernel [H, 4H], bias [4H])`
            triple per direction (forward, then backward): the layer's own
            variables or tensors.
        initial_states: None (zeros), or one `(h, c)` pair (`[B, H]` each) per
            direction.
        lengths: None (every sequence is full), or int `[B]`; lengths of 0
            give zero outputs and zero final states.

    Returns:
        `(outputs, final_states)`: `[B, T, directions * H]` (the directions
        concatenated, each output at its own time step) and one final
        `(h, c)` pair per direction.
    """
    import torch
    from torch.nn.utils import rnn

    bidirectional = len(weights) == 2
    kernel = weights[0][0]
    units = int(weights[0][1].shape[0])
    module = _module(int(kernel.shape[0]), units, bidirectional)
    params = {}
    for (kernel, recurrent_kernel, bias), suffix in zip(weights, ("", "_reverse")):
        params[f"weight_ih_l0{suffix}"] = _torch_layout(kernel)
        params[f"weight_hh_l0{suffix}"] = _torch_layout(recurrent_kernel)
        params[f"bias_ih_l0{suffix}"] = _tensor(bias)
        params[f"bias_hh_l0{suffix}"] = torch.zeros_like(params[f"bias_ih_l0{suffix}"])
    inputs = _tensor(inputs)
    args = [inputs]
    if initial_states is not None:
        h0 = torch.stack([_tensor(h) for h, _ in initial_states])
        c0 = torch.stack([_tensor(c) for _, c in initial_states])
        args.append((h0, c0))
    if lengths is None:
        outputs, (h_n, c_n) = torch.func.functional_call(module, params, tuple(args))
    else:
        lengths = _tensor(lengths).to(torch.int64)
        # A packed sequence needs lengths of at least 1; zero lengths are
        # read as 1 here and their results set to zero below.
        packed = rnn.pack_padded_sequence(
            inputs, lengths.clamp(min=1).cpu(), batch_first=True, enforce_sorted=False
        )
        outputs, (h_n, c_n) = torch.func.functional_call(module, params, (packed, *args[1:]))
        outputs, _ = rnn.pad_packed_sequence(outputs, batch_first=True, total_length=inputs.shape[1])
        steps = torch.arange(inputs.shape[1], device=inputs.device)
        outputs = outputs * (steps[None, :] < lengths[:, None]).unsqueeze(-1).to(outputs.dtype)
        nonempty = (lengths > 0).to(h_n.dtype)[None, :, None]
        h_n, c_n = h_n * nonempty, c_n * nonempty
    return outputs, [(h_n[k], c_n[k]) for k in range(len(weights))]


#: Largest weight matrix whose PyTorch-layout copy `_torch_layout` keeps
#: between calls: 16 MiB holds every recurrence of the 2-bar models (the
#: largest, a 512-unit encoder direction's input kernel, is 4.9 MB in
#: float32) and none of the 16-bar models' 2048-unit ones (70 MB).
KEPT_COPY_BYTES = 16 * 2**20


def _torch_layout(kernel):
    """`kernel [K, 4H]` as PyTorch's `[4H, K]` weight.

    PyTorch's CPU LSTM (oneDNN) copies a transposed view into a contiguous
    matrix at every call: for 8 cat_mel_2bar_small sequences that copy was a
    third of `encode` (3.7 of 12 ms, profiled). With autograd off (the
    inference methods) the contiguous copy is made once per version of the
    weights and kept on the variable (`torch_linear.cached`) where it is
    small (`KEPT_COPY_BYTES`); the 16-bar models' kernels, whose recurrences
    take seconds, are not doubled in memory for it. With autograd on
    (training) the view is passed, as its gradient needs.
    """
    import torch

    from keras_musicvae.layers import torch_linear

    tensor = _tensor(kernel)
    if torch.is_grad_enabled() or tensor.numel() * tensor.element_size() > KEPT_COPY_BYTES:
        return tensor.t()
    return torch_linear.cached(tensor, "lstm_weight", None, lambda: tensor.t().contiguous())


def _tensor(x):
    """A torch tensor of a Keras variable or tensor (variables keep their autograd)."""
    return x.value if isinstance(x, keras.Variable) else x
