"""Tests of `GrooveConverter` (Magenta's GrooVAE `GrooveConverter`).

Parity: Magenta's exact arrays (eval and infer mode) and `from_tensors`
roundtrips on real MIDI
(`fixtures/magenta/converters/{groove_2bar_humanize,groove_2bar_tap_fixed_velocity}`).
"""

import json

import note_seq
import numpy as np
import pytest

from keras_musicvae.data.converter import converter_from_config
from keras_musicvae.data.converter import serialize_converter
from keras_musicvae.data.drums import REDUCED_DRUM_PITCH_CLASSES
from keras_musicvae.data.drums import ROLAND_DRUM_PITCH_CLASSES
from keras_musicvae.data.groove import GrooveConverter

# The constructor arguments of each fixture (its converter.json).
FIXTURE_CONVERTERS = {
    "groove_2bar_humanize": dict(
        split_bars=2,
        steps_per_quarter=4,
        quarters_per_bar=4,
        max_tensors_per_notesequence=20,
        humanize=True,
        pitch_classes="roland",
        inference_pitch_classes="reduced",
    ),
    "groove_2bar_tap_fixed_velocity": dict(
        split_bars=2,
        steps_per_quarter=4,
        quarters_per_bar=4,
        max_tensors_per_notesequence=20,
        tapify=True,
        fixed_velocities=True,
        pitch_classes="roland",
        inference_pitch_classes="reduced",
    ),
}
MODES = {"eval": "", "infer": "infer_"}  # mode -> key prefix in the .npz
NOTE_FIELDS = ("pitch", "velocity", "start_time", "end_time", "is_drum", "program", "instrument")


def fixture_cases():
    """(fixture dir, stem, mode) of every fixture array set, at collection time."""
    from support import fixtures_dir

    root = fixtures_dir() / "magenta" / "converters"
    cases = []
    for name in FIXTURE_CONVERTERS:
        for path in sorted((root / name).glob("*.npz")):
            keys = set(np.load(path).files)
            for mode, prefix in MODES.items():
                if f"{prefix}inputs" in keys:
                    cases.append((name, path.name[: -len(".npz")], mode))
    return cases or [("groove_2bar_humanize", "missing", "eval")]


def roundtrip_cases():
    """(fixture dir, stem, mode) of every fixture roundtrip JSON."""
    from support import fixtures_dir

    root = fixtures_dir() / "magenta" / "converters"
    cases = []
    for name in FIXTURE_CONVERTERS:
        for mode in MODES:
            infix = ".infer" if mode == "infer" else ""
            for path in sorted((root / name).glob(f"*{infix}.roundtrip.json")):
                stem = path.name[: -len(f"{infix}.roundtrip.json")]
                if mode == "eval" and stem.endswith(".infer"):
                    continue
                cases.append((name, stem, mode))
    return cases or [("groove_2bar_humanize", "missing", "eval")]


def load_case(converter_fixtures_dir, name, stem):
    folder = converter_fixtures_dir / name
    if not (folder / f"{stem}.npz").exists():
        pytest.skip(f"fixture {name}/{stem} not found")
    sequence = note_seq.midi_file_to_note_sequence(str(folder / f"{stem}.mid"))
    return folder, sequence, dict(np.load(folder / f"{stem}.npz"))


def fixture_converter(name, mode="eval", **overrides):
    kwargs = dict(FIXTURE_CONVERTERS[name], mode=mode)
    kwargs.update(overrides)
    return GrooveConverter(**kwargs)


def drum_sequence(hits, numerator=4, qpm=120.0):
    """A NoteSequence from (pitch, sixteenth step, velocity, offset in steps)."""
    ns = note_seq.NoteSequence(ticks_per_quarter=220)
    ns.tempos.add(time=0.0, qpm=qpm)
    ns.time_signatures.add(time=0.0, numerator=numerator, denominator=4)
    step = 60.0 / qpm / 4
    for pitch, at, velocity, offset in hits:
        start = (at + offset) * step
        ns.notes.add(
            pitch=pitch,
            start_time=start,
            end_time=start + step,
            velocity=velocity,
            instrument=9,
            is_drum=True,
        )
    ns.total_time = max((n.end_time for n in ns.notes), default=0.0)
    return ns


