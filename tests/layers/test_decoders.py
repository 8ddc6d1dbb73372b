"""`FlatDecoder` and `HierarchicalDecoder`."""

import numpy as np
import pytest
from keras import ops

from keras_musicvae.layers.bar_decoder import BarDecoder
from keras_musicvae.layers.conductor import Conductor
from keras_musicvae.layers.decoders import FlatDecoder
from keras_musicvae.layers.decoders import HierarchicalDecoder
from keras_musicvae.layers.decoding import run_decoding_loop as _run_decoding_loop
from keras_musicvae.layers.heads import CategoricalHead
from keras_musicvae.layers.heads import MultiStreamCategoricalHead
from keras_musicvae.layers.heads import NadeHead

from testing import run_serialization_test
from testing import tensor

from .numpy_reference import bar_decoder
from .numpy_reference import compiled
from .numpy_reference import conductor
from .numpy_reference import log_softmax
from .numpy_reference import randomize_weights
from .numpy_reference import to_numpy

ATOL = 1e-5
Z = 3
# One LSTM layer: stacking is tested in test_lstm / test_bar_decoder /
# test_conductor; here each layer would only add a compiled loop per call.
UNITS = [4]


def _call(decoder, z, inputs, controls=None, **kwargs):
    """Teacher-forced logits (one compiled program on JAX)."""
    return compiled(lambda z, x, c: decoder(z, x, c, **kwargs))(z, inputs, controls)


def _decode(decoder, z, temperature, noises):
    return compiled(lambda z, n: decoder.decode(z, temperature, n))(z, noises)


def run_decoding_loop(decoders, conditionings, segment_length, temperature, noises, **kwargs):
    def loop(conditionings, noises, kwargs):
        return _run_decoding_loop(decoders, conditionings, segment_length, temperature, noises, **kwargs)

    return compiled(loop)(conditionings, noises, kwargs)


def _bar(depth, conditioning_dim, control_depth=0, head=None, name=None):
    return BarDecoder(UNITS, head or CategoricalHead(depth, UNITS[-1]), conditioning_dim, control_depth, name=name)


def _flat(depth=6, max_length=8, control_depth=0, head=None, seed=0):
    decoder = FlatDecoder([_bar(depth, Z, control_depth, head)], max_length)
    decoder.build()
    return randomize_weights(decoder, seed)


def _hierarchical(depths=(6,), segments=3, length=4, control_depth=0, seed=0):
    cond = Conductor(UNITS, segments, Z, name="conductor")
    bars = [_bar(d, UNITS[-1], control_depth, name=f"bar_{i}") for i, d in enumerate(depths)]
    decoder = HierarchicalDecoder(cond, bars, length)
    decoder.build()
    return randomize_weights(decoder, seed)


def _one_hot(rng, shape, depth):
    return np.eye(depth)[rng.integers(0, depth, size=shape)]


def _shift_right(x):
    return np.concatenate([np.zeros_like(x[:, :1]), x[:, :-1]], axis=1)


def _zero_noise(decoder, batch, steps):
    return [tensor(np.zeros((batch, steps, h.noise_depth))) for h in decoder.heads]


def test_flat_call_equals_numpy_and_teacher_forced_loop():
    rng = np.random.default_rng(0)
    decoder = _flat(control_depth=2)
    z = rng.normal(size=(2, Z))
    inputs = _shift_right(_one_hot(rng, (2, 8), 6))
    controls = rng.normal(size=(2, 8, 2))
    logits = to_numpy(_call(decoder, tensor(z), tensor(inputs), tensor(controls)))
    np.testing.assert_allclose(
        logits, bar_decoder(decoder.bar_decoders[0], inputs, z, controls), atol=ATOL
    )
    _, (loop_logits,) = run_decoding_loop(
        decoder.bar_decoders, tensor(z[:, None]), 8, 0.0, _zero_noise(decoder, 2, 8),
        controls=tensor(controls), teacher_inputs=[tensor(inputs)],
        use_sample=ops.zeros((2, 8), "bool"),
    )
    np.testing.assert_allclose(to_numpy(loop_logits), logits, atol=ATOL)


