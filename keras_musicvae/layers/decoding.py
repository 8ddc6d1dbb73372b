"""The step-by-step decoding loop: free-running sampling and scheduled sampling.

One loop serves flat and hierarchical decoders and one or several streams
(trio: melody, bass and drums decoders advance in the same iteration). The
sequence is `num_segments` segments of `segment_length` steps; at the first
step of each segment every stream's LSTM state is reset from that segment's
conditioning vector, while the previous output carries over (the first input
of segment i > 0 is the last output of segment i - 1, as in Magenta).

Everything that does not depend on the previous step is computed before the
loop: initial states and conditioning projections of every segment, the
projections of the controls and of the teacher-forcing inputs, and the random
noise (so the loop holds no random state and compiles on every backend).

Forms of the loop: compiled (TensorFlow, JAX), one scan over all steps
resets the states where a segment starts (`ops.scan`; on TensorFlow a
bounded `tf.scan`, which XLA can differentiate, `tf_scan.py`); on eager PyTorch the segments run
one after the other (`segments_in_python`), and free-running sampling with
categorical heads on the inference path leaves `keras.ops` altogether for a
plain PyTorch loop with the same numbers (`torch_decoding.py`). Scheduled
sampling of flat decoders with categorical heads (the 2-bar models' training)
runs the loop of `scheduled_sampling.py`, whose backward pass is written by
hand; the generic loop here, differentiated automatically, stays the
reference (`fused_gradient=False`).

Precision: the loop runs in the bar decoders' compute dtype (conditionings,
hidden states, tokens and logits), with the weights cast to it once before
the loop (`BarDecoder.step_params`: under a mixed policy the float32
variables are not re-cast at every step). The LSTM cell states are carried
in float32 under a half-precision policy (`lstm_recurrence.py`), and the
heads take their sampling decisions in float32 (`heads/output_head.py`);
free-running sampling also computes the logits it samples from in float32
(`OutputHead.step_params`). The logits come back in the compute dtype.
"""

import functools

import keras
from keras import ops
from keras import tree

from keras_musicvae.layers import scheduled_sampling
from keras_musicvae.layers.precision import accumulation_dtype


