"""`keras-musicvae export`: a model -> TensorFlow SavedModel, TF Lite file, magenta.js folder
or Magenta TF1 checkpoint."""

import pathlib

from keras_musicvae.cli import common

EXAMPLES = """
keras-musicvae export --model runs/mel/preset --format saved_model --output models/cat_mel/1
keras-musicvae export --model runs/mel/preset --format tflite --output cat_mel.tflite
keras-musicvae export --model runs/mel/preset --format tflite --batch-size 4 --output cat_mel_b4.tflite
keras-musicvae export --model runs/mel/preset --format tflite --quantization int8 --output cat_mel_int8.tflite
keras-musicvae export --model runs/mel/preset --format magentajs --output web/cat_mel
keras-musicvae export --model runs/mel/preset --format magenta_checkpoint --output magenta_ckpt/cat_mel
"""


def register(subparsers):
    from keras_musicvae.cli.main import add_command

    parser = add_command(
        subparsers,
        "export",
        help="export a model as a SavedModel (TF Serving) or a .tflite file",
        description=(
            "Writes a TensorFlow SavedModel with encode / decode / sample / interpolate / interpolate_grid "
            "signatures (for TF Serving, --output is a version folder: models/NAME/1), or one "
            ".tflite file with encode and decode signatures (see docs/SERVING.md). Runs on the "
            "TensorFlow backend whatever KERAS_BACKEND says. --format magentajs writes the folder "
            "magenta.js loads (new mm.MusicVAE(url)); --format magenta_checkpoint writes a TF1 "
            "checkpoint Magenta's own music_vae loads, with magenta_config.json naming its "
            "configuration and --hparams (see docs/MAGENTA.md)."
        ),
        examples=EXAMPLES,
    )
    common.add_model_option(parser)
    parser.add_argument("--format", required=True, choices=("saved_model", "tflite", "magentajs", "magenta_checkpoint"), help="what to write")
    common.add_output_options(
        parser, help="SavedModel folder, .tflite file, or magenta.js / checkpoint folder",
        overwrite_help="replace an existing output",
    )
    parser.add_argument(
        "--batch-size", type=int, default=1, help="tflite only: the fixed batch size (default 1)"
    )
    parser.add_argument(
        "--quantization",
        choices=("float16", "int8"),
        default=None,
        help=(
            "tflite only: store the weights as float16 (half the file) or as dynamic-range int8 "
            "(about a quarter; int8 matrix products); default float32. See docs/SERVING.md"
        ),
    )
    parser.add_argument(
        "--max-batch", type=int, default=None, help="saved_model only: largest batch accepted (default: any)"
    )
    parser.set_defaults(run=run, default_backend="tensorflow")


def run(args):
    output = pathlib.Path(args.output)
    if args.format == "tflite" and output.suffix != ".tflite":
        raise common.UsageError(f"--output of a tflite export must end in .tflite; got {output}.")
    if args.batch_size < 1:
        raise common.UsageError(f"--batch-size must be at least 1; got {args.batch_size}.")
    if args.quantization is not None and args.format != "tflite":
        raise common.UsageError(
            f"--quantization applies to --format tflite only; --format {args.format} writes "
            "float32 weights. Leave --quantization out, or export with --format tflite."
        )
    if args.format != "tflite":
        common.check_output_folder(output)
    common.check_can_write(output, args.overwrite)
    model = common.ModelSpec(args.model, args.config).load()
    from keras_musicvae import export

    if args.format in ("magentajs", "magenta_checkpoint"):
        return _export_magenta(args, model, output)
    if args.format == "saved_model":
        path = export.export_saved_model(model, output, max_batch=args.max_batch, overwrite=args.overwrite)
        common.say(f"wrote the SavedModel {common.describe_path(path)}/ (signatures: encode, decode, "
                   "sample, interpolate, interpolate_grid; serving_default = decode)")
    else:
        path = export.export_tflite(
            model, output, batch_size=args.batch_size, quantization=args.quantization, overwrite=args.overwrite
        )
        size = path.stat().st_size / 1e6
        common.say(f"wrote {common.describe_path(path)} ({size:.1f} MB, {args.quantization or 'float32'} "
                   f"weights; signatures: encode, decode; batch size {args.batch_size})")


def _export_magenta(args, model, output):
    from keras_musicvae import export
    from keras_musicvae.export.magenta_checkpoint import NoMagentaConfigError
    from keras_musicvae.export.magentajs import MagentaJSUnsupportedError

    try:
        if args.format == "magentajs":
            path = export.export_magentajs(model, output, overwrite=args.overwrite)
        else:
            path = export.export_magenta_checkpoint(model, output, overwrite=args.overwrite)
    except (MagentaJSUnsupportedError, NoMagentaConfigError) as e:
        raise common.CLIError(str(e)) from None
    if args.format == "magentajs":
        common.say(f"wrote the magenta.js folder {common.describe_path(path)}/ (serve it over HTTP and "
                   "load it with new mm.MusicVAE(url))")
    else:
        import json

        described = json.loads((path.parent / "magenta_config.json").read_text())
        common.say(f"wrote the Magenta checkpoint {common.describe_path(path)} (configuration "
                   f"{described['config']}, --hparams '{described['hparams']}')")
