"""Magenta checkpoints converted on first use and cached (`keras_musicvae.convert.cache`)."""

import json
import shutil
import tarfile
import time

import numpy as np
import pytest

from support import magenta_fixtures

CONFIG = "cat-mel_2bar_med_chords"  # a small fixture (1.6 MB) with chords


@pytest.fixture
def checkpoint():
    folder = magenta_fixtures() / CONFIG / "checkpoint"
    if not folder.is_dir():
        pytest.skip(f"the Magenta fixture checkpoint {folder} is absent")
    return folder


@pytest.fixture
def cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "keras_musicvae" / "converted"


def _weights(folder):
    from keras_musicvae.models.music_vae import MusicVAE

    model = MusicVAE.from_preset(str(folder))
    return model, [np.asarray(w) for w in model.get_weights()]


def test_cache_root_follows_xdg(cache_home, monkeypatch, tmp_path):
    from keras_musicvae.convert import cache

    assert cache.cache_root() == cache_home
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache.cache_root() == tmp_path / "home" / ".cache" / "keras_musicvae" / "converted"


def test_checkpoint_kinds(checkpoint, tmp_path, tiny_preset_folder):
    from keras_musicvae.convert import cache

    assert cache.checkpoint_kind(checkpoint) == "folder"
    assert cache.checkpoint_kind(checkpoint / "model.ckpt-40") == "prefix"
    bundle = tmp_path / "bundle.tar"
    with tarfile.open(bundle, "w") as tar:
        tar.add(checkpoint, arcname="ckpt")
    assert cache.checkpoint_kind(bundle) == "bundle"
    assert cache.checkpoint_kind(tiny_preset_folder) is None  # a preset folder
    assert cache.checkpoint_kind("cat_mel_2bar_small") is None  # a preset name
    (tmp_path / "x.h5").write_bytes(b"x")
    assert cache.checkpoint_kind(tmp_path / "x.h5") is None
    assert cache.checkpoint_kind(tmp_path / "missing") is None


@pytest.fixture
def tiny_preset_folder(tmp_path):
    folder = tmp_path / "tiny"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    return folder


def test_second_use_reads_the_cache_and_equals_an_explicit_conversion(checkpoint, cache_home, tmp_path):
    from keras_musicvae.convert import cache
    from keras_musicvae.convert import convert_magenta_checkpoint

    started = time.perf_counter()
    folder, converted = cache.converted_preset(checkpoint, CONFIG)
    first = time.perf_counter() - started
    assert converted and folder.parent == cache_home
    assert sorted(p.name for p in cache_home.iterdir()) == [folder.name]  # no staging folder left
    assert json.loads((folder / cache.SOURCE_FILE).read_text())["config"] == CONFIG
    stamp = (folder / "model.weights.h5").stat().st_mtime_ns

    started = time.perf_counter()
    again, converted = cache.converted_preset(str(checkpoint) + "/", CONFIG)
    second = time.perf_counter() - started
    assert (again, converted) == (folder, False)
    assert (folder / "model.weights.h5").stat().st_mtime_ns == stamp  # not converted again
    assert second < first / 5, (first, second)

    explicit = convert_magenta_checkpoint(checkpoint, CONFIG, output=tmp_path / "explicit")
    cached, weights = _weights(folder)
    assert int(np.asarray(cached.global_step)) == 40  # Magenta's global_step is kept
    for got, expected in zip(weights, explicit.get_weights()):
        np.testing.assert_array_equal(got, np.asarray(expected))
    z = np.random.default_rng(0).standard_normal((2, cached.z_size)).astype("float32")
    controls = np.eye(49, dtype="float32")[np.full(32, 1)]
    np.testing.assert_array_equal(
        cached.decode(z, temperature=0, controls=controls), explicit.decode(z, temperature=0, controls=controls)
    )


def test_other_paths_configs_and_changed_files_convert_again(checkpoint, cache_home, tmp_path):
    from keras_musicvae.convert import cache

    copy = shutil.copytree(checkpoint, tmp_path / "copy")
    folder, _ = cache.converted_preset(copy, CONFIG)
    prefix, converted = cache.converted_preset(copy / "model.ckpt-40", CONFIG)
    assert converted and prefix != folder
    index = copy / "model.ckpt-40.index"
    index.chmod(0o644)
    index.touch()  # a new modification time: the checkpoint may have changed
    changed, converted = cache.converted_preset(copy, CONFIG)
    assert converted and changed != folder
    bundle = tmp_path / "bundle.tar"
    with tarfile.open(bundle, "w") as tar:
        tar.add(checkpoint, arcname="ckpt")
    from_bundle, converted = cache.converted_preset(bundle, CONFIG)
    assert converted
    for a, b in zip(_weights(from_bundle)[1], _weights(folder)[1]):
        np.testing.assert_array_equal(a, b)


def test_failures_leave_nothing_behind(checkpoint, cache_home, tmp_path):
    from keras_musicvae.convert import CheckpointMismatchError
    from keras_musicvae.convert import cache

    with pytest.raises(ValueError, match="name the configuration it was trained with"):
        cache.converted_preset(checkpoint)
    with pytest.raises(CheckpointMismatchError):
        cache.converted_preset(checkpoint, "cat-mel_2bar_small")  # no chord controls: shapes differ
    assert not cache_home.exists() or not list(cache_home.iterdir())
    with pytest.raises(FileNotFoundError, match="not a Magenta checkpoint"):
        cache.converted_preset(tmp_path / "nothing", CONFIG)
