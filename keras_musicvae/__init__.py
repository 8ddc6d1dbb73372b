"""keras_musicvae: MusicVAE for Keras 3 (TensorFlow, JAX, PyTorch).

    import keras_musicvae
    model = keras_musicvae.MusicVAE.from_preset("hierdec_mel_16bar")

Heavy modules (Keras and its backend) load on first use, so that the data
converters, the evaluation metrics and `keras-musicvae --help` start fast.
"""

import importlib
import warnings

from keras_musicvae.version import __version__

# note-seq imports pydub, which warns about a missing ffmpeg we never use.
warnings.filterwarnings("ignore", message="Couldn.t find ffmpeg or avconv", category=RuntimeWarning)

_LAZY = {
    "MusicVAE": ("keras_musicvae.models.music_vae", "MusicVAE"),
    "MusicVAEAdam": ("keras_musicvae.models.optimizer", "MusicVAEAdam"),
    "MagentaLearningRate": ("keras_musicvae.models.schedules", "MagentaLearningRate"),
    "list_presets": ("keras_musicvae.presets", "list_presets"),
    "convert_magenta_checkpoint": (
        "keras_musicvae.convert.magenta_checkpoint",
        "convert_magenta_checkpoint",
    ),
}
_SUBMODULES = ("layers", "models", "data", "presets", "convert", "export", "evaluation")

__all__ = ["__version__", *_LAZY, *_SUBMODULES]


def __getattr__(name):
    if name in _LAZY:
        module, attribute = _LAZY[name]
        value = getattr(importlib.import_module(module), attribute)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"keras_musicvae.{name}")
    raise AttributeError(f"module 'keras_musicvae' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
