"""`split_by_sizes`: consecutive parts of given sizes, on every backend."""

import numpy as np
from keras import ops

from keras_musicvae.utils.splitting import split_by_sizes

from testing import tensor


def test_parts_have_the_given_sizes_in_order():
    x = np.arange(24, dtype="float32").reshape(2, 12)
    parts = split_by_sizes(tensor(x), [3, 5, 4])
    assert [tuple(p.shape) for p in parts] == [(2, 3), (2, 5), (2, 4)]
    np.testing.assert_array_equal(ops.convert_to_numpy(parts[1]), x[:, 3:8])
    rows = split_by_sizes(tensor(x), [1, 1], axis=0)
    np.testing.assert_array_equal(ops.convert_to_numpy(rows[1]), x[1:])


def test_one_size_is_the_whole_tensor():
    x = tensor(np.ones((2, 5), "float32"))
    (whole,) = split_by_sizes(x, [5])
    assert whole is x
