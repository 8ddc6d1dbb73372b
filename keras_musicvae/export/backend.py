"""The backend check of the exporters (export graphs are TensorFlow graphs)."""

import keras

_OTHER_BACKEND_MESSAGE = (
    "{what} needs the TensorFlow backend (active backend: {backend}). Presets are "
    "backend-independent: save this model with `model.save_to_preset(folder)` (or use the "
    "preset name), then in a process started with KERAS_BACKEND=tensorflow run\n"
    "    model = keras_musicvae.MusicVAE.from_preset(folder)\n"
    "    keras_musicvae.export.{what}(model, path)\n"
    "(or the command line `keras-musicvae export --model PRESET --format {format} --output "
    "PATH`, which runs on the TensorFlow backend whatever KERAS_BACKEND says)."
)


def require_tensorflow_backend(what="export_saved_model"):
    """Raises a clear error when the Keras backend is not TensorFlow.

    Args:
        what: "export_saved_model" or "export_tflite" (named in the message).
    """
    backend = keras.backend.backend()
    if backend != "tensorflow":
        export_format = "tflite" if "tflite" in what else "saved_model"
        message = _OTHER_BACKEND_MESSAGE.format(what=what, backend=backend, format=export_format)
        if backend == "jax":
            message += (
                " (The JAX route, Keras' jax2tf export, writes a SavedModel that TensorFlow "
                "2.21 cannot run: its XlaCallModule cannot deserialize the StableHLO that "
                "current JAX emits for the decoder's top_k, 'vhlo.composite_v2'.)"
            )
        raise RuntimeError(message)
