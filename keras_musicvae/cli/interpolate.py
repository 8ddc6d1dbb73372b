"""`keras-musicvae interpolate`: a smooth path between two pieces of music."""

import pathlib

from keras_musicvae.cli import common

EXAMPLES = """
keras-musicvae interpolate --model runs/mel/preset --from a.mid --to b.mid --output interp/
keras-musicvae interpolate --model runs/mel/preset --from a.mid --to b.mid --steps 11 --temperature 0 --output interp/
keras-musicvae interpolate --model runs/mel/preset --from song.mid --from-index 3 --to b.mid --output interp/
keras-musicvae interpolate --model runs/mel/preset --from a.mid --to b.mid --corners c.mid d.mid --steps 5 --output grid/
keras-musicvae interpolate --model chords_preset/ --from a.mid --to b.mid --chords C G --output interp/
"""

# The grid's corners in magenta.js's order (top-left, bottom-left, top-right,
# bottom-right) from the command line's --from A --to B --corners C D, which
# reads as the top row A -> B and the bottom row C -> D.
_GRID_ORDER = (0, 2, 1, 3)


def register(subparsers):
    from keras_musicvae.cli.main import add_command

    parser = add_command(
        subparsers,
        "interpolate",
        help="interpolate between two MIDI files (or four: a grid)",
        description=(
            "Encodes the two inputs, walks the great circle between their latent codes (slerp, "
            "endpoints included) and decodes each step. Writes OUTPUT/interp_01.mid, ... (one per "
            "step), OUTPUT/interpolation.mid (all steps in a row) and OUTPUT/interpolation.png (a "
            "grid, one row per step), with piano rolls and WAVs. An input must give exactly one "
            "example for the model (e.g. one 2-bar melody); when it gives several, they are "
            "written to OUTPUT/from_candidates/ (or to_candidates/, corner_c_candidates/, "
            "corner_d_candidates/) to choose from with --from-index / --to-index / "
            "--corner-indices.\n\n"
            "With --corners C D, a STEPS x STEPS grid between four inputs, as magenta.js's "
            "interpolate with four sequences: the top row goes from A (--from) to B (--to), the "
            "bottom row from C to D, each column from the top row to the bottom one. Writes "
            "OUTPUT/grid_RR_CC.mid (row RR, column CC), OUTPUT/interpolation.mid (the rows one "
            "after another) and OUTPUT/interpolation.png (one row of the picture per grid row).\n\n"
            "Chord-conditioned models read each input's chords (inferred when it has none) and "
            "decode over --from's; with --chords, over the given chords (also used to encode)."
        ),
        examples=EXAMPLES,
    )
    common.add_model_option(parser)
    common.add_precision_option(parser)
    common.add_decode_quantization_option(parser)
    parser.add_argument("--from", dest="start", required=True, metavar="A.mid", help="the start (grid: top-left)")
    parser.add_argument("--to", dest="end", required=True, metavar="B.mid", help="the end (grid: top-right)")
    parser.add_argument("--from-index", type=int, default=None, help="which example of --from to use")
    parser.add_argument("--to-index", type=int, default=None, help="which example of --to to use")
    parser.add_argument(
        "--corners", nargs=2, default=None, metavar=("C.mid", "D.mid"),
        help="two more inputs for a grid: bottom-left and bottom-right",
    )  # fmt: skip
    parser.add_argument(
        "--corner-indices", nargs=2, type=int, default=None, metavar=("I", "J"),
        help="which example of each --corners input to use",
    )  # fmt: skip
    parser.add_argument("--steps", type=common.count(2), default=None,
        help=f"number of steps, endpoints included, 2 to {common.MAX_COUNT} (default 7; grid: "
             "points per side, default 5)")
    common.add_temperature_option(parser, 0.5)
    common.add_seed_option(parser)
    common.add_chords_option(parser)
    common.add_output_options(parser)
    common.add_audio_option(parser)
    parser.set_defaults(run=run)


def run(args):
    quantization = common.decode_quantization_of(args)
    if args.corner_indices is not None and args.corners is None:
        raise common.UsageError("--corner-indices goes with --corners.")
    grid = args.corners is not None
    steps = args.steps or (5 if grid else 7)
    if grid and steps * steps > common.MAX_COUNT:
        raise common.UsageError(
            f"--steps {steps} makes a grid of {steps * steps} pieces; at most {common.MAX_COUNT} "
            f"(--steps {int(common.MAX_COUNT ** 0.5)})."
        )
    requests = _requests(args)
    out_dir = pathlib.Path(args.output)
    spec = common.ModelSpec(args.model, args.config)
    converter = spec.converter()
    chords = common.chord_progression(args, spec, converter, required=False)
    writer_kwargs = spec.writer_kwargs(converter)
    writer = common.MusicWriter(out_dir, overwrite=args.overwrite, audio=not args.no_audio, **writer_kwargs)
    stems = _grid_stems(steps) if grid else common.numbered_stems("interp", steps)
    plan = common.OutputPlan(args.overwrite)
    writer.plan(plan, stems + ["interpolation"])
    plan.check()

    found = common.read_examples(requests, converter)  # every input checked before anything is written
    model = spec.load(dtype=args.precision)
    model.decode_quantization = quantization
    examples = common.pick_examples(requests, found, converter, writer_kwargs)
    if grid:
        rows, num_steps = interpolate_grid(model, converter, examples, steps, args.temperature, args.seed, chords)
        sequences = [s for row in rows for s in row]
        labels = [f"row {i + 1}" for i in range(steps)]
        titles = [f"grid row {r + 1}, column {c + 1} of {steps}" for r in range(steps) for c in range(steps)]
        picture = [common.concatenate(row, converter, num_steps) for row in rows]
        a, b, c, d = (r.path.name for r in requests)
        title = f"top {a} \u2192 {b}, bottom {c} \u2192 {d} ({steps} x {steps}, temperature {args.temperature:g})"
    else:
        sequences, num_steps = interpolate(
            model, converter, examples[0], examples[1], steps, args.temperature, args.seed, chords
        )
        labels = [f"{a:.0%}" for a in _alphas(steps)]
        labels[0], labels[-1] = "start", "end"
        titles = [f"interpolation step {i + 1}/{steps}" for i in range(steps)]
        picture = sequences
        a, b = (r.path.name for r in requests)
        title = f"{a} \u2192 {b} ({steps} steps, temperature {args.temperature:g})"
    writer.write_all(sequences, stems, titles)
    common.write_midi(common.concatenate(sequences, converter, num_steps), out_dir / "interpolation.mid", args.overwrite)
    writer.write_grid(picture, "interpolation", labels=labels, title=title)
    if writer.synth:
        from keras_musicvae import audio

        audio.render_wav(out_dir / "interpolation.mid", out_dir / "interpolation.wav", writer.synth)
    where = common.describe_path(out_dir)
    if grid:
        common.say(f"wrote a {steps} x {steps} interpolation grid to {where}/ (grid_RR_CC.mid: row, column)")
    else:
        common.say(f"wrote {steps} interpolation steps to {where}/ (interp_*.mid)")
    common.say(f"all steps in a row: {where}/interpolation.mid; picture: {where}/interpolation.png")
    note = writer.audio_note()
    if note:
        common.say(f"note: {note}")


