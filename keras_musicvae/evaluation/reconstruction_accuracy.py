"""Per-step reconstruction accuracy (paper Sec. 5.3, Table 1).

Table 1 of the paper reports the fraction of time steps whose predicted token
equals the target token, pooled over all valid steps of a held-out set, with
teacher forcing (next-step prediction) or with full sampling. For trio models
the accuracy is reported per stream (melody, bass, drums), each stream being
its own categorical output. Magenta computes the same numbers (the streaming
`metrics/accuracy` of its categorical decoders, pooled over the unpadded steps;
per `output_i` for the trio splits and their mean as the headline value).
"""

import numpy as np

# Column groups of the 692-dimensional trio one-hot representation.
TRIO_STREAM_SLICES = {
    "melody": slice(0, 90),
    "bass": slice(90, 180),
    "drums": slice(180, 692),
}


def tokens_from_one_hot(one_hot):
    """Class indices of one-hot vectors, probabilities or logits.

    Args:
        one_hot: array of shape `[..., T, D]` (one-hot targets, probabilities
            or logits).

    Returns:
        int64 array of shape `[..., T]`, the argmax over the last axis.
    """
    one_hot = np.asarray(one_hot)
    if one_hot.ndim < 2:
        raise ValueError(
            f"expected a one-hot array of shape [..., T, D], got shape {one_hot.shape}."
        )
    return np.argmax(one_hot, axis=-1).astype(np.int64)


def _valid_step_mask(shape, lengths):
    """Boolean mask `[..., T]`, True for steps before each sequence's length."""
    if lengths is None:
        return np.ones(shape, dtype=bool)
    lengths = np.asarray(lengths)
    if lengths.shape != tuple(shape[:-1]):
        raise ValueError(
            f"lengths must have shape {tuple(shape[:-1])} (one per sequence), "
            f"got {lengths.shape}."
        )
    if np.any(lengths < 0) or np.any(lengths > shape[-1]):
        raise ValueError(
            f"lengths must lie in [0, {shape[-1]}] (the number of steps), got "
            f"values from {lengths.min()} to {lengths.max()}."
        )
    steps = np.arange(shape[-1])
    return steps < lengths[..., None]


def per_step_accuracy(predicted, target, lengths=None):
    """Fraction of valid steps whose predicted token equals the target token.

    Steps are pooled over the whole batch (a long sequence weighs more than a
    short one), as in Table 1 of the paper and Magenta's `metrics/accuracy`.

    Args:
        predicted: int array of shape `[..., T]`, predicted tokens.
        target: int array of the same shape, target tokens.
        lengths: optional int array of shape `[...]`, the number of valid steps
            of each sequence; steps at or after it are ignored. `None` means
            every step is valid.

    Returns:
        Python float in [0, 1]; `nan` when there is no valid step.

    Raises:
        ValueError: if shapes disagree or lengths are out of range.
    """
    predicted = np.asarray(predicted)
    target = np.asarray(target)
    if predicted.shape != target.shape:
        raise ValueError(
            f"predicted and target tokens must have the same shape, got "
            f"{predicted.shape} vs {target.shape}."
        )
    if predicted.ndim == 0:
        raise ValueError("expected token sequences of shape [..., T], got scalars.")
    mask = _valid_step_mask(predicted.shape, lengths)
    num_valid = int(mask.sum())
    if num_valid == 0:
        return float("nan")
    return float(((predicted == target) & mask).sum() / num_valid)


def one_hot_per_step_accuracy(predicted, target, lengths=None):
    """`per_step_accuracy` on one-hot / logit arrays of shape `[..., T, D]`.

    Args:
        predicted: array of shape `[..., T, D]` (one-hot samples, probabilities
            or logits; the argmax is taken).
        target: one-hot array of the same shape.
        lengths: optional int array of shape `[...]`.

    Returns:
        Python float in [0, 1] (`nan` when there is no valid step).
    """
    predicted = np.asarray(predicted)
    target = np.asarray(target)
    if predicted.shape != target.shape:
        raise ValueError(
            f"predicted and target arrays must have the same shape, got "
            f"{predicted.shape} vs {target.shape}."
        )
    return per_step_accuracy(
        tokens_from_one_hot(predicted), tokens_from_one_hot(target), lengths
    )


def stream_accuracies(predicted, target, stream_slices, lengths=None):
    """Per-stream accuracy of a multi-stream one-hot representation.

    Each stream is a group of columns holding its own categorical token; the
    argmax is taken within the group.

    Args:
        predicted: array of shape `[..., T, D]` (one-hot samples or logits).
        target: one-hot array of the same shape.
        stream_slices: dict mapping stream name to the `slice` of its columns.
        lengths: optional int array of shape `[...]`.

    Returns:
        dict mapping each stream name to its accuracy (float), plus `"mean"`,
        the unweighted mean over streams (Magenta's headline trio accuracy).
    """
    predicted = np.asarray(predicted)
    target = np.asarray(target)
    if predicted.shape != target.shape:
        raise ValueError(
            f"predicted and target arrays must have the same shape, got "
            f"{predicted.shape} vs {target.shape}."
        )
    depth = predicted.shape[-1]
    results = {}
    for name, columns in stream_slices.items():
        start, stop, _ = columns.indices(depth)
        if columns.stop is not None and columns.stop > depth:
            raise ValueError(
                f"stream {name!r} needs columns {columns.start}:{columns.stop} but the "
                f"arrays have depth {depth}."
            )
        if stop <= start:
            raise ValueError(f"stream {name!r} selects no column of depth {depth}.")
        results[name] = one_hot_per_step_accuracy(
            predicted[..., columns], target[..., columns], lengths
        )
    results["mean"] = float(np.mean([results[name] for name in stream_slices]))
    return results


def trio_stream_accuracies(predicted, target, lengths=None):
    """Melody, bass and drums accuracy of trio arrays (Table 1, Trio rows).

    Args:
        predicted: array of shape `[..., T, 692]` (one-hot samples or logits).
        target: one-hot array of shape `[..., T, 692]`.
        lengths: optional int array of shape `[...]`.

    Returns:
        dict with keys `"melody"`, `"bass"`, `"drums"` and `"mean"` (floats).

    Raises:
        ValueError: if the depth is not 692.
    """
    predicted = np.asarray(predicted)
    if predicted.shape[-1:] != (692,):
        raise ValueError(
            f"trio arrays must have depth 692 (melody 90 | bass 90 | drums 512), "
            f"got shape {predicted.shape}."
        )
    return stream_accuracies(predicted, target, TRIO_STREAM_SLICES, lengths)
