"""`keras-musicvae convert`: a Magenta MusicVAE checkpoint -> a preset folder."""

import math
import pathlib

from keras_musicvae.cli import common

EXAMPLES = """
keras-musicvae convert --checkpoint cat-mel_2bar_small.tar --preset cat-mel_2bar_small --output presets/cat_mel
keras-musicvae convert --checkpoint ckpt_dir/model.ckpt-1234 --preset hierdec-trio_16bar --output my_trio
keras-musicvae convert --checkpoint ckpt_dir/ --preset cat_mel_2bar_small --hparams z_size=256 --output my_mel
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
            "other command takes as --model. Needs TensorFlow."
        ),
        examples=EXAMPLES,
    )
    parser.add_argument("--checkpoint", required=True, help="checkpoint prefix, folder or .tar bundle")
    parser.add_argument("--preset", required=True, help="the configuration it was trained with")
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
    from keras_musicvae import presets

    checkpoint = pathlib.Path(args.checkpoint).expanduser()
    if not checkpoint.exists() and not pathlib.Path(str(checkpoint) + ".index").exists():
        raise common.CLIError(f"{checkpoint}: no such checkpoint (prefix, folder or .tar bundle).")
    try:
        presets.resolve_preset(args.preset)
    except ValueError as e:
        raise common.UsageError(str(e)) from None
    output = pathlib.Path(args.output)
    if output.exists() and any(output.iterdir()) and not args.overwrite:
        raise common.OutputExistsError(
            f"{output} already exists and is not empty; pass --overwrite to replace it, or choose another --output."
        )
    overrides = common.parse_hparams(args.hparams)
    from keras_musicvae.convert import convert_magenta_checkpoint

    model = convert_magenta_checkpoint(
        str(checkpoint),
        args.preset,
        output=str(output),
        overrides=overrides or None,
        infer_sizes=args.infer_sizes,
        overwrite=args.overwrite,
    )
    params = sum(int(math.prod(v.shape)) for v in model.trainable_weights)
    common.say(f"converted {checkpoint} ({args.preset}) into the preset {common.describe_path(output)}/ "
               f"(z_size {model.z_size}, {params:,} parameters)")
    common.say(f"use it with: keras-musicvae sample --model {common.describe_path(output)} --output samples/")
