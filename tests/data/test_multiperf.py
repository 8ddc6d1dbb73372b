"""Tests of `MultiInstrumentPerformanceConverter` (the `hier_multiperf_*` data).

Parity: Magenta's own arrays on real MIDI (`fixtures/magenta/converters/
multiperf_1bar`, config `hier-multiperf_vel_1bar_med`) must be reproduced
exactly, in order, with the same dtypes, and so must its `from_tensors`.
"""

import hashlib
import json

import note_seq
import numpy as np
import pytest

from keras_musicvae.data import converter_from_config
from keras_musicvae.data import serialize_converter
from keras_musicvae.data.multiperf import MultiInstrumentPerformanceConverter

FIXTURE_DIR = "multiperf_1bar"
# The constructor arguments of Magenta's `hier-multiperf_vel_1bar_med`.
MED_1BAR_KWARGS = dict(
    num_velocity_bins=8, hop_size_bars=1, max_num_instruments=8, max_events_per_instrument=64
)
NOTE_FIELDS = ("pitch", "velocity", "start_time", "end_time", "is_drum", "program", "instrument")

# Magenta 2.1.4 (note-seq 0.0.3, the reference venv of `shared/reference/`)
# run on the `.mid` files of `multiperf_1bar` with these constructor arguments
# (eval mode, no cap, `chord_encoding=TriadChordOneHotEncoding()` for "triad"):
# per file, the example count, the first 16 hex digits of `_arrays_digest` of
# its `to_tensors` and of `_roundtrip_digest` of `from_tensors([outputs[0]],
# [controls[0]] or None)`. They cover what the fixtures do not: chord controls,
# several chunks per example, no velocity, a restricted pitch range. (Chord
# inference is slow; the second chord variant leaves out the two longest files.)
MAGENTA_VARIANTS = {
    "chords": (
        dict(num_velocity_bins=8, chord_encoding="triad"),
        {
            "bach_chorales__bwv396": (8, "87080421d15a81a1", "feabcf4c311c2ec2"),
            "bach_chorales__bwv404": (9, "1a57f4166e6420af", "1c7930136ebf6a70"),
            "freedink__dance": (8, "d229f42fb6866616", "937426716675eb6b"),
            "freedink__love": (13, "1a4cd9174392b412", "4d0a5cd6704fcd58"),
            "freedoom__freedoom1_D_VICTOR": (16, "d97c37f74a3ddb2c", "92c33ef8e3a720e1"),
            "freedoom__freedoom2_D_READ_M": (72, "37404d2e61c374af", "f4083932b58a8049"),
            "openmsx__train_filled_with_cash": (13, "013ba4489b882182", "98c55b9c54036e6b"),
            "simutrans__34-flyingaway": (59, "2fe60981e28f7f1f", "50db56a1674c5c51"),
        },
    ),
    "2bar_hop_1bar_chunks_chords": (
        dict(num_velocity_bins=8, hop_size_bars=2, chunk_size_bars=1, chord_encoding="triad"),
        {
            "bach_chorales__bwv396": (5, "4bec51aa5387608a", "03b3bf7e46edb1c9"),
            "bach_chorales__bwv404": (5, "f79296c99a46d789", "e51996aacd827883"),
            "freedink__dance": (3, "ed536f27271afe78", "fe09d6b2d4882a73"),
            "freedink__love": (8, "ee097f5b9be60232", "c1501d5943ebae7a"),
            "freedoom__freedoom1_D_VICTOR": (8, "a814f881a34b554c", "75d5022b3c3fd726"),
            "openmsx__train_filled_with_cash": (10, "27d87429c30d2420", "9b30ecccd723e2cf"),
        },
    ),
    "2bar_chunk_no_velocity": (
        dict(
            num_velocity_bins=0,
            hop_size_bars=2,
            chunk_size_bars=2,
            max_events_per_instrument=128,
        ),
        {
            "bach_chorales__bwv396": (5, "ae7e0ad928b07c4c", "7e0734b7d11b78f0"),
            "bach_chorales__bwv404": (5, "67747f42c39f640c", "7327f66e2833af1a"),
            "freedink__dance": (5, "5c8c76bddd8edae5", "b2b3c9a75902f24b"),
            "freedink__love": (8, "262ff162783989e3", "795999bcc76e03c7"),
            "freedoom__freedoom1_D_VICTOR": (8, "a45d7bae3446aac4", "8779ce69bd6d8dbd"),
            "freedoom__freedoom2_D_READ_M": (43, "df9bb958c066238d", "49db0b789adf1911"),
            "openmsx__train_filled_with_cash": (13, "802bce96d82ed96d", "6e70af08298abb60"),
            "simutrans__34-flyingaway": (31, "164c591b94a204be", "cae84e69afb52ff4"),
        },
    ),
    "pitch_range_4_instruments": (
        dict(
            num_velocity_bins=4,
            min_pitch=36,
            max_pitch=96,
            max_num_instruments=4,
            min_total_events=30,
        ),
        {
            "bach_chorales__bwv396": (7, "d8ba3ccfe5834a88", "794bf906fb982aed"),
            "bach_chorales__bwv404": (8, "93f9d02baca56e33", "cbf126fc3a8b31ce"),
            "freedink__dance": (8, "f380d185cf25722a", "4f850473c915fb65"),
            "freedink__love": (14, "c0d311632dadcfdc", "bf47abb5fe2c379f"),
            "freedoom__freedoom1_D_VICTOR": (6, "95485b4fe5ec8f78", "4ae6da0d6c553ac3"),
            "freedoom__freedoom2_D_READ_M": (12, "d1b7271e8f9b1bc7", "180689a75f48439c"),
            "openmsx__train_filled_with_cash": (25, "8e07ede34379ffe0", "1e162bef01260918"),
            "simutrans__34-flyingaway": (11, "b3bfa74bf3766e45", "1b1eb272e60b2276"),
        },
    ),
}


