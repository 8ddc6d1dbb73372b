"""`keras-musicvae attributes`: attribute vectors (paper Sec. 5.5, Appendix C).

`attributes compute` encodes a dataset of melodies, measures the five
attributes of the paper on each example (C diatonic membership, note density,
average interval, 16th- and 8th-note syncopation) and saves, for each, the
mean latent code of the top quartile minus that of the bottom quartile.
`attributes apply` adds or subtracts such vectors to a melody's latent code.
"""

import difflib
import pathlib

from keras_musicvae.cli import common

EXAMPLES = """
keras-musicvae attributes compute --model runs/mel/preset --data midi/ --output vectors.npz
keras-musicvae attributes apply --model runs/mel/preset --vectors vectors.npz --input a.mid --add note_density --output denser/
keras-musicvae attributes apply --model runs/mel/preset --vectors vectors.npz --input a.mid --subtract c_diatonic --amount 1.5 --output less_diatonic/
"""


def register(subparsers):
    from keras_musicvae.cli.main import add_command
    from keras_musicvae.cli.main import wrap_paragraphs

    parser = add_command(
        subparsers,
        "attributes",
        help="compute attribute vectors and apply them to melodies",
        description=__doc__.split("\n\n", 1)[1].strip().replace("`", ""),
        examples=EXAMPLES,
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", title="actions")
    actions.required = True

    compute = actions.add_parser(
        "compute",
        help="compute the five attribute vectors over a dataset",
        description=wrap_paragraphs(
            "Encodes every example of the MIDI files under --data (melody models only), measures "
            "the five attributes of each and saves the attribute vectors (top quartile mean "
            "latent minus bottom quartile mean latent) to a .npz file with arrays 'vectors' "
            "[5, z_size], 'names' [5], 'counts' [5] (examples with a defined value) and "
            "'quartile_means' [5, 2] (bottom and top quartile attribute means)."
        ),
        epilog="example:\n  keras-musicvae attributes compute --model runs/mel/preset --data midi/ --output vectors.npz",
        formatter_class=parser.formatter_class,
    )
    common.add_model_option(compute)
    compute.add_argument("--data", required=True, nargs="+", help="MIDI file(s) or folder(s)")
    common.add_output_options(compute, help="the .npz file to write", overwrite_help="replace an existing file")
    compute.add_argument(
        "--max-per-file", type=int, default=None, help="at most this many examples per file (default: all)"
    )
    compute.set_defaults(run=run_compute)

    apply = actions.add_parser(
        "apply",
        help="add or subtract attribute vectors to a melody",
        description=wrap_paragraphs(
            "Encodes the input, adds AMOUNT x (sum of --add vectors - sum of --subtract vectors) "
            "to its latent code and decodes. Writes OUTPUT/original.mid (decoded from the "
            "unchanged code), OUTPUT/modified.mid and OUTPUT/attributes.png, and prints the "
            "attributes of both. Attribute names: c_diatonic, note_density, average_interval, "
            "syncopation_16th, syncopation_8th."
        ),
        epilog=(
            "example:\n  keras-musicvae attributes apply --model runs/mel/preset --vectors vectors.npz "
            "--input a.mid --add note_density --output denser/"
        ),
        formatter_class=parser.formatter_class,
    )
    common.add_model_option(apply)
    apply.add_argument("--vectors", required=True, help="the .npz written by `attributes compute`")
    apply.add_argument("--input", required=True, metavar="A.mid", help="the melody to change")
    apply.add_argument("--index", type=int, default=None, help="which example of the input to use")
    apply.add_argument("--add", action="append", default=[], metavar="NAME", help="attribute to add (repeatable)")
    apply.add_argument(
        "--subtract", action="append", default=[], metavar="NAME", help="attribute to subtract (repeatable)"
    )
    apply.add_argument("--amount", type=float, default=1.0, help="scale of the vectors (default 1.0)")
    common.add_temperature_option(apply, 0.0)
    common.add_seed_option(apply)
    common.add_output_options(apply)
    common.add_audio_option(apply)
    apply.set_defaults(run=run_apply)


def _check_melody_model(converter):
    from keras_musicvae.data.melody import MelodyConverter

    if not isinstance(converter, MelodyConverter):
        raise common.UsageError(
            "attribute vectors are defined for melody models (the paper's five melody "
            f"attributes); this model reads data with {type(converter).__name__}."
        )


def _tokens(outputs):
    """Melody class indices `[N, T]` from one-hot `[N, T, 90]`."""
    from keras_musicvae.evaluation import tokens_from_one_hot

    return tokens_from_one_hot(outputs)


def run_compute(args):
    import numpy as np

    from keras_musicvae.cli.encode import encode_tensors
    from keras_musicvae.data import midi_io
    from keras_musicvae.evaluation import ATTRIBUTE_NAMES
    from keras_musicvae.evaluation import attribute_vectors
    from keras_musicvae.evaluation import melody_attributes

    output = pathlib.Path(args.output)
    if output.suffix != ".npz":
        raise common.UsageError(f"--output must end in .npz; got {output}.")
    common.check_can_write(output, args.overwrite)
    files = []
    for item in args.data:
        common.existing_path(item, "MIDI file or folder")
        files += midi_io.find_midi_files(item)
    if not files:
        raise common.CLIError(f"no MIDI files (*.mid, *.midi) in {', '.join(args.data)}.")
    spec = common.ModelSpec(args.model, args.config)
    converter = spec.converter()
    _check_melody_model(converter)
    if args.max_per_file:
        converter.max_tensors_per_notesequence = args.max_per_file
    model = spec.load()
    mus, values, skipped = [], [], 0
    for path in common.progress(files, desc="encoding", unit="file"):
        try:
            tensors, _ = common.examples_of_file(path, converter)
        except common.CLIError:
            skipped += 1
            continue
        mu, _ = encode_tensors(model, tensors)
        mus.append(mu)
        values.append(
            melody_attributes(
                _tokens(np.stack(tensors.outputs)), np.array(tensors.lengths), min_pitch=converter.min_pitch
            )
        )
    if not mus:
        raise common.CLIError(f"none of the {len(files)} file(s) gives a melody for this model.")
    z = np.concatenate(mus)
    values = np.concatenate(values)
    try:
        vectors = attribute_vectors(z, values)
    except ValueError as e:
        raise common.CLIError(f"too few examples for quartiles: {e}") from None
    counts = np.sum(~np.isnan(values), axis=0)
    quartile_means = np.zeros((len(ATTRIBUTE_NAMES), 2))
    for a in range(len(ATTRIBUTE_NAMES)):
        column = values[:, a]
        valid = np.sort(column[~np.isnan(column)])
        quarters = np.array_split(valid, 4)
        quartile_means[a] = [quarters[0].mean(), quarters[-1].mean()]

    def write(tmp):
        with open(tmp, "wb") as f:
            np.savez(
                f,
                vectors=vectors.astype("float32"),
                names=np.array(ATTRIBUTE_NAMES),
                counts=counts,
                quartile_means=quartile_means,
                z_size=np.array(model.z_size),
            )

    common.atomic_write(output, write, args.overwrite)
    common.say(f"attribute vectors from {len(z)} example(s) of {len(files) - skipped} file(s) "
               f"({skipped} gave none): {common.describe_path(output)}")
    for name, vector, (low, high) in zip(ATTRIBUTE_NAMES, vectors, quartile_means):
        common.say(f"  {name:<17} |v| = {np.linalg.norm(vector):7.3f}   bottom quartile {low:7.3f}, top {high:7.3f}")


def _resolve_names(names, known, option):
    out = []
    for name in names:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=2, cutoff=0.4)
            hint = f" Did you mean {' or '.join(close)}?" if close else ""
            raise common.UsageError(f"{option} {name!r}: unknown attribute.{hint} Known: {', '.join(known)}.")
        out.append(known.index(name))
    return out


