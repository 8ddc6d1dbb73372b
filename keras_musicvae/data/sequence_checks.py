"""Checks that a NoteSequence can be converted at bounded cost.

A converter quantizes a NoteSequence and builds per-step event lists, so its
work grows with the *musical* length of the sequence (quantized steps), not
with its number of notes or MIDI ticks: a 52-byte MIDI file whose one note
lasts 99 million ticks at a division of one tick per quarter note makes a
melody of about 400 million steps (6 GB). Values no MIDI file can hold
(NaN or infinite times, a tempo of zero) make note-seq raise deep inside
quantization.

`sequence_problem` finds both before any quantization; `midi_io` (reading)
and every converter (`DataConverter.to_tensors`) refuse such sequences with
a reason instead of running out of memory or crashing.

Pure Python: no NumPy, no note-seq import.
"""

import math
import operator

# The longest file of the development corpus (../shared/data, 2,394 real MIDI
# files) lasts 572 s and 1,143 quarter notes; these limits are about 9x
# (quarter notes) and 19x (seconds) that. At 10,000 quarter notes the most
# expensive converter (multi-instrument performance, 24 steps per quarter,
# every window kept) takes 7-8 s of CPU and 1.7 GB for a dense file.
DEFAULT_MAX_QUARTER_NOTES = 10_000
DEFAULT_MAX_SECONDS = 3 * 60 * 60

# Reasons (short categories that pipelines count).
REASON_TOO_LONG = "too long"
REASON_INVALID_TEMPO = "invalid tempo"
REASON_INVALID_TIMES = "invalid times"

_DEFAULT_QPM = 120.0  # note-seq's tempo when a sequence names none
_START = operator.attrgetter("start_time")
_END = operator.attrgetter("end_time")
_TIME = operator.attrgetter("time")


def sequence_problem(note_sequence, max_seconds=DEFAULT_MAX_SECONDS,
                     max_quarter_notes=DEFAULT_MAX_QUARTER_NOTES):
    """Says why a NoteSequence cannot be converted safely, or returns None.

    Checked, in this order: every tempo is a positive finite number of
    quarter notes per minute; every time (notes, tempos, time and key
    signatures, text annotations, control changes, pitch bends,
    `total_time`) is finite; the sequence lasts at most `max_seconds`
    seconds and `max_quarter_notes` quarter notes (its quantized length is
    `steps_per_quarter` times that). Negative finite times are left to the
    converters (they report "notes before time zero"). Cost: one pass over
    the events (well under a millisecond for a typical song).

    Args:
        note_sequence: An unquantized `NoteSequence`.
        max_seconds: Longest duration accepted, in seconds (None: no limit).
        max_quarter_notes: Longest duration accepted, in quarter notes at
            the sequence's tempos (None: no limit).

    Returns:
        None, or `(reason, detail)`: `reason` one of `REASON_TOO_LONG`,
        `REASON_INVALID_TEMPO`, `REASON_INVALID_TIMES`; `detail` in words.
    """
    problem = invalid_tempo(note_sequence)
    if problem is not None:
        return problem
    times = _all_times(note_sequence)
    problem = _invalid_times(times)
    if problem is not None:
        return problem
    return _length_problem(note_sequence, _end_time(times), max_seconds, max_quarter_notes)


def invalid_tempo(note_sequence):
    """`(REASON_INVALID_TEMPO, detail)` for a NaN, infinite or non-positive qpm."""
    for tempo in note_sequence.tempos:
        if not (math.isfinite(tempo.qpm) and tempo.qpm > 0.0):
            return REASON_INVALID_TEMPO, (
                f"{tempo.qpm!r} quarter notes per minute; a tempo must be a "
                "positive finite number"
            )
    return None


def invalid_times(note_sequence):
    """`(REASON_INVALID_TIMES, detail)` for the first NaN or infinite time, or None."""
    return _invalid_times(_all_times(note_sequence))


def length_problem(note_sequence, max_seconds=DEFAULT_MAX_SECONDS,
                   max_quarter_notes=DEFAULT_MAX_QUARTER_NOTES):
    """`(REASON_TOO_LONG, detail)` for a sequence over a limit, or None.

    The times must be finite (see `invalid_times`).
    """
    return _length_problem(note_sequence, end_time(note_sequence), max_seconds, max_quarter_notes)


def end_time(note_sequence):
    """The latest time of any event (or `total_time`), in seconds (>= 0)."""
    return _end_time(_all_times(note_sequence))


def quarter_notes(note_sequence, seconds):
    """Quarter notes from time 0 to `seconds` at the sequence's tempos.

    The first tempo holds from time 0 (note-seq quantizes a one-tempo part
    with it throughout); no tempo means 120 quarter notes per minute.
    """
    changes = sorted((t.time, t.qpm) for t in note_sequence.tempos)
    if not changes:
        return seconds * _DEFAULT_QPM / 60.0
    total = 0.0
    for i, (start, qpm) in enumerate(changes):
        begin = 0.0 if i == 0 else max(0.0, start)
        finish = changes[i + 1][0] if i + 1 < len(changes) else seconds
        finish = min(max(0.0, finish), seconds)
        if finish > begin:
            total += (finish - begin) * qpm / 60.0
    return total


def _length_problem(note_sequence, seconds, max_seconds, max_quarter_notes):
    if max_seconds is not None and seconds > max_seconds:
        return REASON_TOO_LONG, (
            f"it lasts {seconds:,.0f} s, more than the limit of {max_seconds:,.0f} s"
        )
    if max_quarter_notes is not None:
        quarters = quarter_notes(note_sequence, seconds)
        if quarters > max_quarter_notes:
            return REASON_TOO_LONG, (
                f"it lasts {quarters:,.0f} quarter notes, more than the limit of "
                f"{max_quarter_notes:,}"
            )
    return None


def _invalid_times(times):
    for kind, values in times:
        # A sum is finite only when every term is (a huge finite sum counts too).
        if not math.isfinite(sum(values, 0.0)):
            bad = next((v for v in values if not math.isfinite(v)), max(values))
            return REASON_INVALID_TIMES, f"a {kind} at time {bad!r}"
    return None


def _end_time(times):
    """The largest time (>= 0: the "total time" entry holds 0.0)."""
    return max(max(values) for _, values in times if values)


def _all_times(ns):
    """`[(kind, [times])]` for every timed field of a NoteSequence."""
    notes = ns.notes
    return [
        ("note start", list(map(_START, notes))),
        ("note end", list(map(_END, notes))),
        ("tempo", list(map(_TIME, ns.tempos))),
        ("time signature", list(map(_TIME, ns.time_signatures))),
        ("key signature", list(map(_TIME, ns.key_signatures))),
        ("text annotation", list(map(_TIME, ns.text_annotations))),
        ("control change", list(map(_TIME, ns.control_changes))),
        ("pitch bend", list(map(_TIME, ns.pitch_bends))),
        ("total time", [ns.total_time, 0.0]),
    ]