# -- helpers -------------------------------------------------------------------
def _med_converter(**overrides):
    kwargs = dict(MED_1BAR_KWARGS, mode="eval")
    kwargs.update(overrides)
    return MultiInstrumentPerformanceConverter(**kwargs)


def _fixture_stems(fixture_dir):
    config = json.loads((fixture_dir / "converter.json").read_text())
    return [entry["stem"] for entry in config["files"]]


def _read_midi(path):
    return note_seq.midi_file_to_note_sequence(str(path))


def _arrays_digest(tensors):
    digest = hashlib.sha1()
    for field in ("inputs", "outputs", "controls", "lengths"):
        for array in getattr(tensors, field):
            array = np.asarray(array)
            digest.update(str((array.dtype.str, array.shape)).encode())
            digest.update(array.tobytes())
    return digest.hexdigest()[:16]


def _roundtrip_digest(sequence):
    rows = [[getattr(n, f) for f in NOTE_FIELDS] for n in sequence.notes]
    rows += [[ta.time, ta.text] for ta in sequence.text_annotations]
    return hashlib.sha1(json.dumps(rows).encode()).hexdigest()[:16]


def _sequence(tracks, bars=2, qpm=120.0, time_signature=(4, 4)):
    """A NoteSequence; `tracks` = [(instrument, program, is_drum, notes)],
    notes = [(pitch, velocity, start_quarter, end_quarter)]."""
    seconds_per_quarter = 60.0 / qpm
    seq = note_seq.NoteSequence(ticks_per_quarter=220)
    seq.tempos.add(time=0.0, qpm=qpm)
    seq.time_signatures.add(
        time=0.0, numerator=time_signature[0], denominator=time_signature[1]
    )
    for instrument, program, is_drum, notes in tracks:
        for pitch, velocity, start, end in notes:
            seq.notes.add(
                pitch=pitch,
                velocity=velocity,
                start_time=start * seconds_per_quarter,
                end_time=end * seconds_per_quarter,
                instrument=instrument,
                program=program,
                is_drum=is_drum,
            )
    quarters_per_bar = 4 * time_signature[0] / time_signature[1]
    seq.total_time = bars * quarters_per_bar * seconds_per_quarter
    return seq


