"""`evaluate_model`: the paper's evaluation of a trained MusicVAE (Sec. 5.3-5.5).

One call runs, on held-out data:

* reconstruction accuracy (Table 1): per-step accuracy with teacher forcing
  (next-step argmax prediction) and with full sampling from the encoded
  latent code, at temperature 1.0 (the paper's setting) and with argmax
  decoding; per stream for multi-stream (trio) models;
* the interpolation study (Fig. 3): pairs of held-out sequences, decoded at
  slerp points alpha = 0, 0.1, ..., 1 (temperature 0.5), their normalised
  Hamming distance to sequence A and their cost under a 5-gram Kneser-Ney
  language model relative to the endpoints, beside the per-step Bernoulli
  "data" interpolation;
* attribute vectors (Sec. 5.5, Fig. 4; 90-class melody models only): the
  top-minus-bottom-quartile mean latent code of each of the five melody
  attributes over a data set, added to / subtracted from samples of the
  prior, and the percent change of every attribute of the decoded melodies.

It writes `evaluation.json` (every figure) and PNG plots into an output
folder and returns the same numbers as a dict.

Latent codes: accuracies and interpolations use the posterior mean `mu` (as
`MusicVAE.reconstruct` and Magenta's `TrainedModel.interpolate`); Magenta's
own eval metric decodes a sample of the posterior, which is also reported
for teacher forcing (`teacher_forced_accuracy_posterior_z`).
"""

import os
import time

import numpy as np

from keras_musicvae.evaluation.attribute_vectors import attribute_change_matrix
from keras_musicvae.evaluation.attribute_vectors import attribute_vectors
from keras_musicvae.evaluation.data_interpolation import data_interpolation
from keras_musicvae.evaluation.figures_json import write_figures_json
from keras_musicvae.evaluation.hamming import normalized_hamming_distance
from keras_musicvae.evaluation.kneser_ney import KneserNeyLanguageModel
from keras_musicvae.evaluation.melody_attributes import ATTRIBUTE_NAMES
from keras_musicvae.evaluation.melody_attributes import melody_attributes
from keras_musicvae.evaluation.plots import plot_attribute_change_heatmap
from keras_musicvae.evaluation.plots import plot_interpolation_study
from keras_musicvae.evaluation.reconstruction_accuracy import tokens_from_one_hot
from keras_musicvae.evaluation.relative_cost import relative_lm_costs
from keras_musicvae.evaluation.slerp import interpolation_alphas
from keras_musicvae.evaluation.slerp import slerp

EVALUATION_JSON = "evaluation.json"
INTERPOLATION_PNG = "interpolation.png"
ATTRIBUTES_PNG = "attribute_changes.png"
MELODY_DEPTH = 90
TRIO_STREAM_NAMES = ("melody", "bass", "drums")
_CATEGORICAL_HEADS = ("categorical", "multi_categorical")


# ---------------------------------------------------------------- inputs
def load_model(model):
    """A `MusicVAE` instance, or one built from a preset name or folder."""
    from keras_musicvae.models.music_vae import MusicVAE

    if isinstance(model, MusicVAE):
        return model
    if isinstance(model, (str, os.PathLike)):
        return MusicVAE.from_preset(os.fspath(model))
    raise TypeError(
        f"model must be a MusicVAE or a preset name/folder, got {type(model).__name__}."
    )


