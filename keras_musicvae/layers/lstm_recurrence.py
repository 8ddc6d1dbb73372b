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
step past the sequence's end by one `where` per tensor.
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
    dtype = keras.backend.standardize_dtype(gate_inputs.dtype)
    accumulate = accumulation_dtype(dtype)
    i, f, g, o = ops.split(ops.cast(gate_inputs, accumulate), 4, axis=-1)
    c = ops.sigmoid(f) * ops.cast(cell_state, accumulate) + ops.sigmoid(i) * ops.tanh(g)
    h = ops.sigmoid(o) * ops.tanh(c)
    return ops.cast(h, dtype), c


def _time_major(x):
    return ops.moveaxis(x, 1, 0)


def _batch_major(x):
    return ops.moveaxis(x, 0, 1)


def lstm_recurrence(
    input_projections, recurrent_kernels, initial_states, masks=None, fused_gradient=True
):
    """Runs several independent LSTM recurrences over time in one loop.

    Args:
        input_projections: list of `[B, T, 4H_i]` tensors (inputs already
            multiplied by the kernel, bias added).
        recurrent_kernels: list of `[H_i, 4H_i]` tensors.
        initial_states: list of `(h, c)` pairs, each `[B, H_i]` (any float
            dtype: `h` is cast to the inputs' dtype, `c` to float32 for
            half-precision inputs).
        masks: None, or a list of `[B, T]` boolean tensors; where a mask is
            False the state is carried unchanged and the output is zero
            (steps past a sequence's length).
        fused_gradient: use the hand-written backward pass (see the module
            docstring); False differentiates the loop automatically.

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
    recurrent_kernels = [
        ops.cast(ops.copy(r) if isinstance(r, keras.Variable) else r, dtype)
        for r in recurrent_kernels
    ]
    args = (
        input_projections
        + recurrent_kernels
        + [ops.cast(h, dtype) for h, _ in initial_states]
        # The cell state is carried in float32 (module docstring).
        + [ops.cast(c, accumulate) for _, c in initial_states]
        + masks
    )
    if fused_gradient:
        packed = _fused(num, *args)
    else:
        packed = _forward_packed(num, args)[0]
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


def _split_args(num, args):
    projections = args[:num]
    kernels = args[num : 2 * num]
    h0 = args[2 * num : 3 * num]
    c0 = args[3 * num : 4 * num]
    masks = args[4 * num : 5 * num]  # empty: no masks
    return projections, kernels, h0, c0, masks


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


def _forward_packed(num, args):
    """Forward loop; returns the packed outputs and what the backward needs."""
    projections, kernels, h0, c0, masks = _split_args(num, args)
    dtype = keras.backend.standardize_dtype(projections[0].dtype)
    accumulate = accumulation_dtype(dtype)
    keeps = _time_major_keep(masks)
    xs = [_time_major(p) for p in projections] + keeps
    # Laid out once for the backend's fastest per-step product.
    recurrent_products = [LoopMatrix(k) for k in kernels]

    def step(carry, step_inputs):
        new_carry = []
        for i in range(num):
            h, c, _ = _layer_carry(carry, i)
            # The product in the compute dtype; gates and c in float32.
            gates = ops.cast(step_inputs[i] + recurrent_products[i](h), accumulate)
            gi, gf, gg, go = ops.split(gates, 4, axis=-1)
            gi, gf, gg, go = ops.sigmoid(gi), ops.sigmoid(gf), ops.tanh(gg), ops.sigmoid(go)
            c_new = gf * c + gi * gg
            h_new = ops.cast(go * ops.tanh(c_new), dtype)
            if masks:
                # Past a sequence's end the state is carried unchanged.
                keep = step_inputs[num + i]
                h_new = ops.where(keep, h_new, h)
                c_new = ops.where(keep, c_new, c)
            new_carry += [h_new, c_new, gi, gf, gg, go]
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


def _fused(num, *args):
    @ops.custom_gradient
    def run(*args):
        packed, saved = _forward_packed(num, args)

        def grad(*upstream_args, upstream=None):
            if upstream is None:
                (upstream,) = upstream_args
            return _backward(num, args, saved, upstream)

        return packed, grad

    return run(*args)


def _backward(num, args, saved, upstream):
    projections, kernels, h0, c0, masks = _split_args(num, args)
    dtype = keras.backend.standardize_dtype(projections[0].dtype)
    accumulate = accumulation_dtype(dtype)
    keeps = _time_major_keep(masks)
    grads_projection, grads_kernel, grads_h0, grads_c0 = [], [], [], []
    parts = split_by_sizes(upstream, [k.shape[0] for k in kernels])
    # Run each recurrence's backward loop (they are independent).
    for i, part in enumerate(parts):
        units = kernels[i].shape[0]
        # dh and dc are carried in float32, like c; the products and the
        # per-step gate gradients are in the compute dtype.
        d_outputs = ops.cast(_time_major(part[:, :-2]), accumulate)
        if masks:
            # The outputs past a sequence's end are constant zeros.
            d_outputs = ops.where(keeps[i], d_outputs, ops.zeros_like(d_outputs))
        d_h_final = ops.cast(part[:, -2], accumulate)
        d_c_final = ops.cast(part[:, -1], accumulate)
        hs, cs, (gi, gf, gg, go) = saved[i]
        c_prev = ops.concatenate([ops.expand_dims(c0[i], 0), cs[:-1]], axis=0)
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
        if masks:
            # A step past the sequence's end changed nothing: no gate
            # gradients, and dc passes through it (dc_from_dh 0, gf 1); dh
            # passes through by a `where` in the loop.
            keep = keeps[i]
            coefficients = ops.where(keep, coefficients, ops.zeros_like(coefficients))
            dc_from_dh = ops.where(keep, dc_from_dh, ops.zeros_like(dc_from_dh))
            gf = ops.where(keep, gf, ops.ones_like(gf))
        # `d_gates @ kernel^T`, the operand laid out once (`LoopMatrix`).
        times_kernel_t = LoopMatrix(kernels[i], transpose=True)

        def step(carry, step_inputs, times_kernel_t=times_kernel_t):
            dh_next, dc_next, _ = carry
            d_out, dc_from_dh_t, coefficients_t, gf_t = step_inputs[:4]
            dh = dh_next + d_out
            dc = dc_next + dh * dc_from_dh_t
            d_gates = ops.cast(ops.concatenate([dc, dc, dc, dh], axis=-1) * coefficients_t, dtype)
            dh_prev = ops.cast(times_kernel_t(d_gates), accumulate)
            if masks:
                dh_prev = ops.where(step_inputs[4], dh_prev, dh)
            new = [dh_prev, dc * gf_t, d_gates]
            return new, new

        xs = [ops.flip(x, 0) for x in (d_outputs, dc_from_dh, coefficients, gf)]
        if masks:
            xs.append(ops.flip(keeps[i], 0))
        # The final state of a masked (finished) sequence is the state at its
        # last valid step: its gradient enters where the state was frozen,
        # which the pass-through of masked steps handles.
        init = [d_h_final, d_c_final, ops.zeros((ops.shape(hs)[1], 4 * units), dtype)]
        final, per_step = ops.scan(step, init, xs)
        d_gates = ops.flip(per_step[2], 0)  # [T, B, 4H], time order
        h_prev = ops.concatenate([ops.expand_dims(h0[i], 0), hs[:-1]], axis=0)
        steps_times_batch = ops.shape(d_gates)[0] * ops.shape(d_gates)[1]
        grads_kernel.append(
            ops.matmul(
                ops.transpose(ops.reshape(h_prev, (steps_times_batch, units))),
                ops.reshape(d_gates, (steps_times_batch, 4 * units)),
            )
        )
        grads_projection.append(_batch_major(d_gates))
        grads_h0.append(ops.cast(final[0], dtype))
        grads_c0.append(final[1])  # c0 is an accumulation-dtype input
    grads_masks = [ops.zeros_like(m) for m in masks]
    return tuple(grads_projection + grads_kernel + grads_h0 + grads_c0 + grads_masks)
