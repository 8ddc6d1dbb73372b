"""`keras_musicvae.training.train_model`: the recipe from Python, and `train --distribute` per backend."""

import json
import os
import subprocess
import sys

import keras
import pytest

from support import BUNDLED_CORPUS
from support import REPO_ROOT

from keras_musicvae import training

BACKEND = keras.backend.backend()
TINY = {"enc_rnn_size": [16], "dec_rnn_size": [16], "z_size": 4, "sampling_schedule": "constant", "sampling_rate": 0.0}
TINY_TEXT = "enc_rnn_size=[16],dec_rnn_size=[16],z_size=4,sampling_schedule=constant,sampling_rate=0"


def test_train_model_runs_the_whole_recipe(tmp_path):
    lines = []
    result, model = training.train_model(
        "cat_mel_2bar_small", BUNDLED_CORPUS / "eval", tmp_path / "run", hparams=TINY, steps=2, batch_size=8,
        checkpoint_every=2, sampled_eval_examples=4, eval_batches=1, augment=False, seed=0, workers=1,
        precision="float32", say=lines.append, warn=lines.append,
    )  # fmt: skip
    assert (result.initial_step, result.final_step, result.stopped_by) == (0, 2, "steps")
    assert "val_sampled_accuracy" in result.metrics and model.dtype_policy.name == "float32"
    record = json.loads((tmp_path / "run" / training.RUN_CONFIG).read_text())
    assert (record["precision"], record["distribute"], record["replicas"]) == ("float32", None, 1)
    assert record["batch_size"] == 8
    assert training.read_checkpoint_state(tmp_path / "run")["step"] == 2
    assert (tmp_path / "run" / "preset" / "model.weights.h5").exists()
    assert any(line.startswith("training cat_mel_2bar_small") for line in lines)


def test_bad_options_are_refused_before_any_work(tmp_path):
    with pytest.raises(ValueError, match="unknown precision 'float8'; choose one of float32, mixed_bfloat16"):
        training.train_model("cat_mel_2bar_small", BUNDLED_CORPUS / "eval", tmp_path / "run", precision="float8")
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        training.train_model("cat_mel_2bar_small", BUNDLED_CORPUS / "eval", tmp_path / "run", batch_size=0)
    assert not (tmp_path / "run").exists()


def _cli(*args, env=None):
    full_env = dict(os.environ, KERAS_BACKEND=BACKEND, **(env or {}))
    full_env.pop("KERAS_MUSICVAE_DEBUG", None)
    full_env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), full_env.get("PYTHONPATH")) if p)
    command = [sys.executable, "-m", "keras_musicvae", "train", *map(str, args)]
    return subprocess.run(command, env=full_env, capture_output=True, text=True, timeout=600)


def test_cli_distributes_on_this_backend(tmp_path):
    """TF: `mirrored` on the one CPU; JAX: `data_parallel` over 2 forced host devices; torch: refused."""
    common = (
        "--preset", "cat_mel_2bar_small", "--hparams", TINY_TEXT, "--data", BUNDLED_CORPUS / "eval",
        "--output", tmp_path / "run", "--batch-size", 8, "--steps", 2, "--checkpoint-every", 2, "--no-augment",
        "--seed", 0, "--workers", 1, "--sampled-eval-examples", 4, "--eval-batches", 1,
    )  # fmt: skip
    if BACKEND == "torch":
        result = _cli(*common, "--distribute", "mirrored")
        assert result.returncode == 2
        assert "--distribute mirrored runs on the tensorflow backend, not torch" in result.stderr
        return
    if BACKEND == "tensorflow":
        result = _cli(*common, "--distribute", "mirrored", "--devices", "/cpu:0")
        replicas = 1
    else:
        flags = "--xla_force_host_platform_device_count=2"
        result = _cli(*common, "--distribute", "data_parallel", env={"XLA_FLAGS": flags})
        replicas = 2
    assert result.returncode == 0, result.stderr[-3000:]
    kind = "mirrored" if BACKEND == "tensorflow" else "data_parallel"
    assert f"distribution: {kind}: {replicas} replica(s), {8 // replicas} examples per replica" in result.stdout
    assert "held-out accuracy: teacher-forced" in result.stdout
    assert training.read_checkpoint_state(tmp_path / "run")["step"] == 2
    assert json.loads((tmp_path / "run" / "run.json").read_text())["replicas"] == replicas
