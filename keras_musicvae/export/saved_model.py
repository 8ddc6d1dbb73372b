"""Export to a TensorFlow SavedModel with TF Serving signatures.

| signature | inputs | outputs |
|---|---|---|
| `encode` | `inputs` f32 `[batch, T, input_depth]`, `lengths` i32 `[batch]` (`[batch, segments]` for multi-instrument performance presets) | `mu`, `sigma` f32 `[batch, z_size]` |
| `decode` (= `serving_default`) | `z` f32 `[batch, z_size]`, `temperature` f32 `[]`, `seed` i32 `[]` | see below |
| `sample` | `temperature` f32 `[]`, `seed` i32 `[]`, `num_samples` i32 `[]` | decode outputs and `z` |
| `interpolate` | `start`, `end` f32 `[T, input_depth]`, `num_steps` i32 `[]`, `temperature` f32 `[]`, `seed` i32 `[]` | decode outputs (`num_steps` rows, endpoints included) and `z` |

`T` is the model's `max_seq_len`: pad shorter sequences with zeros and pass
their lengths. Models with controls (chords; GrooVAE hits) take `controls`
f32 `[batch, T, control_depth]` in `encode` and `decode`, `[T, control_depth]`
(shared by every row) in `sample` and `interpolate`.

Decode outputs: `tokens` i32 `[batch, T, streams]` (the index of each
stream's one-hot vector; trios have 3 streams: melody, bass, drums) and
`one_hot` f32 `[batch, T, output_depth]` for categorical models; `outputs`
f32 `[batch, T, 27]` (hits | velocities | offsets) plus `hits`, `velocities`,
`offsets` `[batch, T, 9]` for GrooVAE; `outputs` (multi-hot) for NADE drums.

Sampling is `argmax(logits + temperature * noise)` with the noise drawn by
stateless random ops from `seed` inside the graph: the same seed gives the
same output, `temperature=0` gives the argmax. `sample` draws z from
N(0, I) with the same seed.
"""

import logging
import os
import pathlib

import keras

from keras_musicvae.export.files import atomic_destination
from keras_musicvae.export.spec import ExportSpec

logger = logging.getLogger(__name__)

SIGNATURES = ("encode", "decode", "sample", "interpolate")

_OTHER_BACKEND_MESSAGE = (
    "Exporting a MusicVAE to a SavedModel needs the TensorFlow backend (active backend: "
    "{backend}). Presets are backend-independent: save this model with "
    "`model.save_to_preset(folder)` (or use the preset name), then in a process started "
    "with KERAS_BACKEND=tensorflow run\n"
    "    model = keras_musicvae.MusicVAE.from_preset(folder)\n"
    "    keras_musicvae.export.export_saved_model(model, path)\n"
    "(or the command line: KERAS_BACKEND=tensorflow python -m keras_musicvae.export "
    "saved_model PRESET PATH)."
)


def require_tensorflow_backend(what="Export"):
    """Raises a clear error when the Keras backend is not TensorFlow."""
    backend = keras.backend.backend()
    if backend != "tensorflow":
        message = _OTHER_BACKEND_MESSAGE.format(backend=backend)
        if backend == "jax":
            message += (
                " (The JAX route, Keras' jax2tf export, does not handle the decoder's "
                "seeded sampling loop reliably with TensorFlow 2.21, so it is not used.)"
            )
        raise RuntimeError(f"{what}: " + message)


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
    module.encode = graphs.encode_function()
    module.decode = graphs.decode_function()
    module.sample = graphs.sample_function()
    module.interpolate = graphs.interpolate_function()
    signatures = {name: getattr(module, name).get_concrete_function() for name in SIGNATURES}
    signatures["serving_default"] = signatures["decode"]
    return module, signatures


def export_saved_model(model, path, *, max_batch=None, overwrite=False):
    """Writes a SavedModel with the `encode`, `decode`, `sample` and
    `interpolate` serving signatures (`serving_default` = `decode`).

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
    with atomic_destination(path, overwrite=overwrite) as staging:
        tf.saved_model.save(module, str(staging), signatures=signatures)
    logger.info("Wrote SavedModel %s (signatures: %s).", path, ", ".join(sorted(signatures)))
    return path
