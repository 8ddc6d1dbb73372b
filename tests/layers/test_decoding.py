"""`run_decoding_loop`: teacher forcing, free running, segments, streams."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_musicvae.layers import decoding
from keras_musicvae.layers.bar_decoder import BarDecoder
from keras_musicvae.layers.decoding import run_decoding_loop as _run_decoding_loop
from keras_musicvae.layers.heads import CategoricalHead
from keras_musicvae.layers.heads import GrooveHead
from keras_musicvae.layers.heads import NadeHead

from testing import tensor

from .numpy_reference import bar_decoder
from .numpy_reference import compiled
from .numpy_reference import initial_states
from .numpy_reference import lstm_cell
from .numpy_reference import randomize_weights
from .numpy_reference import stack_weights
from .numpy_reference import to_numpy

ATOL = 1e-5


def run_decoding_loop(decoders, conditionings, segment_length, temperature, noises, **kwargs):
    """`run_decoding_loop`, compiled as one program on JAX."""

    def loop(conditionings, noises, kwargs):
        return _run_decoding_loop(decoders, conditionings, segment_length, temperature, noises, **kwargs)

    return compiled(loop)(conditionings, noises, kwargs)


@pytest.fixture(params=[False, True], ids=["one_loop", "segment_by_segment"])
def segment_loop(request, monkeypatch):
    """Runs a segmented test through both forms of the loop (one scan that
    resets the states at segment starts; one scan per segment in Python),
    whichever the backend would pick."""
    monkeypatch.setattr(decoding, "segments_in_python", lambda: request.param)
    return request.param


def _decoder(head=None, units=(5, 4), conditioning_dim=3, control_depth=0, seed=0):
    head = head or CategoricalHead(6, units[-1])
    decoder = BarDecoder(list(units), head, conditioning_dim, control_depth)
    decoder.build()
    return randomize_weights(decoder, seed)


def _zero_noise(decoders, batch, steps):
    return [tensor(np.zeros((batch, steps, d.head.noise_depth))) for d in decoders]


def _shift_right(x):
    return np.concatenate([np.zeros_like(x[:, :1]), x[:, :-1]], axis=1)


def _one_hot(rng, shape, depth):
    return np.eye(depth)[rng.integers(0, depth, size=shape)]


def _segmented_reference(decoder, inputs, conditionings, controls=None):
    """Each segment: a fresh bar decoder run from that segment's conditioning."""
    batch, segments, _ = conditionings.shape
    length = inputs.shape[1] // segments
    out = []
    for s in range(segments):
        window = slice(s * length, (s + 1) * length)
        out.append(
            bar_decoder(
                decoder,
                inputs[:, window],
                conditionings[:, s],
                None if controls is None else controls[:, window],
            )
        )
    return np.concatenate(out, axis=1)


@pytest.mark.parametrize("control_depth", [0, 2])
def test_teacher_forced_loop_equals_bar_decoder_call(control_depth):
    rng = np.random.default_rng(0)
    decoder = _decoder(control_depth=control_depth)
    steps = 6
    teacher = _shift_right(_one_hot(rng, (2, steps), 6))
    z = rng.normal(size=(2, 3))
    controls = rng.normal(size=(2, steps, 2)) if control_depth else None
    samples, (logits,) = run_decoding_loop(
        [decoder],
        tensor(z[:, None]),
        steps,
        0.0,
        _zero_noise([decoder], 2, steps),
        controls=None if controls is None else tensor(controls),
        teacher_inputs=[tensor(teacher)],
        use_sample=ops.zeros((2, steps), "bool"),
    )
    expected = to_numpy(
        decoder(tensor(teacher), tensor(z), None if controls is None else tensor(controls))
    )
    np.testing.assert_allclose(to_numpy(logits), expected, atol=ATOL)
    np.testing.assert_allclose(to_numpy(logits), bar_decoder(decoder, teacher, z, controls), atol=ATOL)
    # Samples are the argmax of each step's logits at temperature 0.
    np.testing.assert_array_equal(
        to_numpy(samples[0]).argmax(-1), to_numpy(logits).argmax(-1)
    )


@pytest.mark.usefixtures("segment_loop")
def test_teacher_forced_loop_over_segments_resets_state_per_segment():
    rng = np.random.default_rng(1)
    decoder = _decoder()
    segments, length = 3, 4
    targets = _one_hot(rng, (2, segments * length), 6)
    teacher = _shift_right(targets)  # global shift: segment i starts with segment i-1's last target
    conditionings = rng.normal(size=(2, segments, 3))
    _, (logits,) = run_decoding_loop(
        [decoder],
        tensor(conditionings),
        length,
        0.0,
        _zero_noise([decoder], 2, segments * length),
        teacher_inputs=[tensor(teacher)],
        use_sample=ops.zeros((2, segments * length), "bool"),
    )
    np.testing.assert_allclose(
        to_numpy(logits), _segmented_reference(decoder, teacher, conditionings), atol=ATOL
    )