def _two_bar_band():
    """Piano (program 0), bass (33) and drums, two 4/4 bars at 120 qpm."""
    piano = (0, 0, False, [(60, 100, 0, 2), (64, 100, 2, 4), (67, 40, 4, 8)])
    bass = (1, 33, False, [(36, 100, 0, 4), (43, 100, 4, 8)])
    drums = (9, 0, True, [(36, 100, q, q + 0.5) for q in range(8)])
    return _sequence([drums, bass, piano])


# -- parity with Magenta's arrays ------------------------------------------------
def test_declared_attributes_match_magenta(converter_fixtures_dir):
    expected = json.loads(
        (converter_fixtures_dir / FIXTURE_DIR / "converter.json").read_text()
    )["converter"]
    conv = _med_converter()
    assert conv.input_depth == expected["input_depth"] == 490
    assert conv.output_depth == expected["output_depth"] == 490
    assert conv.control_depth == expected["control_depth"] == 0
    assert conv.end_token == expected["end_token"] == 489
    assert list(conv.length_shape) == expected["length_shape"] == [8]
    assert np.dtype(conv.input_dtype) == np.dtype(expected["input_dtype"])
    assert np.dtype(conv.output_dtype) == np.dtype(expected["output_dtype"])
    assert conv.sequence_length == 512


def test_arrays_match_magenta_exactly(converter_fixtures_dir):
    fixture_dir = converter_fixtures_dir / FIXTURE_DIR
    conv = _med_converter()
    stems = _fixture_stems(fixture_dir)
    assert len(stems) == 8
    for stem in stems:
        reference = np.load(fixture_dir / f"{stem}.npz")
        tensors = conv.to_tensors(_read_midi(fixture_dir / f"{stem}.mid"))
        assert len(tensors) == reference["inputs"].shape[0], stem
        # Per example, the types Magenta returns (see converter.json raw_types).
        assert tensors.inputs[0].dtype == np.bool_ and tensors.inputs[0].shape == (512, 490)
        assert tensors.controls[0].dtype == np.float64
        assert tensors.controls[0].shape == (1, 0)
        assert tensors.lengths[0].dtype == np.int32 and tensors.lengths[0].shape == (8,)
        for field in ("inputs", "outputs", "controls", "lengths"):
            ours = np.stack(getattr(tensors, field))
            theirs = reference[field]
            assert ours.dtype == theirs.dtype, (stem, field)
            assert ours.shape == theirs.shape, (stem, field)
            np.testing.assert_array_equal(ours, theirs, err_msg=f"{stem} {field}")


def test_from_tensors_matches_magenta_roundtrip(converter_fixtures_dir):
    fixture_dir = converter_fixtures_dir / FIXTURE_DIR
    conv = _med_converter()
    for stem in _fixture_stems(fixture_dir):
        reference = json.loads((fixture_dir / f"{stem}.roundtrip.json").read_text())
        outputs = np.load(fixture_dir / f"{stem}.npz")["outputs"]
        sequence = conv.from_tensors(outputs[:1])[0]
        notes = [{f: getattr(n, f) for f in NOTE_FIELDS} for n in sequence.notes]
        assert notes == reference["notes"], stem
        assert sequence.total_time == reference["total_time"]
        assert sequence.ticks_per_quarter == reference["ticks_per_quarter"]
        assert [{"time": t.time, "qpm": t.qpm} for t in sequence.tempos] == (
            reference["tempos"]
        )
        assert not sequence.time_signatures and not reference["time_signatures"]
        assert not sequence.text_annotations and not reference["text_annotations"]


