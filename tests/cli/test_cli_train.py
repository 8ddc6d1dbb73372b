"""`keras-musicvae prepare / train / convert / demo`: data, training, resuming."""

import importlib.util
import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from cli_support import CORPUS
from cli_support import TINY_HPARAMS
from cli_support import TINY_HPARAMS_TEXT
from cli_support import cli_env
from cli_support import error_lines
from cli_support import run_cli
from support import REPO_ROOT
from support import magenta_fixtures

TRAIN_ARGS = (
    "--preset", "cat_mel_2bar_small",
    "--hparams", TINY_HPARAMS_TEXT,
    "--batch-size", 8,
    "--no-augment",
    "--seed", 0,
    "--workers", 1,
)  # fmt: skip


def _state_step(run_dir):
    from keras_musicvae import training

    return training.read_checkpoint_state(run_dir)["step"]


def _has_checkpoint(run_dir):
    from keras_musicvae import training

    return training.latest_checkpoint(run_dir) is not None


def _preset_step(run_dir):
    from keras_musicvae.models.music_vae import MusicVAE

    model = MusicVAE.from_preset(str(run_dir / "preset"))
    return int(model.global_step.numpy())


def test_prepare_counts_files_failures_and_examples(melodies, tmp_path):
    midi = tmp_path / "midi"
    midi.mkdir()
    for key in ("a", "b", "long", "drums", "text"):
        (midi / melodies[key].name).write_bytes(melodies[key].read_bytes())
    out = tmp_path / "data"
    result = run_cli("prepare", "--input", midi, "--output", out, "--preset", "cat_mel_2bar_small", "--eval-fraction", 0.3)
    assert result.returncode == 0, result.stderr
    assert "5 MIDI file(s): 4 read, 1 failed (1 not a MIDI file)" in result.stdout
    assert "  not a MIDI file: notes.mid" in result.stdout
    summary = json.loads((out / "prepare.json").read_text())
    assert summary["files_read"] == 4 and summary["files_failed"] == {"not a MIDI file": 1}
    assert summary["train_sequences"] + summary["eval_sequences"] == 4
    assert summary["eval_sequences"] >= 1
    assert summary["train_examples"] + summary["eval_examples"] == 5  # 1 + 1 + 3 windows
    assert summary["no_example_reasons"] == {"only drum notes (no melody)": 1}
    assert "1 x only drum notes (no melody)" in result.stdout

    from keras_musicvae.data import pipeline

    names = sorted(
        s.filename
        for s in list(pipeline.read_note_sequences(str(out / "train.tfrecord")))
        + list(pipeline.read_note_sequences(str(out / "eval.tfrecord")))
    )
    assert names == ["a.mid", "b.mid", "drums.mid", "long.mid"]

    again = run_cli("prepare", "--input", midi, "--output", out)
    assert again.returncode == 3


def test_train_no_examples_says_why(melodies, tmp_path):
    midi = tmp_path / "midi"
    midi.mkdir()
    for key in ("drums", "waltz"):
        (midi / melodies[key].name).write_bytes(melodies[key].read_bytes())
    result = run_cli("train", *TRAIN_ARGS, "--data", midi, "--output", tmp_path / "run", "--steps", 2)
    assert result.returncode == 1
    lines = error_lines(result)
    assert lines[-1].startswith("keras-musicvae train: error: No examples were extracted with MelodyConverter")
    assert "only drum notes (no melody)" in lines[-1]
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_train_resumes_from_its_checkpoint(tmp_path):
    run_dir = tmp_path / "run"
    data = CORPUS / "eval"
    first = run_cli("train", *TRAIN_ARGS, "--data", data, "--output", run_dir, "--steps", 6, "--checkpoint-every", 3)
    assert first.returncode == 0, first.stderr
    assert "step 3/6" in first.stdout and "step 6/6" in first.stdout
    assert "eval accuracy" in first.stdout and "(sampled)" in first.stdout
    assert _state_step(run_dir) == 6
    rows = (run_dir / "training_log.csv").read_text().splitlines()
    assert len(rows) == 3 and "val_sampled_accuracy" in rows[0] and "val_accuracy" in rows[0]
    assert (run_dir / "preset" / "model.weights.h5").exists()

    # Resuming needs only the run folder: the model, data and options come from run.json.
    second = run_cli("train", "--output", run_dir, "--steps", 9, "--workers", 1)
    assert second.returncode == 0, second.stderr
    assert "batch 8, steps 6 -> 9" in second.stdout
    assert f"resuming {run_dir} from step 6" in second.stdout
    assert "step 9/9" in second.stdout and "step 3/" not in second.stdout
    assert _state_step(run_dir) == 9
    assert _preset_step(run_dir) == 9  # the model's global_step continued too
    assert len((run_dir / "training_log.csv").read_text().splitlines()) == 4

    other = run_cli(
        "train", "--preset", "cat_mel_2bar_small", "--hparams", TINY_HPARAMS_TEXT.replace("z_size=4", "z_size=8"),
        "--data", data, "--output", run_dir, "--steps", 12,
    )  # fmt: skip
    assert other.returncode == 2
    assert "holds a run of a different model: z_size (4 there, 8 now)" in error_lines(other)[-1]

    fresh = run_cli("train", "--output", tmp_path / "new_run", "--steps", 3)
    assert fresh.returncode == 2
    assert error_lines(fresh) == [f"keras-musicvae train: error: --preset is required: {tmp_path / 'new_run'} holds no run to resume."]


