"""`--precision` of the inference commands and `export --quantization`."""

import numpy as np
import pytest

from cli_support import cli_env
from cli_support import error_lines
from cli_support import run_cli

COMMANDS = ("sample", "encode", "decode", "interpolate", "similar")


def _float32(variable):
    import keras

    return keras.ops.convert_to_numpy(keras.ops.cast(variable.value, "float32"))


def test_load_model_runs_the_preset_in_the_given_policy(tiny_preset):
    """The weights of the preset load into the policy (`--precision` -> `dtype=`)."""
    from keras_musicvae.cli import common

    reference = common.load_model(tiny_preset, warn_no_weights=False)
    half = common.ModelSpec(str(tiny_preset)).load(dtype="bfloat16")
    assert reference.dtype_policy.name == "float32"
    assert half.dtype_policy.name == "bfloat16"
    assert all("bfloat16" in str(v.dtype) for v in half.weights if "float" in str(v.dtype))
    for mine, theirs in zip(half.weights, reference.weights):
        np.testing.assert_allclose(_float32(mine), _float32(theirs), rtol=1e-2, atol=1e-6)
    assert common.load_model(tiny_preset, warn_no_weights=False, dtype=None).dtype_policy.name == "float32"


def test_decoding_commands_load_the_decoder_alone(tiny_preset):
    """`sample` and `decode` load with `decoder_only=True`: the preset's decoder weights, no encoder."""
    from keras_musicvae.cli import common

    reference = common.load_model(tiny_preset, warn_no_weights=False)
    decoder_only = common.ModelSpec(str(tiny_preset)).load(dtype="bfloat16", decoder_only=True)
    assert decoder_only.encoder is None and decoder_only.dtype_policy.name == "bfloat16"
    assert len(decoder_only.decoder.weights) == len(reference.decoder.weights)
    for mine, theirs in zip(decoder_only.decoder.weights, reference.decoder.weights):
        np.testing.assert_allclose(_float32(mine), _float32(theirs), rtol=1e-2, atol=1e-6)


def test_bfloat16_sample_writes_midi(tiny_preset, tmp_path):
    import note_seq

    out = tmp_path / "samples"
    result = run_cli(
        "sample", "--model", tiny_preset, "-n", 2, "--seed", 1, "--precision", "bfloat16", "--output", out
    )
    assert result.returncode == 0, result.stderr
    files = sorted(out.glob("*.mid"))
    assert len(files) == 2
    for path in files:
        note_seq.midi_file_to_note_sequence(str(path))  # a readable MIDI file


@pytest.mark.parametrize("command", COMMANDS)
def test_bad_precision_is_a_usage_error(command, tmp_path):
    result = run_cli(
        command, "--model", "cat_mel_2bar_small", "--precision", "int8", "--output", tmp_path / "out", timeout=120
    )
    assert result.returncode == 2, result.stderr
    message = error_lines(result)[-1]
    assert "--precision" in message and "'int8'" in message, message
    assert "float32, bfloat16, float16, mixed_bfloat16, mixed_float16" in message, message
    assert not (tmp_path / "out").exists()


# The required inputs of each generating command (checked after the option).
INPUTS = {
    "sample": [],
    "decode": ["--input", "z.npy"],
    "interpolate": ["--from", "a.mid", "--to", "b.mid"],
    "similar": ["--input", "a.mid"],
}


@pytest.mark.parametrize("command", sorted(INPUTS))
def test_int8_decoding_off_pytorch_is_a_usage_error(command, tiny_preset, tmp_path):
    result = run_cli(
        command, "--model", tiny_preset, "--decode-quantization", "int8", *INPUTS[command],
        "--output", tmp_path / "out", env=cli_env(KERAS_BACKEND="tensorflow"), timeout=120,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    message = error_lines(result)[-1]
    assert "--decode-quantization int8: int8 step products run on the PyTorch backend" in message, message
    assert not (tmp_path / "out").exists()


def test_int8_decoding_on_pytorch_writes_midi(tiny_preset, tmp_path):
    import note_seq

    out = tmp_path / "samples"
    result = run_cli(
        "sample", "--model", tiny_preset, "-n", 2, "--seed", 1, "--precision", "bfloat16",
        "--decode-quantization", "int8", "--output", out, env=cli_env(KERAS_BACKEND="torch"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    files = sorted(out.glob("*.mid"))
    assert len(files) == 2
    for path in files:
        note_seq.midi_file_to_note_sequence(str(path))


def test_precision_is_listed_in_help():
    result = run_cli("sample", "--help", timeout=120)
    assert result.returncode == 0, result.stderr
    assert "--precision POLICY" in result.stdout and "mixed_bfloat16" in result.stdout


def test_quantization_needs_the_tflite_format(tiny_preset, tmp_path):
    result = run_cli(
        "export", "--model", tiny_preset, "--format", "saved_model", "--quantization", "int8",
        "--output", tmp_path / "sm", timeout=120,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "--quantization applies to --format tflite only" in error_lines(result)[-1]
    assert not (tmp_path / "sm").exists()
    bad = run_cli(
        "export", "--model", tiny_preset, "--format", "tflite", "--quantization", "int4",
        "--output", tmp_path / "m.tflite", timeout=120,
    )  # fmt: skip
    assert bad.returncode == 2 and "invalid choice: 'int4'" in bad.stderr, bad.stderr


@pytest.mark.slow
def test_export_int8_tflite_is_smaller(tiny_preset, tmp_path):
    sizes = {}
    for quantization in ("float16", "int8"):
        path = tmp_path / f"{quantization}.tflite"
        result = run_cli(
            "export", "--model", tiny_preset, "--format", "tflite", "--quantization", quantization,
            "--output", path,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert f"{quantization} weights" in result.stdout, result.stdout
        sizes[quantization] = path.stat().st_size
    assert sizes["int8"] < sizes["float16"], sizes
