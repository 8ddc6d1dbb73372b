"""Shared pytest fixtures (paths live in `support.py`)."""

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
