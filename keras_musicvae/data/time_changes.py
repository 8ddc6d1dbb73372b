"""A fast `split_note_sequence_on_time_changes` for the common case.

`note_seq.sequences_lib.split_note_sequence_on_time_changes` splits a
NoteSequence wherever the tempo or time signature really changes. Most
sequences have no such change, so the result is one subsequence spanning
`[0, total_time]`, but note_seq still builds it note by note. This module
decides the split times the same way and, when there is a single
subsequence, builds it with bulk protobuf operations. Any other case (a real
change, NaN times, a quantized sequence) is handed to note_seq itself.

The result is always equal (protobuf `==`) to note_seq's.
"""

import bisect
import operator

from note_seq import constants
from note_seq import sequences_lib
from note_seq.protobuf import music_pb2

_CHORD_SYMBOL = music_pb2.NoteSequence.TextAnnotation.CHORD_SYMBOL
_BEAT = music_pb2.NoteSequence.TextAnnotation.BEAT

_get_time = operator.attrgetter("time")
_get_start = operator.attrgetter("start_time")
_get_end = operator.attrgetter("end_time")


def split_on_time_changes(note_sequence):
    """Same result as `sequences_lib.split_note_sequence_on_time_changes(ns)`.

    Args:
        note_sequence: The NoteSequence to split (not modified).

    Returns:
        A list of NoteSequences, each starting at time zero.
    """
    total_time = note_sequence.total_time
    if not total_time > 0.0:  # note_seq: no split time past 0.0 -> []
        return []
    if _has_real_time_change(note_sequence, total_time):
        return sequences_lib.split_note_sequence_on_time_changes(note_sequence)
    qi = note_sequence.quantization_info
    if qi.steps_per_quarter > 0 or qi.steps_per_second > 0:
        # note_seq refuses quantized sequences; let it raise its own error.
        return sequences_lib.split_note_sequence_on_time_changes(note_sequence)
    subsequence = _whole_subsequence(note_sequence, total_time)
    if subsequence is None:
        return sequences_lib.split_note_sequence_on_time_changes(note_sequence)
    return [subsequence]


def _is_nan_sum(values):
    """True when the floats' sum is NaN: some NaN (or both infinities)."""
    total = sum(values, 0.0)
    return total != total


def _has_real_time_change(note_sequence, total_time):
    """Whether note_seq would split somewhere strictly inside (0, total_time).

    note_seq walks the time signatures and tempos (before `total_time`) in
    time order, tracking the current time signature (start 4/4) and tempo
    (start 120 qpm) separately, and splits at the first real change with a
    time > 0. With NaN times the sort order is undefined: answer True so
    that note_seq decides.
    """
    time_signatures = note_sequence.time_signatures
    tempos = note_sequence.tempos
    if not time_signatures and not tempos:
        return False
    if _is_nan_sum([e.time for e in time_signatures] + [e.time for e in tempos]):
        return True
    numerator, denominator = 4, 4
    for ts in sorted(time_signatures, key=_get_time):
        if not ts.time < total_time:
            continue
        if ts.numerator == numerator and ts.denominator == denominator:
            continue
        if ts.time > 0.0:
            return True
        numerator, denominator = ts.numerator, ts.denominator
    qpm = constants.DEFAULT_QUARTERS_PER_MINUTE
    for tempo in sorted(tempos, key=_get_time):
        if not tempo.time < total_time:
            continue
        if tempo.qpm == qpm:
            continue
        if tempo.time > 0.0:
            return True
        qpm = tempo.qpm
    return False


def _state_events(events, total_time):
    """note_seq's stateful events for the span `[0, total_time]`.

    The last event at or before 0 (moved to time 0 by `_set_events`), then
    the events strictly inside (0, total_time), in stable time order. Returns
    `(events, number of leading events that move to time 0)`.
    """
    ordered = sorted(events, key=_get_time)
    kept = []
    previous = None
    for event in ordered:
        if event.time <= 0.0:
            previous = event
        elif event.time < total_time:
            kept.append(event)
        elif event.time > total_time:
            break
    if previous is None:
        return kept, 0
    return [previous] + kept, 1


def _set_events(container, events, num_at_zero):
    """Replaces a repeated field's content; the first `num_at_zero` get time 0."""
    del container[:]
    container.extend(events)
    for i in range(num_at_zero):
        container[i].time = 0.0


def _whole_subsequence(sequence, total_time):
    """What `_extract_subsequences(sequence, [0.0, total_time])` returns.

    Returns None when a NaN time makes note_seq's sort orders undefined.
    """
    starts = list(map(_get_start, sequence.notes))
    if _is_nan_sum(starts):
        return None
    text_annotations = sequence.text_annotations
    pedal_numbers = sequences_lib.DEFAULT_SUBSEQUENCE_PRESERVE_CONTROL_NUMBERS
    pedals = [cc for cc in sequence.control_changes if cc.control_number in pedal_numbers]
    other_times = (
        [e.time for e in sequence.key_signatures]
        + [e.time for e in text_annotations]
        + [e.time for e in pedals]
    )
    if _is_nan_sum(other_times):
        return None

    sub = music_pb2.NoteSequence()
    sub.CopyFrom(sequence)

    # -- notes: stable sort by start, keep 0 <= start < total_time, clip ends.
    sub_notes = sub.notes
    n = len(starts)
    if not all(map(operator.le, starts, starts[1:])):
        sub_notes.sort(key=_get_start)  # list.sort underneath: stable
        starts.sort()
    first = bisect.bisect_left(starts, 0.0)  # note_seq skips start < 0
    last = bisect.bisect_left(starts, total_time)  # and stops at start >= end
    if last != n:
        del sub_notes[last:]
    if first:
        del sub_notes[:first]
    ends = list(map(_get_end, sub_notes))
    if _is_nan_sum(ends):
        return None
    max_end = max(ends, default=0.0)
    if max_end > total_time:
        for k, end in enumerate(ends):
            if end > total_time:
                sub_notes[k].end_time = total_time
        max_end = total_time
    sub.total_time = max(0.0, max_end)

    # -- time signatures, key signatures, tempos: stateful events.
    for name in ("time_signatures", "key_signatures", "tempos"):
        _set_events(getattr(sub, name), *_state_events(getattr(sequence, name), total_time))

    # -- text annotations: chord symbols (stateful), then beats (stateless).
    chords, chords_at_zero = _state_events(
        [a for a in text_annotations if a.annotation_type == _CHORD_SYMBOL], total_time
    )
    beats = sorted(
        (a for a in text_annotations if a.annotation_type == _BEAT), key=_get_time
    )
    beats = [a for a in beats if 0.0 <= a.time < total_time]
    _set_events(sub.text_annotations, chords + beats, chords_at_zero)

    # -- control changes: pedal state at 0 per (instrument, number), then the
    # pedal events strictly inside (0, total_time). Pitch bends are dropped.
    previous_pedals = {}
    inside = []
    for cc in sorted(pedals, key=_get_time):
        if cc.time <= 0.0:
            previous_pedals[(cc.instrument, cc.control_number)] = cc
        elif cc.time < total_time:
            inside.append(cc)
        elif cc.time > total_time:
            break
    at_zero = list(previous_pedals.values())
    _set_events(sub.control_changes, at_zero + inside, len(at_zero))
    del sub.pitch_bends[:]

    sub.subsequence_info.start_time_offset = 0.0
    sub.subsequence_info.end_time_offset = sequence.total_time - 0.0 - sub.total_time
    return sub
