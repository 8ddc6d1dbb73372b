"""Tests of `keras_musicvae.data.pipeline`: MIDI -> batch dicts for `model.fit`."""

import logging
import pathlib

import mido
import numpy as np
import pytest

from keras_musicvae.data import augment
from keras_musicvae.data import converter_for_preset
from keras_musicvae.data import midi_io
from keras_musicvae.data import pipeline

BUNDLED = pathlib.Path(__file__).resolve().parents[2] / "keras_musicvae" / "corpus" / "freedoom"
# A few real files with melodies in programs 0-31 (2-bar melody examples).
REAL_FILES = [str(p) for p in sorted((BUNDLED / "train").glob("*.mid"))[:12]]


def write_midi(path, *, tempo=500000, numerator=4, bars=8, zero_length=False, pitch=60, drums=False):
    midi = mido.MidiFile(type=1, ticks_per_beat=220)
    midi.tracks.append(
        mido.MidiTrack(
            [
                mido.MetaMessage("set_tempo", tempo=tempo, time=0),
                mido.MetaMessage("time_signature", numerator=numerator, denominator=4, time=0),
            ]
        )
    )
    channel = 9 if drums else 0
    track = mido.MidiTrack([mido.Message("program_change", program=0, channel=channel, time=0)])
    for i in range(bars * numerator):
        note = pitch + (i * 5) % 12 if not drums else (36, 42, 38, 42)[i % 4]
        track.append(mido.Message("note_on", note=note, velocity=90, channel=channel, time=0))
        zero = zero_length == "all" or (zero_length == "some" and i % 2)
        track.append(mido.Message("note_off", note=note, channel=channel, time=0 if zero else 220))
        if zero:
            track.append(mido.Message("control_change", control=7, value=90, channel=channel, time=220))
    midi.tracks.append(track)
    midi.save(str(path))
    return str(path)


