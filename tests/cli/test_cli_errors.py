"""`keras-musicvae`: help, bad arguments and bad files give one clear line and an exit code."""

import json
import shutil
import subprocess
import sys

import pytest

from cli_support import REPO_ROOT
from cli_support import TINY_HPARAMS
from cli_support import cli_env
from cli_support import error_lines
from cli_support import run_cli

COMMANDS = (
    "demo",
    "presets",
    "prepare",
    "train",
    "sample",
    "interpolate",
    "similar",
    "attributes",
    "encode",
    "decode",
    "convert",
    "export",
)


def test_help_lists_every_command_and_imports_no_framework():
    code = (
        "import sys\n"
        "from keras_musicvae.cli.main import build_parser\n"
        "parser = build_parser()\n"
        "text = parser.format_help()\n"
        "heavy = [m for m in ('keras', 'tensorflow', 'jax', 'torch', 'note_seq', 'matplotlib') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
        "print(text)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=cli_env(), capture_output=True, text=True, timeout=60, cwd=REPO_ROOT
    )
    assert result.returncode == 0, result.stderr
    assert "HEAVY []" in result.stdout
    for command in COMMANDS:
        assert f"    {command}" in result.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_examples(command):
    result = run_cli(command, "--help", timeout=60)
    assert result.returncode == 0, result.stderr
    assert "examples:" in result.stdout or "example:" in result.stdout
    assert f"keras-musicvae {command}" in result.stdout


def test_attributes_actions_have_help():
    for action in ("compute", "apply"):
        result = run_cli("attributes", action, "--help", timeout=60)
        assert result.returncode == 0
        assert "example:" in result.stdout


def test_bad_argument_is_one_line_exit_2(tmp_path):
    result = run_cli("sample", "--model", "x", "--output", tmp_path, "-n", "many", timeout=60)
    assert result.returncode == 2
    assert error_lines(result) == [
        "keras-musicvae sample: error: argument -n/--num: invalid int value: 'many' "
        "(see keras-musicvae sample --help)"
    ]


def test_missing_required_argument_is_one_line(tmp_path):
    result = run_cli("interpolate", "--model", "cat_mel_2bar_small", "--output", tmp_path, timeout=60)
    assert result.returncode == 2
    assert len(error_lines(result)) == 1
    assert "the following arguments are required: --from, --to" in result.stderr


def test_unknown_preset_lists_close_names(tmp_path):
    result = run_cli("sample", "--model", "cat_mel_2bar_smal", "--output", tmp_path / "out")
    assert result.returncode == 2
    lines = error_lines(result)
    assert len(lines) == 1, lines
    assert lines[0].startswith(
        "keras-musicvae sample: error: Unknown preset 'cat_mel_2bar_smal': it is neither a built-in "
        "preset nor a folder. Did you mean: cat_mel_2bar_small"
    )
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_missing_midi_file(tiny_preset, melodies, tmp_path):
    missing = tmp_path / "missing.mid"
    result = run_cli(
        "interpolate", "--model", tiny_preset, "--from", missing, "--to", melodies["b"], "--output", tmp_path / "o"
    )
    assert result.returncode == 1
    assert error_lines(result) == [f"keras-musicvae interpolate: error: {missing}: no such MIDI file."]


def test_corrupt_and_non_midi_files(tiny_preset, melodies, tmp_path):
    result = run_cli("similar", "--model", tiny_preset, "--input", melodies["text"], "--output", tmp_path / "o")
    assert result.returncode == 1
    assert error_lines(result) == [
        f"keras-musicvae similar: error: cannot read {melodies['text']}: not a MIDI file "
        "(it starts with text 'this is not a MI', not the MIDI header 'MThd')."
    ]
    result = run_cli("similar", "--model", tiny_preset, "--input", melodies["corrupt"], "--output", tmp_path / "o")
    assert result.returncode == 1
    lines = error_lines(result)
    assert len(lines) == 1
    assert lines[0].startswith(f"keras-musicvae similar: error: cannot read {melodies['corrupt']}: truncated MIDI file")


def test_no_examples_says_why(tiny_preset, melodies, tmp_path):
    result = run_cli(
        "interpolate",
        "--model", tiny_preset,
        "--from", melodies["drums"],
        "--to", melodies["waltz"],
        "--output", tmp_path / "o",
    )  # fmt: skip
    assert result.returncode == 1
    assert error_lines(result) == [
        f"keras-musicvae interpolate: error: {melodies['drums']} gives no examples for this model: only drum "
        f"notes (no melody); {melodies['waltz']} gives no examples for this model: time signature 3/4 (only "
        "4/4 is supported)."
    ]


