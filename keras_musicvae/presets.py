"""Presets: the unit of sharing (architecture, hyperparameters, data converter
and, optionally, weights), as in keras-hub.

A preset is a folder holding `config.json` (the model's Keras config, with the
data converter it trains on), `metadata.json` and, when weights come with it,
`model.weights.h5`. Built-in presets mirror Magenta's 23 published
configurations; their names are Magenta's with `-` turned into `_`, and
Magenta's own spellings are accepted as aliases.
"""

import datetime
import difflib
import json
import logging
import os
import pathlib

from keras_musicvae.utils import atomic_files

logger = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
METADATA_FILE = "metadata.json"
WEIGHTS_FILE = "model.weights.h5"
# Overrides a preset's weights still load into: a dtype policy changes no
# weight shape (the weights are cast), and a decoder-only model
# (include_encoder=False) reads the decoder's weights alone.
WEIGHT_KEEPING_OVERRIDES = frozenset({"dtype", "include_encoder"})
README_FILE = "README.md"

# Magenta spellings that are not simply the canonical name with `_` -> `-`.
_EXTRA_ALIASES = {"groovae_2bar_hits_control_tfds": "groovae_2bar_hits_control"}


class PresetFileError(ValueError):
    """A preset folder or one of its files is missing, unreadable or corrupt.

    The message names the file and the problem. A `ValueError`, so that
    callers catching `ValueError` keep working; the command line reports it
    as a bad file (exit code 1) rather than a bad argument.
    """


def builtin_presets_dir():
    """The folder of the built-in presets (inside the wheel, or the repo's `presets/`)."""
    here = pathlib.Path(__file__).resolve().parent
    for candidate in (here / "_presets", here.parent / "presets"):
        if candidate.is_dir() and any(candidate.glob(f"*/{CONFIG_FILE}")):
            return candidate
    raise FileNotFoundError(
        "The built-in presets are missing from this installation "
        f"(looked in {here / '_presets'} and {here.parent / 'presets'})."
    )


def _builtin_names():
    return sorted(p.parent.name for p in builtin_presets_dir().glob(f"*/{CONFIG_FILE}"))


def canonical_preset_name(name):
    """Maps a Magenta spelling (`hierdec-trio_16bar`) to ours (`hierdec_trio_16bar`)."""
    name = str(name).strip()
    name = _EXTRA_ALIASES.get(name, name)
    name = name.replace("-", "_")
    return _EXTRA_ALIASES.get(name, name)


def list_presets():
    """`{name: description}` of every built-in preset."""
    out = {}
    for name in _builtin_names():
        metadata = _read_json(builtin_presets_dir() / name / METADATA_FILE, optional=True) or {}
        out[name] = metadata.get("description", "")
    return out


def resolve_preset(preset):
    """Returns the folder of `preset` (a built-in name, an alias or a path).

    Raises:
        PresetFileError: `preset` is a path (it holds a path separator or
            starts with `.` or `~`, or exists) but not a preset folder.
        ValueError: `preset` is an unknown name (the message lists the close
            built-in names).
    """
    path = pathlib.Path(os.path.expanduser(str(preset)))
    if path.is_dir():
        if not (path / CONFIG_FILE).exists():
            raise PresetFileError(f"Preset folder {path} has no {CONFIG_FILE}.")
        return path
    if path.exists():
        raise PresetFileError(f"{path} is a file, not a preset folder (a folder holding {CONFIG_FILE}).")
    if _looks_like_path(str(preset)):
        raise PresetFileError(f"Preset folder {path} does not exist.")
    name = canonical_preset_name(preset)
    names = _builtin_names()
    if name in names:
        return builtin_presets_dir() / name
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise ValueError(
        f"Unknown preset {preset!r}: it is neither a built-in preset nor a folder.{hint} "
        f"Built-in presets: {', '.join(names)}."
    )


def _looks_like_path(text):
    """Whether a `--model` / `preset` value is meant as a folder rather than a name."""
    return any(sep in text for sep in {"/", os.sep}) or text.startswith((".", "~"))


