"""Export to Magenta TF1 checkpoints (`export_magenta_checkpoint`).

Round trip through our own converter (identical weights), the configuration
name and hparams string, and the reference test: Magenta 2.1.4's own
`TrainedModel` (the virtualenv of ../shared/reference/setup_magenta_env.sh)
loads the export and reproduces our `mu` / `sigma` (to 1e-5; measured about
4e-7) and greedy samples (identical; GrooVAE's continuous values to 1e-5).
Writing the checkpoint needs TensorFlow (installed with every backend).
"""

import json
import os
import pathlib
import subprocess

import numpy as np
import pytest

from _export_testing import one_hot_sequences
from _export_testing import small_model
from _magentajs_support import run_cli
from support import magenta_fixtures

RUNNER = pathlib.Path(__file__).resolve().parent / "magenta_reference_runner.py"
REFERENCE_PRESETS = ["cat_mel_2bar_small", "hierdec_trio_16bar", "groovae_2bar_humanize", "nade_drums_2bar_reduced"]


def _numpy(variable):
    from keras_musicvae.export.magenta_variables import to_numpy

    return to_numpy(variable)


def assert_same_weights(model, other):
    assert [w.path for w in model.weights] == [w.path for w in other.weights]
    for a, b in zip(model.weights, other.weights):
        np.testing.assert_array_equal(_numpy(a), _numpy(b), err_msg=a.path)


def _converted(name):
    from keras_musicvae.convert import convert_magenta_checkpoint

    return convert_magenta_checkpoint(magenta_fixtures() / name / "checkpoint", name)


def _parse_hparams(text):
    """`k=v,k2=[a,b]` (Magenta's --hparams) -> dict; values JSON."""
    items, depth, current = [], 0, ""
    for ch in text:
        depth += (ch == "[") - (ch == "]")
        if ch == "," and depth == 0:
            items.append(current)
            current = ""
        else:
            current += ch
    items.append(current)
    return {k: json.loads(v) for k, v in (item.split("=", 1) for item in items if item)}


@pytest.mark.parametrize(
    "preset, name",
    [
        ("cat_mel_2bar_small", "cat-mel_2bar_small"),
        ("hierdec_trio_16bar", "hierdec-trio_16bar"),
        ("groovae_2bar_hits_control", "groovae_2bar_hits_control_tfds"),
        ("nade_drums_2bar_full", "nade-drums_2bar_full"),
        ("hier_multiperf_vel_1bar_big_chords", "hier-multiperf_vel_1bar_big_chords"),
    ],
)
def test_magenta_configuration_of_presets(preset, name):
    from keras_musicvae.export.magenta_checkpoint import magenta_config
    from keras_musicvae.presets import load_preset_config

    config = load_preset_config(preset)
    found, hparams = magenta_config(config)
    assert found == name
    sizes = {k: config[k] for k in ("z_size", "enc_rnn_size", "dec_rnn_size")}
    if config.get("output_head") == "nade":
        sizes["nade_num_hidden"] = config["nade_num_hidden"]
    assert hparams == ",".join(f"{k}={json.dumps(v).replace(' ', '')}" for k, v in sizes.items())


def test_hparams_state_sizes_and_changed_settings():
    from keras_musicvae.export.magenta_checkpoint import magenta_config
    from keras_musicvae.presets import load_preset_config

    config = dict(load_preset_config("cat_mel_2bar_big"))
    config.update(z_size=64, enc_rnn_size=[128], dec_rnn_size=[96, 96], free_bits=16.0, sampling_schedule="constant",
                  sampling_rate=0.0, name="my_model")
    name, hparams = magenta_config(config)
    # Nearest configuration with these structures: small and big differ only in hparams.
    assert name in ("cat-mel_2bar_small", "cat-mel_2bar_big")
    assert hparams.startswith("z_size=64,enc_rnn_size=[128],dec_rnn_size=[96,96],")
    assert "free_bits=16" in hparams and "sampling_schedule=constant" in hparams


def test_unknown_architecture_is_refused(tmp_path):
    from keras_musicvae.export.magenta_checkpoint import NoMagentaConfigError
    from keras_musicvae.export.magenta_checkpoint import magenta_config
    from keras_musicvae.presets import load_preset_config

    config = dict(load_preset_config("hier_mel_16bar"))
    config.update(max_seq_len=128, encoder_level_lengths=[16, 8], decoder_level_lengths=[8, 16])
    with pytest.raises(NoMagentaConfigError, match="No Magenta configuration"):
        magenta_config(config)


@pytest.mark.fixtures
@pytest.mark.parametrize("name", ["hierdec-trio_16bar", "hier-mel_16bar", "nade-drums_2bar_reduced"])
def test_round_trip_gives_identical_weights(tmp_path, name):
    import tensorflow as tf

    from keras_musicvae.convert import convert_magenta_checkpoint
    from keras_musicvae.convert import read_checkpoint
    from keras_musicvae.export import export_magenta_checkpoint

    model = _converted(name)
    prefix = export_magenta_checkpoint(model, tmp_path / "ckpt", global_step=40)
    assert prefix == tmp_path / "ckpt" / "model.ckpt"
    assert tf.train.latest_checkpoint(str(tmp_path / "ckpt")) == str(prefix)
    reader = tf.train.load_checkpoint(str(prefix))
    assert reader.get_tensor("global_step") == 40
    assert reader.get_variable_to_dtype_map()["global_step"] == tf.int64

    # The fixture's own names and shapes; values up to the forget-bias rounding.
    fixture = magenta_fixtures() / name
    written = read_checkpoint(tmp_path / "ckpt")
    shapes = json.loads((fixture / "variables.json").read_text())
    assert {k: list(v.shape) for k, v in written.items()} == {k: v for k, v in shapes.items() if k != "global_step"}
    original = read_checkpoint(fixture / "checkpoint")
    assert sorted(written) == sorted(original)
    for key, value in original.items():
        np.testing.assert_allclose(written[key], value, rtol=0, atol=1.2e-7, err_msg=key)

    described = json.loads((tmp_path / "ckpt" / "magenta_config.json").read_text())
    notes = json.loads((fixture / "notes.json").read_text())
    assert described["config"] == notes["config_name"] == name
    wanted = _parse_hparams(notes["hparams_overrides"])
    given = _parse_hparams(described["hparams"])
    assert {k: given[k] for k in ("z_size", "enc_rnn_size", "dec_rnn_size")} == {
        k: wanted[k] for k in ("z_size", "enc_rnn_size", "dec_rnn_size")
    }
    assert_same_weights(model, convert_magenta_checkpoint(tmp_path / "ckpt", described["config"]))


