"""The "Data" interpolation baseline of Fig. 3 (paper Sec. 5.4).

Naive blending in data space: each time step of the interpolated sequence is
taken from sequence B with probability alpha and from sequence A otherwise,
`p(x_t = b_t) = alpha`, `p(x_t = a_t) = 1 - alpha`, independently per step.
"""

import numpy as np


def data_interpolation(sequence_a, sequence_b, alphas, seed=None):
    """Per-step Bernoulli blend of two token sequences.

    Args:
        sequence_a: int array of shape `[..., T]`, sequence(s) A.
        sequence_b: int array of the same shape, sequence(s) B.
        alphas: scalar or 1-D float array of shape `[K]` with values in [0, 1].
        seed: int, `None` or a `numpy.random.Generator`; the same int gives the
            same blend.

    Returns:
        array of the input dtype, shape `sequence_a.shape` for a scalar alpha
        or `[K] + sequence_a.shape` for 1-D alphas (the alpha axis first).
        Alpha 0 gives A exactly and alpha 1 gives B exactly.

    Raises:
        ValueError: if shapes differ or an alpha lies outside [0, 1].
    """
    sequence_a = np.asarray(sequence_a)
    sequence_b = np.asarray(sequence_b)
    if sequence_a.shape != sequence_b.shape:
        raise ValueError(
            f"sequences A and B must have the same shape, got {sequence_a.shape} vs "
            f"{sequence_b.shape}."
        )
    alphas = np.asarray(alphas, dtype=np.float64)
    if alphas.ndim > 1:
        raise ValueError(f"alphas must be a scalar or 1-D, got shape {alphas.shape}.")
    if np.any(alphas < 0) or np.any(alphas > 1) or np.any(np.isnan(alphas)):
        raise ValueError(f"alphas must lie in [0, 1], got {alphas}.")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    # uniform in [0, 1): "u < alpha" is never true for alpha 0, always for 1.
    uniform = rng.random(alphas.shape + sequence_a.shape)
    take_b = uniform < alphas.reshape(alphas.shape + (1,) * sequence_a.ndim)
    return np.where(take_b, sequence_b, sequence_a)
