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
from keras_musicvae.layers import cudnn_lstm

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
    module.decode = tf.function(decode, input_signature=decode_signature)
    functions = {"decode": module.decode}
    if model.include_encoder:  # a decoder-only model has no `encode`
        module.encode = tf.function(encode, input_signature=encode_signature)
        functions["encode"] = module.encode
    with cudnn_lstm.disabled():  # TF Lite has no cuDNN op
        signatures = {name: f.get_concrete_function() for name, f in sorted(functions.items())}
    return module, signatures


def export_tflite(
    model,
    path,
    *,
    batch_size=1,
    quantization=None,
    select_tf_ops=False,
    optimizations=None,
    overwrite=False,
):
    """Converts the model's `encode` and `decode` to one `.tflite` file.

    The file holds two SignatureDefs, `encode` and `decode` (see this
    module's docstring for their inputs and outputs), or `decode` alone for
    a decoder-only model (`include_encoder=False`); run them with
    `tf.lite.Interpreter(model_path=path).get_signature_runner("decode")`.
    Shapes are static: the batch is `batch_size`, the time axis the model's
    `max_seq_len`.

    The file uses TF Lite built-in ops only; `decode` takes the sampling
    noise as its `noise` input (make it with `tflite_noise`, or pass zeros
    with `temperature=0` for the argmax).

    `quantization` stores the weights in a narrower type; the signatures,
    their inputs and outputs stay float32 / int32 as without it:

    - `"float16"`: float16 weights (half the file), dequantised to float32
      when the interpreter loads them; the arithmetic stays float32.
    - `"int8"`: dynamic-range quantisation (TF Lite's `Optimize.DEFAULT`
      without a representative dataset): int8 weights with one float scale
      per output channel (about a quarter of the file); the interpreter's
      hybrid kernels quantise the activations on the fly for the big
      matrix products. No calibration data is needed.

    Both change the logits slightly, and with them some argmax tokens:
    `benchmarks/quantization.py` measures the agreement with float32 for a
    trained model (figures in benchmarks/README.md).

    Args:
        model: a `MusicVAE` (TensorFlow backend).
        path: the `.tflite` file to write.
        batch_size: int, the fixed batch size of both signatures.
        quantization: None (float32 weights), `"float16"` or `"int8"`
            (see above).
        select_tf_ops: also allow select TF ops (no preset needs them;
            for custom heads whose ops are not TF Lite built-ins; such a file
            needs the Flex runtime).
        optimizations: optional list of `tf.lite.Optimize` values, for
            converter settings `quantization` does not cover; cannot be
            combined with `quantization`.
        overwrite: replace an existing file.

    Returns:
        `pathlib.Path` of the file.

    Raises:
        ValueError: an unknown `quantization`, `quantization` together
            with `optimizations`, or a bad `batch_size`.
        RuntimeError: on a backend other than TensorFlow, or when the
            conversion fails (the message names the ops).
        FileExistsError: `path` exists and `overwrite` is False.
    """
    require_tensorflow_backend("export_tflite")
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be a positive int; got {batch_size!r}.")
    _check_quantization(quantization, optimizations)
    path = pathlib.Path(os.path.expanduser(str(path))).absolute()
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it.")
    spec = ExportSpec.from_model(model)
    module, signatures = _tflite_module(model, spec, int(batch_size))
    content = convert_signatures(
        module,
        signatures,
        quantization=quantization,
        select_tf_ops=select_tf_ops,
        optimizations=optimizations,
    )
    with atomic_destination(path, overwrite=overwrite) as staging:
        staging.write_bytes(content)
    logger.info(
        "Wrote TF Lite model %s (%d bytes, batch %d, %s weights).",
        path,
        len(content),
        batch_size,
        quantization or "float32",
    )
    return path


def convert_signatures(module, signatures, quantization=None, select_tf_ops=False, optimizations=None):
    """TF Lite flatbuffer bytes of the `tf.function` signatures of `module`.

    The conversion step of `export_tflite`, with the same converter
    settings; `benchmarks/quantization.py` uses it to convert a
    teacher-forced signature the same way as the exported ones.

    Args:
        module: a `tf.Module` holding the functions (and the variables).
        signatures: dict name -> concrete function.
        quantization, select_tf_ops, optimizations: as for `export_tflite`.

    Returns:
        bytes of the `.tflite` file.

    Raises:
        RuntimeError: the conversion fails (the message names the ops).
    """
    import tensorflow as tf

    _check_quantization(quantization, optimizations)
    ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if select_tf_ops:
        ops.append(tf.lite.OpsSet.SELECT_TF_OPS)
    with tempfile.TemporaryDirectory(prefix="musicvae-tflite-") as scratch:
        saved = os.path.join(scratch, "saved_model")
        tf.saved_model.save(module, saved, signatures=signatures)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved, signature_keys=list(signatures))
        converter.target_spec.supported_ops = ops
        if optimizations:
            converter.optimizations = list(optimizations)
        _set_quantization(converter, quantization)
        try:
            return converter.convert()
        except Exception as error:  # The converter raises ConverterError with the op list.
            raise RuntimeError(
                f"TF Lite conversion failed with ops {[o.name for o in ops]}: {error}\n"
                "Ops that are not TF Lite built-ins need select_tf_ops=True."
            ) from error


#: The values of `export_tflite(..., quantization=...)` besides None.
QUANTIZATIONS = ("float16", "int8")


def _check_quantization(quantization, optimizations):
    if quantization is not None and quantization not in QUANTIZATIONS:
        raise ValueError(
            f"quantization must be None, 'float16' or 'int8'; got {quantization!r}."
        )
    if quantization is not None and optimizations:
        raise ValueError(
            "Pass either quantization or optimizations, not both: quantization "
            f"{quantization!r} sets the converter's optimizations itself."
        )


def _set_quantization(converter, quantization):
    """Sets the converter options of a `quantization` (see `export_tflite`)."""
    import tensorflow as tf

    if quantization is None:
        return
    # Both are post-training weight quantisations: Optimize.DEFAULT alone
    # (no representative dataset) gives dynamic-range int8 weights; adding
    # float16 as the only supported type stores float16 weights instead.
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantization == "float16":
        converter.target_spec.supported_types = [tf.float16]
