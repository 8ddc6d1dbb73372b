"""Keras' own saving: `.keras` files written by `model.save` and by
`keras.callbacks.ModelCheckpoint` load with `keras.models.load_model` in a
fresh process that only ran `import keras, keras_musicvae` (either order)."""

import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
from keras import ops

from keras_musicvae.models.music_vae import MusicVAE
from support import REPO_ROOT

DEPTH = 5
STEPS = 6

LOADER = textwrap.dedent(
    """
    import sys

    import numpy as np

    {imports}

    batch = dict(np.load(sys.argv[1]))
    for path in sys.argv[3:]:
        expected = dict(np.load(sys.argv[2]))
        model = keras.models.load_model(path)
        assert type(model).__name__ == "MusicVAE", type(model)
        assert type(model.optimizer).__name__ == "MusicVAEAdam", type(model.optimizer)
        iterations = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
        assert iterations == int(expected.pop("iterations")), iterations
        outputs = model(batch, training=False)
        for key, value in expected.items():
            np.testing.assert_allclose(
                keras.ops.convert_to_numpy(outputs[key]), value, rtol=1e-5, atol=1e-6, err_msg=f"{{path}}: {{key}}"
            )
        print("loaded", path)
    """
)


def _run_python(code, *args):
    """Runs `python -c code args` in a fresh process on the current backend."""
    env = dict(os.environ)
    env["KERAS_BACKEND"] = keras.backend.backend()
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
    return subprocess.run(
        [sys.executable, "-c", code, *[str(a) for a in args]], env=env, capture_output=True, text=True, timeout=300
    )


def _tiny_model():
    return MusicVAE(
        input_depth=DEPTH,
        output_depth=DEPTH,
        max_seq_len=STEPS,
        z_size=3,
        enc_rnn_size=[4],
        dec_rnn_size=[4],
        sampling_schedule="constant",
        sampling_rate=0.0,
    )


def _batch(size=4):
    rng = np.random.default_rng(0)
    x = np.eye(DEPTH, dtype="float32")[rng.integers(0, DEPTH, size=(size, STEPS))]
    return {"inputs": x, "targets": x, "lengths": np.full(size, STEPS, "int32")}


@pytest.fixture(scope="module")
def saved_files(tmp_path_factory):
    """A tiny model trained one epoch with ModelCheckpoint, saved again with `model.save`."""
    folder = tmp_path_factory.mktemp("keras_files")
    model = _tiny_model()
    model.compile()
    batch = _batch()
    checkpoint = folder / "best.keras"
    model.fit(
        batch,
        batch_size=2,
        epochs=1,
        verbose=0,
        shuffle=False,
        callbacks=[keras.callbacks.ModelCheckpoint(str(checkpoint))],
    )
    saved = folder / "model.keras"
    model.save(saved)
    outputs = model(batch, training=False)
    np.savez(folder / "batch.npz", **batch)
    expected = {k: ops.convert_to_numpy(outputs[k]) for k in ("mu", "sigma", "logits")}
    expected["iterations"] = ops.convert_to_numpy(model.optimizer.iterations)
    np.savez(folder / "expected.npz", **expected)
    return folder, [checkpoint, saved]


@pytest.mark.parametrize("imports", ["import keras\nimport keras_musicvae", "import keras_musicvae\nimport keras"])
def test_keras_files_load_after_plain_import(saved_files, imports):
    folder, files = saved_files
    assert all(path.exists() for path in files)
    result = _run_python(LOADER.format(imports=imports), folder / "batch.npz", folder / "expected.npz", *files)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("loaded") == len(files)


def test_import_registers_without_importing_keras():
    """`import keras_musicvae` alone imports no framework; `import keras` then registers our classes."""
    code = textwrap.dedent(
        """
        import sys
        import keras_musicvae
        heavy = [m for m in ("keras", "tensorflow", "jax", "torch") if m in sys.modules]
        assert heavy == [], heavy
        import keras
        for name in ("MusicVAE", "BarDecoder", "CategoricalHead", "MusicVAEAdam", "MagentaLearningRate"):
            assert keras.saving.get_registered_object("keras_musicvae>" + name) is not None, name
        assert type(keras.__loader__).__module__ != "keras_musicvae", keras.__loader__
        assert not any(type(f).__module__ == "keras_musicvae" for f in sys.meta_path), sys.meta_path
        print("ok")
        """
    )
    result = _run_python(code)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "ok" in result.stdout


def test_importing_one_layer_module_first_registers_the_model():
    """Keras first imported from inside the package (a layer module): registration waits, then completes."""
    code = textwrap.dedent(
        """
        from keras_musicvae.layers.bar_decoder import BarDecoder
        import keras
        assert keras.saving.get_registered_object("keras_musicvae>MusicVAE") is not None
        print("ok")
        """
    )
    result = _run_python(code)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "could not register" not in result.stderr
    assert "ok" in result.stdout
