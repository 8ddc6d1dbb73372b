"""`MusicVAE`: loss against NumPy, training state, memorisation, inference
API, serialisation and error messages. Tiny sizes throughout."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_musicvae.models.music_vae import MusicVAE
from layers.numpy_reference import bar_decoder
from layers.numpy_reference import bidirectional_encoder
from layers.numpy_reference import compiled
from layers.numpy_reference import conductor
from layers.numpy_reference import encoder_weights
from layers.numpy_reference import log_softmax
from layers.numpy_reference import randomize_weights
from layers.numpy_reference import to_numpy
from testing import TINY_DEPTH
from testing import TINY_STEPS
from testing import TINY_Z
from testing import tiny_music_vae

DEPTH, STEPS, Z = TINY_DEPTH, TINY_STEPS, TINY_Z


def _forward(model, batch):
    """`model(batch)` at inference (one compiled program on JAX)."""
    return compiled(lambda b: model(b, training=False))(batch)


def _randomize(model, seed=0):
    for layer in (model.encoder, model.latent, model.decoder):
        randomize_weights(layer, seed)
    return model


def _one_hot_batch(rng, batch, steps, depth, lengths=None, controls_depth=0):
    x = np.eye(depth, dtype="float32")[rng.integers(0, depth, size=(batch, steps))]
    lengths = np.full(batch, steps, "int32") if lengths is None else np.asarray(lengths, "int32")
    out = {"inputs": x, "targets": x, "lengths": lengths}
    if controls_depth:
        out["controls"] = np.eye(controls_depth, dtype="float32")[
            rng.integers(0, controls_depth, size=(batch, steps))
        ]
    return out


def _shift_right(x):
    return np.concatenate([np.zeros_like(x[:, :1]), x[:, :-1]], axis=1)


def _numpy_forward(model, batch):
    """mu, sigma and teacher-forced logits (z = mu) of a flat model, in NumPy."""
    inputs = batch["inputs"].astype(np.float64)
    if model.control_depth:
        inputs = np.concatenate([inputs, batch["controls"]], -1)
    encoding = bidirectional_encoder(inputs, encoder_weights(model.encoder), batch["lengths"])
    mu = encoding @ to_numpy(model.latent.mu_kernel) + to_numpy(model.latent.mu_bias)
    pre = encoding @ to_numpy(model.latent.sigma_kernel) + to_numpy(model.latent.sigma_bias)
    sigma = np.log1p(np.exp(pre))
    logits = bar_decoder(
        model.decoder.bar_decoders[0], _shift_right(batch["targets"]), mu, batch.get("controls")
    )
    return mu, sigma, logits


def _numpy_loss(model, batch, step):
    mu, sigma, logits = _numpy_forward(model, batch)
    targets = batch["targets"]
    cross_entropy = -np.sum(targets * log_softmax(logits), -1)
    mask = np.arange(targets.shape[1])[None] < batch["lengths"][:, None]
    r_loss = np.sum(cross_entropy * mask, axis=1)
    kl = np.sum(0.5 * (mu**2 + sigma**2 - 1.0) - np.log(sigma), -1)
    kl_cost = np.maximum(kl - model.free_bits * np.log(2.0), 0.0)
    beta = (1.0 - float(np.float32(model.beta_rate)) ** step) * model.max_beta
    return {
        "r_loss": r_loss,
        "kl": kl,
        "kl_cost": kl_cost,
        "beta": beta,
        "loss": r_loss.mean() + beta * kl_cost.mean(),
        "mu": mu,
        "sigma": sigma,
        "logits": logits,
    }


@pytest.fixture(scope="module")
def flat_model():
    keras.utils.set_random_seed(0)
    return _randomize(tiny_music_vae(free_bits=0.5, max_beta=0.5, beta_rate=0.9))


@pytest.fixture(scope="module")
def flat_batch():
    return _one_hot_batch(np.random.default_rng(0), 3, STEPS, DEPTH, lengths=[6, 4, 1])


@pytest.fixture(scope="module")
def flat_outputs(flat_model, flat_batch):
    return _forward(flat_model, flat_batch)


# ------------------------------------------------------------------ loss
def test_forward_pass_equals_numpy(flat_model, flat_batch, flat_outputs):
    outputs = flat_outputs
    expected = _numpy_loss(flat_model, flat_batch, 0)
    np.testing.assert_allclose(to_numpy(outputs["mu"]), expected["mu"], atol=1e-5)
    np.testing.assert_allclose(to_numpy(outputs["sigma"]), expected["sigma"], atol=1e-5)
    np.testing.assert_allclose(to_numpy(outputs["z"]), expected["mu"], atol=1e-5)
    np.testing.assert_allclose(to_numpy(outputs["logits"]), expected["logits"], atol=1e-4)


@pytest.mark.parametrize("step", [0, 1, 7, 100])
def test_loss_terms_equal_numpy(flat_model, flat_batch, flat_outputs, step):
    outputs = flat_outputs
    terms = flat_model.loss_terms(flat_batch, outputs, step=step)
    expected = _numpy_loss(flat_model, flat_batch, step)
    for name in ("r_loss", "kl", "kl_cost"):
        np.testing.assert_allclose(to_numpy(terms[name]), expected[name], rtol=1e-4, atol=1e-5)
    assert float(terms["beta"]) == pytest.approx(expected["beta"], rel=1e-5, abs=1e-7)
    assert float(terms["loss"]) == pytest.approx(expected["loss"], rel=1e-5)
    mask = to_numpy(terms["mask"])
    np.testing.assert_array_equal(mask.sum(1), [6, 4, 1])


def test_free_bits_and_steps_past_the_length(flat_model, flat_batch, flat_outputs):
    outputs = flat_outputs
    kl = _numpy_loss(flat_model, flat_batch, 0)["kl"]
    # Free bits at the largest KL: every kl_cost is zero, the loss is the r_loss.
    saved = flat_model.free_bits
    try:
        flat_model.free_bits = float(kl.max() / np.log(2.0)) + 1e-3
        terms = flat_model.loss_terms(flat_batch, outputs, step=50)
        np.testing.assert_array_equal(to_numpy(terms["kl_cost"]), 0.0)
        assert float(terms["loss"]) == pytest.approx(float(np.mean(to_numpy(terms["r_loss"]))), rel=1e-6)
    finally:
        flat_model.free_bits = saved
    # Targets after a sequence's length do not count.
    changed = dict(flat_batch)
    changed["targets"] = flat_batch["targets"].copy()
    changed["targets"][1, 4:] = np.roll(changed["targets"][1, 4:], 1, axis=-1)
    a = to_numpy(flat_model.loss_terms(flat_batch, outputs, step=1)["r_loss"])
    b = to_numpy(flat_model.loss_terms(changed, outputs, step=1)["r_loss"])
    np.testing.assert_allclose(a, b, rtol=1e-6)


def test_compute_loss_uses_the_global_step(flat_batch):
    model = _randomize(tiny_music_vae(free_bits=0.0, max_beta=0.5, beta_rate=0.9), seed=3)
    loss = float(model.compute_loss(x=flat_batch, training=False))
    # global_step 0: beta = (1 - 0.9 ** 0) * 0.5 = 0.
    expected = _numpy_loss(model, flat_batch, 0)
    assert loss == pytest.approx(expected["r_loss"].mean(), rel=1e-5)
    model.global_step.assign(20)
    loss = float(model.compute_loss(x=flat_batch, training=False))
    assert loss == pytest.approx(_numpy_loss(model, flat_batch, 20)["loss"], rel=1e-5)
    assert int(to_numpy(model.global_step)) == 20  # evaluation does not advance it


def test_the_training_forward_pass_owns_the_step(flat_batch):
    """The step counter advances in the training forward pass only, whose
    step the loss then reads; computing a loss changes no state."""
    model = _randomize(tiny_music_vae(free_bits=0.0, max_beta=0.5, beta_rate=0.9), seed=3)
    model.global_step.assign(20)
    outputs = model(flat_batch, training=True)
    assert int(to_numpy(outputs["step"])) == 20
    assert int(to_numpy(model.global_step)) == 21
    outputs["z"] = outputs["mu"]  # the numbers below are those of z = mu
    outputs["logits"] = model(flat_batch)["logits"]
    loss = float(model.compute_loss(x=flat_batch, y_pred=outputs))
    assert loss == pytest.approx(_numpy_loss(model, flat_batch, 20)["loss"], rel=1e-5)
    assert int(to_numpy(model.global_step)) == 21
    assert "step" not in model(flat_batch)  # inference: no step, no advance
    assert int(to_numpy(model.global_step)) == 21


def test_hierarchical_forward_pass_equals_numpy():
    """Conductor + bar decoder; the decoder inputs are shifted over the whole
    sequence, so segment i > 0 starts from the last target of segment i - 1."""
    rng = np.random.default_rng(11)
    model = _randomize(tiny_music_vae(max_seq_len=8, decoder_level_lengths=[2, 4]), seed=6)
    batch = _one_hot_batch(rng, 2, 8, DEPTH)
    shifted = to_numpy(model.shift_right(ops.convert_to_tensor(batch["targets"])))
    np.testing.assert_array_equal(shifted[:, 4], batch["targets"][:, 3])
    np.testing.assert_array_equal(shifted[:, 0], 0.0)
    outputs = _forward(model, batch)
    encoding = bidirectional_encoder(batch["inputs"], encoder_weights(model.encoder))
    mu = encoding @ to_numpy(model.latent.mu_kernel) + to_numpy(model.latent.mu_bias)
    embeddings = conductor(model.decoder.conductor, mu)
    bar = model.decoder.bar_decoders[0]
    expected = np.concatenate(
        [bar_decoder(bar, shifted[:, 4 * s : 4 * s + 4], embeddings[:, s]) for s in range(2)], axis=1
    )
    np.testing.assert_allclose(to_numpy(outputs["logits"]), expected, atol=1e-4)


def test_reconstruction_loss_equals_numpy(flat_model, flat_batch):
    expected = _numpy_loss(flat_model, flat_batch, 0)
    r_loss = flat_model.reconstruction_loss(
        expected["mu"].astype("float32"), flat_batch["targets"], flat_batch["lengths"]
    )
    np.testing.assert_allclose(to_numpy(r_loss), expected["r_loss"], rtol=1e-4)


# -------------------------------------------------------------- training
def test_global_step_and_metrics_in_fit_and_evaluate():
    """global_step advances once per training step (not in evaluation); the
    logged metrics follow Magenta's schedules at each step."""
    rng = np.random.default_rng(1)
    model = tiny_music_vae(sampling_schedule="constant", sampling_rate=1.0, max_beta=0.3, beta_rate=0.0)
    model.compile()
    batch = _one_hot_batch(rng, 6, STEPS, DEPTH)
    assert int(to_numpy(model.global_step)) == 0
    history = model.fit(batch, batch_size=2, epochs=1, verbose=0, shuffle=False)
    assert int(to_numpy(model.global_step)) == 3
    assert int(to_numpy(model.optimizer.iterations)) == 3
    for name in ("loss", "r_loss", "kl_loss", "kl_bits", "kl_beta", "accuracy", "sampling_probability"):
        assert name in history.history, name
    # beta = (1 - 0 ** step) * 0.3 at steps 0, 1, 2: the epoch mean is 0.2.
    assert history.history["kl_beta"][-1] == pytest.approx(0.2, rel=1e-5)
    # Scheduled sampling in training only; evaluation is teacher-forced.
    assert history.history["sampling_probability"][-1] == pytest.approx(1.0)
    result = model.evaluate(batch, batch_size=2, verbose=0, return_dict=True)
    assert int(to_numpy(model.global_step)) == 3
    assert result["sampling_probability"] == 0.0
    assert result["kl_beta"] == pytest.approx(0.3)
    assert 0.0 <= result["accuracy"] <= 1.0
    assert result["kl_bits"] == pytest.approx(
        float(np.mean(_numpy_loss(model, batch, 0)["kl"])) / np.log(2.0), rel=1e-4
    )
    model.train_on_batch(batch)
    assert int(to_numpy(model.global_step)) == 4