def run_decoding_loop(
    bar_decoders,
    conditionings,
    segment_length,
    temperature,
    noises,
    controls=None,
    teacher_inputs=None,
    use_sample=None,
    start_tokens=None,
    training=False,
    fused_gradient=True,
):
    """Decodes step by step.

    Args:
        bar_decoders: list of `BarDecoder`, one per stream.
        conditionings: `[B, S, C]`, the conditioning vector of each segment
            (S = 1 for flat decoders: z).
        segment_length: int, steps per segment; T = S * segment_length.
        temperature: float scalar (0 = argmax).
        noises: list (per stream) of `[B, T, noise_depth]` noise from the
            heads' `make_noise`.
        controls: `[B, T, control_depth]` or None.
        teacher_inputs: None (free running), or list (per stream) of
            `[B, T, D_i]` teacher-forcing inputs (targets shifted right).
        use_sample: with `teacher_inputs`, `[B, T]` bool: where True, the
            model's own previous output replaces the teacher input (scheduled
            sampling). Never applied at the first step of a segment.
        start_tokens: list (per stream) of `[B, D_i]` inputs of step 0;
            zeros when None.
        training: bool; in training, a decoder with a `dropout_rate` drops
            out the input of each LSTM layer at every step, as its
            teacher-forced path does (Magenta's `DropoutWrapper` applies in
            every decoding helper). The masks are drawn before the loop.
        fused_gradient: scheduled sampling of flat decoders with
            categorical heads runs the loop of `scheduled_sampling.py`,
            whose backward pass is written by hand; False keeps the generic
            loop under automatic differentiation (same numbers; the
            reference of the tests).

    Returns:
        `(samples, logits)`: lists (per stream) of `[B, T, D_i]` and
        `[B, T, U_i]`, in the decoders' compute dtype.
    """
    batch_size = ops.shape(conditionings)[0]
    num_segments = conditionings.shape[1]
    num_steps = num_segments * segment_length
    dtype = bar_decoders[0].compute_dtype
    cell_dtype = accumulation_dtype(dtype)
    # Free-running sampling computes its logits in float32 under a
    # half-precision policy (`OutputHead.step_params`); scheduled sampling
    # in training keeps the compute dtype.
    logits_dtype = cell_dtype if teacher_inputs is None else dtype
    conditionings = ops.cast(conditionings, dtype)
    flat_conditionings = ops.reshape(conditionings, (-1, conditionings.shape[-1]))

    def time_major(x):
        return ops.moveaxis(x, 1, 0)

    per_stream = []
    init = []
    for i, decoder in enumerate(bar_decoders):
        states = decoder.initial_state(flat_conditionings)
        # [S, B, H] per layer, for a gather by segment index inside the loop;
        # h in the compute dtype, c in float32 for half-precision policies.
        segment_states = [
            tuple(
                time_major(
                    ops.reshape(ops.cast(s, d), (batch_size, num_segments, s.shape[-1]))
                )
                for s, d in zip(state, (dtype, cell_dtype))
            )
            for state in states
        ]
        conditioning_projection = time_major(
            decoder.conditioning_projection(conditionings)
        )
        stream = {
            "decoder": decoder,
            "segment_states": segment_states,
            "conditioning_projection": conditioning_projection,
            "params": decoder.step_params(logits_dtype),
            "dropout": None,
        }
        if training and decoder.dropout_rate > 0:
            stream["dropout"] = decoder.lstm.dropout_masks(
                num_steps, batch_size, decoder.input_dim, dtype
            )
            stream["conditioning"] = time_major(conditionings)
        per_stream.append(stream)
        if start_tokens is None:
            first_token = ops.zeros((batch_size, decoder.token_depth), dtype)
        else:
            first_token = ops.cast(start_tokens[i], dtype)
        first_logits = ops.zeros((batch_size, decoder.head.logits_depth), logits_dtype)
        init.append(([(h[0], c[0]) for h, c in segment_states], first_token, first_logits))
    layer_counts = [len(s["decoder"].units) for s in per_stream]

    xs = {"step": ops.arange(num_steps, dtype="int32")}
    xs["noise"] = [time_major(n) for n in noises]
    if controls is not None:
        xs["control"] = [
            time_major(s["decoder"].control_projection(ops.cast(controls, dtype)))
            for s in per_stream
        ]
    if teacher_inputs is not None:
        xs["teacher"] = [
            time_major(s["decoder"].token_projection(ops.cast(t, dtype)))
            for s, t in zip(per_stream, teacher_inputs)
        ]
        xs["use_sample"] = time_major(ops.expand_dims(ops.cast(use_sample, "bool"), -1))
        if fused_gradient and start_tokens is None and scheduled_sampling.applies(per_stream, num_segments):
            samples, logits = scheduled_sampling.run(per_stream, temperature, xs, dtype)
            return [time_major(x) for x in samples], [time_major(x) for x in logits]
    if keras.backend.backend() == "torch":
        # Sampling on eager PyTorch: the same loop without keras.ops' per-call costs.
        from keras_musicvae.layers import torch_decoding

        if torch_decoding.applies(per_stream, teacher_inputs):
            samples, logits = torch_decoding.run(
                per_stream, [token for _, token, _ in init], segment_length, temperature,
                xs["noise"], xs.get("control"),
            )  # fmt: skip
            return [time_major(x) for x in samples], [time_major(ops.cast(x, dtype)) for x in logits]
    init = pack_carry(init)
    dropout_streams = [i for i, s in enumerate(per_stream) if s["dropout"] is not None]
    if dropout_streams:
        # Streams with dropout build each step's input vector and drop it
        # out before projecting: they need the raw inputs and the masks.
        xs["dropout"] = {str(i): per_stream[i]["dropout"] for i in dropout_streams}
        if teacher_inputs is not None:
            xs["teacher_tokens"] = {
                str(i): time_major(ops.cast(teacher_inputs[i], dtype)) for i in dropout_streams
            }
        if controls is not None:
            xs["raw_control"] = time_major(ops.cast(controls, dtype))

    by_segment = num_segments > 1 and segments_in_python()
    # Keras' TensorFlow `scan` writes each step's outputs into arrays shaped
    # like the carry, so there the step returns the whole carry; elsewhere
    # only what the caller reads is kept for every step (on PyTorch the scan
    # holds each step's outputs until it stacks them).
    outputs_are_carry = keras.backend.backend() == "tensorflow"
    resets_in_step = num_segments > 1 and not by_segment

    def step(carry, inputs, segment_values=None):
        t = inputs["step"]
        if num_segments > 1 or teacher_inputs is not None:
            segment = t // segment_length
            segment_start = ops.equal(t % segment_length, 0)

        def this_segment(i, key):
            if segment_values is not None:
                return segment_values[i][key]
            if num_segments > 1:
                return ops.take(per_stream[i][key], segment, axis=0)
            return per_stream[i][key][0]

        new_carry = []
        for i, (stream, (carried_states, prev_token, _)) in enumerate(
            zip(per_stream, unpack_carry(carry, layer_counts))
        ):
            decoder = stream["decoder"]
            states = []
            for k, (h, c) in enumerate(carried_states):
                if resets_in_step:
                    h0, c0 = stream["segment_states"][k]
                    h = ops.where(segment_start, ops.take(h0, segment, axis=0), h)
                    c = ops.where(segment_start, ops.take(c0, segment, axis=0), c)
                states.append((h, c))
            if teacher_inputs is not None:
                mix = ops.logical_and(inputs["use_sample"], ops.logical_not(segment_start))
            if stream["dropout"] is not None:
                masks = [m for m in inputs["dropout"][str(i)]]
                token = prev_token
                if teacher_inputs is not None:
                    token = ops.where(mix, prev_token, inputs["teacher_tokens"][str(i)])
                gates = decoder.dropped_out_gate_inputs(
                    token,
                    this_segment(i, "conditioning"),
                    None if controls is None else inputs["raw_control"],
                    masks[0],
                    stream["params"],
                )
            else:
                masks = None
                token_gates = decoder.token_projection(prev_token, stream["params"])
                if teacher_inputs is not None:
                    token_gates = ops.where(mix, token_gates, inputs["teacher"][i])
                gates = token_gates + this_segment(i, "conditioning_projection")
                if controls is not None:
                    gates = gates + inputs["control"][i]
            logits, states = decoder.step(gates, states, stream["params"], dropout_masks=masks)
            # The next input, in the compute dtype (the logits may be float32).
            sample = ops.cast(decoder.head.sample(logits, temperature, inputs["noise"][i]), dtype)
            new_carry.append((states, sample, logits))
        outputs = [(sample, logits) for _, sample, logits in new_carry]
        new_carry = pack_carry(new_carry)
        return new_carry, (new_carry if outputs_are_carry else outputs)

    if by_segment:
        carry, parts = init, []
        for s in range(num_segments):
            if s > 0:
                carry = pack_carry(
                    [
                        ([(h[s], c[s]) for h, c in stream["segment_states"]], token, logits)
                        for stream, (_, token, logits) in zip(
                            per_stream, unpack_carry(carry, layer_counts)
                        )
                    ]
                )
            values = [
                {key: stream[key][s] for key in ("conditioning_projection", "conditioning") if key in stream}
                for stream in per_stream
            ]
            segment_xs = tree.map_structure(
                lambda x: x[s * segment_length : (s + 1) * segment_length], xs
            )
            carry, part = ops.scan(
                functools.partial(step, segment_values=values), carry, segment_xs
            )
            parts.append(part)
        outputs = tree.map_structure(lambda *x: ops.concatenate(x, axis=0), *parts)
    elif outputs_are_carry:
        # TensorFlow: a loop XLA can differentiate (`tf_scan.py`).
        from keras_musicvae.layers import tf_scan

        outputs = tf_scan.scan_carries(step, init, xs)
    else:
        _, outputs = ops.scan(step, init, xs)
    if outputs_are_carry:
        outputs = [(sample, logits) for _, sample, logits in unpack_carry(outputs, layer_counts)]
    return (
        [time_major(sample) for sample, _ in outputs],
        [time_major(ops.cast(logits, dtype)) for _, logits in outputs],
    )


