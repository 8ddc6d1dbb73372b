"""Chord progressions -> control arrays, laid out as magenta.js lays them out."""

import note_seq
import numpy as np
import pytest

from keras_musicvae.data.chord_progression import ChordProgressionError
from keras_musicvae.data.chord_progression import is_chord_conditioned
from keras_musicvae.data.chord_progression import parse_progression
from keras_musicvae.data.chord_progression import progression_controls
from keras_musicvae.data.converter import converter_from_config
from keras_musicvae.presets import load_preset_config

TRIADS = note_seq.TriadChordOneHotEncoding()


def _converter(preset):
    return converter_from_config(load_preset_config(preset)["converter"], mode="infer")


def _classes(controls):
    assert np.all(controls.sum(-1) == 1)  # one-hot rows
    return controls.argmax(-1).tolist()


def test_parse_progression():
    assert parse_progression("C G  Am,F") == ["C", "G", "Am", "F"]
    assert parse_progression(["C G", "Am"]) == ["C", "G", "Am"]
    with pytest.raises(ChordProgressionError, match="the chord progression is empty"):
        parse_progression(" , ")


@pytest.mark.parametrize(
    "chords, expected",
    [
        (["C"], ["C"] * 32),
        (["C", "G"], ["C"] * 16 + ["G"] * 16),  # one per bar
        (["C", "G", "Am"], ["C"] * 11 + ["G"] * 11 + ["Am"] * 10),  # step t: chord floor(3 t / 32)
        (["C", "G", "Am", "F"], ["C"] * 8 + ["G"] * 8 + ["Am"] * 8 + ["F"] * 8),
    ],
)
def test_melody_chords_spread_evenly_over_the_steps(chords, expected):
    converter = _converter("cat_mel_2bar_med_chords")
    controls = progression_controls(chords, converter, 32)
    assert controls.shape == (32, 49) and controls.dtype == np.float32
    assert _classes(controls) == [TRIADS.encode_event(c) for c in expected]


def test_bad_progressions_are_refused_naming_the_chords():
    converter = _converter("cat_mel_2bar_med_chords")
    with pytest.raises(ChordProgressionError) as error:
        progression_controls(["C", "f#m", "Xyz"], converter, 32)
    message = str(error.value)
    assert message.startswith("cannot encode the chord(s) 'f#m' (") and "'Xyz' (" in message
    with pytest.raises(ChordProgressionError, match="33 chords do not fit in 32 steps"):
        progression_controls(["C"] * 33, converter, 32)
    plain = _converter("cat_mel_2bar_small")
    assert not is_chord_conditioned(plain) and is_chord_conditioned(converter)
    with pytest.raises(ChordProgressionError, match="not conditioned on chords"):
        progression_controls(["C"], plain, 32)


def test_sevenths_reduce_to_triads():
    converter = _converter("cat_mel_2bar_med_chords")
    assert _classes(progression_controls(["G7"], converter, 4)) == [TRIADS.encode_event("G")] * 4


def test_multi_instrument_chords_fill_every_track_slot():
    converter = _converter("hier_multiperf_vel_1bar_med_chords")
    rows = converter.sequence_length  # 8 tracks x 64 events
    controls = progression_controls("Am", converter, rows)
    assert controls.shape == (rows, 49)
    slots = np.asarray(_classes(controls)).reshape(8, 64)
    no_chord, a_minor = TRIADS.encode_event(note_seq.NO_CHORD), TRIADS.encode_event("Am")
    assert (slots[:, 0] == no_chord).all() and (slots[:, 1:] == a_minor).all()
    with pytest.raises(ChordProgressionError, match="this model takes one chord per example, as magenta.js; got 2"):
        progression_controls(["C", "G"], converter, rows)
