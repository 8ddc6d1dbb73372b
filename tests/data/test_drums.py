"""Tests of `DrumsConverter` (Magenta's `DrumsConverter`) and drum extraction.

Parity: Magenta's exact arrays and `from_tensors` roundtrips on real MIDI
(`fixtures/magenta/converters/{drums_2bar,drums_2bar_nade_full}`).
"""

import json

import note_seq
import numpy as np
import pytest

from keras_musicvae.data import drum_extraction
from keras_musicvae.data.converter import ConversionReport
from keras_musicvae.data.converter import converter_from_config
from keras_musicvae.data.converter import serialize_converter
from keras_musicvae.data.drums import FULL_DRUM_PITCH_CLASSES
from keras_musicvae.data.drums import REDUCED_DRUM_PITCH_CLASSES
from keras_musicvae.data.drums import DrumsConverter
from keras_musicvae.data.drums import resolve_pitch_classes

# The constructor arguments of each fixture (its converter.json).
FIXTURE_CONVERTERS = {
    "drums_2bar": dict(max_bars=100, slice_bars=2, steps_per_quarter=4, roll_input=True),
    "drums_2bar_nade_full": dict(
        max_bars=100,
        pitch_classes="full",
        slice_bars=2,
        steps_per_quarter=4,
        roll_input=True,
        roll_output=True,
    ),
}


def fixture_cases():
    """(fixture dir name, stem) of every fixture file, found at collection time."""
    from support import fixtures_dir

    root = fixtures_dir() / "magenta" / "converters"
    cases = [
        (name, path.name[: -len(".npz")])
        for name in FIXTURE_CONVERTERS
        for path in sorted((root / name).glob("*.npz"))
    ]
    return cases or [("drums_2bar", "missing")]


def load_case(converter_fixtures_dir, name, stem):
    folder = converter_fixtures_dir / name
    if not (folder / f"{stem}.npz").exists():
        pytest.skip(f"fixture {name}/{stem} not found")
    sequence = note_seq.midi_file_to_note_sequence(str(folder / f"{stem}.mid"))
    arrays = dict(np.load(folder / f"{stem}.npz"))
    return folder, sequence, arrays


def fixture_converter(name, **overrides):
    kwargs = dict(FIXTURE_CONVERTERS[name], mode="eval", max_tensors_per_notesequence=None)
    kwargs.update(overrides)
    return DrumsConverter(**kwargs)


def example_keys(inputs, outputs):
    return sorted(
        np.asarray(i, np.uint8).tobytes() + np.asarray(o, np.uint8).tobytes()
        for i, o in zip(inputs, outputs)
    )


def drum_sequence(hits, numerator=4, denominator=4, qpm=120.0):
    """A NoteSequence from (pitch, sixteenth step) drum hits (120 qpm)."""
    ns = note_seq.NoteSequence(ticks_per_quarter=220)
    ns.tempos.add(time=0.0, qpm=qpm)
    ns.time_signatures.add(time=0.0, numerator=numerator, denominator=denominator)
    step = 60.0 / qpm / 4
    for pitch, at in hits:
        ns.notes.add(
            pitch=pitch,
            start_time=at * step,
            end_time=(at + 1) * step,
            velocity=100,
            instrument=9,
            is_drum=True,
        )
    ns.total_time = max((n.end_time for n in ns.notes), default=0.0)
    return ns


def beat(num_bars):
    """Kick on 1 and 3, snare on 2 and 4, closed hi-hat on eighths."""
    hits = []
    for bar in range(num_bars):
        base = 16 * bar
        hits += [(36, base), (36, base + 8), (38, base + 4), (38, base + 12)]
        hits += [(42, base + k) for k in range(0, 16, 2)]
    return hits


# -- parity with Magenta ------------------------------------------------------
@pytest.mark.fixtures
@pytest.mark.parametrize("name,stem", fixture_cases())
def test_matches_magenta_arrays(converter_fixtures_dir, name, stem):
    _, sequence, expected = load_case(converter_fixtures_dir, name, stem)
    converter = fixture_converter(name)
    tensors = converter.to_tensors(sequence)

    num = len(expected["inputs"])
    assert len(tensors) == num > 0
    assert example_keys(tensors.inputs, tensors.outputs) == example_keys(
        expected["inputs"], expected["outputs"]
    )
    for inputs, outputs, controls, length in zip(*tensors):
        assert inputs.dtype == outputs.dtype == np.bool_
        assert inputs.shape == (32, converter.input_depth)
        assert outputs.shape == (32, converter.output_depth)
        assert controls.shape == (32, 0)
        assert length == 32
    np.testing.assert_array_equal(np.asarray(tensors.lengths), expected["lengths"])


