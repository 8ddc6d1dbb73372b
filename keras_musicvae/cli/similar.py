"""`keras-musicvae similar`: variations on a piece of music."""

import pathlib

from keras_musicvae.cli import common

EXAMPLES = """
keras-musicvae similar --model runs/mel/preset --input a.mid --output variations/
keras-musicvae similar --model runs/mel/preset --input a.mid --similarity 0.9 -n 8 --seed 1 --output variations/
keras-musicvae similar --model runs/mel/preset --input song.mid --index 2 --output variations/
keras-musicvae similar --model chords_preset/ --input a.mid --chords Am F C G --output variations/
"""


def register(subparsers):
    from keras_musicvae.cli.main import add_command

    parser = add_command(
        subparsers,
        "similar",
        help="make variations of a MIDI file",
        description=(
            "Encodes the input and, for each variation, moves its latent code toward a random "
            "one along the great circle between them, keeping SIMILARITY of the way at the "
            "input (1 = the input's own code, 0 = a random sample). Writes OUTPUT/input.mid (the "
            "input as the model reads it), OUTPUT/variation_01.mid, ... and OUTPUT/variations.png "
            "(all in a grid). When the input gives several examples (e.g. several 2-bar "
            "windows), they are written to OUTPUT/candidates/ to choose from with --index. "
            "Chord-conditioned models use the input's chords (inferred when it has none), or "
            "--chords. The Python equivalent is model.similar(note_sequence, n, similarity)."
        ),
        examples=EXAMPLES,
    )
    common.add_model_option(parser)
    common.add_precision_option(parser)
    common.add_decode_quantization_option(parser)
    parser.add_argument("--input", required=True, metavar="A.mid", help="the MIDI file to vary")
    parser.add_argument("--index", type=int, default=None, help="which example of the input to use")
    parser.add_argument(
        "--similarity", type=float, default=0.8, help="how close to the input, 0-1 (default 0.8)"
    )
    parser.add_argument("-n", "--num", type=common.count(1), default=4,
        help=f"number of variations, at most {common.MAX_COUNT} (default 4)")
    common.add_temperature_option(parser, 0.5)
    common.add_seed_option(parser)
    common.add_chords_option(parser)
    common.add_output_options(parser)
    common.add_audio_option(parser)
    parser.set_defaults(run=run)


def run(args):
    import numpy as np

    quantization = common.decode_quantization_of(args)
    if not 0.0 <= args.similarity <= 1.0:
        raise common.UsageError(f"--similarity must be between 0 and 1; got {args.similarity}.")
    input_path = common.existing_file(args.input, "MIDI file")
    out_dir = pathlib.Path(args.output)
    spec = common.ModelSpec(args.model, args.config)
    converter = spec.converter()
    chords = common.chord_progression(args, spec, converter, required=False)
    writer_kwargs = spec.writer_kwargs(converter)
    writer = common.MusicWriter(out_dir, overwrite=args.overwrite, audio=not args.no_audio, **writer_kwargs)
    stems = common.numbered_stems("variation", args.num)
    plan = common.OutputPlan(args.overwrite)
    writer.plan(plan, ["input"] + stems + ["variations"])
    plan.check()

    requests = [common.ExampleRequest(input_path, args.index, "--index", out_dir / "candidates")]
    found = common.read_examples(requests, converter)
    model = spec.load(dtype=args.precision)
    model.decode_quantization = quantization
    (example,) = common.pick_examples(requests, found, converter, writer_kwargs)
    controls = common.chord_controls(model, chords, example.inputs.shape[0])
    controls = example.controls if controls is None else controls
    outputs = model.similar(
        example.inputs, args.num, similarity=args.similarity, temperature=args.temperature, seed=args.seed,
        lengths=example.length, controls=controls,
    )  # fmt: skip
    batch_controls = None if controls is None else np.broadcast_to(controls[None], (args.num,) + controls.shape)
    variations = common.sequences_from_outputs(converter, outputs, batch_controls)
    original = common.sequences_from_outputs(
        converter, example.outputs[None], None if example.controls is None else example.controls[None]
    )[0]
    writer.write(original, "input", title=f"input: {input_path.name}")
    writer.write_all(variations, stems, [f"variation {i + 1} (similarity {args.similarity:g})" for i in range(args.num)])
    rows = [original] + variations
    labels = ["input"] + [f"var. {i + 1}" for i in range(args.num)]
    writer.write_grid(rows, "variations", labels=labels, title=f"variations of {input_path.name}")
    where = common.describe_path(out_dir)
    common.say(f"wrote {args.num} variation(s) of {input_path.name} to {where}/ (variation_*.mid); "
               f"grid: {where}/variations.png")
    note = writer.audio_note()
    if note:
        common.say(f"note: {note}")

