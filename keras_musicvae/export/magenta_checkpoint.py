"""Export to a Magenta TF1 checkpoint: the inverse of `keras-musicvae convert`.

    keras_musicvae.export.export_magenta_checkpoint(model, "ckpt/")

writes `ckpt/model.ckpt.index`, `ckpt/model.ckpt.data-00000-of-00001` and
`ckpt/checkpoint` (a TF1 checkpoint holding Magenta's variable names and
layouts, and `global_step`), and `ckpt/magenta_config.json`:

    {"config": "cat-mel_2bar_small", "hparams": "z_size=256,enc_rnn_size=[512],dec_rnn_size=[256,256]"}

the Magenta configuration and the `music_vae_train --hparams` string that
give this model's sizes (and any other hyperparameter that differs from the
configuration). Magenta 2.1.4 then loads it as its own:

    config = configs.CONFIG_MAP["cat-mel_2bar_small"]
    config.hparams.parse("z_size=256,...")
    TrainedModel(config, batch_size=4, checkpoint_dir_or_path="ckpt/")

TENSORFLOW-ONLY CODE (writing the checkpoint); the model may come from any
backend.
"""

import json
import logging
import pathlib

import numpy as np

from keras_musicvae.export import files
from keras_musicvae.export.magenta_variables import magenta_variables

logger = logging.getLogger(__name__)

CHECKPOINT_PREFIX = "model.ckpt"
CONFIG_FILE = "magenta_config.json"

# What fixes a Magenta configuration (its classes, data converter and
# lengths), as opposed to its hyperparameters.
_STRUCTURE = (
    "input_depth",
    "output_depth",
    "max_seq_len",
    "encoder_level_lengths",
    "decoder_level_lengths",
    "output_head",
    "output_depths",
    "split_streams",
    "control_depth",
)
# Magenta hyperparameters (`music_vae_train --hparams` keys) a model carries.
_SIZES = ("z_size", "enc_rnn_size", "dec_rnn_size")
_HPARAMS = _SIZES + (
    "free_bits",
    "max_beta",
    "beta_rate",
    "sampling_schedule",
    "sampling_rate",
    "dropout_keep_prob",
    "learning_rate",
    "decay_rate",
    "min_learning_rate",
    "grad_clip",
    "grad_norm_clip_to_zero",
    "batch_size",
)
# Converter settings that do not change the data representation.
_CONVERTER_RUNTIME = ("mode", "seed", "max_tensors_per_notesequence")


class NoMagentaConfigError(ValueError):
    """No Magenta configuration has this model's architecture."""


def _full_config(config):
    from keras_musicvae.export.magentajs import _ModelConfig

    return vars(_ModelConfig(config))


def _converter_key(converter):
    if not converter:
        return None
    config = {k: v for k, v in converter.get("config", {}).items() if k not in _CONVERTER_RUNTIME}
    return converter.get("class_name"), json.dumps(config, sort_keys=True)


def _format_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_format_value(v) for v in value) + "]"
    if isinstance(value, float) and value.is_integer():
        # Magenta's HParams parses an int into a float hyperparameter, not
        # the other way round.
        return str(int(value))
    return str(value)


def _differs(a, b):
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        return list(a or []) != list(b or [])
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return not np.isclose(float(a), float(b), rtol=1e-12, atol=0.0)
    return a != b


