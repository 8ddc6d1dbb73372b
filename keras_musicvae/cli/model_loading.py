"""`--model`: presets, folders and Magenta checkpoints, loaded into a `MusicVAE`."""

from keras_musicvae.cli.console import note
from keras_musicvae.cli.console import warn
from keras_musicvae.cli.errors import CLIError
from keras_musicvae.cli.errors import UsageError
from keras_musicvae.cli.inputs import describe_path


class ModelSpec:
    """The model named by `--model`, resolved without building it (no Keras yet).

    Reading the preset's config first lets a command check its arguments,
    outputs and input files (with the model's data converter) before paying
    for Keras start-up and the model build. A Magenta checkpoint (or a
    magenta.js folder) is converted into a cached preset folder first (see
    `keras_musicvae.convert.cache`), on first use only.

    Args:
        spec: a built-in preset name, a Magenta alias, a preset folder or a
            Magenta checkpoint.
        config: the configuration of a Magenta checkpoint (`--config`).

    Raises:
        UsageError: unknown preset (the message lists close names), a
            checkpoint without `--config`, or `--config` with a preset.
        CLIError: a preset folder or checkpoint that cannot be read.
    """

    def __init__(self, spec, config=None):
        from keras_musicvae import presets

        self.spec = str(spec)
        self.folder = model_folder(spec, config)
        try:
            self.config = presets.load_preset_config(self.folder)
        except (ValueError, FileNotFoundError) as e:
            raise CLIError(str(e)) from None

    @property
    def z_size(self):
        return int(self.config["z_size"])

    @property
    def max_seq_len(self):
        return int(self.config["max_seq_len"])

    @property
    def control_depth(self):
        return int(self.config.get("control_depth") or 0)

    def converter(self):
        """The model's data converter set up for reading inputs (see `converter_for_inputs`)."""
        return converter_for_inputs(self.config.get("converter"), f"model {self.spec!r}")

    def writer_kwargs(self, converter=None):
        """`kind` and `min_bars` of the piano rolls of this model's music."""
        converter = converter or self.converter()
        return {"kind": piano_roll_kind(converter), "min_bars": example_bars(self.max_seq_len, converter)}

    def load(self, warn_no_weights=True, dtype=None, decoder_only=False, **overrides):
        """Builds the model (and loads its weights); see `load_model`."""
        return load_model(
            self.folder,
            warn_no_weights=warn_no_weights,
            display_name=self.spec,
            dtype=dtype,
            decoder_only=decoder_only,
            **overrides,
        )


def model_folder(spec, config=None):
    """The preset folder of a `--model` value: a preset, or a converted (cached) checkpoint.

    Raises:
        UsageError: an unknown preset, a checkpoint without `--config` (where
            it does not name its own), or `--config` with a preset.
        CLIError: a checkpoint that cannot be read or does not fit `--config`.
    """
    from keras_musicvae.convert import cache

    kind = cache.checkpoint_kind(spec)
    if kind is None:
        if config is not None:
            raise UsageError(
                f"--config names the configuration of a Magenta checkpoint, but --model {spec} is a preset; "
                "leave --config out."
            )
        return resolve_preset(spec)
    if config is not None:
        resolve_preset(config)  # an unknown name is a usage error, before any work
    elif kind != "magentajs" and cache.exported_configuration(spec) is None:
        raise UsageError(
            f"--model {spec} is a Magenta checkpoint: give the configuration it was trained with "
            "as --config (e.g. --config cat-mel_2bar_big), as for Magenta's music_vae_generate."
        )
    return _converted_checkpoint(spec, config)


def _converted_checkpoint(spec, config):
    """Converts a checkpoint into the cache (first use only) and says so on stderr."""
    from keras_musicvae.convert import CheckpointMismatchError
    from keras_musicvae.convert import UnsafeBundleError
    from keras_musicvae.convert import cache

    try:
        folder, converted = cache.converted_preset(spec, config)
    except (CheckpointMismatchError, UnsafeBundleError, FileNotFoundError) as e:
        raise CLIError(f"{spec}: {e}" if str(spec) not in str(e) else str(e)) from None
    where = describe_path(folder)
    if converted:
        note(f"converted the Magenta checkpoint {spec} into {where}/ (a cache: later runs reuse it)")
    else:
        note(f"using the converted checkpoint cached in {where}/")
    return folder


