"""Fig. 3: Hamming distance and language-model cost along interpolations."""

import time

import numpy as np

from keras_musicvae.evaluation.data_interpolation import data_interpolation
from keras_musicvae.evaluation.hamming import normalized_hamming_distance
from keras_musicvae.evaluation.kneser_ney import KneserNeyLanguageModel
from keras_musicvae.evaluation.model_runner import is_single_stream_categorical
from keras_musicvae.evaluation.reconstruction_accuracy import tokens_from_one_hot
from keras_musicvae.evaluation.relative_cost import relative_lm_costs
from keras_musicvae.evaluation.settings import StudyOutcome
from keras_musicvae.evaluation.slerp import interpolation_alphas
from keras_musicvae.evaluation.slerp import slerp


def interpolation_study(
    runner,
    examples,
    language_model,
    num_pairs=64,
    num_alphas=11,
    temperature=0.5,
    seed=0,
):
    """Fig. 3: Hamming distance and relative LM cost along slerp interpolations.

    Pairs: `2 * num_pairs` distinct held-out examples drawn with `seed`, the
    first half as A, the second as B (fewer pairs when there are fewer than
    `2 * num_pairs` examples). Every interpolated sequence is decoded at
    `temperature` from `slerp(mu_A, mu_B, alpha)`.

    Returns:
        dict with `alphas`, `num_pairs`, `temperature`, and per method
        ("model", "data") the mean over pairs of `hamming_to_a`,
        `hamming_to_b`, `relative_lm_cost` (lists `[K]`), their standard
        errors (`*_sem`), and `hamming_monotone` (whether the mean Hamming
        distance to A never decreases along alpha).
    """
    model = runner.model
    tokens = tokens_from_one_hot(examples["targets"])
    lengths = np.minimum(examples["lengths"], tokens.shape[1])
    n = len(tokens)
    num_pairs = min(int(num_pairs), n // 2)
    if num_pairs < 1:
        raise ValueError(f"the interpolation study needs at least 2 examples, got {n}.")
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)[: 2 * num_pairs]
    index_a, index_b = order[:num_pairs], order[num_pairs:]
    chosen = {key: value[order] for key, value in examples.items()}
    mu, _ = runner.encode(chosen)
    mu_a, mu_b = mu[:num_pairs], mu[num_pairs:]
    alphas = interpolation_alphas(num_alphas)
    z = slerp(mu_a, mu_b, alphas)  # [K, P, Z]
    length = None if model.decoder_level_lengths else tokens.shape[1]
    decoded = runner.decode(z.reshape(-1, z.shape[-1]), temperature, seed, length=length)
    model_tokens = tokens_from_one_hot(decoded).reshape(num_alphas, num_pairs, -1)
    tokens_a, tokens_b = tokens[index_a], tokens[index_b]
    steps = min(model_tokens.shape[-1], tokens.shape[1])
    model_tokens, tokens_a, tokens_b = model_tokens[..., :steps], tokens_a[:, :steps], tokens_b[:, :steps]
    pair_lengths = np.minimum(np.minimum(lengths[index_a], lengths[index_b]), steps)
    data_tokens = data_interpolation(tokens_a, tokens_b, alphas, seed=seed)
    results = {
        "alphas": alphas,
        "num_pairs": int(num_pairs),
        "temperature": float(temperature),
        "hamming_to_a": {},
        "hamming_to_b": {},
        "relative_lm_cost": {},
        "hamming_to_a_sem": {},
        "relative_lm_cost_sem": {},
        "hamming_monotone": {},
    }
    for method, interpolated in (("model", model_tokens), ("data", data_tokens)):
        to_a = normalized_hamming_distance(interpolated, tokens_a, pair_lengths)
        to_b = normalized_hamming_distance(interpolated, tokens_b, pair_lengths)
        cost = _relative_costs(language_model, tokens_a, tokens_b, interpolated, alphas, pair_lengths)
        mean_a = np.nanmean(to_a, axis=1)
        results["hamming_to_a"][method] = mean_a
        results["hamming_to_b"][method] = np.nanmean(to_b, axis=1)
        results["relative_lm_cost"][method] = np.nanmean(cost, axis=1)
        results["hamming_to_a_sem"][method] = _sem(to_a)
        results["relative_lm_cost_sem"][method] = _sem(cost)
        results["hamming_monotone"][method] = bool(np.all(np.diff(mean_a) >= -1e-9))
    return results


