"""`torch_lstm`: PyTorch's own LSTM gives the generic loop's numbers and gradients.

The path selection itself is what runs here: each layer is called twice, the
second time inside `torch_lstm.disabled()` (the generic `ops.scan` loop). On
a GPU the same calls run cuDNN's kernel; here, PyTorch's CPU loop.
"""

import contextlib

import keras
import pytest
from keras import ops

from keras_musicvae.layers import torch_lstm

from testing import assert_same_values_and_gradients

from .fused_lstm_cases import CASES

ON_TORCH = keras.backend.backend() == "torch"
needs_torch = pytest.mark.skipif(not ON_TORCH, reason="PyTorch's LSTM is the torch backend's path only")


def test_the_path_is_taken_only_where_it_gives_the_same_numbers(monkeypatch):
    assert torch_lstm.is_available("float32") == ON_TORCH
    assert not torch_lstm.is_available("bfloat16")  # cell states stay float32 in the generic loop
    assert not torch_lstm.is_available("float32", training=True, dropout_rate=0.1)  # per-step dropout
    assert torch_lstm.is_available("float32", training=True, dropout_rate=0.0) == ON_TORCH
    with torch_lstm.disabled():
        assert not torch_lstm.is_available("float32")
    monkeypatch.setenv(torch_lstm.ENVIRONMENT_VARIABLE, "0")
    assert not torch_lstm.is_available("float32")


def _values_and_gradients(layer, run):
    """The layer's output and the gradients of a weighted sum of it, generic then fused."""
    import torch

    calls = []
    original = torch_lstm.run

    def counted(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    results = []
    for context in (torch_lstm.disabled, contextlib.nullcontext):
        with context(), _patched(torch_lstm, "run", counted):
            output = run()
        assert bool(calls) == (context is contextlib.nullcontext)  # PyTorch's LSTM ran in the second call only
        weights = torch.linspace(-1.0, 1.0, output.numel(), device=output.device).reshape(output.shape)
        gradients = torch.autograd.grad((output * weights).sum(), [w.value for w in layer.trainable_weights])
        results.append((ops.convert_to_numpy(output), [g.cpu().numpy() for g in gradients]))
    return results


@contextlib.contextmanager
def _patched(module, name, value):
    saved = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, saved)


@needs_torch
@pytest.mark.parametrize("case", CASES, ids=lambda case: case.__name__)
def test_the_fused_kernel_gives_the_generic_numbers(case):
    layer, runs = case()
    for run in runs:
        assert_same_values_and_gradients(_values_and_gradients(layer, run))


@needs_torch
def test_inference_keeps_small_kernels_in_torch_layout_until_they_change():
    """Autograd off: the `[4H, K]` copy of a small kernel is made once per version of the weights."""
    import numpy as np
    import torch

    from keras_musicvae.layers.lstm import LSTMStack

    layer = LSTMStack([8], name="lstm")
    layer.build((None, None, 5))
    inputs = ops.convert_to_tensor(np.random.default_rng(0).normal(size=(3, 6, 5)).astype("float32"))
    kernel = layer.kernels[0]
    with torch.no_grad():
        first = torch_lstm._torch_layout(kernel)
        assert first.is_contiguous() and torch_lstm._torch_layout(kernel) is first  # kept
        outputs, _ = layer(inputs)
        kernel.assign(kernel.numpy() * 2.0)  # a new version of the weights
        again = torch_lstm._torch_layout(kernel)
        assert again is not first
        np.testing.assert_array_equal(again.cpu().numpy(), kernel.numpy().T)
        changed, _ = layer(inputs)
        with torch_lstm.disabled():
            generic, _ = layer(inputs)
    np.testing.assert_allclose(ops.convert_to_numpy(changed), ops.convert_to_numpy(generic), atol=1e-6)
    assert np.abs(ops.convert_to_numpy(changed) - ops.convert_to_numpy(outputs)).max() > 1e-3
    # Autograd on: the view itself (its gradient reaches the variable), and no copy kept for large kernels.
    assert not torch_lstm._torch_layout(kernel).is_contiguous()
    large = torch.zeros(torch_lstm.KEPT_COPY_BYTES // 4 // 64 + 1, 64)
    with torch.no_grad():
        assert torch_lstm._torch_layout(large) is not torch_lstm._torch_layout(large)
