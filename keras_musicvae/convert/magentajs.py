"""magenta.js checkpoint folder -> keras_musicvae preset.

A magenta.js MusicVAE folder (what `new mm.MusicVAE(url)` loads, e.g. the
published ones under https://storage.googleapis.com/magentadata/js/checkpoints/
or one written by `keras_musicvae.export.export_magentajs`) holds
`config.json` (magenta.js's `MusicVAESpec`) and `weights_manifest.json` +
shards in TensorFlow.js's weights format, under Magenta's TF1 variable names.
The weights go through the same name table as TF1 checkpoints
(`magenta_checkpoint.map_variables`).

The model to build is, in this order: the Keras config our exporter keeps in
`config.json` (exact round trip); else `preset` with `overrides`; else a
preset inferred from the magenta.js data converter (melody, drums, NADE
drums, trio, multitrack, groove), the layer sizes read off the weights.

Pure NumPy and JSON: works on every backend.
"""

import json
import logging
import os
import pathlib

import numpy as np

logger = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
MANIFEST_FILE = "weights_manifest.json"
KERAS_KEY = "kerasMusicVAE"

_DTYPES = {"float32": "<f4", "int32": "<i4", "bool": "|b1"}
_QUANTIZED = {"uint8": "|u1", "uint16": "<u2", "float16": "<f2"}


def _folder(path):
    return pathlib.Path(os.path.expanduser(str(path)))


def is_magentajs_folder(path):
    """Whether `path` is a folder holding `weights_manifest.json` (a magenta.js checkpoint)."""
    folder = _folder(path)
    return folder.is_dir() and (folder / MANIFEST_FILE).is_file()


