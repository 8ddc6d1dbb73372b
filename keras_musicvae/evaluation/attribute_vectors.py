"""Attribute vectors and their effect on decoded melodies (paper Sec. 5.5, Fig. 4).

Sec. 5.5: measure an attribute on a set of examples, order the set by it,
split it into quartiles, and take the mean latent code of the top quartile
minus that of the bottom quartile as the attribute vector. Then add (or
subtract) each vector to latent codes sampled from the prior, decode, and
report the average percentage change of every attribute against the sequences
decoded from the unaltered codes (Fig. 4: rows = vector applied, columns =
attribute measured).
"""

import numpy as np

from keras_musicvae.evaluation.melody_attributes import melody_attributes


def attribute_vectors(z, attribute_values):
    """Mean latent of the top quartile minus mean latent of the bottom quartile.

    Examples are ordered by attribute value (a stable sort, so ties keep their
    input order) and split into four groups as equal as possible
    (`numpy.array_split`); examples whose value is `nan` are left out.

    Args:
        z: float array `[N, Z]`, latent codes (e.g. the encoder means).
        attribute_values: float array `[N]` (one attribute) or `[N, A]`.

    Returns:
        float64 array `[Z]` for a 1-D `attribute_values`, else `[A, Z]`.

    Raises:
        ValueError: on mismatched shapes or fewer than 4 valid examples for an
            attribute.
    """
    z = np.asarray(z, dtype=np.float64)
    values = np.asarray(attribute_values, dtype=np.float64)
    if z.ndim != 2:
        raise ValueError(f"z must have shape [N, Z], got {z.shape}.")
    single = values.ndim == 1
    if single:
        values = values[:, None]
    if values.ndim != 2 or values.shape[0] != z.shape[0]:
        raise ValueError(
            f"attribute_values must have shape [N] or [N, A] with N = {z.shape[0]}, "
            f"got {np.shape(attribute_values)}."
        )
    vectors = []
    for column in range(values.shape[1]):
        valid = np.flatnonzero(~np.isnan(values[:, column]))
        if valid.size < 4:
            raise ValueError(
                f"attribute {column} has {valid.size} examples with a defined value; "
                "at least 4 are needed to form quartiles."
            )
        order = valid[np.argsort(values[valid, column], kind="stable")]
        quartiles = np.array_split(order, 4)
        vectors.append(z[quartiles[-1]].mean(axis=0) - z[quartiles[0]].mean(axis=0))
    vectors = np.stack(vectors)
    return vectors[0] if single else vectors


def attribute_change_matrix(
    z,
    vectors,
    decode_fn,
    attribute_fn=melody_attributes,
    scale=1.0,
    reduction="ratio_of_means",
):
    """Percentage change of every attribute when each attribute vector is applied.

    For each vector i, decodes `z + scale * vectors[i]` and compares the
    attributes of the result with those of `decode_fn(z)`. Use `scale=1` for
    the left panel of Fig. 4 (adding) and `scale=-1` for the right one
    (subtracting). The decode callback is called `1 + len(vectors)` times.

    Args:
        z: float array `[N, Z]`, latent codes (256 prior samples in the paper).
        vectors: float array `[V, Z]`, the attribute vectors to apply.
        decode_fn: callable `z [N, Z] -> sequences` (anything `attribute_fn`
            accepts, e.g. melody tokens `[N, T]`).
        attribute_fn: callable `sequences -> float array [N, A]`; defaults to
            the five melody attributes.
        scale: float multiplying each vector.
        reduction: `"ratio_of_means"` (default):
            `100 * (mean(changed) - mean(base)) / mean(base)` per attribute,
            means over the samples where both values are defined; robust when
            an attribute is 0 for some unaltered samples (syncopation often
            is). `"mean_of_ratios"`: mean over samples of
            `100 * (changed - base) / base`, skipping samples with base 0 or
            undefined values.

    Returns:
        float64 array `[V, A]` of percentages (`nan` where undefined).
    """
    z = np.asarray(z, dtype=np.float64)
    vectors = np.asarray(vectors, dtype=np.float64)
    if z.ndim != 2:
        raise ValueError(f"z must have shape [N, Z], got {z.shape}.")
    if vectors.ndim != 2 or vectors.shape[1] != z.shape[1]:
        raise ValueError(
            f"vectors must have shape [V, {z.shape[1]}] to match z, got {vectors.shape}."
        )
    if reduction not in ("ratio_of_means", "mean_of_ratios"):
        raise ValueError(
            f"reduction must be 'ratio_of_means' or 'mean_of_ratios', got {reduction!r}."
        )

    def measure(latents):
        values = np.asarray(attribute_fn(decode_fn(latents)), dtype=np.float64)
        if values.ndim != 2 or values.shape[0] != z.shape[0]:
            raise ValueError(
                f"attribute_fn(decode_fn(z)) must return an array [N={z.shape[0]}, A], "
                f"got shape {values.shape}."
            )
        return values

    base = measure(z)
    rows = []
    for vector in vectors:
        changed = measure(z + scale * vector)
        if changed.shape != base.shape:
            raise ValueError(
                f"attribute arrays changed shape between calls: {base.shape} vs {changed.shape}."
            )
        both = ~np.isnan(base) & ~np.isnan(changed)
        row = np.full(base.shape[1], np.nan)
        for column in range(base.shape[1]):
            valid = both[:, column]
            if reduction == "ratio_of_means":
                base_mean = base[valid, column].mean() if valid.any() else np.nan
                if valid.any() and base_mean != 0:
                    row[column] = 100.0 * (changed[valid, column].mean() - base_mean) / base_mean
            else:
                valid = valid & (base[:, column] != 0)
                if valid.any():
                    ratios = (changed[valid, column] - base[valid, column]) / base[valid, column]
                    row[column] = 100.0 * ratios.mean()
        rows.append(row)
    return np.stack(rows) if rows else np.zeros((0, base.shape[1]))
