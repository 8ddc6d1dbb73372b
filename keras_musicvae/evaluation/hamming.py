"""Sequence-length-normalised Hamming distance (paper Sec. 5.4, Fig. 3 top)."""

import numpy as np


def normalized_hamming_distance(sequence_a, sequence_b, lengths=None):
    """Fraction of time steps at which two token sequences differ.

    This is the top panel of Fig. 3 of the paper: the proportion of time-step
    predictions that differ between an interpolated sequence and sequence A.

    Args:
        sequence_a: int array of shape `[..., T]`.
        sequence_b: int array broadcastable with `sequence_a` to `[..., T]`
            (e.g. `[K, N, T]` interpolations against `[N, T]` endpoints).
        lengths: optional int array broadcastable to `[...]`, the number of
            valid steps of each sequence; later steps are not compared and the
            count is divided by the length. `None` compares all `T` steps.

    Returns:
        float64 array of shape `[...]` (a 0-d array for 1-D inputs) with values
        in [0, 1]; `nan` where a length is 0.

    Raises:
        ValueError: if the inputs do not broadcast or the lengths are out of
            range.
    """
    sequence_a = np.asarray(sequence_a)
    sequence_b = np.asarray(sequence_b)
    if sequence_a.ndim == 0 or sequence_b.ndim == 0:
        raise ValueError("expected token sequences of shape [..., T], got scalars.")
    try:
        sequence_a, sequence_b = np.broadcast_arrays(sequence_a, sequence_b)
    except ValueError as error:
        raise ValueError(
            f"sequences do not broadcast: {sequence_a.shape} vs {sequence_b.shape}."
        ) from error
    differs = sequence_a != sequence_b
    num_steps = differs.shape[-1]
    if lengths is None:
        return differs.mean(axis=-1)
    lengths = np.asarray(lengths)
    if np.any(lengths < 0) or np.any(lengths > num_steps):
        raise ValueError(
            f"lengths must lie in [0, {num_steps}] (the number of steps), got values "
            f"from {lengths.min()} to {lengths.max()}."
        )
    mask = np.arange(num_steps) < lengths[..., None]
    with np.errstate(invalid="ignore", divide="ignore"):
        return (differs & mask).sum(axis=-1) / lengths.astype(np.float64)
