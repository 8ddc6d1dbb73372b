"""`lstm_gates`, `lstm_recurrence` and `LSTMStack` against a NumPy LSTM."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_musicvae.layers.lstm import LSTMStack
from keras_musicvae.layers.lstm import lstm_gates
from keras_musicvae.layers.lstm import lstm_recurrence
from keras_musicvae.layers.lstm import unit_forget_bias

from testing import run_serialization_test

from .numpy_reference import lstm_cell
from .numpy_reference import lstm_layer
from .numpy_reference import lstm_stack
from .numpy_reference import randomize_weights
from .numpy_reference import sigmoid
from .numpy_reference import stack_weights
from .numpy_reference import to_numpy

ATOL = 1e-5


def _f32(x):
    return ops.convert_to_tensor(np.asarray(x, "float32"))


def test_lstm_gates_order_is_input_forget_cell_output():
    rng = np.random.default_rng(0)
    units = 3
    gates = rng.normal(size=(2, 4 * units))
    c_prev = rng.normal(size=(2, units))
    h, c = lstm_gates(_f32(gates), _f32(c_prev))
    i, f, g, o = np.split(gates, 4, axis=-1)
    c_ref = sigmoid(f) * c_prev + sigmoid(i) * np.tanh(g)
    np.testing.assert_allclose(to_numpy(c), c_ref, atol=ATOL)
    np.testing.assert_allclose(to_numpy(h), sigmoid(o) * np.tanh(c_ref), atol=ATOL)


def test_lstm_recurrence_equals_numpy_lstm_for_two_recurrences():
    rng = np.random.default_rng(1)
    batch, steps = 3, 7
    sizes = [4, 6]
    projections = [rng.normal(size=(batch, steps, 4 * h)) for h in sizes]
    recurrent = [rng.normal(scale=0.5, size=(h, 4 * h)) for h in sizes]
    initial = [(rng.normal(size=(batch, h)), rng.normal(size=(batch, h))) for h in sizes]
    outputs, finals = lstm_recurrence(
        [_f32(p) for p in projections],
        [_f32(r) for r in recurrent],
        [(_f32(h), _f32(c)) for h, c in initial],
    )
    for p, r, (h0, c0), out, (h_fin, c_fin), units in zip(
        projections, recurrent, initial, outputs, finals, sizes
    ):
        h, c = h0, c0
        reference = []
        for t in range(steps):
            h, c = lstm_cell(p[:, t], h, c, r)
            reference.append(h)
        assert tuple(out.shape) == (batch, steps, units)
        np.testing.assert_allclose(to_numpy(out), np.stack(reference, 1), atol=ATOL)
        np.testing.assert_allclose(to_numpy(h_fin), h, atol=ATOL)
        np.testing.assert_allclose(to_numpy(c_fin), c, atol=ATOL)


def test_lstm_recurrence_mask_freezes_state_and_zeroes_outputs():
    rng = np.random.default_rng(2)
    batch, steps, units = 3, 6, 5
    projection = rng.normal(size=(batch, steps, 4 * units))
    recurrent = rng.normal(scale=0.5, size=(units, 4 * units))
    lengths = np.array([6, 3, 1])
    mask = np.arange(steps)[None, :] < lengths[:, None]
    zeros = _f32(np.zeros((batch, units)))
    (out,), ((h, c),) = lstm_recurrence(
        [_f32(projection)], [_f32(recurrent)], [(zeros, zeros)], masks=[ops.convert_to_tensor(mask)]
    )
    out = to_numpy(out)
    # Reference: run each row only over its valid steps.
    for b in range(batch):
        hb, cb = np.zeros((1, units)), np.zeros((1, units))
        for t in range(lengths[b]):
            hb, cb = lstm_cell(projection[b : b + 1, t], hb, cb, recurrent)
            np.testing.assert_allclose(out[b, t], hb[0], atol=ATOL)
        np.testing.assert_array_equal(out[b, lengths[b] :], 0.0)
        np.testing.assert_allclose(to_numpy(h)[b], hb[0], atol=ATOL)
        np.testing.assert_allclose(to_numpy(c)[b], cb[0], atol=ATOL)


def test_lstm_recurrence_mask_false_in_the_middle_carries_the_state():
    rng = np.random.default_rng(3)
    units = 4
    projection = rng.normal(size=(1, 3, 4 * units))
    recurrent = rng.normal(scale=0.5, size=(units, 4 * units))
    zeros = _f32(np.zeros((1, units)))
    (out,), _ = lstm_recurrence(
        [_f32(projection)],
        [_f32(recurrent)],
        [(zeros, zeros)],
        masks=[ops.convert_to_tensor(np.array([[True, False, True]]))],
    )
    h, c = lstm_cell(projection[:, 0], np.zeros((1, units)), np.zeros((1, units)), recurrent)
    h2, _ = lstm_cell(projection[:, 2], h, c, recurrent)  # step 1 skipped
    np.testing.assert_allclose(to_numpy(out)[0, 1], 0.0)
    np.testing.assert_allclose(to_numpy(out)[0, 2], h2[0], atol=ATOL)


def _stack(units=(5, 4), input_dim=3, seed=0, **kwargs):
    lstm = LSTMStack(list(units), **kwargs)
    lstm.build((None, None, input_dim))
    return randomize_weights(lstm, seed)


def test_stack_weights_have_keras_layout():
    lstm = LSTMStack([5, 4])
    lstm.build((None, None, 3))
    shapes = [tuple(w.shape) for w in lstm.weights]
    assert shapes == [(3, 20), (5, 20), (20,), (5, 16), (4, 16), (16,)]
    # Forget-gate block of the bias starts at 1 (Keras' unit_forget_bias).
    np.testing.assert_array_equal(to_numpy(lstm.biases[0]), np.repeat([0, 1, 0, 0], 5))
    np.testing.assert_array_equal(
        to_numpy(unit_forget_bias(2)((8,), "float32")), [0, 0, 1, 1, 0, 0, 0, 0]
    )


def test_stack_call_equals_numpy_stacked_lstm_with_initial_state():
    rng = np.random.default_rng(4)
    lstm = _stack()
    inputs = rng.normal(size=(2, 6, 3))
    initial = [(rng.normal(size=(2, u)), rng.normal(size=(2, u))) for u in lstm.units]
    out, finals = lstm(_f32(inputs), initial_state=[(_f32(h), _f32(c)) for h, c in initial])
    ref_out, ref_finals = lstm_stack(inputs, stack_weights(lstm), initial)
    np.testing.assert_allclose(to_numpy(out), ref_out, atol=ATOL)
    for (h, c), (h_ref, c_ref) in zip(finals, ref_finals):
        np.testing.assert_allclose(to_numpy(h), h_ref, atol=ATOL)
        np.testing.assert_allclose(to_numpy(c), c_ref, atol=ATOL)


def test_stack_call_without_initial_state_starts_from_zeros():
    rng = np.random.default_rng(5)
    lstm = _stack()
    inputs = rng.normal(size=(2, 4, 3))
    out, _ = lstm(_f32(inputs))
    np.testing.assert_allclose(to_numpy(out), lstm_stack(inputs, stack_weights(lstm))[0], atol=ATOL)


def test_stack_mask_freezes_every_layer():
    rng = np.random.default_rng(6)
    lstm = _stack()
    inputs = rng.normal(size=(2, 5, 3))
    lengths = np.array([5, 2])
    mask = ops.convert_to_tensor(np.arange(5)[None] < lengths[:, None])
    _, finals = lstm(_f32(inputs), mask=mask)
    # Reference: layer by layer, each row up to its length.
    x = inputs
    for k, (kernel, recurrent, bias) in enumerate(stack_weights(lstm)):
        x, (h, c) = lstm_layer(x, kernel, recurrent, bias, lengths=lengths)
        np.testing.assert_allclose(to_numpy(finals[k][0]), h, atol=ATOL)
        np.testing.assert_allclose(to_numpy(finals[k][1]), c, atol=ATOL)


def test_stack_step_equals_one_step_of_call():
    rng = np.random.default_rng(7)
    lstm = _stack()
    inputs = _f32(rng.normal(size=(2, 5, 3)))
    initial = [(_f32(rng.normal(size=(2, u))), _f32(rng.normal(size=(2, u)))) for u in lstm.units]
    out, finals = lstm(inputs, initial_state=initial)
    states = initial
    for t in range(5):
        h_top, states = lstm.step(lstm.input_projection(inputs[:, t], 0), states)
        np.testing.assert_allclose(to_numpy(h_top), to_numpy(out[:, t]), atol=ATOL)
    for (h, c), (h_ref, c_ref) in zip(states, finals):
        np.testing.assert_allclose(to_numpy(h), to_numpy(h_ref), atol=ATOL)
        np.testing.assert_allclose(to_numpy(c), to_numpy(c_ref), atol=ATOL)


def test_first_layer_projection_replaces_the_input_projection():
    rng = np.random.default_rng(8)
    lstm = _stack()
    inputs = _f32(rng.normal(size=(2, 4, 3)))
    expected, _ = lstm(inputs)
    got, _ = lstm(inputs * 0.0, first_layer_projection=lstm.input_projection(inputs, 0))
    np.testing.assert_allclose(to_numpy(got), to_numpy(expected), atol=ATOL)


def test_dropout_only_in_training():
    rng = np.random.default_rng(9)
    lstm = _stack(units=(5,), dropout_rate=0.5)
    inputs = _f32(rng.normal(size=(2, 4, 3)))
    inference, _ = lstm(inputs, training=False)
    np.testing.assert_allclose(
        to_numpy(inference), lstm_stack(to_numpy(inputs), stack_weights(lstm))[0], atol=ATOL
    )
    trained, _ = lstm(inputs, training=True)
    assert not np.allclose(to_numpy(trained), to_numpy(inference), atol=1e-3)
    no_dropout = _stack(units=(5,), dropout_rate=0.0)
    a, _ = no_dropout(inputs, training=True)
    b, _ = no_dropout(inputs, training=False)
    np.testing.assert_allclose(to_numpy(a), to_numpy(b), atol=ATOL)


def test_zero_state_shapes():
    lstm = _stack(units=(5, 4))
    states = lstm.zero_state(3)
    assert [(tuple(h.shape), tuple(c.shape)) for h, c in states] == [((3, 5), (3, 5)), ((3, 4), (3, 4))]
    assert all(np.all(to_numpy(x) == 0) for s in states for x in s)


def test_config_round_trip():
    lstm = LSTMStack([5, 4], dropout_rate=0.25, name="stack")
    config = lstm.get_config()
    assert config["units"] == [5, 4] and config["dropout_rate"] == 0.25
    clone = LSTMStack.from_config(config)
    assert clone.units == [5, 4] and clone.dropout_rate == 0.25 and clone.name == "stack"
    restored = run_serialization_test(lstm)
    assert isinstance(restored, LSTMStack) and restored.units == [5, 4]


@pytest.mark.parametrize("units", [[1], [2, 3]])
def test_stack_output_shape(units):
    lstm = _stack(units=units)
    out, finals = lstm(_f32(np.ones((2, 3, 3))))
    assert tuple(out.shape) == (2, 3, units[-1])
    assert len(finals) == len(units)


@pytest.mark.parametrize("input_dim,units", [(32, 64), (300, 16)])
def test_magenta_initializer_is_glorot_over_the_concatenated_kernel(input_dim, units):
    """Magenta's `LSTMBlockCell` draws one Glorot-uniform `[input + units,
    4 units]` kernel: both Keras kernels are its row blocks, so every entry
    is uniform in +-sqrt(6 / (input + 5 units)), variance 2 / (input + 5 units)."""
    keras.utils.set_random_seed(0)
    stack = LSTMStack([units, units], kernel_initializer="magenta")
    stack.build((None, None, input_dim))
    for k, layer_input in enumerate([input_dim, units]):
        kernel = to_numpy(stack.kernels[k])
        recurrent = to_numpy(stack.recurrent_kernels[k])
        concatenated = np.concatenate([kernel, recurrent], axis=0)
        assert concatenated.shape == (layer_input + units, 4 * units)
        fan_sum = layer_input + units + 4 * units
        limit = np.sqrt(6.0 / fan_sum)
        assert np.abs(concatenated).max() <= limit
        assert np.abs(concatenated).max() > 0.98 * limit
        # Sample variance of N uniform draws: relative standard error sqrt(0.8 / N).
        tolerance = 5 * np.sqrt(0.8 / concatenated.size)
        np.testing.assert_allclose(concatenated.var(), 2.0 / fan_sum, rtol=tolerance)
        # Both blocks have that variance: the recurrent kernel is not orthogonal.
        np.testing.assert_allclose(recurrent.var(), 2.0 / fan_sum, rtol=3 * tolerance)
        np.testing.assert_array_equal(
            to_numpy(stack.biases[k]), np.repeat([0.0, 1.0, 0.0, 0.0], units)
        )


def test_keras_initializer_is_the_default():
    keras.utils.set_random_seed(0)
    stack = LSTMStack([8])
    stack.build((None, None, 5))
    assert stack.kernel_initializer == "keras"
    recurrent = to_numpy(stack.recurrent_kernels[0])
    # Keras' orthogonal recurrent kernel: orthonormal rows.
    np.testing.assert_allclose(recurrent @ recurrent.T, np.eye(8), atol=1e-5)


def test_unknown_initializer_is_rejected():
    with pytest.raises(ValueError, match="kernel_initializer 'glorot'.*keras.*magenta"):
        LSTMStack([4], kernel_initializer="glorot")


def test_dropout_masks_scale_kept_inputs():
    stack = LSTMStack([6, 4], dropout_rate=0.25)
    stack.build((None, None, 3))
    masks = stack.dropout_masks(50, 8, 3)
    assert [tuple(m.shape) for m in masks] == [(50, 8, 3), (50, 8, 6)]
    values = np.concatenate([to_numpy(m).ravel() for m in masks])
    assert set(np.round(np.unique(values), 5)) <= {0.0, round(1 / 0.75, 5)}
    assert 0.15 < np.mean(values == 0) < 0.35
    assert LSTMStack([4]).dropout_masks(5, 2, 3) is None


def test_step_applies_dropout_masks_to_upper_layer_inputs():
    rng = np.random.default_rng(3)
    stack = randomize_weights(_built_stack([5, 4], 3), seed=1)
    weights = stack_weights(stack)
    x = rng.normal(size=(2, 3))
    states = [(rng.normal(size=(2, u)), rng.normal(size=(2, u))) for u in (5, 4)]
    masks = [None, rng.integers(0, 2, size=(2, 5)) * 2.0]
    projection = x @ weights[0][0] + weights[0][2]
    h_top, _ = stack.step(
        _f32(projection),
        [(_f32(h), _f32(c)) for h, c in states],
        dropout_masks=[None, _f32(masks[1])],
    )
    h0, _ = lstm_cell(projection, *states[0], weights[0][1])
    h1, _ = lstm_cell((h0 * masks[1]) @ weights[1][0] + weights[1][2], *states[1], weights[1][1])
    np.testing.assert_allclose(to_numpy(h_top), h1, atol=ATOL)


def _built_stack(units, input_dim):
    stack = LSTMStack(units)
    stack.build((None, None, input_dim))
    return stack
