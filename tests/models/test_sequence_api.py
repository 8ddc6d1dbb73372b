"""`MusicVAE`'s NoteSequence API (`encode_sequences`, `decode_to_sequences`,
`sample_sequences`, `interpolate_sequences`, `similar`), the interpolations
(`interpolate` with batches of one, the four-corner `interpolate_grid`) and
chord progressions, on tiny untrained models of real presets."""

import note_seq
import numpy as np
import pytest

from keras_musicvae.data.chord_progression import ChordProgressionError
from keras_musicvae.evaluation.slerp import interpolation_grid
from keras_musicvae.models.music_vae import MusicVAE
from keras_musicvae.models.sequence_api import MultipleExtractedExamplesError
from keras_musicvae.models.sequence_api import NoExtractedExamplesError

TINY = {"enc_rnn_size": [16], "dec_rnn_size": [16], "z_size": 4}
MELODY_A = [60, 62, 64, 65, 67, 65, 64, 62]  # 2 bars at 120 qpm: one example
MELODY_B = [72, 71, 69, 67, 65, 64, 62, 60]
MELODY_C = [55, 57, 59, 60, 62, 64, 65, 67]
MELODY_D = [67, 67, 69, 69, 71, 71, 72, 72]
FOUR_BARS = MELODY_A + MELODY_B  # three 2-bar windows


def _melody(pitches, numerator=4, step=0.5):
    sequence = note_seq.NoteSequence(ticks_per_quarter=220)
    sequence.tempos.add(qpm=120.0)
    sequence.time_signatures.add(numerator=numerator, denominator=4)
    for i, pitch in enumerate(pitches):
        sequence.notes.add(pitch=pitch, start_time=i * step, end_time=(i + 1) * step, velocity=90)
    sequence.total_time = len(pitches) * step
    return sequence


def _notes(sequence):
    return [(n.pitch, round(n.start_time, 6), round(n.end_time, 6)) for n in sequence.notes]


def _chords(sequence):
    return [
        (a.text, round(a.time, 6))
        for a in sequence.text_annotations
        if a.annotation_type == note_seq.NoteSequence.TextAnnotation.CHORD_SYMBOL
    ]


@pytest.fixture(scope="module")
def model():
    return MusicVAE.from_preset("cat_mel_2bar_small", load_weights=False, **TINY)


@pytest.fixture(scope="module")
def chord_model():
    return MusicVAE.from_preset("cat_mel_2bar_med_chords", load_weights=False, **TINY)


@pytest.fixture(scope="module")
def melodies():
    return [_melody(p) for p in (MELODY_A, MELODY_B, MELODY_C, MELODY_D)]


def _inputs(model, sequence):
    tensors = model.inference_converter.to_tensors(sequence)
    return tensors.inputs[0].astype("float32"), tensors.lengths[0], tensors.controls[0].astype("float32")


# ------------------------------------------------------------------ encode
def test_encode_sequences_is_encode_of_the_converted_inputs(model, melodies):
    z, mu, sigma = model.encode_sequences(melodies[:2], seed=3)
    assert z.shape == mu.shape == sigma.shape == (2, 4)
    inputs = np.stack([_inputs(model, s)[0] for s in melodies[:2]])
    expected_mu, expected_sigma = model.encode(inputs)
    np.testing.assert_allclose(mu, expected_mu, atol=1e-6)
    np.testing.assert_allclose(sigma, expected_sigma, atol=1e-6)
    again, _, _ = model.encode_sequences(melodies[:2], seed=3)
    np.testing.assert_array_equal(z, again)  # z ~ N(mu, sigma), seeded
    assert not np.allclose(z, mu)
    z_one, mu_one, _ = model.encode_sequences(melodies[0], seed=3)  # one sequence, not a list
    assert z_one.shape == (1, 4)
    np.testing.assert_allclose(mu_one[0], mu[0], atol=1e-6)


def test_sequences_are_read_in_inference_mode(model, melodies):
    assert model.converter.mode == "train"  # the training converter picks random windows
    assert model.inference_converter.mode == "infer"
    assert model.inference_converter.max_tensors_per_notesequence is None
    first = model.encode_sequences(melodies[:1])[1]
    for _ in range(3):
        np.testing.assert_array_equal(model.encode_sequences(melodies[:1])[1], first)


