"""Tests of monophonic melody extraction (`melody_extraction.extract_melodies`)."""

import note_seq
import pytest
from note_seq import sequences_lib

from keras_musicvae.data import melody_extraction as mx

NO_EVENT = note_seq.MELODY_NO_EVENT  # -2
NOTE_OFF = note_seq.MELODY_NOTE_OFF  # -1


def quantized(notes, numerator=4, total_time=None):
    """Quantized (4 steps per quarter, 120 qpm: a step is 0.125 s) sequence.

    Args:
        notes: (pitch, start_step, end_step[, instrument[, is_drum[, velocity]]]).
    """
    ns = note_seq.NoteSequence(ticks_per_quarter=220)
    ns.tempos.add(time=0.0, qpm=120.0)
    ns.time_signatures.add(time=0.0, numerator=numerator, denominator=4)
    for note in notes:
        pitch, start, end = note[:3]
        instrument = note[3] if len(note) > 3 else 0
        is_drum = note[4] if len(note) > 4 else False
        velocity = note[5] if len(note) > 5 else 90
        ns.notes.add(
            pitch=pitch,
            start_time=start * 0.125,
            end_time=end * 0.125,
            instrument=instrument,
            is_drum=is_drum,
            velocity=velocity,
        )
    ns.total_time = total_time or max((n.end_time for n in ns.notes), default=0.0)
    return note_seq.quantize_note_sequence(ns, 4)


LOOSE = dict(min_bars=1, min_unique_pitches=1, pad_end=True)


def test_one_melody_is_padded_to_the_bar():
    melodies, stats = mx.extract_melodies(
        quantized([(60, 0, 4), (62, 4, 6), (64, 8, 9)]), **LOOSE
    )
    assert len(melodies) == 1 and stats[mx.STAT_EXTRACTED] == 1
    melody = melodies[0]
    assert (melody.start_step, melody.end_step, len(melody)) == (0, 16, 16)
    assert list(melody)[:10] == [60, NO_EVENT, NO_EVENT, NO_EVENT, 62, NO_EVENT,
                                 NOTE_OFF, NO_EVENT, 64, NOTE_OFF]
    assert melody.steps_per_bar == 16


def test_a_gap_of_a_bar_ends_the_melody_and_the_next_starts_on_a_bar_line():
    notes = [(60, 0, 2), (62, 2, 4), (67, 40, 42), (69, 44, 46)]
    melodies, _ = mx.extract_melodies(quantized(notes), gap_bars=1, **LOOSE)
    assert [(m.start_step, m.end_step) for m in melodies] == [(0, 16), (32, 48)]
    assert list(melodies[1])[8] == 67
    # With an infinite gap it is one melody from bar 0 to bar 3.
    melodies, _ = mx.extract_melodies(quantized(notes), gap_bars=float("inf"), **LOOSE)
    assert [(m.start_step, m.end_step) for m in melodies] == [(0, 48)]


def test_polyphony_keeps_the_highest_note_or_skips_the_instrument():
    notes = [(60, 0, 4), (67, 0, 4), (64, 4, 8)]
    melodies, _ = mx.extract_melodies(quantized(notes), **LOOSE)
    assert list(melodies[0])[:5] == [67, NO_EVENT, NO_EVENT, NO_EVENT, 64]
    melodies, stats = mx.extract_melodies(
        quantized(notes), ignore_polyphonic_notes=False, **LOOSE
    )
    assert melodies == [] and stats[mx.STAT_POLYPHONIC_TRACKS] == 1


def test_instruments_are_separate_and_drums_ignored():
    notes = [
        (72, 0, 4, 1),
        (48, 0, 8, 0),
        (36, 0, 1, 9, True),
        (38, 4, 5, 9, True),
        (50, 8, 9, 2, False, 0),  # velocity 0 is ignored
    ]
    melodies, stats = mx.extract_melodies(quantized(notes), **LOOSE)
    assert [list(m)[0] for m in melodies] == [48, 72]  # instruments 0, 1
    assert stats[mx.STAT_EXTRACTED] == 2
    melodies, _ = mx.extract_melodies(quantized(notes), filter_drums=False, **LOOSE)
    assert sorted(list(m)[0] for m in melodies) == [36, 48, 72]


def test_length_and_pitch_filters():
    two_bars = [(60 + 2 * k, 4 * k, 4 * k + 4) for k in range(8)]
    melodies, stats = mx.extract_melodies(
        quantized(two_bars), min_bars=3, min_unique_pitches=1, pad_end=True
    )
    assert melodies == [] and stats[mx.STAT_TOO_SHORT] == 1
    melodies, stats = mx.extract_melodies(
        quantized(two_bars), min_bars=1, min_unique_pitches=9, pad_end=True
    )
    assert melodies == [] and stats[mx.STAT_TOO_FEW_PITCHES] == 1
    # Octaves count once: C4 and C5 are one pitch class.
    octaves = [(60, 0, 4), (72, 4, 8)]
    melodies, _ = mx.extract_melodies(
        quantized(octaves), min_bars=1, min_unique_pitches=2, pad_end=True
    )
    assert melodies == []
    melodies, stats = mx.extract_melodies(
        quantized(two_bars), max_steps_discard=16, **LOOSE
    )
    assert melodies == [] and stats[mx.STAT_TOO_LONG] == 1


@pytest.mark.parametrize("pad_end,length", [(True, 16), (False, 20)])
def test_truncation(pad_end, length):
    three_bars = [(60 + k % 12, 4 * k, 4 * k + 4) for k in range(12)]
    melodies, stats = mx.extract_melodies(
        quantized(three_bars),
        min_bars=1,
        min_unique_pitches=1,
        pad_end=pad_end,
        max_steps_truncate=20,
    )
    assert len(melodies[0]) == length and stats[mx.STAT_TRUNCATED] == 1


def test_search_start_step():
    notes = [(60, 0, 4), (62, 20, 24)]
    melodies, _ = mx.extract_melodies(
        quantized(notes), search_start_step=16, **LOOSE
    )
    assert [(m.start_step, list(m)[4]) for m in melodies] == [(16, 62)]


def test_three_four_bars():
    notes = [(60, 0, 4), (62, 12, 14)]
    melodies, _ = mx.extract_melodies(quantized(notes, numerator=3), **LOOSE)
    assert melodies[0].steps_per_bar == 12 and len(melodies[0]) == 24


def test_needs_a_quantized_sequence():
    with pytest.raises(sequences_lib.QuantizationStatusError):
        mx.extract_melodies(note_seq.NoteSequence())