def test_compile_default_optimizer_is_magentas():
    from keras_musicvae.models.optimizer import MusicVAEAdam
    from keras_musicvae.models.schedules import MagentaLearningRate

    model = tiny_music_vae(learning_rate=0.002, decay_rate=0.99, min_learning_rate=1e-4, grad_clip=2.0)
    model.compile()
    assert isinstance(model.optimizer, MusicVAEAdam)
    assert model.optimizer.grad_clip == 2.0 and model.optimizer.grad_norm_clip_to_zero == 10000.0
    schedule = model.optimizer._learning_rate
    assert isinstance(schedule, MagentaLearningRate)
    assert (schedule.learning_rate, schedule.decay_rate, schedule.min_learning_rate) == (0.002, 0.99, 1e-4)


def _memorise(model, batch, steps):
    repeated = {k: np.concatenate([v] * steps) for k, v in batch.items()}
    model.compile()
    model.fit(repeated, batch_size=len(batch["inputs"]), epochs=1, verbose=0, shuffle=False)
    return model.evaluate(batch, verbose=0, return_dict=True)


# Learning rate 3e-2 (no decay) and a small KL weight: 8 random sequences are
# memorised in about 100 steps; 150 leaves a margin.
MEMORISE = dict(learning_rate=3e-2, decay_rate=1.0, max_beta=0.01, z_size=8, enc_rnn_size=[32], dec_rnn_size=[32, 32])


