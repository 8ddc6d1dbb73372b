"""Tests for keras_musicvae.evaluation.attribute_vectors (paper Sec. 5.5, Fig. 4)."""

import numpy as np
import pytest

from keras_musicvae.evaluation.attribute_vectors import attribute_change_matrix
from keras_musicvae.evaluation.attribute_vectors import attribute_vectors
from keras_musicvae.evaluation.melody_attributes import melody_attributes


def test_quartile_difference_by_hand():
    # 8 examples -> quartiles of 2. Sorted by value: rows 3, 0 | ... | 5, 6.
    z = np.arange(8, dtype=np.float64)[:, None] * np.array([[1.0, -1.0]])
    values = np.array([0.2, 0.5, 0.4, 0.1, 0.6, 0.9, 1.0, 0.7])
    # top mean z = mean(rows 5, 6) = [5.5, -5.5]; bottom = mean(rows 3, 0) = [1.5, -1.5].
    np.testing.assert_allclose(attribute_vectors(z, values), [4.0, -4.0])


def test_nan_values_are_left_out():
    z = np.arange(9, dtype=np.float64)[:, None]
    values = np.array([0.0, 1.0, 2.0, 3.0, np.nan, 5.0, 6.0, 7.0, np.nan])
    # Valid rows 0 1 2 3 5 6 7 -> quartiles [0, 1] [2, 3] [5, 6] [7].
    np.testing.assert_allclose(attribute_vectors(z, values), [7.0 - 0.5])
    with pytest.raises(ValueError, match="at least 4"):
        attribute_vectors(z[:5], np.array([1.0, np.nan, np.nan, 2.0, 3.0]))


def test_planted_direction_is_recovered():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(4000, 16))
    direction = rng.normal(size=16)
    direction /= np.linalg.norm(direction)
    other = rng.normal(size=16)
    other -= other.dot(direction) * direction
    other /= np.linalg.norm(other)
    values = np.stack(
        [z @ direction + 0.1 * rng.normal(size=4000), z @ other], axis=1
    )  # two attributes, [N, 2]
    vectors = attribute_vectors(z, values)
    assert vectors.shape == (2, 16)
    cosine = vectors[0] @ direction / np.linalg.norm(vectors[0])
    assert cosine > 0.98
    assert abs(vectors[1] @ direction) / np.linalg.norm(vectors[1]) < 0.1
    # Top minus bottom quartile of a standard normal: about 2 * 1.27.
    assert vectors[0] @ direction == pytest.approx(2.54, abs=0.1)


def test_change_matrix_with_linear_decoder():
    calls = []

    def decode(latents):
        calls.append(latents.copy())
        return latents

    def attributes(sequences):  # two attributes with base value 10
        return sequences[:, :2] + 10.0

    z = np.zeros((5, 3))
    vectors = np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 7.0]])
    added = attribute_change_matrix(z, vectors, decode, attributes, scale=1.0)
    np.testing.assert_allclose(added, [[10.0, 0.0], [0.0, 20.0]])
    assert len(calls) == 3  # unaltered + one per vector
    subtracted = attribute_change_matrix(z, vectors, decode, attributes, scale=-1.0)
    np.testing.assert_allclose(subtracted, [[-10.0, 0.0], [0.0, -20.0]])
    per_sample = attribute_change_matrix(z, vectors, decode, attributes, reduction="mean_of_ratios")
    np.testing.assert_allclose(per_sample, added)


def test_change_matrix_reductions_differ_with_zero_base():
    z = np.array([[0.0], [2.0]])
    vectors = np.array([[1.0]])

    def identity(latents):
        return latents

    # Base attribute [0, 2] -> changed [1, 3].
    # ratio of means: (2 - 1) / 1 = 100 %; mean of ratios skips the 0 base: (3-2)/2 = 50 %.
    np.testing.assert_allclose(
        attribute_change_matrix(z, vectors, identity, identity), [[100.0]]
    )
    np.testing.assert_allclose(
        attribute_change_matrix(z, vectors, identity, identity, reduction="mean_of_ratios"),
        [[50.0]],
    )


def test_change_matrix_on_melodies():
    # A toy "decoder": z[0] > 0 gives a dense 16th-note melody, else quarter notes.
    dense = np.array([40, 42] * 8)
    sparse = np.array([40, 1, 1, 1] * 4)

    def decode(latents):
        return np.stack([dense if row[0] > 0 else sparse for row in latents])

    z = np.full((4, 2), -1.0)
    density_vector = np.array([[2.0, 0.0]])
    matrix = attribute_change_matrix(z, density_vector, decode, melody_attributes)
    # Density 4/16 -> 16/16: +300 %. Average interval: the unaltered melody
    # repeats one pitch (interval 0), so a percentage change is undefined (nan).
    assert matrix.shape == (1, 5)
    assert matrix[0, 1] == pytest.approx(300.0)
    assert np.isnan(matrix[0, 2])


def test_change_matrix_errors():
    with pytest.raises(ValueError, match="vectors must have shape"):
        attribute_change_matrix(np.zeros((2, 3)), np.zeros((1, 4)), lambda z: z, lambda s: s)
    with pytest.raises(ValueError, match="reduction"):
        attribute_change_matrix(
            np.zeros((2, 3)), np.zeros((1, 3)), lambda z: z, lambda s: s, reduction="x"
        )
    with pytest.raises(ValueError, match=r"\[N=2, A\]"):
        attribute_change_matrix(np.zeros((2, 3)), np.zeros((1, 3)), lambda z: z, lambda s: s[0])
