"""The LSTM time loop, with a hand-written backward pass.

Automatic differentiation of a time loop accumulates the gradient of the
recurrent kernel inside the backward loop: at every step a rank-B update of
an `[H, 4H]` matrix is read and written. At batch 8 and H = 2048 (the 16-bar
encoders) that is 64 MB of memory traffic per step and direction, the main
cost of training on CPU (and what made Magenta's 16-bar training run out of
memory with 32 loop iterations in flight). Here the backward loop only
propagates `dh` and `dc` and emits each step's gate gradients; the kernel
gradient is then one matrix product over all steps,
`dR = H_prev^T @ dGates`.

Inputs are projected before the loop (`x @ kernel + bias`), so the loop's
inputs are gate pre-activations and the gradient of the projection is
ordinary autodiff outside this function.

`lstm_recurrence(..., fused_gradient=False)` runs the same forward loop
under plain autodiff (the reference the tests compare against).

Precision: the inputs' dtype is the compute dtype (bfloat16 / float16 under
a mixed or half policy). The matrix products `h @ recurrent_kernel` (forward)
and `d_gates @ recurrent_kernel^T`, `H_prev^T @ dGates` (backward) run in it,
and `h`, the outputs and the gate gradients are stored in it (half the
memory of float32). The cell state `c` and the gradients carried from step
to step (`dh`, `dc`) stay float32 (`accumulation_dtype`): `c` is a running
sum over the whole sequence, and in bfloat16 (8-bit mantissa) each step
would round away contributions smaller than 1/256 of it; `dc` is the same
sum backwards. The gate nonlinearities are computed in float32 from the
half-precision pre-activations, and the backward pass reads them back in
float32 (saving them in bfloat16 cost a cast at every step of both loops:
about 20 ms of CPU time in a 150 ms cat_mel_2bar_small training step on
TensorFlow, profiled).
With a float32 policy every cast here is a no-op and the arithmetic is
unchanged.

The step functions do only what the sequence needs: without masks there is
no masking arithmetic at all, and with masks a state is carried through a
step past the sequence's end by one `where` per tensor. Masks that are all
True (a batch of full-length sequences, such as every 2-bar window) take
the unmasked loops, forward and backward, chosen by a `cond` inside the
custom-gradient function. Biases given apart (`biases=`) are added to the
projections inside it, so that their gradients are summed as one matrix
product (`step_sums`).

`recurrence_backward` (one recurrence's backward loop, from the saved
values of `cell_step`) also serves the scheduled-sampling loop's
hand-written backward pass (`scheduled_sampling.py`).
"""

import keras
from keras import ops

from keras_musicvae.layers.precision import accumulation_dtype
from keras_musicvae.layers.step_projection import LoopMatrix
from keras_musicvae.utils.splitting import split_by_sizes


def lstm_gates(gate_inputs, cell_state):
    """One LSTM update from pre-activations `[B, 4H]` (gates i, f, c, o).

    The gates and the new cell state are computed in float32 when
    `gate_inputs` are half precision (see the module docstring); `h` comes
    back in `gate_inputs`' dtype, `c` in float32 (or `gate_inputs`' dtype
    when that is float32 or wider).

    Returns:
        `(h, c)`, each `[B, H]`.
    """
    accumulate = accumulation_dtype(keras.backend.standardize_dtype(gate_inputs.dtype))
    h, c, _ = cell_step(gate_inputs, ops.cast(cell_state, accumulate))
    return h, c


def _time_major(x):
    return ops.moveaxis(x, 1, 0)


def _batch_major(x):
    return ops.moveaxis(x, 0, 1)


