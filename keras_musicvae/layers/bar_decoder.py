"""The core (bar-level) LSTM decoder with its output head."""

import keras
from keras import ops

from keras_musicvae.layers.initial_state import InitialStateDense
from keras_musicvae.layers.lstm import LSTMStack
from keras_musicvae.utils.building import build_once


@keras.saving.register_keras_serializable(package="keras_musicvae")
class BarDecoder(keras.layers.Layer):
    """Stacked LSTM decoder conditioned on a vector (z or a bar embedding).

    Magenta's `BaseLstmDecoder`: the LSTM states start at
    `tanh(Dense(conditioning))` (split per layer); the input at step t is
    `[previous output, conditioning, control_t]` (in that order); the top
    layer's hidden state goes through the output head. The first step's
    previous output is zeros, or a given start vector.

    Teacher-forced decoding (`call`) runs each layer over the whole sequence
    with one input projection; the conditioning vector's share of that
    projection is computed once per sequence. Step-by-step decoding (free
    running, scheduled sampling) uses `step` inside the loops of
    `keras_musicvae.layers.decoding`; both share the same weights.

    Args:
        units: list of ints (`dec_rnn_size`).
        head: an `OutputHead` (categorical, multi-stream, groove, NADE).
        conditioning_dim: int, size of the conditioning vector.
        control_depth: int, depth of the control inputs (0 for none).
        dropout_rate: float, input dropout of every LSTM layer in training.

    Call arguments:
        decoder_inputs: `[B, T, D]`: the targets shifted right by one step
            (zeros first).
        conditioning: `[B, conditioning_dim]`.
        controls: `[B, T, control_depth]` or None.
        training: bool.

    Returns:
        logits `[B, T, head.logits_depth]`.
    """

    def __init__(
        self, units, head, conditioning_dim, control_depth=0, dropout_rate=0.0, **kwargs
    ):
        super().__init__(**kwargs)
        if isinstance(head, dict):
            head = keras.saving.deserialize_keras_object(head)
        self.units = [int(u) for u in units]
        self.head = head
        self.conditioning_dim = int(conditioning_dim)
        self.control_depth = int(control_depth)
        self.dropout_rate = float(dropout_rate)
        self.initial_state = InitialStateDense(self.units, name="initial_state")
        self.lstm = LSTMStack(self.units, dropout_rate=self.dropout_rate, name="lstm")

    @property
    def token_depth(self):
        return self.head.output_depth

    @property
    def input_dim(self):
        return self.token_depth + self.conditioning_dim + self.control_depth

    def build(self, input_shape=None):
        build_once(self.initial_state, (None, self.conditioning_dim))
        build_once(self.lstm, (None, None, self.input_dim))
        build_once(self.head, (None, self.units[-1]))
        self.built = True

    # -- pieces of the first layer's input projection ------------------------
    def _kernel_blocks(self):
        kernel = self.lstm.kernels[0]
        d, c = self.token_depth, self.conditioning_dim
        return kernel[:d], kernel[d : d + c], kernel[d + c :]

    def token_projection(self, tokens):
        """`tokens @ kernel[token rows]`: `[..., D]` -> `[..., 4H_0]`."""
        return ops.matmul(tokens, self._kernel_blocks()[0])

    def conditioning_projection(self, conditioning):
        """`conditioning @ kernel[conditioning rows] + bias`, `[..., 4H_0]`."""
        return ops.matmul(conditioning, self._kernel_blocks()[1]) + self.lstm.biases[0]

    def control_projection(self, controls):
        """`controls @ kernel[control rows]`, `[..., 4H_0]`."""
        return ops.matmul(controls, self._kernel_blocks()[2])

    def step(self, first_layer_gate_inputs, states):
        """One decoder step from the first layer's gate inputs.

        Returns:
            `(logits [B, logits_depth], new_states)`.
        """
        hidden, states = self.lstm.step(first_layer_gate_inputs, states)
        return self.head(hidden), states

    # -- teacher forcing -----------------------------------------------------
    def call(self, decoder_inputs, conditioning, controls=None, training=False):
        states = self.initial_state(conditioning)
        if training and self.dropout_rate > 0:
            num_steps = ops.shape(decoder_inputs)[1]
            parts = [
                decoder_inputs,
                ops.repeat(ops.expand_dims(conditioning, 1), num_steps, axis=1),
            ]
            if self.control_depth:
                parts.append(controls)
            hidden, _ = self.lstm(
                ops.concatenate(parts, axis=-1), initial_state=states, training=training
            )
        else:
            projection = self.token_projection(decoder_inputs) + ops.expand_dims(
                self.conditioning_projection(conditioning), 1
            )
            if self.control_depth:
                projection = projection + self.control_projection(controls)
            hidden, _ = self.lstm(
                decoder_inputs,
                initial_state=states,
                training=training,
                first_layer_projection=projection,
            )
        return self.head(hidden)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "head": keras.saving.serialize_keras_object(self.head),
                "conditioning_dim": self.conditioning_dim,
                "control_depth": self.control_depth,
                "dropout_rate": self.dropout_rate,
            }
        )
        return config
