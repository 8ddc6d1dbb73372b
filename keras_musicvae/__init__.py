"""keras_musicvae: MusicVAE for Keras 3 (TensorFlow, JAX, PyTorch).

    import keras_musicvae
    model = keras_musicvae.MusicVAE.from_preset("hierdec_mel_16bar")

Heavy modules (Keras and its backend) load on first use, so that the data
converters, the evaluation metrics and `keras-musicvae --help` start fast.

Keras' own ways of saving and loading (`model.save("m.keras")`,
`keras.callbacks.ModelCheckpoint`, `keras.models.load_model`) need our
classes registered with Keras before a file is read. `import keras_musicvae`
registers them as soon as Keras is imported: at once when it already is,
otherwise right after the program's first `import keras`.
"""

import importlib
import importlib.abc
import sys
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


# Modules whose import registers every Keras class of the package
# (`@keras.saving.register_keras_serializable(package="keras_musicvae")`).
_KERAS_MODULES = ("keras_musicvae.layers", "keras_musicvae.models")


def _register_keras_classes():
    """Imports the modules that register our layers, model, optimizer and schedule with Keras."""
    try:
        for module in _KERAS_MODULES:
            importlib.import_module(module)
    except Exception as e:  # noqa: BLE001 - never break the user's `import keras`
        import logging

        logging.getLogger(__name__).warning(
            "keras_musicvae could not register its classes with Keras (%s: %s); "
            "`import keras_musicvae.models` shows why.",
            type(e).__name__,
            e,
        )


class _RegisterWithKeras(importlib.abc.MetaPathFinder):
    """Runs `_register_keras_classes` once Keras is imported.

    It watches the imports of `keras` and of this package's modules (it
    finds them through the other finders of `sys.meta_path` and wraps their
    loaders), and registers after the first one that completes while Keras
    is imported and none of this package's modules is half-imported (Keras
    imported by one of them waits until they are done, since importing
    `models` from inside `layers` would be circular). Then it leaves
    `sys.meta_path`; the wrapped loaders give the modules their own loader
    back before running them.
    """

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "keras" and not fullname.startswith(f"{__name__}."):
            return None
        for finder in list(sys.meta_path):
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is None:
                continue
            if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                spec.loader = _WatchedLoader(spec.loader, self)
            return spec
        return None

    def module_done(self, name):
        """Registers when `name` was the last module Keras or our classes were waiting for."""
        if self not in sys.meta_path or "keras" not in sys.modules:
            return
        if any(_initializing(other) for other in _watched_modules() if other != name):
            return
        _uninstall(self)
        _register_keras_classes()


class _WatchedLoader(importlib.abc.Loader):
    """A module's own loader, telling the finder when the module has run."""

    def __init__(self, loader, finder):
        self._loader = loader
        self._finder = finder

    def __getattr__(self, name):
        return getattr(self._loader, name)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        spec = getattr(module, "__spec__", None)
        if spec is not None and spec.loader is self:
            spec.loader = self._loader
        if getattr(module, "__loader__", None) is self:
            module.__loader__ = self._loader
        self._loader.exec_module(module)
        self._finder.module_done(module.__name__)


def _watched_modules():
    return [name for name in list(sys.modules) if name == "keras" or name.startswith(f"{__name__}.")]


def _initializing(name):
    """Whether module `name` is being imported (its code has not finished)."""
    spec = getattr(sys.modules.get(name), "__spec__", None)
    return bool(getattr(spec, "_initializing", False))


def _uninstall(finder):
    try:
        sys.meta_path.remove(finder)
    except ValueError:
        pass


def _register_when_keras_is_imported():
    if "keras" in sys.modules and not _initializing("keras"):
        _register_keras_classes()
    elif not any(isinstance(f, _RegisterWithKeras) for f in sys.meta_path):
        sys.meta_path.insert(0, _RegisterWithKeras())


_register_when_keras_is_imported()


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