def groove(num_bars):
    """Kick / snare / closed hi-hat with varied velocities and micro-timing."""
    hits = []
    for bar in range(num_bars):
        base = 16 * bar
        hits += [(36, base, 110, 0.0), (36, base + 8, 100, 0.1)]
        hits += [(38, base + 4, 90, -0.1), (38, base + 12, 95, 0.05)]
        hits += [(42, base + k, 40 + 5 * k, 0.02 * (k % 3)) for k in range(0, 16, 2)]
    return hits


# -- parity with Magenta ------------------------------------------------------
@pytest.mark.fixtures
@pytest.mark.parametrize("name,stem,mode", fixture_cases())
def test_matches_magenta_arrays(converter_fixtures_dir, name, stem, mode):
    _, sequence, arrays = load_case(converter_fixtures_dir, name, stem)
    prefix = MODES[mode]
    expected = {k: arrays[prefix + k] for k in ("inputs", "outputs", "controls", "lengths")}
    tensors, report = fixture_converter(name, mode).to_tensors_with_report(sequence)

    assert len(tensors) == report.num_examples == len(expected["inputs"])
    if not len(tensors):
        return
    for field in ("inputs", "outputs"):
        got = np.stack(getattr(tensors, field))
        want = expected[field]
        assert got.shape == want.shape and got.dtype == np.float64
        # Hits and velocities exactly; offsets (Magenta's float formula) to 1e-9.
        np.testing.assert_array_equal(got[..., :18], want[..., :18])
        np.testing.assert_allclose(got[..., 18:], want[..., 18:], rtol=0, atol=1e-9)
    assert np.stack(tensors.controls).shape == expected["controls"].shape
    np.testing.assert_array_equal(np.asarray(tensors.lengths), expected["lengths"])


@pytest.mark.fixtures
@pytest.mark.parametrize("name,stem,mode", roundtrip_cases())
def test_roundtrip_matches_magenta(converter_fixtures_dir, name, stem, mode):
    folder, _, arrays = load_case(converter_fixtures_dir, name, stem)
    prefix = MODES[mode]
    infix = ".infer" if mode == "infer" else ""
    reference = json.loads((folder / f"{stem}{infix}.roundtrip.json").read_text())
    sequence = fixture_converter(name, mode).from_tensors(arrays[prefix + "outputs"][:1])[0]

    got = [{f: getattr(n, f) for f in NOTE_FIELDS} for n in sequence.notes]
    want = [{f: n[f] for f in NOTE_FIELDS} for n in reference["notes"]]
    assert got == want
    assert [{"time": t.time, "qpm": t.qpm} for t in sequence.tempos] == reference["tempos"]
    assert sequence.total_time == reference["total_time"]
    assert sequence.ticks_per_quarter == reference["ticks_per_quarter"]


@pytest.mark.fixtures
@pytest.mark.parametrize("name", sorted(FIXTURE_CONVERTERS))
def test_pitches_outside_the_roland_map_are_skipped_not_fatal(converter_fixtures_dir, name):
    # Magenta raises KeyError: 41 on this GM kit in train/eval mode.
    _, sequence, arrays = load_case(converter_fixtures_dir, name, "hydrogen__GM_kit_Jazzy")
    assert "inputs" not in arrays  # Magenta gave nothing in eval mode
    tensors, report = fixture_converter(name, "eval").to_tensors_with_report(sequence)
    assert len(tensors) == 4
    key = "drum hits skipped: pitch 41 (Low Floor Tom) is not in the drum map (pitch_classes)"
    assert report.stats[key] == 4
    # The other pitches map as in the infer map, so only the low-tom class
    # (where infer mode puts pitch 41) differs from Magenta's infer arrays.
    low_tom = [4, 13, 22]
    outputs = np.stack(tensors.outputs)
    expected = arrays["infer_outputs"]
    assert not outputs[..., low_tom].any() and expected[..., low_tom].any()
    others = [c for c in range(27) if c not in low_tom]
    np.testing.assert_allclose(outputs[..., others], expected[..., others], rtol=0, atol=1e-9)


