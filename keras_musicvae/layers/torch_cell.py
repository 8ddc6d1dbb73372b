"""The LSTM cell update of the PyTorch step loops, in PyTorch's own ops (backend-specific module).

Sampling advances every LSTM layer one step at a time. After the matrix
products (`torch_linear.py`), each step's cell update is a dozen small
element-wise operations on `[B, 4H]` gate pre-activations; through
`keras.ops` on the eager torch backend each of them also converts and
checks its arguments (`convert_to_tensor`, `standardize_dtype`), which costs
several times the operation itself at sampling's batch sizes. `lstm_gates`
here is `lstm_recurrence.lstm_gates` written with torch's operations
directly: the same formula, the same precision (gates and cell state in
float32 for bfloat16 inputs, `h` back in the inputs' dtype), no autograd.

It is used where the step loop's products are prepacked (the same
conditions: `torch_linear.is_available`, which includes autograd being off),
chosen once per loop by `LSTMStack.step_params`.
"""

import torch

_HALF = (torch.float16, torch.bfloat16)


def lstm_gates(gate_inputs, cell_state):
    """One LSTM update from pre-activations `[B, 4H]` (gates i, f, c, o).

    Args:
        gate_inputs: `[B, 4H]` torch tensor.
        cell_state: `[B, H]` torch tensor (float32 under half precision).

    Returns:
        `(h, c)`: `h` in `gate_inputs`' dtype, `c` in float32 for half
        precision inputs (else in `gate_inputs`' dtype).
    """
    dtype = gate_inputs.dtype
    if dtype in _HALF:
        gate_inputs = gate_inputs.float()
    i, f, g, o = gate_inputs.chunk(4, dim=-1)
    c = torch.addcmul(torch.sigmoid(f) * cell_state.to(gate_inputs.dtype), torch.sigmoid(i), torch.tanh(g))
    h = torch.sigmoid(o) * torch.tanh(c)
    return h.to(dtype), c