def _relative_costs(language_model, tokens_a, tokens_b, interpolated, alphas, lengths):
    """`relative_lm_costs` with each pair scored within its length."""
    if np.all(lengths == tokens_a.shape[1]):
        return relative_lm_costs(language_model, tokens_a, tokens_b, interpolated, alphas)
    out = np.empty(interpolated.shape[:2])
    for pair, length in enumerate(lengths):
        out[:, pair] = relative_lm_costs(
            language_model,
            tokens_a[pair : pair + 1, :length],
            tokens_b[pair : pair + 1, :length],
            interpolated[:, pair : pair + 1, :length],
            alphas,
        )[:, 0]
    return out


def _sem(values):
    values = np.asarray(values, dtype=np.float64)
    count = np.sum(np.isfinite(values), axis=1)
    std = np.nanstd(values, axis=1, ddof=1) if values.shape[1] > 1 else np.zeros(values.shape[0])
    return std / np.sqrt(np.maximum(count, 1))


def fit_language_model(train_examples, vocab_size, order=5, max_examples=None, seed=0):
    """A Kneser-Ney n-gram model of the training examples' target tokens.

    Returns:
        `(language_model, number of sequences it was fitted on)`.
    """
    tokens = tokens_from_one_hot(train_examples["targets"])
    lengths = np.minimum(train_examples["lengths"], tokens.shape[1])
    if max_examples is not None and len(tokens) > max_examples:
        keep = np.sort(np.random.default_rng(seed).choice(len(tokens), int(max_examples), replace=False))
        tokens, lengths = tokens[keep], lengths[keep]
    language_model = KneserNeyLanguageModel(order=order, vocab_size=vocab_size)
    language_model.fit(tokens, lengths)
    return language_model, len(tokens)


def run_interpolation_study(runner, examples, train_examples, train_info, settings, language_model=None,
                            say=print):
    """Runs `interpolation_study` when the model and data allow it.

    Args:
        runner: The `ModelRunner`.
        examples: Held-out examples.
        train_examples: Examples the language model is fitted on (when
            `language_model` is None); `train_info` describes them.
        train_info: Where `train_examples` came from.
        settings: An `EvaluationSettings`.
        language_model: An already fitted language model, or None.
        say: Progress lines.

    Returns:
        A `StudyOutcome`; its result also has `language_model` (order,
        training data, held-out per-token cost).
    """
    if not settings.interpolation_pairs:
        return StudyOutcome.skip("interpolation_pairs is 0")
    if not is_single_stream_categorical(runner.model):
        return StudyOutcome.skip("needs a single-stream categorical model (e.g. melody or drums)")
    if len(examples["inputs"]) < 2:
        return StudyOutcome.skip("fewer than 2 held-out examples")
    start = time.monotonic()
    if language_model is None:
        say(f"fitting a {settings.lm_order}-gram Kneser-Ney language model")
        language_model, count = fit_language_model(
            train_examples, runner.model.output_depth, settings.lm_order, settings.lm_examples, settings.seed
        )
        source = {"training_sequences": int(count), "training_data": train_info.get("source")}
    else:
        source = {"training_data": "a language model given by the caller"}
    heldout_tokens = tokens_from_one_hot(examples["targets"])
    heldout_lengths = np.minimum(examples["lengths"], heldout_tokens.shape[1])
    language_model_info = {
        "order": int(getattr(language_model, "order", settings.lm_order)),
        **source,
        "heldout_per_token_cost_nats": float(
            np.mean(language_model.costs(heldout_tokens, heldout_lengths, per_token=True))
        ),
    }
    say(f"interpolating {settings.interpolation_pairs} pairs at {settings.interpolation_steps} points")
    result = interpolation_study(
        runner, examples, language_model, settings.interpolation_pairs, settings.interpolation_steps,
        settings.interpolation_temperature, settings.seed,
    )
    result["language_model"] = language_model_info
    return StudyOutcome(result=result, seconds=time.monotonic() - start)