@pytest.mark.usefixtures("segment_loop")
@pytest.mark.parametrize("segments", [1, 3])
def test_free_running_feeds_back_its_own_samples(segments):
    """Free-running logits equal teacher-forced logits on the globally shifted
    samples: each step reads the previous sample, across segment borders too."""
    rng = np.random.default_rng(2)
    decoder = _decoder(control_depth=2)
    length = 4
    steps = segments * length
    conditionings = rng.normal(size=(2, segments, 3))
    controls = rng.normal(size=(2, steps, 2))
    samples, (logits,) = run_decoding_loop(
        [decoder],
        tensor(conditionings),
        length,
        0.0,
        _zero_noise([decoder], 2, steps),
        controls=tensor(controls),
    )
    samples = to_numpy(samples[0])
    np.testing.assert_array_equal(samples.sum(-1), 1.0)
    expected = _segmented_reference(decoder, _shift_right(samples), conditionings, controls)
    np.testing.assert_allclose(to_numpy(logits), expected, atol=1e-4)
    np.testing.assert_array_equal(samples.argmax(-1), expected.argmax(-1))


def test_use_sample_everywhere_equals_free_running():
    """Scheduled sampling with probability 1 feeds the samples (except at
    step 0, where the teacher input is the zero start vector anyway)."""
    rng = np.random.default_rng(3)
    decoder = _decoder()
    steps = 5
    z = tensor(rng.normal(size=(2, 1, 3)))
    noise = _zero_noise([decoder], 2, steps)
    free_samples, (free_logits,) = run_decoding_loop([decoder], z, steps, 0.0, noise)
    garbage = _shift_right(_one_hot(rng, (2, steps), 6))
    _, (mixed_logits,) = run_decoding_loop(
        [decoder], z, steps, 0.0, noise,
        teacher_inputs=[tensor(garbage)], use_sample=ops.ones((2, steps), "bool"),
    )
    np.testing.assert_allclose(to_numpy(mixed_logits), to_numpy(free_logits), atol=ATOL)


@pytest.mark.usefixtures("segment_loop")
def test_use_sample_is_never_applied_at_a_segment_start():
    rng = np.random.default_rng(4)
    decoder = _decoder()
    segments, length = 2, 3
    steps = segments * length
    conditionings = rng.normal(size=(2, segments, 3))
    teacher = _shift_right(_one_hot(rng, (2, steps), 6))
    _, (logits,) = run_decoding_loop(
        [decoder], tensor(conditionings), length, 0.0, _zero_noise([decoder], 2, steps),
        teacher_inputs=[tensor(teacher)], use_sample=ops.ones((2, steps), "bool"),
    )
    # The first step of each segment reads the teacher input.
    reference = _segmented_reference(decoder, teacher, conditionings)
    logits = to_numpy(logits)
    np.testing.assert_allclose(logits[:, 0], reference[:, 0], atol=ATOL)
    np.testing.assert_allclose(logits[:, length], reference[:, length], atol=ATOL)


def test_mixed_use_sample_per_step():
    rng = np.random.default_rng(5)
    decoder = _decoder()
    steps = 6
    z = rng.normal(size=(1, 3))
    teacher = _shift_right(_one_hot(rng, (1, steps), 6))
    use = np.array([[False, True, False, True, True, False]])
    samples, (logits,) = run_decoding_loop(
        [decoder], tensor(z[:, None]), steps, 0.0, _zero_noise([decoder], 1, steps),
        teacher_inputs=[tensor(teacher)], use_sample=ops.convert_to_tensor(use),
    )
    samples = to_numpy(samples[0])
    fed = teacher.copy()
    fed[:, 1:][use[:, 1:]] = samples[:, :-1][use[:, 1:]]
    np.testing.assert_allclose(to_numpy(logits), bar_decoder(decoder, fed, z), atol=1e-4)


def test_start_tokens_are_the_first_input():
    rng = np.random.default_rng(6)
    decoder = _decoder()
    steps = 4
    z = rng.normal(size=(2, 3))
    start = _one_hot(rng, (2,), 6)
    samples, (logits,) = run_decoding_loop(
        [decoder], tensor(z[:, None]), steps, 0.0, _zero_noise([decoder], 2, steps),
        start_tokens=[tensor(start)],
    )
    fed = np.concatenate([start[:, None], to_numpy(samples[0])[:, :-1]], axis=1)
    np.testing.assert_allclose(to_numpy(logits), bar_decoder(decoder, fed, z), atol=1e-4)


