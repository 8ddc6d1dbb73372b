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

import dataclasses
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
_START_END = operator.attrgetter("start_time", "end_time")
_TIME = operator.attrgetter("time")


def sequence_problem(note_sequence, max_seconds=DEFAULT_MAX_SECONDS,
                     max_quarter_notes=DEFAULT_MAX_QUARTER_NOTES, times=None):
    """Says why a NoteSequence cannot be converted safely, or returns None.

    Checked, in this order: every tempo is a positive finite number of
    quarter notes per minute; every time (notes, tempos, time and key
    signatures, text annotations, control changes, pitch bends,
    `total_time`) is finite; the sequence lasts at most `max_seconds`
    seconds and `max_quarter_notes` quarter notes (its quantized length is
    `steps_per_quarter` times that). Negative finite times are left to the
    converters (they report "notes before time zero"). Cost: reading every
    time once from the protobuf (a few milliseconds for 10,000 notes).

    Args:
        note_sequence: An unquantized `NoteSequence`.
        max_seconds: Longest duration accepted, in seconds (None: no limit).
        max_quarter_notes: Longest duration accepted, in quarter notes at
            the sequence's tempos (None: no limit).
        times: The sequence's `SequenceTimes`, if already read.

    Returns:
        None, or `(reason, detail)`: `reason` one of `REASON_TOO_LONG`,
        `REASON_INVALID_TEMPO`, `REASON_INVALID_TIMES`; `detail` in words.
    """
    problem = invalid_tempo(note_sequence)
    if problem is not None:
        return problem
    times = SequenceTimes.of(note_sequence) if times is None else times
    return times.invalid() or length_problem(note_sequence, max_seconds, max_quarter_notes, times)


def invalid_tempo(note_sequence):
    """`(REASON_INVALID_TEMPO, detail)` for a NaN, infinite or non-positive qpm."""
    for tempo in note_sequence.tempos:
        if not (math.isfinite(tempo.qpm) and tempo.qpm > 0.0):
            return REASON_INVALID_TEMPO, (
                f"{tempo.qpm!r} quarter notes per minute; a tempo must be a "
                "positive finite number"
            )
    return None


def invalid_times(note_sequence, times=None):
    """`(REASON_INVALID_TIMES, detail)` for the first NaN or infinite time, or None."""
    return (SequenceTimes.of(note_sequence) if times is None else times).invalid()


def length_problem(note_sequence, max_seconds=DEFAULT_MAX_SECONDS,
                   max_quarter_notes=DEFAULT_MAX_QUARTER_NOTES, times=None):
    """`(REASON_TOO_LONG, detail)` for a sequence over a limit, or None.

    The times must be finite (see `invalid_times`).
    """
    seconds = end_time(note_sequence, times)
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


def end_time(note_sequence, times=None):
    """The latest time of any event (or `total_time`), in seconds (>= 0)."""
    return (SequenceTimes.of(note_sequence) if times is None else times).end_time()


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


@dataclasses.dataclass(frozen=True)
class SequenceTimes:
    """Every time of a NoteSequence, read once (reading a protobuf is the cost).

    Attributes:
        starts: Note start times, in note order.
        ends: Note end times, in note order.
        others: `[(kind, [times])]` of the other timed fields that have
            entries, and `total_time`.
    """

    starts: tuple
    ends: tuple
    others: tuple

    @classmethod
    def of(cls, ns):
        pairs = list(map(_START_END, ns.notes))
        starts, ends = zip(*pairs) if pairs else ((), ())
        fields = (
            ("tempo", ns.tempos),
            ("time signature", ns.time_signatures),
            ("key signature", ns.key_signatures),
            ("text annotation", ns.text_annotations),
            ("control change", ns.control_changes),
            ("pitch bend", ns.pitch_bends),
        )
        others = [(kind, list(map(_TIME, field))) for kind, field in fields if len(field)]
        others.append(("total time", [ns.total_time]))
        return cls(starts, ends, tuple(others))

    def groups(self):
        """`(kind, times)` for every kind of time."""
        return (("note start", self.starts), ("note end", self.ends)) + self.others

    def invalid(self):
        """`(REASON_INVALID_TIMES, detail)` for the first NaN or infinite time, or None."""
        for kind, values in self.groups():
            # A sum is finite only when every term is (a huge finite sum counts too).
            if not math.isfinite(sum(values, 0.0)):
                bad = next((v for v in values if not math.isfinite(v)), max(values))
                return REASON_INVALID_TIMES, f"a {kind} at time {bad!r}"
        return None

    def end_time(self):
        """The largest time, at least 0."""
        return max(0.0, *(max(values) for _, values in self.groups() if values))

    def zero_length_notes(self):
        """Indexes of the notes whose end is not after their start."""
        return [i for i, (s, e) in enumerate(zip(self.starts, self.ends)) if not e > s]
