"""`CategoricalHead` and `MultiStreamCategoricalHead`: loss, accuracy, sampling."""

import keras
import numpy as np
import pytest

from keras_musicvae.layers.heads import CategoricalHead
from keras_musicvae.layers.heads import MultiStreamCategoricalHead
from keras_musicvae.layers.heads.output_head import argmax_one_hot

from testing import run_serialization_test
from testing import tensor

from .numpy_reference import log_softmax
from .numpy_reference import randomize_weights
from .numpy_reference import softmax
from .numpy_reference import to_numpy


def _one_hot(indices, depth):
    return np.eye(depth, dtype="float32")[indices]


def _chi_square(samples_one_hot, probabilities):
    counts = samples_one_hot.sum(0)
    expected = probabilities * samples_one_hot.shape[0]
    return float(np.sum((counts - expected) ** 2 / expected))


# Chi-square with 4 degrees of freedom: P(X > 30) ~ 5e-6.
CHI2_4DOF_LIMIT = 30.0


def test_projection_is_dense():
    rng = np.random.default_rng(0)
    head = CategoricalHead(5, 3)
    head.build()
    randomize_weights(head)
    hidden = rng.normal(size=(2, 4, 3))
    np.testing.assert_allclose(
        to_numpy(head(tensor(hidden))),
        hidden @ to_numpy(head.kernel) + to_numpy(head.bias),
        atol=1e-5,
    )
    assert head.logits_depth == head.noise_depth == 5


def test_step_loss_is_softmax_cross_entropy():
    rng = np.random.default_rng(1)
    head = CategoricalHead(6, 3)
    logits = rng.normal(scale=3.0, size=(2, 5, 6))
    classes = rng.integers(0, 6, size=(2, 5))
    expected = -np.take_along_axis(log_softmax(logits), classes[..., None], -1)[..., 0]
    loss = to_numpy(head.step_loss(tensor(_one_hot(classes, 6)), tensor(logits)))
    np.testing.assert_allclose(loss, expected, rtol=1e-5)


def test_step_accuracy_is_argmax_match():
    head = CategoricalHead(3, 2)
    logits = tensor([[[1.0, 2.0, 0.0], [5.0, 0.0, 0.0]]])
    targets = tensor(_one_hot(np.array([[1, 2]]), 3))
    np.testing.assert_array_equal(to_numpy(head.step_accuracy(targets, logits)), [[1.0, 0.0]])


def test_temperature_zero_sample_is_argmax_one_hot():
    rng = np.random.default_rng(2)
    head = CategoricalHead(7, 3)
    logits = rng.normal(size=(4, 3, 7))
    noise = head.make_noise((4, 3), seed=0)
    assert tuple(noise.shape) == (4, 3, 7)
    sample = to_numpy(head.sample(tensor(logits), 0.0, noise))
    np.testing.assert_array_equal(sample, _one_hot(logits.argmax(-1), 7))


@pytest.mark.parametrize("temperature", [1.0, 0.5, 2.0])
def test_samples_follow_softmax_of_logits_over_temperature(temperature):
    head = CategoricalHead(5, 3)
    logits = np.array([1.0, 0.0, -1.0, 2.0, 0.5])
    n = 20000
    noise = head.make_noise((n,), seed=3)
    samples = to_numpy(head.sample(tensor(np.broadcast_to(logits, (n, 5))), temperature, noise))
    np.testing.assert_array_equal(samples.sum(-1), 1.0)
    assert _chi_square(samples, softmax(logits / temperature)) < CHI2_4DOF_LIMIT


def test_noise_is_deterministic_per_seed():
    head = CategoricalHead(5, 3)
    a, b, c = (to_numpy(head.make_noise((3, 4), seed=s)) for s in (1, 1, 2))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_argmax_one_hot():
    scores = tensor([[0.1, 3.0, -1.0], [2.0, 1.0, 0.0]])
    np.testing.assert_array_equal(to_numpy(argmax_one_hot(scores, 3)), [[0, 1, 0], [1, 0, 0]])


def test_categorical_config_round_trip():
    head = CategoricalHead(90, 16, name="head")
    clone = run_serialization_test(head)
    assert isinstance(clone, CategoricalHead)
    assert (clone.output_depth, clone.input_dim, clone.name) == (90, 16, "head")


# --------------------------------------------------------------- multi-stream
DEPTHS = [3, 2, 4]


def _multi_targets(rng, shape):
    parts = [_one_hot(rng.integers(0, d, size=shape), d) for d in DEPTHS]
    return np.concatenate(parts, -1)


