"""Spherical interpolation between latent vectors (paper Sec. 2.1.2).

MusicVAE interpolates between the latent codes of two sequences along a great
circle rather than a straight line, because samples of a high-dimensional
spherical Gaussian lie near a hypersphere (White, 2016; paper Sec. 2.1.2).
"""

import numpy as np

# Below this value of sin(angle) the two vectors are treated as parallel and
# the interpolation falls back to a linear one (the spherical formula divides
# by sin(angle)).
_PARALLEL_SIN_TOLERANCE = 1e-7


def interpolation_alphas(num_steps):
    """Evenly spaced interpolation amounts from 0 to 1, endpoints included.

    Args:
        num_steps: int >= 2, number of interpolation points (the two endpoints
            included).

    Returns:
        float64 array of shape `[num_steps]`: `0, 1/(num_steps-1), ..., 1`.

    Raises:
        ValueError: if `num_steps` is not an integer >= 2.
    """
    if isinstance(num_steps, bool) or not isinstance(num_steps, (int, np.integer)):
        raise ValueError(f"num_steps must be an integer >= 2, got {num_steps!r}.")
    if num_steps < 2:
        raise ValueError(
            f"num_steps must be >= 2 (both endpoints are included), got {num_steps}."
        )
    return np.linspace(0.0, 1.0, int(num_steps))


def slerp(a, b, alpha):
    """Spherical linear interpolation from `a` (alpha = 0) to `b` (alpha = 1).

    `slerp(a, b, t) = sin((1 - t) * omega) / sin(omega) * a
    + sin(t * omega) / sin(omega) * b`, where `omega` is the angle between `a`
    and `b`. When `a` and `b` are parallel or anti-parallel (`sin(omega)` ~ 0)
    the formula is undefined and the linear interpolation `(1 - t) * a + t * b`
    is returned instead (for anti-parallel vectors the great circle is not
    unique; the linear path passes through the origin).

    Interpolating two vectors of equal norm keeps that norm at every alpha.

    Args:
        a: float array of shape `[..., D]`, the start vector(s).
        b: float array of shape `[..., D]` (broadcastable with `a`), the end
            vector(s).
        alpha: scalar or 1-D float array of shape `[K]` of interpolation
            amounts (usually in [0, 1]; values outside extrapolate).

    Returns:
        float64 array of shape `broadcast(a, b).shape` for a scalar `alpha`,
        or `[K] + broadcast(a, b).shape` for a 1-D `alpha` (the alpha axis
        first).

    Raises:
        ValueError: if the inputs are scalars, do not broadcast, or `alpha`
            has more than one dimension.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    alpha = np.asarray(alpha, dtype=np.float64)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError("slerp needs vectors of shape [..., D], got scalars.")
    if alpha.ndim > 1:
        raise ValueError(
            f"alpha must be a scalar or a 1-D array, got shape {alpha.shape}."
        )
    try:
        a, b = np.broadcast_arrays(a, b)
    except ValueError as error:
        raise ValueError(
            f"slerp endpoints do not broadcast: {a.shape} vs {b.shape}."
        ) from error

    norm_a = np.linalg.norm(a, axis=-1, keepdims=True)
    norm_b = np.linalg.norm(b, axis=-1, keepdims=True)
    denominator = norm_a * norm_b
    safe_denominator = np.where(denominator > 0, denominator, 1.0)
    cos_omega = np.clip(np.sum(a * b, axis=-1, keepdims=True) / safe_denominator, -1.0, 1.0)
    omega = np.arccos(cos_omega)  # [..., 1]
    sin_omega = np.sin(omega)
    parallel = (np.abs(sin_omega) < _PARALLEL_SIN_TOLERANCE) | (denominator == 0)
    safe_sin = np.where(parallel, 1.0, sin_omega)

    # Put the alpha axis in front: t has shape [K, 1, ..., 1] or [].
    t = alpha.reshape(alpha.shape + (1,) * a.ndim)
    spherical_a = np.sin((1.0 - t) * omega) / safe_sin
    spherical_b = np.sin(t * omega) / safe_sin
    weight_a = np.where(parallel, 1.0 - t, spherical_a)
    weight_b = np.where(parallel, t, spherical_b)
    return weight_a * a + weight_b * b


INTERPOLATION_METHODS = ("slerp", "linear")


def interpolation_path(start, end, num_steps, method="slerp"):
    """`[num_steps, D]` points from `start` to `end` `[D]`, endpoints included.

    Args:
        start, end: float arrays `[D]`.
        num_steps: int >= 2.
        method: "slerp" (great circle, as Magenta's `TrainedModel`) or
            "linear" (straight line, as magenta.js's `interpolate`).

    Returns:
        float64 array `[num_steps, D]`.
    """
    alphas = interpolation_alphas(num_steps)
    if _checked_method(method) == "linear":
        start = np.asarray(start, np.float64)
        end = np.asarray(end, np.float64)
        return (1.0 - alphas)[:, None] * start[None] + alphas[:, None] * end[None]
    return slerp(start, end, alphas)


def interpolation_grid(corners, num_steps, method="slerp"):
    """A `num_steps x num_steps` grid of latent vectors between four corners.

    The corners come in magenta.js's order (`MusicVAE.interpolate` with four
    inputs): top-left, bottom-left, top-right, bottom-right. Row `i` goes
    from the left edge to the right edge; `grid[0]` is the top row (from
    corner 0 to corner 2), `grid[-1]` the bottom row (corner 1 to corner 3).
    magenta.js returns the same grid flattened row by row
    (`grid.reshape(-1, D)`).

    Args:
        corners: float array `[4, D]`.
        num_steps: int >= 2, points per side (corners included).
        method: "linear" is magenta.js's bilinear blend, `z = (1-y)(1-x) c0
            + y(1-x) c1 + (1-y)x c2 + xy c3`; "slerp" (the default) blends
            spherically: each row is the slerp between the points at height
            `y` on the left edge (slerp c0 -> c1) and on the right edge
            (slerp c2 -> c3), so every edge is the two-corner slerp.

    Returns:
        float64 array `[num_steps, num_steps, D]` (row, column, latent).

    Raises:
        ValueError: corners not `[4, D]`, num_steps < 2, or an unknown method.
    """
    corners = np.asarray(corners, np.float64)
    if corners.ndim != 2 or corners.shape[0] != 4:
        raise ValueError(f"corners must be [4, D] (four latent vectors); got shape {corners.shape}.")
    ys = interpolation_alphas(num_steps)
    if _checked_method(method) == "linear":
        y, x = ys[:, None, None], ys[None, :, None]
        top_left, bottom_left, top_right, bottom_right = corners
        return (
            (1 - y) * (1 - x) * top_left
            + y * (1 - x) * bottom_left
            + (1 - y) * x * top_right
            + y * x * bottom_right
        )
    left = slerp(corners[0], corners[1], ys)  # [rows, D]
    right = slerp(corners[2], corners[3], ys)
    return np.swapaxes(slerp(left, right, ys), 0, 1)  # [columns, rows, D] -> [rows, columns, D]


def _checked_method(method):
    if method not in INTERPOLATION_METHODS:
        raise ValueError(f"Unknown interpolation method {method!r}; use one of {INTERPOLATION_METHODS}.")
    return method