@pytest.mark.fixtures
def test_tempo_change_gives_no_examples_and_says_why(converter_fixtures_dir):
    _, sequence, arrays = load_case(
        converter_fixtures_dir, "groove_2bar_humanize", "simutrans__09-Simupolitan-Swing"
    )
    assert arrays["inputs"].shape[0] == 0
    for mode in MODES:
        tensors, report = fixture_converter("groove_2bar_humanize", mode).to_tensors_with_report(
            sequence
        )
        assert len(tensors) == 0
        assert report.summary() == (
            "no examples: tempo changes during the piece (one tempo throughout is needed)"
        )


@pytest.mark.fixtures
def test_cap_is_not_applied_as_in_magenta(converter_fixtures_dir):
    _, sequence, arrays = load_case(
        converter_fixtures_dir, "groove_2bar_humanize", "freedoom__freedoom2_D_DDTBL3"
    )
    for mode in ("train", "eval"):
        converter = fixture_converter("groove_2bar_humanize", mode)
        assert converter.max_tensors_per_notesequence == 20
        assert len(converter.to_tensors(sequence)) == len(arrays["inputs"]) == 24


@pytest.mark.fixtures
def test_from_tensors_then_to_tensors_gives_the_outputs_back(converter_fixtures_dir):
    _, _, arrays = load_case(
        converter_fixtures_dir, "groove_2bar_humanize", "mma_grooves__casio_jazzcombo"
    )
    converter = fixture_converter("groove_2bar_humanize", "eval")
    checked = 0
    for outputs in arrays["outputs"]:
        sequence = converter.from_tensors([outputs])[0]
        if min(n.start_time for n in sequence.notes) < 0:
            continue  # an early first hit: negative time, as in Magenta
        sequence.total_time = 4.0
        again = converter.to_tensors(sequence).outputs[0]
        np.testing.assert_allclose(again, outputs, rtol=0, atol=1e-9)
        checked += 1
    assert checked >= 4


# -- options on made-up sequences ---------------------------------------------
def test_depths_dtypes_and_mode_dependent_map():
    converter = GrooveConverter(split_bars=2, inference_pitch_classes="reduced", mode="eval")
    assert (converter.input_depth, converter.output_depth, converter.control_depth) == (27, 27, 0)
    assert converter.input_dtype == converter.output_dtype == np.float32
    assert converter.end_token is False
    assert converter.pitch_classes == ROLAND_DRUM_PITCH_CLASSES
    converter.set_mode("infer")
    assert converter.pitch_classes == REDUCED_DRUM_PITCH_CLASSES
    sequence = converter.from_tensors([np.eye(1, 27, 4)])[0]  # low-tom hit, velocity 0
    assert [(n.pitch, n.velocity) for n in sequence.notes] == [(45, 0)]
    converter.set_mode("train")
    assert converter.from_tensors([np.eye(1, 27, 4)])[0].notes[0].pitch == 43


def test_features_of_a_made_up_groove():
    converter = GrooveConverter(split_bars=2, mode="eval")
    tensors = converter.to_tensors(drum_sequence(groove(4)))
    assert len(tensors) == 2 and tensors.lengths == [32, 32]
    outputs = tensors.outputs[0]
    np.testing.assert_array_equal(tensors.inputs[0], outputs)  # no transform
    assert outputs[0, [0, 9, 18]].tolist() == [1.0, 110 / 127, 0.0]
    assert outputs[8, [0, 9]].tolist() == [1.0, 100 / 127]
    assert outputs[8, 18] == pytest.approx(-0.2)  # late by 0.1 step
    assert outputs[4, 19] == pytest.approx(0.2)  # snare early by 0.1 step
    assert outputs[1].sum() == 0
    assert tensors.controls[0].shape == (32, 0)