def test_hierarchical_call_equals_conductor_plus_bar_decoders():
    rng = np.random.default_rng(1)
    decoder = _hierarchical(control_depth=2)
    z = rng.normal(size=(2, Z))
    targets = _one_hot(rng, (2, 12), 6)
    inputs = _shift_right(targets)
    controls = rng.normal(size=(2, 12, 2))
    logits = to_numpy(_call(decoder, tensor(z), tensor(inputs), tensor(controls)))
    embeddings = conductor(decoder.conductor, z)
    bar = decoder.bar_decoders[0]
    for s in range(3):
        window = slice(4 * s, 4 * s + 4)
        np.testing.assert_allclose(
            logits[:, window],
            bar_decoder(bar, inputs[:, window], embeddings[:, s], controls[:, window]),
            atol=ATOL,
        )
    _, (loop_logits,) = run_decoding_loop(
        decoder.bar_decoders, decoder.segment_conditionings(tensor(z)), 4, 0.0,
        _zero_noise(decoder, 2, 12), controls=tensor(controls),
        teacher_inputs=[tensor(inputs)], use_sample=ops.zeros((2, 12), "bool"),
    )
    np.testing.assert_allclose(to_numpy(loop_logits), logits, atol=ATOL)


def test_hierarchical_segment_starts_with_previous_segments_last_target():
    """With globally shifted inputs, only the last target of segment 0 (the
    first input of segment 1) changes segment 1's first logits."""
    rng = np.random.default_rng(2)
    decoder = _hierarchical()
    z = tensor(rng.normal(size=(1, Z)))
    targets = _one_hot(rng, (1, 12), 6)
    changed = targets.copy()
    changed[0, 3] = np.roll(changed[0, 3], 1)  # last step of segment 0
    a = to_numpy(_call(decoder, z, tensor(_shift_right(targets))))
    b = to_numpy(_call(decoder, z, tensor(_shift_right(changed))))
    np.testing.assert_allclose(a[:, :4], b[:, :4], atol=ATOL)  # segment 0 untouched
    assert not np.allclose(a[:, 4], b[:, 4], atol=1e-4)  # segment 1 reads it first
    np.testing.assert_allclose(a[:, 8:], b[:, 8:], atol=ATOL)  # segment 2 independent


def test_hierarchical_free_running_carries_the_last_sample_across_segments():
    rng = np.random.default_rng(3)
    decoder = _hierarchical()
    z = tensor(rng.normal(size=(2, Z)))
    samples, logits = _decode(decoder, z, 0.0, _zero_noise(decoder, 2, 12))
    teacher = to_numpy(_call(decoder, z, tensor(_shift_right(to_numpy(samples)))))
    np.testing.assert_allclose(to_numpy(logits), teacher, atol=1e-4)


@pytest.mark.parametrize("length", [3, 8, 13])
def test_flat_decoder_decodes_any_length(length):
    rng = np.random.default_rng(4)
    decoder = _flat(max_length=8)
    samples, logits = _decode(
        decoder, tensor(rng.normal(size=(2, Z))), 0.0, _zero_noise(decoder, 2, length)
    )
    assert tuple(samples.shape) == (2, length, 6) and tuple(logits.shape) == (2, length, 6)
    inputs = _one_hot(rng, (2, length), 6)
    assert tuple(_call(decoder, tensor(rng.normal(size=(2, Z))), tensor(inputs)).shape) == (2, length, 6)