def read_spec(path):
    """The folder's `config.json` (magenta.js's `MusicVAESpec`), a dict."""
    config = _folder(path) / CONFIG_FILE
    if not config.is_file():
        raise FileNotFoundError(f"{config} is missing: a magenta.js MusicVAE folder has config.json.")
    try:
        spec = json.loads(config.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{config} is not valid JSON: {e}") from e
    if not isinstance(spec, dict) or spec.get("type") != "MusicVAE":
        raise ValueError(f"{config} is not a magenta.js MusicVAE config (its type is not 'MusicVAE').")
    return spec


def read_weights(path):
    """`{name: np.ndarray}` of a magenta.js folder (TensorFlow.js weights format).

    Reads every group of `weights_manifest.json`: its shards are laid end to
    end and cut into the weights in manifest order. float32, int32 and bool
    weights are read as they are; quantized ones (uint8 / uint16 with
    `scale` and `min`, or float16) are expanded to float32.
    """
    folder = _folder(path)
    manifest_path = folder / MANIFEST_FILE
    try:
        manifest = json.loads(manifest_path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{manifest_path} is not valid JSON: {e}") from e
    if not isinstance(manifest, list):
        raise ValueError(f"{manifest_path} must be a list of weight groups.")
    variables = {}
    for group in manifest:
        data = b"".join(_read_shard(folder, p) for p in group.get("paths", []))
        offset = 0
        for entry in group.get("weights", []):
            name = entry["name"]
            shape = [int(d) for d in entry.get("shape", [])]
            size = int(np.prod(shape, dtype=np.int64))
            quantization = entry.get("quantization")
            if quantization:
                dtype = _QUANTIZED.get(quantization.get("dtype"))
                if dtype is None:
                    raise ValueError(f"{manifest_path}: {name} has an unknown quantization {quantization}.")
            else:
                dtype = _DTYPES.get(entry.get("dtype", "float32"))
                if dtype is None:
                    raise ValueError(f"{manifest_path}: {name} has an unsupported dtype {entry.get('dtype')!r}.")
            nbytes = size * np.dtype(dtype).itemsize
            if offset + nbytes > len(data):
                raise ValueError(
                    f"{manifest_path}: the shards end inside {name} ({len(data)} bytes for "
                    f"{offset + nbytes} needed)."
                )
            value = np.frombuffer(data, dtype=dtype, count=size, offset=offset).reshape(shape)
            offset += nbytes
            if quantization:
                if quantization["dtype"] == "float16":
                    value = value.astype(np.float32)
                else:
                    value = value.astype(np.float32) * float(quantization["scale"]) + float(quantization["min"])
            variables[name] = np.array(value)
        if offset != len(data):
            raise ValueError(f"{manifest_path}: {len(data) - offset} bytes of the shards are not in the manifest.")
    if not variables:
        raise ValueError(f"{manifest_path} lists no weights.")
    return variables


def _read_shard(folder, relative):
    path = (folder / relative).resolve()
    if folder.resolve() not in path.parents:
        raise ValueError(f"{folder / MANIFEST_FILE}: shard path {relative!r} leaves the folder.")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: a weight shard named in {MANIFEST_FILE} is missing.")
    return path.read_bytes()


# ------------------------------------------------------- preset inference
def infer_preset(spec, variables):
    """`(built-in preset name, overrides)` for a magenta.js spec without our Keras config.

    Sizes are left to `infer_hparams`; this picks the configuration and the
    lengths and drum maps the spec states.
    """
    data = spec.get("dataConverter") or {}
    kind = data.get("type")
    args = dict(data.get("args") or {})
    num_steps = args.get("numSteps")
    num_segments = args.get("numSegments")
    chords = bool(spec.get("chordEncoder"))
    if spec.get("chordEncoder") not in (None, "TriadChordEncoder"):
        raise ValueError(f"magenta.js chord encoder {spec['chordEncoder']!r} has no preset here (only triads).")
    if kind == "MelodyConverter":
        preset = "hier_mel_16bar" if num_segments else ("cat_mel_2bar_med_chords" if chords else "cat_mel_2bar_small")
    elif kind == "DrumsConverter":
        preset = "cat_drums_2bar_small"
    elif kind == "DrumRollConverter":
        classes = args.get("pitchClasses")
        preset = "nade_drums_2bar_full" if classes and len(classes) == 61 else "nade_drums_2bar_reduced"
    elif kind == "TrioConverter":
        if not num_segments:
            raise ValueError("A flat magenta.js trio has no Magenta configuration; pass a preset.")
        preset = "hier_trio_16bar"
    elif kind == "MultitrackConverter":
        preset = "hier_multiperf_vel_1bar_med_chords" if chords else "hier_multiperf_vel_1bar_med"
    elif kind == "GrooveConverter":
        if args.get("humanize"):
            preset = "groovae_2bar_humanize"
        elif args.get("tapify"):
            preset = "groovae_2bar_tap_fixed_velocity"
        else:
            preset = "groovae_4bar"
    else:
        raise ValueError(f"magenta.js data converter {kind!r} has no preset here; pass a preset.")
    return preset, _length_overrides(preset, kind, args, num_steps, num_segments)


def _length_overrides(preset, kind, args, num_steps, num_segments):
    from keras_musicvae.presets import load_preset_config

    base = load_preset_config(preset)
    overrides = {}
    converter = json.loads(json.dumps(base.get("converter") or {}))
    conf = converter.get("config", {})
    if "pitchClasses" in args and "pitch_classes" in conf:
        key = "inference_pitch_classes" if kind == "GrooveConverter" else "pitch_classes"
        conf[key] = args["pitchClasses"]
    if kind == "GrooveConverter":
        conf["humanize"] = bool(args.get("humanize"))
        conf["tapify"] = bool(args.get("tapify"))
        conf["fixed_velocities"] = bool(args.get("tapify")) and not args.get("humanize")
        if args.get("stepsPerQuarter"):
            conf["steps_per_quarter"] = int(args["stepsPerQuarter"])
    if num_steps and num_steps != base["max_seq_len"] and kind != "MultitrackConverter":
        steps_per_bar = conf.get("steps_per_quarter", 4) * conf.get("quarters_per_bar", 4)
        if num_steps % steps_per_bar:
            raise ValueError(f"numSteps {num_steps} is not a whole number of {steps_per_bar}-step bars.")
        bars_key = "split_bars" if kind == "GrooveConverter" else "slice_bars"
        conf[bars_key] = num_steps // steps_per_bar
        overrides["max_seq_len"] = int(num_steps)
        if num_segments:
            overrides["encoder_level_lengths"] = [num_steps // num_segments, num_segments]
            overrides["decoder_level_lengths"] = [num_segments, num_steps // num_segments]
    if converter and converter != base.get("converter"):
        overrides["converter"] = converter
    return overrides


# ---------------------------------------------------------------- public
def build_model(path, preset=None, overrides=None, infer_sizes=True, variables=None, spec=None):
    """The (untrained) `MusicVAE` a magenta.js folder's weights fit, and a description.

    `variables` and `spec` are the folder's weights and `config.json` when the
    caller has read them already (None: read here).
    """
    from keras_musicvae.convert.magenta_checkpoint import infer_hparams
    from keras_musicvae.models.music_vae import MusicVAE
    from keras_musicvae.presets import canonical_preset_name
    from keras_musicvae.presets import load_model_from_preset
    from keras_musicvae.presets import load_preset_config

    spec = read_spec(path) if spec is None else spec
    variables = read_weights(path) if variables is None else variables
    overrides = dict(overrides or {})
    keras_config = (spec.get(KERAS_KEY) or {}).get("config")
    if preset is None and keras_config:
        config = dict(keras_config)
        config.update(overrides)
        return MusicVAE.from_config(config), "its Keras config (written by keras-musicvae export)"
    if preset is None:
        preset, inferred = infer_preset(spec, variables)
        for key, value in inferred.items():
            overrides.setdefault(key, value)
        description = f"configuration {preset}, inferred from its {spec['dataConverter']['type']}"
    else:
        description = f"configuration {canonical_preset_name(preset)}"
    base = load_preset_config(preset)
    if infer_sizes:
        for key, value in infer_hparams(variables).items():
            if key not in overrides and key in base and base.get(key) != value:
                logger.info("The weights have %s=%s (preset: %s); using theirs.", key, value, base.get(key))
                overrides[key] = value
    return load_model_from_preset(preset, load_weights=False, **overrides), description


def convert_magentajs(path, preset=None, output=None, overrides=None, infer_sizes=True, overwrite=False):
    """Converts a magenta.js MusicVAE folder into a `MusicVAE` (and a preset).

    Args:
        path: the folder (`config.json` + `weights_manifest.json` + shards).
        preset: the configuration to build; None = the Keras config kept by
            our exporter, else one inferred from the magenta.js converter.
        output: preset folder to write (nothing is written on failure).
        overrides: hyperparameters to change.
        infer_sizes: read layer sizes off the weights' shapes.
        overwrite: replace an existing output folder.

    Returns:
        The converted `MusicVAE`.

    Raises:
        CheckpointMismatchError: the weights do not fit the model (the
            message names the variables).
    """
    from keras_musicvae.convert.magenta_checkpoint import map_variables

    if output is not None and _folder(output).exists() and any(_folder(output).iterdir()) and not overwrite:
        raise FileExistsError(f"{output} exists and is not empty; pass overwrite=True to replace it.")
    spec = read_spec(path)
    variables = read_weights(path)
    model, description = build_model(path, preset, overrides, infer_sizes, variables=variables, spec=spec)
    for variable, value in map_variables(model, variables):
        variable.assign(np.asarray(value).astype(variable.dtype))
    # Our exports record the training step beside the Keras config; other
    # magenta.js folders have none (the model then starts at step 0).
    step = (spec.get(KERAS_KEY) or {}).get("global_step")
    if step is not None:
        model.global_step.assign(int(step))
    if output is not None:
        model.save_to_preset(
            output,
            overwrite=overwrite,
            description=f"Converted from the magenta.js checkpoint {path} ({description}).",
        )
    return model
