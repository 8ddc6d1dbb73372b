"""Checks of `MusicVAE`'s arguments (clear messages naming the argument)."""

import numpy as np

from keras_musicvae.layers.lstm import check_lstm_initializer
from keras_musicvae.models import schedules

# The output heads a `MusicVAE` can have (`output_head`).
OUTPUT_HEADS = ("categorical", "multi_categorical", "groove", "nade")


def int_list(value, name):
    """A non-empty list of positive ints (a lone int is a one-item list)."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = [value]
    if isinstance(value, (str, bytes)) or value is None:
        raise ValueError(f"{name} must be a list of ints; got {value!r}.")
    try:
        items = [strict_int(v) for v in value]
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name} must be a list of ints; got {value!r}.") from e
    if not items or any(v <= 0 for v in items):
        raise ValueError(f"{name} must be a non-empty list of positive ints; got {value!r}.")
    return items


def strict_int(value):
    if isinstance(value, bool) or not float(value).is_integer():
        raise ValueError(f"not an integer: {value!r}")
    return int(value)


def checked_int(value, name, minimum):
    try:
        number = strict_int(value)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name} must be an int; got {value!r}.") from e
    if number < minimum:
        raise ValueError(f"{name} must be at least {minimum}; got {number}.")
    return number


def validate_hyperparameters(model):
    """Raises ValueError for hyperparameters of a `MusicVAE` that do not fit together."""
    if model.output_head not in OUTPUT_HEADS:
        raise ValueError(
            f"Unknown output_head {model.output_head!r}; use one of {OUTPUT_HEADS}."
        )
    if (model.output_head == "multi_categorical" or model.split_streams) and not model.output_depths:
        raise ValueError("output_depths is required for multi-stream outputs (e.g. [90, 90, 512]).")
    if model.output_depths and sum(model.output_depths) != model.output_depth:
        raise ValueError(
            f"output_depths {model.output_depths} must sum to output_depth {model.output_depth}."
        )
    if model.split_streams and not model.decoder_level_lengths:
        raise ValueError("split_streams needs a hierarchical decoder (decoder_level_lengths).")
    if model.output_head == "groove" and model.output_depth % 3:
        raise ValueError(f"A groove head needs output_depth = 3 x instruments; got {model.output_depth}.")
    for name, levels in (
        ("encoder_level_lengths", model.encoder_level_lengths),
        ("decoder_level_lengths", model.decoder_level_lengths),
    ):
        if levels is not None and int(np.prod(levels)) != model.max_seq_len:
            raise ValueError(
                f"The product of {name} {levels} must equal max_seq_len {model.max_seq_len}."
            )
    if model.decoder_level_lengths is not None and len(model.decoder_level_lengths) != 2:
        raise ValueError("decoder_level_lengths must be [num_segments, segment_length].")
    if not 0 < model.dropout_keep_prob <= 1:
        raise ValueError(f"dropout_keep_prob must be in (0, 1]; got {model.dropout_keep_prob}.")
    schedules.validate_sampling_schedule(model.sampling_schedule, model.sampling_rate)
    check_lstm_initializer(model.lstm_initializer)