@pytest.mark.parametrize("variant", sorted(MAGENTA_VARIANTS))
def test_other_settings_match_magenta_digests(converter_fixtures_dir, variant):
    kwargs, expected = MAGENTA_VARIANTS[variant]
    fixture_dir = converter_fixtures_dir / FIXTURE_DIR
    conv = MultiInstrumentPerformanceConverter(mode="eval", **kwargs)
    for stem, (count, arrays_digest, roundtrip_digest) in expected.items():
        tensors = conv.to_tensors(_read_midi(fixture_dir / f"{stem}.mid"))
        assert len(tensors) == count, stem
        assert _arrays_digest(tensors) == arrays_digest, stem
        controls = [tensors.controls[0]] if conv.control_depth else None
        sequence = conv.from_tensors([tensors.outputs[0]], controls)[0]
        assert _roundtrip_digest(sequence) == roundtrip_digest, stem


def test_chord_controls_layout(converter_fixtures_dir):
    path = converter_fixtures_dir / FIXTURE_DIR / "bach_chorales__bwv396.mid"
    conv = _med_converter(chord_encoding="triad")
    assert conv.control_depth == 49
    tensors = conv.to_tensors(_read_midi(path))
    controls, lengths = tensors.controls[0], tensors.lengths[0]
    assert controls.dtype == np.bool_ and controls.shape == (512, 49)
    for slot, length in enumerate(lengths):
        rows = controls[slot * 64 : (slot + 1) * 64]
        assert rows[:length].sum(axis=1).tolist() == [1] * length
        assert not rows[length:].any()
        assert rows[0, 0]  # program token / empty slot: the "no chord" class
    # The chords are symbols note-seq inferred; from_tensors writes them back.
    sequence = conv.from_tensors(tensors.outputs[:1], tensors.controls[:1])[0]
    assert [ta.annotation_type for ta in sequence.text_annotations] == [
        note_seq.NoteSequence.TextAnnotation.CHORD_SYMBOL
    ] * len(sequence.text_annotations)
    assert sequence.text_annotations


# -- the representation on hand-made music ---------------------------------------
def test_token_layout_of_a_hand_made_band():
    conv = _med_converter()
    tensors, report = conv.to_tensors_with_report(_two_bar_band())
    assert len(tensors) == 2 and report.num_examples == 2
    assert report.stats["hops"] == 2 and report.stats["hops converted"] == 2
    tokens = np.argmax(tensors.outputs[0], axis=-1).reshape(8, 64)
    lengths = tensors.lengths[0]
    # Sorted by (is_drum, program): piano (0), bass (33), then drums (488).
    piano = tokens[0, : lengths[0]].tolist()
    assert piano == [
        360,  # program 0
        352 + 6, 60,  # velocity bin 7 (velocity 100), note-on 60
        256 + 47, 128 + 60,  # 48 steps, note-off 60
        64,  # note-on 64
        256 + 47, 128 + 64,  # 48 steps, note-off 64
        489,
    ]
    assert tokens[1, 0] == 360 + 33 and tokens[2, 0] == 488
    assert tokens[2, lengths[2] - 1] == 489
    assert lengths[3:].tolist() == [1] * 5
    assert (tokens[3:, 0] == 489).all()
    # Rows after each slot's length are all zeros.
    rows = tensors.outputs[0].reshape(8, 64, 490)
    for slot, length in enumerate(lengths):
        assert rows[slot, :length].sum() == length and not rows[slot, length:].any()
    np.testing.assert_array_equal(tensors.inputs[0], tensors.outputs[0])


def test_to_tensors_then_from_tensors_gives_back_the_bar():
    conv = _med_converter()
    tensors = conv.to_tensors(_two_bar_band())
    sequence = conv.from_tensors(tensors.outputs)[1]  # the second bar
    notes = sorted(
        (n.instrument, n.program, n.is_drum, n.pitch, n.velocity, n.start_time, n.end_time)
        for n in sequence.notes
    )
    # Bar 2: piano 67 (velocity 40 -> bin 3 -> 33), bass 43, 4 drum hits.
    drums = [(2, 0, True, 36, 97, q * 0.5, q * 0.5 + 0.25) for q in range(4)]
    assert notes == sorted(
        [(0, 0, False, 67, 33, 0.0, 2.0), (1, 33, False, 43, 97, 0.0, 2.0)] + drums
    )


