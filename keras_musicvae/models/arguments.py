"""Checks of `MusicVAE`'s integer arguments (clear messages naming the argument)."""

import numpy as np


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
