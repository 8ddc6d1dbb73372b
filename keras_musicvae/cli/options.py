"""Options shared by several commands, each defined once, and their checks.

Argument types (`temperature`, `seed`, `count`, `precision`, ...) refuse bad
values with a message argparse prints (exit 2); the `add_*_option`
functions add an option with the same name, help and checks everywhere.
"""

import json
import os
import pathlib

from keras_musicvae.cli.errors import CLIError
from keras_musicvae.cli.errors import UsageError


def existing_file(path, what="file"):
    """`path` as a `pathlib.Path`, or a `CLIError` saying it is missing."""
    path = pathlib.Path(os.path.expanduser(str(path)))
    if not path.exists():
        raise CLIError(f"{path}: no such {what}.")
    if path.is_dir():
        raise CLIError(f"{path}: is a folder, expected a {what}.")
    return path


def existing_path(path, what="file or folder"):
    path = pathlib.Path(os.path.expanduser(str(path)))
    if not path.exists():
        raise CLIError(f"{path}: no such {what}.")
    return path


# The most files one command makes from a count (`sample -n`, `similar -n`,
# `interpolate --steps`): each is a model output in memory plus a MIDI and a
# PNG file; more is better done in several runs with different seeds.
MAX_COUNT = 1000


# Seeds are 31-bit: every backend's random functions take them (per-stream
# seeds are derived by adding small offsets).
MAX_SEED = 2**31 - 1


def temperature(text):
    """argparse type of `--temperature` options: a finite float >= 0.

    Raises:
        argparse.ArgumentTypeError: NaN, infinite, negative or not a number
            (argparse prefixes the flag's name).
    """
    import argparse
    import math

    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(
            f"must be a finite number >= 0 (0 = always the most likely token); got {text!r}"
        )
    return value


def seed(text):
    """argparse type of `--seed`: an integer from 0 to `MAX_SEED`."""
    import argparse

    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be an integer from 0 to {MAX_SEED}; got {text!r}")
    return value


def count(minimum=1, maximum=MAX_COUNT):
    """argparse type of a number of outputs: an integer in `[minimum, maximum]`.

    Returns:
        A function of the option's text, for `add_argument(type=...)`.
    """
    import argparse

    def parse(text):
        value = int(text)  # a ValueError: argparse says "invalid int value: ..."
        if not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(f"must be from {minimum} to {maximum}; got {value}")
        return value

    parse.__name__ = "int"
    return parse


def parse_hparams(text):
    """Parses `k=v,k2=v2` hyperparameter overrides; values are JSON.

    `enc_rnn_size=[64,64],z_size=16,sampling_schedule=constant` gives
    `{"enc_rnn_size": [64, 64], "z_size": 16, "sampling_schedule":
    "constant"}`: commas inside brackets or quotes do not split, and a value
    that is not JSON is taken as a string.

    Raises:
        UsageError: on an item without `=` or an empty name.
    """
    if not text:
        return {}
    items, depth, quote, current = [], 0, None, []
    for ch in text:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
        elif ch == "," and depth == 0:
            items.append("".join(current))
            current = []
            continue
        current.append(ch)
    items.append("".join(current))
    out = {}
    for item in items:
        item = item.strip()
        if not item:
            continue
        if "=" not in item:
            raise UsageError(f"--hparams: {item!r} is not name=value (e.g. z_size=16).")
        name, value = item.split("=", 1)
        name = name.strip()
        if not name:
            raise UsageError(f"--hparams: {item!r} has no name.")
        value = value.strip()
        try:
            out[name] = json.loads(value)
        except json.JSONDecodeError:
            out[name] = value
    return out


MODEL_HELP = (
    "preset name, Magenta alias, preset folder, or a Magenta checkpoint (prefix, folder or .tar "
    "bundle; converted once and cached, needs --config)"
)


CONFIG_HELP = (
    "with a Magenta checkpoint as --model: the configuration it was trained with (e.g. "
    "cat-mel_2bar_big), as music_vae_generate's --config"
)


