"""Tests for keras_musicvae.evaluation.run (`evaluate_model`) and tools/evaluate.py."""

import importlib.util
import json
import pathlib

import numpy as np
import pytest

from keras_musicvae.evaluation import per_step_accuracy
from keras_musicvae.evaluation import tokens_from_one_hot
from keras_musicvae.evaluation.model_runner import ModelRunner
from keras_musicvae.evaluation.run import evaluate_model
from keras_musicvae.evaluation.run import load_examples
from keras_musicvae.evaluation.run import reconstruction_study

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
FREEDOOM = REPO_ROOT / "keras_musicvae" / "corpus" / "freedoom"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TINY = {"enc_rnn_size": [16], "dec_rnn_size": [16], "z_size": 8}


def _assert_png(path):
    data = pathlib.Path(path).read_bytes()
    assert data.startswith(PNG_MAGIC)
    assert len(data) > 5000


@pytest.fixture(scope="module")
def tiny_melody_model():
    """An untrained tiny 2-bar melody model (32 steps, 90 classes)."""
    from keras_musicvae.models.music_vae import MusicVAE

    return MusicVAE.from_preset("cat_mel_2bar_small", load_weights=False, **TINY)


@pytest.fixture(scope="module")
def midi_files():
    """A few real MIDI files of the bundled corpus: held-out and training."""
    heldout = sorted((FREEDOOM / "eval").glob("*.mid"))[:3]
    train = sorted((FREEDOOM / "train").glob("*.mid"))[:4]
    if not heldout or not train:
        pytest.skip(f"the bundled corpus is missing under {FREEDOOM}.")
    return [str(p) for p in heldout], [str(p) for p in train]


@pytest.fixture(scope="module")
def evaluation(tiny_melody_model, midi_files, tmp_path_factory):
    heldout, train = midi_files
    output = tmp_path_factory.mktemp("evaluation")
    results = evaluate_model(
        tiny_melody_model,
        heldout,
        output,
        train_data=train,
        num_examples=12,
        interpolation_pairs=3,
        attribute_examples=16,
        attribute_samples=6,
        batch_size=8,
        num_workers=1,
        name="tiny",
    )
    return results, output


def test_evaluate_model_writes_json_and_pngs(evaluation):
    results, output = evaluation
    assert results["skipped"] == {}
    assert set(results["files"]) == {"json", "interpolation_png", "attributes_png"}
    _assert_png(output / "interpolation.png")
    _assert_png(output / "attribute_changes.png")
    written = json.loads((output / "evaluation.json").read_text())
    for key in ("name", "model", "data", "settings", "reconstruction", "interpolation", "attributes", "seconds"):
        assert key in written
    assert written["data"]["heldout"]["examples_used"] == 12
    reconstruction = written["reconstruction"]
    for key in ("teacher_forced_accuracy", "teacher_forced_accuracy_posterior_z", "sampled_accuracy",
                "argmax_accuracy"):
        assert 0.0 <= reconstruction[key] <= 1.0
    assert reconstruction["num_examples"] == 12
    assert 0.0 < reconstruction["majority_token_accuracy"] <= 1.0
    assert reconstruction["sample_temperature"] == 1.0


def test_interpolation_figures(evaluation):
    interpolation = evaluation[0]["interpolation"]
    np.testing.assert_allclose(interpolation["alphas"], np.linspace(0, 1, 11))
    assert interpolation["num_pairs"] == 3
    assert interpolation["temperature"] == 0.5
    assert interpolation["language_model"]["order"] == 5
    assert interpolation["language_model"]["training_sequences"] > 0
    for method in ("model", "data"):
        assert np.shape(interpolation["hamming_to_a"][method]) == (11,)
        assert np.all(np.asarray(interpolation["relative_lm_cost"][method]) > 0)
    # The data baseline is A at alpha 0 and B at alpha 1: Hamming 0 to A / to B
    # at the ends, and the relative cost is exactly 1 there.
    data_to_a = interpolation["hamming_to_a"]["data"]
    assert data_to_a[0] == 0.0 and interpolation["hamming_to_b"]["data"][-1] == 0.0
    np.testing.assert_allclose(np.asarray(interpolation["relative_lm_cost"]["data"])[[0, -1]], 1.0)


