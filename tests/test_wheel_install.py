"""Presets and the bundled corpus are found after a normal (non-editable)
install of the built wheel."""

import os
import subprocess
import sys
import textwrap

import pytest

from support import REPO_ROOT


@pytest.mark.slow
def test_presets_found_after_wheel_install(tmp_path):
    wheel_dir = tmp_path / "wheel"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "-w", str(wheel_dir), str(REPO_ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = wheel_dir.glob("keras_musicvae-*.whl")
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
    )
    script = textwrap.dedent(
        """
        import pathlib, keras_musicvae
        from keras_musicvae import presets
        assert pathlib.Path(keras_musicvae.__file__).is_relative_to(pathlib.Path(TARGET)), keras_musicvae.__file__
        names = keras_musicvae.list_presets()
        assert len(names) == 23, sorted(names)
        assert presets.builtin_presets_dir().name == "_presets"
        model = keras_musicvae.MusicVAE.from_preset(
            "hierdec-trio_16bar", enc_rnn_size=[8], dec_rnn_size=[8, 8], z_size=4)
        assert model.converter is not None
        corpus = pathlib.Path(keras_musicvae.__file__).parent / "corpus" / "freedoom"
        assert len(list(corpus.glob("*/*.mid"))) == 86 and (corpus / "COPYRIGHT").exists()
        from keras_musicvae.web import server
        assert all((server.PAGE_DIR / name).is_file() for name in server.PAGE_ASSETS), server.PAGE_DIR
        print("ok")
        """
    ).replace("TARGET", repr(str(target)))
    env = dict(os.environ, PYTHONPATH=str(target), KERAS_BACKEND="jax")
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")
