"""`keras-musicvae`: help, bad arguments and bad files give one clear line and an exit code."""

import subprocess
import sys

import pytest

from cli_support import REPO_ROOT
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
