"""`StepProjection`: a step loop's `x @ kernel + bias`, on every backend."""

import numpy as np
from keras import ops

from keras_musicvae.layers.step_projection import StepProjection

from testing import tensor


def test_it_is_the_matrix_product_plus_bias():
    rng = np.random.default_rng(0)
    inputs, kernel, bias = (rng.standard_normal(s).astype("float32") for s in ((3, 5), (5, 8), (8,)))
    with_bias = StepProjection(tensor(kernel), tensor(bias))
    without_bias = StepProjection(tensor(kernel))
    np.testing.assert_allclose(
        ops.convert_to_numpy(with_bias(tensor(inputs))), inputs @ kernel + bias, rtol=1e-5, atol=1e-5
    )
    np.testing.assert_allclose(
        ops.convert_to_numpy(without_bias(tensor(inputs))), inputs @ kernel, rtol=1e-5, atol=1e-5
    )
