"""Sec. 5.5, Fig. 4: attribute vectors of melody models."""

import time

import numpy as np

from keras_musicvae.evaluation.attribute_vectors import attribute_change_matrix
from keras_musicvae.evaluation.attribute_vectors import attribute_vectors
from keras_musicvae.evaluation.melody_attributes import ATTRIBUTE_NAMES
from keras_musicvae.evaluation.melody_attributes import melody_attributes
from keras_musicvae.evaluation.model_runner import is_single_stream_categorical
from keras_musicvae.evaluation.reconstruction_accuracy import tokens_from_one_hot
from keras_musicvae.evaluation.settings import StudyOutcome


MELODY_DEPTH = 90


def is_melody_model(model):
    """Whether the model outputs Magenta's 90-class melody tokens."""
    return is_single_stream_categorical(model) and model.output_depth == MELODY_DEPTH


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


def run_attribute_study(runner, train_examples, train_info, settings, say=print):
    """Runs `attribute_study` on a seeded subset of `train_examples`.

    Returns:
        A `StudyOutcome` (skipped for models other than 90-class melody
        models, or with fewer than 4 examples).
    """
    if not settings.attribute_examples:
        return StudyOutcome.skip("attribute_examples is 0")
    if not is_melody_model(runner.model):
        return StudyOutcome.skip("the five attributes are defined for 90-class melody models only")
    start = time.monotonic()
    chosen = train_examples
    if len(chosen["inputs"]) > settings.attribute_examples:
        keep = np.sort(np.random.default_rng(settings.seed).choice(
            len(chosen["inputs"]), int(settings.attribute_examples), replace=False))
        chosen = {key: value[keep] for key, value in chosen.items()}
    if len(chosen["inputs"]) < 4:
        return StudyOutcome(skipped="fewer than 4 examples to form quartiles", seconds=time.monotonic() - start)
    say(f"attribute vectors from {len(chosen['inputs'])} examples, applied to "
        f"{settings.attribute_samples} prior samples")
    result = attribute_study(
        runner, chosen, settings.attribute_samples, settings.attribute_temperature, settings.seed
    )
    result["data"] = train_info.get("source")
    return StudyOutcome(result=result, seconds=time.monotonic() - start)
