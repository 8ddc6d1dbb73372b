"""Tests of the chord-control helpers (`keras_musicvae.data.chords`)."""

import note_seq
import numpy as np
import pytest
from note_seq import chord_inference

from keras_musicvae.data import chords


def quantized_triads(progression, seconds_per_chord=1.0):
    """A quantized 4/4, 120 qpm sequence holding one triad per chord slot."""
    ns = note_seq.NoteSequence(ticks_per_quarter=220)
    ns.tempos.add(time=0.0, qpm=120.0)
    ns.time_signatures.add(time=0.0, numerator=4, denominator=4)
    for k, pitches in enumerate(progression):
        for pitch in pitches:
            ns.notes.add(
                pitch=pitch,
                start_time=k * seconds_per_chord,
                end_time=(k + 1) * seconds_per_chord,
                velocity=90,
            )
    ns.total_time = len(progression) * seconds_per_chord
    return note_seq.quantize_note_sequence(ns, 4)


def test_triad_encoding_by_name():
    encoding = chords.chord_encoding_from_name("triad")
    assert encoding.num_classes == 49
    assert chords.chord_encoding_from_name(None) is None
    with pytest.raises(ValueError, match="Unknown chord encoding"):
        chords.chord_encoding_from_name("jazz")


def test_encode_and_decode_chords():
    encoding = chords.chord_encoding_from_name("triad")
    symbols = ["N.C.", "C", "Am", "F#", "Ebaug", "Bdim"]
    onehot = chords.encode_chords(symbols, encoding)
    assert onehot.shape == (6, 49) and onehot.dtype == np.bool_
    np.testing.assert_array_equal(np.argmax(onehot, -1), [0, 1, 22, 7, 28, 48])
    np.testing.assert_array_equal(onehot.sum(-1), 1)
    # Magenta's decoding drops the last 12 columns: diminished -> N.C.
    assert chords.decode_chord_controls(onehot, encoding) == [
        "N.C.",
        "C",
        "Am",
        "F#",
        "Ebaug",
        "N.C.",
    ]


def test_unencodable_chords_raise_chord_error():
    encoding = chords.chord_encoding_from_name("triad")
    with pytest.raises(chords.ChordError, match="cannot be encoded"):
        chords.encode_chords(["Csus4"], encoding)
    with pytest.raises(chords.ChordError, match="cannot be encoded"):
        chords.encode_chords(["not a chord"], encoding)


def test_inference_adds_chords_once():
    # C major, then A minor, then F major, then G major: one chord per 2 beats.
    quantized = quantized_triads(
        [(60, 64, 67), (57, 60, 64), (53, 57, 60), (55, 59, 62)]
    )
    assert not chords.has_chords(quantized)
    chords.ensure_chords(quantized)
    assert chords.has_chords(quantized)
    found = [(ta.time, ta.text) for ta in quantized.text_annotations]
    assert found == [(0.0, "C"), (1.0, "Am"), (2.0, "F"), (3.0, "G")]
    chords.ensure_chords(quantized)  # a sequence with chords is left alone
    assert len(quantized.text_annotations) == 4


def test_inference_failure_is_a_chord_error():
    quantized = quantized_triads([])
    with pytest.raises(chords.ChordError, match="could not be inferred"):
        chords.ensure_chords(quantized)


def test_cached_transition_matrix_is_exact():
    chords.ensure_chords(quantized_triads([(60, 64, 67)]))
    cached = chord_inference._key_chord_transition_distribution
    assert getattr(cached, "_keras_musicvae_cached", False)
    key_chords = chord_inference._key_chord_distribution(0.01)
    original = cached.__wrapped__(key_chords, 0.001, 0.5)
    np.testing.assert_array_equal(cached(key_chords, 0.001, 0.5), original)
    np.testing.assert_array_equal(cached(key_chords, 0.002, 0.5),
                                  cached.__wrapped__(key_chords, 0.002, 0.5))


def test_chords_for_event_lists_and_add_chords():
    quantized = quantized_triads([(60, 64, 67), (57, 60, 64)])
    chords.ensure_chords(quantized)
    melody = note_seq.Melody([60] + [-2] * 7, start_step=4)
    (chord_list,) = chords.chords_for_event_lists(quantized, [melody])
    assert chord_list == ["C"] * 4 + ["Am"] * 4
    ns = note_seq.NoteSequence()
    chords.add_chords_to_sequence(ns, chord_list, [0.125 * s for s in melody.steps])
    assert [(ta.time, ta.text) for ta in ns.text_annotations] == [
        (0.5, "C"),
        (1.0, "Am"),
    ]


def test_resolve_chord_encoding_accepts_names_and_encodings():
    assert chords.resolve_chord_encoding(None) == (None, None)
    encoding, name = chords.resolve_chord_encoding("triad")
    assert name == "triad" and type(encoding) is chords.CHORD_ENCODINGS["triad"]
    assert chords.resolve_chord_encoding(encoding) == (encoding, "triad")
    with pytest.raises(ValueError, match="chord_encoding must be None, one of"):
        chords.resolve_chord_encoding(3)
    with pytest.raises(ValueError, match="Unknown chord encoding 'nope'"):
        chords.resolve_chord_encoding("nope")
