"""Magenta's evaluation figures (`music_vae_train`'s eval job) for a batch.

Our `evaluate` / `val_loss` decode teacher-forced from `z = mu`. Magenta's
eval job builds the model with `is_training=False` and runs the training
loss graph on held-out batches, which differs in two ways:

* the latent is a sample of the posterior, `z = mu + sigma * eps`, not `mu`;
* a configuration trained with scheduled sampling (any schedule other than
  `constant` at rate 0, e.g. the 2-bar `cat-*` and `nade-*` presets) is
  switched by Magenta's `get_sampling_probability` to sampling probability
  1: after the first step the decoder is fed its own samples, drawn at
  temperature 1 (free running), not the targets. The loss is still the
  cross-entropy of the targets under the logits produced along that path.

The KL weight is read at the model's `global_step`, as Magenta's eval job
reads the checkpoint's. Accuracy is Magenta's `metrics/accuracy`: the
fraction of valid steps whose argmax equals the target's (pooled over the
steps of the batch; for several streams, our heads' per-step accuracy
averaged over the streams).

`magenta_eval_metrics` computes these for one batch; `aggregate` pools the
results of several batches as Magenta's streaming `tf.metrics.mean` do, so
that the figures can be set beside Magenta's TensorBoard eval curves.
"""

import keras
import numpy as np
from keras import ops

from keras_musicvae.models import schedules

_SEQUENCE_MEANS = ("r_loss", "kl_loss", "kl_bits")


def uses_free_running_eval(model):
    """True when Magenta's eval decodes freely for this model's settings."""
    return schedules.uses_scheduled_sampling(model.sampling_schedule, model.sampling_rate)


def magenta_eval_metrics(model, batch, seed=None, posterior_noise=None):
    """Magenta's eval loss and accuracy of one batch (see the module docstring).

    Args:
        model: a `MusicVAE`.
        batch: a batch dict as `model.fit` takes (`inputs`, `targets`,
            `lengths`, and `controls` when the model has them).
        seed: int or `keras.random.SeedGenerator` for the posterior sample
            and the free-running samples (None: a fresh unseeded generator).
        posterior_noise: optional `[B, z_size]` N(0, 1) draws for
            `z = mu + sigma * noise` (overrides `seed` for the latent).

    Returns:
        dict of Python floats: `loss` (`mean(r_loss) + kl_beta *
        mean(kl_loss)`), `r_loss`, `kl_loss`, `kl_bits` (batch means),
        `kl_beta`, `accuracy` (pooled over the valid steps), and for
        `aggregate`: `num_sequences`, `num_steps` (valid steps),
        `free_running` (1.0 when the decoder was fed its own samples).
    """
    if not isinstance(seed, keras.random.SeedGenerator):
        seed = keras.random.SeedGenerator(seed)
    inputs, targets, lengths, controls = model._prepare(batch)
    mu, sigma = model.encode_tensors(inputs, lengths, controls)
    z = model.latent.sample(mu, sigma, seed=seed, noise=posterior_noise)
    free_running = uses_free_running_eval(model)
    use_sample = None
    if free_running:
        use_sample = ops.ones(ops.shape(targets)[:2], dtype="bool")
    logits = model.decoder(
        ops.cast(z, model.compute_dtype),
        model.shift_right(targets),
        controls,
        training=False,
        use_sample=use_sample,
        noise_seed=seed,
    )
    terms = model.loss_terms(batch, {"mu": mu, "sigma": sigma, "logits": logits})
    mask = ops.convert_to_numpy(terms["mask"]).astype("float64")
    correct = ops.convert_to_numpy(terms["step_accuracy"]).astype("float64") * mask
    kl = ops.convert_to_numpy(terms["kl"]).astype("float64")
    num_steps = float(mask.sum())
    return {
        "loss": float(ops.convert_to_numpy(terms["loss"])),
        "r_loss": float(np.mean(ops.convert_to_numpy(terms["r_loss"]))),
        "kl_loss": float(np.mean(ops.convert_to_numpy(terms["kl_cost"]))),
        "kl_bits": float(np.mean(kl / np.log(2.0))),
        "kl_beta": float(ops.convert_to_numpy(terms["beta"])),
        "accuracy": float(correct.sum() / num_steps) if num_steps else float("nan"),
        "num_sequences": float(mask.shape[0]),
        "num_steps": num_steps,
        "free_running": float(free_running),
    }


def aggregate(results):
    """Pools `magenta_eval_metrics` results of several batches.

    Per-sequence figures (`r_loss`, `kl_loss`, `kl_bits`) are averaged over
    all sequences, `accuracy` over all valid steps, `loss` and `kl_beta`
    over the batches weighted by their sequences (Magenta's `tf.metrics.mean`
    of a scalar per batch weighs batches equally; its batches are all of one
    size).

    Args:
        results: a non-empty list of dicts from `magenta_eval_metrics`.

    Returns:
        one dict with the same keys.
    """
    results = list(results)
    if not results:
        raise ValueError("aggregate() needs at least one batch result.")
    sequences = np.array([r["num_sequences"] for r in results])
    steps = np.array([r["num_steps"] for r in results])
    pooled = {}
    for key in _SEQUENCE_MEANS + ("loss", "kl_beta"):
        pooled[key] = float(np.sum([r[key] for r in results] * sequences) / sequences.sum())
    total_steps = steps.sum()
    pooled["accuracy"] = (
        float(np.sum([r["accuracy"] * s for r, s in zip(results, steps) if s]) / total_steps)
        if total_steps
        else float("nan")
    )
    pooled["num_sequences"] = float(sequences.sum())
    pooled["num_steps"] = float(total_steps)
    pooled["free_running"] = float(max(r["free_running"] for r in results))
    return pooled
