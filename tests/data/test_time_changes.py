"""`split_on_time_changes` gives exactly note_seq's `split_note_sequence_on_time_changes`."""

import pytest
from note_seq import sequences_lib
from note_seq.protobuf import music_pb2

from keras_musicvae.data import midi_io
from keras_musicvae.data.time_changes import split_on_time_changes
from support import BUNDLED_CORPUS

TA = music_pb2.NoteSequence.TextAnnotation


def _base(total_time=4.0, notes=((60, 0.0, 1.0), (62, 1.0, 2.0), (64, 2.0, 4.0))):
    ns = music_pb2.NoteSequence(id="x", filename="x.mid", collection_name="c")
    ns.ticks_per_quarter = 220
    ns.source_info.parser = music_pb2.NoteSequence.SourceInfo.PRETTY_MIDI
    for pitch, start, end in notes:
        ns.notes.add(pitch=pitch, start_time=start, end_time=end, velocity=80)
    ns.total_time = total_time
    return ns


def _ts(ns, time, num=4, den=4):
    ns.time_signatures.add(time=time, numerator=num, denominator=den)


def _tempo(ns, time, qpm=120.0):
    ns.tempos.add(time=time, qpm=qpm)


def synthetic_cases():
    """`{name: NoteSequence}` covering the edge cases of note_seq's splitter."""
    cases = {}
    cases["empty"] = music_pb2.NoteSequence()

    ns = _base(total_time=0.0, notes=())
    _tempo(ns, 0.0, 90.0)
    cases["total_time_zero"] = ns

    ns = _base()
    _tempo(ns, 0.0, 90.0)
    _ts(ns, 0.0, 3, 4)
    cases["tempo_and_ts_at_zero_only"] = ns

    ns = _base()
    _ts(ns, 0.0, 3, 4)
    _ts(ns, 2.0, 3, 4)
    _tempo(ns, 0.0, 100.0)
    _tempo(ns, 1.5, 100.0)
    cases["repeated_identical_changes"] = ns

    ns = _base()
    _ts(ns, 0.0)
    _ts(ns, 4.0, 6, 8)  # at total_time: ignored
    _tempo(ns, 5.0, 70.0)  # past the end: ignored
    cases["changes_at_or_after_end"] = ns

    ns = _base()
    _tempo(ns, 0.0, 120.0)
    _tempo(ns, 2.0, 60.0)
    cases["real_tempo_change"] = ns

    ns = _base()
    _ts(ns, 1.0, 7, 8)
    cases["real_time_signature_change"] = ns

    ns = _base(notes=((64, 2.0, 3.0), (60, 0.0, 1.0), (62, 1.0, 2.0), (59, 1.0, 1.5)))
    cases["notes_out_of_order"] = ns

    ns = _base(total_time=3.0, notes=((60, 0.0, 1.0), (62, 2.0, 5.0), (64, 1.0, 3.5)))
    cases["note_beyond_total_time"] = ns

    ns = _base(total_time=3.0, notes=((60, -1.0, 1.0), (62, 3.0, 4.0), (64, 1.0, 2.0)))
    cases["notes_before_zero_and_at_end"] = ns

    ns = _base(total_time=5.0, notes=((60, 0.0, 1.0), (62, 1.0, 2.0)))
    cases["total_time_past_last_note"] = ns

    ns = _base()
    for time, number, value, instrument in [
        (-0.5, 64, 127, 0),
        (0.0, 64, 0, 0),
        (0.0, 64, 100, 1),
        (0.0, 67, 30, 0),
        (0.0, 7, 90, 0),  # volume: dropped
        (1.0, 64, 127, 0),
        (2.5, 66, 127, 1),
        (3.0, 1, 64, 0),  # modulation: dropped
        (4.0, 64, 0, 0),  # at the end: dropped
        (6.0, 64, 0, 1),  # past the end: dropped
    ]:
        ns.control_changes.add(
            time=time, control_number=number, control_value=value, instrument=instrument
        )
    ns.control_changes.add(time=0.5, control_number=64, control_value=0, instrument=0)
    cases["control_changes"] = ns

    ns = _base()
    ns.control_changes.add(time=1.0, control_number=64, control_value=127)
    ns.control_changes.add(time=2.0, control_number=64, control_value=0)
    cases["pedal_after_start_only"] = ns

    ns = _base()
    for t, bend in [(0.0, 0), (0.5, 100), (1.0, -200)]:
        ns.pitch_bends.add(time=t, bend=bend)
    cases["pitch_bends"] = ns

    ns = _base()
    for t, text, kind in [
        (-1.0, "Am", TA.CHORD_SYMBOL),
        (0.0, "C", TA.CHORD_SYMBOL),
        (3.0, "F", TA.CHORD_SYMBOL),
        (1.0, "G", TA.CHORD_SYMBOL),
        (4.0, "E", TA.CHORD_SYMBOL),
        (0.0, "1", TA.BEAT),
        (-0.5, "0", TA.BEAT),
        (2.0, "3", TA.BEAT),
        (1.0, "2", TA.BEAT),
        (4.0, "5", TA.BEAT),
        (0.5, "lyric", TA.UNKNOWN),
    ]:
        ns.text_annotations.add(time=t, text=text, annotation_type=kind)
    cases["text_annotations"] = ns

    ns = _base()
    ns.text_annotations.add(time=1.0, text="D", annotation_type=TA.CHORD_SYMBOL)
    ns.text_annotations.add(time=0.5, text="hi", annotation_type=TA.UNKNOWN)
    cases["chord_after_start_only"] = ns

    ns = _base()
    ns.key_signatures.add(time=0.0, key=2)
    ns.key_signatures.add(time=-1.0, key=1)
    ns.key_signatures.add(time=2.0, key=5, mode=music_pb2.NoteSequence.KeySignature.MINOR)
    ns.key_signatures.add(time=4.0, key=7)
    cases["key_signatures"] = ns

    ns = _base()
    _ts(ns, -1.0, 5, 4)
    _ts(ns, 0.0, 3, 4)
    _tempo(ns, -2.0, 80.0)
    cases["negative_time_changes"] = ns

    ns = _base()
    ns.subsequence_info.start_time_offset = 1.0
    ns.instrument_infos.add(instrument=0, name="piano")
    ns.section_annotations.add(time=0.0, section_id=1)
    cases["other_fields_kept"] = ns

    ns = _base(notes=((60, 0.0, 1.0), (62, float("nan"), 2.0)))
    cases["nan_note_time"] = ns

    return cases


