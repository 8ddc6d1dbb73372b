"""Scheduled sampling with a hand-written backward pass.

In scheduled sampling (Magenta's `sampling_schedule`), a decoder step is fed
either the teacher's previous token or the model's own previous sample. The
sample is a one-hot draw: no gradient flows through it. So once the forward
loop has run, the decoder is, for the backward pass, an ordinary stacked LSTM
whose inputs were the tokens actually fed, and its gradient is the
teacher-forced one:

- the head's gradients are two products over all steps (`H^T @ d_logits`,
  `d_logits @ W^T`);
- each layer, from the top down, runs the recurrence's backward loop of
  `lstm_recurrence.recurrence_backward` (which only propagates `dh` and `dc`
  and emits the gate gradients), and its input kernel's gradient is again
  one product over all steps;
- the first layer's gate gradients go to the teacher-token projection where
  the teacher was fed, to the sampled-token rows of its kernel where the
  model's sample was, and to the conditioning and control projections
  everywhere.

Automatic differentiation of the step loop instead records every step's
intermediate values and accumulates each weight gradient inside its backward
loop (TensorFlow: a per-step `AddN` of `[K, N]` gradients for every product
of the step). Here the forward loop keeps only each layer's `h`, `c`, gate
activations and the samples, as `lstm_recurrence`'s loop does.

The forward loop computes the same numbers as `decoding.run_decoding_loop`'s
generic step (same products, same order of additions, gates and cell state in
float32 under a half-precision policy); `run_decoding_loop(...,
fused_gradient=False)` keeps that loop under automatic differentiation, the
reference the tests compare with.

It applies to flat decoders (one segment: the 2-bar models, the ones trained
with scheduled sampling) without step-loop dropout, whose heads draw one-hot
samples from their logits alone (`OutputHead.constant_samples`: categorical
and multi-stream categorical heads). Other cases keep the generic loop.
"""

from keras import ops

from keras_musicvae.layers.lstm_recurrence import cell_step
from keras_musicvae.layers.lstm_recurrence import flatten_steps
from keras_musicvae.layers.lstm_recurrence import recurrence_backward
from keras_musicvae.layers.lstm_recurrence import step_sums
from keras_musicvae.layers.precision import accumulation_dtype
from keras_musicvae.layers.step_projection import LoopMatrix
from keras_musicvae.utils.splitting import split_by_sizes


def applies(per_stream, num_segments):
    """Whether the streams of `run_decoding_loop` can use this loop.

    Args:
        per_stream: `run_decoding_loop`'s per-stream dicts.
        num_segments: segments of the sequence (1 for flat decoders).
    """
    return num_segments == 1 and all(
        stream["dropout"] is None and stream["decoder"].head.constant_samples
        for stream in per_stream
    )


def run(per_stream, temperature, xs, dtype):
    """Scheduled sampling of every stream, differentiable by hand.

    Args:
        per_stream: `run_decoding_loop`'s per-stream dicts (`decoder`,
            `params` read in the compute dtype, `segment_states`,
            `conditioning_projection`), for one segment.
        temperature: temperature of the fed samples.
        xs: `run_decoding_loop`'s time-major loop inputs: `teacher` (per
            stream `[T, B, 4H_0]`), `use_sample` (`[T, B, 1]` bool),
            `noise` (per stream), `control` (per stream, optional).
        dtype: the compute dtype.

    Returns:
        `(samples, logits)`: per stream `[T, B, D_i]` and `[T, B, V_i]`,
        time-major, in the compute dtype.
    """
    layout = _Layout(per_stream, "control" in xs, temperature, dtype)
    num_steps = ops.shape(xs["use_sample"])[0]
    # The model's sample is never fed at the first step (Magenta's
    # scheduled sampling starts from the teacher's first input).
    first = ops.expand_dims(ops.expand_dims(ops.equal(ops.arange(num_steps), 0), -1), -1)
    fed_sample = ops.logical_and(xs["use_sample"], ops.logical_not(first))
    args = [ops.cast(fed_sample, accumulation_dtype(dtype))]
    for i, (stream, stream_layout) in enumerate(zip(per_stream, layout.streams)):
        params = stream["params"]
        lstm = params["lstm"]
        named = {
            "teacher": xs["teacher"][i],
            "conditioning": stream["conditioning_projection"][0],
            "noise": xs["noise"][i],
            "token_kernel": params["token"].kernel,
            "head_kernel": params["head"].kernel,
            "head_bias": params["head"].bias,
        }
        if layout.with_controls:
            named["control"] = xs["control"][i]
        for k, (h0, c0) in enumerate(stream["segment_states"]):
            named[f"recurrent_kernel_{k}"] = lstm.recurrent_kernels[k]
            named[f"h0_{k}"], named[f"c0_{k}"] = h0[0], c0[0]
            if k > 0:
                named[f"kernel_{k}"], named[f"bias_{k}"] = lstm.kernels[k], lstm.biases[k]
        # In the order `_StreamLayout` reads them back.
        args += [named[name] for name in stream_layout.index]
    packed = _differentiable(layout, args)
    samples, logits = [], []
    parts = split_by_sizes(packed, layout.output_sizes)
    for i in range(len(layout.streams)):
        logits.append(parts[2 * i])
        samples.append(parts[2 * i + 1])
    return samples, logits


