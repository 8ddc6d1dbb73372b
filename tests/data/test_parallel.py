"""Tests of `keras_musicvae.data.parallel`: the conversion pool's start method."""

import multiprocessing

import pytest

from keras_musicvae.data import parallel


def test_default_start_method_never_forks(monkeypatch):
    monkeypatch.delenv(parallel.START_METHOD_VARIABLE, raising=False)
    expected = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    assert parallel.start_method() == expected
    assert parallel.pool_context().get_start_method() == expected


@pytest.mark.parametrize("method", ["spawn", "fork"])
def test_environment_variable_chooses_the_start_method(monkeypatch, method):
    if method not in multiprocessing.get_all_start_methods():
        pytest.skip(f"this platform has no {method!r} start method")
    monkeypatch.setenv(parallel.START_METHOD_VARIABLE, method)
    assert parallel.start_method() == method
    assert parallel.pool_context().get_start_method() == method


def test_unknown_start_method_is_refused_by_name(monkeypatch):
    monkeypatch.setenv(parallel.START_METHOD_VARIABLE, "teleport")
    with pytest.raises(ValueError, match=r"KERAS_MUSICVAE_START_METHOD='teleport'.*use one of"):
        parallel.start_method()


def test_chunks_and_worker_counts():
    assert list(parallel.chunks(list(range(5)), 2)) == [[0, 1], [2, 3], [4]]
    assert parallel.workers_for(8, 3) == 3
    assert parallel.workers_for(0, 3) == 1
    assert parallel.workers_for(None, 1) == 1