def test_fit_memorises_eight_flat_sequences():
    keras.utils.set_random_seed(0)
    batch = _one_hot_batch(np.random.default_rng(0), 8, 32, 90)
    model = MusicVAE(input_depth=90, output_depth=90, max_seq_len=32, **MEMORISE)
    result = _memorise(model, batch, 150)
    assert result["accuracy"] > 0.95, result
    # Greedy reconstructions agree with the teacher-forced accuracy.
    reconstruction = model.reconstruct(batch["inputs"])
    assert np.mean(reconstruction.argmax(-1) == batch["targets"].argmax(-1)) > 0.9


def test_fit_memorises_eight_hierarchical_sequences():
    keras.utils.set_random_seed(0)
    batch = _one_hot_batch(np.random.default_rng(1), 8, 64, 90)
    model = MusicVAE(
        input_depth=90,
        output_depth=90,
        max_seq_len=64,
        decoder_level_lengths=[4, 16],
        **MEMORISE,
    )
    result = _memorise(model, batch, 150)
    assert result["accuracy"] > 0.95, result


# ------------------------------------------------------------- inference
def test_decode_and_sample_are_deterministic_per_seed(flat_model):
    z = np.random.default_rng(3).normal(size=(4, Z)).astype("float32")
    a = flat_model.decode(z, temperature=1.0, seed=1)
    b = flat_model.decode(z, temperature=1.0, seed=1)
    c = flat_model.decode(z, temperature=1.0, seed=2)
    assert a.shape == (4, STEPS, DEPTH)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    s1, s2, s3 = (flat_model.sample(4, temperature=1.0, seed=s) for s in (5, 5, 6))
    np.testing.assert_array_equal(s1, s2)
    assert not np.array_equal(s1, s3)
    np.testing.assert_array_equal(s1.sum(-1), 1.0)


