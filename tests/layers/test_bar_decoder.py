"""`BarDecoder`: teacher-forced `call` against NumPy and against its own
step-by-step path (`step`, `token_projection`, `conditioning_projection`)."""

import numpy as np
import pytest

from keras_musicvae.layers.bar_decoder import BarDecoder
from keras_musicvae.layers.heads import CategoricalHead
from keras_musicvae.layers.heads import GrooveHead
from keras_musicvae.layers.heads import NadeHead

from testing import run_serialization_test
from testing import tensor

from .numpy_reference import bar_decoder
from .numpy_reference import randomize_weights
from .numpy_reference import to_numpy

ATOL = 1e-5


def _decoder(head=None, units=(5, 4), conditioning_dim=3, control_depth=0, seed=0, **kwargs):
    head = head or CategoricalHead(6, units[-1])
    decoder = BarDecoder(list(units), head, conditioning_dim, control_depth, **kwargs)
    decoder.build()
    return randomize_weights(decoder, seed)


def _data(rng, decoder, batch=2, steps=5):
    inputs = rng.normal(size=(batch, steps, decoder.token_depth))
    conditioning = rng.normal(size=(batch, decoder.conditioning_dim))
    controls = (
        rng.normal(size=(batch, steps, decoder.control_depth)) if decoder.control_depth else None
    )
    return inputs, conditioning, controls


def test_weight_shapes_follow_magenta():
    """First layer kernel rows: [previous output, conditioning, control]."""
    decoder = _decoder(units=(5, 4), conditioning_dim=3, control_depth=2)
    assert decoder.input_dim == 6 + 3 + 2
    assert tuple(decoder.lstm.kernels[0].shape) == (11, 20)
    assert tuple(decoder.lstm.kernels[1].shape) == (5, 16)
    assert tuple(decoder.initial_state.kernel.shape) == (3, 18)
    assert tuple(decoder.head.kernel.shape) == (4, 6)


@pytest.mark.parametrize("control_depth", [0, 2])
def test_call_equals_numpy_reference(control_depth):
    rng = np.random.default_rng(0)
    decoder = _decoder(control_depth=control_depth)
    inputs, conditioning, controls = _data(rng, decoder)
    logits = decoder(
        tensor(inputs), tensor(conditioning), None if controls is None else tensor(controls)
    )
    np.testing.assert_allclose(
        to_numpy(logits), bar_decoder(decoder, inputs, conditioning, controls), atol=ATOL
    )


def test_nade_head_logits_are_the_nade_biases():
    rng = np.random.default_rng(1)
    decoder = _decoder(head=NadeHead(3, 4, 4))
    inputs, conditioning, _ = _data(rng, decoder)
    logits = to_numpy(decoder(tensor(inputs), tensor(conditioning)))
    assert logits.shape == (2, 5, 7)
    np.testing.assert_allclose(logits, bar_decoder(decoder, inputs, conditioning), atol=ATOL)


def test_call_equals_step_by_step_decoding():
    rng = np.random.default_rng(2)
    decoder = _decoder(control_depth=2)
    inputs, conditioning, controls = _data(rng, decoder)
    expected = to_numpy(decoder(tensor(inputs), tensor(conditioning), tensor(controls)))
    states = decoder.initial_state(tensor(conditioning))
    conditioning_gates = decoder.conditioning_projection(tensor(conditioning))
    for t in range(inputs.shape[1]):
        gates = (
            decoder.token_projection(tensor(inputs[:, t]))
            + conditioning_gates
            + decoder.control_projection(tensor(controls[:, t]))
        )
        logits, states = decoder.step(gates, states)
        np.testing.assert_allclose(to_numpy(logits), expected[:, t], atol=ATOL)


def test_projection_pieces_add_up_to_the_first_layer_projection():
    rng = np.random.default_rng(3)
    decoder = _decoder(control_depth=2)
    inputs, conditioning, controls = _data(rng, decoder, steps=1)
    full = np.concatenate([inputs[:, 0], conditioning, controls[:, 0]], -1)
    expected = to_numpy(decoder.lstm.input_projection(tensor(full), 0))
    pieces = (
        decoder.token_projection(tensor(inputs[:, 0]))
        + decoder.conditioning_projection(tensor(conditioning))
        + decoder.control_projection(tensor(controls[:, 0]))
    )
    np.testing.assert_allclose(to_numpy(pieces), expected, atol=ATOL)


def test_training_path_with_negligible_dropout_equals_inference_path():
    """Training with dropout concatenates the inputs instead of splitting the
    kernel; with a negligible rate both paths agree."""
    rng = np.random.default_rng(4)
    decoder = _decoder(control_depth=2, dropout_rate=1e-9)
    inputs, conditioning, controls = _data(rng, decoder)
    args = (tensor(inputs), tensor(conditioning), tensor(controls))
    np.testing.assert_allclose(
        to_numpy(decoder(*args, training=True)), to_numpy(decoder(*args, training=False)), atol=ATOL
    )


def test_dropout_changes_training_outputs_only():
    rng = np.random.default_rng(5)
    decoder = _decoder(head=GrooveHead(2, 4), dropout_rate=0.5)
    inputs, conditioning, _ = _data(rng, decoder)
    args = (tensor(inputs), tensor(conditioning))
    inference = to_numpy(decoder(*args))
    np.testing.assert_allclose(inference, bar_decoder(decoder, inputs, conditioning), atol=ATOL)
    assert not np.allclose(to_numpy(decoder(*args, training=True)), inference, atol=1e-3)


def test_config_round_trip_gives_identical_outputs():
    rng = np.random.default_rng(6)
    decoder = _decoder(head=NadeHead(6, 3, 4, name="nade"), control_depth=2, name="bar")
    inputs, conditioning, controls = _data(rng, decoder)
    clone = run_serialization_test(decoder, (tensor(inputs), tensor(conditioning), tensor(controls)))
    assert isinstance(clone.head, NadeHead) and clone.control_depth == 2
