"""`keras-musicvae`: the command line (`python -m keras_musicvae` too).

    keras-musicvae demo
    keras-musicvae sample --model cat_mel_2bar_small -n 8 --output samples/
    keras-musicvae --help

Each subcommand lives in its own module of this package and provides
`register(subparsers)`; this module builds the parser, picks the Keras
backend, runs the command, and turns expected failures into one line on
stderr and a non-zero exit code (tracebacks with `KERAS_MUSICVAE_DEBUG=1`).
"""

import argparse
import importlib
import importlib.util
import os
import sys
import warnings

from keras_musicvae.cli import common

PROG = "keras-musicvae"

# Subcommand modules, in the order `--help` lists them.
COMMAND_MODULES = (
    "demo",
    "presets",
    "prepare",
    "train",
    "sample",
    "interpolate",
    "similar",
    "attributes",
    "evaluate",
    "encode",
    "decode",
    "convert",
    "export",
    "web",
)

BACKENDS = ("tensorflow", "jax", "torch")

DESCRIPTION = """\
MusicVAE on the command line: from a folder of MIDI files to new music.
Train models, sample, interpolate between melodies, make variations, move
melodies along attribute vectors; every MIDI written comes with a piano-roll
PNG (and a WAV when FluidSynth and a General MIDI SoundFont are installed).
"""

EPILOG = """\
examples:
  keras-musicvae demo                      # train a small model on the bundled corpus, write music
  keras-musicvae presets                   # list the built-in models
  keras-musicvae prepare --input midi/ --preset cat_mel_2bar_small --output data/
  keras-musicvae train --preset cat_mel_2bar_small --data data/ --output runs/mel
  keras-musicvae sample --model runs/mel/preset -n 8 --output samples/
  keras-musicvae interpolate --model runs/mel/preset --from a.mid --to b.mid --output interp/
  keras-musicvae evaluate --model runs/mel/preset --data heldout/ --output eval/

Run `keras-musicvae COMMAND --help` for the options and examples of a command.
Exit codes: 0 ok, 1 failure (bad input file, no examples), 2 bad arguments,
3 an output exists (pass --overwrite), 130 interrupted, 141 stdout closed early.
Set KERAS_MUSICVAE_DEBUG=1 to see Python tracebacks.
"""