def test_input_sequence_is_not_modified():
    sequence = _two_bar_band()
    sequence.control_changes.add(time=0.0, control_number=64, control_value=127)
    before = sequence.SerializeToString()
    _med_converter().to_tensors(sequence)
    assert sequence.SerializeToString() == before


def test_from_tensors_of_a_hand_made_array():
    conv = _med_converter()
    array = np.zeros((512, 490), np.float32)

    def write_slot(slot, tokens):
        for row, token in enumerate(tokens):
            array[slot * 64 + row, token] = 1.0

    # Slot 0: program 25, velocity bin 8, C4 for 48 steps (1 s at 120 qpm);
    # the note-on after the end token must be ignored.
    write_slot(0, [360 + 25, 359, 60, 256 + 47, 128 + 60, 489, 62])
    # Slot 1: drums without velocity events (default velocity 100), two
    # kicks of 12 steps; the second is closed by the end of the bar.
    write_slot(1, [488, 36, 256 + 11, 128 + 36, 256 + 35, 36, 489])
    # Slot 2: no program token -> program 0; the note is never closed.
    write_slot(2, [64, 256 + 23, 489])
    for slot in range(3, 8):
        write_slot(slot, [489])
    (sequence,) = conv.from_tensors(array[np.newaxis])
    notes = [
        (n.instrument, n.program, n.is_drum, n.pitch, n.velocity, n.start_time, n.end_time)
        for n in sequence.notes
    ]
    assert notes == [
        (0, 25, False, 60, 113, 0.0, 1.0),
        (1, 0, True, 36, 100, 0.0, 0.25),
        (1, 0, True, 36, 100, 1.0, 2.0),
        (2, 0, False, 64, 100, 0.0, 2.0),
    ]
    assert sequence.total_time == 2.0
    assert [t.qpm for t in sequence.tempos] == [120.0]


def test_from_tensors_rejects_a_wrong_shape():
    with pytest.raises(ValueError, match=r"\[512, 490\].*\[256, 490\]"):
        _med_converter().from_tensors(np.zeros((1, 256, 490)))


# -- what gives no examples, and why ----------------------------------------------
def test_too_few_instruments_gives_no_examples_and_says_why():
    solo = _sequence([(0, 0, False, [(60, 100, q, q + 1) for q in range(8)])])
    tensors, report = _med_converter().to_tensors_with_report(solo)
    assert len(tensors) == 0 and report.num_examples == 0
    reason = "bar with only 1 instrument playing (at least 2 needed)"
    assert report.reasons == {reason: 2}
    assert report.summary() == f"no examples: {reason} (x2)"


def test_real_single_instrument_file_gives_no_examples(converter_fixtures_dir):
    # A one-instrument melody of the corpus (Magenta: no examples either).
    path = converter_fixtures_dir / "melody_16bar" / "airds_airs__book3_0170.mid"
    tensors, report = _med_converter().to_tensors_with_report(_read_midi(path))
    assert len(tensors) == 0
    assert set(report.reasons) == {
        "bar with only 1 instrument playing (at least 2 needed)"
    }
    assert "1 instrument" in report.summary()


def test_other_reasons_are_reported():
    band = _two_bar_band()
    waltz = _sequence(
        [(0, 0, False, [(60, 90, 0, 3)]), (1, 33, False, [(36, 90, 0, 3)])],
        time_signature=(3, 4),
    )
    cases = [
        (waltz, {}, "time signature 3/4"),
        (band, dict(max_pitch=60), "bar with a pitch outside 0-60"),
        (band, dict(max_num_instruments=2), "bar with 3 instruments playing (at most 2"),
        (band, dict(max_events_per_instrument=8), "plays more than 6 events"),
        (band, dict(min_total_events=100), "fewer than 100 performance events"),
        (band, dict(first_subsequence_only=True), "first_subsequence_only"),
    ]
    for sequence, overrides, reason in cases:
        tensors, report = _med_converter(**overrides).to_tensors_with_report(sequence)
        assert len(tensors) == 0, reason
        assert any(reason in r for r in report.reasons), (reason, report.reasons)