def test_attribute_figures(evaluation):
    attributes = evaluation[0]["attributes"]
    assert attributes["attribute_names"] == [
        "c_diatonic", "note_density", "average_interval", "syncopation_16th", "syncopation_8th"
    ]
    assert np.shape(attributes["adding"]) == (5, 5)
    assert np.shape(attributes["subtracting"]) == (5, 5)
    assert attributes["num_examples"] == 16
    assert attributes["num_samples"] == 6
    np.testing.assert_allclose(attributes["diagonal_adding"], np.diag(attributes["adding"]))


def test_accuracies_match_independent_computations(tiny_melody_model, midi_files):
    """Teacher-forced accuracy equals the argmax of the model's own forward
    pass (z = mu in inference); argmax accuracy equals training.sampled_accuracy."""
    from keras import ops

    from keras_musicvae import training

    model = tiny_melody_model
    examples, _ = load_examples(midi_files[0], model, max_examples=8, num_workers=1)
    results = reconstruction_study(ModelRunner(model, 8), examples)
    outputs = model(examples, training=False)
    logits = ops.convert_to_numpy(outputs["logits"])
    expected = per_step_accuracy(
        tokens_from_one_hot(logits), tokens_from_one_hot(examples["targets"]), examples["lengths"]
    )
    assert results["teacher_forced_accuracy"] == pytest.approx(expected, abs=1e-6)
    assert results["argmax_accuracy"] == pytest.approx(training.sampled_accuracy(model, examples, 8), abs=1e-6)


def test_magentas_eval_figures_cover_every_example(tiny_melody_model, midi_files):
    from keras_musicvae.evaluation.magenta_eval import uses_free_running_eval

    model = tiny_melody_model
    examples, _ = load_examples(midi_files[0], model, max_examples=8, num_workers=1)
    magenta = reconstruction_study(ModelRunner(model, 3), examples)["magenta_eval"]  # batches of 3, 3, 2
    assert magenta["num_sequences"] == len(examples["inputs"])
    assert magenta["num_steps"] == float(np.minimum(examples["lengths"], examples["targets"].shape[1]).sum())
    assert magenta["free_running"] == float(uses_free_running_eval(model))
    assert 0.0 <= magenta["accuracy"] <= 1.0
    assert magenta["loss"] == pytest.approx(magenta["r_loss"] + magenta["kl_beta"] * magenta["kl_loss"], rel=1e-5)


def test_majority_token_accuracy_and_given_language_model(tiny_melody_model):
    from keras_musicvae.evaluation import KneserNeyLanguageModel

    tokens = np.zeros((6, 32), dtype=np.int64)
    tokens[:, ::4] = 62  # a note every quarter: 3 of 4 steps are "no event"
    tokens[:3, 8:] = 1  # the first three melodies stop after 2 quarters
    one_hot = np.eye(90, dtype="float32")[tokens]
    arrays = {"inputs": one_hot, "targets": one_hot, "lengths": np.full(6, 32)}
    language_model = KneserNeyLanguageModel(order=3, vocab_size=90).fit(tokens)
    results = evaluate_model(
        tiny_melody_model, arrays, None, num_examples=None, interpolation_pairs=2,
        attribute_examples=0, batch_size=6, language_model=language_model,
    )
    expected = np.mean(tokens == 0)
    assert results["reconstruction"]["majority_token_accuracy"] == pytest.approx(expected)
    info = results["interpolation"]["language_model"]
    assert info["order"] == 3 and info["training_data"] == "a language model given by the caller"
    assert results["skipped"] == {"attributes": "attribute_examples is 0"}


def test_load_examples_seeded_subset(tiny_melody_model):
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 90, size=(10, 32))
    one_hot = np.eye(90, dtype="float32")[tokens]
    arrays = {"inputs": one_hot, "targets": one_hot, "lengths": np.full(10, 32)}
    first, info = load_examples(arrays, tiny_melody_model, max_examples=4, seed=3)
    again, _ = load_examples(arrays, tiny_melody_model, max_examples=4, seed=3)
    np.testing.assert_array_equal(first["inputs"], again["inputs"])
    assert first["inputs"].shape == (4, 32, 90)
    assert info == {"source": "arrays", "examples_available": 10, "examples_used": 4}
    with pytest.raises(ValueError, match="lacks"):
        load_examples({"inputs": one_hot}, tiny_melody_model)