def cell_step(gate_inputs, cell_state):
    """One LSTM update that keeps what the hand-written backward pass reads.

    Args:
        gate_inputs: `[B, 4H]` pre-activations (gates i, f, c, o) in the
            compute dtype (the products run in it).
        cell_state: `[B, H]`, float32 under a half-precision policy.

    Returns:
        `(h, c, (i, f, g, o))`: `h` in the compute dtype; `c` and the four
        gate activations in the accumulation dtype (`lstm_gates` without
        the activations).
    """
    dtype = keras.backend.standardize_dtype(gate_inputs.dtype)
    gi, gf, gg, go = ops.split(ops.cast(gate_inputs, accumulation_dtype(dtype)), 4, axis=-1)
    gi, gf, gg, go = ops.sigmoid(gi), ops.sigmoid(gf), ops.tanh(gg), ops.sigmoid(go)
    c = gf * cell_state + gi * gg
    return ops.cast(go * ops.tanh(c), dtype), c, (gi, gf, gg, go)


def lstm_recurrence(
    input_projections,
    recurrent_kernels,
    initial_states,
    masks=None,
    fused_gradient=True,
    biases=None,
):
    """Runs several independent LSTM recurrences over time in one loop.

    Args:
        input_projections: list of `[B, T, 4H_i]` tensors (inputs already
            multiplied by the kernel; the bias added, or given in `biases`).
        recurrent_kernels: list of `[H_i, 4H_i]` tensors.
        initial_states: list of `(h, c)` pairs, each `[B, H_i]` (any float
            dtype: `h` is cast to the inputs' dtype, `c` to float32 for
            half-precision inputs).
        masks: None, or a list of `[B, T]` boolean tensors; where a mask is
            False the state is carried unchanged and the output is zero
            (steps past a sequence's length).
        fused_gradient: use the hand-written backward pass (see the module
            docstring); False differentiates the loop automatically.
        biases: None, or a list of `[4H_i]` biases added to the projections
            here: the hand-written backward pass then sums their gradients
            over steps and batch as one matrix product (`step_sums`), where
            automatic differentiation of `projection + bias` would reduce the
            leading axes (TensorFlow: 2 ms for a `[64, 32, 2048]` gradient on
            this CPU, against 0.4 ms).

    Returns:
        `(outputs, final_states)`: a list of `[B, T, H_i]` hidden-state
        sequences and a list of final `(h, c)` pairs, all in the inputs'
        dtype.
    """
    num = len(input_projections)
    units = [int(r.shape[0]) for r in recurrent_kernels]
    dtype = keras.backend.standardize_dtype(input_projections[0].dtype)
    accumulate = accumulation_dtype(dtype)
    input_projections = [ops.cast(p, dtype) for p in input_projections]
    # Without masks the loops skip the masking arithmetic altogether.
    masks = [] if masks is None else [ops.cast(m, accumulate) for m in masks]
    # Read variables here, outside the custom-gradient function (TensorFlow's
    # eager custom_gradient would otherwise ask for their gradients itself),
    # in the compute dtype (a mixed policy's variables are float32).
    recurrent_kernels = [_read(r, dtype) for r in recurrent_kernels]
    biases = [] if biases is None else [_read(b, dtype) for b in biases]
    args = (
        input_projections
        + recurrent_kernels
        + [ops.cast(h, dtype) for h, _ in initial_states]
        # The cell state is carried in float32 (module docstring).
        + [ops.cast(c, accumulate) for _, c in initial_states]
        + biases
        + masks
    )
    layout = (num, bool(biases))
    if fused_gradient:
        packed = _fused(layout, *args)
    else:
        packed = _forward_packed(layout, args)[0]
    # packed: [B, T + 2, sum(H)]: per recurrence the outputs, final h, final c.
    # Split rather than sliced: the gradient of a split is one concatenation,
    # while each slice's gradient is a zero-filled tensor of the whole
    # packed size (TensorFlow's StridedSliceGrad), summed afterwards.
    parts = split_by_sizes(packed, units)
    outputs, final_states = [], []
    for part in parts:
        if part.shape[1] is None:  # an unknown number of steps
            sequence, h_final, c_final = part[:, :-2], part[:, -2:-1], part[:, -1:]
        else:
            steps = part.shape[1] - 2
            sequence, h_final, c_final = ops.split(part, [steps, steps + 1], axis=1)
        outputs.append(sequence)
        final_states.append((ops.squeeze(h_final, 1), ops.squeeze(c_final, 1)))
    return outputs, final_states