CASES = synthetic_cases()


@pytest.mark.parametrize("name", sorted(CASES))
def test_synthetic_cases_match_note_seq(name):
    ns = CASES[name]
    original = music_pb2.NoteSequence()
    original.CopyFrom(ns)
    got = split_on_time_changes(ns)
    if name == "nan_note_time":  # NaN != NaN: compare the serialized protos
        want = sequences_lib.split_note_sequence_on_time_changes(ns)
        assert [s.SerializeToString() for s in got] == [
            s.SerializeToString() for s in want
        ]
    else:
        assert got == sequences_lib.split_note_sequence_on_time_changes(ns)
        assert ns == original  # the input is not modified


def test_quantized_sequence_raises_like_note_seq():
    ns = _base()
    ns.quantization_info.steps_per_quarter = 4
    with pytest.raises(sequences_lib.QuantizationStatusError):
        sequences_lib.split_note_sequence_on_time_changes(ns)
    with pytest.raises(sequences_lib.QuantizationStatusError):
        split_on_time_changes(ns)


def _bundled_midi_files(limit=6):
    return sorted(BUNDLED_CORPUS.rglob("*.mid"))[:limit]


@pytest.mark.parametrize("path", _bundled_midi_files(), ids=lambda p: p.name)
def test_bundled_corpus_matches_note_seq(path):
    ns = midi_io.read_midi(path)
    assert split_on_time_changes(ns) == sequences_lib.split_note_sequence_on_time_changes(
        ns
    )
