"""Export to magenta.js: the folder `new mm.MusicVAE(url)` loads.

    keras_musicvae.export.export_magentajs(model, "web/mel_2bar")

writes

* `config.json`: magenta.js's `MusicVAESpec`, `{"type": "MusicVAE",
  "dataConverter": {"type": ..., "args": {...}}}` (plus `"chordEncoder"` for
  chord-conditioned models), naming the magenta.js data converter that reads
  and writes this model's tensors. A `"kerasMusicVAE"` entry (ignored by
  magenta.js) keeps the model's Keras config, so that
  `keras-musicvae convert` rebuilds exactly this model from the folder.
* `weights_manifest.json` and `group1-shard{i}of{n}.bin`: the weights in
  TensorFlow.js's weights format (float32, little-endian, shards of at most
  4 MiB) under Magenta's TF1 variable names and layouts, which is what
  magenta.js reads (`music/src/music_vae/model.ts`).

What magenta.js's `MusicVAE` (`@magenta/music` 1.23) can run, read off its
code, and what is refused here by name (`MagentaJSUnsupportedError`):

* encoders: one bidirectional LSTM layer (flat), or a two-level hierarchical
  encoder of one layer per level. Deeper encoders (`flat_mel_16bar`,
  `flat_trio_16bar`, `hierdec_*`: two layers) are refused.
* decoders: flat (categorical, NADE, GrooVAE), or hierarchical behind a
  hierarchical encoder with as many segments: magenta.js takes both from the
  converter's `numSegments`, so a flat encoder with a hierarchical decoder
  (`hierdec_*`) cannot be expressed. A trio decoder must be one LSTM per
  instrument (`hier_trio_16bar`); the flat trio decoder (one LSTM, three
  softmaxes) is not one magenta.js knows.
* data: melodies (with triad chords as controls), drums (roll input;
  one-hot output, or roll output with a NADE), hierarchical trios,
  multi-instrument performances (one bar, with triad chords or not), and
  GrooVAE without controls whose input transformation magenta.js's
  `GrooveConverter` reproduces (`humanize`, or `tapify` with
  `fixed_velocities`, or none).

Pure NumPy and JSON: works on every backend.
"""

import json
import math
import pathlib

import numpy as np

from keras_musicvae.export import files
from keras_musicvae.export.magenta_variables import magenta_variables

CONFIG_FILE = "config.json"
MANIFEST_FILE = "weights_manifest.json"
# TensorFlow.js's own shard size (tfjs-converter's default).
SHARD_BYTES = 4 * 1024 * 1024
# Key of config.json that magenta.js ignores and our converter reads.
KERAS_KEY = "kerasMusicVAE"


class MagentaJSUnsupportedError(ValueError):
    """The model uses something magenta.js's MusicVAE cannot run (named in the message)."""


class _ModelConfig:
    """Attribute view of a `MusicVAE` config dict, with the constructor's defaults."""

    def __init__(self, config):
        import inspect

        from keras_musicvae.models.music_vae import MusicVAE

        values = {
            name: parameter.default
            for name, parameter in inspect.signature(MusicVAE.__init__).parameters.items()
            if parameter.default is not inspect.Parameter.empty
        }
        values.update(config)
        values.setdefault("name", "music_vae")
        self.__dict__.update(values)
        self.converter_config = values.get("converter")


def _refuse(model, what):
    """Notes one thing magenta.js cannot run; `magentajs_spec` raises with all of them."""
    model.problems.append(what)