def _read_json(path, optional=False):
    """The JSON value of a UTF-8 text file.

    Raises:
        FileNotFoundError: the file is missing (unless `optional`: None).
        PresetFileError: it cannot be read, is not UTF-8 text, or not JSON.
    """
    path = pathlib.Path(path)
    if not path.exists():
        if optional:
            return None
        raise FileNotFoundError(f"{path} does not exist.")
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise PresetFileError(f"Cannot read {path}: {e.strerror or e}.") from e
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise PresetFileError(
            f"{path} is not a UTF-8 text file (byte 0x{raw[e.start]:02x} at offset {e.start}); "
            "a preset's JSON files must be UTF-8 text."
        ) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise PresetFileError(f"{path} is not valid JSON: {e}") from e


def load_preset_config(preset):
    """The model config dict (`config.json`'s `config`) of a preset.

    The data converter it names is checked against the registered converter
    classes here, when the file is read, not when the converter is first used.

    Raises:
        PresetFileError: `config.json` cannot be read, is not a model config
            or names an unknown data converter.
    """
    folder = resolve_preset(preset)
    path = folder / CONFIG_FILE
    data = _read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("config"), dict):
        raise PresetFileError(f"{path} must hold a Keras object config with a 'config' field.")
    _check_converter_config(data["config"].get("converter"), path)
    return data["config"]


def _check_converter_config(converter, path):
    """Refuses a `converter` entry of `path` that is not a registered converter class."""
    if converter is None:
        return
    if not isinstance(converter, dict) or not isinstance(converter.get("config"), dict):
        raise PresetFileError(
            f"{path}: 'converter' must be {{\"class_name\": ..., \"config\": {{...}}}}; got {converter!r:.80}."
        )
    from keras_musicvae.data.converter import converter_class

    name = converter.get("class_name")
    try:
        converter_class(name if isinstance(name, str) else repr(name))
    except ValueError as e:
        raise PresetFileError(f"{path}: {e}") from None


def load_model_from_preset(preset, load_weights=True, model_class=None, **overrides):
    """Builds (and, when the preset has weights, loads) a `MusicVAE`.

    Args:
        preset: built-in name, Magenta alias, or preset folder.
        load_weights: load `model.weights.h5` when the preset has it.
        model_class: the class to build (default `MusicVAE`).
        **overrides: hyperparameters replacing the preset's (e.g.
            `enc_rnn_size=[64]`), and `dtype`: a Keras dtype policy
            replacing the one stored in the preset (e.g. "mixed_bfloat16",
            "bfloat16"); the weights load into any policy. And
            `include_encoder=False`: a decoder-only model (for sampling),
            which reads only the decoder's weights.
    """
    from keras_musicvae.models.music_vae import MusicVAE

    model_class = model_class or MusicVAE
    folder = resolve_preset(preset)
    config = dict(load_preset_config(folder))
    valid = set(MusicVAE.__init__.__code__.co_varnames[1 : MusicVAE.__init__.__code__.co_argcount])
    valid |= {"name", "trainable", "dtype"}
    unknown = sorted(set(overrides) - valid)
    if unknown:
        raise ValueError(
            f"Unknown hyperparameter override(s) {unknown} for preset {preset!r}. "
            f"Valid: {', '.join(sorted(valid - {'name', 'trainable', 'dtype'}))}."
        )
    bad_fields = sorted(set(config) - valid)
    if bad_fields:
        raise PresetFileError(
            f"{folder / CONFIG_FILE}: field(s) {bad_fields} are not MusicVAE hyperparameters."
        )
    weights = folder / WEIGHTS_FILE
    if (
        load_weights
        and weights.exists()
        and config.get("include_encoder") is False
        and overrides.get("include_encoder")
    ):
        raise ValueError(
            f"Preset {preset!r} ({folder}) is a decoder-only model (saved with include_encoder=False): "
            "its weights have no encoder to load. Load it without include_encoder=True, or use the "
            "whole model's preset."
        )
    config.update(overrides)
    try:
        model = model_class(**config)
    except (TypeError, ValueError) as e:
        error_class = ValueError if overrides else PresetFileError
        raise error_class(f"Preset {preset!r} ({folder / CONFIG_FILE}): {e}") from e
    if load_weights and weights.exists():
        shape_overrides = sorted(set(overrides) - WEIGHT_KEEPING_OVERRIDES)
        if shape_overrides:
            raise ValueError(
                f"Preset {preset!r} has weights; hyperparameter overrides {shape_overrides} "
                "would not fit them. Pass load_weights=False to build a fresh model."
            )
        try:
            model.load_weights(str(weights))
        except Exception as e:  # noqa: BLE001 - re-raised with the file named
            raise PresetFileError(f"Cannot load {weights}: {_weights_problem(e)}") from e
    elif load_weights:
        logger.warning(
            "Preset %r comes without weights: the model is freshly initialised "
            "(train it, or convert a Magenta checkpoint with tools/convert_magenta_checkpoint.py).",
            str(preset),
        )
    return model


