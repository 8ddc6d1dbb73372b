"""Tests for keras_musicvae.evaluation.data_interpolation."""

import numpy as np
import pytest

from keras_musicvae.evaluation.data_interpolation import data_interpolation
from keras_musicvae.evaluation.hamming import normalized_hamming_distance


def test_endpoints_are_exact():
    a = np.arange(32) % 7
    b = a + 10
    blended = data_interpolation(a, b, [0.0, 1.0], seed=0)
    np.testing.assert_array_equal(blended[0], a)
    np.testing.assert_array_equal(blended[1], b)


def test_seed_reproducible_and_values_from_endpoints():
    rng = np.random.default_rng(5)
    a = rng.integers(0, 50, size=(3, 64))
    b = rng.integers(50, 90, size=(3, 64))
    alphas = np.linspace(0, 1, 5)
    first = data_interpolation(a, b, alphas, seed=123)
    again = data_interpolation(a, b, alphas, seed=123)
    other = data_interpolation(a, b, alphas, seed=124)
    assert first.shape == (5, 3, 64)
    assert first.dtype == a.dtype
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    assert np.all((first == a) | (first == b))


@pytest.mark.parametrize("alpha", [0.1, 0.3, 0.5, 0.9])
def test_fraction_taken_from_b_follows_alpha(alpha):
    # Bernoulli(alpha) per step: over 20000 steps the fraction from B has
    # standard deviation sqrt(alpha (1 - alpha) / 20000) <= 0.0036.
    num_steps = 20000
    a = np.zeros(num_steps, dtype=np.int64)
    b = np.ones(num_steps, dtype=np.int64)
    blended = data_interpolation(a, b, alpha, seed=7)
    assert blended.shape == (num_steps,)
    assert abs(blended.mean() - alpha) < 0.015
    # Sequences that differ everywhere: Hamming distance from A equals the fraction.
    assert normalized_hamming_distance(blended, a) == pytest.approx(blended.mean())


def test_errors():
    with pytest.raises(ValueError, match="same shape"):
        data_interpolation(np.zeros(3), np.zeros(4), 0.5)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        data_interpolation(np.zeros(3), np.zeros(3), [0.5, 1.5])
