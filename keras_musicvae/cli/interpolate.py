"""`keras-musicvae interpolate`: a smooth path between two pieces of music."""

import pathlib

from keras_musicvae.cli import common

EXAMPLES = """
keras-musicvae interpolate --model runs/mel/preset --from a.mid --to b.mid --output interp/
keras-musicvae interpolate --model runs/mel/preset --from a.mid --to b.mid --steps 11 --temperature 0 --output interp/
keras-musicvae interpolate --model runs/mel/preset --from song.mid --from-index 3 --to b.mid --output interp/
"""


def register(subparsers):
    from keras_musicvae.cli.main import add_command

    parser = add_command(
        subparsers,
        "interpolate",
        help="interpolate between two MIDI files",
        description=(
            "Encodes the two inputs, walks the great circle between their latent codes (slerp, "
            "endpoints included) and decodes each step. Writes OUTPUT/interp_01.mid, ... (one per "
            "step), OUTPUT/interpolation.mid (all steps in a row) and OUTPUT/interpolation.png (a "
            "grid, one row per step), with piano rolls and WAVs. An input must give exactly one "
            "example for the model (e.g. one 2-bar melody); when it gives several, they are "
            "written to OUTPUT/from_candidates/ (or to_candidates/) to choose from with "
            "--from-index / --to-index."
        ),
        examples=EXAMPLES,
    )
    parser.add_argument("--model", required=True, help="preset name, Magenta alias or preset folder")
    parser.add_argument("--from", dest="start", required=True, metavar="A.mid", help="the start")
    parser.add_argument("--to", dest="end", required=True, metavar="B.mid", help="the end")
    parser.add_argument("--from-index", type=int, default=None, help="which example of --from to use")
    parser.add_argument("--to-index", type=int, default=None, help="which example of --to to use")
    parser.add_argument("--steps", type=common.count(2), default=7,
        help=f"number of steps, endpoints included, 2 to {common.MAX_COUNT} (default 7)")
    parser.add_argument(
        "--temperature", type=common.temperature, default=0.5, help="sampling temperature, 0 = argmax (default 0.5)"
    )
    parser.add_argument("--seed", type=common.seed, default=None, help="random seed")
    parser.add_argument("--output", required=True, help="output folder")
    parser.add_argument("--overwrite", action="store_true", help="replace existing files")
    common.add_audio_option(parser)
    parser.set_defaults(run=run)


def run(args):
    start_path = common.existing_file(args.start, "MIDI file")
    end_path = common.existing_file(args.end, "MIDI file")
    out_dir = pathlib.Path(args.output)
    spec = common.ModelSpec(args.model)
    converter = spec.converter()
    writer_kwargs = spec.writer_kwargs(converter)
    writer = common.MusicWriter(out_dir, overwrite=args.overwrite, audio=not args.no_audio, **writer_kwargs)
    stems = common.numbered_stems("interp", args.steps)
    plan = common.OutputPlan(args.overwrite)
    writer.plan(plan, stems + ["interpolation"])
    plan.check()

    requests = [
        common.ExampleRequest(start_path, args.from_index, "--from-index", out_dir / "from_candidates"),
        common.ExampleRequest(end_path, args.to_index, "--to-index", out_dir / "to_candidates"),
    ]
    found = common.read_examples(requests, converter)  # both inputs checked before anything is written
    model = spec.load()
    start, end = common.pick_examples(requests, found, converter, writer_kwargs)
    sequences, num_steps = interpolate(model, converter, start, end, args.steps, args.temperature, args.seed)
    labels = [f"{a:.0%}" for a in _alphas(args.steps)]
    labels[0], labels[-1] = "start", "end"
    writer.write_all(sequences, stems, [f"interpolation step {i + 1}/{args.steps}" for i in range(args.steps)])
    common.write_midi(common.concatenate(sequences, converter, num_steps), out_dir / "interpolation.mid", args.overwrite)
    writer.write_grid(
        sequences,
        "interpolation",
        labels=labels,
        title=f"{start_path.name} \u2192 {end_path.name} ({args.steps} steps, temperature {args.temperature:g})",
    )
    if writer.synth:
        from keras_musicvae import audio

        audio.render_wav(out_dir / "interpolation.mid", out_dir / "interpolation.wav", writer.synth)
    where = common.describe_path(out_dir)
    common.say(f"wrote {args.steps} interpolation steps to {where}/ (interp_*.mid)")
    common.say(f"all steps in a row: {where}/interpolation.mid; picture: {where}/interpolation.png")
    note = writer.audio_note()
    if note:
        common.say(f"note: {note}")


def _alphas(num_steps):
    from keras_musicvae.evaluation import interpolation_alphas

    return interpolation_alphas(num_steps)


def interpolate(model, converter, start, end, num_steps, temperature, seed=None):
    """Decodes `num_steps` points on the slerp path between two examples.

    Args:
        model: a `MusicVAE`.
        converter: its data converter.
        start, end: `common.Example`s.
        num_steps: points, endpoints included.
        temperature: sampling temperature.

    Returns:
        `(list of NoteSequence, steps per example)`.
    """
    import numpy as np

    from keras_musicvae.evaluation import slerp

    num_steps_per_example = min(start.inputs.shape[0], end.inputs.shape[0])
    pair = np.stack([start.inputs[:num_steps_per_example], end.inputs[:num_steps_per_example]]).astype("float32")
    lengths = np.minimum(np.array([start.length, end.length]), num_steps_per_example)
    controls = None
    if model.control_depth:
        controls = np.stack([start.controls[:num_steps_per_example], end.controls[:num_steps_per_example]])
    mu, _ = model.encode(pair, lengths=lengths, controls=controls)
    z = slerp(mu[0], mu[1], _alphas(num_steps)).astype("float32")
    decode_controls = None if controls is None else controls[0]
    outputs = model.decode(
        z,
        temperature=temperature,
        length=common.decode_length(model, num_steps_per_example),
        seed=seed,
        controls=decode_controls,
    )
    batch_controls = None
    if decode_controls is not None:
        batch_controls = np.broadcast_to(decode_controls[None], (num_steps,) + decode_controls.shape)
    return common.sequences_from_outputs(converter, outputs, batch_controls), outputs.shape[1]