def _read(weight, dtype):
    """A weight as a tensor in `dtype` (a variable is read here)."""
    return ops.cast(ops.copy(weight) if isinstance(weight, keras.Variable) else weight, dtype)


def _split_args(layout, args):
    """`(projections, kernels, h0, c0, biases, masks)` of the flat argument
    list (`biases` and `masks` may be empty), for `layout = (number of
    recurrences, whether biases are given)`."""
    num, has_biases = layout
    groups, start = [], 0
    for size in (num, num, num, num, num if has_biases else 0):
        groups.append(args[start : start + size])
        start += size
    groups.append(args[start:])  # masks, or none
    return tuple(groups)


def _time_major_keep(masks):
    """Per mask, `[T, B, 1]` booleans (True: the step is inside the sequence)."""
    return [ops.expand_dims(_time_major(ops.greater(m, 0.5)), -1) for m in masks]


#: Per layer, the scan carries (and outputs per step) six values, in this
#: order: h, c and the four gate activations (i, f, g, o). Keras'
#: TensorFlow `scan` writes per-step outputs shaped like the carry; the
#: activations are kept separate rather than concatenated, which would copy
#: them at every step.
_CARRY_PER_LAYER = 6


def _layer_carry(carry, i):
    """Layer `i`'s `(h, c, (i, f, g, o))` of the flat scan carry."""
    start = _CARRY_PER_LAYER * i
    values = carry[start : start + _CARRY_PER_LAYER]
    return values[0], values[1], tuple(values[2:])


def _forward_packed(layout, args):
    """Forward loop; returns the packed outputs and what the backward needs."""
    num = layout[0]
    projections, kernels, h0, c0, biases, masks = _split_args(layout, args)
    dtype = keras.backend.standardize_dtype(projections[0].dtype)
    accumulate = accumulation_dtype(dtype)
    keeps = _time_major_keep(masks)
    if biases:
        projections = [p + b for p, b in zip(projections, biases)]
    xs = [_time_major(p) for p in projections] + keeps
    # Laid out once for the backend's fastest per-step product.
    recurrent_products = [LoopMatrix(k) for k in kernels]

    def step(carry, step_inputs):
        new_carry = []
        for i in range(num):
            h, c, _ = _layer_carry(carry, i)
            h_new, c_new, activations = cell_step(step_inputs[i] + recurrent_products[i](h), c)
            if masks:
                # Past a sequence's end the state is carried unchanged.
                keep = step_inputs[num + i]
                h_new = ops.where(keep, h_new, h)
                c_new = ops.where(keep, c_new, c)
            new_carry += [h_new, c_new, *activations]
        return new_carry, new_carry

    init = []
    for i in range(num):
        batch = ops.shape(h0[i])[0]
        gate = ops.zeros((batch, kernels[i].shape[0]), accumulate)
        init += [h0[i], c0[i]] + [gate] * 4
    final, per_step = ops.scan(step, init, xs)
    packed = []
    saved = []
    for i in range(num):
        hs, cs, activations = _layer_carry(per_step, i)
        h_final, c_final, _ = _layer_carry(final, i)
        # The outputs are zero past a sequence's end (one op for all steps).
        outputs = ops.where(keeps[i], hs, ops.zeros_like(hs)) if masks else hs
        packed.append(
            ops.concatenate(
                [
                    _batch_major(outputs),
                    ops.expand_dims(h_final, 1),
                    ops.expand_dims(ops.cast(c_final, dtype), 1),
                ],
                axis=1,
            )
        )
        # Time-major h_t, c_t and gate activations for the backward pass.
        saved.append((hs, cs, activations))
    return ops.concatenate(packed, axis=-1), saved


