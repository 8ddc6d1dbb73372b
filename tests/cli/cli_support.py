"""Helpers of the command-line tests: run `keras-musicvae` in a subprocess, make MIDI files.

Import with `from cli_support import ...` (pytest puts tests/cli/ on sys.path).
"""

import os
import subprocess
import sys

from support import BUNDLED_CORPUS as CORPUS  # noqa: F401 - re-exported for the tests
from support import REPO_ROOT

# A tiny melody model: the CLI's plumbing is tested, not the music.
TINY_HPARAMS = {
    "enc_rnn_size": [16],
    "dec_rnn_size": [16],
    "z_size": 4,
    "sampling_schedule": "constant",
    "sampling_rate": 0.0,
}
TINY_HPARAMS_TEXT = "enc_rnn_size=[16],dec_rnn_size=[16],z_size=4,sampling_schedule=constant,sampling_rate=0"


def cli_env(**extra):
    env = dict(os.environ)
    env.pop("KERAS_MUSICVAE_DEBUG", None)
    env.setdefault("KERAS_BACKEND", "tensorflow")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
    env.update(extra)
    return env


def run_cli(*args, cwd=None, timeout=600, env=None):
    """Runs `python -m keras_musicvae ARGS`; returns the CompletedProcess (text)."""
    return subprocess.run(
        [sys.executable, "-m", "keras_musicvae", *[str(a) for a in args]],
        cwd=cwd,
        env=env or cli_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def error_lines(result):
    """The non-empty lines of stderr (warnings from the CLI included)."""
    return [line for line in result.stderr.splitlines() if line.strip()]


def write_melody(path, pitches, program=0, qpm=120.0, numerator=4, denominator=4, step=0.5, drum=False):
    """Writes a one-note-at-a-time MIDI file: `pitches[i]` lasts `step` seconds."""
    import note_seq

    sequence = note_seq.NoteSequence()
    sequence.tempos.add(qpm=qpm)
    sequence.time_signatures.add(numerator=numerator, denominator=denominator)
    sequence.ticks_per_quarter = 220
    for i, pitch in enumerate(pitches):
        sequence.notes.add(
            pitch=pitch,
            start_time=i * step,
            end_time=(i + 1) * step,
            velocity=90,
            program=program,
            is_drum=drum,
            instrument=9 if drum else 0,
        )
    sequence.total_time = len(pitches) * step
    note_seq.sequence_proto_to_midi_file(sequence, str(path))
    return path


# 2 bars of 4/4 at 120 qpm = 4 s = 8 half-second notes: one 2-bar window.
TWO_BAR_MELODY = [60, 62, 64, 65, 67, 65, 64, 62]
TWO_BAR_MELODY_B = [72, 71, 69, 67, 65, 64, 62, 60]
# 4 bars: three distinct 2-bar windows.
FOUR_BAR_MELODY = [60, 62, 64, 65, 67, 69, 71, 72, 74, 72, 71, 69, 67, 65, 64, 62]


def write_bytes(path, data):
    path.write_bytes(data)
    return path
