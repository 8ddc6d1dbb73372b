"""Held-out examples for evaluation: the model, and its data as NumPy arrays."""

import os

import numpy as np


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
            description["source"] = describe_source(stats["source"])
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


def describe_source(source):
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
        raise ValueError(f"no examples in {describe_source(source)}:\n{stats}")
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
