"""`keras-musicvae encode`: MIDI files -> latent codes (`.npy`)."""

import pathlib

from keras_musicvae.cli import common

EXAMPLES = """
keras-musicvae encode --model runs/mel/preset --input a.mid --output a.npy
keras-musicvae encode --model runs/mel/preset --input midi_folder/ --output codes.npy
keras-musicvae decode --model runs/mel/preset --input codes.npy --output decoded/
"""


def register(subparsers):
    from keras_musicvae.cli.main import add_command

    parser = add_command(
        subparsers,
        "encode",
        help="encode MIDI files to latent codes (.npy)",
        description=(
            "Turns every example the model reads from the input MIDI file(s) into its latent "
            "code (the posterior mean mu) and saves them as one float32 array [N, z_size] in a "
            ".npy file. A CSV next to it (OUTPUT with .csv) says which file and example each row "
            "comes from. Files that cannot be read or give no examples are skipped with a "
            "warning saying why."
        ),
        examples=EXAMPLES,
    )
    common.add_model_option(parser)
    common.add_precision_option(parser)
    parser.add_argument("--input", required=True, nargs="+", help="MIDI file(s) or folder(s)")
    common.add_output_options(parser, help="the .npy file to write")
    parser.add_argument("--sigma", action="store_true", help="also save the posterior sigma (OUTPUT_sigma.npy)")
    parser.set_defaults(run=run)


def run(args):
    import numpy as np

    from keras_musicvae.data import midi_io

    output = pathlib.Path(args.output)
    if output.suffix != ".npy":
        raise common.UsageError(f"--output must end in .npy; got {output}.")
    index_path = output.with_suffix(".csv")
    sigma_path = output.with_name(output.stem + "_sigma.npy")
    plan = common.OutputPlan(args.overwrite)
    plan.add(output)
    plan.add(index_path)
    if args.sigma:
        plan.add(sigma_path)
    plan.check()
    files = []
    for item in args.input:
        common.existing_path(item, "MIDI file or folder")
        try:
            files += midi_io.find_midi_files(item)
        except FileNotFoundError as e:
            raise common.CLIError(str(e)) from None
    if not files:
        raise common.CLIError(f"no MIDI files (*.mid, *.midi) in {', '.join(args.input)}.")

    spec = common.ModelSpec(args.model, args.config)
    converter = spec.converter()
    model = None
    mus, sigmas, rows, skipped = [], [], [], []
    for path in common.progress(files, desc="encoding", unit="file"):
        try:
            tensors, _ = common.examples_of_file(path, converter)
        except common.CLIError as e:
            skipped.append(str(e))
            continue
        model = model or spec.load(dtype=args.precision)
        mu, sigma = encode_tensors(model, tensors)
        mus.append(mu)
        sigmas.append(sigma)
        rows += [(path, i) for i in range(len(mu))]
    for message in skipped:
        common.warn(f"skipped: {message}")
    if not mus:
        raise common.CLIError(f"none of the {len(files)} input file(s) gives an example for this model.")
    mu = np.concatenate(mus).astype("float32")
    common.write_npy(mu, output, args.overwrite)
    lines = ["row,file,example"] + [f"{r},{_csv(path)},{i}" for r, (path, i) in enumerate(rows)]
    common.write_text("\n".join(lines) + "\n", index_path, args.overwrite)
    if args.sigma:
        common.write_npy(np.concatenate(sigmas).astype("float32"), sigma_path, args.overwrite)
    common.say(
        f"encoded {len(mu)} example(s) from {len(files) - len(skipped)} file(s) into "
        f"{common.describe_path(output)} (shape {list(mu.shape)}); rows: {common.describe_path(index_path)}"
    )


def encode_tensors(model, tensors, batch_size=256):
    """`(mu, sigma)` NumPy `[N, z_size]` of a `ConverterTensors`, in batches."""
    import numpy as np

    mus, sigmas = [], []
    for start in range(0, len(tensors), batch_size):
        inputs = np.stack(tensors.inputs[start : start + batch_size]).astype("float32")
        lengths = np.stack(tensors.lengths[start : start + batch_size])
        controls = None
        if model.control_depth:
            controls = np.stack(tensors.controls[start : start + batch_size]).astype("float32")
        mu, sigma = model.encode(inputs, lengths=lengths, controls=controls)
        mus.append(mu)
        sigmas.append(sigma)
    return np.concatenate(mus), np.concatenate(sigmas)


def _csv(text):
    text = str(text)
    if any(c in text for c in ',"\n'):
        return '"' + text.replace('"', '""') + '"'
    return text