class _StreamLayout:
    """Where one stream's tensors sit in the flat argument list."""

    def __init__(self, stream, with_controls, offset):
        decoder = stream["decoder"]
        self.head = decoder.head
        self.num_layers = len(decoder.units)
        self.output_sizes = [decoder.head.logits_depth, decoder.token_depth]
        names = ["teacher", "conditioning"] + (["control"] if with_controls else [])
        names += ["noise", "token_kernel", "head_kernel", "head_bias"]
        for k in range(self.num_layers):
            names += [f"recurrent_kernel_{k}", f"h0_{k}", f"c0_{k}"]
            if k > 0:
                names += [f"kernel_{k}", f"bias_{k}"]
        self.index = {name: offset + j for j, name in enumerate(names)}
        self.end = offset + len(names)

    def read(self, args):
        return {name: args[j] for name, j in self.index.items()}

    def layer(self, values, k):
        """Layer k's `(recurrent_kernel, h0, c0, kernel, bias)` (the last two None for k = 0)."""
        return tuple(
            values.get(f"{name}_{k}")
            for name in ("recurrent_kernel", "h0", "c0", "kernel", "bias")
        )


class _Layout:
    """The flat argument list of the custom-gradient function: the fed-sample
    mask `[T, B, 1]`, then every stream's tensors (`_StreamLayout`)."""

    def __init__(self, per_stream, with_controls, temperature, dtype):
        self.with_controls = with_controls
        self.temperature = temperature
        self.dtype = dtype
        self.streams, offset = [], 1
        for stream in per_stream:
            self.streams.append(_StreamLayout(stream, with_controls, offset))
            offset = self.streams[-1].end

    @property
    def output_sizes(self):
        """Last-axis sizes of the packed output: per stream logits, samples."""
        return [size for stream in self.streams for size in stream.output_sizes]

    @property
    def carry_size(self):
        """Per stream, the loop carries h, c and the four gate activations of
        each layer, then the last sample and logits."""
        return [6 * stream.num_layers + 2 for stream in self.streams]


def _differentiable(layout, args):
    @ops.custom_gradient
    def run_loop(*args):
        packed, saved = _forward(layout, args)

        def grad(*upstream_args, upstream=None):
            if upstream is None:
                (upstream,) = upstream_args
            return _backward(layout, args, saved, upstream)

        return packed, grad

    return run_loop(*args)