def test_greedy_decode_is_the_argmax_and_ignores_the_seed(flat_model):
    z = np.random.default_rng(4).normal(size=(3, Z)).astype("float32")
    samples, logits = flat_model.decode(z, temperature=0, seed=1, return_logits=True)
    np.testing.assert_array_equal(samples.argmax(-1), logits.argmax(-1))
    np.testing.assert_array_equal(samples, flat_model.decode(z, temperature=None, seed=9))
    # Consistent with teacher forcing on its own samples.
    teacher = to_numpy(flat_model.teacher_forced_logits(z, samples))
    np.testing.assert_allclose(teacher, logits, atol=1e-4)


def test_flat_models_decode_and_encode_any_length_in_turn(flat_model):
    """One model, several lengths one after another (each compiled function
    must handle a new length, not only the first one it saw)."""
    z = np.zeros((2, Z), "float32")
    for length in (STEPS, 11):
        assert flat_model.decode(z, temperature=0, length=length).shape == (2, length, DEPTH)
    rng = np.random.default_rng(10)
    for steps in (STEPS, 4):
        batch = _one_hot_batch(rng, 2, steps, DEPTH)
        mu, _ = flat_model.encode(batch["inputs"])
        np.testing.assert_allclose(mu, _numpy_forward(flat_model, batch)[0], atol=1e-5)


def test_start_tokens(flat_model):
    z = np.random.default_rng(5).normal(size=(2, Z)).astype("float32")
    start = np.eye(DEPTH, dtype="float32")[[1, 3]]
    samples, logits = flat_model.decode(z, temperature=0, start_tokens=start, return_logits=True)
    fed = np.concatenate([start[:, None], samples[:, :-1]], axis=1)
    expected = bar_decoder(flat_model.decoder.bar_decoders[0], fed, z)
    np.testing.assert_allclose(logits, expected, atol=1e-4)


def test_encode_single_and_batched(flat_model, flat_batch):
    mu, sigma = flat_model.encode(flat_batch["inputs"], lengths=flat_batch["lengths"])
    expected = _numpy_loss(flat_model, flat_batch, 0)
    np.testing.assert_allclose(mu, expected["mu"], atol=1e-5)
    np.testing.assert_allclose(sigma, expected["sigma"], atol=1e-5)
    mu0, sigma0 = flat_model.encode(flat_batch["inputs"][1], lengths=4)
    assert mu0.shape == (Z,)
    np.testing.assert_allclose(mu0, expected["mu"][1], atol=1e-5)
    reconstruction = flat_model.reconstruct(flat_batch["inputs"][0])
    assert reconstruction.shape == (STEPS, DEPTH)


