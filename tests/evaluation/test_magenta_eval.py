"""`magenta_eval_metrics`: Magenta's eval-job loss and accuracy."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_musicvae.evaluation.magenta_eval import aggregate
from keras_musicvae.evaluation.magenta_eval import magenta_eval_metrics
from keras_musicvae.evaluation.magenta_eval import uses_free_running_eval

from testing import TINY_DEPTH
from testing import TINY_STEPS
from testing import TINY_Z
from testing import tiny_music_vae

DEPTH, STEPS, Z = TINY_DEPTH, TINY_STEPS, TINY_Z


def _model(**overrides):
    keras.utils.set_random_seed(0)
    model = tiny_music_vae(**{"dec_rnn_size": [4], "max_beta": 0.5, "beta_rate": 0.9, **overrides})
    rng = np.random.default_rng(0)
    for w in model.trainable_weights:
        w.assign(rng.normal(0, 0.5, tuple(w.shape)).astype("float32"))
    model.global_step.assign(7)
    return model


def _batch(seed=0, lengths=(6, 4, 2)):
    rng = np.random.default_rng(seed)
    x = np.eye(DEPTH, dtype="float32")[rng.integers(0, DEPTH, size=(len(lengths), STEPS))]
    return {"inputs": x, "targets": x, "lengths": np.asarray(lengths, "int32")}


def _np(x):
    return np.asarray(ops.convert_to_numpy(x), np.float64)


def test_teacher_forced_config_samples_z_and_uses_magentas_loss():
    model = _model()
    batch = _batch()
    noise = np.random.default_rng(1).normal(size=(3, Z)).astype("float32")
    result = magenta_eval_metrics(model, batch, posterior_noise=noise)
    assert result["free_running"] == 0.0
    mu, sigma = (_np(a) for a in model.encode_tensors(batch["inputs"], batch["lengths"]))
    z = mu + sigma * noise
    r_loss = _np(model.reconstruction_loss(z.astype("float32"), batch["targets"], batch["lengths"]))
    kl = np.sum(0.5 * (mu**2 + sigma**2 - 1) - np.log(sigma), -1)
    beta = (1 - 0.9**7) * 0.5
    assert result["kl_beta"] == pytest.approx(beta, rel=1e-5)
    assert result["r_loss"] == pytest.approx(r_loss.mean(), rel=1e-5)
    assert result["kl_bits"] == pytest.approx((kl / np.log(2)).mean(), rel=1e-4)
    assert result["loss"] == pytest.approx(r_loss.mean() + beta * kl.mean(), rel=1e-5)
    # Accuracy pooled over the 12 valid steps, argmax against the target.
    logits = _np(model.teacher_forced_logits(z.astype("float32"), batch["targets"]))
    valid = np.arange(STEPS)[None] < batch["lengths"][:, None]
    correct = logits.argmax(-1) == batch["targets"].argmax(-1)
    assert result["num_steps"] == 12
    assert result["accuracy"] == pytest.approx(correct[valid].mean())
    # z is a sample, not mu: the loss differs from the one at z = mu.
    at_mu = magenta_eval_metrics(model, batch, posterior_noise=np.zeros((3, Z), "float32"))
    assert at_mu["r_loss"] != pytest.approx(result["r_loss"], rel=1e-6)


def test_scheduled_sampling_config_decodes_freely():
    model = _model(sampling_schedule="inverse_sigmoid", sampling_rate=1000.0)
    assert uses_free_running_eval(model)
    batch = _batch()
    noise = np.zeros((3, Z), "float32")
    first = magenta_eval_metrics(model, batch, seed=3, posterior_noise=noise)
    again = magenta_eval_metrics(model, batch, seed=3, posterior_noise=noise)
    assert first == again  # seeded
    assert first["free_running"] == 1.0
    teacher = _model()
    teacher_forced = magenta_eval_metrics(teacher, batch, posterior_noise=noise)
    # Same weights, same z: only the decoder's inputs differ.
    assert first["kl_bits"] == pytest.approx(teacher_forced["kl_bits"], rel=1e-5)
    assert first["r_loss"] != pytest.approx(teacher_forced["r_loss"], rel=1e-4)


def test_free_running_loss_is_the_loss_along_the_sampled_path():
    """The loop feeds back its own samples: with a one-step sequence nothing
    is fed back, so free running equals teacher forcing there."""
    model = _model(sampling_schedule="constant", sampling_rate=0.5)
    batch = _batch(lengths=(1, 1, 1))
    noise = np.zeros((3, Z), "float32")
    free = magenta_eval_metrics(model, batch, seed=0, posterior_noise=noise)
    forced = magenta_eval_metrics(_model(), batch, posterior_noise=noise)
    assert free["r_loss"] == pytest.approx(forced["r_loss"], rel=1e-5)


def test_aggregate_pools_sequences_and_steps():
    model = _model()
    results = [
        magenta_eval_metrics(model, _batch(0, (6, 4, 2)), seed=1),
        magenta_eval_metrics(model, _batch(1, (6, 6)), seed=2),
    ]
    pooled = aggregate(results)
    assert pooled["num_sequences"] == 5 and pooled["num_steps"] == 24
    expected_r = (results[0]["r_loss"] * 3 + results[1]["r_loss"] * 2) / 5
    assert pooled["r_loss"] == pytest.approx(expected_r)
    expected_accuracy = (results[0]["accuracy"] * 12 + results[1]["accuracy"] * 12) / 24
    assert pooled["accuracy"] == pytest.approx(expected_accuracy)
    with pytest.raises(ValueError, match="at least one"):
        aggregate([])
