"""A `MusicVAE`'s weights under Magenta's TF1 variable names and layouts.

The inverse of the checkpoint converter (`keras_musicvae.convert`): the same
name table (`magenta_checkpoint.visit_model`) is walked, and every weight is
turned back into Magenta's layout (`magenta_checkpoint.keras_to_lstm` for the
LSTMs: one kernel `[input + units, 4 units]` over `[x, h]`, gate blocks
`(i, j, f, o)`, the forget bias of 1.0 taken out of the stored bias). Both
exports (magenta.js folders and TF1 checkpoints) write these arrays.

Pure NumPy: works on every backend.

Round trips: a weight comes back bit for bit through export + conversion,
except a forget-gate bias below 0.5 in Keras' layout, which may move by one
float32 step of 1.0 (6e-8): subtracting and re-adding the 1.0 rounds there.
"""

import numpy as np

from keras_musicvae.convert import magenta_checkpoint


def to_numpy(variable):
    """A Keras variable's value as a NumPy array, on every backend (without
    NumPy 2's `__array__` deprecation warnings of TF and torch variables)."""
    value = variable.value
    if hasattr(value, "detach"):  # torch
        value = value.detach().cpu()
    if hasattr(value, "numpy"):  # TensorFlow, torch
        return np.asarray(value.numpy())
    return np.asarray(value)  # JAX


def _array(variable):
    return np.asarray(to_numpy(variable), dtype=np.float32)


class _Collector:
    """Reads the model's weights out in Magenta's names (the mirror image of
    the converter's `_Assignments`)."""

    def __init__(self):
        self.variables = {}

    def _put(self, name, value):
        if name in self.variables:
            raise ValueError(f"Two weights map to the Magenta variable {name}.")
        self.variables[name] = np.ascontiguousarray(value, dtype=np.float32)

    def get(self, name):
        # The converter reads a value by name and then assigns it; here the
        # "value" handed to `assign` is the name itself.
        return name

    def assign(self, target, value, source):
        self._put(value, _array(target))

    def dense(self, kernel, bias, prefix):
        self._put(f"{prefix}/kernel", _array(kernel))
        self._put(f"{prefix}/bias", _array(bias))

    def lstm(self, kernel, recurrent_kernel, bias, prefix):
        magenta_kernel, magenta_bias = magenta_checkpoint.keras_to_lstm(
            _array(kernel), _array(recurrent_kernel), _array(bias)
        )
        self._put(f"{prefix}/kernel", magenta_kernel)
        self._put(f"{prefix}/bias", magenta_bias)


def magenta_variables(model):
    """`{Magenta variable name: float32 array}` of a `MusicVAE`'s weights.

    The names and shapes are those a Magenta checkpoint of the same
    configuration holds (without `global_step` and optimizer slots);
    `keras_musicvae.convert.magenta_checkpoint.map_variables` maps them back.
    """
    collector = _Collector()
    magenta_checkpoint.visit_model(collector, model)
    return dict(sorted(collector.variables.items()))
