"""Tests for keras_musicvae.evaluation.melody_attributes (paper Appendix C)."""

import numpy as np
import pytest

from keras_musicvae.evaluation.melody_attributes import ATTRIBUTE_NAMES
from keras_musicvae.evaluation.melody_attributes import average_interval
from keras_musicvae.evaluation.melody_attributes import c_diatonic_membership
from keras_musicvae.evaluation.melody_attributes import melody_attributes
from keras_musicvae.evaluation.melody_attributes import note_density
from keras_musicvae.evaluation.melody_attributes import syncopation_16th
from keras_musicvae.evaluation.melody_attributes import syncopation_8th

HOLD, OFF = 0, 1  # Magenta melody classes: 0 = no event, 1 = note-off


def on(pitch):
    """Note-on token of a MIDI pitch (token 2 = pitch 21)."""
    return pitch - 21 + 2


# Two 4/4 bars of 16th-note steps; "*16" / "*8" mark the syncopated onsets.
MELODY = np.array(
    [
        # bar 1
        on(60), HOLD,  # 0 C4
        on(64), HOLD,  # 2 E4   (step 2, but onset at step 0 -> not 8th-sync)
        on(67),        # 4 G4
        on(66),        # 5 F#4  (odd, onset at 4 -> not 16th-sync)
        HOLD,          # 6
        on(69),        # 7 A4   *16 (odd, step 6 has no onset)
        OFF,           # 8
        on(70),        # 9 Bb4  *16 (odd, step 8 is a note-off, not an onset)
        HOLD, HOLD, OFF, HOLD,  # 10-13
        on(72), HOLD,  # 14 C5  *8 (14 = 2 mod 4; steps 13, 12 no onset)
        # bar 2
        HOLD, HOLD,    # 16-17
        on(74), HOLD,  # 18 D5  *8
        OFF, HOLD,     # 20-21
        on(75),        # 22 Eb5 *8
        on(72),        # 23 C5  (odd, onset at 22 -> not 16th-sync)
        HOLD, HOLD,    # 24-25
        on(71), HOLD,  # 26 B4  *8 (steps 25, 24 no onset)
        OFF,           # 28
        on(69),        # 29 A4  *16 (odd, step 28 is a note-off)
        on(67),        # 30 G4  (30 = 2 mod 4, but onset at 29 -> not 8th-sync)
        HOLD,          # 31
    ]
)
# Notes (13): 60 64 67 66 69 70 72 74 75 72 71 69 67.
# Outside C major: F#4 (66), Bb4 (70), Eb5 (75) -> c_diatonic = 10/13.
# Density: 13 onsets / 32 steps.
# |intervals|: 4 3 1 3 1 2 2 1 3 1 2 2 -> sum 25 over 12 -> 25/12.
# 16th syncopation: steps 7, 9, 29 -> 3/13.  8th: steps 14, 18, 22, 26 -> 4/13.
EXPECTED = {
    "c_diatonic": 10 / 13,
    "note_density": 13 / 32,
    "average_interval": 25 / 12,
    "syncopation_16th": 3 / 13,
    "syncopation_8th": 4 / 13,
}


def test_hand_written_melody():
    assert MELODY.shape == (32,)
    assert c_diatonic_membership(MELODY) == pytest.approx(EXPECTED["c_diatonic"])
    assert note_density(MELODY) == pytest.approx(EXPECTED["note_density"])
    assert average_interval(MELODY) == pytest.approx(EXPECTED["average_interval"])
    assert syncopation_16th(MELODY) == pytest.approx(EXPECTED["syncopation_16th"])
    assert syncopation_8th(MELODY) == pytest.approx(EXPECTED["syncopation_8th"])


def test_batch_and_lengths():
    on_beat = np.array([on(60), HOLD, HOLD, HOLD] * 4)  # four C4 quarter notes
    batch = np.zeros((2, 32), dtype=np.int64) + HOLD
    batch[0] = MELODY
    batch[1, :16] = on_beat
    values = melody_attributes(batch, lengths=[32, 16])
    assert values.shape == (2, len(ATTRIBUTE_NAMES))
    np.testing.assert_allclose(values[0], [EXPECTED[name] for name in ATTRIBUTE_NAMES])
    # Four C4s on the beat: all diatonic, density 4/16, no interval, no syncopation.
    np.testing.assert_allclose(values[1], [1.0, 0.25, 0.0, 0.0, 0.0])
    # Without lengths the trailing 16 held steps halve the density of row 1.
    assert melody_attributes(batch)[1, 1] == pytest.approx(4 / 32)
    # Leading batch dimensions are kept.
    assert melody_attributes(batch.reshape(2, 1, 32)).shape == (2, 1, 5)


def test_syncopation_on_a_later_offbeat_only():
    # One note on the "and" of beat 1 (step 2) after silence: 8th-syncopated;
    # one note on step 3 after silence: 16th-syncopated.
    eighth = np.full(16, HOLD)
    eighth[2] = on(60)
    assert syncopation_8th(eighth) == 1.0 and syncopation_16th(eighth) == 0.0
    sixteenth = np.full(16, HOLD)
    sixteenth[3] = on(60)
    assert syncopation_16th(sixteenth) == 1.0 and syncopation_8th(sixteenth) == 0.0


def test_undefined_values_are_nan():
    silence = np.array([OFF] + [HOLD] * 15)
    assert note_density(silence) == 0.0
    for function in (c_diatonic_membership, average_interval, syncopation_16th, syncopation_8th):
        assert np.isnan(function(silence))
    single = np.array([on(61)] + [HOLD] * 15)
    assert np.isnan(average_interval(single))
    assert c_diatonic_membership(single) == 0.0  # C#


def test_min_pitch_and_errors():
    # With min_pitch 0 (the paper's 130-token space) token 2 + 60 is C4.
    assert c_diatonic_membership(np.array([2 + 60, 2 + 61]), min_pitch=0) == 0.5
    with pytest.raises(ValueError, match="1-D"):
        note_density(np.zeros((2, 4), dtype=int))
    with pytest.raises(ValueError, match="integers"):
        note_density(np.array([0.5, 1.0]))
    with pytest.raises(ValueError, match="lengths must have shape"):
        melody_attributes(np.ones((2, 8), dtype=int), lengths=[8])
