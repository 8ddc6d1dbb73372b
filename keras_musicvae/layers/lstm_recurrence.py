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
and `h`, the outputs, the saved gate activations and the gate gradients are
stored in it (half the memory of float32). The cell state `c` and the
gradients carried from step to step (`dh`, `dc`) stay float32
(`accumulation_dtype`): `c` is a running sum over the whole sequence, and in
bfloat16 (8-bit mantissa) each step would round away contributions smaller
than 1/256 of it; `dc` is the same sum backwards. The gate nonlinearities
are computed in float32 from the half-precision pre-activations (elementwise
work, cheap next to the products). With a float32 policy every cast here is
a no-op and the arithmetic is unchanged.
"""

import keras
from keras import ops

from keras_musicvae.layers.precision import accumulation_dtype


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
    if masks is None:
        batch, steps = ops.shape(input_projections[0])[0], ops.shape(input_projections[0])[1]
        masks = [ops.ones((batch, steps), dtype=accumulate)] * num
    masks = [ops.cast(m, accumulate) for m in masks]
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
    outputs, final_states = [], []
    offset = 0
    for i, h_units in enumerate(units):
        part = packed[..., offset : offset + h_units]
        outputs.append(part[:, :-2])
        final_states.append((part[:, -2], part[:, -1]))
        offset += h_units
    return outputs, final_states


def _split_args(num, args):
    projections = args[:num]
    kernels = args[num : 2 * num]
    h0 = args[2 * num : 3 * num]
    c0 = args[3 * num : 4 * num]
    masks = args[4 * num : 5 * num]
    return projections, kernels, h0, c0, masks


#: Per layer, the scan carries (and outputs per step) four values, in this
#: order: h, c, the gate activations and the masked output `keep * h`.
_CARRY_PER_LAYER = 4


def _layer_carry(carry, i):
    """Layer `i`'s `(h, c, activations, output)` of the flat scan carry."""
    start = _CARRY_PER_LAYER * i
    return tuple(carry[start : start + _CARRY_PER_LAYER])


def _forward_packed(num, args):
    """Forward loop; returns the packed outputs and what the backward needs."""
    projections, kernels, h0, c0, masks = _split_args(num, args)
    dtype = keras.backend.standardize_dtype(projections[0].dtype)
    accumulate = accumulation_dtype(dtype)
    xs = [_time_major(p) for p in projections] + [
        ops.expand_dims(_time_major(m), -1) for m in masks
    ]

    def step(carry, step_inputs):
        new_carry = []
        for i in range(num):
            h, c, _, _ = _layer_carry(carry, i)
            keep = step_inputs[num + i]
            # The product in the compute dtype; gates and c in float32.
            gates = ops.cast(step_inputs[i] + ops.matmul(h, kernels[i]), accumulate)
            gi, gf, gg, go = ops.split(gates, 4, axis=-1)
            gi, gf, gg, go = ops.sigmoid(gi), ops.sigmoid(gf), ops.tanh(gg), ops.sigmoid(go)
            c_new = gf * c + gi * gg
            h_new = go * ops.tanh(c_new)
            h_new = keep * h_new + (1.0 - keep) * ops.cast(h, accumulate)
            c_new = keep * c_new + (1.0 - keep) * c
            h_new = ops.cast(h_new, dtype)
            activations = ops.cast(ops.concatenate([gi, gf, gg, go], axis=-1), dtype)
            new_carry += [h_new, c_new, activations, ops.cast(keep, dtype) * h_new]
        # Keras' TensorFlow `scan` needs per-step outputs shaped like the carry.
        return new_carry, new_carry

    init = []
    for i in range(num):
        batch = ops.shape(h0[i])[0]
        init += [
            h0[i],
            c0[i],
            ops.zeros((batch, 4 * kernels[i].shape[0]), h0[i].dtype),
            ops.zeros_like(h0[i]),
        ]
    final, per_step = ops.scan(step, init, xs)
    packed = []
    saved = []
    for i in range(num):
        hs, cs, activations, outputs = _layer_carry(per_step, i)
        h_final, c_final, _, _ = _layer_carry(final, i)
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
    grads_projection, grads_kernel, grads_h0, grads_c0 = [], [], [], []
    offset = 0
    # Run each recurrence's backward loop (they are independent).
    for i in range(num):
        units = kernels[i].shape[0]
        part = upstream[..., offset : offset + units]
        offset += units
        d_outputs = _time_major(part[:, :-2])
        # dh and dc are carried in float32, like c; the products and the
        # per-step gate gradients are in the compute dtype.
        d_h_final = ops.cast(part[:, -2], accumulate)
        d_c_final = ops.cast(part[:, -1], accumulate)
        hs, cs, activations = saved[i]
        keep = ops.expand_dims(_time_major(masks[i]), -1)
        c_prev_seq = ops.concatenate([ops.expand_dims(c0[i], 0), cs[:-1]], axis=0)
        kernel_t = ops.transpose(kernels[i])

        def step(carry, step_inputs, kernel_t=kernel_t):
            dh_next, dc_next, _ = carry
            d_out, act, c_t, c_prev, m = step_inputs
            gi, gf, gg, go = ops.split(ops.cast(act, accumulate), 4, axis=-1)
            dh = dh_next + ops.cast(d_out, accumulate) * m
            tanh_c = ops.tanh(c_t)
            d_o = dh * tanh_c
            dc = dc_next + dh * go * (1.0 - ops.square(tanh_c))
            d_i = dc * gg
            d_g = dc * gi
            d_f = dc * c_prev
            d_gates = ops.concatenate(
                [
                    d_i * gi * (1.0 - gi),
                    d_f * gf * (1.0 - gf),
                    d_g * (1.0 - ops.square(gg)),
                    d_o * go * (1.0 - go),
                ],
                axis=-1,
            ) * m
            d_gates = ops.cast(d_gates, dtype)
            dh_prev = ops.cast(ops.matmul(d_gates, kernel_t), accumulate) + (1.0 - m) * dh
            dc_prev = m * (dc * gf) + (1.0 - m) * dc_next
            new = [dh_prev, dc_prev, d_gates]
            return new, new

        xs = [
            ops.flip(d_outputs, 0),
            ops.flip(activations, 0),
            ops.flip(cs, 0),
            ops.flip(c_prev_seq, 0),
            ops.flip(keep, 0),
        ]
        # The final state of a masked (finished) sequence is the state at its
        # last valid step: its gradient enters where the state was frozen,
        # which the pass-through of masked steps handles.
        init = [d_h_final, d_c_final, ops.zeros_like(activations[0])]
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
