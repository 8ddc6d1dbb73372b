"""Export to TensorFlow Lite: one `.tflite` file with `encode` and `decode` signatures.

BACKEND-SPECIFIC CODE (TensorFlow): the converter reads a TensorFlow graph.

Signatures (batch fixed to `batch_size`, time to the model's `max_seq_len`):

- `encode`: `inputs` f32 `[batch_size, T, input_depth]`, `lengths` i32
  `[batch_size]` (`[batch_size, segments]` for multi-instrument performance
  presets), and `controls` f32 `[batch_size, T, control_depth]` when the
  model has controls -> `mu`, `sigma` f32 `[batch_size, z_size]`.
- `decode`: `z` f32 `[batch_size, z_size]`, `temperature` f32 `[]`, `noise`
  f32 `[batch_size, T, noise_depth]` (and `controls`) -> the outputs of the
  SavedModel's `decode` (`tokens`, `one_hot` for categorical models;
  `outputs`, `hits`, `velocities`, `offsets` for GrooVAE; `outputs` for
  NADE drums).

Sampling noise is an INPUT of `decode`: the sample is `argmax(logits +
temperature * noise)` (threshold at 0 for Bernoulli outputs). Pass Gumbel
noise `-log(-log(u))` for categorical models and logistic noise
`log(u) - log(1 - u)` for GrooVAE / NADE, with `u` uniform in (0, 1) (see
`tflite_noise`); zeros with `temperature=0` give the argmax. With noise as an
input the whole file uses TF Lite BUILT-IN ops only (measured: ADD, CAST,
CONCATENATION, EQUAL, EXP, FLOOR_DIV, FLOOR_MOD, FULLY_CONNECTED, GATHER,
LESS, LOG, LOGISTIC, MUL, ONE_HOT, RESHAPE, REVERSE_V2, SELECT, SELECT_V2,
SLICE, SPLIT, STRIDED_SLICE, TANH, TOPK_V2, WHILE): the step loops become
TF Lite `WHILE` loops, the LSTMs run on static shapes, and indices come from
`TOPK_V2` (`tf.argmax` is avoided).

No ops need the select-TF-ops (Flex) runtime. Drawing the noise inside the
graph from a seed, as the SavedModel does, would: `tf.random.stateless_uniform`
lowers to `StatelessRandomGetKeyCounter` and `StatelessRandomUniformV2`, which
are not TF Lite built-ins, and the `tensorflow` 2.21 pip package's
`tf.lite.Interpreter` has no Flex delegate to run them (measured). So the TF Lite
`decode` takes `noise` where the SavedModel takes `seed`.
"""

import logging
import os
import pathlib
import tempfile

import numpy as np

from keras_musicvae.export.backend import require_tensorflow_backend
from keras_musicvae.export.files import atomic_destination
from keras_musicvae.export.spec import GUMBEL
from keras_musicvae.export.spec import ExportSpec

logger = logging.getLogger(__name__)


def tflite_noise(model, batch_size=1, seed=None):
    """NumPy sampling noise for the TF Lite `decode` signature.

    Args:
        model: a `MusicVAE` (or its `ExportSpec`).
        batch_size: int, the `batch_size` of the export.
        seed: int or None, seed of `numpy.random.default_rng`.

    Returns:
        float32 `[batch_size, max_seq_len, noise_depth]`: per head, Gumbel
        noise (categorical) or logistic noise (GrooVAE, NADE), concatenated.
    """
    spec = model if isinstance(model, ExportSpec) else ExportSpec.from_model(model)
    rng = np.random.default_rng(seed)
    parts = []
    for kind, depth in zip(spec.noise_kinds, spec.noise_depths):
        shape = (int(batch_size), spec.max_seq_len, depth)
        if kind == GUMBEL:
            u = rng.uniform(1e-20, 1.0, shape)
            parts.append(-np.log(-np.log(u)))
        else:
            u = rng.uniform(1e-7, 1.0 - 1e-7, shape)
            parts.append(np.log(u) - np.log1p(-u))
    return np.concatenate(parts, axis=-1).astype("float32")


def tflite_op_names(path):
    """Sorted names of the ops in a `.tflite` file (select TF ops start with "Flex")."""
    import contextlib
    import io
    import re

    import tensorflow as tf

    report = io.StringIO()
    with contextlib.redirect_stdout(report):
        tf.lite.experimental.Analyzer.analyze(model_path=str(path))
    return sorted(set(re.findall(r"Op#\d+ (\w+)", report.getvalue())))


