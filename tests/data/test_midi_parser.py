"""Tests of `keras_musicvae.data.midi_parser`, the fast MIDI reader, called directly.

Its parity with note-seq through `read_midi` is tested in test_midi_io.py.
"""

import mido
import note_seq
import pretty_midi
import pytest

from keras_musicvae.data import midi_io
from keras_musicvae.data import midi_parser

from test_midi_io import simple_melody
from test_midi_io import write_midi


def test_key_numbers_match_pretty_midi():
    from mido.midifiles import meta

    for name in meta._key_signature_decode.values():
        assert midi_parser.key_number(name) == pretty_midi.key_name_to_key_number(name), name


def test_reads_a_file_as_note_seq_does(tmp_path):
    path = write_midi(tmp_path / "melody.mid", simple_melody(count=8))
    data = open(path, "rb").read()
    ns, times, same_tick_notes = midi_parser.FastMidiReader(data, midi_io.DEFAULT_LIMITS, "melody.mid").read()
    reference = note_seq.midi_file_to_note_sequence(path)
    reference.ClearField("filename")
    assert ns == reference
    assert same_tick_notes == 0
    assert len(times.starts) == 8


def test_a_file_past_the_tick_limit_raises_tick_limit_error(tmp_path):
    path = write_midi(tmp_path / "long.mid", simple_melody(count=4, length=5000))
    data = open(path, "rb").read()
    limits = midi_io.MidiSanityLimits(max_ticks=10_000)
    with pytest.raises(midi_parser.TickLimitError, match="tick 20,000, beyond the limit of 10,000") as error:
        midi_parser.FastMidiReader(data, limits, "long.mid").read()
    assert (error.value.tick, error.value.limit) == (20_000, 10_000)
    # read_midi names the file and counts it as a huge file.
    with pytest.raises(midi_io.MidiReadError, match=r"long\.mid: huge file \(its last event is at tick 20,000"):
        midi_io.read_midi(path, limits=limits)


def test_anything_unusual_is_left_to_note_seq(tmp_path):
    path = write_midi(tmp_path / "songpos.mid", simple_melody())
    midi = mido.MidiFile(path)
    midi.tracks[1].insert(1, mido.Message("songpos", pos=3, time=0))
    midi.save(path)
    with pytest.raises(midi_parser._Fallback):
        midi_parser.FastMidiReader(open(path, "rb").read(), midi_io.DEFAULT_LIMITS, "songpos.mid").read()
