"""What every subcommand shares: errors, output files, models, MIDI inputs.

Rules the command line keeps:

* An expected problem (a missing or unreadable file, a MIDI file that gives
  no examples, an unknown preset, an output that exists) is raised as a
  `CLIError`: `main` prints it as one line on stderr and exits non-zero.
* Outputs are written atomically (a temporary file in the same folder, then
  a rename) and an existing file is only replaced with `--overwrite`. Each
  command lists its outputs first (`OutputPlan`), so that it refuses before
  doing any work.

Heavy modules (Keras, TensorFlow, note-seq, matplotlib) are imported inside
the functions, never at module level, so that `--help` stays fast.
"""

import json
import os
import pathlib
import sys
import typing

# Exit codes (documented in docs/CLI.md).
EXIT_OK = 0
EXIT_FAILURE = 1  # bad input file, no examples, failed step
EXIT_USAGE = 2  # bad arguments, unknown preset or hyperparameter
EXIT_EXISTS = 3  # an output exists and --overwrite was not given
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: the reader of stdout went away (`| head`)

DEBUG_ENV = "KERAS_MUSICVAE_DEBUG"


class CLIError(Exception):
    """An expected failure: printed as one line, exits with `exit_code`."""

    exit_code = EXIT_FAILURE

    def __init__(self, message, exit_code=None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class UsageError(CLIError):
    """Bad arguments (exit code 2)."""

    exit_code = EXIT_USAGE


class OutputExistsError(CLIError):
    """An output exists and `--overwrite` was not given (exit code 3)."""

    exit_code = EXIT_EXISTS


def debug_enabled():
    """Whether `$KERAS_MUSICVAE_DEBUG` asks for tracebacks."""
    return os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no")


# ------------------------------------------------------------------ messages
def say(message=""):
    """A result line, on stdout."""
    print(message, flush=True)


def warn(message):
    """A warning line, on stderr."""
    print(f"warning: {message}", file=sys.stderr, flush=True)


def note(message):
    """An informative line, on stderr (stdout keeps the results)."""
    print(f"note: {message}", file=sys.stderr, flush=True)


def interactive():
    """Whether stderr is a terminal (progress bars are shown only then)."""
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def progress(iterable=None, total=None, desc=None, unit="it"):
    """A tqdm progress bar on stderr (hidden when stderr is not a terminal)."""
    from tqdm.auto import tqdm

    return tqdm(
        iterable,
        total=total,
        desc=desc,
        unit=unit,
        file=sys.stderr,
        disable=None,
        dynamic_ncols=True,
        leave=False,
    )


# ------------------------------------------------------------------ inputs
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


# ------------------------------------------------------------------ argument types
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


# ------------------------------------------------------------------ outputs
class OutputPlan:
    """The files a command will write; refuses up front if any exists.

    Args:
        overwrite: whether existing files may be replaced.
    """

    def __init__(self, overwrite=False):
        self.overwrite = overwrite
        self.paths = []

    def add(self, path):
        path = pathlib.Path(path)
        self.paths.append(path)
        return path

    def check(self):
        """Raises `OutputExistsError` naming the existing outputs (or a file where a folder goes)."""
        for folder in dict.fromkeys(p.parent for p in self.paths):
            check_output_folder(folder)
        if self.overwrite:
            return
        existing = [p for p in self.paths if p.exists()]
        if existing:
            shown = ", ".join(str(p) for p in existing[:3])
            more = f" and {len(existing) - 3} more" if len(existing) > 3 else ""
            raise OutputExistsError(
                f"{shown}{more} already exist{'s' if len(existing) == 1 else ''}; "
                "pass --overwrite to replace, or choose another --output."
            )


def check_output_folder(path):
    """Refuses an output folder that is an existing file, or lies under one.

    Raises:
        OutputExistsError: naming the file (exit code 3, with or without
            `--overwrite`: a file is never replaced by a folder).
    """
    path = pathlib.Path(path)
    for folder in (path, *path.parents):
        if folder.is_dir():
            return path
        if folder.exists():
            where = "is" if folder == path else f"lies under {folder}, which is"
            raise OutputExistsError(
                f"{path} {where} an existing file, not a folder; remove it or choose another --output."
            )
    return path


def check_can_write(path, overwrite):
    path = pathlib.Path(path)
    check_output_folder(path.parent)
    if path.exists() and not overwrite:
        raise OutputExistsError(
            f"{path} already exists; pass --overwrite to replace it, or choose another --output."
        )
    return path


def atomic_write(path, write_fn, overwrite=False, suffix=""):
    """Writes a file through a temporary file in the same folder, then renames it.

    Args:
        path: the destination.
        write_fn: callable taking the temporary path and writing it.
        overwrite: replace an existing file.
        suffix: suffix of the temporary file (some writers check it).

    Returns:
        `path` as a `pathlib.Path`.
    """
    from keras_musicvae.utils import atomic_files

    path = check_can_write(path, overwrite)
    return atomic_files.write_file(path, write_fn, suffix=suffix or path.suffix)


def write_midi(sequence, path, overwrite=False):
    """Writes a NoteSequence as a MIDI file, atomically.

    Chord symbols (chord-conditioned models) become MIDI text events at their
    times, which MIDI editors show; note-seq alone would drop them.
    """
    import note_seq

    chords = chord_symbols(sequence)
    if not chords:
        return atomic_write(path, lambda tmp: note_seq.sequence_proto_to_midi_file(sequence, tmp), overwrite)

    def write(tmp):
        import pretty_midi

        midi = note_seq.note_sequence_to_pretty_midi(sequence)
        midi.text_events.extend(pretty_midi.Text(text, time) for text, time in chords)
        with open(tmp, "wb") as f:
            midi.write(f)

    return atomic_write(path, write, overwrite)


def chord_symbols(sequence):
    """`[(symbol, time in seconds)]` of a NoteSequence's chord-symbol annotations."""
    import note_seq

    kind = note_seq.NoteSequence.TextAnnotation.CHORD_SYMBOL
    return [(a.text, a.time) for a in sequence.text_annotations if a.annotation_type == kind]


def write_npy(array, path, overwrite=False):
    import numpy as np

    def write(tmp):
        with open(tmp, "wb") as f:
            np.save(f, array)

    return atomic_write(path, write, overwrite)


def write_text(text, path, overwrite=False):
    def write(tmp):
        pathlib.Path(tmp).write_text(text)

    return atomic_write(path, write, overwrite)


class MusicWriter:
    """Writes NoteSequences as MIDI + piano-roll PNG (+ WAV when FluidSynth is there).

    Args:
        out_dir: the output folder (created).
        kind: piano-roll kind ("melody", "drums", "trio"; None: guessed).
        min_bars: piano rolls show at least this many bars.
        overwrite: replace existing files.
        audio: "auto" (WAV when FluidSynth and a SoundFont are found), "no".
    """

    def __init__(self, out_dir, kind=None, min_bars=1, overwrite=False, audio="auto"):
        if audio is True:
            audio = "auto"
        elif audio is False:
            audio = "no"
        from keras_musicvae import audio as audio_lib

        self.out_dir = pathlib.Path(out_dir)
        self.kind = kind
        self.min_bars = min_bars
        self.overwrite = overwrite
        self.synth = audio_lib.find_synth() if audio == "auto" else None
        self.written = []

    def extensions(self):
        return (".mid", ".png", ".wav") if self.synth else (".mid", ".png")

    def plan(self, plan, stems):
        """Adds the files of `stems` to an `OutputPlan`."""
        for stem in stems:
            for ext in self.extensions():
                plan.add(self.out_dir / f"{stem}{ext}")

    def write(self, sequence, stem, title=None):
        """Writes `<stem>.mid`, `<stem>.png` (and `<stem>.wav`)."""
        from keras_musicvae import audio as audio_lib
        from keras_musicvae import visualize

        self.out_dir.mkdir(parents=True, exist_ok=True)
        midi = write_midi(sequence, self.out_dir / f"{stem}.mid", self.overwrite)
        png = check_can_write(self.out_dir / f"{stem}.png", self.overwrite)
        visualize.save_piano_roll(sequence, png, kind=self.kind, title=title or stem, min_bars=self.min_bars)
        self.written += [midi, png]
        if self.synth:
            wav = check_can_write(self.out_dir / f"{stem}.wav", self.overwrite)
            try:
                audio_lib.render_wav(midi, wav, self.synth)
                self.written.append(wav)
            except audio_lib.AudioError as e:
                warn(str(e))
        return midi

    def write_all(self, sequences, stems, titles=None):
        titles = titles or [None] * len(sequences)
        for sequence, stem, title in zip(
            progress(sequences, total=len(sequences), desc="writing", unit="file"), stems, titles
        ):
            self.write(sequence, stem, title)

    def write_grid(self, sequences, stem, labels=None, title=None):
        """Writes `<stem>.png`: one row per sequence (interpolations, variations)."""
        from keras_musicvae import visualize

        png = check_can_write(self.out_dir / f"{stem}.png", self.overwrite)
        visualize.save_interpolation_grid(
            sequences, png, kind=self.kind, labels=labels, title=title, min_bars=self.min_bars
        )
        self.written.append(png)
        return png

    def audio_note(self):
        """None, or a line saying why no WAV was written."""
        from keras_musicvae import audio as audio_lib

        return None if self.synth else audio_lib.missing_synth_hint()


def numbered_stems(prefix, n):
    width = max(2, len(str(n)))
    return [f"{prefix}_{i + 1:0{width}d}" for i in range(n)]


# ------------------------------------------------------------------ models
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


class ModelSpec:
    """The model named by `--model`, resolved without building it (no Keras yet).

    Reading the preset's config first lets a command check its arguments,
    outputs and input files (with the model's data converter) before paying
    for Keras start-up and the model build. A Magenta checkpoint (or a
    magenta.js folder) is converted into a cached preset folder first (see
    `keras_musicvae.convert.cache`), on first use only.

    Args:
        spec: a built-in preset name, a Magenta alias, a preset folder or a
            Magenta checkpoint.
        config: the configuration of a Magenta checkpoint (`--config`).

    Raises:
        UsageError: unknown preset (the message lists close names), a
            checkpoint without `--config`, or `--config` with a preset.
        CLIError: a preset folder or checkpoint that cannot be read.
    """

    def __init__(self, spec, config=None):
        from keras_musicvae import presets

        self.spec = str(spec)
        self.folder = model_folder(spec, config)
        try:
            self.config = presets.load_preset_config(self.folder)
        except (ValueError, FileNotFoundError) as e:
            raise CLIError(str(e)) from None

    @property
    def z_size(self):
        return int(self.config["z_size"])

    @property
    def max_seq_len(self):
        return int(self.config["max_seq_len"])

    @property
    def control_depth(self):
        return int(self.config.get("control_depth") or 0)

    def converter(self):
        """The model's data converter set up for reading inputs (see `converter_for_inputs`)."""
        return converter_for_inputs(self.config.get("converter"), f"model {self.spec!r}")

    def writer_kwargs(self, converter=None):
        """`kind` and `min_bars` of the piano rolls of this model's music."""
        converter = converter or self.converter()
        return {"kind": piano_roll_kind(converter), "min_bars": example_bars(self.max_seq_len, converter)}

    def load(self, warn_no_weights=True, **overrides):
        """Builds the model (and loads its weights); see `load_model`."""
        return load_model(self.folder, warn_no_weights=warn_no_weights, display_name=self.spec, **overrides)


def model_folder(spec, config=None):
    """The preset folder of a `--model` value: a preset, or a converted (cached) checkpoint.

    Raises:
        UsageError: an unknown preset, a checkpoint without `--config` (where
            it does not name its own), or `--config` with a preset.
        CLIError: a checkpoint that cannot be read or does not fit `--config`.
    """
    from keras_musicvae.convert import cache

    kind = cache.checkpoint_kind(spec)
    if kind is None:
        if config is not None:
            raise UsageError(
                f"--config names the configuration of a Magenta checkpoint, but --model {spec} is a preset; "
                "leave --config out."
            )
        return resolve_preset(spec)
    if config is not None:
        resolve_preset(config)  # an unknown name is a usage error, before any work
    elif kind != "magentajs" and cache.exported_configuration(spec) is None:
        raise UsageError(
            f"--model {spec} is a Magenta checkpoint: give the configuration it was trained with "
            "as --config (e.g. --config cat-mel_2bar_big), as for Magenta's music_vae_generate."
        )
    return _converted_checkpoint(spec, config)


def _converted_checkpoint(spec, config):
    """Converts a checkpoint into the cache (first use only) and says so on stderr."""
    from keras_musicvae.convert import CheckpointMismatchError
    from keras_musicvae.convert import UnsafeBundleError
    from keras_musicvae.convert import cache

    try:
        folder, converted = cache.converted_preset(spec, config)
    except (CheckpointMismatchError, UnsafeBundleError, FileNotFoundError) as e:
        raise CLIError(f"{spec}: {e}" if str(spec) not in str(e) else str(e)) from None
    where = describe_path(folder)
    if converted:
        note(f"converted the Magenta checkpoint {spec} into {where}/ (a cache: later runs reuse it)")
    else:
        note(f"using the converted checkpoint cached in {where}/")
    return folder


def load_model(spec, warn_no_weights=True, display_name=None, **overrides):
    """Loads a model from a preset name, a Magenta alias or a preset folder.

    Warns (stderr) when the preset has no weights.

    Raises:
        UsageError: unknown preset (the message lists close names) or bad
            hyperparameters.
        CLIError: a preset folder that cannot be loaded.
    """
    import logging

    from keras_musicvae import presets

    folder = resolve_preset(spec)
    has_weights = (folder / presets.WEIGHTS_FILE).exists()
    if not has_weights and warn_no_weights:
        warn(
            f"preset {display_name or spec!r} has no trained weights: its outputs are random. Train one with "
            "`keras-musicvae train` or convert a Magenta checkpoint with `keras-musicvae convert`."
        )
    from keras_musicvae.models.music_vae import MusicVAE

    logging.getLogger("keras_musicvae.presets").setLevel(logging.ERROR)
    try:
        return MusicVAE.from_preset(str(folder), load_weights=has_weights and not overrides, **overrides)
    except presets.PresetFileError as e:
        raise CLIError(str(e)) from None
    except ValueError as e:
        raise UsageError(str(e)) from None


def resolve_preset(spec):
    """The folder of a `--model` / `--preset` value.

    Raises:
        UsageError: an unknown preset name (the message lists close names).
        CLIError: a path that is not a preset folder (missing, a file, no
            config.json).
    """
    from keras_musicvae import presets

    try:
        return presets.resolve_preset(spec)
    except presets.PresetFileError as e:
        raise CLIError(str(e)) from None
    except ValueError as e:
        raise UsageError(str(e)) from None


def converter_for_inputs(converter_config, model_name="this model"):
    """A model's converter set up for reading inputs: `infer` mode, every example, in order.

    The same converter as `MusicVAE.inference_converter`.

    Args:
        converter_config: the model's `converter_config` (a preset's "converter").
        model_name: how the error message names the model.

    Raises:
        CLIError: the model names no data converter.
    """
    from keras_musicvae.data.inference import MissingConverterError
    from keras_musicvae.data.inference import inference_converter

    try:
        return inference_converter(converter_config, model_name)
    except MissingConverterError as e:
        raise CLIError(str(e)) from None


def piano_roll_kind(converter):
    from keras_musicvae import visualize

    return visualize.kind_for_converter(converter)


def example_bars(num_steps, converter):
    """Bars in an example of `num_steps` steps (for piano-roll widths)."""
    steps_per_bar = getattr(converter, "steps_per_bar", None)
    if not steps_per_bar:
        steps_per_bar = getattr(converter, "steps_per_quarter", 4) * getattr(converter, "quarters_per_bar", 4)
    return max(1, int(round(num_steps / steps_per_bar)))


CHORDS_HELP = (
    "chord-conditioned models: the chords to play over, e.g. --chords C G Am F (or one quoted "
    "string); they are spread evenly over the example as magenta.js does (2 chords on a 2-bar "
    "model: one per bar)"
)


def add_chords_option(parser, help=CHORDS_HELP):
    parser.add_argument("--chords", nargs="+", default=None, metavar="CHORD", help=help)


def chord_progression(args, spec, converter, required):
    """The `--chords` of a command, checked against the model (before it is loaded).

    Args:
        args: the parsed arguments (`args.chords`: None or a list of strings).
        spec: the `ModelSpec`.
        converter: its converter (`spec.converter()`).
        required: whether a chord-conditioned model needs `--chords` here
            (commands that make music from nothing: `sample`, `decode`).

    Returns:
        A list of chord symbols, or None.

    Raises:
        UsageError: chords for a model without chord conditioning, bad chord
            symbols, missing chords where `required`, or a model conditioned
            on other controls (GrooVAE hits) where `required`.
    """
    from keras_musicvae.data import chord_progression as progressions

    conditioned = progressions.is_chord_conditioned(converter)
    if args.chords is not None and not conditioned:
        raise UsageError("--chords: this model is not conditioned on chords; leave --chords out.")
    if args.chords is None:
        if required and conditioned:
            raise UsageError(
                "this model is conditioned on chords: give the chords to play over with --chords "
                "(e.g. --chords C G Am F)."
            )
        if required and spec.control_depth:
            raise UsageError(
                "this model is conditioned on controls (drum hits), which this command cannot make "
                "up; use `similar` or `interpolate` with an input MIDI file instead."
            )
        return None
    try:
        chords = progressions.parse_progression(args.chords)
        progressions.progression_controls(chords, converter, spec.max_seq_len)
    except progressions.ChordProgressionError as e:
        raise UsageError(f"--chords: {e}") from None
    return chords


def chord_controls(model, chords, num_steps):
    """`[num_steps, control_depth]` controls of a checked progression (None for None)."""
    from keras_musicvae.data.chord_progression import progression_controls

    return None if chords is None else progression_controls(chords, model.inference_converter, num_steps)


def add_audio_option(parser):
    parser.add_argument("--no-audio", action="store_true", help="write no WAV files (MIDI and PNG only)")


def read_note_sequence(path):
    """Reads a MIDI file; a bad file is a one-line `CLIError`."""
    from keras_musicvae.data import midi_io

    path = existing_file(path, "MIDI file")
    try:
        return midi_io.read_midi(path)
    except midi_io.MidiReadError as e:
        raise CLIError(f"cannot read {e}.") from None


def examples_of_file(path, converter):
    """`(tensors, report)` of a MIDI file; no examples is a `CLIError` saying why."""
    sequence = read_note_sequence(path)
    tensors, report = converter.to_tensors_with_report(sequence)
    if not len(tensors):
        raise CLIError(f"{path} gives no examples for this model: {_reasons(report)}.")
    return tensors, report


def _reasons(report):
    from keras_musicvae.data.inference import no_example_reasons

    return no_example_reasons(report)


class ExampleRequest(typing.NamedTuple):
    """A MIDI input of a command and the choice of one of its examples.

    Attributes:
        path: the MIDI file.
        index: which of its examples (None: the only one).
        option: the option that sets `index`, for messages (`--from-index`).
        candidates_dir: where its examples are written when it gives several
            and `index` is None.
    """

    path: pathlib.Path
    index: typing.Optional[int]
    option: str
    candidates_dir: pathlib.Path


def read_examples(requests, converter):
    """The examples of each request's MIDI file; writes nothing.

    Every input is checked (readable, gives examples, its index in range)
    before a command writes anything, and the problems of all inputs are
    reported together.

    Returns:
        A list of `ConverterTensors`, one per request.

    Raises:
        CLIError: naming every bad input (a `UsageError` when the first
            problem is an index out of range).
    """
    found, errors = [], []
    for request in requests:
        try:
            tensors, _ = examples_of_file(request.path, converter)
            _check_index(request, len(tensors))
            found.append(tensors)
        except CLIError as e:
            errors.append(e)
    raise_together(errors)
    return found


def pick_examples(requests, found, converter, writer_kwargs):
    """One example of each input: its only one, or its request's index.

    An input that gives several examples and has no index has them written
    as MIDI + PNG into its `candidates_dir`, and a `CLIError` tells the user
    to choose one with its option. Call after `read_examples` (and after
    everything else that can fail) so that nothing is written in vain.

    Returns:
        A list of `Example`s, one per request.
    """
    picked, errors = [], []
    for request, tensors in zip(requests, found):
        try:
            picked.append(_pick(request, tensors, converter, writer_kwargs))
        except CLIError as e:
            errors.append(e)
    raise_together(errors)
    return picked


def raise_together(errors):
    """Raises one error made of several `CLIError`s (the first one's type and exit code)."""
    if errors:
        raise type(errors[0])("; ".join(str(e).rstrip(".") for e in errors) + ".", errors[0].exit_code)


def _check_index(request, n):
    if request.index is not None and not 0 <= request.index < n:
        raise UsageError(
            f"{request.option} {request.index} is out of range: {request.path} gives {n} example(s) (0-{n - 1})."
        )


def _pick(request, tensors, converter, writer_kwargs):
    n = len(tensors)
    index = 0 if request.index is None and n == 1 else request.index
    if index is None:
        _write_candidates(request, tensors, converter, writer_kwargs)
    controls = tensors.controls[index] if tensors.controls and tensors.controls[index].shape[-1] else None
    return Example(tensors.inputs[index], tensors.outputs[index], tensors.lengths[index], controls, index)


def _write_candidates(request, tensors, converter, writer_kwargs):
    """Writes an input's examples to choose from; raises a `CLIError` saying so."""
    n = len(tensors)
    candidates_dir = pathlib.Path(request.candidates_dir)
    shown = min(n, MAX_CANDIDATES)
    sequences = converter.from_tensors(tensors.outputs[:shown])
    writer = MusicWriter(candidates_dir, audio="no", **writer_kwargs)
    stems = [f"candidate_{i:03d}" for i in range(shown)]
    for i, (sequence, stem) in enumerate(zip(sequences, stems)):
        if not (candidates_dir / f"{stem}.mid").exists():  # same file, same candidates
            writer.write(sequence, stem, title=f"{pathlib.Path(request.path).name}: {request.option} {i}")
    more = f" (the first {shown} of {n} are written)" if shown < n else ""
    raise CLIError(
        f"{request.path} gives {n} possible inputs for this model; they are written to "
        f"{candidates_dir}/candidate_*.mid{more}: pick one with {request.option} N (0-{n - 1}).",
    )


class Example(typing.NamedTuple):
    """One example of a MIDI file.

    Attributes:
        inputs: `[T, input_depth]` encoder inputs.
        outputs: `[T, output_depth]` decoder targets (what `from_tensors` reads).
        length: int (or `[S]` ints) valid steps.
        controls: `[T, control_depth]` or None.
        index: its index among the file's examples.
    """

    inputs: object
    outputs: object
    length: object
    controls: object
    index: int


MAX_CANDIDATES = 64


def sequences_from_outputs(converter, outputs, controls=None):
    """`converter.from_tensors`, dropping controls the converter does not use."""
    if controls is not None and getattr(converter, "control_depth", 0):
        return converter.from_tensors(outputs, controls)
    return converter.from_tensors(outputs)


def describe_path(path):
    """A path as the user would type it (relative to the working folder when inside it)."""
    path = pathlib.Path(path)
    try:
        return str(path.resolve().relative_to(pathlib.Path.cwd().resolve()))
    except ValueError:
        return str(path)


def sequence_duration(sequence, converter, num_steps):
    """Seconds an example of `num_steps` steps lasts (at least its last note's end)."""
    qpm = sequence.tempos[0].qpm if sequence.tempos else 120.0
    steps_per_quarter = getattr(converter, "steps_per_quarter", 4) or 4
    return max(sequence.total_time, num_steps * 60.0 / qpm / steps_per_quarter)


def concatenate(sequences, converter, num_steps):
    """One NoteSequence playing `sequences` one after another (one example each)."""
    from note_seq import sequences_lib

    durations = [sequence_duration(s, converter, num_steps) for s in sequences]
    return sequences_lib.concatenate_sequences(list(sequences), durations)


def decode_length(model, num_steps):
    """The `length` argument of `model.decode` for examples of `num_steps` steps."""
    return None if model.decoder_level_lengths else int(num_steps)
