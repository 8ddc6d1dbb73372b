"""Paths shared by the tests: the Magenta fixtures, the real corpus, the repo.

Import with `from support import ...` (pytest puts tests/ on sys.path).
"""

import os
import pathlib

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
BUNDLED_CORPUS = REPO_ROOT / "keras_musicvae" / "corpus" / "freedoom"


def fixtures_dir():
    """`$KERAS_MUSICVAE_FIXTURES`, default `<repo>/../shared/fixtures`."""
    return pathlib.Path(
        os.environ.get("KERAS_MUSICVAE_FIXTURES", REPO_ROOT.parent / "shared" / "fixtures")
    )


def data_dir():
    """`$KERAS_MUSICVAE_DATA`, default `<repo>/../shared/data` (the real corpus)."""
    return pathlib.Path(
        os.environ.get("KERAS_MUSICVAE_DATA", REPO_ROOT.parent / "shared" / "data")
    )


def magenta_fixtures():
    """The Magenta fixture folder, or skip the test saying why."""
    path = fixtures_dir() / "magenta"
    if not (path / "README.md").exists():
        pytest.skip(
            f"Magenta parity fixtures not found at {path} (set KERAS_MUSICVAE_FIXTURES "
            "to the folder holding magenta/); they ship with the development checkout only."
        )
    return path


def corpus_dir():
    """The real MIDI corpus, or skip the test saying why."""
    path = data_dir() / "corpus"
    if not path.exists():
        pytest.skip(f"real MIDI corpus not found at {path} (set KERAS_MUSICVAE_DATA).")
    return path