def _slerp(a, b, t):
    omega = np.arccos(np.clip(np.dot(a / np.linalg.norm(a), b / np.linalg.norm(b)), -1, 1))
    return (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)


def test_interpolate_endpoints_and_slerp(flat_model, flat_batch):
    start, end = flat_batch["inputs"][0], flat_batch["inputs"][1]
    mu = flat_model.encode(np.stack([start, end]))[0]
    seen = []
    original = flat_model.decode

    def spy(z, *args, **kwargs):
        seen.append(np.array(z))
        return original(z, *args, **kwargs)

    flat_model.decode = spy
    try:
        out = flat_model.interpolate(start, end, num_steps=5, temperature=0)
    finally:
        del flat_model.decode
    assert out.shape == (5, STEPS, DEPTH)
    np.testing.assert_array_equal(out[0], flat_model.decode(mu[:1], temperature=0)[0])
    np.testing.assert_array_equal(out[-1], flat_model.decode(mu[1:], temperature=0)[0])
    (z,) = seen
    expected = np.stack([_slerp(mu[0], mu[1], t) for t in np.linspace(0, 1, 5)])
    np.testing.assert_allclose(z, expected, atol=1e-5)
    norms = np.linalg.norm(z, axis=-1)
    np.testing.assert_allclose(norms, np.linalg.norm(expected, axis=-1), rtol=1e-5)
    # Spherical, not linear: the midpoint is further out than the chord's.
    assert norms[2] > np.linalg.norm((mu[0] + mu[1]) / 2) + 1e-6


def test_interpolate_rejects_fewer_than_two_points(flat_model, flat_batch):
    with pytest.raises(ValueError, match="num_steps must be at least 2"):
        flat_model.interpolate(flat_batch["inputs"][0], flat_batch["inputs"][1], num_steps=1)


def test_hierarchical_decode_only_at_max_length():
    model = tiny_music_vae(max_seq_len=8, decoder_level_lengths=[2, 4])
    z = np.zeros((1, Z), "float32")
    assert model.decode(z, temperature=0).shape == (1, 8, DEPTH)
    with pytest.raises(ValueError, match="exactly 8 steps"):
        model.decode(z, temperature=0, length=6)


# ------------------------------------------------------- serialisation
def test_keras_file_round_trip(tmp_path, flat_batch):
    rng = np.random.default_rng(6)
    model = _randomize(tiny_music_vae(control_depth=2), seed=4)
    batch = _one_hot_batch(rng, 2, STEPS, DEPTH, controls_depth=2)
    model.global_step.assign(17)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, MusicVAE)
    assert int(to_numpy(loaded.global_step)) == 17
    assert loaded.get_config() == model.get_config()
    a, b = _forward(model, batch), _forward(loaded, batch)
    for key in ("mu", "sigma", "logits"):
        np.testing.assert_array_equal(to_numpy(a[key]), to_numpy(b[key]))


def test_config_round_trip(flat_model, flat_batch, flat_outputs):
    config = flat_model.get_config()
    clone = MusicVAE.from_config(config)
    assert clone.get_config() == config
    clone.set_weights(flat_model.get_weights())
    a, b = flat_outputs, _forward(clone, flat_batch)
    np.testing.assert_array_equal(to_numpy(a["logits"]), to_numpy(b["logits"]))
    np.testing.assert_array_equal(to_numpy(a["mu"]), to_numpy(b["mu"]))


def test_summary_and_count_params_after_construction():
    model = tiny_music_vae(enc_rnn_size=[4], dec_rnn_size=[3, 2], z_size=2)
    lines = []
    model.summary(print_fn=lambda line, *args, **kwargs: lines.append(line))
    text = "\n".join(lines)
    assert "encoder" in text and "decoder" in text and "latent" in text
    # Magenta's parameter count (LSTM kernels [in + H, 4H]) for these sizes.
    lstm = lambda i, h: (i + h) * 4 * h + 4 * h  # noqa: E731
    expected = (
        2 * lstm(DEPTH, 4)  # encoder fw + bw
        + 2 * (8 * 2 + 2)  # mu, sigma
        + (2 * (2 * (3 + 2)) + 2 * (3 + 2))  # z_to_initial_state
        + lstm(DEPTH + 2, 3) + lstm(3, 2)  # decoder cells
        + (2 * DEPTH + DEPTH)  # output projection
    )
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == expected
    assert model.count_params() == sum(int(np.prod(w.shape)) for w in model.weights)


