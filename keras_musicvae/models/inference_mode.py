"""Inference without autograd bookkeeping on the PyTorch backend.

BACKEND-SPECIFIC CODE (PyTorch): this module is the one place where the
public inference methods learn about torch's autograd. Everything else in
the models is `keras.ops`.

On the torch backend the Keras variables are `torch.nn.Parameter`s that
require gradients, so an eager forward pass records an autograd graph for
every op of every step of the sampling loop, and the results carry
`requires_grad=True`. The NumPy inference methods (`encode`, `decode`,
`sample`, ...) never differentiate, so `no_autograd` runs them under
`torch.no_grad()`: no graph is recorded and no activations are kept alive
for a backward pass that never comes.

`torch.no_grad()` is used rather than `torch.inference_mode()`: a first call
may build the model, and variables created under inference mode would be
"inference tensors" that a later `fit` could not train. On TensorFlow and
JAX, which only differentiate when asked (`tf.GradientTape`, `jax.grad`),
the decorator does nothing.
"""

import functools

import keras


def no_autograd(method):
    """Decorator: runs `method` under `torch.no_grad()` on the torch backend.

    The backend is read at call time, so a function decorated at import
    works whichever backend Keras was configured with. On other backends
    the call goes straight through.

    Args:
        method: the function or method to wrap.

    Returns:
        The wrapped function (same name, docstring and signature).
    """

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        if keras.backend.backend() != "torch":
            return method(*args, **kwargs)
        import torch

        with torch.no_grad():
            return method(*args, **kwargs)

    return wrapper