def _fused(layout, *args):
    @ops.custom_gradient
    def run(*args):
        num_masks = len(_split_args(layout, args)[-1])
        if not num_masks:
            packed, saved = _forward_packed(layout, args)
        else:
            # A batch of full-length sequences (every 2-bar window) runs the
            # loops without the masking arithmetic: the same numbers, 7.5%
            # less time for a cat_mel_2bar_small training step on TensorFlow
            # (`mixed_bfloat16`, batch 64). The branch is taken inside the
            # custom-gradient function, so neither branch's intermediate
            # values are exposed to automatic differentiation.
            unmasked = args[: len(args) - num_masks]
            full = ops.all(ops.greater(ops.stack(args[len(args) - num_masks :]), 0.5))
            packed, saved = ops.cond(
                full,
                lambda: _forward_packed(layout, unmasked),
                lambda: _forward_packed(layout, args),
            )

        def grad(*upstream_args, upstream=None):
            if upstream is None:
                (upstream,) = upstream_args
            if not num_masks:
                return _backward(layout, args, saved, upstream)
            mask_grads = tuple(ops.zeros_like(m) for m in args[len(args) - num_masks :])
            return ops.cond(
                full,
                lambda: _backward(layout, unmasked, saved, upstream) + mask_grads,
                lambda: _backward(layout, args, saved, upstream),
            )

        return packed, grad

    return run(*args)


def _backward(layout, args, saved, upstream):
    projections, kernels, h0, c0, biases, masks = _split_args(layout, args)
    accumulate = accumulation_dtype(keras.backend.standardize_dtype(projections[0].dtype))
    keeps = _time_major_keep(masks)
    grads_projection, grads_kernel, grads_h0, grads_c0 = [], [], [], []
    parts = split_by_sizes(upstream, [k.shape[0] for k in kernels])
    # Each recurrence's backward loop (they are independent).
    for i, part in enumerate(parts):
        d_outputs = ops.cast(_time_major(part[:, :-2]), accumulate)
        keep = keeps[i] if masks else None
        if masks:
            # The outputs past a sequence's end are constant zeros.
            d_outputs = ops.where(keep, d_outputs, ops.zeros_like(d_outputs))
        d_gates, d_kernel, d_h0, d_c0 = recurrence_backward(
            kernels[i], h0[i], c0[i], saved[i], d_outputs,
            ops.cast(part[:, -2], accumulate), ops.cast(part[:, -1], accumulate), keep,
        )  # fmt: skip
        grads_projection.append(_batch_major(d_gates))
        grads_kernel.append(d_kernel)
        grads_h0.append(d_h0)
        grads_c0.append(d_c0)
    grads_biases = [step_sums(g) for g in grads_projection] if biases else []
    grads_masks = [ops.zeros_like(m) for m in masks]
    return tuple(
        grads_projection + grads_kernel + grads_h0 + grads_c0 + grads_biases + grads_masks
    )


