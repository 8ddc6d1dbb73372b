"""`StepProjection`: a step loop's `x @ kernel + bias`, on every backend."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_musicvae.layers.step_projection import LoopMatrix
from keras_musicvae.layers.step_projection import StepProjection
from keras_musicvae.layers.step_projection import transposed_operand_is_faster

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


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("transpose", [False, True])
def test_loop_matrix_is_the_product_in_either_layout(dtype, transpose):
    rng = np.random.default_rng(1)
    inputs = rng.standard_normal((2, 3, 6)).astype("float32")
    matrix = rng.standard_normal((4, 6) if transpose else (6, 4)).astype("float32")
    product = LoopMatrix(ops.cast(tensor(matrix), dtype), transpose=transpose)
    # TensorFlow keeps half-precision weights as the transposed operand.
    expected_layout = keras.backend.backend() == "tensorflow" and dtype == "bfloat16"
    assert product.transposed_operand == expected_layout
    assert transposed_operand_is_faster(dtype) == expected_layout
    reference = inputs @ (matrix.T if transpose else matrix)
    for x, want in ((inputs, reference), (inputs[0], reference[0])):  # rank 3 and rank 2
        got = ops.convert_to_numpy(ops.cast(product(ops.cast(tensor(x), dtype)), "float32"))
        assert got.shape == want.shape
        tolerance = 1e-5 if dtype == "float32" else 0.1
        np.testing.assert_allclose(got, want, rtol=tolerance, atol=tolerance)
