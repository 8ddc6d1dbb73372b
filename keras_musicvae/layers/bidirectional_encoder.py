"""Stacked bidirectional LSTM encoder (Magenta's `BidirectionalLstmEncoder`)."""

import keras
from keras import ops

from keras_musicvae.layers import fused_lstm
from keras_musicvae.layers.lstm import add_lstm_weights
from keras_musicvae.layers.lstm import check_lstm_initializer
from keras_musicvae.layers.lstm import input_dropout
from keras_musicvae.layers.lstm import lstm_recurrence
from keras_musicvae.layers.precision import compute_weight
from keras_musicvae.utils.building import resolve_input_dim


@keras.saving.register_keras_serializable(package="keras_musicvae")
class BidirectionalEncoder(keras.layers.Layer):
    """Stacked bidirectional LSTM; returns the final forward and backward states.

    Layer `i` reads the concatenated forward and backward outputs of layer
    `i - 1`. The embedding is `concat(h_forward_final, h_backward_final)` of
    the last layer. Sequence lengths are honoured exactly as Magenta does:
    the forward LSTM stops at the last valid step, the backward LSTM starts
    there; padding never changes the result. Both directions advance in the
    same loop iteration.

    Args:
        units: list of ints, units per direction of each layer
            (`enc_rnn_size`).
        input_dim: int, depth of the input (inputs and controls
            concatenated); None: taken from the shape the layer is built
            with (its first call).
        dropout_rate: float, input dropout of every layer in training.
        kernel_initializer: "keras" or "magenta" (see
            `keras_musicvae.layers.lstm.lstm_initializers`).

    Call arguments:
        inputs: `[B, T, input_dim]`.
        lengths: optional int `[B]`; None means every sequence is full.
        training: bool.

    Returns:
        `[B, 2 * units[-1]]`, in the compute dtype (products in the compute
        dtype, cell states in float32: see `lstm_recurrence.py`).
    """

    def __init__(self, units, input_dim=None, dropout_rate=0.0, kernel_initializer="keras", **kwargs):
        super().__init__(**kwargs)
        self.units = [int(u) for u in units]
        self.input_dim = None if input_dim is None else int(input_dim)
        self.dropout_rate = float(dropout_rate)
        self.kernel_initializer = check_lstm_initializer(kernel_initializer)
        self._seed_generator = keras.random.SeedGenerator()
        # cuDNN's kernel (fused_lstm.py) cannot be compiled by XLA.
        self.supports_jit = fused_lstm.supports_jit(self.compute_dtype)

    @property
    def output_dim(self):
        return 2 * self.units[-1]

    def build(self, input_shape=None):
        self.input_dim = resolve_input_dim(self, self.input_dim, input_shape)
        self.direction_weights = []
        layer_input = self.input_dim
        for i, units in enumerate(self.units):
            weights = {}
            for direction in ("fw", "bw"):
                weights[direction] = add_lstm_weights(
                    self, self.kernel_initializer, layer_input, units, prefix=f"{direction}_", suffix=f"_{i}"
                )
            self.direction_weights.append(weights)
            layer_input = 2 * units
        self.built = True

    def _dropout(self, x, training):
        return input_dropout(x, self.dropout_rate, training, self._seed_generator)

    def call(self, inputs, lengths=None, training=False):
        batch_size = ops.shape(inputs)[0]
        num_steps = ops.shape(inputs)[1]
        masks = None
        if lengths is not None:
            mask = ops.arange(num_steps)[None, :] < ops.cast(lengths, "int32")[:, None]
            masks = [mask, ops.flip(mask, axis=1)]
        x = inputs
        fused_run = fused_lstm.runner(self.compute_dtype, training, self.dropout_rate)
        if fused_run is not None:
            # The backend's fused LSTM runs the time loops (see fused_lstm.py).
            for weights in self.direction_weights:
                x, ((h_fw, _), (h_bw, _)) = fused_run(x, [weights["fw"], weights["bw"]], None, lengths)
            return ops.concatenate([h_fw, h_bw], axis=-1)
        for i, units in enumerate(self.units):
            fw_kernel, fw_recurrent, fw_bias = (
                compute_weight(self, w) for w in self.direction_weights[i]["fw"]
            )
            bw_kernel, bw_recurrent, bw_bias = (
                compute_weight(self, w) for w in self.direction_weights[i]["bw"]
            )
            x_fw = self._dropout(x, training)
            x_bw = ops.flip(self._dropout(x, training), axis=1)
            zeros = ops.zeros((batch_size, units), self.compute_dtype)
            (out_fw, out_bw_reversed), (state_fw, state_bw) = lstm_recurrence(
                [ops.matmul(x_fw, fw_kernel), ops.matmul(x_bw, bw_kernel)],
                [fw_recurrent, bw_recurrent],
                [(zeros, zeros), (zeros, zeros)],
                masks,
                biases=[fw_bias, bw_bias],
            )
            x = ops.concatenate([out_fw, ops.flip(out_bw_reversed, axis=1)], axis=-1)
        return ops.concatenate([state_fw[0], state_bw[0]], axis=-1)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "input_dim": self.input_dim,
                "dropout_rate": self.dropout_rate,
                "kernel_initializer": self.kernel_initializer,
            }
        )
        return config