def recurrence_backward(kernel, h0, c0, saved, d_outputs, d_h_final=None, d_c_final=None, keep=None):
    """The backward pass of one LSTM recurrence from its saved forward values.

    Args:
        kernel: `[H, 4H]` recurrent kernel in the compute dtype.
        h0: `[B, H]` initial hidden state (compute dtype).
        c0: `[B, H]` initial cell state (accumulation dtype).
        saved: time-major `(hs, cs, (i, f, g, o))` of the forward loop
            (`cell_step`'s outputs at every step), each `[T, B, H]`.
        d_outputs: `[T, B, H]` gradient of each step's output `h`, in the
            accumulation dtype, time-major.
        d_h_final, d_c_final: `[B, H]` gradients of the final state (None:
            zeros).
        keep: None, or `[T, B, 1]` booleans, False where a step was masked
            (the state carried through it unchanged).

    Returns:
        `(d_gates, d_kernel, d_h0, d_c0)`: `[T, B, 4H]` time-major gradients
        of the gate pre-activations (compute dtype), `[H, 4H]`, and the
        initial state's gradients, in the compute and accumulation dtypes.
    """
    units = int(kernel.shape[0])
    dtype = keras.backend.standardize_dtype(kernel.dtype)
    accumulate = accumulation_dtype(dtype)
    hs, cs, (gi, gf, gg, go) = saved
    batch = ops.shape(hs)[1]
    if d_h_final is None:
        d_h_final = ops.zeros((batch, units), accumulate)
    if d_c_final is None:
        d_c_final = ops.zeros((batch, units), accumulate)
    c_prev = ops.concatenate([ops.expand_dims(c0, 0), cs[:-1]], axis=0)
    # Everything of the gate derivatives that does not depend on the
    # incoming gradients is computed here for all steps at once (large
    # element-wise operations), leaving the loop with a few per step:
    #   dh      = dh_next + d_out
    #   dc      = dc_next + dh * go * (1 - tanh(c)^2)
    #   d_gates = [dc, dc, dc, dh] * [gg gi (1 - gi), c_prev gf (1 - gf),
    #                                 gi (1 - gg^2), tanh(c) go (1 - go)]
    #   dh_prev = d_gates @ kernel^T,  dc_prev = dc * gf
    tanh_c = ops.tanh(cs)
    dc_from_dh = go * (1.0 - ops.square(tanh_c))
    coefficients = ops.concatenate(
        [gg * gi * (1.0 - gi), c_prev * gf * (1.0 - gf), gi * (1.0 - ops.square(gg)), tanh_c * go * (1.0 - go)],
        axis=-1,
    )
    if keep is not None:
        # A step past the sequence's end changed nothing: no gate
        # gradients, and dc passes through it (dc_from_dh 0, gf 1); dh
        # passes through by a `where` in the loop.
        coefficients = ops.where(keep, coefficients, ops.zeros_like(coefficients))
        dc_from_dh = ops.where(keep, dc_from_dh, ops.zeros_like(dc_from_dh))
        gf = ops.where(keep, gf, ops.ones_like(gf))
    # `d_gates @ kernel^T`, the operand laid out once (`LoopMatrix`).
    times_kernel_t = LoopMatrix(kernel, transpose=True)

    def step(carry, step_inputs):
        dh_next, dc_next, _ = carry
        d_out, dc_from_dh_t, coefficients_t, gf_t = step_inputs[:4]
        dh = dh_next + d_out
        dc = dc_next + dh * dc_from_dh_t
        d_gates = ops.cast(ops.concatenate([dc, dc, dc, dh], axis=-1) * coefficients_t, dtype)
        dh_prev = ops.cast(times_kernel_t(d_gates), accumulate)
        if keep is not None:
            dh_prev = ops.where(step_inputs[4], dh_prev, dh)
        new = [dh_prev, dc * gf_t, d_gates]
        return new, new

    xs = [d_outputs, dc_from_dh, coefficients, gf]
    if keep is not None:
        xs.append(keep)
    # The final state of a masked (finished) sequence is the state at its
    # last valid step: its gradient enters where the state was frozen,
    # which the pass-through of masked steps handles.
    init = [d_h_final, d_c_final, ops.zeros((batch, 4 * units), dtype)]
    # From the last step to the first; the per-step outputs come back in
    # time order (no reversed copies of the inputs and outputs).
    final, per_step = ops.scan(step, init, xs, reverse=True)
    d_gates = per_step[2]  # [T, B, 4H]
    h_prev = ops.concatenate([ops.expand_dims(ops.cast(h0, dtype), 0), hs[:-1]], axis=0)
    d_kernel = ops.matmul(ops.transpose(flatten_steps(h_prev)), flatten_steps(d_gates))
    # c0 is an accumulation-dtype input.
    return d_gates, d_kernel, ops.cast(final[0], dtype), ops.cast(final[1], accumulate)


def flatten_steps(x):
    """`[T, B, N]` -> `[T * B, N]`."""
    return ops.reshape(x, (-1, x.shape[-1]))


def step_sums(x):
    """`[..., N]` summed over every leading axis, `[N]`: the gradient of a
    bias added at every step. One matrix product with a row of ones, in
    `x`'s dtype (the products accumulate in float32): TensorFlow reduces the
    leading axes of a `[32, 64, 2048]` tensor in 2 ms on this CPU, and
    multiplies it by ones in 0.4 ms."""
    flat = flatten_steps(x)
    ones = ops.ones((1, ops.shape(flat)[0]), flat.dtype)
    return ops.reshape(ops.matmul(ones, flat), (x.shape[-1],))
