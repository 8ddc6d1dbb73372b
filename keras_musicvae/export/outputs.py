"""Named outputs of the exported decode signatures.

BACKEND-SPECIFIC CODE (TensorFlow): export graphs are TensorFlow graphs.

- Categorical heads (melodies, drums, trios): `tokens` int32
  `[batch, time, num_streams]`, the class index of each stream (trio:
  melody, bass, drums), and `one_hot` float32 `[batch, time, output_depth]`,
  the sampled vectors as `model.decode` returns them.
- GrooVAE heads: `outputs` float32 `[batch, time, 3 * N]` (`[hits |
  velocities | offsets]`, as `model.decode`), and `hits`, `velocities`,
  `offsets` float32 `[batch, time, N]` each.
- NADE heads (multi-label drums): `outputs` float32 `[batch, time, N]`
  multi-hot vectors.

Indices come from `tf.math.top_k(x, 1)`, not `tf.argmax`: `argmax` lowers to
ops TF Lite's built-in op set lacks (see `keras_musicvae.export.tflite`).
"""

import tensorflow as tf

from keras_musicvae.export.spec import GROOVE
from keras_musicvae.export.spec import TOKENS


def stream_indices(spec, vectors):
    """int32 `[..., num_streams]`: the index of the largest entry of each stream."""
    parts = (
        [vectors] if spec.num_streams == 1 else tf.split(vectors, list(spec.stream_depths), axis=-1)
    )
    indices = [tf.math.top_k(p, 1).indices for p in parts]
    return indices[0] if len(indices) == 1 else tf.concat(indices, axis=-1)


def named_outputs(spec, samples):
    """The decode signature's output dict from `[batch, time, output_depth]` samples."""
    samples = tf.cast(samples, tf.float32)
    if spec.output_kind == TOKENS:
        return {"tokens": stream_indices(spec, samples), "one_hot": samples}
    if spec.output_kind == GROOVE:
        hits, velocities, offsets = tf.split(samples, 3, axis=-1)
        return {"outputs": samples, "hits": hits, "velocities": velocities, "offsets": offsets}
    return {"outputs": samples}


def output_names(spec):
    """Names of the decode outputs of `spec`'s model, sorted."""
    if spec.output_kind == TOKENS:
        return ["one_hot", "tokens"]
    if spec.output_kind == GROOVE:
        return ["hits", "offsets", "outputs", "velocities"]
    return ["outputs"]