def add_model_option(parser, help=MODEL_HELP):
    """Adds `--model` and `--config` (the configuration of a Magenta checkpoint)."""
    parser.add_argument("--model", required=True, help=help)
    parser.add_argument("--config", default=None, metavar="NAME", help=CONFIG_HELP)


#: Keras dtype policies an inference command accepts as `--precision`.
INFERENCE_PRECISIONS = ("float32", "bfloat16", "float16", "mixed_bfloat16", "mixed_float16")


PRECISION_HELP = (
    "Keras dtype policy to run the model in: float32, bfloat16 / float16 (weights and products "
    "in half precision), mixed_bfloat16 / mixed_float16 (float32 weights, half-precision "
    "products); default: the model's own, float32 unless it was saved otherwise. Half precision "
    "is faster only where the hardware computes in it (see docs/PRECISION.md)"
)


def precision(text):
    """argparse type of `--precision`: one of `INFERENCE_PRECISIONS`.

    Raises:
        argparse.ArgumentTypeError: any other text (argparse prefixes the
            flag's name and exits with status 2).
    """
    import argparse

    if text not in INFERENCE_PRECISIONS:
        raise argparse.ArgumentTypeError(
            f"must be one of {', '.join(INFERENCE_PRECISIONS)}; got {text!r}"
        )
    return text


def add_precision_option(parser, help=PRECISION_HELP):
    """Adds `--precision`: the dtype policy the model is loaded with (`ModelSpec.load(dtype=...)`)."""
    parser.add_argument("--precision", type=precision, default=None, metavar="POLICY", help=help)


DECODE_QUANTIZATION_HELP = (
    "int8: the decoders multiply by int8 copies of their weights while generating "
    "(MusicVAE.decode_quantization; PyTorch backend on a CPU: KERAS_BACKEND=torch). For large "
    "models: sampling hierdec_trio_16bar was 1.5x faster than in bfloat16 on an AVX512 CPU; "
    "tokens may differ from the unquantized model's at near ties (see docs/PRECISION.md)"
)


def add_decode_quantization_option(parser):
    """Adds `--decode-quantization` (read with `decode_quantization_of`)."""
    parser.add_argument(
        "--decode-quantization", choices=["int8"], default=None, help=DECODE_QUANTIZATION_HELP
    )


def decode_quantization_of(args):
    """`--decode-quantization`, checked against the running backend before
    any output is written.

    Raises:
        UsageError: int8 asked where it cannot run (another backend, or a
            PyTorch without its x86 quantized engine).
    """
    mode = getattr(args, "decode_quantization", None)
    if mode is None:
        return None
    from keras_musicvae.layers import torch_int8

    reason = torch_int8.unavailable_reason()
    if reason:
        raise UsageError(f"--decode-quantization {mode}: {reason}")
    return mode


CHORDS_HELP = (
    "chord-conditioned models: the chords to play over, e.g. --chords C G Am F (or one quoted "
    "string); they are spread evenly over the example as magenta.js does (2 chords on a 2-bar "
    "model: one per bar)"
)


def add_chords_option(parser, help=CHORDS_HELP):
    parser.add_argument("--chords", nargs="+", default=None, metavar="CHORD", help=help)


def add_audio_option(parser):
    parser.add_argument("--no-audio", action="store_true", help="write no WAV files (MIDI and PNG only)")


def add_output_options(parser, help="output folder", overwrite_help="replace existing files"):
    """`--output` (required) and `--overwrite`, as every writing command has them."""
    parser.add_argument("--output", required=True, help=help)
    parser.add_argument("--overwrite", action="store_true", help=overwrite_help)


def add_seed_option(parser, default=None, help="random seed"):
    """`--seed`, checked by `seed` (0 to 2**31 - 1)."""
    parser.add_argument("--seed", type=seed, default=default, help=help)


def add_temperature_option(parser, default, flag="--temperature", what="sampling temperature"):
    """A temperature option (finite, >= 0; 0 means argmax), its default in the help."""
    parser.add_argument(
        flag, type=temperature, default=default,
        help=f"{what}, 0 = argmax (default {default:g})",
    )
