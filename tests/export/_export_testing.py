"""Shared helpers of the export tests: small models with non-trivial weights,
random inputs, and the TensorFlow-only subprocess."""

import json
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest

RUNNER = pathlib.Path(__file__).resolve().parent / "tf_only_runner.py"

SMALL = {"enc_rnn_size": [32], "dec_rnn_size": [32, 32], "z_size": 16}

tensorflow_backend_only = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason=(
        f"export runs on the TensorFlow backend only (active: {keras.backend.backend()}); "
        "presets are backend-independent, export them under KERAS_BACKEND=tensorflow"
    ),
)


def small_model(preset, seed=0, scale=0.3):
    """A small `preset` model whose weights are N(0, scale) (not the near-zero init).

    Fresh weights give `mu` of order 1e-3 and nearly constant argmax outputs,
    which would make the comparisons weak.
    """
    from keras_musicvae import MusicVAE

    model = MusicVAE.from_preset(preset, **SMALL)
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        if "float" in str(weight.dtype):
            weight.assign(rng.normal(0.0, scale, weight.shape).astype("float32"))
    return model


def one_hot_sequences(rng, batch, steps, depth):
    return np.eye(depth, dtype="float32")[rng.integers(0, depth, (batch, steps))]


def random_encode_inputs(model, spec, rng, batch):
    """`(inputs, lengths, controls or None)` for `encode`."""
    steps = model.max_seq_len
    inputs = one_hot_sequences(rng, batch, steps, model.input_depth)
    if spec.lengths_shape:
        segment = steps // spec.lengths_shape[0]
        lengths = rng.integers(1, segment + 1, (batch,) + spec.lengths_shape)
    else:
        lengths = rng.integers(steps // 4, steps + 1, (batch,))
        lengths[0] = steps
    controls = None
    if model.control_depth:
        controls = one_hot_sequences(rng, batch, steps, model.control_depth)
    return inputs, lengths.astype("int32"), controls


def run_tf_only(tmp_path, saved_model, arrays, calls):
    """Runs `calls` in a subprocess that imports TensorFlow but not Keras.

    Args:
        tmp_path: folder for the job files.
        saved_model: SavedModel folder.
        arrays: dict of NumPy inputs.
        calls: list of `{"id", "signature", "inputs": {name: key}}`.

    Returns:
        dict `"id/output"` -> NumPy array.
    """
    tmp_path = pathlib.Path(tmp_path)
    np.savez(tmp_path / "inputs.npz", **arrays)
    job = {
        "saved_model": str(saved_model),
        "inputs": str(tmp_path / "inputs.npz"),
        "outputs": str(tmp_path / "outputs.npz"),
        "calls": calls,
    }
    (tmp_path / "job.json").write_text(json.dumps(job))
    result = subprocess.run(
        [sys.executable, str(RUNNER), str(tmp_path / "job.json")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert result.returncode == 0, f"TensorFlow-only runner failed:\n{result.stderr[-4000:]}"
    modules = json.loads((tmp_path / "outputs.npz.modules.json").read_text())
    assert modules == [], f"the TensorFlow-only process imported {modules[:5]}"
    with np.load(tmp_path / "outputs.npz") as outputs:
        return dict(outputs)


def argmax_tokens(vectors, depths):
    """int `[..., len(depths)]`: argmax of each stream of `vectors`."""
    points = np.cumsum(depths)[:-1]
    return np.stack([np.argmax(p, -1) for p in np.split(vectors, points, axis=-1)], -1)
