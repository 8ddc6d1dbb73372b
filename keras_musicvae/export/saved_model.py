"""Export to a TensorFlow SavedModel with TF Serving signatures.

Signatures (the batch axis is dynamic):

- `encode`: `inputs` f32 `[batch, T, input_depth]`, `lengths` i32 `[batch]`
  (`[batch, segments]` for multi-instrument performance presets) -> `mu`,
  `sigma` f32 `[batch, z_size]`.
- `decode` (also `serving_default`): `z` f32 `[batch, z_size]`,
  `temperature` f32 `[]`, `seed` i32 `[]` -> decode outputs (below).
- `sample`: `temperature` f32 `[]`, `seed` i32 `[]`, `num_samples` i32 `[]`
  -> decode outputs and `z` `[num_samples, z_size]`.
- `interpolate`: `start`, `end` f32 `[T, input_depth]`, `num_steps` i32
  `[]`, `temperature` f32 `[]`, `seed` i32 `[]` -> decode outputs
  (`num_steps` rows, endpoints included) and `z` `[num_steps, z_size]`.
- `interpolate_grid`: `corners` f32 `[4, T, input_depth]` (magenta.js's
  order: top-left, bottom-left, top-right, bottom-right), `num_steps` i32
  `[]`, `temperature` f32 `[]`, `seed` i32 `[]` -> decode outputs (the
  `num_steps x num_steps` grid row by row: `num_steps ** 2` rows) and `z`.

`T` is the model's `max_seq_len`: pad shorter sequences with zeros and pass
their lengths. Models with controls (chords; GrooVAE hits) take `controls`
f32 `[batch, T, control_depth]` in `encode` and `decode`, `[T, control_depth]`
(shared by every row) in `sample`, `interpolate` and `interpolate_grid`.

Decode outputs: `tokens` i32 `[batch, T, streams]` (the index of each
stream's one-hot vector; trios have 3 streams: melody, bass, drums) and
`one_hot` f32 `[batch, T, output_depth]` for categorical models; `outputs`
f32 `[batch, T, 27]` (hits | velocities | offsets) plus `hits`, `velocities`,
`offsets` `[batch, T, 9]` for GrooVAE; `outputs` (multi-hot) for NADE drums.

Sampling is `argmax(logits + temperature * noise)` with the noise drawn by
stateless random ops from `seed` inside the graph: the same seed gives the
same output, `temperature=0` gives the argmax. Decoder head `i` draws with
the stateless seed `[seed + 7919 * i, 0]` (see `keras_musicvae.export.noise`),
so the export samples what `model.decode(z, temperature, seed=seed)` samples
on the TensorFlow backend. `sample` draws z from N(0, I) with the seed
`[seed, 0x5EED]`.
"""

import logging
import os
import pathlib

from keras_musicvae.export.backend import require_tensorflow_backend
from keras_musicvae.export.files import atomic_destination
from keras_musicvae.export.spec import ExportSpec
from keras_musicvae.layers import cudnn_lstm

logger = logging.getLogger(__name__)

SIGNATURES = ("encode", "decode", "sample", "interpolate", "interpolate_grid")
# What a decoder-only model (`include_encoder=False`) serves: no encoding.
DECODER_SIGNATURES = ("decode", "sample")


def signature_names(model):
    """The serving signatures of `model`: all, or the decoder's alone."""
    return SIGNATURES if model.include_encoder else DECODER_SIGNATURES


def build_serving_module(model, max_batch=None):
    """A `tf.Module` holding the model's variables and the serving functions.

    Args:
        model: a `MusicVAE` (TensorFlow backend).
        max_batch: optional int cap on the batch size / `num_samples` /
            `num_steps`.

    Returns:
        `(module, signatures)`: the module to save and the dict of concrete
        signature functions (with `serving_default`).
    """
    import tensorflow as tf

    from keras_musicvae.export.serving import ServingGraphs

    require_tensorflow_backend("export_saved_model")
    if max_batch is not None and int(max_batch) < 1:
        raise ValueError(f"max_batch must be a positive int or None; got {max_batch!r}.")
    spec = ExportSpec.from_model(model)
    graphs = ServingGraphs(model, spec, max_batch=max_batch)
    module = tf.Module(name="music_vae")
    # Track the TensorFlow variables only (not the Keras objects).
    module.model_variables = [v.value for v in model.weights]
    names = signature_names(model)
    for name in names:
        setattr(module, name, getattr(graphs, f"{name}_function")())
    # Traced without cuDNN's GPU-only LSTM op: the graphs serve on any device.
    with cudnn_lstm.disabled():
        signatures = {name: getattr(module, name).get_concrete_function() for name in names}
    signatures["serving_default"] = signatures["decode"]
    return module, signatures


def export_saved_model(model, path, *, max_batch=None, overwrite=False):
    """Writes a SavedModel with the `encode`, `decode`, `sample`, `interpolate`
    and `interpolate_grid` serving signatures (`serving_default` = `decode`);
    a decoder-only model (`include_encoder=False`) has `decode` and `sample`.

    See this module's docstring for the inputs and outputs of each signature,
    and docs/SERVING.md for TF Serving. For TF Serving, `path` is a version
    folder: `<models>/<model_name>/<version>` (e.g. `models/cat_mel/1`).

    Args:
        model: a `MusicVAE`, built on the TensorFlow backend.
        path: folder to create.
        max_batch: optional int; calls with a larger batch, `num_samples` or
            `num_steps` fail with an `InvalidArgumentError` naming the limit.
            None = no limit.
        overwrite: replace an existing `path`. The SavedModel is written to
            a temporary folder next to `path` and renamed into place.

    Returns:
        `pathlib.Path` of the SavedModel.

    Raises:
        RuntimeError: on a backend other than TensorFlow (the message says
            how to export from TensorFlow instead).
        FileExistsError: `path` exists and `overwrite` is False.
    """
    require_tensorflow_backend("export_saved_model")
    import tensorflow as tf

    path = pathlib.Path(os.path.expanduser(str(path))).absolute()
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it.")
    module, signatures = build_serving_module(model, max_batch=max_batch)
    with atomic_destination(path, overwrite=overwrite) as staging, cudnn_lstm.disabled():
        tf.saved_model.save(module, str(staging), signatures=signatures)
    logger.info("Wrote SavedModel %s (signatures: %s).", path, ", ".join(sorted(signatures)))
    return path