def test_debug_shows_the_traceback(tiny_preset, melodies, tmp_path):
    result = run_cli(
        "similar",
        "--model", tiny_preset,
        "--input", melodies["text"],
        "--output", tmp_path / "o",
        env=cli_env(KERAS_MUSICVAE_DEBUG="1"),
    )  # fmt: skip
    assert result.returncode != 0
    assert "Traceback (most recent call last)" in result.stderr
    assert "CLIError" in result.stderr


def test_parse_hparams():
    from keras_musicvae.cli.common import UsageError
    from keras_musicvae.cli.common import parse_hparams

    assert parse_hparams("enc_rnn_size=[64, 64],z_size=16,sampling_schedule=constant,free_bits=0.5") == {
        "enc_rnn_size": [64, 64],
        "z_size": 16,
        "sampling_schedule": "constant",
        "free_bits": 0.5,
    }
    assert parse_hparams('converter={"a": [1, 2]},name="x,y"') == {"converter": {"a": [1, 2]}, "name": "x,y"}
    assert parse_hparams("") == {}
    with pytest.raises(UsageError, match="'z_size' is not name=value"):
        parse_hparams("z_size")


# ------------------------------------------------------------ bad preset folders
def _copy_preset(source, destination):
    shutil.copytree(source, destination)
    return destination


def _edit_config(folder, edit):
    path = folder / "config.json"
    data = json.loads(path.read_text())
    edit(data["config"])
    path.write_text(json.dumps(data))


def test_corrupt_weights_exit_1_naming_the_file(tiny_preset, tmp_path):
    folder = _copy_preset(tiny_preset, tmp_path / "corrupt")
    weights = folder / "model.weights.h5"
    weights.write_bytes(weights.read_bytes()[:3000])
    result = run_cli("sample", "--model", folder, "-n", 1, "--output", tmp_path / "out", "--no-audio")
    assert result.returncode == 1, result.stderr
    lines = error_lines(result)
    assert len(lines) == 1, lines
    assert lines[0].startswith(
        f"keras-musicvae sample: error: Cannot load {weights}: not a readable HDF5 weights file, it may be "
        "truncated or corrupt ("
    )
    assert not (tmp_path / "out").exists()


def test_mismatched_weights_exit_1_naming_the_file(tiny_preset, tmp_path):
    """`sample` loads the decoder alone (`include_encoder=False`): a decoder that does not fit."""
    from keras_musicvae.models.music_vae import MusicVAE

    other = MusicVAE.from_preset("cat_mel_2bar_small", load_weights=False, **{**TINY_HPARAMS, "dec_rnn_size": [8]})
    other.save_to_preset(tmp_path / "other")
    folder = _copy_preset(tiny_preset, tmp_path / "mismatched")
    shutil.copy(tmp_path / "other" / "model.weights.h5", folder / "model.weights.h5")
    result = run_cli("sample", "--model", folder, "-n", 1, "--output", tmp_path / "out", "--no-audio")
    assert result.returncode == 1, result.stderr
    lines = error_lines(result)
    assert len(lines) == 1, lines
    assert lines[0].startswith(
        f"keras-musicvae sample: error: Cannot load {folder / 'model.weights.h5'}: the weights do not fit the "
        "model described by config.json"
    )
    assert "Traceback" not in result.stderr


def test_missing_model_folder_is_not_an_unknown_preset(tmp_path):
    missing = tmp_path / "runs" / "mel" / "preset"
    result = run_cli("sample", "--model", missing, "--output", tmp_path / "out", timeout=60)
    assert result.returncode == 1
    assert error_lines(result) == [f"keras-musicvae sample: error: Preset folder {missing} does not exist."]
    relative = run_cli("sample", "--model", "./runs/mel/preset", "--output", tmp_path / "out", cwd=tmp_path, timeout=60)
    assert relative.returncode == 1
    assert error_lines(relative) == ["keras-musicvae sample: error: Preset folder runs/mel/preset does not exist."]