def test_inputs_without_one_example_name_the_input_and_why(model, melodies):
    waltz = _melody(MELODY_A, numerator=3)
    with pytest.raises(NoExtractedExamplesError) as error:
        model.encode_sequences([melodies[0], waltz])
    assert str(error.value) == (
        "note_sequences[1] gives no examples for this model: time signature 3/4 (only 4/4 is supported)."
    )
    with pytest.raises(MultipleExtractedExamplesError, match=r"^note_sequences\[0\] gives 3 examples"):
        model.encode_sequences([_melody(FOUR_BARS)])
    with pytest.raises(NoExtractedExamplesError, match="^end gives no examples"):
        model.interpolate_sequences(melodies[0], waltz, 3)
    with pytest.raises(TypeError, match=r"note_sequences\[1\] is a str, not a NoteSequence"):
        model.encode_sequences([melodies[0], "a.mid"])


# ------------------------------------------------------------------ decode, sample
def test_decode_and_sample_to_sequences(model):
    z = np.random.default_rng(0).standard_normal((3, 4)).astype("float32")
    sequences = model.decode_to_sequences(z, temperature=0)
    expected = model.inference_converter.from_tensors(model.decode(z, temperature=0))
    assert [_notes(s) for s in sequences] == [_notes(s) for s in expected]
    assert _notes(model.decode_to_sequences(z[0], temperature=0)[0]) == _notes(expected[0])

    samples = model.sample_sequences(2, temperature=1.0, seed=5)
    expected = model.inference_converter.from_tensors(model.sample(2, temperature=1.0, seed=5))
    assert [_notes(s) for s in samples] == [_notes(s) for s in expected]
    with pytest.raises(ValueError, match="n must be a positive integer"):
        model.sample_sequences(0)
    with pytest.raises(ValueError, match="not conditioned on chords"):
        model.sample_sequences(1, chords=["C"])


# ------------------------------------------------------------------ interpolate
def test_interpolate_sequences_ends_at_the_inputs_codes(model, melodies):
    steps = model.interpolate_sequences(melodies[0], melodies[1], num_steps=4, temperature=0)
    assert len(steps) == 4
    _, mu, _ = model.encode_sequences(melodies[:2])
    ends = model.decode_to_sequences(mu, temperature=0)
    assert _notes(steps[0]) == _notes(ends[0]) and _notes(steps[-1]) == _notes(ends[1])


def test_interpolate_takes_a_batch_of_one_and_refuses_more(model, melodies):
    (a, a_length, _), (b, b_length, _) = (_inputs(model, s) for s in melodies[:2])
    expected = model.interpolate(a, b, num_steps=3, temperature=0)
    batched = model.interpolate(a[None], b[None], num_steps=3, temperature=0, start_length=[a_length])
    np.testing.assert_array_equal(batched, expected)
    with pytest.raises(ValueError) as error:
        model.interpolate(np.stack([a, b]), b, num_steps=3)
    assert str(error.value) == (
        "start must be one sequence, [time, depth] or a batch of one [1, time, depth]; got a batch of 2 "
        "(shape (2, 32, 90)): call once per sequence."
    )
    with pytest.raises(ValueError, match="end must be"):
        model.interpolate(a, b[None, :, :5], num_steps=3)


def test_linear_interpolation_is_magentajs_straight_line(model, melodies):
    a, b = (_inputs(model, s)[0] for s in melodies[:2])
    mu, _ = model.encode(np.stack([a, b]))
    seen = []
    original = model.decode

    def spy(z, *args, **kwargs):
        seen.append(np.array(z))
        return original(z, *args, **kwargs)

    model.decode = spy
    try:
        model.interpolate(a, b, num_steps=5, temperature=0, method="linear")
    finally:
        del model.decode
    t = np.linspace(0, 1, 5)[:, None]
    np.testing.assert_allclose(seen[0], (1 - t) * mu[0] + t * mu[1], atol=1e-6)
    with pytest.raises(ValueError, match="Unknown interpolation method 'cubic'"):
        model.interpolate(a, b, method="cubic")


