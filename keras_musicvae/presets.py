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
import shutil
import tempfile

logger = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
METADATA_FILE = "metadata.json"
WEIGHTS_FILE = "model.weights.h5"
README_FILE = "README.md"

# Magenta spellings that are not simply the canonical name with `_` -> `-`.
_EXTRA_ALIASES = {"groovae_2bar_hits_control_tfds": "groovae_2bar_hits_control"}


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
    """Returns the folder of `preset` (a built-in name, an alias or a path)."""
    path = pathlib.Path(os.path.expanduser(str(preset)))
    if path.is_dir():
        if not (path / CONFIG_FILE).exists():
            raise ValueError(f"Preset folder {path} has no {CONFIG_FILE}.")
        return path
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


def _read_json(path, optional=False):
    path = pathlib.Path(path)
    if not path.exists():
        if optional:
            return None
        raise FileNotFoundError(f"{path} does not exist.")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON: {e}") from e


def load_preset_config(preset):
    """The model config dict (`config.json`'s `config`) of a preset."""
    folder = resolve_preset(preset)
    data = _read_json(folder / CONFIG_FILE)
    if not isinstance(data, dict) or "config" not in data:
        raise ValueError(
            f"{folder / CONFIG_FILE} must hold a Keras object config with a 'config' field."
        )
    return data["config"]


def load_model_from_preset(preset, load_weights=True, model_class=None, **overrides):
    """Builds (and, when the preset has weights, loads) a `MusicVAE`.

    Args:
        preset: built-in name, Magenta alias, or preset folder.
        load_weights: load `model.weights.h5` when the preset has it.
        model_class: the class to build (default `MusicVAE`).
        **overrides: hyperparameters replacing the preset's (e.g.
            `enc_rnn_size=[64]`).
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
        raise ValueError(
            f"{folder / CONFIG_FILE}: field(s) {bad_fields} are not MusicVAE hyperparameters."
        )
    config.update(overrides)
    try:
        model = model_class(**config)
    except (TypeError, ValueError) as e:
        raise ValueError(f"Preset {preset!r} ({folder / CONFIG_FILE}): {e}") from e
    weights = folder / WEIGHTS_FILE
    if load_weights and weights.exists():
        if overrides:
            raise ValueError(
                f"Preset {preset!r} has weights; hyperparameter overrides {sorted(overrides)} "
                "would not fit them. Pass load_weights=False to build a fresh model."
            )
        try:
            model.load_weights(str(weights))
        except Exception as e:  # noqa: BLE001 - re-raised with the file named
            raise ValueError(f"Cannot load {weights} into preset {preset!r}: {e}") from e
    elif load_weights:
        logger.warning(
            "Preset %r comes without weights: the model is freshly initialised "
            "(train it, or convert a Magenta checkpoint with tools/convert_magenta_checkpoint.py).",
            str(preset),
        )
    return model


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
    preset_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = pathlib.Path(tempfile.mkdtemp(prefix=".preset-", dir=preset_dir.parent))
    try:
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
        if preset_dir.exists():
            backup = preset_dir.with_name(preset_dir.name + ".old-" + staging.name[-6:])
            preset_dir.rename(backup)
            staging.rename(preset_dir)
            shutil.rmtree(backup)
        else:
            staging.rename(preset_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
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
