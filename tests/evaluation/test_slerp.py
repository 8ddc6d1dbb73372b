"""Tests for keras_musicvae.evaluation.slerp."""

import numpy as np
import pytest

from keras_musicvae.evaluation.slerp import interpolation_alphas
from keras_musicvae.evaluation.slerp import slerp


def _angle(u, v):
    cosine = np.dot(u, v) / (np.linalg.norm(u) * np.linalg.norm(v))
    return np.arccos(np.clip(cosine, -1.0, 1.0))


def test_interpolation_alphas_include_endpoints():
    alphas = interpolation_alphas(11)
    assert alphas.shape == (11,)
    assert alphas[0] == 0.0 and alphas[-1] == 1.0
    np.testing.assert_allclose(np.diff(alphas), 0.1)


@pytest.mark.parametrize("bad", [1, 0, -3, 2.5, True])
def test_interpolation_alphas_rejects_bad_counts(bad):
    with pytest.raises(ValueError, match="num_steps"):
        interpolation_alphas(bad)


def test_slerp_endpoints():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 16))
    path = slerp(a, b, interpolation_alphas(5))
    assert path.shape == (5, 16)
    np.testing.assert_allclose(path[0], a, atol=1e-12)
    np.testing.assert_allclose(path[-1], b, atol=1e-12)


def test_slerp_preserves_norm_of_equal_norm_vectors():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(2, 32))
    a *= 3.0 / np.linalg.norm(a)
    b *= 3.0 / np.linalg.norm(b)
    path = slerp(a, b, np.linspace(0, 1, 17))
    np.testing.assert_allclose(np.linalg.norm(path, axis=-1), 3.0, rtol=1e-12)


def test_slerp_midpoint_bisects_the_angle():
    # For vectors of equal norm the path is the great-circle arc, so the
    # midpoint splits the angle between a and b in two equal halves.
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(2, 8))
    b *= np.linalg.norm(a) / np.linalg.norm(b)
    omega = _angle(a, b)
    mid = slerp(a, b, 0.5)
    np.testing.assert_allclose(_angle(a, mid), omega / 2, rtol=1e-10)
    np.testing.assert_allclose(_angle(mid, b), omega / 2, rtol=1e-10)
    # A quarter of the way: a quarter of the angle.
    np.testing.assert_allclose(_angle(a, slerp(a, b, 0.25)), omega / 4, rtol=1e-10)


def test_slerp_of_orthogonal_unit_vectors():
    # Angle pi/2: the midpoint is (a + b) / sqrt(2), not the linear (a + b) / 2.
    a = np.array([1.0, 0.0])
    b = np.array([0.0, 1.0])
    np.testing.assert_allclose(slerp(a, b, 0.5), [2**-0.5, 2**-0.5], atol=1e-15)
    np.testing.assert_allclose(
        slerp(a, b, 1.0 / 3.0), [np.cos(np.pi / 6), np.sin(np.pi / 6)], atol=1e-15
    )


def test_slerp_parallel_vectors_fall_back_to_linear():
    a = np.array([1.0, 2.0, 3.0])
    b = 2.0 * a
    alphas = np.array([0.0, 0.25, 1.0])
    expected = (1 - alphas)[:, None] * a + alphas[:, None] * b
    result = slerp(a, b, alphas)
    assert np.all(np.isfinite(result))
    np.testing.assert_allclose(result, expected)
    # Identical vectors stay put; a zero vector does not give nan.
    np.testing.assert_allclose(slerp(a, a, 0.3), a)
    np.testing.assert_allclose(slerp(np.zeros(3), a, 0.5), 0.5 * a)


def test_slerp_batched_over_pairs_and_alphas():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(4, 6))
    b = rng.normal(size=(4, 6))
    alphas = interpolation_alphas(3)
    path = slerp(a, b, alphas)
    assert path.shape == (3, 4, 6)
    for i in range(4):
        np.testing.assert_allclose(path[:, i], slerp(a[i], b[i], alphas))


def test_slerp_rejects_bad_shapes():
    with pytest.raises(ValueError, match="broadcast"):
        slerp(np.ones(3), np.ones(4), 0.5)
    with pytest.raises(ValueError, match="alpha"):
        slerp(np.ones(3), np.ones(3), np.ones((2, 2)))