def magenta_config(model):
    """`(Magenta configuration name, hparams string)` for a `MusicVAE` (or its config dict).

    The configuration is the built-in preset whose structure (depths,
    lengths, levels, output head, controls, data converter class) is the
    model's, preferring the preset the model is named after and then the one
    with the fewest hyperparameter changes. The hparams string always states
    the sizes (`z_size`, `enc_rnn_size`, `dec_rnn_size`, and
    `nade_num_hidden` for NADE decoders) and any other hyperparameter that
    differs from the configuration.

    Raises:
        NoMagentaConfigError: no Magenta configuration has this structure.
    """
    from keras_musicvae.presets import builtin_presets_dir
    from keras_musicvae.presets import canonical_preset_name
    from keras_musicvae.presets import list_presets
    from keras_musicvae.presets import load_preset_config

    config = _full_config(model if isinstance(model, dict) else model.get_config())
    own_converter = _converter_key(config.get("converter"))
    candidates = []
    for name in list_presets():
        preset = _full_config(load_preset_config(name))
        if any(_differs(config[k], preset[k]) for k in _STRUCTURE):
            continue
        theirs = _converter_key(preset.get("converter"))
        if own_converter is not None and theirs[0] != own_converter[0]:
            continue
        changes = [k for k in _HPARAMS + ("nade_num_hidden",) if _differs(config[k], preset[k])]
        rank = (
            canonical_preset_name(config.get("name", "")) != name,
            own_converter is not None and theirs != own_converter,
            len(changes),
            name,
        )
        candidates.append((rank, name, preset))
    if not candidates:
        raise NoMagentaConfigError(
            f"No Magenta configuration has the architecture of the model {config.get('name')!r} "
            f"(depths {config['input_depth']} -> {config['output_depth']}, {config['max_seq_len']} steps, "
            f"encoder levels {config['encoder_level_lengths']}, decoder levels "
            f"{config['decoder_level_lengths']}, head {config['output_head']!r}, controls "
            f"{config['control_depth']}); Magenta's music_vae could not rebuild it."
        )
    rank, name, preset = min(candidates, key=lambda c: c[0])
    if rank[1]:
        logger.warning(
            "The model's data converter settings differ from those of Magenta's %s; Magenta will "
            "read and write NoteSequences with its own.",
            name,
        )
    metadata = json.loads((builtin_presets_dir() / name / "metadata.json").read_text())
    magenta_name = metadata.get("source_configuration") or name
    keys = list(_SIZES)
    if config["output_head"] == "nade":
        keys.append("nade_num_hidden")
    keys += [k for k in _HPARAMS if k not in _SIZES and _differs(config[k], preset[k])]
    hparams = ",".join(f"{k}={_format_value(config[k])}" for k in keys)
    return magenta_name, hparams


def _write_tf1_checkpoint(variables, global_step, prefix):
    import tensorflow as tf

    names = list(variables) + ["global_step"]
    tensors = [tf.constant(v, dtype=tf.float32) for v in variables.values()]
    tensors.append(tf.constant(int(global_step), dtype=tf.int64))
    tf.raw_ops.SaveV2(
        prefix=str(prefix),
        tensor_names=names,
        shape_and_slices=[""] * len(names),
        tensors=tensors,
    )


def export_magenta_checkpoint(model, folder, global_step=None, overwrite=False):
    """Writes a Magenta TF1 checkpoint (`folder/model.ckpt`) and `folder/magenta_config.json`.

    Args:
        model: a `MusicVAE` (any backend).
        folder: the folder to write.
        global_step: the step stored as `global_step` (default: the model's
            own training step counter).
        overwrite: replace an existing folder.

    Returns:
        The checkpoint prefix, `folder/model.ckpt`, a `pathlib.Path`.

    Raises:
        NoMagentaConfigError: no Magenta configuration has this model's
            architecture (nothing is written).
        FileExistsError: the folder exists and `overwrite` is False.
    """
    model.require_encoder("export to a Magenta checkpoint")
    name, hparams = magenta_config(model)
    if global_step is None:
        from keras import ops

        global_step = int(ops.convert_to_numpy(model.global_step))
    variables = magenta_variables(model)
    with files.atomic_destination(folder, overwrite=overwrite) as staging:
        staging.mkdir()
        _write_tf1_checkpoint(variables, global_step, staging / CHECKPOINT_PREFIX)
        (staging / "checkpoint").write_text(
            f'model_checkpoint_path: "{CHECKPOINT_PREFIX}"\n'
            f'all_model_checkpoint_paths: "{CHECKPOINT_PREFIX}"\n'
        )
        (staging / CONFIG_FILE).write_text(json.dumps({"config": name, "hparams": hparams}, indent=2) + "\n")
    return pathlib.Path(folder) / CHECKPOINT_PREFIX
