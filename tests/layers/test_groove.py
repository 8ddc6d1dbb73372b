"""`GrooveHead`: hits (Bernoulli), velocities (sigmoid), offsets (tanh)."""

import numpy as np
import pytest

from keras_musicvae.layers.heads import GrooveHead

from testing import run_serialization_test
from testing import tensor

from .numpy_reference import sigmoid
from .numpy_reference import to_numpy


def _targets(rng, shape, n):
    hits = rng.integers(0, 2, size=shape + (n,)).astype("float64")
    velocities = rng.uniform(0, 1, size=shape + (n,)) * hits
    offsets = rng.uniform(-1, 1, size=shape + (n,)) * hits
    return np.concatenate([hits, velocities, offsets], -1)


def test_depths():
    head = GrooveHead(9, 4)
    assert head.output_depth == head.logits_depth == 27
    assert head.noise_depth == 9


def test_step_loss_equals_numpy_log_loss_plus_squared_errors():
    rng = np.random.default_rng(0)
    n = 4
    head = GrooveHead(n, 3)
    logits = rng.normal(scale=3.0, size=(2, 5, 3 * n))
    logits[0, 0, 0] = 40.0  # saturated probability: the 1e-7 epsilon matters
    targets = _targets(rng, (2, 5), n)
    targets[0, 0, 0] = 0.0
    p = sigmoid(logits[..., :n])
    eps = 1e-7
    log_loss = -(targets[..., :n] * np.log(p + eps) + (1 - targets[..., :n]) * np.log(1 - p + eps))
    expected = (
        log_loss.sum(-1)
        + np.sum((targets[..., n : 2 * n] - sigmoid(logits[..., n : 2 * n])) ** 2, -1)
        + np.sum((targets[..., 2 * n :] - np.tanh(logits[..., 2 * n :])) ** 2, -1)
    )
    loss = to_numpy(head.step_loss(tensor(targets), tensor(logits)))
    np.testing.assert_allclose(loss, expected, rtol=1e-4, atol=1e-5)
    # The saturated wrong hit costs -log(1e-7) (plus the rest), not infinity.
    assert np.isfinite(loss).all() and loss[0, 0] > -np.log(2e-7) - 1


def test_step_accuracy_needs_every_hit_right():
    head = GrooveHead(3, 2)
    logits = np.zeros((1, 2, 9))
    logits[0, :, :3] = [[2.0, -2.0, 1.0], [2.0, 2.0, -1.0]]
    targets = np.zeros((1, 2, 9))
    targets[0, :, :3] = [[1, 0, 1], [1, 0, 0]]
    targets[0, :, 3:] = 0.7  # velocities / offsets do not count
    np.testing.assert_array_equal(
        to_numpy(head.step_accuracy(tensor(targets), tensor(logits))), [[1.0, 0.0]]
    )


def test_temperature_zero_sample_thresholds_hits_and_activates_the_rest():
    rng = np.random.default_rng(1)
    n = 5
    head = GrooveHead(n, 3)
    logits = rng.normal(scale=2.0, size=(3, 4, 3 * n))
    sample = to_numpy(head.sample(tensor(logits), 0.0, head.make_noise((3, 4), 0)))
    np.testing.assert_array_equal(sample[..., :n], (logits[..., :n] > 0).astype(float))
    np.testing.assert_allclose(sample[..., n : 2 * n], sigmoid(logits[..., n : 2 * n]), atol=1e-6)
    np.testing.assert_allclose(sample[..., 2 * n :], np.tanh(logits[..., 2 * n :]), atol=1e-6)


@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_hit_frequencies_follow_sigmoid_of_logits_over_temperature(temperature):
    head = GrooveHead(4, 3)
    hit_logits = np.array([-2.0, -0.5, 0.3, 1.5])
    logits = np.concatenate([hit_logits, np.zeros(4), np.ones(4)])
    n = 20000
    samples = to_numpy(
        head.sample(tensor(np.broadcast_to(logits, (n, 12))), temperature, head.make_noise((n,), 2))
    )
    p = sigmoid(hit_logits / temperature)
    frequency = samples[:, :4].mean(0)
    np.testing.assert_array_less(np.abs(frequency - p), 5 * np.sqrt(p * (1 - p) / n) + 1e-3)
    # Temperature touches only the hits.
    np.testing.assert_allclose(samples[:, 4:8], 0.5, atol=1e-6)
    np.testing.assert_allclose(samples[:, 8:], np.tanh(1.0), atol=1e-6)


def test_config_round_trip():
    head = GrooveHead(9, 16, name="groove")
    config = head.get_config()
    assert config["num_instruments"] == 9 and "output_depth" not in config
    clone = run_serialization_test(head)
    assert isinstance(clone, GrooveHead) and clone.output_depth == 27 and clone.input_dim == 16


def test_a_sample_is_right_when_its_hits_are_whatever_its_velocities_and_offsets():
    head = GrooveHead(2, 3)
    assert not head.class_logits and head.stream_depths == [6]
    targets = np.array([[[1, 0, 0.9, 0.0, 0.1, 0.0], [0, 1, 0.0, 0.5, 0.0, -0.2]]], "float32")
    samples = np.array([[[1, 0, 0.2, 0.7, -0.5, 0.3], [1, 1, 0.0, 0.5, 0.0, -0.2]]], "float32")
    np.testing.assert_array_equal(to_numpy(head.sample_correct(samples, targets)), [[[True], [False]]])
