"""Evaluates a trained MusicVAE as in the paper (Table 1, Fig. 3, Fig. 4).

    python tools/evaluate.py --model runs/mel/preset --data heldout_midi/ --output eval_out/ \\
        [--train-data train_midi/] [--num-examples 256] [--interpolation-pairs 64] \\
        [--sample-temperature 1.0] [--interpolation-temperature 0.5]

Writes OUTPUT/evaluation.json (reconstruction accuracy teacher-forced and
sampled, per stream for trio models; the interpolation study; attribute
vectors for melody models), OUTPUT/interpolation.png (Fig. 3 style) and
OUTPUT/attribute_changes.png (Fig. 4 style). See
`keras_musicvae.evaluation.run.evaluate_model` for the definitions.
"""

import argparse
import json
import os
import pathlib
import sys

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--model", required=True, help="preset folder (e.g. RUN_DIR/preset) or preset name")
    parser.add_argument("--data", required=True, help="held-out MIDI folder/file/glob or TFRecord of NoteSequences")
    parser.add_argument("--output", required=True, help="output folder for the JSON and PNGs")
    parser.add_argument("--train-data", default=None,
                        help="training data for the 5-gram LM and the attribute vectors (default: --data)")
    parser.add_argument("--num-examples", type=int, default=256, help="held-out examples (seeded subset)")
    parser.add_argument("--interpolation-pairs", type=int, default=64, help="0 skips the interpolation study")
    parser.add_argument("--interpolation-steps", type=int, default=11, help="points from A to B, endpoints included")
    parser.add_argument("--sample-temperature", type=float, default=1.0,
                        help="temperature of the sampled reconstruction accuracy (Table 1: 1.0)")
    parser.add_argument("--interpolation-temperature", type=float, default=0.5)
    parser.add_argument("--attribute-examples", type=int, default=2048, help="0 skips the attribute study")
    parser.add_argument("--attribute-samples", type=int, default=256)
    parser.add_argument("--attribute-temperature", type=float, default=0.5)
    parser.add_argument("--lm-order", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name", default=None, help="label of the model in the plots")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    for flag, path in (("--data", args.data), ("--train-data", args.train_data)):
        if path is not None and not any(ch in path for ch in "*?[") and not os.path.exists(path):
            print(f"error: {flag} {path} does not exist.", file=sys.stderr)
            return 2
    from keras_musicvae.evaluation.run import evaluate_model

    try:
        results = evaluate_model(
            args.model,
            args.data,
            args.output,
            train_data=args.train_data,
            num_examples=args.num_examples,
            interpolation_pairs=args.interpolation_pairs,
            interpolation_steps=args.interpolation_steps,
            interpolation_temperature=args.interpolation_temperature,
            sample_temperature=args.sample_temperature,
            attribute_examples=args.attribute_examples,
            attribute_samples=args.attribute_samples,
            attribute_temperature=args.attribute_temperature,
            lm_order=args.lm_order,
            batch_size=args.batch_size,
            seed=args.seed,
            name=args.name,
            print_fn=lambda line: print(line, flush=True),
        )
    except (ValueError, FileNotFoundError, TypeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    summary = {
        key: results["reconstruction"].get(key)
        for key in ("teacher_forced_accuracy", "sampled_accuracy", "argmax_accuracy")
    }
    print(json.dumps(summary, indent=2))
    for kind, path in results["files"].items():
        print(f"wrote {kind}: {path}")
    for study, reason in results["skipped"].items():
        print(f"skipped {study}: {reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
