"""LSTM building blocks shared by the encoders, the conductor and the decoders.

All LSTMs here keep Keras' weight layout: per layer a `kernel`
`[input_dim, 4 * units]`, a `recurrent_kernel` `[units, 4 * units]` and a
`bias` `[4 * units]`, gate blocks in Keras' order (input, forget, cell,
output), forget bias folded into `bias` (initialised to 1, like Keras'
`unit_forget_bias`, and like Magenta's `LSTMBlockCell`, which adds 1.0 at run
time). States are `(h, c)` pairs. Magenta's `(c, h)` order and `[i, j, f, o]`
gate order appear only in the checkpoint converter.

Initialisation (`kernel_initializer`, see `lstm_initializers`): "keras"
(Keras' `LSTM` defaults: Glorot-uniform input kernel, orthogonal recurrent
kernel) or "magenta" (TF1's `LSTMBlockCell` as Magenta builds it: one
Glorot-uniform draw over the concatenated `[input_dim + units, 4 * units]`
kernel, i.e. both kernels uniform in `+-sqrt(6 / (input_dim + 5 * units))`).
Both start with the forget-gate bias at 1 and the other biases at 0.

Speed: the input projection `x @ kernel + bias` of a whole sequence is one
matrix product outside the time loop; the loop only does `h @
recurrent_kernel` and the gates, and its backward pass is hand-written (see
`lstm_recurrence.py`). Several independent recurrences (e.g. the forward and
backward directions of a bidirectional layer) advance in the same loop
iteration.

Precision: products in the layer's compute dtype, cell state in float32
under a half-precision policy (see `lstm_recurrence.py` and `precision.py`).
"""

from typing import NamedTuple

import keras
from keras import ops

from keras_musicvae.layers import fused_lstm
from keras_musicvae.layers.lstm_recurrence import lstm_gates
from keras_musicvae.layers.lstm_recurrence import lstm_recurrence  # noqa: F401 (re-export)
from keras_musicvae.layers.precision import compute_weight
from keras_musicvae.layers.step_projection import StepProjection


LSTM_INITIALIZERS = ("keras", "magenta")


class LSTMStepWeights(NamedTuple):
    """An `LSTMStack`'s weights prepared for a step loop (`step_params`).

    Attributes:
        kernels, recurrent_kernels, biases: per layer, in the compute dtype.
        input_projections: per layer, `StepProjection(kernel, bias)` (None
            for layer 0, whose input projection the caller assembles).
        recurrent_projections: per layer, `StepProjection(recurrent_kernel)`.
        cell: the cell update `(gate_inputs, c) -> (h, c)`:
            `lstm_recurrence.lstm_gates`, or its PyTorch twin
            (`torch_cell.lstm_gates`) where the products are prepacked.
        stacked_projections: None, or where the products are prepacked,
            per layer `(x, h) -> x @ kernel + h @ recurrent_kernel + bias`
            as one product (`torch_linear.pack_stacked`; None for layer 0);
            layers 1, 2, ... then have no separate projections.
    """

    kernels: list
    recurrent_kernels: list
    biases: list
    input_projections: list
    recurrent_projections: list
    cell: object = lstm_gates
    stacked_projections: list = None


def check_lstm_initializer(name):
    """Raises ValueError for an unknown LSTM initialisation scheme."""
    if name not in LSTM_INITIALIZERS:
        raise ValueError(
            f"Unknown LSTM kernel_initializer {name!r}; use one of {LSTM_INITIALIZERS}."
        )
    return name


