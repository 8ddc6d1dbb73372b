"""Tests of `keras_musicvae.data.augment` (Magenta's NoteSequenceAugmenter behaviour)."""

import collections

import numpy as np
import pytest
from note_seq import sequences_lib
from note_seq.protobuf import music_pb2

from keras_musicvae.data import augment


def make_sequence(pitches=(60, 64, 67, 125), drums=(36, 42)):
    ns = music_pb2.NoteSequence(ticks_per_quarter=220)
    ns.tempos.add(qpm=120)
    ns.key_signatures.add(key=2)
    t = 0.0
    for pitch in pitches:
        ns.notes.add(pitch=pitch, start_time=t, end_time=t + 0.5, velocity=80, program=0)
        t += 0.5
    for pitch in drums:
        ns.notes.add(pitch=pitch, start_time=0.0, end_time=0.25, velocity=90, is_drum=True, instrument=9)
    ns.text_annotations.add(
        text="C7", time=0.0, annotation_type=music_pb2.NoteSequence.TextAnnotation.CHORD_SYMBOL
    )
    ns.text_annotations.add(
        text="not a chord!", time=1.0, annotation_type=music_pb2.NoteSequence.TextAnnotation.CHORD_SYMBOL
    )
    ns.text_annotations.add(text="lyric", time=0.5)
    ns.total_time = t
    return ns


def test_transposition_within_range_drums_untouched():
    ns = make_sequence()
    original = music_pb2.NoteSequence()
    original.CopyFrom(ns)
    augmenter = augment.NoteSequenceAugmenter(transpose_range=(-3, 3), seed=0)
    amounts = collections.Counter()
    for _ in range(200):
        out = augmenter.augment(ns)
        pitched = [n.pitch for n in out.notes if not n.is_drum]
        drums = [n.pitch for n in out.notes if n.is_drum]
        assert drums == [36, 42]
        amount = pitched[0] - 60
        assert -3 <= amount <= 3
        amounts[amount] += 1
        # Every pitched note moved by the same amount; 125 + amount > 127 is deleted.
        expected = [p + amount for p in (60, 64, 67, 125) if p + amount <= 127]
        assert pitched == expected
        assert out.key_signatures[0].key == (2 + amount) % 12
    assert sorted(amounts) == list(range(-3, 4))  # every amount is drawn
    assert ns == original  # the input is never modified


def test_matches_note_seq_transpose_and_chord_fallback():
    ns = make_sequence()
    out = augment.apply_augmentation(ns, 5)
    expected, deleted = sequences_lib.transpose_note_sequence(
        make_sequence(), 5, 0, 127, transpose_chords=False
    )
    assert deleted == 1
    assert [n.pitch for n in out.notes] == [n.pitch for n in expected.notes]
    assert out.total_time == expected.total_time
    texts = [ta.text for ta in out.text_annotations]
    assert texts == ["F7", "N.C.", "lyric"]  # untransposable chord -> N.C.


def test_stretch_then_transpose():
    ns = make_sequence(pitches=(60, 62), drums=())
    out = augment.apply_augmentation(ns, -2, stretch=2.0)
    assert [n.pitch for n in out.notes] == [58, 60]
    assert [n.end_time for n in out.notes] == [1.0, 2.0]
    assert out.tempos[0].qpm == 60
    augmenter = augment.NoteSequenceAugmenter(stretch_range=(0.9, 1.1), seed=1)
    assert not augmenter.is_discrete and augmenter.transpositions == [0]
    for _ in range(20):
        t, s = augmenter.draw()
        assert t == 0 and 0.9 <= s <= 1.1


def test_seeded_and_explicit_generators():
    ns = make_sequence()
    a = augment.NoteSequenceAugmenter(transpose_range=(-5, 5), seed=7)
    b = augment.NoteSequenceAugmenter(transpose_range=(-5, 5), seed=7)
    assert [a.augment(ns) for _ in range(5)] == [b.augment(ns) for _ in range(5)]
    rng1, rng2 = np.random.default_rng(3), np.random.default_rng(3)
    assert a.augment(ns, rng=rng1) == b.augment(ns, rng=rng2)


def test_empty_sequence_and_config():
    empty = music_pb2.NoteSequence()
    augmenter = augment.NoteSequenceAugmenter(transpose_range=(-5, 5), stretch_range=(0.5, 2), seed=0)
    assert augmenter.augment(empty) == empty
    clone = augment.NoteSequenceAugmenter.from_config(augmenter.get_config())
    assert clone.get_config() == augmenter.get_config() == {
        "transpose_range": [-5, 5],
        "stretch_range": [0.5, 2.0],
        "seed": 0,
    }
    assert augmenter.transpositions == list(range(-5, 6))


@pytest.mark.parametrize("kwargs", [{"transpose_range": (3, -3)}, {"transpose_range": (0.5, 2)},
                                    {"stretch_range": (0, 1)}, {"stretch_range": (2, 1)}])
def test_bad_ranges(kwargs):
    with pytest.raises(ValueError):
        augment.NoteSequenceAugmenter(**kwargs)