def test_drop_tracks_and_truncate_keeps_eight_instruments():
    ten = _sequence(
        [(i, i, False, [(60 + i, 80, 0, 1)]) for i in range(10)], bars=1
    )
    _, report = _med_converter().to_tensors_with_report(ten)
    assert report.reasons == {"bar with 10 instruments playing (at most 8 supported)": 1}
    conv = _med_converter(drop_tracks_and_truncate=True, seed=3)
    tensors = conv.to_tensors(ten)
    assert len(tensors) == 1
    programs = np.argmax(tensors.outputs[0].reshape(8, 64, 490)[:, 0], axis=-1) - 360
    assert len(set(programs.tolist())) == 8
    assert programs.tolist() == sorted(programs.tolist())
    again = _med_converter(drop_tracks_and_truncate=True, seed=3).to_tensors(ten)
    np.testing.assert_array_equal(again.outputs[0], tensors.outputs[0])


def test_cap_keeps_the_first_examples_in_eval_and_a_sample_in_train(
    converter_fixtures_dir,
):
    fixture_dir = converter_fixtures_dir / FIXTURE_DIR
    sequence = _read_midi(fixture_dir / "freedink__love.mid")
    reference = np.load(fixture_dir / "freedink__love.npz")["outputs"]
    first = _med_converter(max_tensors_per_notesequence=4).to_tensors(sequence)
    np.testing.assert_array_equal(np.stack(first.outputs), reference[:4])
    sampled = _med_converter(
        max_tensors_per_notesequence=4, mode="train", seed=0
    ).to_tensors(sequence)
    assert len(sampled) == 4
    for output in sampled.outputs:
        assert any(np.array_equal(output, r) for r in reference)


# -- construction and config --------------------------------------------------------
def test_get_config_round_trip():
    for overrides in (
        {},
        dict(chord_encoding="triad", hop_size_bars=2, seed=7, mode="train"),
        dict(chord_encoding=note_seq.TriadChordOneHotEncoding(), min_pitch=21),
    ):
        conv = _med_converter(**overrides)
        config = json.loads(json.dumps(conv.get_config()))
        rebuilt = MultiInstrumentPerformanceConverter.from_config(config)
        assert rebuilt.get_config() == config
        assert (rebuilt.input_depth, rebuilt.control_depth, rebuilt.length_shape) == (
            conv.input_depth,
            conv.control_depth,
            conv.length_shape,
        )
        by_name = converter_from_config(serialize_converter(conv))
        assert type(by_name) is MultiInstrumentPerformanceConverter
        assert by_name.get_config() == config
    assert _med_converter(chord_encoding=note_seq.TriadChordOneHotEncoding()).get_config()[
        "chord_encoding"
    ] == "triad"
    defaults = MultiInstrumentPerformanceConverter()
    assert defaults.input_depth == 128 + 128 + 96 + 129 + 1  # no velocity bins
    assert defaults.end_token == defaults.input_depth - 1


def test_bad_arguments_are_rejected_clearly():
    with pytest.raises(ValueError, match="multiple of chunk_size_bars"):
        MultiInstrumentPerformanceConverter(hop_size_bars=3, chunk_size_bars=2)
    with pytest.raises(ValueError, match="chord encoding"):
        MultiInstrumentPerformanceConverter(chord_encoding="sevenths")
    with pytest.raises(ValueError, match="min_pitch"):
        MultiInstrumentPerformanceConverter(min_pitch=90, max_pitch=80)
