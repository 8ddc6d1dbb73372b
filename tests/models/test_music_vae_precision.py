"""`MusicVAE` under dtype policies: variables, outputs, loss and training
steps under float32 / mixed_float16 / mixed_bfloat16 / bfloat16; sampling
under bfloat16 and mixed_bfloat16; the policy through configs, `.keras`
files and presets. Tiny sizes throughout."""

import keras
import numpy as np
import pytest

from keras_musicvae.models.music_vae import MusicVAE
from testing import POLICIES
from testing import assert_layer_policy
from testing import dtype_name
from testing import run_precision_test
from testing import TINY_CONFIG
from testing import TINY_DEPTH
from testing import TINY_STEPS
from testing import TINY_Z
from testing import to_float64

DEPTH, STEPS, Z = TINY_DEPTH, TINY_STEPS, TINY_Z

FLAT = dict(
    TINY_CONFIG,
    control_depth=2,
    sampling_schedule="constant",
    sampling_rate=0.5,
    beta_rate=0.5,
    free_bits=0.1,
)

#: One model per architecture family: hierarchical trio (hierarchical
#: encoder, conductor, one bar decoder per stream), NADE and GrooVAE heads.
KINDS = {
    "flat_controls": FLAT,
    "hierarchical_trio": dict(
        input_depth=7,
        output_depth=7,
        max_seq_len=8,
        z_size=Z,
        enc_rnn_size=[4],
        dec_rnn_size=[4],
        encoder_level_lengths=[4, 2],
        decoder_level_lengths=[2, 4],
        output_depths=[3, 2, 2],
        split_streams=True,
    ),
    "nade": dict(
        input_depth=4,
        output_depth=4,
        max_seq_len=STEPS,
        z_size=Z,
        enc_rnn_size=[4],
        dec_rnn_size=[4],
        output_head="nade",
        nade_num_hidden=5,
    ),
    "groove": dict(
        input_depth=6,
        output_depth=6,
        max_seq_len=STEPS,
        z_size=Z,
        enc_rnn_size=[4],
        dec_rnn_size=[4],
        output_head="groove",
    ),
}