def test_interpolate_grid_corners_and_edges(model, melodies):
    corners = np.stack([_inputs(model, s)[0] for s in melodies])  # top-left, bottom-left, top-right, bottom-right
    grid = model.interpolate_grid(corners, num_steps=3, temperature=0)
    assert grid.shape == (3, 3, 32, 90)
    mu, _ = model.encode(corners)
    decoded = model.decode(mu, temperature=0)
    for (row, column), corner in {(0, 0): 0, (2, 0): 1, (0, 2): 2, (2, 2): 3}.items():
        np.testing.assert_array_equal(grid[row, column], decoded[corner])
    # The top row is the two-corner slerp from corner 0 to corner 2.
    np.testing.assert_array_equal(grid[0], model.interpolate(corners[0], corners[2], 3, temperature=0))
    z = interpolation_grid(mu, 3).reshape(9, -1).astype("float32")
    np.testing.assert_array_equal(grid.reshape(9, 32, 90), model.decode(z, temperature=0))
    with pytest.raises(ValueError, match="A grid needs four corners"):
        model.interpolate_grid(corners[:3])

    rows = model.interpolate_grid_sequences(melodies, num_steps=3, temperature=0)
    assert [len(row) for row in rows] == [3, 3, 3]
    expected = model.inference_converter.from_tensors(grid.reshape(9, 32, 90))
    assert [_notes(s) for row in rows for s in row] == [_notes(s) for s in expected]


# ------------------------------------------------------------------ similar
def test_similar_on_sequences_and_arrays(model, melodies):
    inputs, length, _ = _inputs(model, melodies[0])
    variations = model.similar(inputs, 3, similarity=0.6, temperature=0, seed=4)
    assert variations.shape == (3, 32, 90)
    np.testing.assert_array_equal(model.similar(inputs[None], 3, similarity=0.6, temperature=0, seed=4), variations)
    sequences = model.similar(melodies[0], 3, similarity=0.6, temperature=0, seed=4)
    assert [_notes(s) for s in sequences] == [_notes(s) for s in model.inference_converter.from_tensors(variations)]
    # similarity 1 keeps the input's code.
    mu, _ = model.encode(inputs[None])
    same = model.similar(inputs, 2, similarity=1.0, temperature=0, seed=4)
    np.testing.assert_array_equal(same, np.repeat(model.decode(mu, temperature=0), 2, axis=0))
    with pytest.raises(ValueError, match="similarity must be between 0 and 1; got 1.5"):
        model.similar(melodies[0], 2, similarity=1.5)


# ------------------------------------------------------------------ chords
def test_sampling_over_chords_writes_the_chords(chord_model):
    samples = chord_model.sample_sequences(2, temperature=0.5, seed=1, chords="C G Am F")
    # 4 chords over 2 bars at 120 qpm: one every half bar (1 s), as magenta.js spreads them.
    assert [_chords(s) for s in samples] == [[("C", 0.0), ("G", 1.0), ("Am", 2.0), ("F", 3.0)]] * 2
    z = np.zeros((1, 4), "float32")
    decoded = chord_model.decode_to_sequences(z, temperature=0, chords=["Am", "F"])
    assert _chords(decoded[0]) == [("Am", 0.0), ("F", 2.0)]
    with pytest.raises(ValueError, match=r"conditioned on chords: pass chords=\[\.\.\.\]"):
        chord_model.sample_sequences(1)
    with pytest.raises(ChordProgressionError, match="cannot encode the chord\\(s\\) 'H7'"):
        chord_model.sample_sequences(1, chords=["C", "H7"])


def test_chords_replace_the_inputs_own_when_encoding(chord_model, melodies):
    _, own, _ = chord_model.encode_sequences(melodies[:1])
    _, given, _ = chord_model.encode_sequences(melodies[:1], chords=["F#", "Bbm"])
    assert not np.allclose(own, given)
    steps = chord_model.interpolate_sequences(melodies[0], melodies[1], 3, temperature=0, chords=["C", "G"])
    assert [_chords(s) for s in steps] == [[("C", 0.0), ("G", 2.0)]] * 3
    variations = chord_model.similar(melodies[0], 2, similarity=0.5, chords=["Dm"], seed=0)
    assert [_chords(s) for s in variations] == [[("Dm", 0.0)]] * 2