def test_trio_reports_per_stream_accuracy():
    """A (2-bar-long) hierarchical trio model: melody / bass / drums accuracies."""
    from keras_musicvae.models.music_vae import MusicVAE

    model = MusicVAE.from_preset(
        "hierdec_trio_16bar", load_weights=False, max_seq_len=32, decoder_level_lengths=[2, 16],
        enc_rnn_size=[8], dec_rnn_size=[8], z_size=4,
    )
    rng = np.random.default_rng(0)
    streams = [np.eye(depth, dtype="float32")[rng.integers(0, depth, (4, 32))] for depth in (90, 90, 512)]
    targets = np.concatenate(streams, axis=-1)
    arrays = {"inputs": targets, "targets": targets, "lengths": np.full(4, 32)}
    results = evaluate_model(model, arrays, None, num_examples=None, batch_size=4)
    reconstruction = results["reconstruction"]
    per_stream = reconstruction["per_stream"]
    assert set(per_stream) == {"teacher_forced", "sampled", "argmax"}
    for values in per_stream.values():
        assert set(values) == {"melody", "bass", "drums"}
    assert reconstruction["teacher_forced_accuracy"] == pytest.approx(
        np.mean(list(per_stream["teacher_forced"].values()))
    )
    assert results["interpolation"] is None and results["attributes"] is None
    assert set(results["skipped"]) == {"interpolation", "attributes"}
    assert results["files"] == {}


def test_groove_model_accuracy_counts_steps_with_every_hit_right():
    """Groove heads have no per-step classes: a step is right when all 9 hits are.

    (This crashed before the evaluation shared `training.stream_accuracies`.)
    """
    from keras_musicvae.models.music_vae import MusicVAE

    model = MusicVAE.from_preset(
        "groovae_2bar_humanize", load_weights=False, enc_rnn_size=[8], dec_rnn_size=[8], z_size=4
    )
    rng = np.random.default_rng(0)
    steps = model.max_seq_len
    hits = (rng.random((4, steps, 9)) < 0.1).astype("float32")
    targets = np.concatenate([hits, hits * 0.8, np.zeros_like(hits)], axis=-1)
    arrays = {"inputs": targets, "targets": targets, "lengths": np.array([steps, steps, 20, 7])}
    results = evaluate_model(model, arrays, None, num_examples=None, interpolation_pairs=0,
                             attribute_examples=0, batch_size=4)
    reconstruction = results["reconstruction"]
    assert reconstruction["teacher_forced_accuracy"] is None
    mu, _ = model.encode(targets, lengths=arrays["lengths"])
    decoded = model.decode(mu, temperature=0)
    correct = np.all((decoded[..., :9] >= 0.5) == (hits >= 0.5), axis=-1)
    valid = np.arange(steps) < arrays["lengths"][:, None]
    assert reconstruction["argmax_accuracy"] == pytest.approx(correct[valid].mean())
    assert "per_stream" not in reconstruction
    assert reconstruction["magenta_eval"] is None


def _evaluate_tool():
    spec = importlib.util.spec_from_file_location("evaluate_tool", REPO_ROOT / "tools" / "evaluate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_evaluate_tool(tiny_melody_model, midi_files, tmp_path, capsys):
    preset = tmp_path / "preset"
    tiny_melody_model.save_to_preset(str(preset))
    tool = _evaluate_tool()
    output = tmp_path / "out"
    code = tool.main([
        "--model", str(preset), "--data", midi_files[0][0], "--output", str(output),
        "--num-examples", "4", "--interpolation-pairs", "0", "--attribute-examples", "0", "--batch-size", "4",
    ])
    assert code == 0
    written = json.loads((output / "evaluation.json").read_text())
    assert set(written["skipped"]) == {"interpolation", "attributes"}
    assert "sampled_accuracy" in capsys.readouterr().out
    # The same run again would replace the evaluation: refused without --overwrite.
    assert tool.main(["--model", str(preset), "--data", midi_files[0][0], "--output", str(output)]) == 3
    assert "evaluation.json already exists" in capsys.readouterr().err
    assert tool.main(["--model", str(preset), "--data", str(tmp_path / "missing"), "--output", str(output)]) == 1
    assert "missing: no such --data data" in capsys.readouterr().err
    assert tool.main(["--model", str(preset), "--data", midi_files[0][0], "--output", str(output),
                      "--num-examples", "0"]) == 2
    assert "--num-examples must be at least 1" in capsys.readouterr().err


def test_evaluate_subcommand_is_listed():
    from keras_musicvae.cli.main import build_parser

    help_text = build_parser().format_help()
    assert "evaluate" in help_text and "Table 1" in help_text