@pytest.fixture(scope="module")
def broken_folder(tmp_path_factory):
    """Two good files and one file of each kind of trouble."""
    folder = tmp_path_factory.mktemp("broken")
    write_midi(folder / "good_a.mid")
    write_midi(folder / "good_b.MID", pitch=64)
    (folder / "random.mid").write_bytes(bytes(np.random.default_rng(0).integers(0, 256, 2000, dtype=np.uint8)))
    good = (folder / "good_a.mid").read_bytes()
    (folder / "truncated.mid").write_bytes(good[: len(good) // 2])
    (folder / "empty.mid").write_bytes(b"")
    (folder / "text.mid").write_text("This is a README, not a MIDI file.\n")
    write_midi(folder / "absurd_tempo.mid", tempo=10)  # 6,000,000 quarter notes per minute
    write_midi(folder / "zero_length.midi", zero_length="all")
    write_midi(folder / "some_zero_length.mid", zero_length="some", bars=16)
    write_midi(folder / "waltz.mid", numerator=3)
    return folder


EXPECTED_FAILURES = {
    midi_io.REASON_NOT_MIDI: 2,  # random bytes, text
    midi_io.REASON_TRUNCATED: 1,
    midi_io.REASON_EMPTY: 1,
    midi_io.REASON_ABSURD_TEMPO: 1,
    midi_io.REASON_NO_NOTES: 1,  # every note has zero length
}


@pytest.fixture(scope="module")
def melody_converter():
    return converter_for_preset("cat_mel_2bar_small", seed=0)


@pytest.mark.parametrize("num_workers", [0, 2])
def test_broken_files_are_skipped_and_counted(broken_folder, melody_converter, num_workers, caplog):
    with caplog.at_level(logging.WARNING, logger="keras_musicvae.data"):
        tensors, stats = pipeline.convert_midi_files(
            broken_folder, melody_converter, num_workers=num_workers, progress=False
        )
    assert stats.files == 10
    assert dict(stats.files_failed) == EXPECTED_FAILURES
    assert stats.files_read == 4
    assert stats.files_without_examples == 1  # the waltz
    assert any("3/4" in reason for reason in stats.no_example_reasons)
    assert stats.zero_length_notes_dropped == 32  # of some_zero_length.mid
    expected = sum(
        len(melody_converter.to_tensors(midi_io.read_midi(broken_folder / name)))
        for name in ("good_a.mid", "good_b.MID", "some_zero_length.mid")
    )
    assert stats.examples == len(tensors) == expected > 0
    # One log line per failed file, naming it.
    skipped = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Skipping")]
    assert len(skipped) == 6
    assert any("truncated.mid" in line and "truncated" in line for line in skipped)
    summary = str(stats)
    assert "6 failed" in summary and "absurd_tempo.mid" in summary and "3/4" in summary


def test_parallel_output_is_deterministic_and_in_file_order(melody_converter):
    serial, _ = pipeline.convert_midi_files(REAL_FILES[:6], melody_converter, num_workers=0, progress=False)
    parallel, stats = pipeline.convert_midi_files(
        REAL_FILES[:6], melody_converter, num_workers=2, progress=False
    )
    assert len(serial) == len(parallel) > 0
    for a, b in zip(serial.inputs, parallel.inputs):
        np.testing.assert_array_equal(a, b)
    # Same as converting each file by hand, in file order (eval mode: no randomness).
    eval_converter = converter_for_preset("cat_mel_2bar_small", mode="eval")
    tensors, _ = pipeline.convert_midi_files(REAL_FILES[:6], eval_converter, num_workers=2, progress=False)
    by_hand = [eval_converter.to_tensors(midi_io.read_midi(p)) for p in REAL_FILES[:6]]
    expected = [x for t in by_hand for x in t.outputs]
    assert len(expected) == len(tensors)
    for a, b in zip(expected, tensors.outputs):
        np.testing.assert_array_equal(a, b)


def test_dataset_from_bundled_corpus_keys_shapes_dtypes(melody_converter):
    dataset, stats = pipeline.make_dataset(
        REAL_FILES, melody_converter, 8, seed=1, num_workers=2, progress=False, return_stats=True
    )
    spec = dataset.element_spec
    assert sorted(spec) == ["inputs", "lengths", "targets"]
    batches = list(dataset)
    assert len(batches) == stats.examples_per_epoch // 8 > 0
    for batch in batches:
        assert batch["inputs"].shape == (8, 32, 90) and batch["inputs"].dtype.name == "float32"
        assert batch["targets"].shape == (8, 32, 90) and batch["targets"].dtype.name == "float32"
        assert batch["lengths"].shape == (8,) and batch["lengths"].dtype.name == "int32"
        np.testing.assert_array_equal(batch["lengths"], 32)
        np.testing.assert_array_equal(batch["inputs"].numpy().sum(-1), 1.0)  # one-hot steps


def test_controls_and_eval_mode():
    chords = converter_for_preset("cat_mel_2bar_med_chords")
    dataset = pipeline.make_dataset(REAL_FILES[:2], chords, 4, mode="eval", num_workers=0, progress=False)
    batch = next(iter(dataset))
    assert sorted(batch) == ["controls", "inputs", "lengths", "targets"]
    assert batch["controls"].shape[-1] == chords.control_depth == 49
    assert batch["controls"].dtype.name == "float32"
    # Eval mode: file order, the converter's own cap, the last partial batch kept.
    eval_converter = converter_for_preset("cat_mel_2bar_med_chords", mode="eval")
    tensors, _ = pipeline.convert_midi_files(REAL_FILES[:2], eval_converter, num_workers=0, progress=False)
    got = np.concatenate([b["targets"].numpy() for b in dataset])
    np.testing.assert_array_equal(got, np.stack(tensors.outputs).astype(np.float32))


def test_determinism_with_seed(melody_converter):
    augmenter = augment.NoteSequenceAugmenter(transpose_range=(-2, 2))

    def epochs(num_workers, seed=3):
        dataset = pipeline.make_dataset(
            REAL_FILES[:6], melody_converter, 4, augmenter=augmenter, seed=seed,
            num_workers=num_workers, progress=False,
        )
        return [np.concatenate([b["inputs"].numpy() for b in dataset]) for _ in range(2)]

    a0, a1 = epochs(0)
    b0, b1 = epochs(2)
    np.testing.assert_array_equal(a0, b0)  # independent of the number of workers
    np.testing.assert_array_equal(a1, b1)
    assert not np.array_equal(a0, a1)  # each epoch draws afresh
    c0, _ = epochs(0, seed=4)
    assert not np.array_equal(a0, c0)


def melody_pitches(batch_inputs):
    """Set of melody pitches (classes >= 2 are pitches 21..108) per example."""
    classes = batch_inputs.argmax(-1)
    return [frozenset(c[c >= 2] + 19) for c in classes]


def test_per_epoch_transposition(melody_converter):
    plain = pipeline.make_dataset(REAL_FILES[:6], melody_converter, 1, seed=0, num_workers=0, progress=False,
                                  shuffle=False)
    base = set()
    for _ in range(3):  # the union of all windows sampled over several epochs
        base.update(melody_pitches(np.concatenate([b["inputs"].numpy() for b in plain])))
    augmenter = augment.NoteSequenceAugmenter(transpose_range=(-5, 5))
    augmented = pipeline.make_dataset(
        REAL_FILES[:6], melody_converter, 1, augmenter=augmenter, seed=0, num_workers=0, progress=False
    )
    seen = []
    for _ in range(3):
        examples = melody_pitches(np.concatenate([b["inputs"].numpy() for b in augmented]))
        seen.append(set(examples))
        for pitches in examples:  # within the converter's range 21..108
            assert all(21 <= p <= 108 for p in pitches)
    new = [s - base for s in seen]
    assert all(new), "every epoch holds transposed windows"
    assert new[0] != new[1] != new[2]


def test_augmentation_leaves_drums_alone(tmp_path):
    drums = converter_for_preset("cat_drums_2bar_small", seed=0)
    files = [write_midi(tmp_path / f"d{i}.mid", drums=True, bars=4) for i in range(2)]
    plain = pipeline.make_dataset(files, drums, 2, seed=0, num_workers=0, progress=False, shuffle=False)
    augmented = pipeline.make_dataset(
        files, drums, 2, seed=0, num_workers=0, progress=False, shuffle=False,
        augmenter=augment.NoteSequenceAugmenter(transpose_range=(-5, 5)),
    )
    a = np.concatenate([b["targets"].numpy() for b in plain])
    b = np.concatenate([b["targets"].numpy() for b in augmented])
    assert sorted(map(bytes, a.astype(np.uint8))) == sorted(map(bytes, b.astype(np.uint8)))


def test_tfrecord_round_trip_and_sources(tmp_path, melody_converter):
    sequences = [midi_io.read_midi(p) for p in REAL_FILES[:4]]
    path = tmp_path / "notes.tfrecord"
    assert pipeline.write_note_sequences(path, sequences) == 4
    assert list(pipeline.read_note_sequences(str(tmp_path / "*.tfrecord"))) == sequences

    def first_epoch(source):
        dataset = pipeline.make_dataset(source, melody_converter, 4, seed=5, num_workers=0, progress=False)
        return np.concatenate([b["inputs"].numpy() for b in dataset])

    from_midi = first_epoch(REAL_FILES[:4])
    np.testing.assert_array_equal(from_midi, first_epoch(str(path)))
    np.testing.assert_array_equal(from_midi, first_epoch(sequences))


def test_dataset_from_tensors(melody_converter):
    tensors, _ = pipeline.convert_midi_files(REAL_FILES[:4], melody_converter, num_workers=0, progress=False)
    dataset = pipeline.dataset_from_tensors(tensors, 3, seed=0, drop_remainder=False)
    batches = list(dataset)
    assert sum(len(b["inputs"]) for b in batches) == len(tensors)
    got = np.concatenate([b["targets"].numpy() for b in batches])
    expected = np.stack(tensors.outputs).astype(np.float32)
    # Shuffled: the same examples in another order.
    assert sorted(map(bytes, got.astype(np.uint8))) == sorted(map(bytes, expected.astype(np.uint8)))
    padded = pipeline.dataset_from_tensors(tensors, 2, max_seq_len=40, converter=melody_converter)
    assert padded.element_spec["inputs"].shape.as_list() == [2, 40, 90]


def test_streaming_strategy_with_stretch(melody_converter):
    augmenter = augment.NoteSequenceAugmenter(transpose_range=(-1, 1), stretch_range=(0.95, 1.05))
    dataset = pipeline.make_dataset(
        REAL_FILES[:4], melody_converter, 4, augmenter=augmenter, seed=2, num_workers=2,
        shuffle_buffer=8, progress=False,
    )
    first = [b["inputs"].numpy() for b in dataset]
    second = [b["inputs"].numpy() for b in dataset]
    assert first and all(b.shape == (4, 32, 90) for b in first)
    again = pipeline.make_dataset(
        REAL_FILES[:4], melody_converter, 4, augmenter=augmenter, seed=2, num_workers=0,
        shuffle_buffer=8, progress=False,
    )
    np.testing.assert_array_equal(np.concatenate(first), np.concatenate([b["inputs"].numpy() for b in again]))
    assert not np.array_equal(np.concatenate(first), np.concatenate(second[: len(first)]))


def test_no_examples_says_why(broken_folder, melody_converter):
    with pytest.raises(ValueError, match="3/4"):
        pipeline.make_dataset(
            [str(broken_folder / "waltz.mid"), str(broken_folder / "empty.mid")],
            melody_converter, 4, num_workers=0, progress=False,
        )


def test_fewer_examples_than_a_batch(melody_converter):
    dataset = pipeline.make_dataset(REAL_FILES[:1], melody_converter, 64, num_workers=0, progress=False)
    with pytest.raises(Exception, match="fewer examples per epoch than one batch"):
        list(dataset)


def test_model_fit_accepts_the_dataset(melody_converter):
    import keras

    dataset = pipeline.make_dataset(REAL_FILES[:4], melody_converter, 4, seed=0, num_workers=0, progress=False)

    class TinyModel(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(90)

        def call(self, batch):
            return self.dense(batch["inputs"])

        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
            return keras.ops.mean(keras.ops.square(y_pred - x["targets"]))

    model = TinyModel()
    model.compile(optimizer="adam")
    history = model.fit(dataset, epochs=2, verbose=0, shuffle=False)
    assert len(history.history["loss"]) == 2


def test_hierarchical_lengths_and_float_arrays():
    # Multiperf-like examples: lengths of shape [8]; GrooVAE-like float32 arrays.
    from keras_musicvae.data.converter import ConverterTensors

    rng = np.random.default_rng(0)
    n = 5
    tensors = ConverterTensors(
        inputs=[rng.random((16, 27)).astype(np.float32) for _ in range(n)],
        outputs=[rng.random((16, 27)).astype(np.float32) for _ in range(n)],
        controls=[rng.random((16, 3)) < 0.5 for _ in range(n)],
        lengths=[np.full(8, i, np.int32) for i in range(n)],
    )
    dataset = pipeline.dataset_from_tensors(tensors, 2, shuffle=False, drop_remainder=False)
    batches = list(dataset)
    assert [b["lengths"].shape.as_list() for b in batches] == [[2, 8], [2, 8], [1, 8]]
    np.testing.assert_array_equal(np.concatenate([b["inputs"] for b in batches]), np.stack(tensors.inputs))
    np.testing.assert_array_equal(
        np.concatenate([b["controls"] for b in batches]), np.stack(tensors.controls).astype(np.float32)
    )
    np.testing.assert_array_equal(np.concatenate([b["lengths"] for b in batches])[:, 0], np.arange(n))