def run_apply(args):
    import numpy as np

    from keras_musicvae.evaluation import ATTRIBUTE_NAMES
    from keras_musicvae.evaluation import melody_attributes

    if not args.add and not args.subtract:
        raise common.UsageError("name at least one attribute with --add NAME or --subtract NAME.")
    vectors_path = common.existing_file(args.vectors, ".npz file")
    try:
        with np.load(vectors_path, allow_pickle=False) as data:
            vectors = data["vectors"]
            names = [str(n) for n in data["names"]]
    except (KeyError, ValueError, OSError) as e:
        raise common.CLIError(
            f"{vectors_path}: not an attribute-vector file from `attributes compute` ({e})."
        ) from None
    add = _resolve_names(args.add, names, "--add")
    subtract = _resolve_names(args.subtract, names, "--subtract")
    input_path = common.existing_file(args.input, "MIDI file")
    out_dir = pathlib.Path(args.output)
    spec = common.ModelSpec(args.model, args.config)
    if vectors.shape[-1] != spec.z_size:
        raise common.CLIError(
            f"{vectors_path}: vectors have size {vectors.shape[-1]}, this model's latent size is {spec.z_size}."
        )
    converter = spec.converter()
    _check_melody_model(converter)
    writer_kwargs = spec.writer_kwargs(converter)
    writer = common.MusicWriter(out_dir, overwrite=args.overwrite, audio=not args.no_audio, **writer_kwargs)
    plan = common.OutputPlan(args.overwrite)
    writer.plan(plan, ["original", "modified", "attributes"])
    plan.check()
    requests = [common.ExampleRequest(input_path, args.index, "--index", out_dir / "candidates")]
    found = common.read_examples(requests, converter)
    model = spec.load()
    (example,) = common.pick_examples(requests, found, converter, writer_kwargs)
    mu, _ = model.encode(example.inputs[None], lengths=np.array([example.length]))
    shift = sum((vectors[i] for i in add), np.zeros(model.z_size)) - sum(
        (vectors[i] for i in subtract), np.zeros(model.z_size)
    )
    z = np.stack([mu[0], mu[0] + args.amount * shift]).astype("float32")
    outputs = model.decode(
        z,
        temperature=args.temperature,
        length=common.decode_length(model, example.inputs.shape[0]),
        seed=args.seed,
    )
    original, modified = converter.from_tensors(outputs)
    change = " ".join([f"+{names[i]}" for i in add] + [f"-{names[i]}" for i in subtract])
    writer.write(original, "original", title=f"{input_path.name}, decoded")
    writer.write(modified, "modified", title=f"{input_path.name}, {change} x {args.amount:g}")
    writer.write_grid([original, modified], "attributes", labels=["original", "modified"], title=change)
    before, after = melody_attributes(_tokens(outputs), min_pitch=converter.min_pitch)
    where = common.describe_path(out_dir)
    common.say(f"wrote {where}/original.mid and {where}/modified.mid ({change} x {args.amount:g})")
    common.say(f"  {'attribute':<17} {'original':>9} {'modified':>9}")
    for name, a, b in zip(ATTRIBUTE_NAMES, before, after):
        common.say(f"  {name:<17} {a:9.3f} {b:9.3f}")
