"""Every layer under the float32, mixed_float16, mixed_bfloat16 and bfloat16
dtype policies (`testing.run_precision_test`), plus what the layers keep in
float32 by design: the LSTM cell state, the posterior, the heads' losses."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_musicvae.layers import BarDecoder
from keras_musicvae.layers import BidirectionalEncoder
from keras_musicvae.layers import CategoricalHead
from keras_musicvae.layers import Conductor
from keras_musicvae.layers import FlatDecoder
from keras_musicvae.layers import GrooveHead
from keras_musicvae.layers import HierarchicalDecoder
from keras_musicvae.layers import HierarchicalEncoder
from keras_musicvae.layers import InitialStateDense
from keras_musicvae.layers import LatentHead
from keras_musicvae.layers import LSTMStack
from keras_musicvae.layers import MultiStreamCategoricalHead
from keras_musicvae.layers import NadeHead
from keras_musicvae.layers.lstm_recurrence import lstm_gates
from testing import POLICIES
from testing import assert_layer_policy
from testing import dtype_name
from testing import run_precision_test
from testing import to_float64

B, T = 2, 6
RNG = np.random.default_rng(0)


def _normal(*shape):
    return RNG.normal(size=shape).astype("float32")


def _one_hot(depth, *shape):
    return np.eye(depth, dtype="float32")[RNG.integers(0, depth, size=shape)]


def test_lstm_stack():
    run_precision_test(LSTMStack, {"units": [4, 3]}, _normal(B, T, 5))


def test_initial_state_dense():
    run_precision_test(InitialStateDense, {"units": [4, 3]}, _normal(B, 5))


def test_latent_head_computes_in_float32_by_design():
    run_precision_test(LatentHead, {"z_size": 3, "input_dim": 8}, _normal(B, 8), float32_outputs=True)


def test_bidirectional_encoder():
    run_precision_test(
        BidirectionalEncoder,
        {"units": [4, 3], "input_dim": 5},
        (_one_hot(5, B, T),),
        call_kwargs={"lengths": np.array([T, 4], "int32")},
    )


def test_hierarchical_encoder():
    run_precision_test(
        HierarchicalEncoder,
        {"units": [4], "level_lengths": [3, 2], "input_dim": 5},
        (_one_hot(5, B, T),),
        call_kwargs={"lengths": np.array([T, 4], "int32")},
    )


def test_conductor():
    run_precision_test(
        Conductor, {"units": [4, 4], "num_segments": 3, "z_size": 3}, _normal(B, 3)
    )


def _bar_decoder_kwargs(head_factory, control_depth=0):
    def kwargs(policy):
        return {
            "units": [4, 4],
            "head": head_factory(policy),
            "conditioning_dim": 3,
            "control_depth": control_depth,
        }

    return kwargs


HEADS = {
    "categorical": lambda policy: CategoricalHead(5, 4, dtype=policy),
    "multi_categorical": lambda policy: MultiStreamCategoricalHead([3, 2], 4, dtype=policy),
    "groove": lambda policy: GrooveHead(2, 4, dtype=policy),
    "nade": lambda policy: NadeHead(5, 6, 4, dtype=policy),
}


@pytest.mark.parametrize("head", sorted(HEADS))
def test_output_heads(head):
    layer = HEADS[head]("float32")
    run_precision_test(type(layer), _head_kwargs(layer), _normal(B, T, 4))


def _head_kwargs(layer):
    config = layer.get_config()
    for key in ("name", "trainable", "dtype"):
        config.pop(key, None)
    return config


def test_bar_decoder_with_controls():
    run_precision_test(
        BarDecoder,
        _bar_decoder_kwargs(HEADS["categorical"], control_depth=2),
        (_one_hot(5, B, T), _normal(B, 3), _normal(B, T, 2)),
    )


def _flat_decoder_kwargs(head):
    def kwargs(policy):
        decoder = BarDecoder([4, 4], HEADS[head](policy), 3, dtype=policy, name="bar")
        return {"bar_decoders": [decoder], "max_length": T}

    return kwargs


def _hierarchical_decoder_kwargs(policy):
    conductor = Conductor([4, 4], 3, 3, dtype=policy)
    decoders = [
        BarDecoder([4, 4], CategoricalHead(depth, 4, dtype=policy), 4, dtype=policy, name=f"bar_{i}")
        for i, depth in enumerate((3, 2))
    ]
    return {"conductor": conductor, "bar_decoders": decoders, "segment_length": 2}


def test_flat_decoder():
    run_precision_test(
        FlatDecoder,
        _flat_decoder_kwargs("categorical"),
        {"z": _normal(B, 3), "decoder_inputs": _one_hot(5, B, T)},
    )


def test_hierarchical_decoder_with_two_streams():
    run_precision_test(
        HierarchicalDecoder,
        _hierarchical_decoder_kwargs,
        {"z": _normal(B, 3), "decoder_inputs": np.concatenate([_one_hot(3, B, T), _one_hot(2, B, T)], -1)},
    )


# --- the step loop (free running and scheduled sampling) -----------------


def _decode(decoder, z, temperature=1.0, seed=3):
    noises = decoder.make_noise(B, seed, decoder.max_length)
    return decoder.decode(ops.convert_to_tensor(z), temperature, noises)


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("head", sorted(HEADS))
def test_free_running_decoding_in_the_compute_dtype(policy, head):
    decoder = FlatDecoder(**_flat_decoder_kwargs(head)(policy), dtype=policy)
    decoder.build()
    samples, logits = _decode(decoder, _normal(B, 3))
    compute = keras.dtype_policies.get(policy).compute_dtype
    assert dtype_name(samples) == dtype_name(logits) == compute
    values = to_float64(samples)
    assert values.shape == (B, T, decoder.output_depth)
    assert np.all(np.isfinite(values))
    if head == "categorical":
        np.testing.assert_array_equal(values.sum(-1), 1.0)


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "bfloat16"])
def test_hierarchical_decoding_and_scheduled_sampling(policy):
    decoder = HierarchicalDecoder(**_hierarchical_decoder_kwargs(policy), dtype=policy)
    decoder.build()
    samples, logits = _decode(decoder, _normal(B, 3))
    assert dtype_name(samples) == "bfloat16"
    np.testing.assert_array_equal(to_float64(samples).sum(-1), 2.0)  # one-hot per stream
    targets = np.concatenate([_one_hot(3, B, T), _one_hot(2, B, T)], -1)
    logits = decoder(
        _normal(B, 3),
        targets,
        use_sample=np.ones((B, T), bool),
        noise_seed=keras.random.SeedGenerator(1),
    )
    assert dtype_name(logits) == "bfloat16"
    assert np.all(np.isfinite(to_float64(logits)))


def test_mixed_bfloat16_greedy_decoding_agrees_with_float32():
    """Same weights, argmax decoding: the bfloat16 products may flip a
    near-tie, but most steps agree."""
    reference = FlatDecoder(**_flat_decoder_kwargs("categorical")("float32"))
    reference.build()
    mixed = FlatDecoder(**_flat_decoder_kwargs("categorical")("mixed_bfloat16"), dtype="mixed_bfloat16")
    mixed.build()
    rng = np.random.default_rng(1)
    weights = [rng.normal(0, 0.5, w.shape).astype("float32") for w in reference.get_weights()]
    reference.set_weights(weights)
    mixed.set_weights(weights)
    z = rng.normal(size=(16, 3)).astype("float32")
    noises = [ops.zeros((16, T, 5))]
    want, want_logits = reference.decode(ops.convert_to_tensor(z), 0.0, noises)
    got, got_logits = mixed.decode(ops.convert_to_tensor(z), 0.0, noises)
    agreement = np.mean(to_float64(want).argmax(-1) == to_float64(got).argmax(-1))
    assert agreement >= 0.9
    # Until the first disagreement the logits follow float32 closely.
    np.testing.assert_allclose(to_float64(got_logits)[:, 0], to_float64(want_logits)[:, 0], atol=0.1)


# --- what stays float32 ---------------------------------------------------


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_lstm_gates_keep_the_cell_state_in_float32(dtype):
    gates = _normal(B, 16)
    cell = _normal(B, 4)
    h, c = lstm_gates(ops.cast(gates, dtype), ops.cast(cell, dtype))
    assert dtype_name(h) == dtype
    assert dtype_name(c) == "float32"
    h32, c32 = lstm_gates(ops.convert_to_tensor(gates), ops.convert_to_tensor(cell))
    np.testing.assert_allclose(to_float64(c), to_float64(c32), atol=0.05)
    np.testing.assert_allclose(to_float64(h), to_float64(h32), atol=0.05)


@pytest.mark.parametrize("head", sorted(HEADS))
def test_head_losses_and_accuracies_are_float32_and_samples_follow_the_logits(head):
    layer = HEADS[head]("mixed_bfloat16")
    hidden = _normal(B, T, 4)
    logits = layer(hidden)
    assert dtype_name(logits) == "bfloat16"
    targets = np.zeros((B, T, layer.output_depth), "float32")
    targets[..., 0] = 1.0
    loss = layer.step_loss(targets, logits)
    accuracy = layer.step_accuracy(targets, logits)
    assert dtype_name(loss) == dtype_name(accuracy) == "float32"
    sample = layer.sample(logits, 1.0, layer.make_noise((B, T), 0))
    assert dtype_name(sample) == "bfloat16"
    # The float32 loss from bfloat16 logits equals the loss of the same
    # logits in float32 exactly (only the logits are rounded).
    exact = layer.step_loss(targets, ops.cast(logits, "float32"))
    np.testing.assert_allclose(to_float64(loss), to_float64(exact), rtol=1e-6)


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "bfloat16"])
def test_sublayers_get_the_parents_policy(policy):
    encoder = HierarchicalEncoder([4], [3, 2], 5, dtype=policy)
    conductor = Conductor([4, 4], 3, 3, dtype=policy)
    decoder = BarDecoder([4], CategoricalHead(5, 4, dtype=policy), 3, dtype=policy)
    for layer in (encoder, conductor, decoder):
        layer.build()
        assert_layer_policy(layer, policy)
