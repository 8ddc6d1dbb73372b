"""Writing evaluation figures (numbers behind the plots) to JSON."""

import json
import math
import os

import numpy as np


def to_jsonable(value):
    """Converts NumPy arrays/scalars (nested in dicts, lists, tuples) to plain Python.

    Non-finite floats (`nan`, `inf`) become `None`, since strict JSON has no
    such numbers. Dict keys are converted to strings.

    Args:
        value: any nesting of dicts, lists, tuples, NumPy arrays and scalars,
            Python numbers, strings, bools and None.

    Returns:
        The same structure built from JSON types only.

    Raises:
        TypeError: for a value that has no JSON form (the message names its
            type).
    """
    if isinstance(value, dict):
        return {str(key): to_jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(item) for item in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, np.generic):
        return to_jsonable(value.item())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"cannot write a value of type {type(value).__name__} to JSON: {value!r}")


def write_figures_json(figures, path):
    """Writes a dict of figures (e.g. curves, matrices, alphas) to a JSON file.

    Args:
        figures: dict; values may hold NumPy arrays and scalars.
        path: output path (parent folders are created).

    Returns:
        `path` (str).
    """
    if not isinstance(figures, dict):
        raise TypeError(f"figures must be a dict, got {type(figures).__name__}.")
    path = os.fspath(path)
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(to_jsonable(figures), handle, indent=2, allow_nan=False)
        handle.write("\n")
    return path
