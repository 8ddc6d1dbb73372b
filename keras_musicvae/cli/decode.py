"""`keras-musicvae decode`: latent codes (`.npy`) -> MIDI files."""

import pathlib

from keras_musicvae.cli import common

EXAMPLES = """
keras-musicvae decode --model runs/mel/preset --input codes.npy --output decoded/
keras-musicvae decode --model runs/mel/preset --input codes.npy --temperature 0 --output decoded/
keras-musicvae decode --model chords_preset/ --input codes.npy --chords C G Am F --output decoded/
"""


def register(subparsers):
    from keras_musicvae.cli.main import add_command

    parser = add_command(
        subparsers,
        "decode",
        help="decode latent codes (.npy) to MIDI files",
        description=(
            "Decodes each row of a float array [N, z_size] (or one vector [z_size]) saved with "
            "numpy.save, e.g. by `keras-musicvae encode`, and writes OUTPUT/decoded_01.mid, ... "
            "with piano rolls (and WAVs). Chord-conditioned models need --chords."
        ),
        examples=EXAMPLES,
    )
    common.add_model_option(parser)
    common.add_precision_option(parser)
    common.add_decode_quantization_option(parser)
    parser.add_argument("--input", required=True, metavar="Z.npy", help="latent codes, [N, z_size] or [z_size]")
    common.add_temperature_option(parser, 0.0)
    common.add_seed_option(parser)
    common.add_chords_option(parser)
    common.add_output_options(parser)
    common.add_audio_option(parser)
    parser.set_defaults(run=run)


def run(args):
    quantization = common.decode_quantization_of(args)
    import numpy as np

    path = common.existing_file(args.input, ".npy file")
    try:
        z = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as e:
        raise common.CLIError(f"{path}: not a NumPy .npy array ({_first_line(e)}).") from None
    if z.ndim == 1:
        z = z[None]
    if z.ndim != 2 or not np.issubdtype(z.dtype, np.number):
        raise common.CLIError(f"{path}: expected a numeric array [N, z_size]; got {z.dtype} {list(z.shape)}.")
    if not np.all(np.isfinite(z)):
        raise common.CLIError(f"{path}: holds NaN or infinite values.")
    spec = common.ModelSpec(args.model, args.config)
    if z.shape[1] != spec.z_size:
        raise common.CLIError(
            f"{path}: rows have {z.shape[1]} values but this model's latent size is {spec.z_size}."
        )
    converter = spec.converter()
    chords = common.chord_progression(args, spec, converter, required=True)
    out_dir = pathlib.Path(args.output)
    writer = common.MusicWriter(out_dir, overwrite=args.overwrite, audio=not args.no_audio, **spec.writer_kwargs(converter))
    stems = common.numbered_stems("decoded", len(z))
    plan = common.OutputPlan(args.overwrite)
    writer.plan(plan, stems)
    plan.check()
    model = spec.load(dtype=args.precision, decoder_only=True)
    model.decode_quantization = quantization
    sequences = model.decode_to_sequences(
        z.astype("float32"), temperature=args.temperature, seed=args.seed, chords=chords
    )
    writer.write_all(sequences, stems, [f"decoded row {i}" for i in range(len(z))])
    common.say(f"decoded {len(z)} latent code(s) into {common.describe_path(out_dir)}/ (decoded_*.mid)")
    note = writer.audio_note()
    if note:
        common.say(f"note: {note}")


def _first_line(error):
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