@pytest.mark.fixtures
@pytest.mark.parametrize("name,stem", fixture_cases())
def test_example_order_is_magentas(converter_fixtures_dir, name, stem):
    # Unique windows come out in Python's set order, as in Magenta; for
    # tuples of frozensets of ints it does not depend on PYTHONHASHSEED.
    _, sequence, expected = load_case(converter_fixtures_dir, name, stem)
    tensors = fixture_converter(name).to_tensors(sequence)
    np.testing.assert_array_equal(np.stack(tensors.inputs), expected["inputs"])
    np.testing.assert_array_equal(np.stack(tensors.outputs), expected["outputs"])


@pytest.mark.fixtures
@pytest.mark.parametrize("name,stem", fixture_cases())
def test_roundtrip_matches_magenta(converter_fixtures_dir, name, stem):
    folder, _, expected = load_case(converter_fixtures_dir, name, stem)
    reference = json.loads((folder / f"{stem}.roundtrip.json").read_text())
    sequence = fixture_converter(name).from_tensors(expected["outputs"][:1])[0]

    fields = ("pitch", "velocity", "start_time", "end_time", "is_drum", "program", "instrument")
    got = [{f: getattr(n, f) for f in fields} for n in sequence.notes]
    want = [{f: n[f] for f in fields} for n in reference["notes"]]
    assert got == want
    assert [{"time": t.time, "qpm": t.qpm} for t in sequence.tempos] == reference["tempos"]
    assert len(sequence.time_signatures) == len(reference["time_signatures"]) == 0
    assert sequence.total_time == reference["total_time"]
    assert sequence.ticks_per_quarter == reference["ticks_per_quarter"]


@pytest.mark.fixtures
def test_eval_cap_keeps_magentas_examples(converter_fixtures_dir):
    # Magenta's config cap (5) in eval mode keeps the first 5 uncapped examples.
    _, sequence, expected = load_case(
        converter_fixtures_dir, "drums_2bar", "freedoom__freedoom1_D_INTRO"
    )
    assert len(expected["inputs"]) == 33
    capped = fixture_converter("drums_2bar", max_tensors_per_notesequence=5)
    tensors, report = capped.to_tensors_with_report(sequence)
    assert report.num_examples == len(tensors) == 5
    np.testing.assert_array_equal(np.stack(tensors.outputs), expected["outputs"][:5])


@pytest.mark.fixtures
def test_train_cap_is_a_seeded_random_subset(converter_fixtures_dir):
    _, sequence, expected = load_case(
        converter_fixtures_dir, "drums_2bar", "freedoom__freedoom1_D_INTRO"
    )
    all_keys = set(example_keys(expected["inputs"], expected["outputs"]))

    def convert(seed):
        converter = fixture_converter(
            "drums_2bar", max_tensors_per_notesequence=5, mode="train", seed=seed
        )
        return converter.to_tensors(sequence)

    first, again = convert(3), convert(3)
    keys = example_keys(first.inputs, first.outputs)
    assert len(set(keys)) == 5 and set(keys) <= all_keys
    assert keys == example_keys(again.inputs, again.outputs)


@pytest.mark.fixtures
def test_two_four_sections_give_nothing_and_say_why(converter_fixtures_dir):
    _, sequence, expected = load_case(
        converter_fixtures_dir, "drums_2bar", "openmsx__ttsong_iii_imuh3"
    )
    tensors, report = fixture_converter("drums_2bar").to_tensors_with_report(sequence)
    assert len(tensors) == len(expected["inputs"]) == 16
    assert report.reasons["time signature 2/4 (only 4/4 is supported)"] == 1


@pytest.mark.fixtures
def test_tempo_change_subsequences_are_reported(converter_fixtures_dir):
    _, sequence, expected = load_case(
        converter_fixtures_dir, "drums_2bar", "freedoom__freedoom2_D_READ_M"
    )
    tensors, report = fixture_converter("drums_2bar").to_tensors_with_report(sequence)
    assert len(tensors) == len(expected["inputs"]) == 15
    assert report.reasons["drum parts shorter than 2 bars"] > 0
    assert report.reasons["no drum notes (MIDI channel 10)"] > 0


# -- behaviour on made-up sequences ------------------------------------------
def test_only_two_four_gives_no_examples_with_reason():
    converter = DrumsConverter(slice_bars=2, mode="eval")
    sequence = drum_sequence([(36, 4 * k) for k in range(16)], numerator=2)
    tensors, report = converter.to_tensors_with_report(sequence)
    assert len(tensors) == 0
    assert report.summary() == "no examples: time signature 2/4 (only 4/4 is supported)"