def test_hierarchical_decoder_decodes_only_its_max_length():
    decoder = _hierarchical()
    assert decoder.max_length == 12
    z = tensor(np.zeros((1, Z)))
    samples, _ = _decode(decoder, z, 0.0, _zero_noise(decoder, 1, 12))
    assert tuple(samples.shape) == (1, 12, 6)
    with pytest.raises(ValueError, match=r"exactly 12 steps \(3 segments of 4\); got 8"):
        _decode(decoder, z, 0.0, _zero_noise(decoder, 1, 8))
    with pytest.raises(ValueError, match="exactly 12 steps"):
        _call(decoder, z, tensor(np.zeros((1, 16, 6))))


def test_split_streams_each_see_only_their_own_inputs():
    rng = np.random.default_rng(5)
    decoder = _hierarchical(depths=(3, 4))
    assert decoder.output_depth == decoder.logits_depth == 7
    z = rng.normal(size=(2, Z))
    inputs = _shift_right(np.concatenate([_one_hot(rng, (2, 12), 3), _one_hot(rng, (2, 12), 4)], -1))
    logits = to_numpy(_call(decoder, tensor(z), tensor(inputs)))
    embeddings = conductor(decoder.conductor, z)
    for s in range(3):
        window = slice(4 * s, 4 * s + 4)
        np.testing.assert_allclose(
            logits[:, window, :3],
            bar_decoder(decoder.bar_decoders[0], inputs[:, window, :3], embeddings[:, s]),
            atol=ATOL,
        )
        np.testing.assert_allclose(
            logits[:, window, 3:],
            bar_decoder(decoder.bar_decoders[1], inputs[:, window, 3:], embeddings[:, s]),
            atol=ATOL,
        )


def test_step_losses_and_accuracies_over_streams():
    rng = np.random.default_rng(6)
    decoder = _hierarchical(depths=(3, 4))
    targets = np.concatenate([_one_hot(rng, (2, 12), 3), _one_hot(rng, (2, 12), 4)], -1)
    logits = rng.normal(scale=2.0, size=(2, 12, 7))
    loss = to_numpy(decoder.step_losses(tensor(targets), tensor(logits)))
    expected = -np.sum(targets[..., :3] * log_softmax(logits[..., :3]), -1) - np.sum(
        targets[..., 3:] * log_softmax(logits[..., 3:]), -1
    )
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
    right = np.stack(
        [
            logits[..., :3].argmax(-1) == targets[..., :3].argmax(-1),
            logits[..., 3:].argmax(-1) == targets[..., 3:].argmax(-1),
        ],
        -1,
    ).astype(float)
    np.testing.assert_array_equal(to_numpy(decoder.stream_accuracy(tensor(targets), tensor(logits))), right)
    np.testing.assert_allclose(
        to_numpy(decoder.step_accuracy(tensor(targets), tensor(logits))), right.mean(-1)
    )


def test_multi_stream_head_stream_accuracy():
    rng = np.random.default_rng(7)
    head = MultiStreamCategoricalHead([3, 4], UNITS[-1])
    decoder = FlatDecoder([_bar(7, Z, head=head)], 5)
    decoder.build()
    targets = np.concatenate([_one_hot(rng, (2, 5), 3), _one_hot(rng, (2, 5), 4)], -1)
    logits = rng.normal(size=(2, 5, 7))
    assert tuple(decoder.stream_accuracy(tensor(targets), tensor(logits)).shape) == (2, 5, 2)


def test_scheduled_sampling_path_without_sampling_equals_teacher_forcing():
    rng = np.random.default_rng(8)
    decoder = _hierarchical()
    z = tensor(rng.normal(size=(2, Z)))
    inputs = tensor(_shift_right(_one_hot(rng, (2, 12), 6)))
    np.testing.assert_allclose(
        to_numpy(_call(decoder, z, inputs, use_sample=ops.zeros((2, 12), "bool"), noise_seed=1)),
        to_numpy(_call(decoder, z, inputs)),
        atol=ATOL,
    )


