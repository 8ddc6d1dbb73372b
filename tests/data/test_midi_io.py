"""Tests of `keras_musicvae.data.midi_io`: safe reading, sanity checks, parity with note-seq."""

import os
import pathlib

import mido
import note_seq
import numpy as np
import pytest

from keras_musicvae.data import midi_io

BUNDLED = pathlib.Path(__file__).resolve().parents[2] / "keras_musicvae" / "corpus" / "freedoom"


def write_midi(path, tracks, ticks_per_beat=220, midi_type=1):
    """Writes `tracks` (lists of mido messages with delta times) to `path`."""
    midi = mido.MidiFile(type=midi_type, ticks_per_beat=ticks_per_beat)
    for messages in tracks:
        track = mido.MidiTrack()
        track.extend(messages)
        midi.tracks.append(track)
    midi.save(str(path))
    return str(path)


def simple_melody(tempo=500000, numerator=4, denominator=4, channel=0, length=220, count=32, zero=False):
    meta = [
        mido.MetaMessage("set_tempo", tempo=tempo, time=0),
        mido.MetaMessage("time_signature", numerator=numerator, denominator=denominator, time=0),
    ]
    notes = [mido.Message("program_change", program=0, channel=channel, time=0)]
    for i in range(count):
        pitch = 60 + (i % 12)
        notes.append(mido.Message("note_on", note=pitch, velocity=90, channel=channel, time=0))
        notes.append(
            mido.Message("note_off", note=pitch, velocity=0, channel=channel, time=0 if zero else length)
        )
        if zero:
            notes.append(mido.Message("control_change", control=7, value=100, channel=channel, time=length))
    return [meta, notes]


def assert_same_as_note_seq(path):
    reference = note_seq.midi_file_to_note_sequence(path)
    limits = midi_io.MidiSanityLimits(
        min_qpm=0, max_qpm=1e12, max_notes=None, drop_zero_length_notes=False, require_notes=False
    )
    ours, info = midi_io.read_midi_with_info(path, limits=limits)
    ours.ClearField("filename")
    assert ours == reference
    return info


# -- parity with note-seq ---------------------------------------------------


def test_fast_reader_matches_note_seq_on_real_files():
    paths = sorted(BUNDLED.rglob("*.mid"))[::4]
    assert len(paths) >= 20
    for path in paths:
        info = assert_same_as_note_seq(str(path))
        assert info.parser == "fast", path