def test_one_hot_index_is_the_class_bitmask():
    converter = DrumsConverter(slice_bars=2, mode="eval")
    assert (converter.input_depth, converter.output_depth) == (512, 512)
    tensors = converter.to_tensors(drum_sequence(beat(2)))
    assert len(tensors) == 1
    labels = np.argmax(tensors.outputs[0], axis=-1)
    kick, snare, closed_hh = 1, 2, 4
    assert labels[0] == kick | closed_hh
    assert labels[2] == closed_hh
    assert labels[4] == snare | closed_hh
    assert labels[1] == 0
    np.testing.assert_array_equal(tensors.inputs[0], tensors.outputs[0])


def test_roll_input_and_output_depths():
    roll_in = DrumsConverter(slice_bars=2, roll_input=True, mode="eval")
    assert (roll_in.input_depth, roll_in.output_depth) == (10, 512)
    nade = DrumsConverter(slice_bars=2, roll_input=True, roll_output=True, mode="eval")
    assert (nade.input_depth, nade.output_depth) == (10, 9)
    full = DrumsConverter(
        slice_bars=2, pitch_classes="full", roll_input=True, roll_output=True
    )
    assert (full.input_depth, full.output_depth) == (62, 61)
    assert full.pitch_classes == FULL_DRUM_PITCH_CLASSES
    assert len(FULL_DRUM_PITCH_CLASSES) == 61

    tensors = nade.to_tensors(drum_sequence(beat(2)))
    inputs, outputs = tensors.inputs[0], tensors.outputs[0]
    np.testing.assert_array_equal(inputs[:, :9], outputs)
    np.testing.assert_array_equal(inputs[:, 9], ~outputs.any(axis=1))
    assert outputs[0].nonzero()[0].tolist() == [0, 2]  # kick, closed hi-hat


def test_full_classes_without_rolls_are_refused():
    with pytest.raises(ValueError, match="roll_input=True and roll_output=True"):
        DrumsConverter(pitch_classes="full", roll_input=True)


def test_explicit_pitch_classes_and_bad_ones():
    converter = DrumsConverter(slice_bars=1, pitch_classes=[[36, 35], [38]], mode="eval")
    assert (converter.input_depth, converter.output_depth) == (4, 4)
    tensors, report = converter.to_tensors_with_report(drum_sequence(beat(1)))
    assert len(tensors) == 1
    # The closed hi-hats (42) are in no class: ignored and counted.
    assert report.stats["drum hits ignored: pitch 42 (Closed Hi-Hat) is in no drum class"] == 8
    with pytest.raises(ValueError, match="is in class 0 and class 1"):
        resolve_pitch_classes([[36], [36]])
    with pytest.raises(ValueError, match="Unknown pitch_classes"):
        resolve_pitch_classes("jazz")


def test_end_token_encoding_and_decoding():
    converter = DrumsConverter(slice_bars=2, add_end_token=True, roll_input=True, mode="eval")
    assert (converter.input_depth, converter.output_depth, converter.end_token) == (11, 513, 512)
    tensors = converter.to_tensors(drum_sequence(beat(2)))
    inputs, outputs = tensors.inputs[0], tensors.outputs[0]
    assert inputs.shape == (33, 11) and outputs.shape == (33, 513)
    assert np.argmax(outputs[-1]) == 512
    assert inputs[-1].nonzero()[0].tolist() == [9]  # end bit, and a "hit" (no NOR)
    decoded = converter.from_tensors([outputs])[0]
    assert max(n.end_time for n in decoded.notes) <= 32 * 0.125

    nade = DrumsConverter(slice_bars=2, add_end_token=True, roll_input=True, roll_output=True)
    assert (nade.output_depth, nade.end_token) == (10, 9)
    roll = nade.to_tensors(drum_sequence(beat(2))).outputs[0]
    assert nade.from_tensors([roll])[0] == decoded


def test_gap_bars_split_tracks_and_max_bars_truncates():
    hits = beat(2) + [(h, s + 16 * 5) for h, s in beat(3)]  # 3 silent bars between
    converter = DrumsConverter(slice_bars=1, mode="eval", max_tensors_per_notesequence=None)
    _, report = converter.to_tensors_with_report(drum_sequence(hits))
    assert report.stats["drum tracks extracted"] == 2

    quantized = note_seq.quantize_note_sequence(drum_sequence(hits), 4)
    tracks, stats = drum_extraction.extract_drum_tracks(
        quantized, max_steps_truncate=32, gap_bars=1.0, pad_end=True
    )
    assert [(t.start_step, len(t)) for t in tracks] == [(0, 32), (80, 32)]
    assert stats["drum tracks truncated to 2 bars"] == 1
    whole, _ = drum_extraction.extract_drum_tracks(quantized, gap_bars=None, pad_end=True)
    assert [(t.start_step, len(t)) for t in whole] == [(0, 128)]


