"""`MusicVAEAdam`: Magenta's global-norm clipping and clip-to-zero, checked
on variables against a NumPy Adam (TF1 `AdamOptimizer` update rule)."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_musicvae.models.optimizer import MusicVAEAdam
from keras_musicvae.models.schedules import MagentaLearningRate


class NumpyAdam:
    """lr_t = lr sqrt(1 - b2^t) / (1 - b1^t); var -= lr_t m / (sqrt(v) + eps)."""

    def __init__(self, values, beta_1=0.9, beta_2=0.999, epsilon=1e-8):
        self.values = [np.array(v, np.float64) for v in values]
        self.m = [np.zeros_like(v) for v in self.values]
        self.v = [np.zeros_like(v) for v in self.values]
        self.t = 0
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon

    def apply(self, grads, lr):
        self.t += 1
        lr_t = lr * np.sqrt(1 - self.beta_2**self.t) / (1 - self.beta_1**self.t)
        for i, g in enumerate(grads):
            self.m[i] = self.beta_1 * self.m[i] + (1 - self.beta_1) * g
            self.v[i] = self.beta_2 * self.v[i] + (1 - self.beta_2) * g * g
            self.values[i] = self.values[i] - lr_t * self.m[i] / (np.sqrt(self.v[i]) + self.epsilon)


def magenta_clip(grads, clip, clip_to_zero):
    norm = np.sqrt(sum(np.sum(g * g) for g in grads))
    if not norm < clip_to_zero:  # Magenta's tf.cond: NaN, inf and the threshold zero the step
        return [np.zeros_like(g) for g in grads]
    scale = clip / max(norm, clip)
    return [g * scale for g in grads]


def _setup(optimizer_kwargs=None, seed=0):
    rng = np.random.default_rng(seed)
    values = [rng.normal(size=(3, 2)), rng.normal(size=(4,))]
    variables = [keras.Variable(v.astype("float32")) for v in values]
    optimizer = MusicVAEAdam(learning_rate=0.01, **(optimizer_kwargs or {}))
    return rng, variables, optimizer, NumpyAdam(values)


def _grads_with_norm(rng, norm):
    grads = [rng.normal(size=(3, 2)), rng.normal(size=(4,))]
    current = np.sqrt(sum(np.sum(g * g) for g in grads))
    return [g * norm / current for g in grads]


def _apply(optimizer, variables, grads):
    optimizer.apply_gradients(
        zip([ops.convert_to_tensor(g.astype("float32")) for g in grads], variables)
    )


def _check(variables, reference, atol=1e-6):
    for var, ref in zip(variables, reference.values):
        np.testing.assert_allclose(ops.convert_to_numpy(var), ref, atol=atol, rtol=1e-5)


def test_defaults_match_magenta():
    optimizer = MusicVAEAdam()
    assert optimizer.grad_clip == 1.0 and optimizer.grad_norm_clip_to_zero == 10000.0
    assert optimizer.epsilon == 1e-8
    assert optimizer.beta_1 == 0.9 and optimizer.beta_2 == 0.999


@pytest.mark.parametrize("norm", [0.3, 5.0, 9000.0])
def test_gradients_are_clipped_to_global_norm_one(norm):
    rng, variables, optimizer, reference = _setup()
    for _ in range(3):
        grads = _grads_with_norm(rng, norm)
        _apply(optimizer, variables, grads)
        reference.apply(magenta_clip(grads, 1.0, 10000.0), 0.01)
    _check(variables, reference)


def test_clipping_uses_the_global_norm_not_per_variable_norms():
    rng, variables, optimizer, reference = _setup()
    # Per-variable norms 3 and 4 (global 5): both scaled by 1/5, not to norm 1 each.
    grads = [np.full((3, 2), 3.0 / np.sqrt(6)), np.full((4,), 2.0)]
    _apply(optimizer, variables, grads)
    reference.apply([g / 5.0 for g in grads], 0.01)
    _check(variables, reference)
    # After one Adam step the change is not informative about the scale;
    # a second step distinguishes the two rules.
    grads = [np.full((3, 2), 1.0), np.full((4,), -4.0)]
    _apply(optimizer, variables, grads)
    reference.apply(magenta_clip(grads, 1.0, 10000.0), 0.01)
    _check(variables, reference)


def test_huge_norm_applies_zero_gradients():
    rng, variables, optimizer, reference = _setup()
    normal = _grads_with_norm(rng, 2.0)
    _apply(optimizer, variables, normal)
    reference.apply(magenta_clip(normal, 1.0, 10000.0), 0.01)
    # Norm 2e4 > 1e4: zero gradients; Adam still takes a step with the decayed
    # first moment and the step counter advances.
    huge = _grads_with_norm(rng, 2e4)
    before = [ops.convert_to_numpy(v).copy() for v in variables]
    _apply(optimizer, variables, huge)
    reference.apply([np.zeros_like(g) for g in huge], 0.01)
    _check(variables, reference)
    assert int(ops.convert_to_numpy(optimizer.iterations)) == 2
    # The step moved the variables only by momentum: less than a normal step.
    moved = max(np.abs(ops.convert_to_numpy(v) - b).max() for v, b in zip(variables, before))
    assert 0 < moved < 0.01
    normal = _grads_with_norm(rng, 0.5)
    _apply(optimizer, variables, normal)
    reference.apply(normal, 0.01)
    _check(variables, reference)


def test_first_step_with_huge_norm_leaves_variables_unchanged():
    rng, variables, optimizer, reference = _setup()
    before = [ops.convert_to_numpy(v).copy() for v in variables]
    _apply(optimizer, variables, _grads_with_norm(rng, 1e5))
    for v, b in zip(variables, before):
        np.testing.assert_array_equal(ops.convert_to_numpy(v), b)


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_non_finite_gradients_apply_a_zero_step(bad):
    """An inf or NaN anywhere makes the global norm inf / NaN: the step applies
    zeros (Magenta's `global_norm < threshold` is False), the weights stay
    finite, and training goes on normally afterwards."""
    rng, variables, optimizer, reference = _setup()
    normal = _grads_with_norm(rng, 2.0)
    _apply(optimizer, variables, normal)
    reference.apply(magenta_clip(normal, 1.0, 10000.0), 0.01)
    poisoned = _grads_with_norm(rng, 0.5)
    poisoned[0][1, 1] = bad
    _apply(optimizer, variables, poisoned)
    reference.apply([np.zeros_like(g) for g in poisoned], 0.01)
    _check(variables, reference)
    for v in variables:
        assert np.isfinite(ops.convert_to_numpy(v)).all()
    normal = _grads_with_norm(rng, 0.5)
    _apply(optimizer, variables, normal)
    reference.apply(normal, 0.01)
    _check(variables, reference)
    assert int(ops.convert_to_numpy(optimizer.iterations)) == 3


def test_norm_exactly_at_the_threshold_applies_a_zero_step():
    rng, variables, optimizer, reference = _setup({"grad_norm_clip_to_zero": 4.0})
    before = [ops.convert_to_numpy(v).copy() for v in variables]
    # Global norm exactly 4.0 (sqrt(16) is exact in float32).
    grads = [np.zeros((3, 2)), np.zeros((4,))]
    grads[0][0, 0] = 4.0
    _apply(optimizer, variables, grads)
    for v, b in zip(variables, before):
        np.testing.assert_array_equal(ops.convert_to_numpy(v), b)
    # Just below the threshold the (clipped) step is applied.
    _apply(optimizer, variables, [g * 0.99 for g in grads])
    assert any(
        not np.array_equal(ops.convert_to_numpy(v), b) for v, b in zip(variables, before)
    )


def test_custom_thresholds_and_disabled_clipping():
    rng, variables, optimizer, reference = _setup({"grad_clip": 3.0, "grad_norm_clip_to_zero": 50.0})
    for norm in (2.0, 10.0, 60.0, 1.0):
        grads = _grads_with_norm(rng, norm)
        _apply(optimizer, variables, grads)
        reference.apply(magenta_clip(grads, 3.0, 50.0), 0.01)
    _check(variables, reference)

    rng, variables, optimizer, reference = _setup({"grad_clip": None, "grad_norm_clip_to_zero": None})
    for norm in (2.0, 1e6):
        grads = _grads_with_norm(rng, norm)
        _apply(optimizer, variables, grads)
        reference.apply(grads, 0.01)
    _check(variables, reference, atol=1e-5)


def test_learning_rate_schedule_is_read_at_the_current_step():
    rng = np.random.default_rng(1)
    values = [rng.normal(size=(5,))]
    variables = [keras.Variable(values[0].astype("float32"))]
    schedule = MagentaLearningRate(0.1, 0.5, 0.01)
    optimizer = MusicVAEAdam(learning_rate=schedule)
    reference = NumpyAdam(values)
    for step in range(4):
        grads = [rng.normal(size=(5,)) * 0.1]
        _apply(optimizer, variables, grads)
        reference.apply(magenta_clip(grads, 1.0, 1e4), (0.1 - 0.01) * 0.5**step + 0.01)
    _check(variables, reference)


def test_config_round_trip():
    optimizer = MusicVAEAdam(
        learning_rate=MagentaLearningRate(1e-3, 0.9999, 1e-5), grad_clip=2.0, grad_norm_clip_to_zero=50.0
    )
    restored = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert isinstance(restored, MusicVAEAdam)
    assert restored.grad_clip == 2.0 and restored.grad_norm_clip_to_zero == 50.0
    assert isinstance(restored._learning_rate, MagentaLearningRate)
    assert restored.epsilon == 1e-8


def test_track_global_norm_records_the_norm_before_clipping():
    rng, variables, _, _ = _setup(seed=5)
    optimizer = MusicVAEAdam(learning_rate=1e-3, track_global_norm=True)
    for norm in (3.0, 0.5, 2e4):
        grads = _grads_with_norm(rng, norm)
        _apply(optimizer, variables, grads)
        assert float(ops.convert_to_numpy(optimizer.global_norm)) == pytest.approx(norm, rel=1e-5)
    restored = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert restored.track_global_norm is True


def test_global_norm_is_not_tracked_by_default():
    rng, variables, optimizer, _ = _setup()
    _apply(optimizer, variables, _grads_with_norm(rng, 2.0))
    assert optimizer.global_norm is None
    assert not any("global_norm" in v.path for v in optimizer.variables)