def test_fast_reader_matches_note_seq_on_tricky_events(tmp_path):
    # Running status, tempo changes, a note re-struck before its note-off,
    # note-off + note-on on one tick, controls before the first note (pretty_midi
    # "stragglers"), program changes, drums, key signatures, pitch bends, names.
    meta = [
        mido.MetaMessage("set_tempo", tempo=400000, time=0),
        mido.MetaMessage("key_signature", key="F#m", time=0),
        mido.MetaMessage("time_signature", numerator=3, denominator=4, time=0),
        mido.MetaMessage("set_tempo", tempo=400000, time=100),  # same tempo: ignored
        mido.MetaMessage("set_tempo", tempo=700000, time=100),
        mido.MetaMessage("key_signature", key="Bb", time=50),
        mido.MetaMessage("set_tempo", tempo=300000, time=333),
    ]
    lead = [
        mido.MetaMessage("track_name", name="Lead", time=0),
        mido.Message("control_change", control=64, value=127, channel=2, time=0),
        mido.Message("pitchwheel", pitch=-300, channel=2, time=5),
        mido.Message("note_on", note=60, velocity=80, channel=2, time=10),
        mido.Message("note_on", note=60, velocity=70, channel=2, time=20),  # re-struck
        mido.Message("note_on", note=64, velocity=0, channel=2, time=0),  # spurious off
        mido.Message("note_off", note=60, channel=2, time=30),  # closes both
        mido.Message("note_on", note=62, velocity=90, channel=2, time=0),
        mido.Message("note_off", note=62, channel=2, time=40),
        mido.Message("note_on", note=62, velocity=91, channel=2, time=0),  # off + on, one tick
        mido.Message("program_change", program=40, channel=2, time=0),
        mido.Message("note_on", note=67, velocity=50, channel=2, time=7),
        mido.Message("note_off", note=62, channel=2, time=9),
        mido.Message("note_off", note=67, channel=2, time=0),
        mido.Message("note_on", note=70, velocity=50, channel=2, time=0),
        mido.Message("note_off", note=70, channel=2, time=0),  # zero length: dropped
        mido.Message("control_change", control=7, value=99, channel=2, time=3),
    ]
    drums = [
        mido.MetaMessage("track_name", name="Kit", time=0),
        mido.Message("note_on", note=36, velocity=100, channel=9, time=0),
        mido.Message("note_on", note=42, velocity=60, channel=9, time=0),
        mido.Message("note_off", note=36, channel=9, time=110),
        mido.Message("note_off", note=42, channel=9, time=0),
        mido.Message("polytouch", note=42, value=3, channel=9, time=1),
        mido.Message("aftertouch", value=3, channel=9, time=1),
        mido.Message("sysex", data=[1, 2, 3], time=1),
        mido.Message("note_on", note=38, velocity=100, channel=9, time=1000),
    ]  # last note never ends: dropped
    path = write_midi(tmp_path / "tricky.mid", [meta, lead, drums], ticks_per_beat=96)
    info = assert_same_as_note_seq(path)
    assert info.parser == "fast"
    assert info.zero_length_notes_dropped == 1
    ns = midi_io.read_midi(path)
    assert {n.is_drum for n in ns.notes} == {False, True}
    assert {n.program for n in ns.notes if not n.is_drum} == {0, 40}


def test_odd_files_fall_back_to_note_seq(tmp_path):
    # A system-common message inside a track sends the file to note-seq's reader.
    path = write_midi(tmp_path / "songpos.mid", simple_melody())
    midi = mido.MidiFile(path)
    midi.tracks[1].insert(1, mido.Message("songpos", pos=3, time=0))
    midi.save(path)
    info = assert_same_as_note_seq(path)
    assert info.parser == "note_seq"


# -- errors and sanity checks -------------------------------------------------


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"", midi_io.REASON_EMPTY),
        (b"hello, this is not music\n", midi_io.REASON_NOT_MIDI),
        (bytes(np.random.default_rng(0).integers(0, 256, 500, dtype=np.uint8)), midi_io.REASON_NOT_MIDI),
    ],
)
def test_bad_bytes_raise_midi_read_error(tmp_path, content, reason):
    path = tmp_path / "bad.mid"
    path.write_bytes(content)
    with pytest.raises(midi_io.MidiReadError) as error:
        midi_io.read_midi(path)
    assert error.value.reason == reason
    assert str(path) in str(error.value)


def test_truncated_file(tmp_path):
    good = write_midi(tmp_path / "good.mid", simple_melody())
    data = pathlib.Path(good).read_bytes()
    path = tmp_path / "truncated.mid"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(midi_io.MidiReadError) as error:
        midi_io.read_midi(path)
    assert error.value.reason == midi_io.REASON_TRUNCATED
    assert "truncated.mid" in str(error.value)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(midi_io.MidiReadError) as error:
        midi_io.read_midi(tmp_path / "nope.mid")
    assert error.value.reason == midi_io.REASON_UNREADABLE
    with pytest.raises(midi_io.MidiReadError) as error:
        midi_io.read_midi(tmp_path)
    assert error.value.reason == midi_io.REASON_UNREADABLE


def test_absurd_tempo(tmp_path):
    path = write_midi(tmp_path / "fast.mid", simple_melody(tempo=20))  # 3,000,000 qpm
    with pytest.raises(midi_io.MidiReadError) as error:
        midi_io.read_midi(path)
    assert error.value.reason == midi_io.REASON_ABSURD_TEMPO
    assert "3e+06" in str(error.value)
    relaxed = midi_io.MidiSanityLimits(max_qpm=1e7)
    assert len(midi_io.read_midi(path, limits=relaxed).notes) == 32


