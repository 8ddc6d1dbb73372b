"""Tests of `TrioConverter` (Magenta's `TrioConverter`).

Parity: Magenta's exact arrays (in order) and `from_tensors` roundtrips on
real MIDI (`fixtures/magenta/converters/trio_16bar`).
"""

import json

import note_seq
import numpy as np
import pytest

from keras_musicvae.data.converter import converter_from_config
from keras_musicvae.data.converter import serialize_converter
from keras_musicvae.data.trio import TrioConverter

# `hierdec-trio_16bar`'s converter (fixture converter.json).
FIXTURE_KWARGS = dict(steps_per_quarter=4, slice_bars=16, gap_bars=2)


def fixture_stems():
    from support import fixtures_dir

    folder = fixtures_dir() / "magenta" / "converters" / "trio_16bar"
    stems = [p.name[: -len(".npz")] for p in sorted(folder.glob("*.npz"))]
    return stems or ["missing"]


def trio_sequence(num_bars, numerator=4, parts=("melody", "bass", "drums")):
    """Quarter notes of melody (instr. 0), bass (instr. 1) and drums (instr. 9)."""
    ns = note_seq.NoteSequence(ticks_per_quarter=220)
    ns.tempos.add(time=0.0, qpm=120.0)
    ns.time_signatures.add(time=0.0, numerator=numerator, denominator=4)
    for beat in range(num_bars * numerator):
        start, end = beat * 0.5, beat * 0.5 + 0.5
        if "melody" in parts:
            ns.notes.add(pitch=72 + beat % 5, start_time=start, end_time=end,
                         velocity=90, program=0, instrument=0)
        if "bass" in parts:
            ns.notes.add(pitch=36 + beat % 3, start_time=start, end_time=end,
                         velocity=90, program=33, instrument=1)
        if "drums" in parts:
            ns.notes.add(pitch=36 if beat % 2 == 0 else 38, start_time=start,
                         end_time=start + 0.1, velocity=90, instrument=9,
                         is_drum=True)
    ns.total_time = num_bars * numerator * 0.5
    return ns


@pytest.mark.fixtures
@pytest.mark.parametrize("stem", fixture_stems())
def test_arrays_match_magenta_in_order(converter_fixtures_dir, stem):
    folder = converter_fixtures_dir / "trio_16bar"
    if not (folder / f"{stem}.npz").exists():
        pytest.skip(f"no fixture files in {folder}")
    ref = np.load(folder / f"{stem}.npz")
    ns = note_seq.midi_file_to_note_sequence(str(folder / f"{stem}.mid"))
    before = ns.SerializeToString()
    converter = TrioConverter(
        mode="eval", max_tensors_per_notesequence=None, **FIXTURE_KWARGS
    )
    tensors, report = converter.to_tensors_with_report(ns)
    assert ns.SerializeToString() == before, "to_tensors modified its input"

    assert len(tensors) == ref["inputs"].shape[0] == report.num_examples > 0
    inputs, outputs = np.stack(tensors.inputs), np.stack(tensors.outputs)
    controls = np.stack(tensors.controls)
    assert inputs.dtype == outputs.dtype == ref["inputs"].dtype == np.bool_
    np.testing.assert_array_equal(inputs, ref["inputs"])
    np.testing.assert_array_equal(outputs, ref["outputs"])
    assert controls.shape == ref["controls"].shape  # [N, 256, 0]
    assert controls.dtype == np.bool_  # Magenta: float64 placeholders, cast to bool
    np.testing.assert_array_equal(np.asarray(tensors.lengths, np.int32), ref["lengths"])
    # Magenta's own cap (5, eval mode) keeps the first 5.
    capped = TrioConverter(mode="eval", **FIXTURE_KWARGS).to_tensors(ns)
    np.testing.assert_array_equal(np.stack(capped.inputs), ref["inputs"][:5])


@pytest.mark.fixtures
@pytest.mark.parametrize("stem", fixture_stems())
def test_roundtrip_matches_magenta(converter_fixtures_dir, stem):
    folder = converter_fixtures_dir / "trio_16bar"
    path = folder / f"{stem}.roundtrip.json"
    if not path.exists():
        pytest.skip(f"no roundtrip fixture {path}")
    ref = json.loads(path.read_text())
    outputs = np.load(folder / f"{stem}.npz")["outputs"][:1]
    ns = TrioConverter(**FIXTURE_KWARGS).from_tensors(outputs)[0]
    notes = [
        {
            "pitch": n.pitch,
            "velocity": n.velocity,
            "start_time": n.start_time,
            "end_time": n.end_time,
            "is_drum": n.is_drum,
            "program": n.program,
            "instrument": n.instrument,
        }
        for n in ns.notes
    ]
    assert notes == ref["notes"]
    assert [{"time": t.time, "qpm": t.qpm} for t in ns.tempos] == ref["tempos"]
    assert list(ns.time_signatures) == ref["time_signatures"] == []
    assert list(ns.text_annotations) == ref["text_annotations"] == []
    assert ns.total_time == ref["total_time"]
    assert ns.ticks_per_quarter == ref["ticks_per_quarter"]