def test_no_drums_and_silent_reasons():
    ns = drum_sequence([])
    ns.notes.add(pitch=60, start_time=0, end_time=4, velocity=80)
    ns.total_time = 4.0
    converter = DrumsConverter(slice_bars=2, mode="eval")
    _, report = converter.to_tensors_with_report(ns)
    assert report.summary() == "no examples: no drum notes (MIDI channel 10)"
    _, report = converter.to_tensors_with_report(drum_sequence(beat(1)))
    assert report.summary() == "no examples: drum parts shorter than 2 bars"


def test_input_sequence_is_not_modified():
    sequence = drum_sequence(beat(2))
    before = sequence.SerializeToString()
    DrumsConverter(slice_bars=2, mode="eval").to_tensors(sequence)
    assert sequence.SerializeToString() == before


def test_from_tensors_writes_first_pitch_of_each_class():
    converter = DrumsConverter(slice_bars=2, mode="eval")
    outputs = np.zeros((1, 4, 512), np.bool_)
    outputs[0, 0, 1 | 256] = True  # kick + ride
    outputs[0, 1:, 0] = True
    outputs[0, 3, 0], outputs[0, 3, 8] = False, True  # open hi-hat
    sequence = converter.from_tensors(outputs)[0]
    notes = [(n.pitch, n.start_time, n.velocity, n.is_drum, n.instrument) for n in sequence.notes]
    assert sorted(notes) == [
        (36, 0.0, 80, True, 9),
        (46, 0.375, 80, True, 9),
        (51, 0.0, 80, True, 9),
    ]
    assert REDUCED_DRUM_PITCH_CLASSES[8][0] == 51


def test_pad_to_total_time_and_no_presplit():
    # As the trio converter uses it: whole (unsliced) tracks spanning the piece.
    converter = DrumsConverter(
        gap_bars=None,
        pad_to_total_time=True,
        presplit_on_time_changes=False,
        max_tensors_per_notesequence=None,
        mode="eval",
    )
    hits = [(h, s + 16) for h, s in beat(1)]
    sequence = drum_sequence(hits)
    sequence.total_time = 4 * 2.0  # four bars at 120 qpm
    tensors = converter.to_tensors(sequence)
    assert len(tensors) == 1 and tensors.outputs[0].shape == (64, 512)
    labels = np.argmax(tensors.outputs[0], axis=-1)
    assert labels[:16].tolist() == [0] * 16 and labels[16] == 1 | 4
    assert labels[32:].tolist() == [0] * 32


def test_config_round_trip():
    converter = DrumsConverter(
        max_bars=100,
        slice_bars=2,
        pitch_classes=[[36, 35], [38, 40], [42, 44, 46]],
        roll_input=True,
        add_end_token=True,
        max_tensors_per_notesequence=3,
        mode="eval",
        seed=7,
    )
    config = json.loads(json.dumps(serialize_converter(converter)))
    rebuilt = converter_from_config(config)
    assert isinstance(rebuilt, DrumsConverter)
    assert rebuilt.get_config() == converter.get_config()
    depths = (rebuilt.input_depth, rebuilt.output_depth)
    assert depths == (converter.input_depth, converter.output_depth)
    sequence = drum_sequence(beat(4))
    a, b = converter.to_tensors(sequence), rebuilt.to_tensors(sequence)
    assert example_keys(a.inputs, a.outputs) == example_keys(b.inputs, b.outputs)
    named = DrumsConverter(pitch_classes="full", roll_input=True, roll_output=True)
    assert DrumsConverter.from_config(named.get_config()).get_config()["pitch_classes"] == "full"


def test_quantize_or_explain_reasons():
    report = ConversionReport()
    sequence = drum_sequence(beat(1))
    sequence.tempos.add(time=1.0, qpm=90.0)
    assert drum_extraction.quantize_or_explain(sequence, 4, 16, report) is None
    assert "tempo changes" in report.summary()
    report = ConversionReport()
    sequence = drum_sequence(beat(1), numerator=3)
    assert drum_extraction.quantize_or_explain(sequence, 4, 16, report) is None
    assert report.summary() == "no examples: time signature 3/4 (only 4/4 is supported)"
