"""The five melody attributes of the paper (Sec. 5.5 and Appendix C).

Melodies are token sequences on a 16th-note grid (16 steps per 4/4 bar, the
first step on a downbeat): token 0 = no event (the previous note or rest
continues), 1 = note-off, `2 + k` = note-on of MIDI pitch `min_pitch + k`
(`min_pitch` = 21 for Magenta's 90-class melody representation). A "note" is
a note-on token (an onset).

Definitions (Appendix C of the arXiv version of the paper, 1803.05428; the
Markdown copy under `shared/paper/` stops before the appendices):

* C diatonic membership: fraction of notes whose pitch class is in the C major
  scale (C D E F G A B, the white keys).
* Note density: number of note onsets divided by the number of 16th-note steps.
* Average interval: mean absolute pitch difference, in semitones, between
  consecutive notes.
* 16th-note syncopation: fraction of notes whose onset lands on an off-8th
  16th position (steps 1, 3, 5, ... counting the first step as 0) with no
  onset on the step just before it.
* 8th-note syncopation: fraction of notes whose onset lands on an off-beat
  8th position (steps 2, 6, 10, ...: the "and" of each quarter) with no onset
  on either the previous 16th step or the previous 8th step.

The appendix words the positions as "odd 16th / 8th note positions"; we read
the positions as counted from 0 at the downbeat, the only reading under which
they are syncopated (Figs. 10 and 11 of the paper mark these notes as the
syncopated ones). Fractions over notes are `nan` for a melody without notes,
and the average interval is `nan` with fewer than two notes.
"""

import numpy as np

NO_EVENT_TOKEN = 0
NOTE_OFF_TOKEN = 1
FIRST_NOTE_ON_TOKEN = 2
DEFAULT_MIN_PITCH = 21

# Pitch classes of the C major scale: C D E F G A B.
C_MAJOR_PITCH_CLASSES = (0, 2, 4, 5, 7, 9, 11)

ATTRIBUTE_NAMES = (
    "c_diatonic",
    "note_density",
    "average_interval",
    "syncopation_16th",
    "syncopation_8th",
)


def _as_melody(tokens):
    tokens = np.asarray(tokens)
    if tokens.ndim != 1:
        raise ValueError(f"expected a 1-D melody token sequence, got shape {tokens.shape}.")
    if tokens.size and not np.issubdtype(tokens.dtype, np.integer):
        raise ValueError(f"melody tokens must be integers, got dtype {tokens.dtype}.")
    if tokens.size and tokens.min() < 0:
        raise ValueError(f"melody tokens must be >= 0, got {tokens.min()}.")
    return tokens


def note_onsets(tokens):
    """Boolean mask `[T]`, True where a note starts (token >= 2)."""
    return _as_melody(tokens) >= FIRST_NOTE_ON_TOKEN


def note_pitches(tokens, min_pitch=DEFAULT_MIN_PITCH):
    """MIDI pitches of the notes, in order: int64 array `[num_notes]`."""
    tokens = _as_melody(tokens)
    onsets = tokens >= FIRST_NOTE_ON_TOKEN
    return tokens[onsets].astype(np.int64) - FIRST_NOTE_ON_TOKEN + min_pitch


def c_diatonic_membership(tokens, min_pitch=DEFAULT_MIN_PITCH):
    """Fraction of notes whose pitch class is in C major (`nan` without notes)."""
    pitches = note_pitches(tokens, min_pitch)
    if pitches.size == 0:
        return float("nan")
    return float(np.isin(pitches % 12, C_MAJOR_PITCH_CLASSES).mean())


def note_density(tokens):
    """Number of note onsets divided by the number of steps (`nan` if empty)."""
    onsets = note_onsets(tokens)
    if onsets.size == 0:
        return float("nan")
    return float(onsets.mean())


def average_interval(tokens, min_pitch=DEFAULT_MIN_PITCH):
    """Mean absolute interval in semitones between consecutive notes.

    `nan` with fewer than two notes. Rests between the notes do not matter.
    """
    pitches = note_pitches(tokens, min_pitch)
    if pitches.size < 2:
        return float("nan")
    return float(np.abs(np.diff(pitches)).mean())


def _syncopated_onsets(onsets, period, offset, lookback):
    """Onsets at steps `offset (mod period)` with no onset in the `lookback` steps before."""
    steps = np.arange(onsets.size)
    syncopated = onsets & (steps % period == offset)
    for back in range(1, lookback + 1):
        previous = np.zeros_like(onsets)
        previous[back:] = onsets[:-back]
        syncopated &= ~previous
    return syncopated


def syncopation_16th(tokens):
    """Fraction of notes starting on an odd step (0-based) after a step without onset."""
    onsets = note_onsets(tokens)
    num_notes = int(onsets.sum())
    if num_notes == 0:
        return float("nan")
    return float(_syncopated_onsets(onsets, 2, 1, 1).sum() / num_notes)


def syncopation_8th(tokens):
    """Fraction of notes starting on steps 2, 6, 10, ... with no onset on the 2 steps before."""
    onsets = note_onsets(tokens)
    num_notes = int(onsets.sum())
    if num_notes == 0:
        return float("nan")
    return float(_syncopated_onsets(onsets, 4, 2, 2).sum() / num_notes)


def melody_attributes(tokens, lengths=None, min_pitch=DEFAULT_MIN_PITCH):
    """All five attributes of a batch of melodies.

    Args:
        tokens: int array of shape `[..., T]` (or a list of 1-D arrays).
        lengths: optional int array of shape `[...]`; only the first
            `lengths[i]` steps of melody i are measured.
        min_pitch: MIDI pitch of token 2.

    Returns:
        float64 array of shape `[..., 5]`, columns in `ATTRIBUTE_NAMES` order
        (c_diatonic, note_density, average_interval, syncopation_16th,
        syncopation_8th); `nan` where an attribute is undefined.
    """
    if isinstance(tokens, (list, tuple)) and tokens and np.ndim(tokens[0]) == 1:
        rows = [np.asarray(row) for row in tokens]
        batch_shape = (len(rows),)
    else:
        tokens = np.asarray(tokens)
        if tokens.ndim == 0:
            raise ValueError("expected melody tokens of shape [..., T], got a scalar.")
        batch_shape = tokens.shape[:-1]
        rows = list(tokens.reshape((-1, tokens.shape[-1])))
    if lengths is not None:
        lengths = np.asarray(lengths)
        if lengths.shape != batch_shape:
            raise ValueError(
                f"lengths must have shape {batch_shape} (one per melody), got {lengths.shape}."
            )
        rows = [row[: int(length)] for row, length in zip(rows, lengths.reshape(-1))]
    values = np.array(
        [
            [
                c_diatonic_membership(row, min_pitch),
                note_density(row),
                average_interval(row, min_pitch),
                syncopation_16th(row),
                syncopation_8th(row),
            ]
            for row in rows
        ],
        dtype=np.float64,
    ).reshape(batch_shape + (len(ATTRIBUTE_NAMES),))
    return values
