"""Tests for keras_musicvae.evaluation.relative_cost (paper Sec. 5.4)."""

import numpy as np
import pytest

from keras_musicvae.evaluation.data_interpolation import data_interpolation
from keras_musicvae.evaluation.kneser_ney import KneserNeyLanguageModel
from keras_musicvae.evaluation.relative_cost import relative_cost
from keras_musicvae.evaluation.relative_cost import relative_lm_costs


def test_relative_cost_formula():
    alphas = np.array([0.0, 0.25, 0.5, 1.0])
    cost_a, cost_b = 100.0, 200.0
    # Denominators alpha*C_B + (1-alpha)*C_A: 100, 125, 150, 200.
    interpolated = np.array([100.0, 250.0, 150.0, 300.0])
    np.testing.assert_allclose(
        relative_cost(interpolated, cost_a, cost_b, alphas), [1.0, 2.0, 1.0, 1.5]
    )


def test_relative_cost_batched_alpha_axis_first():
    alphas = np.array([0.0, 0.5, 1.0])
    cost_a = np.array([10.0, 40.0])
    cost_b = np.array([30.0, 20.0])
    interpolated = np.array([[10.0, 40.0], [40.0, 15.0], [30.0, 40.0]])
    # Denominators: alpha 0 -> [10, 40]; 0.5 -> [20, 30]; 1 -> [30, 20].
    np.testing.assert_allclose(
        relative_cost(interpolated, cost_a, cost_b, alphas),
        [[1.0, 1.0], [2.0, 0.5], [1.0, 2.0]],
    )
    with pytest.raises(ValueError, match="alpha axis first"):
        relative_cost(interpolated.T, cost_a, cost_b, alphas)


C_MAJOR_PITCHES = np.array([48, 50, 52, 53, 55, 57, 59, 60, 62, 64, 65, 67, 69, 71, 72])


def _scale_run_melodies(num_sequences, seed):
    """2-bar melodies of 8th notes running up and down the C major scale.

    A language model learns these well; blending two of them step by step
    creates leaps and repeated notes it has never seen.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(num_sequences):
        start = rng.integers(4, 11)
        direction = rng.choice([-1, 1])
        degrees = start + direction * np.array([0, 1, 2, 3, 4, 3, 2, 1] * 2)
        note_on_tokens = C_MAJOR_PITCHES[degrees] - 21 + 2
        rows.append(np.stack([note_on_tokens, np.ones(16, dtype=np.int64)], axis=1).reshape(-1))
    return np.array(rows)


def test_data_interpolation_has_a_cost_hump():
    # Fig. 3 bottom: blending two melodies step by step in data space gives
    # sequences the language model finds much less probable than the endpoints.
    corpus = _scale_run_melodies(300, seed=0)
    model = KneserNeyLanguageModel(order=5, vocab_size=90).fit(corpus)
    a = _scale_run_melodies(16, seed=1)
    b = _scale_run_melodies(16, seed=2)
    alphas = np.linspace(0, 1, 5)
    blends = data_interpolation(a, b, alphas, seed=3)
    relative = relative_lm_costs(model, a, b, blends, alphas)
    assert relative.shape == (5, 16)
    np.testing.assert_allclose(relative[0], 1.0)  # alpha 0 is A itself
    np.testing.assert_allclose(relative[-1], 1.0)  # alpha 1 is B itself
    # Mean relative cost per alpha was [1, 5.1, 6.1, 4.6, 1] with these seeds.
    means = relative.mean(axis=1)
    assert means[2] > 3.0
    assert means[1] > 2.0 and means[3] > 2.0
    with pytest.raises(ValueError, match=r"\[K, N, T\]"):
        relative_lm_costs(model, a, b, blends[:, :8], alphas)
