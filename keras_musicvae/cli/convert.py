"""`keras-musicvae convert`: a Magenta MusicVAE checkpoint -> a preset folder."""

import math
import pathlib

from keras_musicvae.cli import common

EXAMPLES = """
keras-musicvae convert --checkpoint cat-mel_2bar_small.tar --preset cat-mel_2bar_small --output presets/cat_mel
keras-musicvae convert --checkpoint ckpt_dir/model.ckpt-1234 --preset hierdec-trio_16bar --output my_trio
keras-musicvae convert --checkpoint ckpt_dir/ --preset cat_mel_2bar_small --hparams z_size=256 --output my_mel
keras-musicvae convert --checkpoint web/mel_2bar_small/ --output my_mel   # a magenta.js folder
"""


def register(subparsers):
    from keras_musicvae.cli.main import add_command

    parser = add_command(
        subparsers,
        "convert",
        help="convert a Magenta checkpoint into a preset",
        description=(
            "Reads a checkpoint of Google Magenta's TF1 MusicVAE (a prefix like "
            "model.ckpt-1234, a folder holding one, or a .tar bundle as Magenta publishes them), "
            "maps its variables onto the model of --preset (Magenta's configuration name; sizes "
            "that differ are read from the checkpoint) and writes a preset folder that every "
            "other command takes as --model. Needs TensorFlow. It also reads magenta.js folders "
            "(config.json + weights_manifest.json); for those, and for folders written by "
            "export --format magenta_checkpoint, --preset may be left out."
        ),
        examples=EXAMPLES,
    )
    parser.add_argument(
        "--checkpoint", required=True, help="checkpoint prefix, folder, .tar bundle or magenta.js folder"
    )
    parser.add_argument(
        "--preset",
        default=None,
        help="the configuration it was trained with (optional for magenta.js folders and exported checkpoints)",
    )
    parser.add_argument("--output", required=True, help="preset folder to write")
    parser.add_argument("--hparams", default="", help="hyperparameter overrides, k=v,... (values JSON)")
    parser.add_argument(
        "--no-infer-sizes",
        dest="infer_sizes",
        action="store_false",
        help="do not read layer sizes from the checkpoint",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing preset folder")
    parser.set_defaults(run=run)


def run(args):
    checkpoint = pathlib.Path(args.checkpoint).expanduser()
    if not checkpoint.exists() and not pathlib.Path(str(checkpoint) + ".index").exists():
        raise common.CLIError(f"{checkpoint}: no such checkpoint (prefix, folder or .tar bundle).")
    from keras_musicvae.convert import magentajs

    is_magentajs = magentajs.is_magentajs_folder(checkpoint)
    if args.preset is None and not is_magentajs:
        args.preset = _exported_configuration(checkpoint)
    if args.preset is not None:
        common.resolve_preset(args.preset)
    output = pathlib.Path(args.output)
    common.check_output_folder(output)
    if output.exists() and any(output.iterdir()) and not args.overwrite:
        raise common.OutputExistsError(
            f"{output} already exists and is not empty; pass --overwrite to replace it, or choose another --output."
        )
    overrides = common.parse_hparams(args.hparams)
    from keras_musicvae.convert import UnsafeBundleError
    from keras_musicvae.convert import convert_magenta_checkpoint

    try:
        convert = magentajs.convert_magentajs if is_magentajs else convert_magenta_checkpoint
        model = convert(
            str(checkpoint),
            args.preset,
            output=str(output),
            overrides=overrides or None,
            infer_sizes=args.infer_sizes,
            overwrite=args.overwrite,
        )
    except UnsafeBundleError as e:
        raise common.CLIError(str(e)) from None
    params = sum(int(math.prod(v.shape)) for v in model.trainable_weights)
    source = f"{args.preset}" if args.preset else "magenta.js"
    common.say(f"converted {checkpoint} ({source}) into the preset {common.describe_path(output)}/ "
               f"(z_size {model.z_size}, {params:,} parameters)")
    common.say(f"use it with: keras-musicvae sample --model {common.describe_path(output)} --output samples/")


def _exported_configuration(checkpoint):
    """The Magenta configuration named by `magenta_config.json` beside an exported checkpoint."""
    from keras_musicvae.convert.cache import exported_configuration

    config = exported_configuration(checkpoint)
    if config is None:
        raise common.UsageError(
            "--preset is required: name the Magenta configuration the checkpoint was trained with "
            "(only magenta.js folders and folders written by export --format magenta_checkpoint name their own)."
        )
    return config
