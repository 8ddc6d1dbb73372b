"""`keras-musicvae prepare`: a folder of MIDI files -> TFRecords of NoteSequences."""

import json
import os
import pathlib

from keras_musicvae.cli import common

EXAMPLES = """
keras-musicvae prepare --input midi/ --output data/
keras-musicvae prepare --input midi/ --output data/ --preset cat_mel_2bar_small
keras-musicvae prepare --input midi/ --output data/ --eval-fraction 0 --preset hierdec_trio_16bar
keras-musicvae train --preset cat_mel_2bar_small --data data/ --output runs/mel
"""


def register(subparsers):
    from keras_musicvae.cli.main import add_command

    parser = add_command(
        subparsers,
        "prepare",
        help="read a folder of MIDI files into TFRecords for training",
        description=(
            "Reads every MIDI file under --input (recursively), skipping files that cannot be "
            "read (counted by reason), and writes the music as NoteSequences to "
            "OUTPUT/train.tfrecord and OUTPUT/eval.tfrecord (a stable --eval-fraction of the "
            "files, chosen by a hash of their path), with a summary in OUTPUT/prepare.json. "
            "With --preset it also counts the training examples that model would get, and says "
            "why files give none. `train --data OUTPUT` then uses both files."
        ),
        examples=EXAMPLES,
    )
    parser.add_argument("--input", required=True, nargs="+", help="MIDI folder(s) or file(s)")
    common.add_output_options(parser)
    parser.add_argument("--preset", default=None, help="count the examples this model gets from the files")
    parser.add_argument(
        "--eval-fraction", type=float, default=0.1, help="share of files held out for evaluation (default 0.1)"
    )
    parser.add_argument("--workers", type=int, default=None, help="processes counting examples (default: CPUs)")
    parser.set_defaults(run=run)


def run(args):
    from keras_musicvae import training
    from keras_musicvae.data import midi_io

    if not 0 <= args.eval_fraction < 1:
        raise common.UsageError(f"--eval-fraction must be in [0, 1); got {args.eval_fraction}.")
    out_dir = pathlib.Path(args.output)
    plan = common.OutputPlan(args.overwrite)
    for name in ("train.tfrecord", "eval.tfrecord", "prepare.json"):
        plan.add(out_dir / name)
    plan.check()
    converter = None
    if args.preset:
        from keras_musicvae.data import converter_for_preset

        common.resolve_preset(args.preset)
        converter = converter_for_preset(args.preset, mode="eval", max_tensors_per_notesequence=None)

    files = []
    for item in args.input:
        root = pathlib.Path(common.existing_path(item, "MIDI folder or file"))
        base = root if root.is_dir() else root.parent
        files += [(f, base) for f in midi_io.find_midi_files(str(root))]
    if not files:
        raise common.CLIError(f"no MIDI files (*.mid, *.midi) in {', '.join(args.input)}.")

    sequences, failures, failed_names = [], {}, {}
    for path, root in common.progress(files, desc="reading", unit="file"):
        try:
            sequences.append(midi_io.read_midi(path, root=root))
        except midi_io.MidiReadError as e:
            failures[e.reason] = failures.get(e.reason, 0) + 1
            failed_names.setdefault(e.reason, []).append(os.path.relpath(path, root))
    if not sequences:
        raise common.CLIError(
            f"none of the {len(files)} MIDI file(s) could be read: {_counts(failures)}."
        )
    names = [s.filename for s in sequences]
    train_idx, eval_idx = training.split_names(names, args.eval_fraction) if args.eval_fraction else (
        list(range(len(sequences))),
        [],
    )
    counts = {
        "train.tfrecord": _write_tfrecord([sequences[i] for i in train_idx], out_dir / "train.tfrecord", args.overwrite),
        "eval.tfrecord": _write_tfrecord([sequences[i] for i in eval_idx], out_dir / "eval.tfrecord", args.overwrite),
    }
    summary = {
        "input": [str(i) for i in args.input],
        "files": len(files),
        "files_read": len(sequences),
        "files_failed": failures,
        "failed_files": {reason: names[:20] for reason, names in failed_names.items()},
        "train_sequences": counts["train.tfrecord"],
        "eval_sequences": counts["eval.tfrecord"],
    }
    common.say(f"{len(files)} MIDI file(s): {len(sequences)} read, {sum(failures.values())} failed"
               + (f" ({_counts(failures)})" if failures else ""))
    for reason, shown in failed_names.items():
        more = f", ... ({len(shown)} in all)" if len(shown) > 5 else ""
        common.say(f"  {reason}: {', '.join(shown[:5])}{more}")
    common.say(f"wrote {counts['train.tfrecord']} sequence(s) to {common.describe_path(out_dir / 'train.tfrecord')}, "
               f"{counts['eval.tfrecord']} to {common.describe_path(out_dir / 'eval.tfrecord')}")
    if converter is not None:
        summary["preset"] = args.preset
        summary.update(_count_examples(converter, sequences, train_idx, eval_idx, args.workers))
        common.say(
            f"{args.preset}: {summary['train_examples']} training example(s), "
            f"{summary['eval_examples']} held-out example(s); "
            f"{summary['files_without_examples']} file(s) give none"
        )
        for reason, count in sorted(summary["no_example_reasons"].items(), key=lambda kv: -kv[1]):
            common.say(f"  {count:5d} x {reason}")
    common.write_text(json.dumps(summary, indent=2) + "\n", out_dir / "prepare.json", args.overwrite)
    common.say(f"next: keras-musicvae train --preset {args.preset or 'PRESET'} --data {common.describe_path(out_dir)} "
               "--output runs/NAME")


def _counts(counter):
    return ", ".join(f"{n} {reason}" for reason, n in sorted(counter.items(), key=lambda kv: -kv[1]))


def _write_tfrecord(sequences, path, overwrite):
    from keras_musicvae.data import pipeline

    count = [0]

    def write(tmp):
        count[0] = pipeline.write_note_sequences(tmp, sequences)

    common.atomic_write(path, write, overwrite)
    return count[0]


def _count_examples(converter, sequences, train_idx, eval_idx, workers):
    from keras_musicvae.data import pipeline

    out = {"train_examples": 0, "eval_examples": 0, "files_without_examples": 0, "no_example_reasons": {}}
    for key, index in (("train_examples", train_idx), ("eval_examples", eval_idx)):
        if not index:
            continue
        _, stats = pipeline.convert_midi_files(
            [sequences[i] for i in index], converter, num_workers=workers, progress=common.interactive()
        )
        out[key] = stats.examples
        out["files_without_examples"] += stats.files_without_examples
        for reason, count in stats.no_example_reasons.items():
            out["no_example_reasons"][reason] = out["no_example_reasons"].get(reason, 0) + count
    return out