def load_examples(data, model, max_examples=None, seed=0, num_workers=None):
    """Held-out examples as NumPy arrays, converted with the model's converter.

    Args:
        data: a folder / glob / file of MIDI, a TFRecord of NoteSequences, a
            list of NoteSequences (anything `pipeline.convert_midi_files`
            takes), a `ConverterTensors`, or a dict of arrays `inputs`
            `[N, T, input_depth]`, `targets` `[N, T, output_depth]`,
            `lengths` `[N]` (and `controls`).
        model: the `MusicVAE` (its `converter` converts MIDI data).
        max_examples: keep a seeded random subset of at most this many
            examples (None: all), in their original order.
        seed: seed of the converter's per-file choice of windows and of the
            subset.
        num_workers: conversion processes (default: the CPUs available).

    Returns:
        `(examples, description)`: a dict of NumPy arrays (`inputs`,
        `targets` float32, `lengths` int32, `controls` when the model has
        controls) and a dict describing where they came from.

    Raises:
        ValueError: when the data give no example (the reasons are named).
    """
    from keras_musicvae.data.converter import ConverterTensors

    description = {}
    if isinstance(data, dict):
        missing = [key for key in ("inputs", "targets") if key not in data]
        if missing:
            raise ValueError(f"the example dict lacks {missing}; it has {sorted(data)}.")
        examples = {key: np.asarray(value) for key, value in data.items()}
        description["source"] = "arrays"
    else:
        if not isinstance(data, ConverterTensors):
            data, stats = _convert(data, model, seed, num_workers)
            description["source"] = _describe_source(stats["source"])
            description["conversion"] = stats["summary"]
        else:
            description["source"] = "ConverterTensors"
        examples = _stack_tensors(data, model)
    num_available = len(examples["inputs"])
    if num_available == 0:
        raise ValueError("there are no examples to evaluate on.")
    if "lengths" not in examples:
        examples["lengths"] = np.full(num_available, examples["inputs"].shape[1], "int32")
    if max_examples is not None and num_available > max_examples:
        rng = np.random.default_rng(seed)
        chosen = np.sort(rng.choice(num_available, int(max_examples), replace=False))
        examples = {key: value[chosen] for key, value in examples.items()}
    examples["inputs"] = examples["inputs"].astype("float32")
    examples["targets"] = examples["targets"].astype("float32")
    examples["lengths"] = np.asarray(examples["lengths"]).astype("int32")
    if model.control_depth == 0:
        examples.pop("controls", None)
    elif "controls" not in examples:
        raise ValueError(
            f"the model is conditioned on controls of depth {model.control_depth}; the examples have none."
        )
    description["examples_available"] = int(num_available)
    description["examples_used"] = int(len(examples["inputs"]))
    return examples, description


def _describe_source(source):
    if isinstance(source, (list, tuple)):
        return f"{len(source)} NoteSequences/files"
    return os.fspath(source)


def _convert(source, model, seed, num_workers):
    from keras_musicvae.data.converter import converter_from_config
    from keras_musicvae.data.pipeline import convert_midi_files

    if not model.converter_config:
        raise ValueError(
            "the model names no data converter, so MIDI data cannot be converted; pass arrays instead."
        )
    # "train" mode with a seed: the per-file cap keeps a seeded random choice
    # of windows (Magenta's "eval" mode would keep the first, overlapping ones).
    converter = converter_from_config(model.converter_config, mode="train", seed=int(seed))
    tensors, stats = convert_midi_files(source, converter, num_workers=num_workers, progress=False)
    if not len(tensors):
        raise ValueError(f"no examples in {_describe_source(source)}:\n{stats}")
    return tensors, {"source": source, "summary": str(stats)}


def _stack_tensors(tensors, model):
    steps = max(len(a) for a in tensors.inputs) if len(tensors) else 0

    def stack(arrays, depth):
        out = np.zeros((len(arrays), steps, depth), dtype="float32")
        for i, array in enumerate(arrays):
            out[i, : len(array)] = array
        return out

    examples = {
        "inputs": stack(tensors.inputs, model.input_depth),
        "targets": stack(tensors.outputs, model.output_depth),
        "lengths": np.asarray(tensors.lengths, dtype="int32"),
    }
    if model.control_depth:
        examples["controls"] = stack(tensors.controls, model.control_depth)
    return examples