def lstm_initializers(scheme, input_dim, units):
    """Initializers of one LSTM layer's `(kernel, recurrent_kernel, bias)`.

    Args:
        scheme: "keras" (Glorot-uniform `[input_dim, 4 units]` kernel,
            orthogonal recurrent kernel) or "magenta" (Glorot-uniform over
            Magenta's concatenated `[input_dim + units, 4 units]` kernel,
            which the two Keras kernels are the row blocks of).
        input_dim: int, the layer's input depth.
        units: int.

    Returns:
        three initializers; the bias one sets the forget gate to 1 (Keras'
        `unit_forget_bias`; Magenta stores 0 and adds 1.0 at run time).
    """
    check_lstm_initializer(scheme)
    if scheme == "magenta":
        limit = (6.0 / (input_dim + units + 4 * units)) ** 0.5
        kernel = keras.initializers.RandomUniform(-limit, limit)
        recurrent = keras.initializers.RandomUniform(-limit, limit)
    else:
        kernel, recurrent = "glorot_uniform", orthogonal()
    return kernel, recurrent, unit_forget_bias(units)


def add_lstm_weights(layer, scheme, input_dim, units, prefix="", suffix=""):
    """Adds one LSTM layer's weights to `layer`: `(kernel, recurrent_kernel, bias)`.

    Shapes `[input_dim, 4 units]`, `[units, 4 units]`, `[4 units]` (gates
    i, j (candidate), f, o in Magenta's order), named `<prefix>kernel<suffix>`,
    `<prefix>recurrent_kernel<suffix>` and `<prefix>bias<suffix>`, initialised
    by `scheme` (see `lstm_initializers`).
    """
    kernel_init, recurrent_init, bias_init = lstm_initializers(scheme, input_dim, units)
    return (
        layer.add_weight(name=f"{prefix}kernel{suffix}", shape=(input_dim, 4 * units), initializer=kernel_init),
        layer.add_weight(
            name=f"{prefix}recurrent_kernel{suffix}", shape=(units, 4 * units), initializer=recurrent_init
        ),
        layer.add_weight(name=f"{prefix}bias{suffix}", shape=(4 * units,), initializer=bias_init),
    )


def input_dropout(x, rate, training, seed_generator):
    """`x` with dropout `rate` in training (Magenta's `DropoutWrapper`
    `input_keep_prob = 1 - rate`), else `x` itself."""
    if training and rate > 0:
        return keras.random.dropout(x, rate, seed=seed_generator)
    return x