@pytest.mark.slow
def test_train_killed_then_resumed(tmp_path):
    """Kill a run once a checkpoint exists; the next run continues from that step."""
    run_dir = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, "-m", "keras_musicvae", "train", *map(str, TRAIN_ARGS), "--data", str(CORPUS / "eval"),
         "--output", str(run_dir), "--steps", "100000", "--checkpoint-every", "2", "--sampled-eval-examples", "0"],
        env=cli_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and process.poll() is None:
            if _has_checkpoint(run_dir) and _state_step(run_dir) >= 4:
                break
            time.sleep(0.5)
        assert process.poll() is None, "training ended before it could be killed"
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    killed_at = _state_step(run_dir)
    assert killed_at >= 4 and killed_at % 2 == 0

    resumed = run_cli(
        "train", *TRAIN_ARGS, "--data", CORPUS / "eval", "--output", run_dir, "--steps", killed_at + 2,
        "--checkpoint-every", 2, "--sampled-eval-examples", 0,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming {run_dir} from step {killed_at}" in resumed.stdout
    assert f"step {killed_at + 2}/{killed_at + 2}" in resumed.stdout
    assert _state_step(run_dir) == killed_at + 2
    assert _preset_step(run_dir) == killed_at + 2


def _kill_loop_tool():
    """tools/kill_loop.py, imported."""
    spec = importlib.util.spec_from_file_location("kill_loop_tool", REPO_ROOT / "tools" / "kill_loop.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sigkill_while_writing_a_checkpoint_keeps_a_whole_one(tmp_path):
    """SIGKILL while `train --checkpoint-every 1` writes a checkpoint: the latest checkpoint is whole (its
    state.json step is the optimizer step in its weights); a resume removes what the kill left and restores
    that step exactly."""
    from keras_musicvae import training
    from keras_musicvae.models.music_vae import MusicVAE

    tool = _kill_loop_tool()
    loop = tool.KillLoop(tmp_path / "run", random.Random(), say=print)
    loop.round(tool.MODES.index("writing"))
    assert (loop.figures.kills, loop.figures.kills_mid_training) == (1, 1)
    assert loop.figures.inconsistent_checkpoints == 0
    step, problems = tool.checkpoint_problems(loop.run_dir)
    assert step is not None and step >= 2 and problems == []

    model = MusicVAE.from_preset("cat_mel_2bar_small", load_weights=False, **TINY_HPARAMS)
    model.compile()
    training.remove_stale_files(loop.run_dir)
    assert training.stale_files(loop.run_dir) == []
    assert training.restore_checkpoint(model, loop.run_dir) == step
    assert training.optimizer_iterations(model) == step


@pytest.mark.slow
def test_kill_loop_every_resume_is_consistent(tmp_path):
    """Five SIGKILLs at random times (start-up, training, checkpoint writes), each followed by a resume."""
    figures = _kill_loop_tool().run_kill_loop(tmp_path / "run", kills=5, seed=random.randrange(1000))
    print("\n".join(figures.lines()))
    assert figures.kills == 5 and figures.kills_while_writing >= 1
    assert figures.resumes >= 5 and figures.final_run_ok
    assert figures.inconsistencies == 0


def test_convert_magenta_checkpoint(tmp_path):
    fixtures = magenta_fixtures()
    out = tmp_path / "converted"
    result = run_cli(
        "convert", "--checkpoint", fixtures / "cat-mel_2bar_small" / "checkpoint", "--preset", "cat-mel_2bar_small",
        "--output", out,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (out / "model.weights.h5").exists() and (out / "config.json").exists()
    again = run_cli(
        "convert", "--checkpoint", fixtures / "cat-mel_2bar_small" / "checkpoint", "--preset", "cat-mel_2bar_small",
        "--output", out,
    )  # fmt: skip
    assert again.returncode == 3
    missing = run_cli("convert", "--checkpoint", tmp_path / "nothing", "--preset", "cat-mel_2bar_small", "--output", tmp_path / "x")
    assert missing.returncode == 1
    assert error_lines(missing) == [
        f"keras-musicvae convert: error: {tmp_path / 'nothing'}: no such checkpoint (prefix, folder or .tar bundle)."
    ]


@pytest.mark.slow
def test_demo_smoke(tmp_path):
    """The demo end to end with a few seconds of training (the real demo trains for minutes)."""
    out = tmp_path / "demo"
    result = run_cli("demo", "--minutes", 0.05, "--output", out, "--no-audio", timeout=900)
    assert result.returncode == 0, result.stderr
    assert "held-out accuracy, teacher-forced:" in result.stdout
    assert "held-out accuracy, sampled" in result.stdout
    assert len(list((out / "samples").glob("sample_*.mid"))) == 8
    assert len(list((out / "samples").glob("sample_*.png"))) == 8
    assert len(list((out / "interpolation").glob("interp_*.mid"))) == 7
    assert (out / "interpolation" / "interpolation.png").exists()
    assert (out / "run" / "preset" / "model.weights.h5").exists()
    again = run_cli("demo", "--minutes", 0.05, "--output", out, "--no-audio", timeout=120)
    assert again.returncode == 3
