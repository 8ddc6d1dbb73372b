"""The matrix products of a step loop, with their weights prepared once.

A step loop (sampling, scheduled sampling) multiplies each step's small
activations by the same weights at every step: an LSTM layer's input and
recurrent kernels, the first decoder layer's token rows, the output head.
`StepProjection` holds such a product's weights, read in the compute dtype
once before the loop (`step_params`), and applies it at each step.

On every backend it is `x @ kernel (+ bias)` in `keras.ops`. On PyTorch's
CPU inference path the kernel is also reordered once for oneDNN
(`torch_linear.py`), which multiplies a small batch by it several times
faster than `torch.mm`; the numbers differ only by float rounding.
"""

from keras import ops

from keras_musicvae.layers import torch_linear


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

    @property
    def is_packed(self):
        """Whether the product runs on PyTorch's prepacked weights."""
        return self._packed is not None

    def __call__(self, inputs):
        """`[..., K]` -> `[..., N]`."""
        if self._packed is not None:
            return self._packed(inputs)
        outputs = ops.matmul(inputs, self.kernel)
        return outputs if self.bias is None else outputs + self.bias