@pytest.mark.fixtures
def test_export_writes_nothing_when_refused(tmp_path):
    from keras_musicvae import MusicVAE
    from keras_musicvae.export import export_magenta_checkpoint
    from keras_musicvae.export.magenta_checkpoint import NoMagentaConfigError

    model = MusicVAE.from_preset(
        "hier_mel_16bar", load_weights=False, enc_rnn_size=[8], dec_rnn_size=[8], z_size=4,
        max_seq_len=128, encoder_level_lengths=[16, 8], decoder_level_lengths=[8, 16],
    )
    with pytest.raises(NoMagentaConfigError):
        export_magenta_checkpoint(model, tmp_path / "ckpt")
    assert not (tmp_path / "ckpt").exists()


# ------------------------------------------------------- Magenta itself
def _magenta_python():
    venv = pathlib.Path(os.environ.get("MAGENTA_VENV", pathlib.Path.home() / ".magenta-ref-venv"))
    python = venv / "bin" / "python"
    if not python.exists():
        pytest.skip(
            f"the Magenta 2.1.4 reference virtualenv is not built ({python} is missing): build it with "
            "`bash ../shared/reference/setup_magenta_env.sh` (a few minutes, from PyPI), or set MAGENTA_VENV."
        )
    return python


@pytest.mark.slow
def test_magenta_trained_model_reproduces_the_export(tmp_path):
    """Magenta's TrainedModel loads the export of small models with non-trivial weights
    (flat, hierarchical split trio, GrooVAE, NADE) and gives our mu, sigma and greedy samples."""
    from keras_musicvae.export import export_magenta_checkpoint

    python = _magenta_python()
    rng = np.random.default_rng(7)
    arrays, items, ours = {}, [], {}
    for preset in REFERENCE_PRESETS:
        model = small_model(preset)
        export_magenta_checkpoint(model, tmp_path / preset)
        batch = 3
        inputs = one_hot_sequences(rng, batch, model.max_seq_len, model.input_depth)
        lengths = np.full((batch,), model.max_seq_len, np.int32)
        if not model.decoder_level_lengths:
            lengths[1] = model.max_seq_len - 5  # Magenta honours lengths too
        z = rng.standard_normal((batch, model.z_size)).astype("float32")
        arrays.update({f"{preset}/inputs": inputs, f"{preset}/lengths": lengths, f"{preset}/z": z})
        items.append({"id": preset, "folder": str(tmp_path / preset), "temperature": 1e-10})
        mu, sigma = model.encode(inputs, lengths)
        ours[preset] = (model, mu, sigma, model.decode(z, temperature=0))
    np.savez(tmp_path / "inputs.npz", **arrays)
    job = {"arrays": str(tmp_path / "inputs.npz"), "outputs": str(tmp_path / "outputs.npz"), "models": items}
    (tmp_path / "job.json").write_text(json.dumps(job))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "KERAS_BACKEND")}
    env.update(PYTHONHASHSEED="0", CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="2")
    completed = subprocess.run(
        [str(python), str(RUNNER), str(tmp_path / "job.json")], env=env, capture_output=True, text=True, timeout=900
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    out = dict(np.load(tmp_path / "outputs.npz"))
    for preset, (model, mu, sigma, samples) in ours.items():
        assert f"{preset}/error" not in out, str(out.get(f"{preset}/error"))
        np.testing.assert_allclose(out[f"{preset}/mu"], mu, atol=1e-5, rtol=0, err_msg=preset)
        np.testing.assert_allclose(out[f"{preset}/sigma"], sigma, atol=1e-5, rtol=0, err_msg=preset)
        theirs = out[f"{preset}/samples"]
        if model.output_head == "groove":
            hits = model.output_depth // 3
            np.testing.assert_array_equal(theirs[..., :hits], samples[..., :hits], err_msg=preset)
            np.testing.assert_allclose(theirs[..., hits:], samples[..., hits:], atol=1e-5, err_msg=preset)
        else:
            np.testing.assert_array_equal(theirs, samples, err_msg=preset)


@pytest.mark.slow
@pytest.mark.fixtures
def test_cli_export_magenta_checkpoint_and_convert_back(tmp_path):
    from keras_musicvae import MusicVAE

    model = _converted("nade-drums_2bar_reduced")
    model.save_to_preset(tmp_path / "preset")
    result = run_cli(
        "export", "--model", tmp_path / "preset", "--format", "magenta_checkpoint", "--output", tmp_path / "ckpt"
    )
    assert result.returncode == 0, result.stderr
    assert "nade-drums_2bar_reduced" in result.stdout and "nade_num_hidden=48" in result.stdout
    result = run_cli("convert", "--checkpoint", tmp_path / "ckpt", "--output", tmp_path / "back")
    assert result.returncode == 0, result.stderr
    assert_same_weights(model, MusicVAE.from_preset(tmp_path / "back"))