def test_model_that_is_a_file(tmp_path):
    path = tmp_path / "model.h5"
    path.write_bytes(b"x")
    result = run_cli("sample", "--model", path, "--output", tmp_path / "out", timeout=60)
    assert result.returncode == 1
    assert error_lines(result) == [
        f"keras-musicvae sample: error: {path} is a file, not a preset folder (a folder holding config.json)."
    ]


def test_binary_config_json_names_the_file(tiny_preset, tmp_path):
    folder = _copy_preset(tiny_preset, tmp_path / "binary")
    (folder / "config.json").write_bytes(b"\x89HDF\r\n\x1a\n\x00\xff\xfe binary")
    result = run_cli("sample", "--model", folder, "--output", tmp_path / "out", timeout=60)
    assert result.returncode == 1
    assert error_lines(result) == [
        f"keras-musicvae sample: error: {folder / 'config.json'} is not a UTF-8 text file (byte 0x89 at offset 0); "
        "a preset's JSON files must be UTF-8 text."
    ]


def test_unknown_converter_class_is_refused_at_load_time(tiny_preset, tmp_path):
    from keras_musicvae import presets

    folder = _copy_preset(tiny_preset, tmp_path / "evil")
    _edit_config(folder, lambda c: c["converter"].update(class_name="os.system"))
    with pytest.raises(presets.PresetFileError) as error:
        presets.load_preset_config(folder)
    message = str(error.value)
    assert message.startswith(f"{folder / 'config.json'}: Unknown data converter class 'os.system'. Known classes: ")
    assert "MelodyConverter" in message and "DrumsConverter" in message
    result = run_cli("sample", "--model", folder, "--output", tmp_path / "out", timeout=60)
    assert result.returncode == 1
    assert error_lines(result) == [f"keras-musicvae sample: error: {message}"]


# ------------------------------------------------------------ outputs
def test_output_that_is_a_file_exit_3(tiny_preset, tmp_path):
    existing = tmp_path / "notes.txt"
    existing.write_text("keep me\n")
    for overwrite in ((), ("--overwrite",)):
        result = run_cli("sample", "--model", tiny_preset, "-n", 1, "--output", existing, "--no-audio", *overwrite)
        assert result.returncode == 3, result.stderr
        assert error_lines(result) == [
            f"keras-musicvae sample: error: {existing} is an existing file, not a folder; remove it or choose "
            "another --output."
        ]
        assert existing.read_text() == "keep me\n"
    below = run_cli("sample", "--model", tiny_preset, "-n", 1, "--output", existing / "sub", "--no-audio")
    assert below.returncode == 3
    assert error_lines(below) == [
        f"keras-musicvae sample: error: {existing / 'sub'} lies under {existing}, which is an existing file, not a "
        "folder; remove it or choose another --output."
    ]
    convert = run_cli("convert", "--checkpoint", existing, "--preset", "cat_mel_2bar_small", "--output", existing)
    assert convert.returncode == 3
    assert "is an existing file, not a folder" in convert.stderr


def test_interpolate_checks_both_inputs_before_writing(tiny_preset, melodies, tmp_path):
    out = tmp_path / "o"
    # --from gives no examples, --to gives several: nothing is written, both are reported.
    result = run_cli(
        "interpolate", "--model", tiny_preset, "--from", melodies["drums"], "--to", melodies["long"], "--output", out
    )
    assert result.returncode == 1
    assert error_lines(result) == [
        f"keras-musicvae interpolate: error: {melodies['drums']} gives no examples for this model: only drum "
        "notes (no melody)."
    ]
    assert not out.exists()
    # --from-index out of range, --to gives several: nothing is written either.
    result = run_cli(
        "interpolate", "--model", tiny_preset, "--from", melodies["a"], "--from-index", 5,
        "--to", melodies["long"], "--output", out,
    )  # fmt: skip
    assert result.returncode == 2
    assert error_lines(result) == [
        f"keras-musicvae interpolate: error: --from-index 5 is out of range: {melodies['a']} gives 1 example(s) (0-0)."
    ]
    assert not out.exists()
    # Both fine: the candidates of --to are written to choose from.
    result = run_cli(
        "interpolate", "--model", tiny_preset, "--from", melodies["a"], "--to", melodies["long"], "--output", out
    )
    assert result.returncode == 1
    assert "pick one with --to-index N" in result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["to_candidates"]


