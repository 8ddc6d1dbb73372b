"""Splitting a tensor into parts of given sizes (`keras.ops` only)."""

import itertools

from keras import ops


def split_by_sizes(x, sizes, axis=-1):
    """`x` split along `axis` into consecutive parts of `sizes` (which sum to
    the axis' size); a list of one part for one size."""
    if len(sizes) == 1:
        return [x]
    return ops.split(x, list(itertools.accumulate(sizes[:-1])), axis=axis)