def test_temperature_scales_the_noise():
    rng = np.random.default_rng(7)
    decoder = _decoder()
    steps = 5
    z = tensor(rng.normal(size=(3, 1, 3)))
    noise = [decoder.head.make_noise((3, steps), seed=1)]
    samples, (logits,) = run_decoding_loop([decoder], z, steps, 0.7, noise)
    expected = (to_numpy(logits) + 0.7 * to_numpy(noise[0])).argmax(-1)
    np.testing.assert_array_equal(to_numpy(samples[0]).argmax(-1), expected)
    again, _ = run_decoding_loop([decoder], z, steps, 0.7, noise)
    np.testing.assert_array_equal(to_numpy(again[0]), to_numpy(samples[0]))


@pytest.mark.usefixtures("segment_loop")
def test_streams_are_independent():
    """Two streams in one loop give what each gives alone (trio split)."""
    rng = np.random.default_rng(8)
    a = _decoder(head=CategoricalHead(6, 4), seed=1)
    b = _decoder(head=GrooveHead(2, 4), seed=2)
    segments, length = 2, 3
    steps = segments * length
    conditionings = tensor(rng.normal(size=(2, segments, 3)))
    noises = _zero_noise([a, b], 2, steps)
    samples, logits = run_decoding_loop([a, b], conditionings, length, 0.0, noises)
    for i, decoder in enumerate([a, b]):
        alone_samples, (alone_logits,) = run_decoding_loop(
            [decoder], conditionings, length, 0.0, [noises[i]]
        )
        np.testing.assert_allclose(to_numpy(logits[i]), to_numpy(alone_logits), atol=ATOL)
        np.testing.assert_allclose(to_numpy(samples[i]), to_numpy(alone_samples[0]), atol=ATOL)


def test_nade_stream_free_running():
    rng = np.random.default_rng(9)
    decoder = _decoder(head=NadeHead(6, 3, 4))
    steps = 4
    z = rng.normal(size=(2, 3))
    samples, (logits,) = run_decoding_loop(
        [decoder], tensor(z[:, None]), steps, 0.0, _zero_noise([decoder], 2, steps)
    )
    samples = to_numpy(samples[0])
    assert to_numpy(logits).shape == (2, steps, 9)
    assert set(np.unique(samples)) <= {0.0, 1.0}
    np.testing.assert_allclose(
        to_numpy(logits), bar_decoder(decoder, _shift_right(samples), z), atol=1e-4
    )


def _dropout_decoder(control_depth=0, rate=0.5):
    head = CategoricalHead(6, 4)
    decoder = BarDecoder([5, 4], head, 3, control_depth, dropout_rate=rate)
    # A seeded generator: its state alone fixes the masks on every backend
    # (Keras' torch dropout draws from torch's global RNG for unseeded ones).
    decoder.lstm._seed_generator = keras.random.SeedGenerator(7)
    decoder.build()
    return randomize_weights(decoder, 0)


def _numpy_masked_loop(decoder, teacher, z, controls, masks):
    """Teacher-forced step loop with the given input-dropout multipliers
    (`[T, B, D_k]` per layer), NumPy maths."""
    weights = stack_weights(decoder.lstm)
    states = initial_states(
        z, to_numpy(decoder.initial_state.kernel), to_numpy(decoder.initial_state.bias), decoder.units
    )
    logits = []
    for t in range(teacher.shape[1]):
        parts = [teacher[:, t], z] + ([] if controls is None else [controls[:, t]])
        layer_input = np.concatenate(parts, -1)
        new_states = []
        for k, ((kernel, recurrent, bias), (h, c)) in enumerate(zip(weights, states)):
            layer_input = layer_input * masks[k][t]
            h, c = lstm_cell(layer_input @ kernel + bias, h, c, recurrent)
            new_states.append((h, c))
            layer_input = h
        states = new_states
        logits.append(layer_input @ to_numpy(decoder.head.kernel) + to_numpy(decoder.head.bias))
    return np.stack(logits, 1)


