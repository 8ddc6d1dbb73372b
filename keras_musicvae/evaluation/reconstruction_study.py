"""Table 1: teacher-forced and sampled reconstruction accuracy."""

import time

import numpy as np

from keras_musicvae.evaluation.magenta_eval import aggregate
from keras_musicvae.evaluation.magenta_eval import magenta_eval_metrics
from keras_musicvae.evaluation.model_runner import has_class_logits
from keras_musicvae.evaluation.model_runner import accuracies
from keras_musicvae.evaluation.model_runner import majority_accuracy
from keras_musicvae.evaluation.settings import StudyOutcome


def reconstruction_study(runner, examples, sample_temperature=1.0, seed=0):
    """Table 1: teacher-forced and sampled per-step accuracy.

    Returns:
        dict: `teacher_forced_accuracy` (z = mu),
        `teacher_forced_accuracy_posterior_z` (z ~ q(z|x), Magenta's eval),
        `sampled_accuracy` (decoded from mu at `sample_temperature`),
        `argmax_accuracy` (greedy decoding), `per_stream` (multi-stream
        models), `majority_token_accuracy` (always predicting the most
        frequent target token, a trivial reference), `kl_bits` (mean KL of q(z|x) from the prior, bits),
        `magenta_eval` (Magenta's eval-job loss and accuracy, see
        `magenta_eval.magenta_eval_metrics`; None for NADE / groove heads) and
        `num_examples`.
    """
    model = runner.model
    targets = examples["targets"]
    lengths = np.minimum(examples["lengths"], targets.shape[1])
    controls = examples.get("controls")
    mu, sigma = runner.encode(examples)
    rng = np.random.default_rng(seed)
    z_posterior = mu + sigma * rng.standard_normal(mu.shape)
    length = None if model.decoder_level_lengths else targets.shape[1]
    results = {"num_examples": int(len(targets)), "sample_temperature": float(sample_temperature)}
    per_stream = {}
    if has_class_logits(model):
        for key, z in (("teacher_forced_accuracy", mu), ("teacher_forced_accuracy_posterior_z", z_posterior)):
            logits = runner.teacher_forced_logits(z, examples)
            results[key], streams = accuracies(model, logits, targets, lengths)
            if streams and key == "teacher_forced_accuracy":
                per_stream["teacher_forced"] = streams
    else:  # NADE / groove: their outputs are not per-step class logits
        results["teacher_forced_accuracy"] = None
        results["teacher_forced_accuracy_posterior_z"] = None
    for key, temperature, name in (
        ("sampled_accuracy", sample_temperature, "sampled"),
        ("argmax_accuracy", 0.0, "argmax"),
    ):
        samples = runner.decode(mu, temperature, seed, controls=controls, length=length)
        results[key], streams = accuracies(model, samples, targets[:, : samples.shape[1]], lengths)
        if streams:
            per_stream[name] = streams
    if per_stream:
        results["per_stream"] = per_stream
    if has_class_logits(model):
        results["majority_token_accuracy"] = majority_accuracy(model, targets, lengths)
    kl = 0.5 * np.sum(mu**2 + sigma**2 - 1.0 - 2.0 * np.log(np.maximum(sigma, 1e-12)), axis=1)
    results["kl_bits"] = float(np.mean(kl) / np.log(2.0))
    if results["teacher_forced_accuracy"] is not None:
        results["teacher_forced_minus_sampled"] = (
            results["teacher_forced_accuracy"] - results["sampled_accuracy"]
        )
    results["magenta_eval"] = magenta_eval_study(runner, examples, seed) if has_class_logits(model) else None
    return results


def magenta_eval_study(runner, examples, seed=0):
    """Magenta's eval-job figures (posterior sample of z; free running for
    scheduled-sampling configurations) pooled over `examples`, in batches of
    the runner's size, so that they can be set beside Magenta's TensorBoard
    eval curves.

    Returns:
        dict: `magenta_eval.aggregate` of the batches (`loss`, `r_loss`,
        `kl_loss`, `kl_bits`, `kl_beta`, `accuracy`, `num_sequences`,
        `num_steps`, `free_running`).
    """
    import keras

    seed_generator = keras.random.SeedGenerator(int(seed))
    n = len(examples["inputs"])
    keys = [key for key in ("inputs", "targets", "lengths", "controls") if key in examples]
    results = []
    for start in range(0, n, runner.batch_size):
        batch = {key: examples[key][start : start + runner.batch_size] for key in keys}
        results.append(magenta_eval_metrics(runner.model, batch, seed=seed_generator))
    return aggregate(results)


def run_reconstruction_study(runner, examples, settings, say=print):
    """Runs `reconstruction_study` and prints its headline figures.

    Returns:
        A `StudyOutcome` (this study always runs).
    """
    say(f"reconstruction accuracy on {len(examples['inputs'])} held-out examples")
    start = time.monotonic()
    result = reconstruction_study(runner, examples, settings.sample_temperature, settings.seed)
    teacher_forced = result["teacher_forced_accuracy"]
    say(
        "accuracy: teacher-forced {}, sampled (T={}) {:.4f}, argmax {:.4f}".format(
            "n/a" if teacher_forced is None else f"{teacher_forced:.4f}",
            settings.sample_temperature,
            result["sampled_accuracy"],
            result["argmax_accuracy"],
        )
    )
    magenta = result.get("magenta_eval")
    if magenta is not None:
        say(
            "Magenta's eval ({}, z sampled): accuracy {:.4f}, loss {:.4g}".format(
                "free running" if magenta["free_running"] else "teacher-forced",
                magenta["accuracy"],
                magenta["loss"],
            )
        )
    return StudyOutcome(result=result, seconds=time.monotonic() - start)