@keras.saving.register_keras_serializable(package="keras_musicvae")
class LSTMStack(keras.layers.Layer):
    """A stack of unidirectional LSTM layers (Magenta's `MultiRNNCell`).

    Layer `k` reads the hidden states of layer `k - 1`. With `dropout_rate`,
    each layer's input is dropped out at every step in training (Magenta's
    `DropoutWrapper(input_keep_prob=1 - dropout_rate)`).

    Args:
        units: list of ints, the units of each layer.
        dropout_rate: float, input dropout in training.
        kernel_initializer: "keras" or "magenta" (see `lstm_initializers`).

    Call arguments:
        inputs: `[B, T, D]`.
        initial_state: list of `(h, c)` pairs (one per layer, `[B, H_k]`
            each), or None for zeros.
        mask: optional `[B, T]` boolean (True = valid step).
        training: bool.

    Returns:
        `(outputs, final_states)`: `[B, T, H_last]` and a list of `(h, c)`.
    """

    def __init__(self, units, dropout_rate=0.0, kernel_initializer="keras", **kwargs):
        super().__init__(**kwargs)
        self.units = [int(u) for u in units]
        self.dropout_rate = float(dropout_rate)
        self.kernel_initializer = check_lstm_initializer(kernel_initializer)
        self._seed_generator = keras.random.SeedGenerator()
        # cuDNN's kernel (fused_lstm.py) cannot be compiled by XLA.
        self.supports_jit = fused_lstm.supports_jit(self.compute_dtype)

    def build(self, input_shape):
        input_dim = int(input_shape[-1])
        self.kernels, self.recurrent_kernels, self.biases = [], [], []
        for k, units in enumerate(self.units):
            kernel, recurrent_kernel, bias = add_lstm_weights(
                self, self.kernel_initializer, input_dim, units, suffix=f"_{k}"
            )
            self.kernels.append(kernel)
            self.recurrent_kernels.append(recurrent_kernel)
            self.biases.append(bias)
            input_dim = units
        self.input_dim = int(input_shape[-1])
        self.built = True

    # -- helpers used by the step loops --------------------------------------
    def zero_state(self, batch_size, dtype="float32"):
        return [
            (ops.zeros((batch_size, u), dtype), ops.zeros((batch_size, u), dtype))
            for u in self.units
        ]

    def step_params(self):
        """The weights in the compute dtype, for a step loop (`LSTMStepWeights`).

        A step loop reads them once, before the loop, and passes them to
        `step`: under a mixed policy the float32 variables are then cast to
        the compute dtype once per sequence, not once per step, and the
        per-step products are prepared once (`step_projection.py`).
        """
        kernels = [compute_weight(self, w) for w in self.kernels]
        recurrent_kernels = [compute_weight(self, w) for w in self.recurrent_kernels]
        biases = [compute_weight(self, w) for w in self.biases]
        first_recurrent = StepProjection(recurrent_kernels[0])
        # Layer 0's input is projected by the caller (it is assembled from
        # blocks, see `BarDecoder`).
        layers_above = list(zip(kernels[1:], recurrent_kernels[1:], biases[1:]))
        cell, stacked = lstm_gates, None
        if first_recurrent.is_packed:
            # The PyTorch inference path (torch_linear.py, torch_cell.py):
            # the layers above the first multiply [input, h] by their
            # stacked kernels, one product per step instead of two.
            from keras_musicvae.layers import torch_cell
            from keras_musicvae.layers import torch_linear

            cell = torch_cell.lstm_gates
            stacked = [None] + [torch_linear.pack_stacked(k, r, b) for k, r, b in layers_above]
            if any(p is None for p in stacked[1:]):
                stacked = None
        if stacked is None:
            input_projections = [None] + [StepProjection(k, b) for k, _, b in layers_above]
            recurrent_projections = [first_recurrent] + [StepProjection(r) for _, r, _ in layers_above]
        else:
            input_projections = [None] * len(kernels)
            recurrent_projections = [first_recurrent] + [None] * len(layers_above)
        return LSTMStepWeights(
            kernels, recurrent_kernels, biases, input_projections, recurrent_projections, cell, stacked
        )

    def input_projection(self, inputs, layer=0, params=None):
        """`inputs @ kernel_layer + bias_layer` (any leading shape)."""
        if params is None:
            kernel = compute_weight(self, self.kernels[layer])
            bias = compute_weight(self, self.biases[layer])
        elif layer > 0:
            return params.input_projections[layer](inputs)
        else:
            kernel, bias = params.kernels[layer], params.biases[layer]
        return ops.matmul(inputs, kernel) + bias

    def step(self, layer0_gate_inputs, states, params=None, dropout_masks=None):
        """Advances every layer one step.

        Args:
            layer0_gate_inputs: `[B, 4H_0]`: the first layer's input
                projection for this step (bias included; a caller applying
                dropout drops the first layer's input out before projecting).
            states: list of `(h, c)` per layer (`h` in the compute dtype, `c`
                in float32 under a half-precision policy).
            params: `step_params()`, read once outside the loop (None: read
                the variables here).
            dropout_masks: None, or this step's slices of `dropout_masks()`
                (one `[B, input_dim_k]` per layer; entry 0 belongs to the
                caller): the inputs of layers 1, 2, ... are multiplied by
                theirs, as `call` drops them out in training.

        Returns:
            `(h_top, new_states)`.
        """
        params = self.step_params() if params is None else params
        new_states = []
        gate_inputs = layer0_gate_inputs
        for k, (h, c) in enumerate(states):
            if k > 0:
                layer_input = new_states[-1][0]
                if dropout_masks is not None:
                    layer_input = layer_input * dropout_masks[k]
                if params.stacked_projections is not None:
                    h, c = params.cell(params.stacked_projections[k](layer_input, h), c)
                    new_states.append((h, c))
                    continue
                gate_inputs = self.input_projection(layer_input, k, params)
            h, c = params.cell(gate_inputs + params.recurrent_projections[k](h), c)
            new_states.append((h, c))
        return new_states[-1][0], new_states

    def dropout_masks(self, num_steps, batch_size, input_dim, dtype=None):
        """Input-dropout multipliers for a step loop, drawn before it.

        The same distribution as `call`'s dropout in training (Magenta's
        `DropoutWrapper(input_keep_prob=1 - dropout_rate)` in every helper):
        each entry is 0 with probability `dropout_rate`, else
        `1 / (1 - dropout_rate)`, independently per step.

        Args:
            num_steps: int, steps of the loop.
            batch_size: batch size (int or scalar tensor).
            input_dim: int, depth of the first layer's input.
            dtype: dtype of the masks (default: the compute dtype).

        Returns:
            list (per layer) of `[num_steps, B, input_dim_k]` masks, or None
            when `dropout_rate` is 0.
        """
        if self.dropout_rate <= 0:
            return None
        dtype = dtype or self.compute_dtype
        dims = [input_dim] + self.units[:-1]
        return [
            keras.random.dropout(
                ops.ones((num_steps, batch_size, d), dtype),
                self.dropout_rate,
                seed=self._seed_generator,
            )
            for d in dims
        ]

    def _dropout(self, x, training):
        return input_dropout(x, self.dropout_rate, training, self._seed_generator)

    def call(
        self,
        inputs,
        initial_state=None,
        mask=None,
        training=False,
        first_layer_projection=None,
    ):
        """See the class docstring.

        `first_layer_projection` (`[B, T, 4H_0]`), when given, replaces the
        first layer's `dropout(inputs) @ kernel + bias` (callers that can
        compute it more cheaply, e.g. with a conditioning vector that is
        constant over time); `inputs` then only gives the batch size.
        """
        batch_size = ops.shape(inputs)[0]
        if initial_state is None:
            initial_state = self.zero_state(batch_size, inputs.dtype)
        x = inputs
        final_states = []
        fused_run = fused_lstm.runner(self.compute_dtype, training, self.dropout_rate)
        if mask is None and first_layer_projection is None and fused_run is not None:
            # The backend's fused LSTM runs the time loop (see fused_lstm.py).
            for k in range(len(self.units)):
                weights = (self.kernels[k], self.recurrent_kernels[k], self.biases[k])
                x, (state,) = fused_run(x, [weights], [initial_state[k]])
                final_states.append(state)
            return x, final_states
        masks = None if mask is None else [mask]
        for k in range(len(self.units)):
            if k == 0 and first_layer_projection is not None:
                projection, biases = first_layer_projection, None
            else:
                # The bias is added by the recurrence (`lstm_recurrence`'s
                # `biases`: its gradient is then one product).
                kernel = compute_weight(self, self.kernels[k])
                projection = ops.matmul(self._dropout(x, training), kernel)
                biases = [compute_weight(self, self.biases[k])]
            (x,), (state,) = lstm_recurrence(
                [projection],
                [self.recurrent_kernels[k]],
                [initial_state[k]],
                masks,
                biases=biases,
            )
            final_states.append(state)
        return x, final_states

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "dropout_rate": self.dropout_rate,
                "kernel_initializer": self.kernel_initializer,
            }
        )
        return config


def orthogonal():
    """Keras' orthogonal initializer, computed in float32 and cast.

    A bfloat16 policy creates bfloat16 variables, and TensorFlow has no
    bfloat16 QR decomposition; computing in float32 also keeps the matrix
    orthogonal to float32 accuracy before rounding.
    """
    base = keras.initializers.Orthogonal()

    def initializer(shape, dtype=None):
        return ops.cast(base(shape, dtype="float32"), dtype or "float32")

    return initializer


def unit_forget_bias(units):
    """Bias initializer: zeros, with ones in the forget-gate block."""

    def initializer(shape, dtype=None):
        return ops.concatenate(
            [
                ops.zeros((units,), dtype=dtype),
                ops.ones((units,), dtype=dtype),
                ops.zeros((2 * units,), dtype=dtype),
            ]
        )

    return initializer
