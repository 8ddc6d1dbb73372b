"""Shared pytest fixtures (paths live in `support.py`)."""

import pathlib

import pytest

from support import BUNDLED_CORPUS
from support import magenta_fixtures


@pytest.fixture
def magenta_fixtures_dir():
    return magenta_fixtures()


@pytest.fixture
def converter_fixtures_dir():
    return magenta_fixtures() / "converters"


@pytest.fixture
def bundled_corpus_dir():
    return BUNDLED_CORPUS


# Tests that never touch Keras: the data pipeline (NumPy, note-seq, tf.data)
# and the evaluation metrics. Their results cannot depend on KERAS_BACKEND, so
# `make test` runs them once, in the TensorFlow pass, and skips them in the
# JAX and PyTorch passes (`-m "not backend_independent"`).
_BACKEND_INDEPENDENT_FOLDERS = ("data", "evaluation")
_NEEDS_A_BACKEND = {"test_run.py", "test_magenta_eval.py"}


def pytest_collection_modifyitems(config, items):
    tests_folder = pathlib.Path(__file__).resolve().parent
    for item in items:
        path = pathlib.Path(str(item.fspath)).resolve()
        if (
            path.parent.parent == tests_folder
            and path.parent.name in _BACKEND_INDEPENDENT_FOLDERS
            and path.name not in _NEEDS_A_BACKEND
        ):
            item.add_marker(pytest.mark.backend_independent)
