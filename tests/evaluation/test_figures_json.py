"""Tests for keras_musicvae.evaluation.figures_json."""

import json

import numpy as np
import pytest

from keras_musicvae.evaluation.figures_json import to_jsonable
from keras_musicvae.evaluation.figures_json import write_figures_json


def test_numpy_values_round_trip(tmp_path):
    figures = {
        "alphas": np.linspace(0, 1, 3),
        "hamming": {"Data": np.array([0.0, 0.5, 1.0], dtype=np.float32)},
        "matrix": np.array([[1, 2], [3, 4]], dtype=np.int64),
        "count": np.int32(7),
        "ok": np.bool_(True),
        "undefined": np.array([np.nan, np.inf, 1.5]),
        np.int64(3): ("a", None),
    }
    path = write_figures_json(figures, tmp_path / "out" / "figures.json")
    with open(path, encoding="utf-8") as handle:
        loaded = json.load(handle)
    assert loaded == {
        "alphas": [0.0, 0.5, 1.0],
        "hamming": {"Data": [0.0, 0.5, 1.0]},
        "matrix": [[1, 2], [3, 4]],
        "count": 7,
        "ok": True,
        "undefined": [None, None, 1.5],
        "3": ["a", None],
    }


def test_errors(tmp_path):
    with pytest.raises(TypeError, match="object"):
        to_jsonable({"x": object()})
    with pytest.raises(TypeError, match="dict"):
        write_figures_json([1, 2], tmp_path / "x.json")