def test_closed_stdout_exits_quietly():
    process = subprocess.Popen(
        [sys.executable, "-m", "keras_musicvae", "presets"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli_env(),
        cwd=REPO_ROOT,
    )
    process.stdout.close()  # the reader goes away before the command writes, as `| head` does
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 141
    assert stderr.decode() == ""


# ------------------------------------------------------------ numbers on the command line
TEMPERATURE_COMMANDS = {
    "sample": ("sample", "--model", "m", "--output", "o"),
    "interpolate": ("interpolate", "--model", "m", "--from", "a.mid", "--to", "b.mid", "--output", "o"),
    "similar": ("similar", "--model", "m", "--input", "a.mid", "--output", "o"),
    "decode": ("decode", "--model", "m", "--input", "z.npy", "--output", "o"),
    "attributes apply": ("attributes", "apply", "--model", "m", "--vectors", "v.npz", "--input", "a.mid",
                         "--add", "note_density", "--output", "o"),
}  # fmt: skip


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "-0.5", "warm"])
@pytest.mark.parametrize("command", sorted(TEMPERATURE_COMMANDS))
def test_temperature_must_be_finite_and_not_negative(command, value, tmp_path):
    args = TEMPERATURE_COMMANDS[command]
    result = run_cli(*args, f"--temperature={value}", cwd=tmp_path, timeout=60)
    assert result.returncode == 2
    prog = "keras-musicvae " + command
    assert error_lines(result) == [
        f"{prog}: error: argument --temperature: must be a finite number >= 0 (0 = always the most likely "
        f"token); got {value!r} (see {prog} --help)"
    ]
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("flag", ["--sample-temperature", "--interpolation-temperature", "--attribute-temperature"])
def test_evaluate_temperatures_must_be_finite(flag, tmp_path):
    result = run_cli("evaluate", "--model", "m", "--data", "d", "--output", "o", f"{flag}=nan", cwd=tmp_path, timeout=60)
    assert result.returncode == 2
    assert f"argument {flag}: must be a finite number >= 0" in result.stderr


@pytest.mark.parametrize("value", ["-1", "2147483648", "seven"])
def test_seed_names_the_flag_and_the_range(value, tmp_path):
    result = run_cli("sample", "--model", "m", "--output", "o", "--seed", value, cwd=tmp_path, timeout=60)
    assert result.returncode == 2
    assert error_lines(result) == [
        f"keras-musicvae sample: error: argument --seed: must be an integer from 0 to 2147483647; got {value!r} "
        "(see keras-musicvae sample --help)"
    ]


@pytest.mark.parametrize(
    "args, message",
    [
        (("sample", "--model", "m", "--output", "o", "-n", "100000000"), "argument -n/--num: must be from 1 to 1000; got 100000000"),
        (("sample", "--model", "m", "--output", "o", "-n", "0"), "argument -n/--num: must be from 1 to 1000; got 0"),
        (("similar", "--model", "m", "--input", "a.mid", "--output", "o", "-n", "1001"),
         "argument -n/--num: must be from 1 to 1000; got 1001"),
        (("interpolate", "--model", "m", "--from", "a", "--to", "b", "--output", "o", "--steps", "100000"),
         "argument --steps: must be from 2 to 1000; got 100000"),
        (("interpolate", "--model", "m", "--from", "a", "--to", "b", "--output", "o", "--steps", "1"),
         "argument --steps: must be from 2 to 1000; got 1"),
    ],
)  # fmt: skip
def test_counts_have_a_documented_upper_bound(args, message, tmp_path):
    result = run_cli(*args, cwd=tmp_path, timeout=60)
    assert result.returncode == 2
    command = " ".join(args[:1])
    assert error_lines(result) == [f"keras-musicvae {command}: error: {message} (see keras-musicvae {command} --help)"]
    assert not (tmp_path / "o").exists()


def test_argument_types():
    import argparse

    from keras_musicvae.cli import common

    assert common.temperature("0") == 0.0 and common.temperature("1.5") == 1.5
    for bad in ("nan", "NaN", "inf", "-1", "1e400", ""):
        with pytest.raises(argparse.ArgumentTypeError):
            common.temperature(bad)
    assert common.seed("0") == 0 and common.seed(str(common.MAX_SEED)) == common.MAX_SEED
    assert common.count(2)("2") == 2 and common.count(2)(str(common.MAX_COUNT)) == common.MAX_COUNT
    with pytest.raises(argparse.ArgumentTypeError):
        common.count(2)(str(common.MAX_COUNT + 1))
    with pytest.raises(ValueError):
        common.count()("many")