def segments_in_python():
    """Whether a hierarchical loop runs its segments one after the other in
    Python, each from its own initial states (eager PyTorch, where every
    operation costs a dispatch: the reset of the states at each segment's
    start would add four operations per LSTM layer and step), rather than
    as one loop over all steps that resets the states where a segment
    starts (compiled TensorFlow and JAX, where those operations are cheap
    and one loop keeps the program small). Both give the same numbers.
    """
    return keras.backend.backend() == "torch"


def pack_carry(streams):
    """The flat list the step loop's `ops.scan` carries (Keras' TensorFlow
    `scan` wants the per-step outputs shaped like the carry, a flat list).

    Args:
        streams: per stream `(states, sample, logits)`, `states` a list of
            `(h, c)` per LSTM layer.

    Returns:
        `[h_0, c_0, h_1, c_1, ..., sample, logits]` of every stream in turn.
    """
    flat = []
    for states, sample, logits in streams:
        for h, c in states:
            flat += [h, c]
        flat += [sample, logits]
    return flat


def unpack_carry(flat, layer_counts):
    """Inverse of `pack_carry`, given each stream's number of LSTM layers."""
    streams, offset = [], 0
    for num_layers in layer_counts:
        states = [(flat[offset + 2 * k], flat[offset + 2 * k + 1]) for k in range(num_layers)]
        streams.append((states, flat[offset + 2 * num_layers], flat[offset + 2 * num_layers + 1]))
        offset += 2 * num_layers + 2
    return streams