# ------------------------------------------------------------- structure
def _check_structure(model):
    """Checks the encoder / decoder against magenta.js; returns numSegments (or None)."""
    if model.encoder_level_lengths:
        levels = model.encoder_level_lengths
        if len(levels) != 2:
            _refuse(model, f"its hierarchical encoder has {len(levels)} levels; magenta.js runs exactly 2")
        if len(model.enc_rnn_size) != 1:
            _refuse(
                model,
                f"its hierarchical encoder has {len(model.enc_rnn_size)} LSTM layers per level "
                f"(enc_rnn_size={model.enc_rnn_size}); magenta.js reads one layer (cell_0) per level",
            )
        num_segments = levels[-1]
        if not model.decoder_level_lengths:
            _refuse(
                model,
                "it has a hierarchical encoder and a flat decoder; magenta.js pairs a hierarchical "
                "encoder with a hierarchical decoder (both from the converter's numSegments)",
            )
        elif model.decoder_level_lengths[0] != num_segments:
            _refuse(
                model,
                f"its encoder splits the sequence into {num_segments} segments and its decoder into "
                f"{model.decoder_level_lengths[0]}; magenta.js uses one numSegments for both",
            )
        return num_segments
    if model.decoder_level_lengths:
        _refuse(
            model,
            "it has a hierarchical decoder behind a flat encoder (a 'hierdec' model); magenta.js "
            "builds a hierarchical decoder only together with a hierarchical encoder (both from the "
            "converter's numSegments)",
        )
    if len(model.enc_rnn_size) != 1:
        _refuse(
            model,
            f"its bidirectional encoder has {len(model.enc_rnn_size)} layers "
            f"(enc_rnn_size={model.enc_rnn_size}); magenta.js runs single-layer bidirectional encoders",
        )
    return None


# ------------------------------------------------------------ converters
def _chord_encoder(model, converter):
    from keras_musicvae.data.groove import GrooveConverter  # its controls are refused by _groove_spec

    encoding = getattr(converter, "chord_encoding", None)
    if encoding is None:
        if model.control_depth and not isinstance(converter, GrooveConverter):
            _refuse(model, f"it takes controls of depth {model.control_depth} that magenta.js cannot make")
        return None
    if encoding != "triad" or model.control_depth != 49:
        _refuse(model, f"its chord encoding {encoding!r} (depth {model.control_depth}) is not magenta.js's")
    # magenta.js's TriadChordEncoder: 0 = no chord, then 1 + 12 * quality + root
    # (major, minor, augmented, diminished), note-seq's TriadChordOneHotEncoding.
    return "TriadChordEncoder"


def _melody_args(converter, num_steps):
    return {
        "numSteps": num_steps,
        "minPitch": int(converter.min_pitch),
        "maxPitch": int(converter.max_pitch),
        "ignorePolyphony": not converter.skip_polyphony,
    }


def _melody_spec(model, converter, num_steps):
    return {"type": "MelodyConverter", "args": _melody_args(converter, num_steps)}


def _drums_spec(model, converter, num_steps):
    if not converter.roll_input:
        _refuse(model, "its drums input is one-hot; magenta.js's drum converters give a drum roll as input")
    if converter.add_end_token:
        _refuse(model, "its drum tracks carry an end token, which magenta.js's drum converters lack")
    classes = [list(map(int, c)) for c in converter.pitch_classes]
    if converter.roll_output:
        if model.output_head != "nade":
            _refuse(model, "its drum-roll output is not decoded by a NADE, the only roll decoder of magenta.js here")
        kind = "DrumRollConverter"
    else:
        if model.output_head != "categorical":
            _refuse(model, f"its one-hot drums output has a {model.output_head!r} head")
        kind = "DrumsConverter"
    return {"type": kind, "args": {"numSteps": num_steps, "pitchClasses": classes}}


def _trio_spec(model, converter, num_steps):
    if not model.split_streams and model.output_head != "multi_categorical":
        _refuse(model, "magenta.js's TrioConverter expects one decoder per instrument (split_streams)")
    melody = converter.melody_converter
    drums = converter.drums_converter
    part = _melody_args(melody, num_steps)
    return {
        "type": "TrioConverter",
        "args": {
            "numSteps": num_steps,
            "melArgs": dict(part),
            "bassArgs": dict(part),
            "drumsArgs": {"numSteps": num_steps, "pitchClasses": [list(map(int, c)) for c in drums.pitch_classes]},
        },
    }


