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


def magenta_fixture_io(name):
    """`<name>/io.npz` of the Magenta fixtures (recorded inputs and outputs) as a dict."""
    import numpy as np

    return dict(np.load(magenta_fixtures() / name / "io.npz"))


def magenta_batch(io):
    """The recorded sequences of `io` (see `magenta_fixture_io`) as a model batch dict."""
    batch = {"inputs": io["input_sequence"], "targets": io["output_sequence"], "lengths": io["sequence_length"]}
    if "control_sequence" in io:
        batch["controls"] = io["control_sequence"]
    return batch


def corpus_dir():
    """The real MIDI corpus, or skip the test saying why."""
    path = data_dir() / "corpus"
    if not path.exists():
        pytest.skip(f"real MIDI corpus not found at {path} (set KERAS_MUSICVAE_DATA).")
    return path