# ---------------------------------------------------------------- errors
def test_wrong_input_depth(flat_model, flat_batch):
    bad = dict(flat_batch, inputs=flat_batch["inputs"][..., :4])
    with pytest.raises(ValueError, match=r"'inputs' must be \[batch, time, 5\]"):
        flat_model(bad)
    bad = dict(flat_batch, targets=np.zeros((3, STEPS, 7), "float32"))
    with pytest.raises(ValueError, match=r"'targets' must be \[batch, time, 5\]"):
        flat_model(bad)
    with pytest.raises(ValueError, match=r"inputs must be \[batch, time, 5\]"):
        flat_model.encode(np.zeros((2, STEPS, 4)))


def test_bad_batches(flat_model, flat_batch):
    with pytest.raises(TypeError, match="dict batch"):
        flat_model((flat_batch["inputs"], flat_batch["targets"]))
    with pytest.raises(ValueError, match=r"lacks \['targets'\]"):
        flat_model({"inputs": flat_batch["inputs"]})


def test_bad_decode_arguments(flat_model):
    with pytest.raises(ValueError, match=r"z must be \[batch, 3\]"):
        flat_model.decode(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="temperature must be >= 0"):
        flat_model.decode(np.zeros((2, Z)), temperature=-1.0)
    with pytest.raises(ValueError, match="takes no controls"):
        flat_model.decode(np.zeros((2, Z)), controls=np.zeros((STEPS, 2)))


def test_missing_or_bad_controls():
    rng = np.random.default_rng(7)
    model = tiny_music_vae(control_depth=2)
    batch = _one_hot_batch(rng, 2, STEPS, DEPTH, controls_depth=2)
    no_controls = {k: v for k, v in batch.items() if k != "controls"}
    with pytest.raises(ValueError, match="needs 'controls'"):
        model(no_controls)
    with pytest.raises(ValueError, match="conditioned on controls of depth 2"):
        model.decode(np.zeros((1, Z)))
    with pytest.raises(ValueError, match="controls must cover 6 steps of depth 2"):
        model.decode(np.zeros((1, Z)), controls=np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"'controls' must be \[batch, time, 2\]"):
        model(dict(batch, controls=np.zeros((2, STEPS, 3), "float32")))


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"output_head": "softmax"}, "Unknown output_head 'softmax'"),
        ({"output_head": "multi_categorical"}, "output_depths is required"),
        ({"output_head": "multi_categorical", "output_depths": [2, 2]}, "must sum to output_depth 5"),
        ({"split_streams": True, "output_depths": [2, 3]}, "split_streams needs a hierarchical decoder"),
        ({"output_head": "groove"}, "needs output_depth = 3 x instruments; got 5"),
        ({"encoder_level_lengths": [2, 2]}, r"product of encoder_level_lengths \[2, 2\] must equal max_seq_len 6"),
        ({"decoder_level_lengths": [4, 2]}, "product of decoder_level_lengths"),
        ({"max_seq_len": 8, "decoder_level_lengths": [2, 2, 2]}, r"must be \[num_segments, segment_length\]"),
        ({"dropout_keep_prob": 0.0}, r"dropout_keep_prob must be in \(0, 1\]"),
        ({"sampling_schedule": "linear"}, "Unknown sampling_schedule"),
        ({"sampling_schedule": "inverse_sigmoid", "sampling_rate": 0.5}, "at least 1"),
        ({"enc_rnn_size": None}, "enc_rnn_size must be a list of ints"),
    ],
)
def test_bad_hyperparameters(overrides, message):
    with pytest.raises(ValueError, match=message):
        tiny_music_vae(**overrides)


@pytest.mark.parametrize(
    "overrides, name",
    [
        ({"enc_rnn_size": []}, "enc_rnn_size"),
        ({"dec_rnn_size": []}, "dec_rnn_size"),
        ({"enc_rnn_size": "big"}, "enc_rnn_size"),
        ({"z_size": 0}, "z_size"),
        ({"max_seq_len": 0}, "max_seq_len"),
        ({"input_depth": -1}, "input_depth"),
        ({"control_depth": -1}, "control_depth"),
    ],
    ids=["empty_enc", "empty_dec", "string_enc", "zero_z", "zero_length", "negative_input", "negative_controls"],
)
def test_nonsense_sizes_are_rejected_naming_the_hyperparameter(overrides, name):
    with pytest.raises(ValueError, match=name):
        tiny_music_vae(**overrides)