def test_huge_file_caps(tmp_path):
    path = write_midi(tmp_path / "many.mid", simple_melody(count=50))
    with pytest.raises(midi_io.MidiReadError) as error:
        midi_io.read_midi(path, limits=midi_io.MidiSanityLimits(max_notes=49))
    assert error.value.reason == midi_io.REASON_HUGE
    assert "50 notes" in str(error.value)
    with pytest.raises(midi_io.MidiReadError) as error:
        midi_io.read_midi(path, limits=midi_io.MidiSanityLimits(max_file_bytes=10))
    assert error.value.reason == midi_io.REASON_HUGE


def test_zero_length_notes_are_dropped_and_counted(tmp_path):
    only_zero = write_midi(tmp_path / "zero.mid", simple_melody(zero=True))
    with pytest.raises(midi_io.MidiReadError) as error:
        midi_io.read_midi(only_zero)
    assert error.value.reason == midi_io.REASON_NO_NOTES
    assert "all 32 notes have zero length" in str(error.value)
    # In NoteSequences from elsewhere (e.g. TFRecords) they are removed too.
    ns = midi_io.read_midi(write_midi(tmp_path / "ok.mid", simple_melody(count=4)))
    ns.notes.add(pitch=70, start_time=1.0, end_time=1.0, velocity=80)
    info = midi_io.check_note_sequence(ns)
    assert info.zero_length_notes_dropped == 1
    assert len(ns.notes) == 4


def test_no_notes(tmp_path):
    path = write_midi(tmp_path / "silent.mid", [[mido.MetaMessage("set_tempo", tempo=500000)]])
    with pytest.raises(midi_io.MidiReadError) as error:
        midi_io.read_midi(path)
    assert error.value.reason == midi_io.REASON_NO_NOTES


def test_error_is_picklable():
    import pickle

    error = midi_io.MidiReadError("a.mid", midi_io.REASON_TRUNCATED, "detail")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.path, copy.reason, copy.detail, str(copy)) == ("a.mid", error.reason, "detail", str(error))


def test_root_sets_magenta_style_ids(tmp_path):
    folder = tmp_path / "collection" / "sub"
    folder.mkdir(parents=True)
    path = write_midi(folder / "tune.mid", simple_melody(count=2))
    ns = midi_io.read_midi(path, root=tmp_path / "collection")
    assert ns.filename == os.path.join("sub", "tune.mid")
    assert ns.collection_name == "collection"
    assert ns.id.startswith("/id/midi/collection/") and len(ns.id.split("/")[-1]) == 40


# -- finding files --------------------------------------------------------------


def test_find_midi_files(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    for name in ["a/x.mid", "a/b/y.MIDI", "a/b/z.Mid", "a/notes.txt", "top.midi"]:
        (tmp_path / name).write_bytes(b"MThd")
    found = midi_io.find_midi_files(tmp_path)
    assert [os.path.relpath(p, tmp_path) for p in found] == [
        "a/b/y.MIDI", "a/b/z.Mid", "a/x.mid", "top.midi",
    ]
    assert midi_io.find_midi_files(str(tmp_path / "a" / "*.mid")) == [str(tmp_path / "a" / "x.mid")]
    assert len(midi_io.find_midi_files(str(tmp_path / "**" / "*.mid"))) == 1
    assert midi_io.find_midi_files([tmp_path / "a" / "b", str(tmp_path / "top.midi")]) == sorted(
        [str(tmp_path / "a/b/y.MIDI"), str(tmp_path / "a/b/z.Mid"), str(tmp_path / "top.midi")]
    )
    with pytest.raises(FileNotFoundError):
        midi_io.find_midi_files(tmp_path / "missing")
    with pytest.raises(FileNotFoundError):
        midi_io.find_midi_files(str(tmp_path / "*.nothing"))