# ----------------------------------------------------------- model calls
class _ModelRunner:
    """Batched, fixed-shape calls of a model (the last batch is padded so
    that every call has one shape and compiles once)."""

    def __init__(self, model, batch_size):
        from keras_musicvae.utils.backend_compile import compile_model_function

        self.model = model
        self.batch_size = int(batch_size)
        self._teacher_forced = compile_model_function(
            model, lambda z, targets, *controls: model.teacher_forced_logits(
                z, targets, controls=controls[0] if controls else None
            )
        )

    def _batches(self, n):
        from keras_musicvae.training import padded_batches

        return padded_batches(n, self.batch_size)

    def encode(self, examples):
        """`(mu, sigma)` float64 `[N, Z]`."""
        n = len(examples["inputs"])
        mus, sigmas = [], []
        for index, keep in self._batches(n):
            controls = examples["controls"][index] if "controls" in examples else None
            mu, sigma = self.model.encode(
                examples["inputs"][index], lengths=examples["lengths"][index], controls=controls
            )
            mus.append(mu[:keep])
            sigmas.append(sigma[:keep])
        return np.concatenate(mus).astype(np.float64), np.concatenate(sigmas).astype(np.float64)

    def decode(self, z, temperature, seed, controls=None, length=None):
        """Samples `[N, T, output_depth]` from `z` `[N, Z]`; batch i uses seed + i."""
        z = np.asarray(z, dtype="float32")
        out = []
        for number, (index, keep) in enumerate(self._batches(len(z))):
            samples = self.model.decode(
                z[index],
                temperature=temperature,
                length=length,
                seed=None if seed is None else int(seed) + number,
                controls=None if controls is None else controls[index],
            )
            out.append(samples[:keep])
        return np.concatenate(out)

    def teacher_forced_logits(self, z, examples):
        """Logits `[N, T, U]` with the targets fed back (teacher forcing)."""
        from keras import ops

        z = np.asarray(z, dtype="float32")
        out = []
        for index, keep in self._batches(len(z)):
            args = [ops.convert_to_tensor(z[index]), ops.convert_to_tensor(examples["targets"][index])]
            if "controls" in examples:
                args.append(ops.convert_to_tensor(examples["controls"][index]))
            logits = self._teacher_forced(*args)
            out.append(ops.convert_to_numpy(logits)[:keep])
        return np.concatenate(out)


def _stream_bounds(model):
    depths = model.output_depths or [model.output_depth]
    bounds = np.cumsum([0] + list(depths))
    if len(depths) == 3 and list(depths) == [90, 90, 512]:
        names = TRIO_STREAM_NAMES
    elif len(depths) == 1:
        names = ("output",)
    else:
        names = tuple(f"stream_{i}" for i in range(len(depths)))
    return {name: (int(a), int(b)) for name, a, b in zip(names, bounds[:-1], bounds[1:])}


def _accuracies(model, predicted, targets, lengths):
    """Pooled per-step accuracy (mean over streams) and per-stream accuracies
    (named; empty for single-stream models)."""
    from keras_musicvae.training import stream_accuracies

    accuracies = stream_accuracies(model, predicted, targets, lengths)
    overall = float(np.mean(accuracies))
    if len(accuracies) == 1:
        return overall, {}
    return overall, dict(zip(_stream_bounds(model), accuracies))


def _majority_accuracy(model, targets, lengths):
    """Accuracy of always predicting each stream's most frequent target token
    (for melodies: "no event"), a trivial reference for the accuracies."""
    predicted = np.zeros_like(targets)
    for start, stop in _stream_bounds(model).values():
        tokens = tokens_from_one_hot(targets[..., start:stop])
        mask = np.arange(tokens.shape[1]) < lengths[:, None]
        majority = np.bincount(tokens[mask], minlength=stop - start).argmax()
        predicted[..., start + majority] = 1.0
    return _accuracies(model, predicted, targets, lengths)[0]