def load_model(spec, warn_no_weights=True, display_name=None, dtype=None, decoder_only=False, **overrides):
    """Loads a model from a preset name, a Magenta alias or a preset folder.

    Warns (stderr) when the preset has no weights. `dtype` (a Keras dtype
    policy such as `--precision`'s, None for the preset's own) changes no
    weight shape: the weights load into it. `decoder_only` builds the model
    without its encoder (`include_encoder=False`: the commands that only
    decode need less memory and start sooner). Other `overrides`
    (hyperparameters) build a fresh model.

    Raises:
        UsageError: unknown preset (the message lists close names) or bad
            hyperparameters.
        CLIError: a preset folder that cannot be loaded.
    """
    import logging

    from keras_musicvae import presets

    folder = resolve_preset(spec)
    has_weights = (folder / presets.WEIGHTS_FILE).exists()
    if not has_weights and warn_no_weights:
        warn(
            f"preset {display_name or spec!r} has no trained weights: its outputs are random. Train one with "
            "`keras-musicvae train` or convert a Magenta checkpoint with `keras-musicvae convert`."
        )
    from keras_musicvae.models.music_vae import MusicVAE

    logging.getLogger("keras_musicvae.presets").setLevel(logging.ERROR)
    if decoder_only:
        overrides["include_encoder"] = False
    try:
        return MusicVAE.from_preset(
            str(folder),
            load_weights=has_weights and not set(overrides) - presets.WEIGHT_KEEPING_OVERRIDES,
            dtype=dtype,
            **overrides,
        )
    except presets.PresetFileError as e:
        raise CLIError(str(e)) from None
    except ValueError as e:
        raise UsageError(str(e)) from None


def resolve_preset(spec):
    """The folder of a `--model` / `--preset` value.

    Raises:
        UsageError: an unknown preset name (the message lists close names).
        CLIError: a path that is not a preset folder (missing, a file, no
            config.json).
    """
    from keras_musicvae import presets

    try:
        return presets.resolve_preset(spec)
    except presets.PresetFileError as e:
        raise CLIError(str(e)) from None
    except ValueError as e:
        raise UsageError(str(e)) from None


def converter_for_inputs(converter_config, model_name="this model"):
    """A model's converter set up for reading inputs: `infer` mode, every example, in order.

    The same converter as `MusicVAE.inference_converter`.

    Args:
        converter_config: the model's `converter_config` (a preset's "converter").
        model_name: how the error message names the model.

    Raises:
        CLIError: the model names no data converter.
    """
    from keras_musicvae.data.inference import MissingConverterError
    from keras_musicvae.data.inference import inference_converter

    try:
        return inference_converter(converter_config, model_name)
    except MissingConverterError as e:
        raise CLIError(str(e)) from None


def piano_roll_kind(converter):
    from keras_musicvae import visualize

    return visualize.kind_for_converter(converter)


def example_bars(num_steps, converter):
    """Bars in an example of `num_steps` steps (for piano-roll widths)."""
    steps_per_bar = getattr(converter, "steps_per_bar", None)
    if not steps_per_bar:
        steps_per_bar = getattr(converter, "steps_per_quarter", 4) * getattr(converter, "quarters_per_bar", 4)
    return max(1, int(round(num_steps / steps_per_bar)))


def chord_progression(args, spec, converter, required):
    """The `--chords` of a command, checked against the model (before it is loaded).

    Args:
        args: the parsed arguments (`args.chords`: None or a list of strings).
        spec: the `ModelSpec`.
        converter: its converter (`spec.converter()`).
        required: whether a chord-conditioned model needs `--chords` here
            (commands that make music from nothing: `sample`, `decode`).

    Returns:
        A list of chord symbols, or None.

    Raises:
        UsageError: chords for a model without chord conditioning, bad chord
            symbols, missing chords where `required`, or a model conditioned
            on other controls (GrooVAE hits) where `required`.
    """
    from keras_musicvae.data import chord_progression as progressions

    conditioned = progressions.is_chord_conditioned(converter)
    if args.chords is not None and not conditioned:
        raise UsageError("--chords: this model is not conditioned on chords; leave --chords out.")
    if args.chords is None:
        if required and conditioned:
            raise UsageError(
                "this model is conditioned on chords: give the chords to play over with --chords "
                "(e.g. --chords C G Am F)."
            )
        if required and spec.control_depth:
            raise UsageError(
                "this model is conditioned on controls (drum hits), which this command cannot make "
                "up; use `similar` or `interpolate` with an input MIDI file instead."
            )
        return None
    try:
        chords = progressions.parse_progression(args.chords)
        progressions.progression_controls(chords, converter, spec.max_seq_len)
    except progressions.ChordProgressionError as e:
        raise UsageError(f"--chords: {e}") from None
    return chords


def chord_controls(model, chords, num_steps):
    """`[num_steps, control_depth]` controls of a checked progression (None for None)."""
    from keras_musicvae.data.chord_progression import progression_controls

    return None if chords is None else progression_controls(chords, model.inference_converter, num_steps)


def decode_length(model, num_steps):
    """The `length` argument of `model.decode` for examples of `num_steps` steps."""
    return None if model.decoder_level_lengths else int(num_steps)