def _tflite_module(model, spec, batch_size):
    import tensorflow as tf

    from keras_musicvae.export.noise import split_noise
    from keras_musicvae.export.outputs import named_outputs

    b, t = batch_size, spec.max_seq_len
    controls_spec = (
        [tf.TensorSpec([b, t, spec.control_depth], tf.float32, name="controls")]
        if spec.control_depth
        else []
    )

    def encode(inputs, lengths, controls=None):
        lengths = tf.clip_by_value(lengths, 0, t)
        mu, sigma = model.encode_tensors(inputs, lengths, controls)
        return {"mu": tf.cast(mu, tf.float32), "sigma": tf.cast(sigma, tf.float32)}

    encode_signature = [
        tf.TensorSpec([b, t, spec.input_depth], tf.float32, name="inputs"),
        tf.TensorSpec([b, *spec.lengths_shape], tf.int32, name="lengths"),
    ] + controls_spec

    decode_signature = [
        tf.TensorSpec([b, spec.z_size], tf.float32, name="z"),
        tf.TensorSpec([], tf.float32, name="temperature"),
        tf.TensorSpec([b, t, spec.noise_depth], tf.float32, name="noise"),
    ] + controls_spec

    def decode(z, temperature, noise, controls=None):
        samples, _ = model.decode_tensors(z, temperature, split_noise(spec, noise), controls)
        return named_outputs(spec, samples)

    module = tf.Module(name="music_vae_tflite")
    module.model_variables = [v.value for v in model.weights]
    module.encode = tf.function(encode, input_signature=encode_signature)
    module.decode = tf.function(decode, input_signature=decode_signature)
    signatures = {
        "encode": module.encode.get_concrete_function(),
        "decode": module.decode.get_concrete_function(),
    }
    return module, signatures


def export_tflite(
    model,
    path,
    *,
    batch_size=1,
    select_tf_ops=False,
    optimizations=None,
    overwrite=False,
):
    """Converts the model's `encode` and `decode` to one `.tflite` file.

    The file holds two SignatureDefs, `encode` and `decode` (see this
    module's docstring for their inputs and outputs); run them with
    `tf.lite.Interpreter(model_path=path).get_signature_runner("decode")`.
    Shapes are static: the batch is `batch_size`, the time axis the model's
    `max_seq_len`.

    The file uses TF Lite built-in ops only; `decode` takes the sampling
    noise as its `noise` input (make it with `tflite_noise`, or pass zeros
    with `temperature=0` for the argmax).

    Args:
        model: a `MusicVAE` (TensorFlow backend).
        path: the `.tflite` file to write.
        batch_size: int, the fixed batch size of both signatures.
        select_tf_ops: also allow select TF ops (no preset needs them;
            for custom heads whose ops are not TF Lite built-ins; such a file
            needs the Flex runtime).
        optimizations: optional list of `tf.lite.Optimize` values (e.g.
            `[tf.lite.Optimize.DEFAULT]` for dynamic-range quantisation;
            check the outputs, quantisation changes the logits).
        overwrite: replace an existing file.

    Returns:
        `pathlib.Path` of the file.

    Raises:
        RuntimeError: on a backend other than TensorFlow, or when the
            conversion fails (the message names the ops).
        FileExistsError: `path` exists and `overwrite` is False.
    """
    require_tensorflow_backend("export_tflite")
    import tensorflow as tf

    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be a positive int; got {batch_size!r}.")
    path = pathlib.Path(os.path.expanduser(str(path))).absolute()
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it.")
    spec = ExportSpec.from_model(model)
    module, signatures = _tflite_module(model, spec, int(batch_size))
    ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if select_tf_ops:
        ops.append(tf.lite.OpsSet.SELECT_TF_OPS)
    with tempfile.TemporaryDirectory(prefix="musicvae-tflite-") as scratch:
        saved = os.path.join(scratch, "saved_model")
        tf.saved_model.save(module, saved, signatures=signatures)
        converter = tf.lite.TFLiteConverter.from_saved_model(
            saved, signature_keys=["encode", "decode"]
        )
        converter.target_spec.supported_ops = ops
        if optimizations:
            converter.optimizations = list(optimizations)
        try:
            content = converter.convert()
        except Exception as error:  # The converter raises ConverterError with the op list.
            raise RuntimeError(
                f"TF Lite conversion failed with ops {[o.name for o in ops]}: {error}\n"
                "Ops that are not TF Lite built-ins need select_tf_ops=True."
            ) from error
    with atomic_destination(path, overwrite=overwrite) as staging:
        staging.write_bytes(content)
    logger.info("Wrote TF Lite model %s (%d bytes, batch %d).", path, len(content), batch_size)
    return path
