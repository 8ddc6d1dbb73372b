"""Initial LSTM states computed from a conditioning vector (z or a bar embedding)."""

import keras
from keras import ops

from keras_musicvae.layers.precision import compute_weight


@keras.saving.register_keras_serializable(package="keras_musicvae")
class InitialStateDense(keras.layers.Layer):
    """`tanh(Dense(conditioning))` split into one `(h, c)` pair per LSTM layer.

    The dense output columns are laid out as Magenta's
    `initial_cell_state_from_embedding`: `[c_0, h_0, c_1, h_1, ...]`, so a
    Magenta `z_to_initial_state` / `initial_state` kernel is used as it is.
    The kernel is initialised with stddev 0.001, as in Magenta.

    Args:
        units: list of ints, the units of each LSTM layer.

    Call arguments:
        conditioning: `[B, C]`.

    Returns:
        list of `(h, c)` pairs, `[B, units[k]]` each, in the compute dtype
        (the LSTM casts `c` to float32 when it starts its loop).
    """

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = [int(u) for u in units]

    def build(self, input_shape):
        total = 2 * sum(self.units)
        self.kernel = self.add_weight(
            name="kernel",
            shape=(int(input_shape[-1]), total),
            initializer=keras.initializers.RandomNormal(stddev=0.001),
        )
        self.bias = self.add_weight(name="bias", shape=(total,), initializer="zeros")
        self.built = True

    def call(self, conditioning):
        kernel, bias = compute_weight(self, self.kernel), compute_weight(self, self.bias)
        flat = ops.tanh(ops.matmul(conditioning, kernel) + bias)
        states = []
        offset = 0
        for units in self.units:
            c = flat[..., offset : offset + units]
            h = flat[..., offset + units : offset + 2 * units]
            states.append((h, c))
            offset += 2 * units
        return states

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units})
        return config
