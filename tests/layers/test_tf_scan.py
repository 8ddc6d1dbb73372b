"""`tf_scan.scan_carries`: the step loop TensorFlow can differentiate under
XLA, and the scheduled-sampling models it lets train with `jit_compile`."""

import keras
import numpy as np
import pytest
from keras import ops

from testing import TINY_DEPTH
from testing import TINY_STEPS
from testing import tiny_music_vae

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="TensorFlow's loop (the other backends use ops.scan)"
)


def test_it_is_ops_scan_for_a_step_that_outputs_its_carry():
    from keras_musicvae.layers.tf_scan import scan_carries

    def step(carry, x):
        total, count = carry
        new = [total * 0.5 + x["value"], count + 1.0]
        return new, new

    xs = {"value": ops.convert_to_tensor(np.arange(12, dtype="float32").reshape(4, 3))}
    init = [ops.zeros((3,)), ops.zeros(())]
    carries = scan_carries(step, init, xs)
    want_final, want_carries = ops.scan(step, init, xs)
    final = [c[-1] for c in carries]
    for got, want in zip(final + list(carries), list(want_final) + list(want_carries)):
        np.testing.assert_allclose(ops.convert_to_numpy(got), ops.convert_to_numpy(want))
    assert tuple(carries[0].shape) == (4, 3)


def test_a_scheduled_sampling_model_trains_under_xla():
    """Keras' own `ops.scan` made this fail ("XLA compilation requires a
    fixed tensor list size"); Keras compiles with XLA by itself on a GPU."""
    rng = np.random.default_rng(0)
    x = np.eye(TINY_DEPTH, dtype="float32")[rng.integers(0, TINY_DEPTH, size=(4, TINY_STEPS))]
    batch = {"inputs": x, "targets": x, "lengths": np.full(4, TINY_STEPS, "int32")}
    keras.utils.set_random_seed(0)
    model = tiny_music_vae(sampling_schedule="constant", sampling_rate=0.5)
    model.compile(jit_compile=True)
    assert model.jit_compile
    before = [w.copy() for w in model.get_weights()]
    results = [model.train_on_batch(batch, return_dict=True) for _ in range(2)]
    for result in results:
        assert result["sampling_probability"] == pytest.approx(0.5)
        assert np.isfinite(result["loss"])
    # The steps trained the decoder (its weights moved).
    moved = [not np.allclose(a, b) for a, b in zip(before, model.get_weights())]
    assert sum(moved) >= len(model.decoder.trainable_weights)