def _batch(config, batch=4, seed=0):
    rng = np.random.default_rng(seed)
    steps, depth = config["max_seq_len"], config["input_depth"]
    if config.get("output_head") in ("nade", "groove"):
        x = (rng.random((batch, steps, depth)) < 0.3).astype("float32")
        if config.get("output_head") == "groove":
            x[..., depth // 3 :] = rng.uniform(-0.9, 0.9, (batch, steps, depth - depth // 3))
    elif config.get("output_depths"):
        x = np.concatenate(
            [
                np.eye(d, dtype="float32")[rng.integers(0, d, (batch, steps))]
                for d in config["output_depths"]
            ],
            -1,
        )
    else:
        x = np.eye(depth, dtype="float32")[rng.integers(0, depth, (batch, steps))]
    out = {"inputs": x, "targets": x, "lengths": np.array([steps, steps - 1, 2, steps][:batch], "int32")}
    if config.get("control_depth"):
        c = config["control_depth"]
        out["controls"] = np.eye(c, dtype="float32")[rng.integers(0, c, (batch, steps))]
    return out


def _model(kind, policy, **overrides):
    return MusicVAE(**{**KINDS[kind], **overrides}, dtype=policy)


@pytest.mark.parametrize("policy", POLICIES)
def test_precision(policy):
    """Variables, sublayer policies, outputs (mu, sigma and z float32 by
    design; logits in the compute dtype) and values close to float32 with
    the same weights; the config keeps the policy."""
    batch = _batch(FLAT)
    results = run_precision_test(
        MusicVAE, FLAT, batch, float32_outputs={"mu", "sigma", "z"}, policies=[policy]
    )
    assert set(results[policy]) == {"mu", "sigma", "z", "logits"}


@pytest.mark.parametrize("policy", ["float32", "mixed_float16", "mixed_bfloat16"])
def test_loss_is_float32_and_training_steps_run(policy):
    batch = _batch(FLAT)
    model = _model("flat_controls", policy)
    outputs = model(batch, training=True)
    assert int(keras.ops.convert_to_numpy(model.global_step)) == 1  # a training pass is a step
    terms = model.loss_terms(batch, outputs, step=3)
    for key in ("r_loss", "kl", "kl_cost", "loss", "step_accuracy"):
        assert dtype_name(terms[key]) == "float32", key
    assert np.isfinite(to_float64(terms["loss"]))

    model.compile()
    is_scaled = isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert is_scaled == (policy == "mixed_float16")
    history = model.fit(batch, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert int(keras.ops.convert_to_numpy(model.global_step)) == 3
    assert_layer_policy(model, policy)  # variables still float32
    samples = model.sample(2, seed=0, controls=batch["controls"][0])
    assert samples.dtype == np.float32


def test_mixed_float16_loss_scaling_can_be_turned_off():
    model = _model("flat_controls", "mixed_float16")
    model.compile(auto_scale_loss=False)
    assert not isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)


def test_mixed_bfloat16_loss_close_to_float32():
    batch = _batch(FLAT)
    reference = _model("flat_controls", "float32")
    mixed = _model("flat_controls", "mixed_bfloat16")
    rng = np.random.default_rng(1)
    weights = [
        rng.normal(0, 0.5, w.shape).astype(w.dtype) if w.dtype.kind == "f" else w
        for w in reference.get_weights()
    ]
    reference.set_weights(weights)
    mixed.set_weights(weights)
    want = reference.loss_terms(batch, reference(batch), step=5)
    got = mixed.loss_terms(batch, mixed(batch), step=5)
    for key in ("loss", "r_loss", "kl"):
        np.testing.assert_allclose(to_float64(got[key]), to_float64(want[key]), rtol=0.03, atol=0.02)


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("policy", ["mixed_bfloat16", "bfloat16"])
def test_sampling_encoding_and_decoding(kind, policy):
    config = KINDS[kind]
    model = _model(kind, policy)
    batch = _batch(config, seed=2)
    controls = batch.get("controls")
    samples = model.sample(3, seed=1, controls=None if controls is None else controls[0])
    assert samples.dtype == np.float32
    assert samples.shape == (3, config["max_seq_len"], config["output_depth"])
    assert np.all(np.isfinite(samples))
    if config.get("output_depths"):
        np.testing.assert_array_equal(samples.sum(-1), len(config["output_depths"]))
    elif config.get("output_head", "categorical") == "categorical":
        np.testing.assert_array_equal(samples.sum(-1), 1.0)
    mu, sigma = model.encode(batch["inputs"], batch["lengths"], controls=controls)
    assert mu.dtype == sigma.dtype == np.float32
    assert np.all(sigma > 0)
    decoded, logits = model.decode(mu, temperature=0.0, controls=controls, return_logits=True)
    assert decoded.dtype == logits.dtype == np.float32
    assert np.all(np.isfinite(logits))


@pytest.mark.parametrize("kind", ["hierarchical_trio", "nade", "groove"])
def test_mixed_bfloat16_fit(kind):
    """Two training steps of each architecture family (the flat model is
    trained in `test_loss_is_float32_and_training_steps_run`)."""
    model = _model(kind, "mixed_bfloat16", sampling_schedule="constant", sampling_rate=0.5)
    model.compile()
    history = model.fit(_batch(KINDS[kind]), epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert_layer_policy(model, "mixed_bfloat16")


def test_keras_file_keeps_the_policy(tmp_path):
    model = _model("flat_controls", "mixed_bfloat16")
    path = tmp_path / "model.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    assert_layer_policy(restored, "mixed_bfloat16")
    for a, b in zip(model.get_weights(), restored.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_preset_keeps_the_policy_and_from_preset_overrides_it(tmp_path):
    model = _model("flat_controls", "mixed_bfloat16")
    folder = model.save_to_preset(tmp_path / "preset")
    restored = MusicVAE.from_preset(folder)
    assert_layer_policy(restored, "mixed_bfloat16")
    for a, b in zip(model.get_weights(), restored.get_weights()):
        np.testing.assert_array_equal(a, b)

    inference = MusicVAE.from_preset(folder, dtype="bfloat16")
    assert_layer_policy(inference, "bfloat16")
    for a, b in zip(model.get_weights(), inference.get_weights()):
        np.testing.assert_allclose(np.asarray(b, "float32"), a, rtol=1e-2, atol=1e-6)
    assert inference.sample(2, seed=0, controls=np.eye(2, dtype="float32")[[0] * STEPS]).dtype == np.float32

    assert_layer_policy(MusicVAE.from_preset(folder, dtype="float32"), "float32")

    # A bfloat16 model saves bfloat16 weights; they load back into float32.
    folder16 = inference.save_to_preset(tmp_path / "preset16")
    assert_layer_policy(MusicVAE.from_preset(folder16), "bfloat16")
    widened = MusicVAE.from_preset(folder16, dtype="float32")
    for a, b in zip(inference.get_weights(), widened.get_weights()):
        np.testing.assert_array_equal(np.asarray(a, "float32"), b)


def test_builtin_preset_with_a_policy():
    model = MusicVAE.from_preset("cat-mel_2bar_small", dtype="mixed_bfloat16", load_weights=False)
    assert_layer_policy(model, "mixed_bfloat16")
    with pytest.raises(ValueError, match="dtype|policy|DTypePolicy"):
        MusicVAE.from_preset("cat_mel_2bar_small", dtype="float12", load_weights=False)