# ---------------------------------------------------------------- studies
def reconstruction_study(runner, examples, sample_temperature=1.0, seed=0):
    """Table 1: teacher-forced and sampled per-step accuracy.

    Returns:
        dict: `teacher_forced_accuracy` (z = mu),
        `teacher_forced_accuracy_posterior_z` (z ~ q(z|x), Magenta's eval),
        `sampled_accuracy` (decoded from mu at `sample_temperature`),
        `argmax_accuracy` (greedy decoding), `per_stream` (multi-stream
        models), `majority_token_accuracy` (always predicting the most
        frequent target token, a trivial reference), `kl_bits` (mean KL of q(z|x) from the prior, bits) and
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
    if model.output_head in _CATEGORICAL_HEADS:
        for key, z in (("teacher_forced_accuracy", mu), ("teacher_forced_accuracy_posterior_z", z_posterior)):
            logits = runner.teacher_forced_logits(z, examples)
            results[key], streams = _accuracies(model, logits, targets, lengths)
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
        results[key], streams = _accuracies(model, samples, targets[:, : samples.shape[1]], lengths)
        if streams:
            per_stream[name] = streams
    if per_stream:
        results["per_stream"] = per_stream
    if model.output_head in _CATEGORICAL_HEADS:
        results["majority_token_accuracy"] = _majority_accuracy(model, targets, lengths)
    kl = 0.5 * np.sum(mu**2 + sigma**2 - 1.0 - 2.0 * np.log(np.maximum(sigma, 1e-12)), axis=1)
    results["kl_bits"] = float(np.mean(kl) / np.log(2.0))
    if results["teacher_forced_accuracy"] is not None:
        results["teacher_forced_minus_sampled"] = (
            results["teacher_forced_accuracy"] - results["sampled_accuracy"]
        )
    return results


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


def attribute_study(
    runner,
    examples,
    num_samples=256,
    temperature=0.5,
    seed=0,
    min_pitch=21,
):
    """Fig. 4: attribute vectors from `examples`, applied to prior samples.

    Args:
        runner: the model runner.
        examples: melody examples whose `mu` and measured attributes give the
            vectors (the paper used 370k training examples).
        num_samples: prior samples the vectors are applied to (256 in the
            paper).
        temperature: decoding temperature; every decode uses the same seeds,
            so base and altered sequences share their sampling noise.
        seed: seed of the prior samples and the decoding noise.
        min_pitch: MIDI pitch of melody token 2.

    Returns:
        dict: `attribute_names`, `adding` and `subtracting` (`[5, 5]`
        percent changes; rows = vector applied, columns = attribute
        measured), `diagonal_adding` / `diagonal_subtracting`, `vector_norms`,
        `data_attribute_means`, `base_attribute_means` (of the unaltered
        prior samples), `num_examples`, `num_samples`, `temperature`.
    """
    model = runner.model
    tokens = tokens_from_one_hot(examples["targets"])
    lengths = np.minimum(examples["lengths"], tokens.shape[1])
    values = melody_attributes(tokens, lengths, min_pitch=min_pitch)
    mu, _ = runner.encode(examples)
    vectors = attribute_vectors(mu, values)
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((int(num_samples), model.z_size))
    length = None if model.decoder_level_lengths else tokens.shape[1]

    def decode_tokens(latents):
        return tokens_from_one_hot(runner.decode(latents, temperature, seed, length=length))

    def attributes_of(sequences):
        return melody_attributes(sequences, min_pitch=min_pitch)

    base = attributes_of(decode_tokens(z))
    adding = attribute_change_matrix(z, vectors, decode_tokens, attributes_of, scale=1.0)
    subtracting = attribute_change_matrix(z, vectors, decode_tokens, attributes_of, scale=-1.0)
    return {
        "attribute_names": list(ATTRIBUTE_NAMES),
        "adding": adding,
        "subtracting": subtracting,
        "diagonal_adding": np.diag(adding),
        "diagonal_subtracting": np.diag(subtracting),
        "vector_norms": np.linalg.norm(vectors, axis=1),
        "data_attribute_means": np.nanmean(values, axis=0),
        "base_attribute_means": np.nanmean(base, axis=0),
        "num_examples": int(len(tokens)),
        "num_samples": int(num_samples),
        "temperature": float(temperature),
    }


def is_melody_model(model):
    """Whether the model outputs Magenta's 90-class melody tokens."""
    return (
        model.output_head == "categorical"
        and model.output_depth == MELODY_DEPTH
        and not model.output_depths
    )