def test_multi_stream_loss_is_sum_of_stream_cross_entropies():
    rng = np.random.default_rng(4)
    head = MultiStreamCategoricalHead(DEPTHS, 3)
    assert head.output_depth == head.logits_depth == 9
    logits = rng.normal(scale=2.0, size=(2, 4, 9))
    targets = _multi_targets(rng, (2, 4))
    expected = 0.0
    start = 0
    for d in DEPTHS:
        expected = expected - np.sum(
            targets[..., start : start + d] * log_softmax(logits[..., start : start + d]), -1
        )
        start += d
    loss = to_numpy(head.step_loss(tensor(targets), tensor(logits)))
    np.testing.assert_allclose(loss, expected, rtol=1e-5)


def test_multi_stream_accuracy_per_stream_and_mean():
    head = MultiStreamCategoricalHead(DEPTHS, 3)
    # Step: stream 0 right, stream 1 wrong, stream 2 right.
    logits = np.zeros((1, 1, 9))
    logits[0, 0, [1, 3, 8]] = 5.0
    targets = np.zeros((1, 1, 9))
    targets[0, 0, [1, 4, 8]] = 1.0
    np.testing.assert_array_equal(
        to_numpy(head.stream_accuracy(tensor(targets), tensor(logits))), [[[1, 0, 1]]]
    )
    np.testing.assert_allclose(
        to_numpy(head.step_accuracy(tensor(targets), tensor(logits))), [[2 / 3]], rtol=1e-6
    )


def test_multi_stream_temperature_zero_sample_is_argmax_per_stream():
    rng = np.random.default_rng(5)
    head = MultiStreamCategoricalHead(DEPTHS, 3)
    logits = rng.normal(size=(3, 2, 9))
    sample = to_numpy(head.sample(tensor(logits), 0.0, head.make_noise((3, 2), 0)))
    expected = np.concatenate(
        [_one_hot(p.argmax(-1), d) for p, d in zip(np.split(logits, [3, 5], -1), DEPTHS)], -1
    )
    np.testing.assert_array_equal(sample, expected)


def test_multi_stream_samples_follow_each_softmax():
    head = MultiStreamCategoricalHead([5, 5], 3)
    logits = np.array([1.0, 0.0, -1.0, 2.0, 0.5, -0.5, 0.3, 1.5, 0.0, -2.0])
    n = 20000
    samples = to_numpy(
        head.sample(tensor(np.broadcast_to(logits, (n, 10))), 1.0, head.make_noise((n,), 6))
    )
    assert _chi_square(samples[:, :5], softmax(logits[:5])) < CHI2_4DOF_LIMIT
    assert _chi_square(samples[:, 5:], softmax(logits[5:])) < CHI2_4DOF_LIMIT


def test_multi_stream_config_round_trip():
    head = MultiStreamCategoricalHead(DEPTHS, 16, name="trio")
    config = head.get_config()
    assert "output_depth" not in config and config["output_depths"] == DEPTHS
    clone = run_serialization_test(head)
    assert clone.output_depths == DEPTHS and clone.output_depth == 9


# --------------------------------------------------------------- what the heads say
def test_categorical_heads_judge_samples_by_class():
    rng = np.random.default_rng(11)
    single = CategoricalHead(5, 4)
    assert single.class_logits and single.stream_depths == [5]
    targets = _one_hot(rng.integers(0, 5, (3, 7)), 5)
    samples = _one_hot(rng.integers(0, 5, (3, 7)), 5)
    correct = single.sample_correct(samples, targets)
    assert keras.backend.standardize_dtype(correct.dtype) == "bool"
    correct = to_numpy(correct)
    assert correct.shape == (3, 7, 1)
    np.testing.assert_array_equal(correct[..., 0], samples.argmax(-1) == targets.argmax(-1))

    multi = MultiStreamCategoricalHead(DEPTHS, 4)
    assert multi.class_logits and multi.stream_depths == DEPTHS
    targets, samples = _multi_targets(rng, (3, 7)), _multi_targets(rng, (3, 7))
    correct = to_numpy(multi.sample_correct(samples, targets))
    assert correct.shape == (3, 7, 3)
    for i, (a, b) in enumerate(zip(np.cumsum([0] + DEPTHS)[:-1], np.cumsum(DEPTHS))):
        np.testing.assert_array_equal(correct[..., i], samples[..., a:b].argmax(-1) == targets[..., a:b].argmax(-1))
