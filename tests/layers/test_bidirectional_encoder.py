"""`BidirectionalEncoder` against a NumPy encoder with Magenta's
`reverse_sequence` rule for the backward direction."""

import numpy as np
import pytest
from keras import ops

from keras_musicvae.layers.bidirectional_encoder import BidirectionalEncoder

from testing import run_serialization_test

from .numpy_reference import bidirectional_encoder
from .numpy_reference import compiled
from .numpy_reference import encoder_weights
from .numpy_reference import lstm_layer
from .numpy_reference import randomize_weights
from .numpy_reference import to_numpy

ATOL = 1e-5


def _encoder(units=(4, 3), input_dim=5, seed=0, **kwargs):
    encoder = BidirectionalEncoder(list(units), input_dim, **kwargs)
    encoder.build()
    return randomize_weights(encoder, seed)


def _run(encoder, inputs, lengths=None, training=False):
    lengths = None if lengths is None else ops.convert_to_tensor(np.asarray(lengths, "int32"))
    inputs = ops.convert_to_tensor(inputs.astype("float32"))
    if training:  # dropout draws from the layer's seed generator: eager
        return to_numpy(encoder(inputs, lengths=lengths, training=True))
    return to_numpy(compiled(lambda x, n: encoder(x, lengths=n))(inputs, lengths))


def test_output_shape_and_weight_shapes():
    encoder = _encoder(units=(4, 3), input_dim=5)
    assert encoder.output_dim == 6
    shapes = [tuple(w.shape) for w in encoder.weights]
    # Layer 0 reads the input (5), layer 1 reads [fw, bw] of layer 0 (2 * 4).
    assert shapes == [
        (5, 16), (4, 16), (16,), (5, 16), (4, 16), (16,),
        (8, 12), (3, 12), (12,), (8, 12), (3, 12), (12,),
    ]
    out = _run(encoder, np.ones((2, 7, 5)))
    assert out.shape == (2, 6)


def test_equals_numpy_reference_with_lengths():
    rng = np.random.default_rng(1)
    encoder = _encoder()
    inputs = rng.normal(size=(3, 8, 5))
    lengths = np.array([8, 5, 1])
    expected = bidirectional_encoder(inputs, encoder_weights(encoder), lengths)
    np.testing.assert_allclose(_run(encoder, inputs, lengths), expected, atol=ATOL)


def test_no_lengths_means_full_length():
    rng = np.random.default_rng(2)
    encoder = _encoder(units=(4,))
    inputs = rng.normal(size=(2, 6, 5))
    np.testing.assert_allclose(
        _run(encoder, inputs), _run(encoder, inputs, [6, 6]), atol=ATOL
    )
    np.testing.assert_allclose(
        _run(encoder, inputs), bidirectional_encoder(inputs, encoder_weights(encoder)), atol=ATOL
    )


def test_padding_with_garbage_does_not_change_the_output():
    rng = np.random.default_rng(3)
    encoder = _encoder()
    inputs = rng.normal(size=(2, 6, 5))
    lengths = np.array([6, 4])
    short = _run(encoder, inputs, lengths)
    garbage = rng.normal(scale=10.0, size=(2, 9, 5))
    padded = np.concatenate([inputs, garbage], axis=1)
    padded[1, 4:6] = rng.normal(scale=10.0, size=(2, 5))  # garbage after length 4 too
    np.testing.assert_allclose(_run(encoder, padded, lengths), short, atol=ATOL)