def _requests(args):
    """The `ExampleRequest`s of the inputs: --from, --to (and the two --corners)."""
    out_dir = pathlib.Path(args.output)
    paths = [args.start, args.end] + list(args.corners or [])
    paths = [common.existing_file(p, "MIDI file") for p in paths]
    requests = [
        common.ExampleRequest(paths[0], args.from_index, "--from-index", out_dir / "from_candidates"),
        common.ExampleRequest(paths[1], args.to_index, "--to-index", out_dir / "to_candidates"),
    ]
    indices = args.corner_indices or [None, None]
    for path, index, name, which in zip(paths[2:], indices, ("c", "d"), ("first", "second")):
        option = f"the {which} of --corner-indices"
        requests.append(common.ExampleRequest(path, index, option, out_dir / f"corner_{name}_candidates"))
    return requests


def _grid_stems(steps):
    width = max(2, len(str(steps)))
    return [f"grid_{r + 1:0{width}d}_{c + 1:0{width}d}" for r in range(steps) for c in range(steps)]


def _alphas(num_steps):
    from keras_musicvae.evaluation import interpolation_alphas

    return interpolation_alphas(num_steps)


def _inputs(model, examples, chords):
    """`(inputs [N, T, D], lengths, encode controls, decode controls [T, C])` of picked examples."""
    import numpy as np

    num_steps = min(e.inputs.shape[0] for e in examples)
    inputs = np.stack([e.inputs[:num_steps] for e in examples]).astype("float32")
    lengths = np.stack([np.minimum(e.length, num_steps) for e in examples])
    controls = common.chord_controls(model, chords, num_steps)
    if controls is None and model.control_depth:
        controls = np.stack([e.controls[:num_steps] for e in examples])
    return inputs, lengths, controls


def _decoded_controls(controls, num_outputs):
    """The controls the outputs were decoded over, one row per output (None stays None)."""
    import numpy as np

    if controls is None:
        return None
    first = controls if controls.ndim == 2 else controls[0]
    return np.broadcast_to(first[None], (num_outputs,) + first.shape)


def interpolate(model, converter, start, end, num_steps, temperature, seed=None, chords=None):
    """Decodes `num_steps` points on the slerp path between two examples (`model.interpolate`).

    Args:
        model: a `MusicVAE`.
        converter: its data converter.
        start, end: `common.Example`s.
        num_steps: points, endpoints included.
        temperature: sampling temperature.
        chords: a checked chord progression (chord-conditioned models), or None.

    Returns:
        `(list of NoteSequence, steps per example)`.
    """
    inputs, lengths, controls = _inputs(model, [start, end], chords)
    outputs = model.interpolate(
        inputs[0], inputs[1], num_steps=num_steps, temperature=temperature, start_length=lengths[0],
        end_length=lengths[1], controls=controls, seed=seed,
    )  # fmt: skip
    sequences = common.sequences_from_outputs(converter, outputs, _decoded_controls(controls, num_steps))
    return sequences, outputs.shape[1]


def interpolate_grid(model, converter, examples, num_steps, temperature, seed=None, chords=None):
    """Decodes a `num_steps x num_steps` grid between four examples (`model.interpolate_grid`).

    Args:
        examples: the `common.Example`s of A (top-left), B (top-right), C
            (bottom-left), D (bottom-right).

    Returns:
        `(rows: a list of lists of NoteSequence, steps per example)`.
    """
    ordered = [examples[i] for i in _GRID_ORDER]
    inputs, lengths, controls = _inputs(model, ordered, chords)
    grid = model.interpolate_grid(
        inputs, num_steps, temperature, lengths=lengths, controls=controls, seed=seed
    )
    flat = grid.reshape((-1,) + grid.shape[2:])
    sequences = common.sequences_from_outputs(converter, flat, _decoded_controls(controls, len(flat)))
    rows = [sequences[i : i + num_steps] for i in range(0, len(sequences), num_steps)]
    return rows, grid.shape[2]
