"""`HierarchicalEncoder`: level-by-level NumPy reference, 1-D and 2-D lengths."""

import numpy as np

from keras_musicvae.layers.hierarchical_encoder import HierarchicalEncoder

from testing import run_serialization_test
from testing import tensor

from .numpy_reference import bidirectional_encoder
from .numpy_reference import compiled
from .numpy_reference import encoder_weights
from .numpy_reference import randomize_weights
from .numpy_reference import to_numpy

ATOL = 1e-5


def _encoder(units=(3,), level_lengths=(4, 3), input_dim=2, seed=0, **kwargs):
    encoder = HierarchicalEncoder(list(units), list(level_lengths), input_dim, **kwargs)
    encoder.build()
    return randomize_weights(encoder, seed)


def _call(encoder, inputs, lengths=None, return_level_outputs=False):
    """The encoder's outputs (one compiled program on JAX)."""
    return compiled(
        lambda x, n: encoder(x, lengths=n, return_level_outputs=return_level_outputs)
    )(inputs, lengths)


def _reference(encoder, inputs, chunk_lengths):
    """Level 0 on each chunk with its own length, level 1.. at full length."""
    batch = inputs.shape[0]
    l0 = encoder.level_lengths[0]
    chunks = inputs.reshape(-1, l0, inputs.shape[-1])
    level0 = bidirectional_encoder(
        chunks, encoder_weights(encoder.levels[0]), np.asarray(chunk_lengths).reshape(-1)
    ).reshape(batch, -1, encoder.output_dim)
    sequence = level0
    for level in range(1, len(encoder.levels)):
        length = encoder.level_lengths[level]
        chunks = sequence.reshape(-1, length, sequence.shape[-1])
        sequence = bidirectional_encoder(chunks, encoder_weights(encoder.levels[level])).reshape(
            batch, -1, encoder.output_dim
        )
    return sequence[:, 0], level0


def test_shapes_and_levels():
    encoder = _encoder(units=(3, 2), level_lengths=(4, 3), input_dim=5)
    assert encoder.total_length == 12 and encoder.output_dim == 4
    assert len(encoder.levels) == 2
    assert encoder.levels[0].input_dim == 5 and encoder.levels[1].input_dim == 4
    out, (level0,) = _call(encoder, tensor(np.ones((2, 12, 5))), return_level_outputs=True)
    assert tuple(out.shape) == (2, 4) and tuple(level0.shape) == (2, 3, 4)


def test_two_dimensional_lengths_per_segment():
    rng = np.random.default_rng(1)
    encoder = _encoder()
    inputs = rng.normal(size=(2, 12, 2))
    lengths = np.array([[4, 2, 1], [3, 4, 4]])
    out, (level0,) = _call(
        encoder, tensor(inputs), lengths=tensor(lengths, "int32"), return_level_outputs=True
    )
    expected, expected_level0 = _reference(encoder, inputs, lengths)
    np.testing.assert_allclose(to_numpy(level0), expected_level0, atol=ATOL)
    np.testing.assert_allclose(to_numpy(out), expected, atol=ATOL)


def test_one_dimensional_lengths_are_split_evenly():
    """Magenta: a [B] length becomes `length // num_segments` per segment."""
    rng = np.random.default_rng(2)
    encoder = _encoder()
    inputs = rng.normal(size=(2, 12, 2))
    lengths = np.array([12, 7])  # 7 // 3 = 2 steps in every segment
    out = to_numpy(_call(encoder, tensor(inputs), lengths=tensor(lengths, "int32")))
    expected, _ = _reference(encoder, inputs, [[4, 4, 4], [2, 2, 2]])
    np.testing.assert_allclose(out, expected, atol=ATOL)
    same = to_numpy(
        _call(encoder, tensor(inputs), lengths=tensor([[4, 4, 4], [2, 2, 2]], "int32"))
    )
    np.testing.assert_allclose(out, same, atol=ATOL)


def test_no_lengths_is_full_length():
    rng = np.random.default_rng(3)
    encoder = _encoder()
    inputs = rng.normal(size=(2, 12, 2))
    expected, _ = _reference(encoder, inputs, np.full((2, 3), 4))
    np.testing.assert_allclose(to_numpy(_call(encoder, tensor(inputs))), expected, atol=ATOL)


def test_three_levels():
    rng = np.random.default_rng(4)
    encoder = _encoder(level_lengths=(2, 2, 3))
    inputs = rng.normal(size=(2, 12, 2))
    out, level_outputs = _call(encoder, tensor(inputs), return_level_outputs=True)
    assert [tuple(x.shape) for x in level_outputs] == [(2, 6, 6), (2, 3, 6)]
    expected, _ = _reference(encoder, inputs, np.full((2, 6), 2))
    np.testing.assert_allclose(to_numpy(out), expected, atol=ATOL)


def test_padding_inside_segments_does_not_matter():
    rng = np.random.default_rng(5)
    encoder = _encoder()
    inputs = rng.normal(size=(1, 12, 2))
    lengths = tensor([[2, 3, 1]], "int32")
    noisy = inputs.copy()
    for segment, length in enumerate([2, 3, 1]):
        noisy[0, segment * 4 + length : (segment + 1) * 4] = rng.normal(scale=10.0, size=(4 - length, 2))
    np.testing.assert_allclose(
        to_numpy(_call(encoder, tensor(noisy), lengths=lengths)),
        to_numpy(_call(encoder, tensor(inputs), lengths=lengths)),
        atol=ATOL,
    )


def test_config_round_trip():
    rng = np.random.default_rng(6)
    encoder = _encoder(units=(3,), level_lengths=(4, 3), input_dim=2, dropout_rate=0.2, name="h")
    config = encoder.get_config()
    assert config["level_lengths"] == [4, 3] and config["units"] == [3]
    clone = run_serialization_test(encoder)
    if not clone.built:
        clone.build()
    clone.set_weights(encoder.get_weights())
    inputs = tensor(rng.normal(size=(2, 12, 2)))
    np.testing.assert_allclose(to_numpy(_call(clone, inputs)), to_numpy(_call(encoder, inputs)), atol=0)


def test_input_dim_comes_from_the_first_call_when_not_given():
    inputs = np.random.default_rng(1).normal(size=(2, 12, 2)).astype("float32")
    encoder = HierarchicalEncoder([3], [4, 3])
    output = to_numpy(encoder(tensor(inputs)))
    assert encoder.input_dim == 2 and encoder.levels[0].input_dim == 2 and output.shape == (2, 6)
    explicit = _encoder()
    explicit.set_weights(encoder.get_weights())
    np.testing.assert_allclose(to_numpy(_call(explicit, tensor(inputs))), output, atol=ATOL)