def _groove_spec(model, converter, num_steps):
    if converter.categorical:
        _refuse(model, "its GrooVAE velocities and offsets are one-hot bins; magenta.js's GrooveConverter has continuous ones")
    if converter.hits_as_controls or model.control_depth:
        _refuse(model, "its GrooVAE is conditioned on controls (hits_as_controls), which magenta.js's converter cannot make")
    if converter.add_instruments:
        _refuse(
            model,
            f"its GrooVAE input drops drum classes {converter.add_instruments} (add_instruments), which "
            "magenta.js's GrooveConverter cannot do",
        )
    if converter.tapify and not (converter.fixed_velocities or converter.humanize):
        _refuse(model, "its tapify input keeps velocities; magenta.js's tapify zeroes them")
    if converter.fixed_velocities and not (converter.tapify or converter.humanize):
        _refuse(model, "its input zeroes velocities only (fixed_velocities), which magenta.js's GrooveConverter cannot do")
    if converter.split_instruments:
        _refuse(model, "its GrooVAE splits instruments over steps (split_instruments), with controls magenta.js cannot make")
    return {
        "type": "GrooveConverter",
        "args": {
            "numSteps": num_steps,
            "stepsPerQuarter": int(converter.steps_per_quarter),
            "humanize": bool(converter.humanize),
            "tapify": bool(converter.tapify),
            # Inference map: what our converter uses in "infer" mode, in and out.
            "pitchClasses": [list(map(int, c)) for c in converter.infer_pitch_classes],
            "splitInstruments": False,
        },
    }


def _multitrack_spec(model, converter, num_steps, num_segments):
    if converter.num_chunks != 1:
        _refuse(
            model,
            f"its performances are {converter.num_chunks} chunks of {converter.chunk_size_bars} bar(s); "
            "magenta.js's MultitrackConverter has one segment per track",
        )
    if num_segments is None:
        _refuse(model, "its multi-instrument performances need a hierarchical (one segment per track) model")
    elif num_segments != converter.max_num_instruments:
        _refuse(model, f"it has {num_segments} segments for {converter.max_num_instruments} tracks")
    return {
        "type": "MultitrackConverter",
        "args": {
            "numSteps": num_steps,
            "numSegments": num_segments,
            "stepsPerQuarter": int(converter.steps_per_quarter),
            "totalSteps": int(converter.chunk_steps),
            "numVelocityBins": int(converter.num_velocity_bins or 0),
            "minPitch": int(converter.min_pitch),
            "maxPitch": int(converter.max_pitch),
        },
    }


def magentajs_spec(model):
    """The `config.json` magenta.js needs for `model` (without our own entry).

    Args:
        model: a `MusicVAE`, or a `MusicVAE` config dict (e.g. a preset's
            `config.json` `config`).

    Raises:
        MagentaJSUnsupportedError: magenta.js cannot run the model; the
            message says what it lacks.
    """
    model = _ModelConfig(model if isinstance(model, dict) else model.get_config())
    model.problems = []
    num_segments = _check_structure(model)
    if not model.converter_config:
        _refuse(model, "it has no data converter, and magenta.js needs to know its data representation")
        return _raise(model)
    from keras_musicvae.data.converter import converter_from_config

    converter = converter_from_config(model.converter_config, mode="infer")
    kind = type(converter).__name__
    num_steps = int(model.max_seq_len)
    if model.output_head == "groove" and kind != "GrooveConverter":
        _refuse(model, "it has a GrooVAE head; magenta.js decodes groove only with its GrooveConverter")
    if model.output_head == "multi_categorical":
        _refuse(
            model,
            "its decoder is one LSTM with several softmaxes (Magenta's MultiOutCategoricalLstmDecoder, "
            "as flat_trio_16bar); magenta.js's TrioConverter expects one decoder per instrument "
            "(core_decoder_0..2, as hier_trio_16bar)",
        )
    builders = {
        "MelodyConverter": _melody_spec,
        "DrumsConverter": _drums_spec,
        "TrioConverter": _trio_spec,
        "GrooveConverter": _groove_spec,
    }
    if kind == "MultiInstrumentPerformanceConverter":
        data = _multitrack_spec(model, converter, num_steps, num_segments)
    elif kind in builders:
        data = builders[kind](model, converter, num_steps)
    else:
        _refuse(model, f"magenta.js has no data converter like {kind}")
        return _raise(model)
    if num_segments is not None:
        data["args"]["numSegments"] = int(num_segments)
    elif kind == "TrioConverter" and not (model.decoder_level_lengths or model.output_head == "multi_categorical"):
        _refuse(model, "magenta.js runs trios only with a hierarchical model")
    if model.split_streams and kind != "TrioConverter":
        _refuse(model, "its decoder is split into streams, which only magenta.js's TrioConverter has")
    expected = _js_input_depth(data)
    if expected is not None and expected != model.input_depth:
        _refuse(model, f"its input depth {model.input_depth} is not the {expected} of magenta.js's {data['type']}")
    spec = {"type": "MusicVAE", "dataConverter": data}
    chord_encoder = _chord_encoder(model, converter)
    if chord_encoder:
        spec["chordEncoder"] = chord_encoder
    _raise(model)
    return spec


