"""Relative language-model cost of interpolations (paper Sec. 5.4, Fig. 3 bottom).

Sec. 5.4 normalises the language-model cost of each interpolated sequence by
the cost one would expect from linearly blending the endpoint costs:

    relative cost = C_alpha / (alpha * C_B + (1 - alpha) * C_A),

where `C_alpha` is the cost of the sequence interpolated with amount alpha and
`C_A`, `C_B` are the costs of the endpoint sequences A and B. A value of 1
means the interpolated sequence is as probable as the originals; the "Data"
baseline shows a hump well above 1. (The denominator is an alpha-weighted mean
of the endpoint costs, not their plain mean; both agree only at alpha = 0.5.)
The ratio does not depend on the base of the logarithm, and for sequences of
equal length it is the same for total and per-token costs.
"""

import numpy as np


def relative_cost(interpolated_costs, cost_a, cost_b, alphas):
    """`C_alpha / (alpha C_B + (1 - alpha) C_A)`, element-wise.

    Args:
        interpolated_costs: float array of shape `[K, ...]`, the cost of the
            sequence interpolated with `alphas[k]` (alpha axis first, as
            returned by `slerp` / `data_interpolation`).
        cost_a: float array broadcastable to `[...]`, costs of sequences A.
        cost_b: float array broadcastable to `[...]`, costs of sequences B.
        alphas: float array of shape `[K]`.

    Returns:
        float64 array of shape `[K, ...]`.

    Raises:
        ValueError: if the leading axis does not match `alphas`.
    """
    interpolated_costs = np.asarray(interpolated_costs, dtype=np.float64)
    alphas = np.asarray(alphas, dtype=np.float64)
    if alphas.ndim != 1:
        raise ValueError(f"alphas must be 1-D, got shape {alphas.shape}.")
    if interpolated_costs.ndim == 0 or interpolated_costs.shape[0] != alphas.shape[0]:
        raise ValueError(
            f"interpolated_costs must have the alpha axis first with {alphas.shape[0]} "
            f"entries, got shape {interpolated_costs.shape}."
        )
    t = alphas.reshape((-1,) + (1,) * (interpolated_costs.ndim - 1))
    expected = t * np.asarray(cost_b, dtype=np.float64) + (1.0 - t) * np.asarray(
        cost_a, dtype=np.float64
    )
    return interpolated_costs / expected


def relative_lm_costs(language_model, sequences_a, sequences_b, interpolations, alphas):
    """Relative costs of a batch of interpolations under a language model.

    Args:
        language_model: an object with `costs(sequences) -> [N]`, e.g. a
            fitted `KneserNeyLanguageModel`.
        sequences_a: int array `[N, T]`, the endpoint sequences A.
        sequences_b: int array `[N, T]`, the endpoint sequences B.
        interpolations: int array `[K, N, T]`, the interpolated sequences
            (alpha axis first).
        alphas: float array `[K]`.

    Returns:
        float64 array `[K, N]`; average over axis 1 for a Fig. 3 curve.
    """
    interpolations = np.asarray(interpolations)
    sequences_a = np.asarray(sequences_a)
    if interpolations.ndim != 3 or interpolations.shape[1:] != sequences_a.shape:
        raise ValueError(
            f"interpolations must have shape [K, N, T] = [K] + {sequences_a.shape}, got "
            f"{interpolations.shape}."
        )
    num_alphas, num_pairs, num_steps = interpolations.shape
    cost_a = language_model.costs(sequences_a)
    cost_b = language_model.costs(np.asarray(sequences_b))
    flat = language_model.costs(interpolations.reshape(num_alphas * num_pairs, num_steps))
    return relative_cost(flat.reshape(num_alphas, num_pairs), cost_a, cost_b, alphas)