def test_nade_scheduled_sampling_is_greedy_free_running():
    """NADE feeds back its greedy samples: all-sampling equals free running."""
    rng = np.random.default_rng(9)
    decoder = _flat(depth=4, head=NadeHead(4, 3, UNITS[-1]))
    z = tensor(rng.normal(size=(2, Z)))
    _, free_logits = _decode(decoder, z, 0.0, _zero_noise(decoder, 2, 6))
    inputs = tensor(_shift_right(rng.integers(0, 2, size=(2, 6, 4)).astype(float)))
    mixed = _call(decoder, z, inputs, use_sample=ops.ones((2, 6), "bool"), noise_seed=3)
    np.testing.assert_allclose(to_numpy(mixed), to_numpy(free_logits), atol=ATOL)


def test_make_noise_shapes():
    decoder = _hierarchical(depths=(3, 4))
    noises = decoder.make_noise(2, seed=1)
    assert [tuple(n.shape) for n in noises] == [(2, 12, 3), (2, 12, 4)]
    flat = _flat(max_length=8, depth=4, head=NadeHead(4, 3, UNITS[-1]))
    assert [tuple(n.shape) for n in flat.make_noise(2, seed=1, length=5)] == [(2, 5, 4)]


def test_streams_draw_different_noise_from_one_int_seed():
    decoder = _hierarchical(depths=(3, 3))
    first, second = (to_numpy(n) for n in decoder.make_noise(2, seed=5))
    assert not np.allclose(first, second)
    again = [to_numpy(n) for n in decoder.make_noise(2, seed=5)]
    np.testing.assert_array_equal(again[0], first)
    np.testing.assert_array_equal(again[1], second)


def _round_trip(decoder):
    clone = run_serialization_test(decoder)
    if not clone.built:
        clone.build()
    clone.set_weights(decoder.get_weights())
    return clone


def test_flat_config_round_trip_gives_identical_outputs():
    rng = np.random.default_rng(10)
    decoder = _flat()
    clone = _round_trip(decoder)
    assert isinstance(clone, FlatDecoder) and clone.max_length == 8
    z, inputs = tensor(rng.normal(size=(2, Z))), tensor(_one_hot(rng, (2, 8), 6))
    np.testing.assert_allclose(to_numpy(_call(clone, z, inputs)), to_numpy(_call(decoder, z, inputs)), atol=0)


def test_hierarchical_config_round_trip_gives_identical_outputs():
    rng = np.random.default_rng(11)
    decoder = _hierarchical(depths=(3, 4))
    clone = _round_trip(decoder)
    assert isinstance(clone, HierarchicalDecoder)
    assert (clone.num_segments, clone.segment_length) == (3, 4)
    z = tensor(rng.normal(size=(2, Z)))
    inputs = tensor(np.concatenate([_one_hot(rng, (2, 12), 3), _one_hot(rng, (2, 12), 4)], -1))
    np.testing.assert_allclose(to_numpy(_call(clone, z, inputs)), to_numpy(_call(decoder, z, inputs)), atol=0)


def test_split_streams_judge_each_stream_with_its_own_head():
    from keras_musicvae.layers.heads import NadeHead

    rng = np.random.default_rng(12)
    decoder = _hierarchical(depths=(3, 2, 4))
    assert decoder.class_logits and decoder.num_streams == 3
    targets = np.concatenate([_one_hot(rng, (2, 12), d) for d in (3, 2, 4)], -1)
    samples = np.concatenate([_one_hot(rng, (2, 12), d) for d in (3, 2, 4)], -1)
    correct = to_numpy(decoder.sample_correct(samples, targets))
    assert correct.shape == (2, 12, 3)
    for i, (a, b) in enumerate([(0, 3), (3, 5), (5, 9)]):
        np.testing.assert_array_equal(correct[..., i], samples[..., a:b].argmax(-1) == targets[..., a:b].argmax(-1))
    nade = _flat(depth=4, head=NadeHead(4, 6, UNITS[-1]))
    assert not nade.class_logits and nade.num_streams == 1
