"""The conductor of the hierarchical decoder (Magenta's `hierarchical_level_0`)."""

import keras
from keras import ops

from keras_musicvae.layers.initial_state import InitialStateDense
from keras_musicvae.layers.lstm import LSTMStack
from keras_musicvae.utils.building import build_once


@keras.saving.register_keras_serializable(package="keras_musicvae")
class Conductor(keras.layers.Layer):
    """Turns z into one embedding per segment (bar).

    `tanh(Dense(z))` gives the initial `(h, c)` states of a stacked LSTM
    (Magenta's column layout), which runs `num_segments` steps on zero inputs
    of depth 1 (the published configurations disable autoregression); the top
    layer's hidden state at step `i` is the embedding of segment `i`.

    Args:
        units: list of ints (`dec_rnn_size`).
        num_segments: int, segments per sequence (16 bars; 8 track slots).
        z_size: int.
        dropout_rate: float, input dropout in training.
        kernel_initializer: "keras" or "magenta" (see
            `keras_musicvae.layers.lstm.lstm_initializers`).

    Call arguments:
        z: `[B, z_size]`.

    Returns:
        `[B, num_segments, units[-1]]`.
    """

    def __init__(
        self, units, num_segments, z_size, dropout_rate=0.0, kernel_initializer="keras", **kwargs
    ):
        super().__init__(**kwargs)
        self.units = [int(u) for u in units]
        self.num_segments = int(num_segments)
        self.z_size = int(z_size)
        self.dropout_rate = float(dropout_rate)
        self.kernel_initializer = kernel_initializer
        self.initial_state = InitialStateDense(
            self.units, name="initial_state", dtype=self.dtype_policy
        )
        self.lstm = LSTMStack(
            self.units,
            dropout_rate=self.dropout_rate,
            kernel_initializer=kernel_initializer,
            name="lstm",
            dtype=self.dtype_policy,
        )

    @property
    def output_dim(self):
        return self.units[-1]

    def build(self, input_shape=None):
        build_once(self.initial_state, (None, self.z_size))
        build_once(self.lstm, (None, None, 1))
        self.built = True

    def call(self, z, training=False):
        states = self.initial_state(z)
        zeros = ops.zeros((ops.shape(z)[0], self.num_segments, 1), dtype=self.compute_dtype)
        embeddings, _ = self.lstm(zeros, initial_state=states, training=training)
        return embeddings

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "num_segments": self.num_segments,
                "z_size": self.z_size,
                "dropout_rate": self.dropout_rate,
                "kernel_initializer": self.kernel_initializer,
            }
        )
        return config