def test_loudest_note_of_a_step_wins_and_non_drums_are_ignored():
    sequence = drum_sequence(
        [(38, 0, 50, 0.0), (40, 0, 90, 0.1), (37, 0, 90, 0.2), (36, 31, 80, 0)]
    )
    sequence.notes.add(pitch=38, start_time=0.5, end_time=1.0, velocity=127, is_drum=False)
    converter = GrooveConverter(split_bars=2, mode="eval")
    tensors, report = converter.to_tensors_with_report(sequence)
    outputs = tensors.outputs[0]
    assert outputs[0, 10] == 90 / 127 and outputs[0, 19] == pytest.approx(-0.2)
    assert outputs[4].sum() == 0
    assert report.stats["non-drum notes ignored"] == 1


def test_tapify_fixed_velocities_and_add_instruments():
    sequence = drum_sequence(groove(2))
    tap = GrooveConverter(split_bars=2, tapify=True, fixed_velocities=True, mode="eval")
    inputs, outputs = tap.to_tensors(sequence).inputs[0], tap.to_tensors(sequence).outputs[0]
    hits, velocities, offsets = np.split(inputs, 3, axis=1)
    assert not velocities.any()
    assert not np.delete(hits, 3, axis=1).any()
    np.testing.assert_array_equal(hits[:, 3], outputs[:, :9].max(axis=1))
    # Step 0: kick (110) is louder than the hi-hat (40): the kick's offset is tapped.
    assert offsets[0, 3] == outputs[0, 18]
    assert offsets[2, 3] == outputs[2, 20]  # only the hi-hat plays at step 2

    add = GrooveConverter(split_bars=2, add_instruments=[2], mode="eval")
    tensors = add.to_tensors(sequence)
    inputs, outputs = tensors.inputs[0], tensors.outputs[0]
    assert not inputs[:, [2, 11, 20]].any() and outputs[:, 2].any()
    keep = [c for c in range(27) if c not in (2, 11, 20)]
    np.testing.assert_array_equal(inputs[:, keep], outputs[:, keep])


def test_hits_as_controls():
    converter = GrooveConverter(split_bars=2, hits_as_controls=True, humanize=True, mode="eval")
    assert converter.control_depth == 9
    tensors = converter.to_tensors(drum_sequence(groove(2)))
    controls = tensors.controls[0]
    assert controls.dtype == np.bool_ and controls.shape == (32, 9)
    np.testing.assert_array_equal(controls, tensors.outputs[0][:, :9] > 0.5)
    assert not tensors.inputs[0][:, 9:].any()  # humanized


def test_categorical_bins_and_split_instruments():
    sequence = drum_sequence(groove(2))
    plain = GrooveConverter(split_bars=2, mode="eval")
    binned = GrooveConverter(split_bars=2, num_velocity_bins=8, num_offset_bins=5, mode="eval")
    assert binned.output_depth == 9 * (1 + 8 + 5)
    outputs = binned.to_tensors(sequence).outputs[0]
    assert outputs.shape == (32, 126)
    np.testing.assert_array_equal(outputs[:, :9], plain.to_tensors(sequence).outputs[0][:, :9])
    assert (outputs[:, 9:81].reshape(32, 9, 8).sum(-1) == 1).all()
    assert (outputs[:, 81:].reshape(32, 9, 5).sum(-1) == 1).all()

    split = GrooveConverter(split_bars=2, split_instruments=True, mode="eval")
    assert (split.output_depth, split.control_depth) == (3, 9)
    tensors = split.to_tensors(sequence)
    assert tensors.outputs[0].shape == (32 * 9, 3) and tensors.lengths == [288]
    np.testing.assert_array_equal(tensors.controls[0], np.tile(np.eye(9, dtype=bool), (32, 1)))
    reference = plain.to_tensors(sequence).outputs[0]
    np.testing.assert_array_equal(
        tensors.outputs[0], reference.reshape(32, 3, 9).transpose(0, 2, 1).reshape(288, 3)
    )
    assert split.from_tensors(tensors.outputs)[0] == plain.from_tensors([reference])[0]

    both = GrooveConverter(
        split_bars=2, split_instruments=True, num_velocity_bins=8, num_offset_bins=5, mode="eval"
    )
    both_outputs = both.to_tensors(sequence).outputs[0]
    assert both_outputs.shape == (288, 14)
    decoded = both.from_tensors([both_outputs])[0]
    assert decoded == binned.from_tensors([outputs])[0]
    # Every step is decoded (Magenta's decodes only the first T / 9 steps here).
    assert len(decoded.notes) == int(reference[:, :9].sum())


