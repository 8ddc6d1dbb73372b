"""`torch_cell`: the PyTorch step loops' cell update is `lstm_gates`' formula and precision."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_musicvae.layers.lstm import LSTMStack
from keras_musicvae.layers.lstm_recurrence import lstm_gates

from testing import tensor

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "torch", reason="the cell update of the torch backend's step loops"
)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_the_update_matches_the_generic_one(dtype):
    from keras_musicvae.layers import torch_cell

    rng = np.random.default_rng(0)
    gates = ops.cast(tensor(rng.normal(0.0, 2.0, (3, 20))), dtype)
    cell = tensor(rng.normal(0.0, 1.0, (3, 5)))
    h, c = torch_cell.lstm_gates(gates, cell)
    h_ref, c_ref = lstm_gates(gates, cell)
    # h in the inputs' dtype, c in float32 (the generic loop's precision).
    assert (str(h.dtype), str(c.dtype)) == (f"torch.{dtype}", "torch.float32")
    assert (h.dtype, c.dtype) == (h_ref.dtype, c_ref.dtype)
    np.testing.assert_allclose(ops.convert_to_numpy(ops.cast(h, "float32")), ops.convert_to_numpy(ops.cast(h_ref, "float32")), atol=1e-6)
    np.testing.assert_allclose(ops.convert_to_numpy(c), ops.convert_to_numpy(c_ref), atol=1e-6)


def test_the_step_loop_takes_it_with_the_prepacked_products():
    import torch

    from keras_musicvae.layers import torch_cell
    from keras_musicvae.layers import torch_lstm

    stack = LSTMStack([4, 3])
    stack.build((None, None, 6))
    assert stack.step_params().cell is lstm_gates  # autograd on (training)
    with torch.no_grad():
        assert stack.step_params().cell is torch_cell.lstm_gates
        with torch_lstm.disabled():
            assert stack.step_params().cell is lstm_gates