# ------------------------------------------------------------------- main
def evaluate_model(
    model,
    data,
    output_dir=None,
    *,
    train_data=None,
    num_examples=256,
    interpolation_pairs=64,
    interpolation_steps=11,
    interpolation_temperature=0.5,
    sample_temperature=1.0,
    attribute_examples=2048,
    attribute_samples=256,
    attribute_temperature=0.5,
    lm_order=5,
    lm_examples=None,
    language_model=None,
    batch_size=64,
    seed=0,
    name=None,
    num_workers=None,
    print_fn=None,
):
    """Runs the paper's evaluation of a model and writes JSON + PNG figures.

    Args:
        model: a `MusicVAE`, or a preset name / folder (`--model`).
        data: held-out data: MIDI folder / file / glob, TFRecord of
            NoteSequences, list of NoteSequences, `ConverterTensors`, or a
            dict of arrays (`inputs`, `targets`, `lengths`); MIDI is
            converted with the model's converter (the per-file cap keeps a
            seeded random choice of windows).
        output_dir: folder for `evaluation.json`, `interpolation.png` and
            `attribute_changes.png` (None: write nothing).
        train_data: training data, same forms as `data`, for the n-gram
            language model of Fig. 3 and the attribute vectors of Fig. 4;
            None uses the held-out examples (recorded in the JSON).
        num_examples: held-out examples (a fixed, seeded subset; None: all).
        interpolation_pairs: pairs (A, B) of the interpolation study (0:
            skip it); at most half the held-out examples.
        interpolation_steps: interpolation points, endpoints included (11:
            alpha = 0, 0.1, ..., 1).
        interpolation_temperature: decoding temperature of the
            interpolations (0.5 in the paper).
        sample_temperature: temperature of the sampled reconstruction
            accuracy (1.0 in Table 1); argmax decoding is always reported too.
        attribute_examples: training examples whose `mu` give the attribute
            vectors (a seeded subset; 0: skip the attribute study).
        attribute_samples: prior samples the vectors are applied to.
        attribute_temperature: decoding temperature of the attribute study.
        lm_order: n-gram order of the language model (5 in the paper).
        lm_examples: at most this many training examples fit the language
            model (None: all).
        language_model: an already fitted language model (an object with
            `costs(sequences, lengths) -> [N]` and `order`, e.g. a
            `KneserNeyLanguageModel`) to use instead of fitting one on
            `train_data` (to compare several models under one LM).
        batch_size: examples per model call.
        seed: seed of every random choice (subsets, pairs, noise, prior).
        name: the model's label in the plots (default: the model's name).
        num_workers: MIDI conversion processes.
        print_fn: progress lines (default: none).

    Returns:
        dict (the content of `evaluation.json`): `model`, `data`,
        `reconstruction` (see `reconstruction_study`), `interpolation` (see
        `interpolation_study`, or None), `attributes` (see
        `attribute_study`, or None), `skipped` (why a study did not run),
        `seconds` (wall time of each part) and `files` (paths written).
    """
    say = print_fn or (lambda line: None)
    timings = {}
    start = time.monotonic()
    model = load_model(model)
    label = name or model.name
    examples, data_info = load_examples(data, model, num_examples, seed=seed, num_workers=num_workers)
    if train_data is not None:
        train_examples, train_info = load_examples(train_data, model, None, seed=seed, num_workers=num_workers)
    else:
        train_examples, train_info = examples, {"source": "the held-out examples (no train_data given)"}
    timings["data"] = time.monotonic() - start
    runner = _ModelRunner(model, batch_size)
    skipped = {}

    say(f"reconstruction accuracy on {len(examples['inputs'])} held-out examples")
    part = time.monotonic()
    reconstruction = reconstruction_study(runner, examples, sample_temperature, seed)
    timings["reconstruction"] = time.monotonic() - part
    say(
        "accuracy: teacher-forced {}, sampled (T={}) {:.4f}, argmax {:.4f}".format(
            "n/a" if reconstruction["teacher_forced_accuracy"] is None
            else f"{reconstruction['teacher_forced_accuracy']:.4f}",
            sample_temperature,
            reconstruction["sampled_accuracy"],
            reconstruction["argmax_accuracy"],
        )
    )

    single_stream = model.output_head == "categorical" and not model.output_depths
    interpolation = None
    language_model_info = None
    if not interpolation_pairs:
        skipped["interpolation"] = "interpolation_pairs is 0"
    elif not single_stream:
        skipped["interpolation"] = "needs a single-stream categorical model (e.g. melody or drums)"
    elif len(examples["inputs"]) < 2:
        skipped["interpolation"] = "fewer than 2 held-out examples"
    else:
        part = time.monotonic()
        if language_model is None:
            lm_tokens = tokens_from_one_hot(train_examples["targets"])
            lm_lengths = np.minimum(train_examples["lengths"], lm_tokens.shape[1])
            if lm_examples is not None and len(lm_tokens) > lm_examples:
                keep = np.sort(np.random.default_rng(seed).choice(len(lm_tokens), int(lm_examples), replace=False))
                lm_tokens, lm_lengths = lm_tokens[keep], lm_lengths[keep]
            say(f"fitting a {lm_order}-gram Kneser-Ney language model on {len(lm_tokens)} sequences")
            language_model = KneserNeyLanguageModel(order=lm_order, vocab_size=model.output_depth)
            language_model.fit(lm_tokens, lm_lengths)
            lm_source = {"training_sequences": int(len(lm_tokens)), "training_data": train_info.get("source")}
        else:
            lm_source = {"training_data": "a language model given by the caller"}
        heldout_tokens = tokens_from_one_hot(examples["targets"])
        heldout_lengths = np.minimum(examples["lengths"], heldout_tokens.shape[1])
        language_model_info = {
            "order": int(getattr(language_model, "order", lm_order)),
            **lm_source,
            "heldout_per_token_cost_nats": float(
                np.mean(language_model.costs(heldout_tokens, heldout_lengths, per_token=True))
            ),
        }
        timings["language_model"] = time.monotonic() - part
        say(f"interpolating {interpolation_pairs} pairs at {interpolation_steps} points")
        part = time.monotonic()
        interpolation = interpolation_study(
            runner, examples, language_model, interpolation_pairs, interpolation_steps,
            interpolation_temperature, seed,
        )
        interpolation["language_model"] = language_model_info
        timings["interpolation"] = time.monotonic() - part

    attributes = None
    if not attribute_examples:
        skipped["attributes"] = "attribute_examples is 0"
    elif not is_melody_model(model):
        skipped["attributes"] = "the five attributes are defined for 90-class melody models only"
    else:
        part = time.monotonic()
        chosen = train_examples
        if len(chosen["inputs"]) > attribute_examples:
            keep = np.sort(np.random.default_rng(seed).choice(
                len(chosen["inputs"]), int(attribute_examples), replace=False))
            chosen = {key: value[keep] for key, value in chosen.items()}
        if len(chosen["inputs"]) < 4:
            skipped["attributes"] = "fewer than 4 examples to form quartiles"
        else:
            say(f"attribute vectors from {len(chosen['inputs'])} examples, applied to "
                f"{attribute_samples} prior samples")
            attributes = attribute_study(runner, chosen, attribute_samples, attribute_temperature, seed)
            attributes["data"] = train_info.get("source")
        timings["attributes"] = time.monotonic() - part

    timings["total"] = time.monotonic() - start
    results = {
        "name": label,
        "model": _model_info(model),
        "data": {"heldout": data_info, "train": train_info},
        "settings": {
            "num_examples": num_examples,
            "sample_temperature": sample_temperature,
            "interpolation_pairs": interpolation_pairs,
            "interpolation_steps": interpolation_steps,
            "interpolation_temperature": interpolation_temperature,
            "attribute_examples": attribute_examples,
            "attribute_samples": attribute_samples,
            "attribute_temperature": attribute_temperature,
            "lm_order": lm_order,
            "batch_size": batch_size,
            "seed": seed,
            "latent_code": "posterior mean mu (teacher_forced_accuracy_posterior_z: a posterior sample)",
        },
        "reconstruction": reconstruction,
        "interpolation": interpolation,
        "attributes": attributes,
        "skipped": skipped,
        "seconds": {key: round(value, 2) for key, value in timings.items()},
        "files": {},
    }
    if output_dir is not None:
        results["files"] = write_outputs(results, output_dir, label)
    return results


