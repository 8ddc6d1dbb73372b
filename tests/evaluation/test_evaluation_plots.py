"""Tests for keras_musicvae.evaluation.plots."""

import numpy as np
import pytest

from keras_musicvae.evaluation.plots import plot_attribute_change_heatmap
from keras_musicvae.evaluation.plots import plot_interpolation_study

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _assert_png(path):
    with open(path, "rb") as handle:
        data = handle.read()
    assert data.startswith(PNG_MAGIC)
    assert len(data) > 5000


def test_interpolation_study_png(tmp_path):
    alphas = np.linspace(0, 1, 11)
    rng = np.random.default_rng(0)
    hamming = {
        "Data": alphas,
        "Flat": 0.3 + 0.5 * alphas[:, None] + 0.01 * rng.normal(size=(11, 8)),  # [K, N] averaged
        "Hierarchical": 0.1 + 0.7 * alphas,
    }
    costs = {"Data": 1 + np.sin(np.pi * alphas), "Hierarchical": np.ones(11)}
    path = plot_interpolation_study(tmp_path / "sub" / "fig3.png", alphas, hamming, costs)
    assert path == str(tmp_path / "sub" / "fig3.png")
    _assert_png(path)
    _assert_png(plot_interpolation_study(tmp_path / "top.png", alphas, hamming_curves=hamming))


def test_interpolation_study_errors(tmp_path):
    with pytest.raises(ValueError, match="nothing to plot"):
        plot_interpolation_study(tmp_path / "x.png", [0, 1])
    with pytest.raises(ValueError, match="one per alpha"):
        plot_interpolation_study(tmp_path / "x.png", [0, 0.5, 1], {"bad": [0, 1]})


def test_attribute_heatmap_png(tmp_path):
    rng = np.random.default_rng(1)
    added = rng.normal(scale=30, size=(5, 5))
    added[2, 3] = np.nan
    path = plot_attribute_change_heatmap(
        tmp_path / "fig4.png", {"Adding": added, "Subtracting": -added}
    )
    _assert_png(path)
    _assert_png(plot_attribute_change_heatmap(tmp_path / "single.png", added))
    with pytest.raises(ValueError, match=r"\[V, 5\]"):
        plot_attribute_change_heatmap(tmp_path / "bad.png", np.zeros((5, 4)))