def _forward(layout, args):
    """The step loop; returns the packed `[T, B, sum(V_i + D_i)]` logits and
    samples, and per stream what the backward pass reads."""
    dtype = layout.dtype
    accumulate = accumulation_dtype(dtype)
    fed_sample = ops.greater(args[0], 0.5)
    streams = [(s, s.read(args)) for s in layout.streams]
    xs = [fed_sample]
    products = []
    for stream, values in streams:
        xs += [values["teacher"], values["noise"]]
        if layout.with_controls:
            xs.append(values["control"])
        # Laid out once for the backend's fastest per-step product.
        layers = []
        for k in range(stream.num_layers):
            recurrent_kernel, _, _, kernel, _ = stream.layer(values, k)
            input_product = None if kernel is None else LoopMatrix(kernel)
            layers.append((LoopMatrix(recurrent_kernel), input_product))
        token_product = LoopMatrix(values["token_kernel"])
        products.append((token_product, layers, LoopMatrix(values["head_kernel"])))

    # Per stream, the carry holds for each layer h, c and the four gate
    # activations, then the last sample and logits (Keras' TensorFlow scan
    # writes per-step outputs shaped like the carry).
    def step(carry, step_inputs):
        fed = step_inputs[0]
        new_carry, position, read = [], 0, 1
        for (stream, values), (token_product, layers, head_product), size in zip(
            streams, products, layout.carry_size
        ):
            teacher, noise = step_inputs[read], step_inputs[read + 1]
            control = step_inputs[read + 2] if layout.with_controls else None
            read += 3 if layout.with_controls else 2
            layer_carry = carry[position : position + size]
            prev_sample = layer_carry[-2]
            position += size
            gates = ops.where(fed, token_product(prev_sample), teacher) + values["conditioning"]
            if control is not None:
                gates = gates + control
            below = None
            for k, (recurrent_product, input_product) in enumerate(layers):
                h, c = layer_carry[6 * k], layer_carry[6 * k + 1]
                if k > 0:
                    gates = input_product(below) + values[f"bias_{k}"]
                below, c, activations = cell_step(gates + recurrent_product(h), c)
                new_carry += [below, c, *activations]
            logits = head_product(below) + values["head_bias"]
            sample = ops.cast(stream.head.sample(logits, layout.temperature, noise), dtype)
            new_carry += [sample, logits]
        return new_carry, new_carry

    init = []
    for stream, values in streams:
        batch = ops.shape(values["teacher"])[1]
        for k in range(stream.num_layers):
            recurrent_kernel, h0, c0, _, _ = stream.layer(values, k)
            gate = ops.zeros((batch, recurrent_kernel.shape[0]), accumulate)
            init += [h0, c0] + [gate] * 4
        logits_depth, token_depth = stream.output_sizes
        init += [ops.zeros((batch, token_depth), dtype), ops.zeros((batch, logits_depth), dtype)]
    _, per_step = ops.scan(step, init, xs)
    packed, saved, position = [], [], 0
    for (stream, _), size in zip(streams, layout.carry_size):
        stream_steps = per_step[position : position + size]
        position += size
        layers = []
        for k in range(stream.num_layers):
            values = stream_steps[6 * k : 6 * k + 6]
            layers.append((values[0], values[1], tuple(values[2:])))
        samples, logits = stream_steps[-2:]
        packed += [logits, samples]
        saved.append((layers, samples))
    return ops.concatenate(packed, axis=-1), saved


def _backward(layout, args, saved, upstream):
    dtype = layout.dtype
    accumulate = accumulation_dtype(dtype)
    fed_sample = ops.greater(args[0], 0.5)
    grads = [ops.zeros_like(a) for a in args]
    parts = split_by_sizes(ops.cast(upstream, dtype), layout.output_sizes)
    for i, (stream, (layers, samples)) in enumerate(zip(layout.streams, saved)):
        values = stream.read(args)
        index = stream.index
        # The samples' gradients (parts[2 * i + 1]) stop there: they are
        # one-hot draws.
        d_logits = parts[2 * i]
        head_kernel = values["head_kernel"]
        grads[index["head_kernel"]] = ops.matmul(
            ops.transpose(flatten_steps(layers[-1][0])), flatten_steps(d_logits)
        )
        grads[index["head_bias"]] = step_sums(d_logits)
        d_hidden = ops.cast(ops.matmul(d_logits, ops.transpose(head_kernel)), accumulate)
        for k in reversed(range(stream.num_layers)):
            recurrent_kernel, h0, c0, kernel, _ = stream.layer(values, k)
            d_gates, d_recurrent, d_h0, d_c0 = recurrence_backward(
                recurrent_kernel, h0, c0, layers[k], d_hidden
            )
            grads[index[f"recurrent_kernel_{k}"]] = d_recurrent
            grads[index[f"h0_{k}"]] = d_h0
            grads[index[f"c0_{k}"]] = d_c0
            if k > 0:
                below = layers[k - 1][0]
                grads[index[f"kernel_{k}"]] = ops.matmul(
                    ops.transpose(flatten_steps(below)), flatten_steps(d_gates)
                )
                grads[index[f"bias_{k}"]] = step_sums(d_gates)
                d_hidden = ops.cast(ops.matmul(d_gates, ops.transpose(kernel)), accumulate)
        # The first layer's gates: where(fed, sample @ token_kernel, teacher)
        # + conditioning (+ control).
        grads[index["teacher"]] = ops.where(fed_sample, ops.zeros_like(d_gates), d_gates)
        # Summed over steps only, as one product (like `step_sums`; written
        # out here because the batch size may be unknown when traced).
        num_steps, batch = ops.shape(d_gates)[0], ops.shape(d_gates)[1]
        grads[index["conditioning"]] = ops.reshape(
            ops.matmul(ops.ones((1, num_steps), dtype), ops.reshape(d_gates, (num_steps, -1))),
            (batch, d_gates.shape[-1]),
        )
        if layout.with_controls:
            grads[index["control"]] = d_gates
        previous = ops.concatenate([ops.zeros_like(samples[:1]), samples[:-1]], axis=0)
        fed_tokens = ops.where(fed_sample, previous, ops.zeros_like(previous))
        grads[index["token_kernel"]] = ops.matmul(
            ops.transpose(flatten_steps(fed_tokens)), flatten_steps(d_gates)
        )
    return tuple(grads)
