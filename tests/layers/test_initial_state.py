"""`InitialStateDense`: tanh(Dense) split in Magenta's [c_0, h_0, c_1, h_1] layout."""

import keras
import numpy as np
from keras import ops

from keras_musicvae.layers.initial_state import InitialStateDense

from testing import run_serialization_test

from .numpy_reference import randomize_weights
from .numpy_reference import to_numpy


def _layer(units=(3, 2), input_dim=4, seed=0):
    layer = InitialStateDense(list(units))
    layer.build((None, input_dim))
    return randomize_weights(layer, seed)


def test_states_follow_magenta_column_layout():
    rng = np.random.default_rng(0)
    layer = _layer()
    conditioning = rng.normal(size=(2, 4))
    states = layer(ops.convert_to_tensor(conditioning.astype("float32")))
    flat = np.tanh(conditioning @ to_numpy(layer.kernel) + to_numpy(layer.bias))
    # Columns: c_0 (3), h_0 (3), c_1 (2), h_1 (2); states are (h, c) pairs.
    assert len(states) == 2
    (h0, c0), (h1, c1) = [(to_numpy(h), to_numpy(c)) for h, c in states]
    np.testing.assert_allclose(c0, flat[:, 0:3], atol=1e-6)
    np.testing.assert_allclose(h0, flat[:, 3:6], atol=1e-6)
    np.testing.assert_allclose(c1, flat[:, 6:8], atol=1e-6)
    np.testing.assert_allclose(h1, flat[:, 8:10], atol=1e-6)


def test_weight_shapes_and_initialisation():
    keras.utils.set_random_seed(1)
    layer = InitialStateDense([64, 32])
    layer.build((None, 128))
    assert tuple(layer.kernel.shape) == (128, 192) and tuple(layer.bias.shape) == (192,)
    kernel = to_numpy(layer.kernel)
    # Magenta initialises this kernel with stddev 0.001.
    assert 0.0008 < kernel.std() < 0.0012 and abs(kernel.mean()) < 1e-4
    np.testing.assert_array_equal(to_numpy(layer.bias), 0.0)


def test_values_are_in_tanh_range():
    layer = _layer(seed=2)
    states = layer(ops.convert_to_tensor(np.full((1, 4), 100.0, "float32")))
    for h, c in states:
        assert np.all(np.abs(to_numpy(h)) <= 1.0) and np.all(np.abs(to_numpy(c)) <= 1.0)


def test_config_round_trip():
    layer = InitialStateDense([3, 2], name="init")
    clone = run_serialization_test(layer)
    assert clone.units == [3, 2] and clone.name == "init"
