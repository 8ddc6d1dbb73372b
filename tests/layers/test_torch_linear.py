"""`torch_linear`: oneDNN's prepacked products give `keras.ops.matmul`'s numbers.

The path selection runs here as in sampling: under `torch.no_grad()` a
`StepProjection` packs its kernel, with autograd on (training) or inside
`torch_lstm.disabled()` it does not, and a model's `decode` gives the same
logits and greedy tokens either way.
"""

import keras
import numpy as np
import pytest
from keras import ops

from keras_musicvae.layers import torch_linear
from keras_musicvae.layers import torch_lstm
from keras_musicvae.layers.step_projection import StepProjection

from testing import tensor
from testing import tiny_music_vae

ON_TORCH = keras.backend.backend() == "torch"
needs_torch = pytest.mark.skipif(not ON_TORCH, reason="oneDNN's prepacked product is the torch backend's path only")


def _arrays(seed=0, rows=8, depth=24, units=40):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(s).astype("float32") for s in ((rows, depth), (depth, units), (units,)))


def test_off_torch_the_path_is_never_taken():
    if ON_TORCH:
        pytest.skip("checked on TensorFlow and JAX")
    assert not torch_linear.is_available(tensor(np.zeros((2, 3))))


@needs_torch
def test_the_path_is_taken_only_without_autograd_and_with_the_switch_on(monkeypatch):
    import torch

    kernel = tensor(np.zeros((4, 8)))
    assert not torch_linear.is_available(kernel)  # autograd on: training keeps keras.ops
    with torch.no_grad():
        assert torch_linear.is_available(kernel)
        assert torch_linear.is_available(ops.cast(kernel, "bfloat16"))
        assert not torch_linear.is_available(ops.cast(kernel, "float16"))
        with torch_lstm.disabled():
            assert not torch_linear.is_available(kernel)
        monkeypatch.setenv(torch_lstm.ENVIRONMENT_VARIABLE, "0")
        assert not torch_linear.is_available(kernel)


@needs_torch
def test_a_pytorch_without_the_op_falls_back_to_the_matrix_product(monkeypatch):
    import torch

    def refuse(*args, **kwargs):
        raise RuntimeError("no oneDNN reorder in this build")

    monkeypatch.setattr(torch_linear.PackedProjection, "__init__", refuse)
    inputs, kernel, bias = (tensor(x) for x in _arrays())
    with torch.no_grad():
        projection = StepProjection(kernel, bias)
        assert projection._packed is None
        np.testing.assert_allclose(
            ops.convert_to_numpy(projection(inputs)),
            ops.convert_to_numpy(ops.matmul(inputs, kernel) + bias),
            rtol=1e-6,
        )


@needs_torch
@pytest.mark.parametrize("dtype, tolerance", [("float32", 1e-5), ("bfloat16", 2e-2)])
def test_packed_products_match_the_matrix_product(dtype, tolerance):
    import torch

    inputs, kernel, bias = _arrays()
    inputs, kernel, bias = (ops.cast(tensor(x), dtype) for x in (inputs, kernel, bias))
    with torch.no_grad():
        projection = StepProjection(kernel, bias)
        assert projection._packed is not None
        packed = projection(inputs)
        with torch_lstm.disabled():
            generic = StepProjection(kernel, bias)(inputs)
    assert packed.dtype == generic.dtype
    assert not packed.requires_grad
    scale = float(ops.max(ops.abs(ops.cast(generic, "float32"))))
    np.testing.assert_allclose(
        ops.convert_to_numpy(ops.cast(packed, "float32")),
        ops.convert_to_numpy(ops.cast(generic, "float32")),
        atol=tolerance * scale,
    )


@needs_torch
def test_decode_gives_the_generic_loops_logits_and_tokens(monkeypatch):
    model = tiny_music_vae(max_seq_len=32, dec_rnn_size=[16, 16], z_size=6)
    z = np.random.default_rng(1).standard_normal((4, 6)).astype("float32")
    calls = []
    original = torch_linear.PackedProjection.__call__

    def counted(self, inputs):
        calls.append(1)
        return original(self, inputs)

    monkeypatch.setattr(torch_linear.PackedProjection, "__call__", counted)
    fast_tokens, fast_logits = model.decode(z, temperature=0.0, return_logits=True)
    # Per step: the token rows, layer 0's recurrent kernel, layer 1's stacked
    # input and recurrent kernels, the head.
    assert len(calls) == 32 * 4
    with torch_lstm.disabled():
        tokens, logits = model.decode(z, temperature=0.0, return_logits=True)
    assert len(calls) == 32 * 4
    np.testing.assert_allclose(fast_logits, logits, atol=1e-5)
    np.testing.assert_array_equal(fast_tokens, tokens)


@needs_torch
def test_prepared_weights_follow_new_weights():
    """The prepacked copies are kept between calls (`torch_linear.cached`)
    and made again when the variables change."""
    model = tiny_music_vae(max_seq_len=8, dec_rnn_size=[16, 16], z_size=6)
    other = tiny_music_vae(max_seq_len=8, dec_rnn_size=[16, 16], z_size=6)
    z = np.random.default_rng(2).standard_normal((3, 6)).astype("float32")
    model.decode(z, temperature=0.0)  # prepares (and keeps) the copies
    model.set_weights(other.get_weights())
    _, fast = model.decode(z, temperature=0.0, return_logits=True)
    _, expected = other.decode(z, temperature=0.0, return_logits=True)
    with torch_lstm.disabled():
        _, generic = model.decode(z, temperature=0.0, return_logits=True)
    np.testing.assert_allclose(fast, generic, atol=1e-5)
    np.testing.assert_allclose(fast, expected, atol=1e-5)
