"""`keras-musicvae evaluate`: the paper's evaluation of a trained model.

Table 1 (reconstruction accuracy, teacher-forced and sampled, per stream for
trio models), Fig. 3 (interpolations scored by Hamming distance and a 5-gram
Kneser-Ney language model) and Fig. 4 (attribute vectors). The computation is
`keras_musicvae.evaluation.run.evaluate_model`; this module is its command
line (`tools/evaluate.py` runs it too).
"""

import json
import pathlib

from keras_musicvae.cli import common

EXAMPLES = """
keras-musicvae evaluate --model runs/mel16/preset --data heldout/ --train-data train/ --output eval/
keras-musicvae evaluate --model runs/trio/preset --data heldout/ --output eval/ --num-examples 512
keras-musicvae evaluate --model runs/mel/preset --data heldout/ --output eval/ --interpolation-pairs 0
"""


def register(subparsers):
    from keras_musicvae.cli.main import add_command

    parser = add_command(
        subparsers,
        "evaluate",
        help="evaluate a model as in the paper (Table 1, Fig. 3, Fig. 4)",
        description=(
            "Measures a trained model on held-out MIDI data the way the MusicVAE paper does: "
            "per-step reconstruction accuracy with teacher forcing and with free sampling "
            "(Table 1; per stream for trio models), the interpolation study of Fig. 3 "
            "(Hamming distance to A and relative cost under a 5-gram Kneser-Ney language model "
            "fit on --train-data, against Bernoulli mixing of A and B) and, for melody models, "
            "the attribute vectors of Fig. 4.\n\n"
            "Writes OUTPUT/evaluation.json (every figure and setting), OUTPUT/interpolation.png "
            "and OUTPUT/attribute_changes.png. Files that cannot be read are skipped and counted."
        ),
        examples=EXAMPLES,
        backend_option=True,
    )
    common.add_model_option(
        parser,
        help="preset folder (e.g. RUN_DIR/preset), name or alias, or a Magenta checkpoint (with --config; "
        "converted once and cached)",
    )
    parser.add_argument("--data", required=True,
                        help="held-out MIDI folder, file or glob, or a TFRecord of NoteSequences")
    parser.add_argument("--output", required=True, help="output folder for the JSON and the PNGs")
    parser.add_argument("--train-data", default=None,
                        help="training data for the language model and the attribute vectors "
                             "(default: --data)")
    parser.add_argument("--num-examples", type=int, default=256,
                        help="held-out examples, a seeded subset (default 256)")
    parser.add_argument("--interpolation-pairs", type=int, default=64,
                        help="pairs of Fig. 3; 0 skips the interpolation study (default 64)")
    parser.add_argument("--interpolation-steps", type=common.count(1), default=11,
                        help="points from A to B, endpoints included (default 11)")
    parser.add_argument("--sample-temperature", type=common.temperature, default=1.0,
                        help="temperature of the sampled accuracy (Table 1: 1.0; argmax is reported too)")
    parser.add_argument("--interpolation-temperature", type=common.temperature, default=0.5,
                        help="decoding temperature of the interpolations (default 0.5)")
    parser.add_argument("--attribute-examples", type=int, default=2048,
                        help="training examples that give the attribute vectors; 0 skips Fig. 4 "
                             "(default 2048)")
    parser.add_argument("--attribute-samples", type=int, default=256,
                        help="prior samples the attribute vectors are applied to (default 256)")
    parser.add_argument("--attribute-temperature", type=common.temperature, default=0.5,
                        help="decoding temperature of the attribute study (default 0.5)")
    parser.add_argument("--lm-order", type=int, default=5, help="n-gram order of the language model (default 5)")
    parser.add_argument("--batch-size", type=int, default=64, help="examples per model call (default 64)")
    parser.add_argument("--seed", type=common.seed, default=0, help="seed of every random choice (default 0)")
    parser.add_argument("--name", default=None, help="the model's label in the plots")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier evaluation in OUTPUT")
    parser.set_defaults(run=run)


def run(args):
    for flag in ("num_examples", "batch_size", "lm_order"):
        if getattr(args, flag) < 1:
            raise common.UsageError(f"--{flag.replace('_', '-')} must be at least 1; got {getattr(args, flag)}.")
    for flag in ("interpolation_pairs", "attribute_examples", "attribute_samples"):
        if getattr(args, flag) < 0:
            raise common.UsageError(f"--{flag.replace('_', '-')} must be >= 0; got {getattr(args, flag)}.")
    for flag, path in (("--data", args.data), ("--train-data", args.train_data)):
        if path is not None and not any(ch in path for ch in "*?["):
            common.existing_path(path, f"{flag} data")

    from keras_musicvae.convert import cache
    from keras_musicvae.evaluation import run as evaluation

    out_dir = pathlib.Path(args.output)
    plan = common.OutputPlan(args.overwrite)
    for name in (evaluation.EVALUATION_JSON, evaluation.INTERPOLATION_PNG, evaluation.ATTRIBUTES_PNG):
        plan.add(out_dir / name)
    plan.check()

    model = args.model
    if args.config is not None or cache.checkpoint_kind(args.model):
        model = str(common.model_folder(args.model, args.config))  # a Magenta checkpoint: converted, cached
    results = evaluation.evaluate_model(
        model,
        args.data,
        out_dir,
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
        print_fn=common.say,
    )
    reconstruction = results["reconstruction"]
    summary = {
        key: reconstruction.get(key)
        for key in ("teacher_forced_accuracy", "sampled_accuracy", "argmax_accuracy")
    }
    common.say(json.dumps(summary, indent=2))
    for kind, path in results["files"].items():
        common.say(f"wrote {kind}: {path}")
    for study, reason in results["skipped"].items():
        common.say(f"skipped {study}: {reason}")
