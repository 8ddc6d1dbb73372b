"""The matrix products of a step loop, with their weights prepared once.

A step loop (sampling, scheduled sampling, the LSTM recurrence and its
backward pass) multiplies each step's small activations by the same weights
at every step: an LSTM layer's input and recurrent kernels, the first
decoder layer's token rows, the output head. `StepProjection` holds such a
product's weights, read in the compute dtype once before the loop
(`step_params`), and applies it at each step.

On every backend it is `x @ kernel (+ bias)` in `keras.ops`, with two
backend-specific preparations of the weights, each changing the numbers
only by float rounding:

- On PyTorch's CPU inference path the kernel is reordered once for oneDNN
  (`torch_linear.py`), which multiplies a small batch by it several times
  faster than `torch.mm`.
- On TensorFlow with a half-precision compute dtype the kernel is kept
  transposed, `[N, K]`, and multiplied with `transpose_b`
  (`LoopMatrix`): TensorFlow's oneDNN bfloat16 kernels multiply a small
  batch by a large matrix about twice as fast in that operand layout
  (`8 x 2048 @ 2048 x 8192` in a loop on an AVX512_BF16 CPU: 1.4 ms against
  2.4 ms with the plain layout, and 2.7 ms in float32), while in float32
  the plain layout is the faster one (2.7 ms against 3.8 ms; `python
  benchmarks/operand_layout.py`). float16 takes the bfloat16 path (not
  measured: TensorFlow's CPU float16 products are emulated, and no GPU has
  been lent to this project).
"""

import keras
from keras import ops

from keras_musicvae.layers import torch_linear

_HALF = ("bfloat16", "float16")


def transposed_operand_is_faster(dtype):
    """Whether the backend multiplies `x @ W` in `dtype` faster given `W^T`.

    True on TensorFlow for half-precision dtypes (module docstring).
    """
    return keras.backend.backend() == "tensorflow" and keras.backend.standardize_dtype(dtype) in _HALF


class LoopMatrix:
    """`x @ matrix` (or `x @ matrix^T`), the matrix laid out once for a loop.

    Args:
        matrix: `[K, N]` (or `[N, K]` with `transpose=True`) in the compute
            dtype.
        transpose: multiply by `matrix^T` instead (the LSTM backward pass's
            `d_gates @ recurrent_kernel^T`).
    """

    def __init__(self, matrix, transpose=False):
        self.transposed_operand = transposed_operand_is_faster(matrix.dtype)
        if self.transposed_operand:
            # Kept as the product's [N, K] operand: for `transpose`, that is
            # `matrix` itself.
            self.operand = matrix if transpose else ops.transpose(matrix)
        else:
            self.operand = ops.transpose(matrix) if transpose else matrix

    def __call__(self, inputs):
        """`[..., K]` -> `[..., N]`."""
        if not self.transposed_operand:
            return ops.matmul(inputs, self.operand)
        # TensorFlow only (`transposed_operand_is_faster`): `transpose_b`
        # reads the [N, K] operand as it is, where `ops.transpose` would
        # copy it at every step outside a graph.
        import tensorflow as tf

        if len(inputs.shape) == 2:
            return tf.linalg.matmul(inputs, self.operand, transpose_b=True)
        leading = ops.shape(inputs)[:-1]
        flat = ops.reshape(inputs, (-1, inputs.shape[-1]))
        outputs = tf.linalg.matmul(flat, self.operand, transpose_b=True)
        return ops.reshape(outputs, tuple(leading) + (self.operand.shape[0],))


class StepProjection:
    """`inputs @ kernel + bias`, prepared once for a step loop.

    Args:
        kernel: `[K, N]` weights in the compute dtype.
        bias: `[N]` or None.
    """

    def __init__(self, kernel, bias=None):
        self.kernel = kernel
        self.bias = bias
        self._packed = torch_linear.pack(kernel, bias)
        self._product = None if self._packed is not None else LoopMatrix(kernel)

    @property
    def is_packed(self):
        """Whether the product runs on PyTorch's prepacked weights."""
        return self._packed is not None

    def __call__(self, inputs):
        """`[..., K]` -> `[..., N]`."""
        if self._packed is not None:
            return self._packed(inputs)
        outputs = self._product(inputs)
        return outputs if self.bias is None else outputs + self.bias
