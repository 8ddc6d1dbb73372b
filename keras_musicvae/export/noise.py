"""Sampling noise made inside an exported TensorFlow graph.

BACKEND-SPECIFIC CODE (TensorFlow): export graphs are TensorFlow graphs.

The model samples as `argmax(logits + temperature * noise)` (categorical
heads, Gumbel noise) or `logits + temperature * noise > 0` (Bernoulli heads,
logistic noise), with the noise drawn before the step loop (see
`keras_musicvae.layers.heads.output_head`). Here the same noise is drawn with
`tf.random.stateless_uniform` from a seed that is an input of the graph, so a
SavedModel samples deterministically: same seed, same output.

Seeds: head `i` draws its uniforms with the stateless seed
`[seed + STREAM_SEED_STRIDE * i, 0]`, which is what Keras'
`keras.random.uniform(..., seed=stream_seed(seed, i))` uses on the TensorFlow
backend, so an exported model samples exactly what
`model.decode(z, temperature, seed=seed)` samples there.
"""

import tensorflow as tf

from keras_musicvae.export.spec import GUMBEL
from keras_musicvae.layers.heads.output_head import GUMBEL_UNIFORM_RANGE
from keras_musicvae.layers.heads.output_head import LOGISTIC_UNIFORM_RANGE
from keras_musicvae.layers.heads.output_head import gumbel_from_uniform
from keras_musicvae.layers.heads.output_head import logistic_from_uniform
from keras_musicvae.layers.heads.output_head import STREAM_SEED_STRIDE

#: Second element of the stateless seed of the prior draw in `sample`.
PRIOR_SEED_SALT = 0x5EED


def stateless_seed(seed, salt, offset=0):
    """`[seed', salt]` int32, `seed' = seed + offset` reduced the way Keras
    reduces int seeds on TF."""
    seed = tf.cast(seed, tf.int64) + offset
    seed = tf.cast(tf.math.floormod(seed, tf.int32.max - 1), tf.int32)
    return tf.stack([seed, tf.constant(salt, tf.int32)])


def head_noise(kind, shape, seed_pair):
    """Noise of one head.

    Args:
        kind: `GUMBEL` or `LOGISTIC` (`ExportSpec.noise_kinds`).
        shape: `[batch, time, noise_depth]` (ints or int tensors).
        seed_pair: int32 `[2]` stateless seed.

    Returns:
        float32 tensor of `shape`.
    """
    # The heads' uniforms (drawn here with TensorFlow's stateless op: the
    # graph's seed is a tensor) and the heads' own transforms.
    minval, maxval = GUMBEL_UNIFORM_RANGE if kind == GUMBEL else LOGISTIC_UNIFORM_RANGE
    uniform = tf.random.stateless_uniform(shape, seed_pair, minval=minval, maxval=maxval, dtype=tf.float32)
    return gumbel_from_uniform(uniform) if kind == GUMBEL else logistic_from_uniform(uniform)


def seeded_noises(spec, batch_size, seed):
    """Per-head noise `[batch, max_seq_len, noise_depth_i]` from an int32 seed."""
    return [
        head_noise(
            kind,
            [batch_size, spec.max_seq_len, depth],
            stateless_seed(seed, 0, offset=STREAM_SEED_STRIDE * i),
        )
        for i, (kind, depth) in enumerate(zip(spec.noise_kinds, spec.noise_depths))
    ]


def split_noise(spec, noise):
    """Splits a concatenated `[batch, time, spec.noise_depth]` noise per head."""
    if len(spec.noise_depths) == 1:
        return [noise]
    return tf.split(noise, list(spec.noise_depths), axis=-1)