def _model_info(model):
    from keras import ops

    return {
        "name": model.name,
        "hierarchical_decoder": bool(model.decoder_level_lengths),
        "z_size": model.z_size,
        "enc_rnn_size": list(model.enc_rnn_size),
        "dec_rnn_size": list(model.dec_rnn_size),
        "output_depth": model.output_depth,
        "max_seq_len": model.max_seq_len,
        "parameters": int(model.count_params()),
        "step": int(ops.convert_to_numpy(model.global_step)),
    }


def write_outputs(results, output_dir, label):
    """Writes `evaluation.json` and the PNG plots; returns their paths."""
    os.makedirs(output_dir, exist_ok=True)
    files = {"json": os.path.join(os.fspath(output_dir), EVALUATION_JSON)}
    interpolation = results["interpolation"]
    if interpolation is not None:
        files["interpolation_png"] = plot_interpolation_study(
            os.path.join(output_dir, INTERPOLATION_PNG),
            interpolation["alphas"],
            {label: interpolation["hamming_to_a"]["model"], "data": interpolation["hamming_to_a"]["data"]},
            {label: interpolation["relative_lm_cost"]["model"], "data": interpolation["relative_lm_cost"]["data"]},
        )
    attributes = results["attributes"]
    if attributes is not None:
        files["attributes_png"] = plot_attribute_change_heatmap(
            os.path.join(output_dir, ATTRIBUTES_PNG),
            {"Adding": attributes["adding"], "Subtracting": attributes["subtracting"]},
        )
    results["files"] = files
    write_figures_json(results, files["json"])
    return files
