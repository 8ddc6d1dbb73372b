"""`interpolation_path` and the four-corner `interpolation_grid` (magenta.js's layout)."""

import numpy as np
import pytest

from keras_musicvae.evaluation.slerp import interpolation_grid
from keras_musicvae.evaluation.slerp import interpolation_path
from keras_musicvae.evaluation.slerp import slerp


@pytest.fixture
def corners():
    return np.random.default_rng(0).normal(size=(4, 8))


def _magentajs_grid(z, w, h):
    """magenta.js's `getInterpolatedZs` for four inputs, written out loop by loop."""
    out = np.zeros((h, w, z.shape[1]))
    xs, ys = np.linspace(0, 1, w), np.linspace(0, 1, h)
    for i, y in enumerate(ys):
        for j, x in enumerate(xs):
            out[i, j] = (1 - y) * (1 - x) * z[0] + y * (1 - x) * z[1] + (1 - y) * x * z[2] + y * x * z[3]
    return out


def test_linear_grid_is_magentajs(corners):
    np.testing.assert_allclose(interpolation_grid(corners, 4, method="linear"), _magentajs_grid(corners, 4, 4))


def test_slerp_grid_corners_edges_and_rows(corners):
    grid = interpolation_grid(corners, 5)
    assert grid.shape == (5, 5, 8)
    np.testing.assert_allclose(grid[[0, -1, 0, -1], [0, 0, -1, -1]], corners, atol=1e-12)
    alphas = np.linspace(0, 1, 5)
    np.testing.assert_allclose(grid[0], slerp(corners[0], corners[2], alphas), atol=1e-12)  # top row
    np.testing.assert_allclose(grid[-1], slerp(corners[1], corners[3], alphas), atol=1e-12)  # bottom row
    np.testing.assert_allclose(grid[:, 0], slerp(corners[0], corners[1], alphas), atol=1e-12)  # left edge
    np.testing.assert_allclose(grid[:, -1], slerp(corners[2], corners[3], alphas), atol=1e-12)  # right edge
    np.testing.assert_allclose(grid[2], slerp(grid[2, 0], grid[2, -1], alphas), atol=1e-12)


def test_paths(corners):
    np.testing.assert_allclose(interpolation_path(corners[0], corners[1], 3), slerp(corners[0], corners[1], [0, 0.5, 1]))
    np.testing.assert_allclose(
        interpolation_path(corners[0], corners[1], 3, method="linear")[1], (corners[0] + corners[1]) / 2
    )


def test_bad_arguments(corners):
    with pytest.raises(ValueError, match=r"corners must be \[4, D\]"):
        interpolation_grid(corners[:3], 3)
    with pytest.raises(ValueError, match="num_steps must be >= 2"):
        interpolation_grid(corners, 1)
    with pytest.raises(ValueError, match="Unknown interpolation method 'bilinear'"):
        interpolation_grid(corners, 3, method="bilinear")
