"""`torch_int8`: int8 step products, their cache, and `MusicVAE.decode_quantization`.

The int8 products round the weights (per output column) and each call's
activations to 8 bits, so they are compared with the float products within a
tolerance relative to the outputs' size, and a model's int8 logits with its
float logits; where int8 cannot run (TensorFlow, JAX) the setting is refused
with a message that says what to do instead.
"""

import keras
import numpy as np
import pytest
from keras import ops

from keras_musicvae.layers import torch_int8
from keras_musicvae.layers import torch_linear
from keras_musicvae.layers.step_projection import StepProjection

from testing import tensor
from testing import tiny_music_vae

ON_TORCH = keras.backend.backend() == "torch"
needs_torch = pytest.mark.skipif(not ON_TORCH, reason="int8 step products are the torch backend's path only")


def _arrays(seed=0, rows=8, depth=64, units=48):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(s).astype("float32") for s in ((rows, depth), (depth, units), (units,)))


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match=r"Unknown step quantization 'int4'; use one of \(None, 'int8'\)"):
        torch_int8.check_mode("int4")
    model = tiny_music_vae()
    with pytest.raises(ValueError, match="Unknown step quantization 'int4'"):
        model.decode_quantization = "int4"
    assert model.decode_quantization is None


def test_off_torch_int8_is_refused_with_what_to_do_instead():
    if ON_TORCH:
        pytest.skip("checked on TensorFlow and JAX")
    model = tiny_music_vae()
    with pytest.raises(ValueError) as error:
        model.decode_quantization = "int8"
    message = str(error.value)
    assert "decode_quantization='int8' cannot run here" in message
    assert "KERAS_BACKEND=torch" in message and keras.backend.backend() in message
    assert "export_tflite(..., quantization='int8')" in message
    assert model.decode_quantization is None
    model.decode_quantization = None  # turning it off is always allowed


def test_the_mode_holds_only_inside_its_block():
    assert torch_int8.current_mode() is None
    with torch_int8.int8_products():
        assert torch_int8.current_mode() == "int8"
        with torch_int8.int8_products(enabled=False):
            assert torch_int8.current_mode() is None
        assert torch_int8.current_mode() == "int8"
    assert torch_int8.current_mode() is None


def _assert_close_while_inputs_agree(tokens, logits, other_tokens, other_logits, relative=0.1):
    """Free-running logits of two decodes, compared up to (and including)
    each sequence's first step where their tokens differ: after it the two
    decodes read different inputs."""
    same = tokens.argmax(-1) == other_tokens.argmax(-1)  # [B, T]
    first_difference = np.where(same.all(-1), same.shape[1] - 1, np.argmin(same, axis=-1))
    scale = np.abs(other_logits).max()
    for b, last in enumerate(first_difference):
        np.testing.assert_allclose(logits[b, : last + 1], other_logits[b, : last + 1], atol=relative * scale)


@needs_torch
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_int8_products_are_the_float_products_up_to_8_bit_rounding(dtype):
    import torch

    inputs, kernel, bias = (ops.cast(tensor(x), dtype) for x in _arrays())
    with torch.no_grad():
        with torch_int8.int8_products():
            projection = StepProjection(kernel, bias)
        assert isinstance(projection._packed, torch_int8.Int8Projection)
        assert projection.is_packed  # the loops then use torch_cell's update
        quantized = projection(inputs)
        reference = ops.matmul(inputs, kernel) + bias
    assert quantized.dtype == reference.dtype
    assert not quantized.requires_grad
    quantized = ops.convert_to_numpy(ops.cast(quantized, "float32"))
    reference = ops.convert_to_numpy(ops.cast(reference, "float32"))
    error = np.abs(quantized - reference).max() / np.abs(reference).max()
    # 8-bit weights and activations over 64 products: about 1% of the range.
    assert 1e-4 < error < 0.03, error


@needs_torch
def test_int8_needs_its_block_and_no_autograd():
    import torch

    kernel = tensor(np.ones((4, 8)))
    with torch_int8.int8_products():
        assert StepProjection(kernel)._packed is None  # autograd on: training
    with torch.no_grad():
        assert isinstance(StepProjection(kernel)._packed, torch_linear.PackedProjection)


def _int8(kernel, bias=None):
    with torch_int8.int8_products():
        return torch_linear.pack(kernel, bias)


@needs_torch
def test_a_kernel_is_quantized_once_per_version():
    import torch

    _, kernel, bias = _arrays()
    variable = keras.Variable(kernel)
    inputs = tensor(np.eye(kernel.shape[0], dtype="float32")[:8])
    with torch.no_grad():
        first = _int8(variable.value)
        assert _int8(variable.value) is first
        assert _int8(variable.value, tensor(bias)) is not first  # a bias changes it
        variable.assign(kernel * 2.0)
        second = _int8(variable.value)
        assert second is not first
        np.testing.assert_allclose(
            ops.convert_to_numpy(second(inputs)), 2.0 * kernel[:8], atol=0.02 * np.abs(kernel).max() * 2
        )


@needs_torch
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_decode_with_int8_products_follows_the_float_model(dtype):
    model = tiny_music_vae(max_seq_len=16, dec_rnn_size=[32, 32], z_size=6, dtype=dtype)
    z = np.random.default_rng(3).standard_normal((4, 6)).astype("float32")
    tokens, logits = model.decode(z, temperature=0.0, return_logits=True)
    model.decode_quantization = "int8"
    assert model.decode_quantization == "int8"
    calls = []
    original = torch_int8.Int8Projection.__call__

    def counted(self, inputs):
        calls.append(1)
        return original(self, inputs)

    import unittest.mock

    with unittest.mock.patch.object(torch_int8.Int8Projection, "__call__", counted):
        int8_tokens, int8_logits = model.decode(z, temperature=0.0, return_logits=True)
    # Per step: the token rows, layer 0's recurrent kernel, layer 1's stacked
    # input and recurrent kernels, the head.
    assert len(calls) == 16 * 4
    _assert_close_while_inputs_agree(int8_tokens, int8_logits, tokens, logits)
    assert not np.array_equal(int8_logits, logits)  # the products did change

    # New weights reach the int8 copies (their cache follows the variables).
    other = tiny_music_vae(max_seq_len=16, dec_rnn_size=[32, 32], z_size=6, dtype=dtype)
    other_tokens, other_logits = other.decode(z, temperature=0.0, return_logits=True)
    model.set_weights(other.get_weights())
    reloaded_tokens, reloaded = model.decode(z, temperature=0.0, return_logits=True)
    _assert_close_while_inputs_agree(reloaded_tokens, reloaded, other_tokens, other_logits)
    assert np.abs(reloaded[:, 0] - int8_logits[:, 0]).max() > 0.1 * np.abs(other_logits[:, 0]).max()


@needs_torch
def test_hierarchical_decode_with_int8_products():
    model = tiny_music_vae(
        max_seq_len=8, decoder_level_lengths=[2, 4], dec_rnn_size=[16], z_size=6
    )
    z = np.random.default_rng(4).standard_normal((2, 6)).astype("float32")
    tokens, logits = model.decode(z, temperature=0.0, return_logits=True)
    model.decode_quantization = "int8"
    int8_tokens, int8_logits = model.decode(z, temperature=0.0, return_logits=True)
    assert int8_tokens.shape == (2, 8, model.output_depth)
    _assert_close_while_inputs_agree(int8_tokens, int8_logits, tokens, logits)