def test_backward_direction_starts_at_the_last_valid_step():
    """One layer: the backward half is the final h of an LSTM over
    x[len-1], x[len-2], ..., x[0] (Magenta's reverse_sequence), not over the
    reversed padded sequence."""
    rng = np.random.default_rng(4)
    encoder = _encoder(units=(3,), input_dim=2)
    inputs = rng.normal(size=(1, 6, 2))
    length = 4
    out = _run(encoder, inputs, [length])
    weights = encoder_weights(encoder)[0]
    _, (h_bw, _) = lstm_layer(inputs[:, :length][:, ::-1], *weights["bw"])
    _, (h_fw, _) = lstm_layer(inputs[:, :length], *weights["fw"])
    np.testing.assert_allclose(out[:, 3:], h_bw, atol=ATOL)
    np.testing.assert_allclose(out[:, :3], h_fw, atol=ATOL)
    # Reversing the whole padded sequence would give something else.
    _, (h_wrong, _) = lstm_layer(inputs[:, ::-1], *weights["bw"])
    assert not np.allclose(out[:, 3:], h_wrong, atol=1e-3)


def test_second_layer_sees_backward_outputs_in_time_order():
    """Two layers: equals the NumPy reference, which re-reverses the
    backward outputs (within the length) before the next layer."""
    rng = np.random.default_rng(5)
    encoder = _encoder(units=(3, 2), input_dim=2)
    inputs = rng.normal(size=(2, 5, 2))
    lengths = np.array([3, 5])
    np.testing.assert_allclose(
        _run(encoder, inputs, lengths),
        bidirectional_encoder(inputs, encoder_weights(encoder), lengths),
        atol=ATOL,
    )


def test_dropout_only_in_training():
    rng = np.random.default_rng(6)
    encoder = _encoder(units=(4,), dropout_rate=0.5)
    inputs = rng.normal(size=(2, 5, 5))
    inference = _run(encoder, inputs, training=False)
    np.testing.assert_allclose(
        inference, bidirectional_encoder(inputs, encoder_weights(encoder)), atol=ATOL
    )
    assert not np.allclose(_run(encoder, inputs, training=True), inference, atol=1e-3)


def test_config_round_trip_gives_identical_outputs():
    rng = np.random.default_rng(7)
    encoder = _encoder(units=(4,), input_dim=3, dropout_rate=0.1, name="enc")
    config = encoder.get_config()
    assert (config["units"], config["input_dim"], config["dropout_rate"]) == ([4], 3, 0.1)
    clone = run_serialization_test(encoder)
    if not clone.built:
        clone.build()
    clone.set_weights(encoder.get_weights())
    inputs = rng.normal(size=(2, 4, 3))
    np.testing.assert_allclose(_run(clone, inputs, [4, 2]), _run(encoder, inputs, [4, 2]), atol=0)


@pytest.mark.parametrize("length", [1, 2])
def test_very_short_lengths(length):
    rng = np.random.default_rng(8)
    encoder = _encoder(units=(3,), input_dim=2)
    inputs = rng.normal(size=(1, 4, 2))
    np.testing.assert_allclose(
        _run(encoder, inputs, [length]),
        bidirectional_encoder(inputs, encoder_weights(encoder), [length]),
        atol=ATOL,
    )


def test_input_dim_comes_from_the_first_call_when_not_given():
    # Keras' build contract: no input_dim, the depth is read from the inputs.
    inputs = np.random.default_rng(0).normal(size=(2, 6, 5)).astype("float32")
    encoder = BidirectionalEncoder([4, 3])
    output = to_numpy(encoder(ops.convert_to_tensor(inputs)))
    assert encoder.input_dim == 5 and output.shape == (2, 6)
    # The same weights in a layer given input_dim compute the same output.
    explicit = _encoder(units=(4, 3), input_dim=5)
    explicit.set_weights(encoder.get_weights())
    np.testing.assert_allclose(_run(explicit, inputs), output, atol=ATOL)
    assert BidirectionalEncoder.from_config(encoder.get_config()).input_dim == 5


def test_a_build_shape_that_contradicts_input_dim_is_refused():
    with pytest.raises(ValueError, match=r"made for inputs of depth 5.*depth 7"):
        BidirectionalEncoder([4], 5, name="enc").build((None, None, 7))
    with pytest.raises(ValueError, match="input_dim="):
        BidirectionalEncoder([4]).build()