class ArgumentParser(argparse.ArgumentParser):
    """An argparse parser whose errors are one line (and exit code 2)."""

    def error(self, message):
        self.exit(common.EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser():
    """The `keras-musicvae` parser, with every subcommand registered."""
    parser = ArgumentParser(
        prog=PROG,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from keras_musicvae.version import __version__

    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    subparsers.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(f"keras_musicvae.cli.{name}").register(subparsers)
    return parser


def add_command(subparsers, name, help, description, examples, backend_option=False, backend_help=None):
    """Adds a subcommand parser with an examples epilog (used by the modules).

    The description is wrapped here (paragraphs separated by blank lines);
    the examples are printed as they are.
    """
    parser = subparsers.add_parser(
        name,
        help=help,
        description=wrap_paragraphs(description),
        epilog="examples:\n" + "\n".join(f"  {line}" for line in examples.strip("\n").splitlines()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    if backend_option:
        parser.add_argument(
            "--backend",
            choices=BACKENDS,
            default=None,
            help=backend_help or "Keras backend (default: $KERAS_BACKEND, else as Keras is configured)",
        )
    return parser


def wrap_paragraphs(text, width=79):
    """Wraps each blank-line-separated paragraph of `text` to `width` columns."""
    import textwrap

    paragraphs = [" ".join(p.split()) for p in text.strip().split("\n\n")]
    return "\n\n".join(textwrap.fill(p, width) for p in paragraphs if p)


# ------------------------------------------------------------------ backend
def use_backend(name):
    """Makes Keras run on `name` (None: as configured).

    Sets `KERAS_BACKEND` when Keras is not imported yet; raises a
    `UsageError` when it already runs on another backend.
    """
    if name is None:
        return
    if name not in BACKENDS:
        raise common.UsageError(f"unknown backend {name!r}; use one of {', '.join(BACKENDS)}.")
    if importlib.util.find_spec(name) is None:
        raise common.UsageError(f"the {name} backend is not installed (pip install {name}).")
    if "keras" not in sys.modules:
        os.environ["KERAS_BACKEND"] = name
        return
    import keras

    current = keras.backend.backend()
    if current != name:
        raise common.UsageError(
            f"this command runs on the {name} backend, but Keras already runs on {current}: "
            f"set KERAS_BACKEND={name} before starting Python."
        )


def _hide_native_stderr():
    """Sends what native libraries write to stderr to /dev/null; Python's stderr stays.

    TensorFlow and XLA print start-up chatter from C++ ("oneDNN custom
    operations are on", "Could not find cuda drivers", "failed call to
    cuInit") that no environment variable reliably silences. Python's
    `sys.stderr` (our messages, progress bars, warnings) is moved to a copy
    of the original file descriptor first, so nothing of ours is lost.
    Skipped with KERAS_MUSICVAE_DEBUG=1.
    """
    if common.debug_enabled() or os.name != "posix":
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
        sys.stderr = os.fdopen(
            saved, "w", buffering=1, encoding=sys.stderr.encoding or "utf-8", errors="backslashreplace"
        )
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def _quiet():
    """Hides library chatter that says nothing to a user of the command line."""
    for message in (
        "Couldn't find ffmpeg or avconv",
        "Tempo, Key or Time signature change events found on non-zero tracks",
        "'audioop' is deprecated",
    ):
        warnings.filterwarnings("ignore", message=message)
    if not common.debug_enabled():
        import logging

        logging.getLogger("absl").setLevel(logging.ERROR)
        logging.getLogger("tensorflow").setLevel(logging.ERROR)


# ------------------------------------------------------------------ main
def main(argv=None):
    """Runs the command line. Returns the exit code (the console script exits with it).

    When the reader of stdout goes away (`keras-musicvae presets | head -1`),
    the command stops quietly with exit code 141, as Unix tools killed by
    SIGPIPE do, instead of printing a BrokenPipeError traceback.
    """
    try:
        return _run(argv)
    except BrokenPipeError:
        return _stdout_closed()


def _stdout_closed():
    """Points stdout at /dev/null (Python flushes it at exit) and returns the exit code."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass
    return common.EXIT_BROKEN_PIPE


def _run(argv):
    from_command_line = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    _quiet()
    if from_command_line:
        _hide_native_stderr()
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, --version, or a usage error already printed
        return e.code if isinstance(e.code, int) else common.EXIT_USAGE
    prefix = f"{PROG} {args.command}"
    try:
        backend = getattr(args, "backend", None)
        if backend is None:
            backend = getattr(args, "default_backend", None)
        use_backend(backend)
        code = args.run(args)
        return common.EXIT_OK if code is None else int(code)
    except KeyboardInterrupt:
        print(f"{prefix}: interrupted.", file=sys.stderr)
        return common.EXIT_INTERRUPTED
    except BrokenPipeError:
        raise  # stdout closed: `main` stops quietly
    except common.CLIError as e:
        if common.debug_enabled():
            raise
        print(f"{prefix}: error: {e}", file=sys.stderr)
        return e.exit_code
    except Exception as e:  # noqa: BLE001 - the top level: one line, no traceback
        if common.debug_enabled():
            raise
        print(f"{prefix}: error: {_one_line(e)}", file=sys.stderr)
        return common.EXIT_FAILURE


_EXPECTED = (
    "FileNotFoundError",
    "FileExistsError",
    "ValueError",
    "MidiReadError",
    "AudioError",
    "CheckpointMismatchError",
    "UnsafeBundleError",
    "PresetFileError",
    "PermissionError",
    "IsADirectoryError",
    "NotADirectoryError",
)


def _one_line(error):
    """A one-line description of an exception (its type too when unexpected)."""
    text = " ".join(str(error).split()) or type(error).__name__
    if len(text) > 600:
        text = text[:600] + " ..."
    if type(error).__name__ in _EXPECTED:
        return text
    return f"{type(error).__name__}: {text} (set {common.DEBUG_ENV}=1 for the traceback)"


if __name__ == "__main__":
    sys.exit(main())