# --------------------------------------------------------------- controls
def test_controls_path():
    rng = np.random.default_rng(8)
    model = _randomize(tiny_music_vae(control_depth=3), seed=5)
    batch = _one_hot_batch(rng, 2, STEPS, DEPTH, controls_depth=3)
    expected = _numpy_loss(model, batch, 0)
    outputs = _forward(model, batch)
    np.testing.assert_allclose(to_numpy(outputs["mu"]), expected["mu"], atol=1e-5)
    np.testing.assert_allclose(to_numpy(outputs["logits"]), expected["logits"], atol=1e-4)
    # Controls reach the encoder and the decoder.
    other = dict(batch, controls=np.roll(batch["controls"], 1, axis=-1))
    assert not np.allclose(to_numpy(_forward(model, other)["mu"]), to_numpy(outputs["mu"]), atol=1e-4)
    mu, _ = model.encode(batch["inputs"], controls=batch["controls"])
    np.testing.assert_allclose(mu, expected["mu"], atol=1e-5)
    # One control sequence [T, C] is shared by the batch when decoding.
    z = rng.normal(size=(2, Z)).astype("float32")
    shared = model.decode(z, temperature=0, controls=batch["controls"][0])
    explicit = model.decode(z, temperature=0, controls=np.stack([batch["controls"][0]] * 2))
    np.testing.assert_array_equal(shared, explicit)
    assert model.reconstruct(batch["inputs"], controls=batch["controls"]).shape == (2, STEPS, DEPTH)


# ----------------------------------------------- per-segment (2-D) lengths
def test_step_mask_with_per_segment_lengths():
    model = tiny_music_vae(max_seq_len=8, encoder_level_lengths=[4, 2], decoder_level_lengths=[2, 4])
    mask = to_numpy(model.step_mask(ops.convert_to_tensor(np.array([[4, 1], [2, 0]], "int32")), 8))
    np.testing.assert_array_equal(
        mask, [[1, 1, 1, 1, 1, 0, 0, 0], [1, 1, 0, 0, 0, 0, 0, 0]]
    )
    rng = np.random.default_rng(9)
    batch = _one_hot_batch(rng, 2, 8, DEPTH)
    batch["lengths"] = np.array([[4, 1], [2, 0]], "int32")
    logits = rng.normal(size=(2, 8, DEPTH)).astype("float32")
    outputs = {
        "logits": ops.convert_to_tensor(logits),
        "mu": ops.convert_to_tensor(np.zeros((2, Z), "float32")),
        "sigma": ops.convert_to_tensor(np.ones((2, Z), "float32")),
    }
    terms = model.loss_terms(batch, outputs, step=0)
    cross_entropy = -np.sum(batch["targets"] * log_softmax(logits), -1)
    np.testing.assert_allclose(to_numpy(terms["r_loss"]), (cross_entropy * mask).sum(1), rtol=1e-5)


def test_flat_encoder_with_per_segment_lengths_reads_up_to_the_last_segment():
    model = tiny_music_vae(max_seq_len=8)
    lengths = ops.convert_to_tensor(np.array([[4, 1], [2, 0], [0, 0]], "int32"))
    np.testing.assert_array_equal(to_numpy(model._encoder_lengths(lengths, 8)), [8, 4, 0])


# ------------------------------------------------ reproducible training
def test_posterior_noise_in_the_batch_sets_the_training_sample(flat_model, flat_batch):
    noise = np.random.default_rng(4).normal(size=(3, Z)).astype("float32")
    outputs = flat_model({**flat_batch, "posterior_noise": noise}, training=True)
    mu, sigma = to_numpy(outputs["mu"]), to_numpy(outputs["sigma"])
    np.testing.assert_allclose(to_numpy(outputs["z"]), mu + sigma * noise, atol=1e-6)
    # Ignored outside training (z = mu).
    outputs = flat_model({**flat_batch, "posterior_noise": noise}, training=False)
    np.testing.assert_allclose(to_numpy(outputs["z"]), to_numpy(outputs["mu"]))
    with pytest.raises(ValueError, match=r"posterior noise must be \[batch, 3\]"):
        flat_model({**flat_batch, "posterior_noise": noise[:, :2]}, training=True)


def test_train_on_batch_with_the_same_posterior_noise_is_reproducible(flat_batch):
    losses = []
    noise = np.random.default_rng(5).normal(size=(3, Z)).astype("float32")
    for _ in range(2):
        keras.utils.set_random_seed(1)
        model = tiny_music_vae()
        model.compile()
        logs = model.train_on_batch({**flat_batch, "posterior_noise": noise}, return_dict=True)
        losses.append(logs["loss"])
    assert losses[0] == pytest.approx(losses[1], rel=1e-6)