def test_hop_size_and_short_sequences():
    hop = GrooveConverter(split_bars=2, hop_size=16, mode="eval")
    assert len(hop.to_tensors(drum_sequence(groove(4)))) == 3
    whole = GrooveConverter(mode="eval")
    assert whole.to_tensors(drum_sequence(groove(3))).outputs[0].shape == (48, 27)
    tensors, report = GrooveConverter(split_bars=2, mode="eval").to_tensors_with_report(
        drum_sequence(groove(1))
    )
    assert len(tensors) == 0
    assert report.summary() == "no examples: shorter than 2 bars (1 bar(s) up to the last drum hit)"


def test_two_four_gives_no_examples_with_reason():
    converter = GrooveConverter(split_bars=2, mode="eval")
    tensors, report = converter.to_tensors_with_report(drum_sequence(groove(2), numerator=2))
    assert len(tensors) == 0
    assert report.summary() == "no examples: time signature 2/4 (only 4/4 is supported)"


def test_note_dropout_only_in_training_and_seeded():
    sequence = drum_sequence(groove(8))

    def inputs_and_outputs(mode, seed):
        converter = GrooveConverter(
            split_bars=2, max_note_dropout_probability=0.9, mode=mode, seed=seed
        )
        tensors = converter.to_tensors(sequence)
        return np.stack(tensors.inputs), np.stack(tensors.outputs)

    inputs, outputs = inputs_and_outputs("train", 1)
    assert inputs[..., :9].sum() < outputs[..., :9].sum()
    assert ((inputs[..., :9] > 0) <= (outputs[..., :9] > 0)).all()
    np.testing.assert_array_equal(inputs, inputs_and_outputs("train", 1)[0])
    for mode in ("eval", "infer"):
        inputs, outputs = inputs_and_outputs(mode, 1)
        np.testing.assert_array_equal(inputs, outputs)


def test_bad_arguments():
    with pytest.raises(ValueError, match="num_velocity_bins and num_offset_bins"):
        GrooveConverter(num_velocity_bins=8)
    with pytest.raises(ValueError, match="hop_size needs split_bars"):
        GrooveConverter(hop_size=4)
    with pytest.raises(ValueError, match="same number of classes"):
        GrooveConverter(inference_pitch_classes=[[36], [38]])
    with pytest.raises(ValueError, match="add_instruments"):
        GrooveConverter(add_instruments=[9])


def test_no_drums_in_the_map():
    converter = GrooveConverter(split_bars=2, mode="eval")
    tensors, report = converter.to_tensors_with_report(
        drum_sequence([(41, k, 80, 0.0) for k in range(32)])
    )
    assert len(tensors) == 0
    assert report.summary() == (
        "no examples: no drum hits in the drum map (pitches 41 are not in it)"
    )


def test_config_round_trip():
    converter = GrooveConverter(
        split_bars=2,
        pitch_classes="roland",
        inference_pitch_classes=[list(c) for c in REDUCED_DRUM_PITCH_CLASSES],
        tapify=True,
        add_instruments=[2],
        num_velocity_bins=8,
        num_offset_bins=5,
        split_instruments=True,
        hop_size=16,
        hits_as_controls=True,
        fixed_velocities=True,
        max_note_dropout_probability=0.5,
        max_tensors_per_notesequence=20,
        mode="eval",
        seed=3,
    )
    config = json.loads(json.dumps(serialize_converter(converter)))
    rebuilt = converter_from_config(config)
    assert isinstance(rebuilt, GrooveConverter)
    assert rebuilt.get_config() == converter.get_config()
    assert (rebuilt.input_depth, rebuilt.output_depth, rebuilt.control_depth) == (
        converter.input_depth,
        converter.output_depth,
        converter.control_depth,
    )
    sequence = drum_sequence(groove(4))
    a, b = converter.to_tensors(sequence), rebuilt.to_tensors(sequence)
    for x, y in zip(a.outputs + a.inputs + a.controls, b.outputs + b.inputs + b.controls):
        np.testing.assert_array_equal(x, y)