def test_synthetic_trio():
    converter = TrioConverter(slice_bars=2, max_tensors_per_notesequence=None, mode="eval")
    assert converter.input_depth == converter.output_depth == 692
    assert converter.split_output_depths == (90, 90, 512)
    assert converter.end_token is False and converter.control_depth == 0
    tensors = converter.to_tensors(trio_sequence(4))
    assert len(tensors) == 3  # windows starting at bars 0, 1, 2
    x = tensors.outputs[0]
    assert x.shape == (32, 692) and x.dtype == np.bool_
    np.testing.assert_array_equal(x.sum(-1), 3)  # one class per part per step
    classes = [np.argmax(x[:, a:b], -1) for a, b in ((0, 90), (90, 180), (180, 692))]
    assert classes[0][0] == 2 + 72 - 21 and classes[1][0] == 2 + 36 - 21
    assert classes[2][0] == 1 and classes[2][4] == 2  # kick (class 0), snare (1)
    back = converter.from_tensors(tensors.outputs[:1])[0]
    parts = {(n.instrument, n.program, n.is_drum) for n in back.notes}
    assert parts == {(0, 0, False), (1, 33, False), (9, 0, True)}
    assert sorted({n.pitch for n in back.notes if n.is_drum}) == [36, 38]


def test_cap_eval_first_and_train_seeded():
    ns = trio_sequence(12)
    def convert(**kwargs):
        return TrioConverter(slice_bars=2, **kwargs).to_tensors(ns)

    everything = convert(mode="eval", max_tensors_per_notesequence=None)
    keys = [x.tobytes() for x in everything.inputs]
    assert len(keys) == 11
    capped = convert(mode="eval", max_tensors_per_notesequence=3)
    assert [x.tobytes() for x in capped.inputs] == keys[:3]

    def chosen(seed):
        t = convert(mode="train", seed=seed, max_tensors_per_notesequence=3)
        return [keys.index(x.tobytes()) for x in t.inputs]

    assert chosen(7) == chosen(7) and len(set(chosen(7))) == 3
    assert any(sorted(chosen(s)) != sorted(chosen(7)) for s in (1, 2, 3, 4))


def test_reports_say_why():
    converter = TrioConverter(slice_bars=2)
    no_bass = trio_sequence(4, parts=("melody", "drums"))
    _, report = converter.to_tensors_with_report(no_bass)
    assert report.reasons == {"no bass (a program in 32-39)": 1}
    _, report = converter.to_tensors_with_report(trio_sequence(4, numerator=3))
    assert "time signature 3/4 (only 4/4 is supported)" in report.reasons
    _, report = TrioConverter(slice_bars=8).to_tensors_with_report(trio_sequence(4))
    assert "no 8-bar stretch where melody, bass and drums all play" in report.reasons
    _, report = converter.to_tensors_with_report(note_seq.NoteSequence())
    assert report.summary() == "no examples: the sequence has no notes"


def test_chord_controls():
    ns = trio_sequence(4)
    for bar, chord in enumerate(["C", "Am", "F", "G"]):
        ns.text_annotations.add(
            time=bar * 2.0,
            text=chord,
            annotation_type=note_seq.NoteSequence.TextAnnotation.CHORD_SYMBOL,
        )
    converter = TrioConverter(slice_bars=2, chord_encoding="triad", mode="eval")
    assert converter.control_depth == 49
    tensors = converter.to_tensors(ns)
    controls = tensors.controls[0]
    assert controls.shape == (32, 49) and controls.dtype == np.bool_
    np.testing.assert_array_equal(np.argmax(controls, -1), [1] * 16 + [22] * 16)
    back = converter.from_tensors(tensors.outputs[:1], tensors.controls[:1])[0]
    assert [(ta.time, ta.text) for ta in back.text_annotations] == [(0.0, "C"), (2.0, "Am")]
    # Without chord symbols they are inferred.
    inferred = converter.to_tensors(trio_sequence(4))
    assert len(inferred) and inferred.controls[0].shape == (32, 49)


def test_get_config_round_trip():
    converter = TrioConverter(mode="eval", seed=5, **FIXTURE_KWARGS)
    config = converter.get_config()
    json.dumps(config)
    assert TrioConverter.from_config(config).get_config() == config
    again = converter_from_config(serialize_converter(converter))
    assert isinstance(again, TrioConverter) and again.slice_bars == 16


def test_bad_input():
    with pytest.raises(ValueError, match="692"):
        TrioConverter().from_tensors(np.zeros((1, 32, 90)))
    with pytest.raises(ValueError):
        TrioConverter(slice_bars=0)
    with pytest.raises(ValueError):
        TrioConverter(gap_bars=-1)
