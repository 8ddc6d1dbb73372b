"""Chord progressions ("C G Am F") -> the control arrays of chord-conditioned models.

Magenta's chord-conditioned models (`cat-mel_2bar_med_chords`, the
`hier-multiperf_vel_1bar_*_chords` models) read one chord per output row.
To generate music over a progression the chords are spread over the rows
as magenta.js's `MusicVAE` does (`encodeChordProgression`):

* step-per-row models (melodies, trios): `n` chords cover `T` steps evenly,
  step `t` gets chord `floor(t * n / T)`; so 2 chords on a 2-bar model is
  one chord per bar, 4 chords two per bar.
* multi-instrument performances (rows are per-track events, not steps):
  every track slot gets "N.C." on its program row and the chord on every
  other row; one chord per example (magenta.js's only choice), or one per
  chunk of a multi-chunk converter.

Chord symbols are parsed by note-seq (`C`, `Am`, `F#m7`, `Bbdim`, `N.C.`;
roots are upper-case) and reduced to the converter's encoding (triads: a
seventh chord becomes its triad).

This module is pure NumPy / note-seq: no TensorFlow, no Keras.
"""

import re

import numpy as np

from keras_musicvae.data import chords as chords_lib


class ChordProgressionError(ValueError):
    """A chord progression that the model cannot take (names the chords and why)."""


def is_chord_conditioned(converter):
    """Whether `converter` makes chord controls (it has a chord encoding)."""
    return converter is not None and bool(getattr(converter, "chord_encoding", None))


def parse_progression(chords):
    """A list of chord symbols from a list or a string ("C G Am F" or "C,G,Am,F").

    Args:
        chords: a string of symbols separated by spaces or commas, or an
            iterable of such strings.

    Returns:
        A non-empty list of chord-symbol strings.

    Raises:
        ChordProgressionError: no chord given.
    """
    items = [chords] if isinstance(chords, str) else list(chords)
    symbols = [s for item in items for s in re.split(r"[\s,]+", str(item).strip()) if s]
    if not symbols:
        raise ChordProgressionError("the chord progression is empty; give chords such as 'C G Am F'.")
    return symbols


def encode_progression(chords, converter):
    """Class indices of a progression in the converter's chord encoding.

    Returns:
        `(symbols, indices)`: the parsed symbols and their int indices.

    Raises:
        ChordProgressionError: the converter takes no chords, or a symbol
            cannot be parsed or encoded (all bad symbols are named).
    """
    if not is_chord_conditioned(converter):
        raise ChordProgressionError("this model is not conditioned on chords; it takes no chord progression.")
    encoding = chords_lib.chord_encoding_from_name(converter.chord_encoding)
    symbols = parse_progression(chords)
    indices, bad = [], []
    for symbol in symbols:
        try:
            indices.append(int(encoding.encode_event(symbol)))
        except Exception as e:  # noqa: BLE001 - note-seq raises several error types
            bad.append(f"{symbol!r} ({_first_line(e)})")
    if bad:
        raise ChordProgressionError(
            f"cannot encode the chord(s) {', '.join(bad)}; use symbols such as C, Am, F#m, Bbdim, "
            "Caug or N.C. (no chord), roots in upper case."
        )
    return symbols, indices


def progression_controls(chords, converter, num_rows):
    """The `[num_rows, control_depth]` float32 controls of a chord progression.

    Args:
        chords: chord symbols (a list, or a string "C G Am F").
        converter: the model's data converter (chord-conditioned).
        num_rows: rows of the example (the model's `max_seq_len`).

    Raises:
        ChordProgressionError: a bad chord, too many chords, or a model
            without chord conditioning.
    """
    symbols, indices = encode_progression(chords, converter)
    if _is_track_segmented(converter):
        rows = _track_segmented_rows(symbols, indices, converter, num_rows)
    else:
        rows = _per_step_rows(symbols, indices, num_rows)
    return np.eye(converter.control_depth, dtype="float32")[rows]


def _per_step_rows(symbols, indices, num_steps):
    """Class index per step: chord `floor(t * n / T)` at step `t` (magenta.js)."""
    n = len(indices)
    if n > num_steps:
        raise ChordProgressionError(
            f"{n} chords do not fit in {num_steps} steps; give at most {num_steps} (e.g. one per bar)."
        )
    return np.asarray(indices)[np.arange(num_steps) * n // num_steps]


def _is_track_segmented(converter):
    """Whether rows are per-track events (multi-instrument performances)."""
    return hasattr(converter, "max_events_per_instrument") and hasattr(converter, "max_num_instruments")


def _track_segmented_rows(symbols, indices, converter, num_rows):
    """Class index per row: per track slot "N.C." then the chord of its chunk."""
    num_chunks = int(getattr(converter, "num_chunks", 1))
    if len(indices) not in (1, num_chunks):
        allowed = "one chord" if num_chunks == 1 else f"one chord or {num_chunks} (one per chunk)"
        raise ChordProgressionError(
            f"this model takes {allowed} per example, as magenta.js; got {len(indices)}: {' '.join(symbols)}."
        )
    slots = converter.max_num_instruments
    events = converter.max_events_per_instrument
    if num_rows != num_chunks * slots * events:
        raise ChordProgressionError(
            f"{num_rows} rows do not match the converter's {num_chunks * slots * events} "
            f"({num_chunks} chunk(s) x {slots} tracks x {events} events)."
        )
    no_chord = _no_chord_index(converter)
    per_chunk = indices * num_chunks if len(indices) == 1 else indices
    slot_rows = [[no_chord] + [chord] * (events - 1) for chord in per_chunk]
    return np.asarray([row for chord_rows in slot_rows for _ in range(slots) for row in chord_rows])


def _no_chord_index(converter):
    import note_seq

    encoding = chords_lib.chord_encoding_from_name(converter.chord_encoding)
    return int(encoding.encode_event(note_seq.NO_CHORD))


def _first_line(error):
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
