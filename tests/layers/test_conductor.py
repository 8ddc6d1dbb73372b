"""`Conductor`: z -> initial state -> LSTM on zero inputs -> segment embeddings."""

import numpy as np
from keras import ops

from keras_musicvae.layers.conductor import Conductor

from testing import run_serialization_test

from .numpy_reference import conductor
from .numpy_reference import randomize_weights
from .numpy_reference import to_numpy


def _conductor(units=(4, 3), num_segments=5, z_size=2, seed=0, **kwargs):
    layer = Conductor(list(units), num_segments, z_size, **kwargs)
    layer.build()
    return randomize_weights(layer, seed)


def test_embeddings_equal_numpy_reference():
    rng = np.random.default_rng(0)
    layer = _conductor()
    z = rng.normal(size=(2, 2))
    embeddings = to_numpy(layer(ops.convert_to_tensor(z.astype("float32"))))
    assert embeddings.shape == (2, 5, 3)
    np.testing.assert_allclose(embeddings, conductor(layer, z), atol=1e-5)


def test_weight_shapes_match_magenta():
    """Magenta: initial_state [Z, 2 sum(D)], cell_k kernel [in_k + D_k, 4 D_k] with in_0 = 1."""
    layer = _conductor(units=(4, 3), z_size=2)
    shapes = {w.path.split("/", 1)[-1]: tuple(w.shape) for w in layer.weights}
    assert sorted(shapes.values()) == sorted(
        [(2, 14), (14,), (1, 16), (4, 16), (16,), (4, 12), (3, 12), (12,)]
    )
    assert layer.output_dim == 3


def test_different_z_give_different_segments():
    layer = _conductor()
    z = ops.convert_to_tensor(np.array([[1.0, -1.0], [-1.0, 1.0]], "float32"))
    out = to_numpy(layer(z))
    assert not np.allclose(out[0], out[1], atol=1e-3)
    assert not np.allclose(out[0, 0], out[0, 1], atol=1e-4)


def test_config_round_trip():
    layer = _conductor(dropout_rate=0.1, name="cond")
    config = layer.get_config()
    assert config["num_segments"] == 5 and config["z_size"] == 2
    run_serialization_test(layer, ops.convert_to_tensor(np.ones((1, 2), "float32")))
