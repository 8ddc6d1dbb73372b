"""cuDNN's LSTM kernel for the teacher-forced recurrences on TensorFlow GPUs (backend-specific module).

On a GPU, the generic time loop (`lstm_recurrence.py`) launches a handful of
small kernels per step and direction; NVIDIA's cuDNN runs a whole LSTM layer
over the sequence as one fused kernel, forward and backward. Where the whole
input sequence is known in advance (the encoders, and the decoders under
teacher forcing), the TensorFlow backend hands the recurrence to TensorFlow's
cuDNN op (`CudnnRNNV3`) when a GPU is visible. The step-by-step decoders
(sampling, scheduled sampling) keep the generic loop. PyTorch's counterpart
is `torch_lstm.py`; `fused_lstm.py` picks between them.

The numbers are those of the generic path: cuDNN's gate order (input,
forget, cell, output) is the layers' own. Its parameters are one flat
buffer: the eight weight matrices first, each stored as `[H, D]` (the
transpose of a `[D, H]` slice of the layers' `[D, 4H]` kernels), the four
input-side ones before the four recurrent ones, then eight biases in the
same order. The layers' bias goes in the input-side biases and the
recurrent-side ones are zero (their sum is what cuDNN adds). Sequence
lengths are given to the kernel, which stops each sequence at its length
and writes zeros past it, the encoders' rule; the backward direction is the
forward kernel run on each sequence reversed within its length
(`tf.reverse_sequence`), and its outputs are reversed back. A length of 0 is
run as 1 (cuDNN refuses empty sequences) and its results set to zero.

The path is taken (`is_available`) on the TensorFlow backend when a GPU is
visible, in float32 (the generic path keeps cell states in float32 under
half-precision policies; cuDNN's half-precision kernel does not), when no
input dropout is drawn, and unless the environment sets
`KERAS_MUSICVAE_CUDNN_LSTM=0`. cuDNN's op cannot be compiled by XLA: layers
that may take this path say so (`supports_jit = False`, as Keras' own LSTM
does), and Keras then trains them without `jit_compile`. Graphs that must
run anywhere (the SavedModel and TF Lite exports) are traced inside
`disabled()`, so that they never hold the GPU-only op.

The kernel itself only runs on a GPU. The tests check everything around it
on the CPU (path selection, weight layout, lengths, directions, gradients)
by standing a reference implementation of the op's documented semantics in
for `_cudnn_rnn`.
"""

import functools

import keras

from keras_musicvae.utils.path_switch import PathSwitch

ENVIRONMENT_VARIABLE = "KERAS_MUSICVAE_CUDNN_LSTM"
_SWITCH = PathSwitch(ENVIRONMENT_VARIABLE)

#: Within the block (tracing included), recurrences take the generic path:
#: for graphs that must also run without a GPU (exports).
disabled = _SWITCH.disabled


def is_enabled():
    """Whether the cuDNN path may run at all: the TensorFlow backend, a
    visible GPU, and `KERAS_MUSICVAE_CUDNN_LSTM` not set to 0. Layers read it
    at construction to declare that they cannot be XLA-compiled."""
    if keras.backend.backend() != "tensorflow" or not _SWITCH.is_on():
        return False
    return _gpu_available()


def is_available(compute_dtype, training=False, dropout_rate=0.0):
    """Whether a teacher-forced recurrence of a layer runs on cuDNN.

    Args:
        compute_dtype: the layer's compute dtype.
        training: whether the call is in training mode.
        dropout_rate: the layer's input dropout (drawn only in training).
    """
    if keras.backend.standardize_dtype(compute_dtype) != "float32":
        return False
    if training and dropout_rate > 0:
        return False
    return is_enabled()


@functools.lru_cache(maxsize=None)
def _gpu_available():
    import tensorflow as tf

    return bool(tf.config.list_logical_devices("GPU"))


def _cudnn_rnn(inputs, initial_h, initial_c, params, lengths):
    """TensorFlow's cuDNN LSTM op, time-major: `[T, B, D]` inputs,
    `[1, B, H]` states, a flat parameter buffer and int32 `[B]` lengths ->
    `([T, B, H] outputs, [1, B, H] final h, [1, B, H] final c)`."""
    import tensorflow as tf

    outputs, final_h, final_c, _, _ = tf.raw_ops.CudnnRNNV3(
        input=inputs,
        input_h=initial_h,
        input_c=initial_c,
        params=params,
        sequence_lengths=lengths,
        rnn_mode="lstm",
        input_mode="linear_input",
        direction="unidirectional",
        is_training=True,
        time_major=True,
    )
    return outputs, final_h, final_c


def pack_params(kernel, recurrent_kernel, bias):
    """cuDNN's flat parameter buffer of one LSTM direction.

    Args:
        kernel: `[D, 4H]`, recurrent_kernel: `[H, 4H]`, bias: `[4H]`.

    Returns:
        `[4H * (D + H) + 8H]` float tensor (see the module docstring).
    """
    import tensorflow as tf

    blocks = []
    for matrix in (kernel, recurrent_kernel):
        for gate in tf.split(matrix, 4, axis=1):
            blocks.append(tf.reshape(tf.transpose(gate), [-1]))
    blocks.append(bias)
    blocks.append(tf.zeros_like(bias))
    return tf.concat(blocks, axis=0)


def run(inputs, weights, initial_states=None, lengths=None):
    """One LSTM layer (one or two directions) over whole sequences.

    The contract (arguments, lengths, outputs) of `torch_lstm.run`, which
    documents it: `[B, T, D]` float32 inputs, one weights triple (and
    optionally one initial `(h, c)`) per direction, optional int `[B]`
    lengths; returns the directions' outputs concatenated and one final
    `(h, c)` per direction.
    """
    import tensorflow as tf

    inputs = tf.convert_to_tensor(inputs)
    batch_size, num_steps = tf.shape(inputs)[0], tf.shape(inputs)[1]
    time_major = tf.transpose(inputs, [1, 0, 2])
    if lengths is None:
        run_lengths = tf.fill([batch_size], num_steps)
        nonempty = None
    else:
        lengths = tf.cast(tf.convert_to_tensor(lengths), tf.int32)
        run_lengths = tf.maximum(lengths, 1)
        nonempty = tf.cast(lengths > 0, inputs.dtype)[:, None]
    outputs, final_states = [], []
    for direction, (kernel, recurrent_kernel, bias) in enumerate(weights):
        units = int(recurrent_kernel.shape[0])
        if initial_states is None:
            h0 = c0 = tf.zeros(tf.stack([1, batch_size, units]), inputs.dtype)
        else:
            h0, c0 = (tf.expand_dims(tf.convert_to_tensor(s), 0) for s in initial_states[direction])
        params = pack_params(
            *(tf.convert_to_tensor(_value(w)) for w in (kernel, recurrent_kernel, bias))
        )
        sequence = time_major
        if direction == 1:
            sequence = tf.reverse_sequence(sequence, run_lengths, seq_axis=0, batch_axis=1)
        output, h, c = _cudnn_rnn(sequence, h0, c0, params, run_lengths)
        if direction == 1:
            output = tf.reverse_sequence(output, run_lengths, seq_axis=0, batch_axis=1)
        output = tf.transpose(output, [1, 0, 2])
        h, c = h[0], c[0]
        if nonempty is not None:
            output = output * nonempty[:, :, None]
            h, c = h * nonempty, c * nonempty
        outputs.append(output)
        final_states.append((h, c))
    return tf.concat(outputs, axis=-1), final_states


def _value(x):
    return x.value if isinstance(x, keras.Variable) else x
