"""Magenta's schedules: learning rate, KL weight, scheduled sampling."""

import math

import keras
import numpy as np
import pytest
from keras import ops

from keras_musicvae.models import schedules
from keras_musicvae.models.schedules import MagentaLearningRate


def _value(x):
    return float(ops.convert_to_numpy(x))


def _f32(rate):
    """The rate as float32 (Magenta, like this port, raises the float32 rate
    to the power of the step: 0.99999 ** 100000 is 0.1% off in float32)."""
    return float(np.float32(rate))


@pytest.mark.parametrize("step", [0, 1, 10, 500])
@pytest.mark.parametrize("rate", [0.0, 0.3, 1.0])
def test_constant_sampling_probability(rate, step):
    assert _value(schedules.sampling_probability("constant", rate, step)) == pytest.approx(rate)


@pytest.mark.parametrize("step", [0, 1, 10, 1000])
def test_exponential_sampling_probability(step):
    rate = 0.999
    assert _value(schedules.sampling_probability("exponential", rate, step)) == pytest.approx(
        1.0 - _f32(rate) ** step, abs=1e-6
    )


@pytest.mark.parametrize("step", [0, 1000, 5000, 10000, 20000])
def test_inverse_sigmoid_sampling_probability(step):
    k = 1000.0
    expected = 1.0 - k / (k + math.exp(step / k))
    assert _value(schedules.sampling_probability("inverse_sigmoid", k, step)) == pytest.approx(
        expected, rel=1e-5, abs=1e-6
    )


def test_inverse_sigmoid_known_values():
    # At step 0 the probability is 1 / (k + 1); it reaches 1/2 at step k ln k.
    k = 1000.0
    assert _value(schedules.sampling_probability("inverse_sigmoid", k, 0)) == pytest.approx(1 / 1001, abs=1e-6)
    half = k * math.log(k)
    assert _value(schedules.sampling_probability("inverse_sigmoid", k, half)) == pytest.approx(0.5, abs=1e-4)


def test_sampling_probability_takes_a_tensor_step():
    step = keras.Variable(7, dtype="int32", trainable=False)
    assert _value(schedules.sampling_probability("exponential", 0.5, step)) == pytest.approx(1 - 0.5**7)


@pytest.mark.parametrize(
    "schedule, rate, message",
    [
        ("constant", 1.5, r"`constant` sampling_rate must be in \[0, 1\]"),
        ("constant", -0.1, "constant"),
        ("exponential", 1.0, r"`exponential` sampling_rate must be in \(0, 1\)"),
        ("exponential", 0.0, "exponential"),
        ("inverse_sigmoid", 0.5, "`inverse_sigmoid` sampling_rate must be at least 1"),
        ("linear", 0.5, "Unknown sampling_schedule 'linear'"),
    ],
)
def test_bad_schedules_raise(schedule, rate, message):
    with pytest.raises(ValueError, match=message):
        schedules.validate_sampling_schedule(schedule, rate)


@pytest.mark.parametrize(
    "schedule, rate", [("constant", 0.0), ("constant", 1.0), ("exponential", 0.9), ("inverse_sigmoid", 1.0)]
)
def test_good_schedules_pass(schedule, rate):
    schedules.validate_sampling_schedule(schedule, rate)


def test_sampling_probability_rejects_unknown_schedule():
    with pytest.raises(ValueError, match="Unknown sampling_schedule"):
        schedules.sampling_probability("cosine", 0.5, 1)


def test_uses_scheduled_sampling():
    assert not schedules.uses_scheduled_sampling("constant", 0.0)
    assert schedules.uses_scheduled_sampling("constant", 0.5)
    assert schedules.uses_scheduled_sampling("inverse_sigmoid", 1000)
    assert schedules.uses_scheduled_sampling("exponential", 0.99)


@pytest.mark.parametrize("step", [0, 1, 1000, 100000, 10**7])
def test_magenta_learning_rate(step):
    schedule = MagentaLearningRate(1e-3, 0.9999, 1e-5)
    expected = (1e-3 - 1e-5) * _f32(0.9999) ** step + 1e-5
    assert _value(schedule(step)) == pytest.approx(expected, rel=1e-4)


def test_learning_rate_floor_and_config():
    schedule = MagentaLearningRate(0.01, 0.5, 0.001)
    assert _value(schedule(0)) == pytest.approx(0.01)
    assert _value(schedule(200)) == pytest.approx(0.001)
    clone = MagentaLearningRate.from_config(schedule.get_config())
    assert clone.get_config() == {
        "learning_rate": 0.01,
        "decay_rate": 0.5,
        "min_learning_rate": 0.001,
        "initial_step": 0,
    }
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(schedule))
    assert isinstance(restored, MagentaLearningRate) and _value(restored(3)) == pytest.approx(_value(schedule(3)))


@pytest.mark.parametrize("step", [0, 1, 1000, 100000])
def test_kl_beta(step):
    max_beta, beta_rate = 0.5, 0.99999
    expected = (1.0 - _f32(beta_rate) ** step) * max_beta
    assert _value(schedules.kl_beta(max_beta, beta_rate, step)) == pytest.approx(expected, rel=1e-3, abs=1e-6)


def test_kl_beta_with_zero_rate_is_max_beta_from_step_one():
    # Magenta's default beta_rate 0: 0 ** 0 = 1 gives beta 0 at step 0, then max_beta.
    assert _value(schedules.kl_beta(0.2, 0.0, 0)) == pytest.approx(0.0)
    assert _value(schedules.kl_beta(0.2, 0.0, 1)) == pytest.approx(0.2)
    assert _value(schedules.kl_beta(0.2, 0.0, 50)) == pytest.approx(0.2)


def test_free_nats():
    assert schedules.free_nats(48) == pytest.approx(48 * math.log(2))
    assert schedules.free_nats(0) == 0.0


def test_learning_rate_initial_step_offsets_the_schedule():
    """A fresh optimizer continuing a model trained 40 steps: its iteration
    k reads the rate of step 40 + k (Magenta's `global_step`)."""
    schedule = MagentaLearningRate(1e-3, 0.9999, 1e-5, initial_step=40)
    for k in (0, 1, 2, 500):
        expected = (1e-3 - 1e-5) * _f32(0.9999) ** (40 + k) + 1e-5
        assert _value(schedule(k)) == pytest.approx(expected, rel=1e-5)
    restored = MagentaLearningRate.from_config(schedule.get_config())
    assert restored.initial_step == 40
    with pytest.raises(ValueError, match="initial_step must be >= 0"):
        MagentaLearningRate(initial_step=-1)