def test_make_optimizer_continues_the_learning_rate_from_the_global_step():
    model = tiny_music_vae(learning_rate=1e-3, decay_rate=0.5, min_learning_rate=0.0)
    model.global_step.assign(3)
    optimizer = model.make_optimizer(track_global_norm=True)
    assert optimizer.track_global_norm
    assert optimizer._learning_rate.initial_step == 3
    # Iteration 0 of a fresh optimizer reads the rate of step 3.
    assert float(ops.convert_to_numpy(optimizer.learning_rate)) == pytest.approx(1e-3 * 0.5**3)
    assert model.make_optimizer(initial_step=0)._learning_rate.initial_step == 0


@pytest.mark.parametrize("hierarchical", [False, True])
def test_lstm_initializer_reaches_every_lstm(hierarchical):
    kwargs = dict(lstm_initializer="magenta")
    if hierarchical:
        kwargs.update(max_seq_len=4, encoder_level_lengths=[2, 2], decoder_level_lengths=[2, 2])
    model = tiny_music_vae(**kwargs)
    found = [
        layer.kernel_initializer
        for layer in model._flatten_layers(include_self=False, recursive=True)
        if hasattr(layer, "kernel_initializer") and isinstance(layer.kernel_initializer, str)
    ]
    assert found and set(found) == {"magenta"}
    names = {type(layer).__name__ for layer in model._flatten_layers(include_self=False, recursive=True)}
    if hierarchical:
        assert {"HierarchicalEncoder", "Conductor"} <= names
    assert MusicVAE.from_config(model.get_config()).lstm_initializer == "magenta"
    assert tiny_music_vae().lstm_initializer == "keras"
    with pytest.raises(ValueError, match="kernel_initializer 'xavier'"):
        tiny_music_vae(lstm_initializer="xavier")


def test_builtin_presets_train_from_magentas_initialisation():
    from keras_musicvae.presets import load_preset_config

    assert load_preset_config("cat_mel_2bar_small")["lstm_initializer"] == "magenta"


def test_scheduled_sampling_training_applies_decoder_dropout(flat_batch):
    """The step loop of scheduled sampling drops out like teacher forcing:
    with the sampling draws replayed (and the encoder's dropout off), two
    training passes differ through the decoder's dropout alone."""
    keras.utils.set_random_seed(2)
    model = _randomize(tiny_music_vae(sampling_schedule="constant", sampling_rate=0.5, dropout_keep_prob=0.5))
    model.encoder.dropout_rate = 0.0
    batch = {**flat_batch, "posterior_noise": np.zeros((3, Z), "float32")}
    generators = [model.decoder.bar_decoders[0].lstm._seed_generator, model._seed_generator]
    saved = [np.array(ops.convert_to_numpy(g.state), copy=True) for g in generators]

    def replay(generators_to_restore, global_seed=None):
        for generator, state in zip(generators, saved):
            if generator in generators_to_restore:
                generator.state.assign(state)
        if global_seed is not None:
            # Keras' torch dropout draws from torch's global RNG for an
            # unseeded generator; TensorFlow and JAX read the state above.
            keras.utils.set_random_seed(global_seed)
        return to_numpy(model(batch, training=True)["logits"])

    first = replay([], global_seed=5)
    other_decoder_masks = replay([generators[1]])
    same_masks = replay(generators, global_seed=5)
    np.testing.assert_allclose(same_masks, first, atol=1e-6)
    assert np.abs(other_decoder_masks - first).max() > 1e-4
    model.compile()
    logs = model.train_on_batch(batch, return_dict=True)
    assert np.isfinite(logs["loss"])


def test_align_learning_rate_to_step_after_a_restore():
    """A model compiled at step 0 then given a checkpoint's state (step 45,
    optimizer at iteration 5: a run that started from a step-40 model)."""
    model = tiny_music_vae(learning_rate=1e-3, decay_rate=0.5, min_learning_rate=0.0)
    model.compile()
    model.optimizer.build(model.trainable_variables)
    model.global_step.assign(45)
    model.optimizer.iterations.assign(5)
    assert model.align_learning_rate_to_step() == 40
    assert float(ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(1e-3 * 0.5**45)
    model.compile(optimizer="sgd")
    assert model.align_learning_rate_to_step() is None
