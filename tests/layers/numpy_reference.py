"""Independent NumPy references for the layer tests (float64, written from
the model facts in `shared/fixtures/magenta/README.md` section 3, not from
the code under test).

LSTM weights use Keras' layout: `kernel [in, 4H]`, `recurrent_kernel
[H, 4H]`, `bias [4H]`, gate blocks in the order input, forget, cell, output;
states are `(h, c)` pairs.
"""

import keras
import numpy as np
from keras import ops


def compiled(fn):
    """`fn` jitted on JAX, unchanged elsewhere.

    JAX compiles every time loop of an eager call separately (a second or
    more each); one `jax.jit` of the whole call compiles once. Only for
    calls without random state (no dropout, no seed generators).
    """
    if keras.backend.backend() == "jax":
        import jax

        return jax.jit(fn)
    return fn


def to_numpy(x):
    return np.asarray(ops.convert_to_numpy(x), dtype=np.float64)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def log_softmax(x, axis=-1):
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def softmax(x, axis=-1):
    return np.exp(log_softmax(x, axis))


def lstm_cell(x_projection, h, c, recurrent_kernel):
    """One step from `x @ kernel + bias` (`[B, 4H]`); returns `(h, c)`."""
    units = h.shape[-1]
    z = x_projection + h @ recurrent_kernel
    i = sigmoid(z[:, :units])
    f = sigmoid(z[:, units : 2 * units])
    g = np.tanh(z[:, 2 * units : 3 * units])
    o = sigmoid(z[:, 3 * units :])
    c = f * c + i * g
    h = o * np.tanh(c)
    return h, c


def lstm_layer(inputs, kernel, recurrent_kernel, bias, h0=None, c0=None, lengths=None):
    """One LSTM over `[B, T, D]`; steps at or past `lengths[b]` keep the state
    and output zeros. Returns `(outputs [B, T, H], (h, c))`."""
    inputs = np.asarray(inputs, np.float64)
    batch, steps, _ = inputs.shape
    units = recurrent_kernel.shape[0]
    h = np.zeros((batch, units)) if h0 is None else np.array(h0, np.float64)
    c = np.zeros((batch, units)) if c0 is None else np.array(c0, np.float64)
    lengths = np.full(batch, steps) if lengths is None else np.asarray(lengths)
    outputs = np.zeros((batch, steps, units))
    for t in range(steps):
        h_new, c_new = lstm_cell(inputs[:, t] @ kernel + bias, h, c, recurrent_kernel)
        valid = (t < lengths)[:, None]
        h = np.where(valid, h_new, h)
        c = np.where(valid, c_new, c)
        outputs[:, t] = np.where(valid, h_new, 0.0)
    return outputs, (h, c)


def lstm_stack(inputs, weights, initial_states=None):
    """Stacked LSTM. `weights`: list of `(kernel, recurrent_kernel, bias)`.

    Returns `(top outputs [B, T, H_last], list of final (h, c))`."""
    x = inputs
    finals = []
    for k, (kernel, recurrent, bias) in enumerate(weights):
        h0, c0 = (None, None) if initial_states is None else initial_states[k]
        x, state = lstm_layer(x, kernel, recurrent, bias, h0, c0)
        finals.append(state)
    return x, finals


def reverse_sequence(x, lengths):
    """`tf.reverse_sequence`: reverses the first `lengths[b]` steps of row b."""
    out = np.array(x, copy=True)
    for b, n in enumerate(lengths):
        out[b, :n] = x[b, :n][::-1]
    return out


def bidirectional_encoder(inputs, layer_weights, lengths=None):
    """Magenta's `BidirectionalLstmEncoder` embedding `[B, 2 H_last]`.

    `layer_weights`: per layer a dict `{"fw": (k, rk, b), "bw": (k, rk, b)}`.
    The backward LSTM reads the sequence with its first `length` steps
    reversed; its outputs are reversed back before the next layer.
    """
    inputs = np.asarray(inputs, np.float64)
    lengths = np.full(inputs.shape[0], inputs.shape[1]) if lengths is None else np.asarray(lengths)
    x = inputs
    for weights in layer_weights:
        out_fw, (h_fw, _) = lstm_layer(x, *weights["fw"], lengths=lengths)
        out_bw_rev, (h_bw, _) = lstm_layer(
            reverse_sequence(x, lengths), *weights["bw"], lengths=lengths
        )
        x = np.concatenate([out_fw, reverse_sequence(out_bw_rev, lengths)], axis=-1)
    return np.concatenate([h_fw, h_bw], axis=-1)


def encoder_weights(encoder):
    """The per-layer fw/bw weights of a `BidirectionalEncoder`, as NumPy."""
    return [
        {d: tuple(to_numpy(w) for w in weights[d]) for d in ("fw", "bw")}
        for weights in encoder.direction_weights
    ]


def stack_weights(lstm):
    """`(kernel, recurrent_kernel, bias)` per layer of an `LSTMStack`."""
    return [
        (to_numpy(k), to_numpy(r), to_numpy(b))
        for k, r, b in zip(lstm.kernels, lstm.recurrent_kernels, lstm.biases)
    ]


def initial_states(conditioning, kernel, bias, units):
    """Magenta's `[c_0, h_0, c_1, h_1, ...]` layout, returned as `(h, c)` pairs."""
    flat = np.tanh(np.asarray(conditioning, np.float64) @ kernel + bias)
    states, offset = [], 0
    for u in units:
        states.append((flat[:, offset + u : offset + 2 * u], flat[:, offset : offset + u]))
        offset += 2 * u
    return states


def bar_decoder(bar, decoder_inputs, conditioning, controls=None):
    """Teacher-forced logits of a `BarDecoder` (its weights, NumPy maths)."""
    decoder_inputs = np.asarray(decoder_inputs, np.float64)
    conditioning = np.asarray(conditioning, np.float64)
    steps = decoder_inputs.shape[1]
    parts = [decoder_inputs, np.repeat(conditioning[:, None], steps, axis=1)]
    if controls is not None:
        parts.append(np.asarray(controls, np.float64))
    states = initial_states(
        conditioning, to_numpy(bar.initial_state.kernel), to_numpy(bar.initial_state.bias), bar.units
    )
    hidden, _ = lstm_stack(np.concatenate(parts, -1), stack_weights(bar.lstm), states)
    return hidden @ to_numpy(bar.head.kernel) + to_numpy(bar.head.bias)


def conductor(cond, z):
    """Segment embeddings `[B, S, H]` of a `Conductor` (NumPy maths)."""
    z = np.asarray(z, np.float64)
    states = initial_states(
        z, to_numpy(cond.initial_state.kernel), to_numpy(cond.initial_state.bias), cond.units
    )
    zeros = np.zeros((z.shape[0], cond.num_segments, 1))
    embeddings, _ = lstm_stack(zeros, stack_weights(cond.lstm), states)
    return embeddings


def randomize_weights(layer, seed=0, scale=0.5):
    """Gives every float weight of `layer` N(0, scale^2) values (sharper
    tests than the small initial values); returns the layer."""
    rng = np.random.default_rng(seed)
    for w in layer.weights:
        if "float" in str(w.dtype):
            w.assign(rng.normal(0.0, scale, tuple(w.shape)).astype("float32"))
    return layer