@pytest.mark.parametrize("control_depth", [0, 2])
def test_step_loop_applies_dropout_in_training(control_depth):
    """Scheduled sampling in training drops out every layer's input at every
    step, on the same tensors as the teacher-forced path (Magenta's
    `DropoutWrapper` applies in every helper)."""
    rng = np.random.default_rng(1)
    decoder = _dropout_decoder(control_depth)
    batch, steps = 3, 5
    teacher = _shift_right(_one_hot(rng, (batch, steps), 6))
    z = rng.normal(size=(batch, 3))
    controls = rng.normal(size=(batch, steps, 2)) if control_depth else None
    kwargs = dict(
        controls=None if controls is None else tensor(controls),
        teacher_inputs=[tensor(teacher)],
        use_sample=ops.zeros((batch, steps), "bool"),
    )
    generator = decoder.lstm._seed_generator
    state = np.array(ops.convert_to_numpy(generator.state), copy=True)  # not a view
    _, (logits,) = _run_decoding_loop(
        [decoder], tensor(z[:, None]), steps, 0.0, _zero_noise([decoder], batch, steps),
        training=True, **kwargs,
    )
    # The loop drew its masks from the LSTM's seed generator: draw them again.
    generator.state.assign(state)
    masks = [to_numpy(m) for m in decoder.lstm.dropout_masks(steps, batch, decoder.input_dim)]
    assert any((m == 0).any() for m in masks)
    expected = _numpy_masked_loop(decoder, teacher, z, controls, masks)
    np.testing.assert_allclose(to_numpy(logits), expected, atol=ATOL)
    # Outside training the same decoder does not drop out.
    _, (inference,) = _run_decoding_loop(
        [decoder], tensor(z[:, None]), steps, 0.0, _zero_noise([decoder], batch, steps), **kwargs
    )
    np.testing.assert_allclose(to_numpy(inference), bar_decoder(decoder, teacher, z, controls), atol=ATOL)
    assert np.abs(to_numpy(inference) - to_numpy(logits)).max() > 1e-3


@pytest.mark.usefixtures("segment_loop")
def test_step_loop_dropout_with_sampled_inputs_over_segments():
    """Dropout also applies to the fed-back samples and across segments."""
    rng = np.random.default_rng(2)
    decoder = _dropout_decoder(rate=0.3)
    batch, segments, length = 2, 2, 3
    steps = segments * length
    teacher = _shift_right(_one_hot(rng, (batch, steps), 6))
    conditionings = rng.normal(size=(batch, segments, 3))
    use_sample = np.zeros((batch, steps), bool)
    use_sample[:, 1::2] = True
    generator = decoder.lstm._seed_generator
    state = np.array(ops.convert_to_numpy(generator.state), copy=True)  # not a view
    samples, (logits,) = _run_decoding_loop(
        [decoder], tensor(conditionings), length, 0.0, _zero_noise([decoder], batch, steps),
        teacher_inputs=[tensor(teacher)], use_sample=ops.convert_to_tensor(use_sample),
        training=True,
    )
    generator.state.assign(state)
    masks = [to_numpy(m) for m in decoder.lstm.dropout_masks(steps, batch, decoder.input_dim)]
    # The inputs the loop fed: its own previous samples where use_sample
    # (except at a segment start), else the teacher's.
    fed = teacher.copy()
    previous = np.concatenate([np.zeros_like(teacher[:, :1]), to_numpy(samples[0])[:, :-1]], 1)
    chosen = use_sample & (np.arange(steps) % length != 0)
    fed[chosen] = previous[chosen]
    expected = np.concatenate(
        [
            _numpy_masked_loop(
                decoder,
                fed[:, s * length : (s + 1) * length],
                conditionings[:, s],
                None,
                [m[s * length : (s + 1) * length] for m in masks],
            )
            for s in range(segments)
        ],
        axis=1,
    )
    np.testing.assert_allclose(to_numpy(logits), expected, atol=ATOL)


@pytest.mark.parametrize("scheduled", [False, True], ids=["free_running", "scheduled_sampling"])
def test_bfloat16_free_running_samples_from_float32_logits(scheduled, monkeypatch):
    """Under a half-precision policy free-running sampling draws from float32
    logits (greedy tokens as float32's, `OutputHead.step_params`), scheduled
    sampling from compute-dtype ones; both return compute-dtype logits."""
    head = CategoricalHead(6, 4, dtype="bfloat16")
    decoder = BarDecoder([5, 4], head, 3, dtype="bfloat16")
    decoder.build()
    randomize_weights(decoder, 4)
    seen = []
    sample = head.sample

    def recording_sample(logits, temperature, noise):
        seen.append(keras.backend.standardize_dtype(logits.dtype))
        return sample(logits, temperature, noise)

    monkeypatch.setattr(head, "sample", recording_sample)
    rng = np.random.default_rng(5)
    kwargs = {}
    if scheduled:
        kwargs = {
            "teacher_inputs": [tensor(_one_hot(rng, (2, 6), 6))],
            "use_sample": tensor(rng.random((2, 6)) < 0.5, "bool"),
        }
    samples, (logits,) = run_decoding_loop(
        [decoder], tensor(rng.normal(size=(2, 1, 3))), 6, 0.0, _zero_noise([decoder], 2, 6), **kwargs
    )
    assert set(seen) == {"bfloat16" if scheduled else "float32"}
    assert keras.backend.standardize_dtype(logits.dtype) == "bfloat16"
    assert keras.backend.standardize_dtype(samples[0].dtype) == "bfloat16"
    np.testing.assert_array_equal(to_numpy(samples[0]).sum(-1), 1.0)