def _weights_problem(error):
    """One line saying why Keras could not load a weights file."""
    text = str(error)
    lines = [line.strip() for line in text.splitlines() if line.strip()] or [type(error).__name__]
    if isinstance(error, OSError) or "file signature not found" in text or "open file" in text:
        detail = lines[0]
        return f"not a readable HDF5 weights file, it may be truncated or corrupt ({detail:.200})."
    detail = next((line for line in lines if "expected" in line or "shape" in line.lower()), lines[0])
    return (
        f"the weights do not fit the model described by {CONFIG_FILE} (saved from a model of other "
        f"sizes or layers?): {detail:.300}"
    )


def save_model_to_preset(model, preset_dir, overwrite=False, description=None, extra_metadata=None):
    """Writes a preset folder; nothing is left half-written on failure.

    Args:
        model: a `MusicVAE`.
        preset_dir: destination folder. An existing non-empty folder is only
            replaced with `overwrite=True`.
        description: one line for `metadata.json` and the model card.
        extra_metadata: more `metadata.json` fields (e.g. the source
            checkpoint).

    Returns:
        The folder, as a `pathlib.Path`.
    """
    import keras

    from keras_musicvae.version import __version__

    preset_dir = pathlib.Path(preset_dir)
    if preset_dir.exists() and any(preset_dir.iterdir()) and not overwrite:
        raise FileExistsError(
            f"{preset_dir} exists and is not empty; pass overwrite=True to replace it."
        )
    with atomic_files.atomic_folder(preset_dir) as staging:
        config = keras.saving.serialize_keras_object(model)
        (staging / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
        model.save_weights(str(staging / WEIGHTS_FILE))
        num_params = sum(int(_size(w.shape)) for w in model.trainable_weights)
        metadata = {
            "description": description or f"MusicVAE saved on {datetime.date.today()}",
            "parameter_count": num_params,
            "weights_included": True,
            "keras_version": keras.__version__,
            "keras_musicvae_version": __version__,
            "backend": keras.backend.backend(),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        }
        metadata.update(extra_metadata or {})
        (staging / METADATA_FILE).write_text(json.dumps(metadata, indent=2) + "\n")
        (staging / README_FILE).write_text(model_card(model, metadata))
    return preset_dir


def _size(shape):
    n = 1
    for d in shape:
        n *= int(d)
    return n


def model_card(model, metadata):
    """A short README.md for a preset folder."""
    cfg = model.get_config()
    encoder = (
        f"hierarchical, levels {cfg['encoder_level_lengths']}"
        if cfg["encoder_level_lengths"]
        else "bidirectional LSTM"
    )
    if not cfg.get("include_encoder", True):
        encoder = f"none: a decoder-only model for sampling (its {encoder} left out)"
    decoder = (
        f"hierarchical (conductor + bar decoders), levels {cfg['decoder_level_lengths']}"
        if cfg["decoder_level_lengths"]
        else "flat LSTM"
    )
    lines = [
        f"# {model.name}",
        "",
        metadata.get("description", ""),
        "",
        "| | |",
        "| --- | --- |",
        f"| encoder | {encoder}, units {cfg['enc_rnn_size']} |",
        f"| decoder | {decoder}, units {cfg['dec_rnn_size']}, head `{cfg['output_head']}` |",
        f"| latent size | {cfg['z_size']} |",
        f"| sequence length | {cfg['max_seq_len']} steps |",
        f"| trainable parameters | {metadata.get('parameter_count', 0):,} |",
        f"| weights | {'included' if metadata.get('weights_included') else 'not included'} |",
        "",
        "Load it with:",
        "",
        "```python",
        "import keras_musicvae",
        "model = keras_musicvae.MusicVAE.from_preset('<this folder>')",
        "```",
        "",
    ]
    return "\n".join(lines)
