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


# Tests whose outcome cannot depend on KERAS_BACKEND: `make test` runs them
# once, in the TensorFlow pass, and skips them in the JAX and PyTorch passes
# (`-m "not backend_independent"`). They are
# - tests/data, tests/evaluation and tests/tools: the data pipeline (NumPy,
#   note-seq, tf.data), the metrics and the tools' settings and reports, which
#   never touch Keras (less the two evaluation files that run a model);
# - the command line's argument checks, error messages, file modes, bundle
#   safety, plots and audio, and the web server: argparse, file and socket
#   work before or beside any model (each spawns processes, which is most of
#   the suite's time); the commands that run models are tested on every backend
#   (tests/cli/test_cli_music.py, test_cli_sequences.py, test_cli_train.py,
#   test_precision_option.py, test_training.py).
_BACKEND_INDEPENDENT_FOLDERS = ("data", "evaluation", "tools")
_NEEDS_A_BACKEND = {"test_run.py", "test_magenta_eval.py"}
_BACKEND_INDEPENDENT_FILES = {
    ("cli", "test_cli_errors.py"),
    ("cli", "test_convert_bundle_safety.py"),
    ("cli", "test_file_modes.py"),
    ("cli", "test_visualize_audio.py"),
    ("cli", "test_web.py"),
}


def _is_backend_independent(path, tests_folder):
    if path.parent.parent != tests_folder:
        return False
    if (path.parent.name, path.name) in _BACKEND_INDEPENDENT_FILES:
        return True
    return path.parent.name in _BACKEND_INDEPENDENT_FOLDERS and path.name not in _NEEDS_A_BACKEND


def pytest_collection_modifyitems(config, items):
    tests_folder = pathlib.Path(__file__).resolve().parent
    for item in items:
        if _is_backend_independent(pathlib.Path(str(item.fspath)).resolve(), tests_folder):
            item.add_marker(pytest.mark.backend_independent)
