"""A step loop that TensorFlow can differentiate under XLA (backend-specific module).

Keras' TensorFlow `ops.scan` runs `tf.while_loop` without
`maximum_iterations`. To differentiate such a loop, TensorFlow keeps every
step's intermediate values in lists of unknown length, which XLA refuses to
compile ("XLA compilation requires a fixed tensor list size"). The
scheduled-sampling decoders (`cat_mel_*`, `cat_drums_*`, `nade_*`), whose
step loop is the one loop the models differentiate automatically, could
therefore not train with `jit_compile=True`: the setting Keras picks by
itself on a TensorFlow GPU machine when every layer supports XLA, as they
all do under a half-precision policy (cuDNN's LSTM, which XLA cannot
compile, is used in float32 only). `tf.scan` bounds its loop by the number
of steps, which XLA accepts.
"""


def scan_carries(step, init, xs):
    """The per-step outputs of `ops.scan(step, init, xs)` for a `step` whose
    per-step outputs are its new carry (what Keras' TensorFlow `scan`
    requires anyway).

    Args:
        step: `(carry, x) -> (new_carry, new_carry)`.
        init: the initial carry (a flat list of tensors).
        xs: nested tensors scanned along their first axis.

    Returns:
        Every step's carry, stacked along a new first axis (the last one is
        the final carry).
    """
    import tensorflow as tf

    return tf.scan(lambda carry, x: step(carry, x)[0], xs, initializer=init, parallel_iterations=1)