def _raise(model):
    if model.problems:
        raise MagentaJSUnsupportedError(
            f"magenta.js cannot run the model {model.name!r}: " + "; ".join(model.problems) + ". "
            "(magenta.js's MusicVAE runs single-layer bidirectional or two-level hierarchical "
            "encoders and the decoders and data listed in docs/MAGENTA.md.)"
        )


def _js_input_depth(data):
    """The depth of magenta.js's `toTensor` for a converter spec (None if not checked)."""
    args = data["args"]
    if data["type"] == "MelodyConverter":
        return args["maxPitch"] - args["minPitch"] + 3
    if data["type"] in ("DrumsConverter", "DrumRollConverter"):
        return len(args["pitchClasses"]) + 1
    if data["type"] == "TrioConverter":
        mel = args["melArgs"]["maxPitch"] - args["melArgs"]["minPitch"] + 3
        bass = args["bassArgs"]["maxPitch"] - args["bassArgs"]["minPitch"] + 3
        return mel + bass + 2 ** len(args["drumsArgs"]["pitchClasses"])
    if data["type"] == "GrooveConverter":
        return 3 * len(args["pitchClasses"])
    if data["type"] == "MultitrackConverter":
        pitches = args["maxPitch"] - args["minPitch"] + 1
        return 2 * pitches + args["totalSteps"] + args["numVelocityBins"] + 129 + 1
    return None


# ---------------------------------------------------------------- weights
def write_weights(variables, folder, shard_bytes=SHARD_BYTES):
    """Writes `weights_manifest.json` and the shards of one weight group.

    The weights, float32 little-endian, are laid end to end in the order of
    `variables` and cut every `shard_bytes` bytes (a weight may span two
    shards, as TensorFlow.js allows).

    Returns:
        The list of shard file names.
    """
    folder = pathlib.Path(folder)
    entries = []
    chunks = []
    for name, value in variables.items():
        array = np.ascontiguousarray(value, dtype="<f4")
        entries.append({"name": name, "shape": [int(d) for d in array.shape], "dtype": "float32"})
        chunks.append(array.tobytes())
    data = b"".join(chunks)
    num_shards = max(1, math.ceil(len(data) / shard_bytes))
    paths = [f"group1-shard{i + 1}of{num_shards}.bin" for i in range(num_shards)]
    for i, path in enumerate(paths):
        (folder / path).write_bytes(data[i * shard_bytes : (i + 1) * shard_bytes])
    manifest = [{"paths": paths, "weights": entries}]
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest, indent=1) + "\n")
    return paths


def export_magentajs(model, folder, overwrite=False, shard_bytes=SHARD_BYTES):
    """Writes the folder magenta.js's `new mm.MusicVAE(url)` loads.

    Args:
        model: a `MusicVAE` with a data converter (any backend).
        folder: the folder to write (served over HTTP for magenta.js).
        overwrite: replace an existing folder.
        shard_bytes: largest weight shard (TensorFlow.js uses 4 MiB).

    Returns:
        The folder, a `pathlib.Path`.

    Raises:
        MagentaJSUnsupportedError: magenta.js cannot run this model (the
            message names what it lacks); nothing is written.
        FileExistsError: the folder exists and `overwrite` is False.
    """
    from keras import ops

    from keras_musicvae.version import __version__

    model.require_encoder("export to magenta.js")
    spec = magentajs_spec(model)
    spec[KERAS_KEY] = {
        "note": "Ignored by magenta.js; keras-musicvae convert rebuilds the model from it.",
        "version": __version__,
        "config": model.get_config(),
        # The training step (magenta.js has no place for it): a model
        # converted back continues its schedules from it.
        "global_step": int(ops.convert_to_numpy(model.global_step)),
    }
    variables = magenta_variables(model)
    with files.atomic_destination(folder, overwrite=overwrite) as staging:
        staging.mkdir()
        (staging / CONFIG_FILE).write_text(json.dumps(spec, indent=2) + "\n")
        write_weights(variables, staging, shard_bytes=shard_bytes)
    return pathlib.Path(folder)
