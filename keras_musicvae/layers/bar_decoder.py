"""The core (bar-level) LSTM decoder with its output head."""

import keras
from keras import ops

from keras_musicvae.layers import fused_lstm
from keras_musicvae.layers.initial_state import InitialStateDense
from keras_musicvae.layers.lstm import LSTMStack
from keras_musicvae.layers.precision import compute_weight
from keras_musicvae.layers.step_projection import StepProjection
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

    Precision: everything runs in the compute dtype except the LSTM cell
    state (float32 under a half-precision policy); the head's losses and
    sampling work in float32 (see the heads). The step-loop helpers read the
    weights in the compute dtype whoever calls them (`step_params` reads them
    once per loop).

    Args:
        units: list of ints (`dec_rnn_size`).
        head: an `OutputHead` (categorical, multi-stream, groove, NADE).
        conditioning_dim: int, size of the conditioning vector.
        control_depth: int, depth of the control inputs (0 for none).
        dropout_rate: float, input dropout of every LSTM layer in training
            (teacher-forced and step-by-step decoding alike).
        kernel_initializer: "keras" or "magenta" (see
            `keras_musicvae.layers.lstm.lstm_initializers`).

    Call arguments:
        decoder_inputs: `[B, T, D]`: the targets shifted right by one step
            (zeros first).
        conditioning: `[B, conditioning_dim]`.
        controls: `[B, T, control_depth]` or None.
        training: bool.

    Returns:
        logits `[B, T, head.logits_depth]`, in the compute dtype.
    """

    def __init__(
        self,
        units,
        head,
        conditioning_dim,
        control_depth=0,
        dropout_rate=0.0,
        kernel_initializer="keras",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(head, dict):
            head = keras.saving.deserialize_keras_object(head)
        self.units = [int(u) for u in units]
        self.head = head
        self.conditioning_dim = int(conditioning_dim)
        self.control_depth = int(control_depth)
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
    # Inputs of these helpers are cast to the compute dtype, like a layer
    # call's inputs.
    def _kernel_blocks(self, params=None):
        if params is None:
            kernel = compute_weight(self, self.lstm.kernels[0])
        else:
            kernel = params["lstm"][0][0]
        d, c = self.token_depth, self.conditioning_dim
        return kernel[:d], kernel[d : d + c], kernel[d + c :]

    def step_params(self, logits_dtype=None):
        """The LSTM's and the head's weights in the compute dtype, read once
        before a step loop (see `LSTMStack.step_params`); the head's in
        `logits_dtype` when given (`OutputHead.step_params`)."""
        lstm = self.lstm.step_params()
        return {
            "lstm": lstm,
            "head": self.head.step_params(logits_dtype),
            "token": StepProjection(lstm.kernels[0][: self.token_depth]),
        }

    def token_projection(self, tokens, params=None):
        """`tokens @ kernel[token rows]`: `[..., D]` -> `[..., 4H_0]`."""
        tokens = ops.cast(tokens, self.compute_dtype)
        if params is not None:
            return params["token"](tokens)
        return ops.matmul(tokens, self._kernel_blocks()[0])

    def conditioning_projection(self, conditioning):
        """`conditioning @ kernel[conditioning rows] + bias`, `[..., 4H_0]`."""
        conditioning = ops.cast(conditioning, self.compute_dtype)
        bias = compute_weight(self, self.lstm.biases[0])
        return ops.matmul(conditioning, self._kernel_blocks()[1]) + bias

    def control_projection(self, controls):
        """`controls @ kernel[control rows]`, `[..., 4H_0]`."""
        controls = ops.cast(controls, self.compute_dtype)
        return ops.matmul(controls, self._kernel_blocks()[2])

    def step(self, first_layer_gate_inputs, states, params=None, dropout_masks=None):
        """One decoder step from the first layer's gate inputs.

        Args:
            first_layer_gate_inputs: `[B, 4H_0]`, compute dtype.
            states: list of `(h, c)` per layer.
            params: `step_params()` (None: read the variables here).
            dropout_masks: None, or this step's input-dropout multipliers
                (see `LSTMStack.step`).

        Returns:
            `(logits [B, logits_depth], new_states)`.
        """
        params = self.step_params() if params is None else params
        hidden, states = self.lstm.step(
            first_layer_gate_inputs, states, params["lstm"], dropout_masks=dropout_masks
        )
        return self.head.project(hidden, params["head"]), states

    def dropped_out_gate_inputs(self, tokens, conditioning, controls, mask, params=None):
        """First-layer gate inputs with input dropout, for a step loop in
        training: `(concat([tokens, conditioning, controls]) * mask) @ kernel
        + bias`, the same input the teacher-forced path drops out.

        Args:
            tokens: `[B, D]`, the step's previous output.
            conditioning: `[B, conditioning_dim]`.
            controls: `[B, control_depth]` or None.
            mask: `[B, input_dim]`, from `lstm.dropout_masks`.
            params: `step_params()` (None: read the variables here).

        Returns:
            `[B, 4H_0]`.
        """
        parts = [ops.cast(tokens, self.compute_dtype), ops.cast(conditioning, self.compute_dtype)]
        if self.control_depth:
            parts.append(ops.cast(controls, self.compute_dtype))
        inputs = ops.concatenate(parts, axis=-1) * mask
        lstm_params = None if params is None else params["lstm"]
        return self.lstm.input_projection(inputs, 0, lstm_params)

    # -- teacher forcing -----------------------------------------------------
    def call(self, decoder_inputs, conditioning, controls=None, training=False):
        states = self.initial_state(conditioning)
        # The whole first-layer input, when dropout is drawn over it or when
        # a fused LSTM kernel projects it (fused_lstm.py); else the cheaper
        # sum of the blocks' projections (z's once per sequence).
        if (training and self.dropout_rate > 0) or fused_lstm.runner(
            self.compute_dtype, training, self.dropout_rate
        ) is not None:
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
                "kernel_initializer": self.kernel_initializer,
            }
        )
        return config
