"""`torch_lstm`: PyTorch's own LSTM gives the generic loop's numbers and gradients.

The path selection itself is what runs here: each layer is called twice, the
second time inside `torch_lstm.disabled()` (the generic `ops.scan` loop). On
a GPU the same calls run cuDNN's kernel; here, PyTorch's CPU loop.
"""

import contextlib

import keras
import numpy as np
import pytest
from keras import ops

from keras_musicvae.layers import torch_lstm
from keras_musicvae.layers.bar_decoder import BarDecoder
from keras_musicvae.layers.bidirectional_encoder import BidirectionalEncoder
from keras_musicvae.layers.heads import CategoricalHead
from keras_musicvae.layers.lstm import LSTMStack

from testing import assert_same_values_and_gradients
from testing import tensor

from .numpy_reference import randomize_weights

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
def test_bidirectional_encoder_with_lengths_including_zero():
    rng = np.random.default_rng(0)
    encoder = BidirectionalEncoder([5, 4], 3)
    encoder.build()
    randomize_weights(encoder, 1)
    inputs = tensor(rng.normal(size=(5, 7, 3)).astype("float32"))
    lengths = tensor(np.array([7, 3, 1, 0, 5], "int32"))
    assert_same_values_and_gradients(_values_and_gradients(encoder, lambda: encoder(inputs, lengths=lengths)))
    assert_same_values_and_gradients(_values_and_gradients(encoder, lambda: encoder(inputs)))


@needs_torch
def test_lstm_stack_with_an_initial_state():
    rng = np.random.default_rng(1)
    stack = LSTMStack([4, 3])
    stack.build((None, None, 6))
    randomize_weights(stack, 2)
    inputs = tensor(rng.normal(size=(2, 5, 6)).astype("float32"))
    state = [(tensor(rng.normal(size=(2, u)).astype("float32")),) * 2 for u in (4, 3)]
    assert_same_values_and_gradients(_values_and_gradients(stack, lambda: stack(inputs, initial_state=state)[0]))


@needs_torch
def test_bar_decoder_teacher_forcing_in_training():
    rng = np.random.default_rng(2)
    decoder = BarDecoder([4, 4], CategoricalHead(6, 4), conditioning_dim=3)
    decoder.build()
    randomize_weights(decoder, 3)
    tokens = tensor(np.eye(6, dtype="float32")[rng.integers(0, 6, (2, 5))])
    z = tensor(rng.normal(size=(2, 3)).astype("float32"))
    assert_same_values_and_gradients(_values_and_gradients(decoder, lambda: decoder(tokens, z, training=True)))
