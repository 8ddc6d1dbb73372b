"""Tests for keras_musicvae.evaluation.hamming."""

import numpy as np
import pytest

from keras_musicvae.evaluation.hamming import normalized_hamming_distance


def test_known_sequences():
    assert normalized_hamming_distance([0, 1, 2, 3], [0, 1, 5, 6]) == pytest.approx(0.5)
    assert normalized_hamming_distance([4, 4, 4], [4, 4, 4]) == 0.0
    assert normalized_hamming_distance([1, 2, 3, 4, 5], [2, 3, 4, 5, 6]) == 1.0


def test_broadcast_interpolations_against_endpoint():
    a = np.array([[0, 0, 0, 0], [1, 1, 1, 1]])  # [N=2, T=4]
    interpolations = np.array(
        [
            [[0, 0, 0, 0], [1, 1, 1, 1]],  # alpha 0: identical
            [[0, 0, 9, 9], [1, 9, 9, 9]],  # 2/4 and 3/4 differ
        ]
    )  # [K=2, N=2, T=4]
    distances = normalized_hamming_distance(interpolations, a)
    np.testing.assert_allclose(distances, [[0.0, 0.0], [0.5, 0.75]])


def test_lengths_mask_and_normalise():
    a = np.array([[1, 2, 3, 4], [1, 2, 3, 4]])
    b = np.array([[1, 9, 3, 9], [9, 2, 9, 9]])
    # Row 0 over 2 steps: 1 differs -> 1/2; row 1 over 3 steps: 2 differ -> 2/3.
    np.testing.assert_allclose(normalized_hamming_distance(a, b, lengths=[2, 3]), [0.5, 2 / 3])
    with pytest.raises(ValueError, match="lengths must lie"):
        normalized_hamming_distance(a, b, lengths=[5, 1])


def test_rejects_non_broadcastable():
    with pytest.raises(ValueError, match="broadcast"):
        normalized_hamming_distance(np.zeros(3), np.zeros(4))
