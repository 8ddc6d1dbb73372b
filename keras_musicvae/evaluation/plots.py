"""Figures in the style of the paper's Fig. 3 and Fig. 4 (PNG via matplotlib Agg).

The figures are drawn on a `matplotlib.figure.Figure` with the Agg canvas
directly, so importing this module neither needs a display nor changes
pyplot's global backend.
"""

import itertools
import os

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from keras_musicvae.evaluation.melody_attributes import ATTRIBUTE_NAMES

# Paper Fig. 3: flat = yellow circles, hierarchical = magenta squares,
# data = green diamonds; further curves cycle through other markers.
_MARKERS = ("o", "s", "D", "^", "v", "P", "X", "*")

ATTRIBUTE_LABELS = {
    "c_diatonic": "C Diatonic",
    "note_density": "Note Density",
    "average_interval": "Avg. Interval",
    "syncopation_16th": "16th Note Sync.",
    "syncopation_8th": "8th Note Sync.",
}


def _save(figure, path):
    path = os.fspath(path)
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    FigureCanvasAgg(figure)
    figure.savefig(path, format="png", dpi=120)
    return path


def _curve(values, num_alphas, name):
    """Mean curve `[K]` from `[K]` or `[K, N]` values (alpha axis first)."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 0 or values.shape[0] != num_alphas:
        raise ValueError(
            f"curve {name!r} must have {num_alphas} values along its first axis "
            f"(one per alpha), got shape {values.shape}."
        )
    return np.nanmean(values.reshape(num_alphas, -1), axis=1)


def plot_interpolation_study(path, alphas, hamming_curves=None, relative_cost_curves=None):
    """Fig. 3-style plot: Hamming distance and/or relative LM cost vs alpha.

    Args:
        path: output PNG path (parent folders are created).
        alphas: float array `[K]`, the interpolation amounts (x axis).
        hamming_curves: optional dict name -> array `[K]` or `[K, N]` of
            normalised Hamming distances to sequence A (averaged over axis 1).
        relative_cost_curves: optional dict name -> array `[K]` or `[K, N]`
            of relative language-model costs.

    Returns:
        `path` (str).

    Raises:
        ValueError: if neither panel has curves or a curve has the wrong length.
    """
    alphas = np.asarray(alphas, dtype=np.float64)
    if alphas.ndim != 1:
        raise ValueError(f"alphas must be 1-D, got shape {alphas.shape}.")
    panels = [
        (curves, ylabel)
        for curves, ylabel in (
            (hamming_curves, "Hamming distance from A"),
            (relative_cost_curves, "Relative LM cost"),
        )
        if curves
    ]
    if not panels:
        raise ValueError("nothing to plot: give hamming_curves and/or relative_cost_curves.")
    figure = Figure(figsize=(6.0, 3.0 * len(panels)))
    axes = figure.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    for axis, (curves, ylabel) in zip(axes, panels):
        for (name, values), marker in zip(curves.items(), itertools.cycle(_MARKERS)):
            axis.plot(alphas, _curve(values, alphas.size, name), marker=marker, label=str(name))
        axis.set_ylabel(ylabel)
        axis.grid(True, alpha=0.3)
        axis.legend(loc="best", fontsize="small")
    axes[-1].set_xlabel("Interpolation amount (A \u2192 B)")
    figure.tight_layout()
    return _save(figure, path)


def plot_attribute_change_heatmap(path, matrices, attribute_names=ATTRIBUTE_NAMES, vmax=None):
    """Fig. 4-style heat map(s) of percentage attribute changes.

    Args:
        path: output PNG path.
        matrices: an array `[V, A]` or a dict title -> array `[V, A]` (e.g.
            `{"Adding": ..., "Subtracting": ...}`), drawn side by side. Rows are
            the attribute vector applied, columns the attribute measured.
        attribute_names: names of the columns (and of the rows when `V == A`).
        vmax: colour scale limit (symmetric, in percent); default the largest
            absolute finite value.

    Returns:
        `path` (str).
    """
    if not isinstance(matrices, dict):
        matrices = {"": matrices}
    if not matrices:
        raise ValueError("nothing to plot: matrices is empty.")
    arrays = {}
    for title, matrix in matrices.items():
        matrix = np.asarray(matrix, dtype=np.float64)
        if matrix.ndim != 2 or matrix.shape[1] != len(attribute_names):
            raise ValueError(
                f"matrix {title!r} must have shape [V, {len(attribute_names)}], got {matrix.shape}."
            )
        arrays[title] = matrix
    if vmax is None:
        finite = np.concatenate([m[np.isfinite(m)] for m in arrays.values()])
        vmax = float(np.abs(finite).max()) if finite.size else 1.0
        vmax = vmax or 1.0
    labels = [ATTRIBUTE_LABELS.get(name, str(name)) for name in attribute_names]
    figure = Figure(figsize=(5.0 * len(arrays) + 1.0, 4.5))
    axes = figure.subplots(1, len(arrays), squeeze=False)[0]
    image = None
    for axis, (title, matrix) in zip(axes, arrays.items()):
        image = axis.imshow(matrix, cmap="RdBu_r", vmin=-vmax, vmax=vmax, aspect="auto")
        axis.set_xticks(range(matrix.shape[1]), labels, rotation=45, ha="right")
        if matrix.shape[0] == len(labels):
            row_labels = labels
        else:
            row_labels = [str(i) for i in range(matrix.shape[0])]
        axis.set_yticks(range(matrix.shape[0]), row_labels)
        axis.set_xlabel("Attribute measured")
        axis.set_ylabel("Attribute vector applied")
        if title:
            axis.set_title(str(title))
        for (row, column), value in np.ndenumerate(matrix):
            text = "n/a" if not np.isfinite(value) else f"{value:.0f}%"
            axis.text(column, row, text, ha="center", va="center", fontsize=8)
    figure.colorbar(image, ax=list(axes), label="Change (%)")
    return _save(figure, path)
