"""Monophonic melody extraction from a quantized NoteSequence, per instrument.

The same extraction as Magenta's `melody_pipelines.extract_melodies` (which
lives in Magenta's pipelines, not in note-seq), built on `note_seq.Melody`:
every instrument is scanned from the start; a melody starts at the bar of its
first note and ends when `gap_bars` bars pass without a sounding note; the
next melody of the instrument is searched from the following bar line. Each
melody is then filtered by length and by its number of distinct pitch
classes, and optionally truncated.

This module is pure note-seq / NumPy: no TensorFlow, no Keras.
"""

import collections

import note_seq
import numpy as np
from note_seq import sequences_lib

# Keys of the statistics returned by `extract_melodies`.
STAT_POLYPHONIC_TRACKS = "polyphonic tracks discarded"
STAT_TOO_SHORT = "melodies discarded as too short"
STAT_TOO_LONG = "melodies discarded as too long"
STAT_TOO_FEW_PITCHES = "melodies discarded for too few distinct pitches"
STAT_TRUNCATED = "melodies truncated"
STAT_EXTRACTED = "melodies extracted"


def extract_melodies(
    quantized_sequence,
    search_start_step=0,
    min_bars=7,
    max_steps_truncate=None,
    max_steps_discard=None,
    gap_bars=1.0,
    min_unique_pitches=5,
    ignore_polyphonic_notes=True,
    pad_end=False,
    filter_drums=True,
):
    """Extracts monophonic melodies from every instrument of a sequence.

    Args:
        quantized_sequence: A NoteSequence quantized relative to meter
            (`note_seq.quantize_note_sequence`).
        search_start_step: Step at which to start searching (a bar line).
        min_bars: Melodies shorter than this many bars are discarded.
        max_steps_truncate: If set, longer melodies are cut to this many
            steps (to the last bar line below it when `pad_end`).
        max_steps_discard: If set, longer melodies are discarded.
        gap_bars: A melody ends after this many bars without a sounding note
            (`float("inf")` to never end on silence).
        min_unique_pitches: Melodies with fewer distinct pitch classes are
            discarded.
        ignore_polyphonic_notes: If True, of notes starting on the same step
            the highest is kept; if False, an instrument with such notes is
            skipped (counted in `STAT_POLYPHONIC_TRACKS`).
        pad_end: Pad each melody with "no event" up to a bar line.
        filter_drums: Ignore `is_drum` notes.

    Returns:
        `(melodies, stats)`: a list of `note_seq.Melody` (instruments in
        Magenta's order, i.e. Python set order of the instrument numbers,
        ascending for small numbers; melodies of one instrument in time
        order) and a
        `collections.Counter` keyed by the `STAT_*` strings.

    Raises:
        note_seq.NonIntegerStepsPerBarError: If a bar is not a whole number of
            steps.
    """
    sequences_lib.assert_is_relative_quantized_sequence(quantized_sequence)
    stats = collections.Counter()
    melodies = []
    steps_per_bar = int(
        sequences_lib.steps_per_bar_in_quantized_sequence(quantized_sequence)
    )
    # Magenta's instrument order: Python set order of the instrument numbers
    # (deterministic for ints), as they appear in the notes.
    instruments = list(set(note.instrument for note in quantized_sequence.notes))
    views = _instrument_views(quantized_sequence) if len(instruments) > 1 else None
    for instrument in instruments:
        source = quantized_sequence if views is None else views[instrument]
        start_step = search_start_step
        while True:
            melody = note_seq.Melody()
            try:
                melody.from_quantized_sequence(
                    source,
                    instrument=instrument,
                    search_start_step=start_step,
                    gap_bars=gap_bars,
                    ignore_polyphonic_notes=ignore_polyphonic_notes,
                    pad_end=pad_end,
                    filter_drums=filter_drums,
                )
            except note_seq.PolyphonicMelodyError:
                stats[STAT_POLYPHONIC_TRACKS] += 1
                break
            # The next melody of this instrument starts at or after the next
            # bar line (bars counted from `search_start_step`).
            start_step = melody.end_step + (
                (search_start_step - melody.end_step) % steps_per_bar
            )
            if not melody:
                break
            kept = _filter_melody(
                melody,
                stats,
                min_bars=min_bars,
                max_steps_truncate=max_steps_truncate,
                max_steps_discard=max_steps_discard,
                min_unique_pitches=min_unique_pitches,
                pad_end=pad_end,
            )
            if kept:
                stats[STAT_EXTRACTED] += 1
                melodies.append(melody)
    return melodies, stats


def _instrument_views(quantized_sequence):
    """`{instrument: quantized sequence of its notes only}`.

    `Melody.from_quantized_sequence` scans every note of the sequence it is
    given for each melody it extracts; given one instrument's notes (in the
    same order, with the same quantization and time signatures, all it
    reads) it finds the same melodies without the cost growing with the
    number of instruments times the number of notes.
    """
    from note_seq.protobuf import music_pb2

    notes = collections.defaultdict(list)
    for note in quantized_sequence.notes:
        notes[note.instrument].append(note)
    views = {}
    for instrument, own in notes.items():
        view = music_pb2.NoteSequence()
        view.quantization_info.CopyFrom(quantized_sequence.quantization_info)
        view.time_signatures.extend(quantized_sequence.time_signatures)
        view.notes.extend(own)
        views[instrument] = view
    return views


def _filter_melody(
    melody,
    stats,
    min_bars,
    max_steps_truncate,
    max_steps_discard,
    min_unique_pitches,
    pad_end,
):
    """Applies the length / pitch filters to one melody (truncating in place).

    Returns whether the melody is kept; counts the decision in `stats`.
    """
    if len(melody) < melody.steps_per_bar * min_bars:
        stats[STAT_TOO_SHORT] += 1
        return False
    if max_steps_discard is not None and len(melody) > max_steps_discard:
        stats[STAT_TOO_LONG] += 1
        return False
    if max_steps_truncate is not None and len(melody) > max_steps_truncate:
        length = max_steps_truncate
        if pad_end:
            length -= max_steps_truncate % melody.steps_per_bar
        melody.set_length(length)
        stats[STAT_TRUNCATED] += 1
    if np.count_nonzero(melody.get_note_histogram()) < min_unique_pitches:
        stats[STAT_TOO_FEW_PITCHES] += 1
        return False
    return True
