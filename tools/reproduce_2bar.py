"""CPU-scale reproduction of the paper's Table 1 2-bar rows (melody and drums).

Trains `cat_mel_2bar_small` and `cat_drums_2bar_small` with their published
sizes and settings (bidirectional 512-unit encoder, 2 x 256 decoder, z 256,
beta 0.2, inverse-sigmoid scheduled sampling at rate 1000, Magenta's LSTM
initialisation) on the real corpus' `melody/` and `drums/` folders, each for
at most `--minutes`, then evaluates each on its held-out split with the
paper's protocol (`keras_musicvae.evaluation.evaluate_model`: teacher-forced
and sampled accuracy at temperature 1.0, the interpolation study, attribute
vectors for the melody model) and with Magenta's eval-job definition (z
sampled from the posterior, free-running decoding for scheduled-sampling
configurations).

Usage (from the repository root):

    python tools/reproduce_2bar.py --minutes 120            # both, one after the other
    # or both at once, one core each, then the report:
    taskset -c 0 python tools/reproduce_2bar.py --models melody --skip-evaluation &
    taskset -c 1 python tools/reproduce_2bar.py --models drums --skip-evaluation &
    wait; python tools/reproduce_2bar.py --skip-training

Training is the library's recipe (`keras_musicvae.training.train_model`, as
`keras-musicvae train`): run folders `WORK_DIR/mel` and `WORK_DIR/drums`,
checkpoints and a held-out evaluation every `--checkpoint-every` steps, and
running the command again resumes (for another `--minutes`).

Writes:
    RESULTS_DIR/reproduction_2bar.json    Table 1 figures of both models, the paper's,
                                          Magenta's eval figures, steps and wall times
    RESULTS_DIR/training_2bar.png         held-out accuracy curves with the paper's figures
    RESULTS_DIR/reproduction_2bar/<model>/evaluation.json, interpolation.png,
        attribute_changes.png (melody), training_log.csv: each model's full evaluation
"""

import argparse
import json
import os
import pathlib
import shutil
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")  # the fastest CPU training (benchmarks/README.md)

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

DEFAULT_CORPUS = (
    pathlib.Path(os.environ["KERAS_MUSICVAE_DATA"]) / "corpus"
    if os.environ.get("KERAS_MUSICVAE_DATA")
    else REPO.parent / "shared" / "data" / "corpus"
)

# name -> (preset, corpus folder, run folder)
MODELS = {
    "melody": ("cat_mel_2bar_small", "melody", "mel"),
    "drums": ("cat_drums_2bar_small", "drums", "drums"),
}

# Table 1 of the paper, 2-bar rows (temperature 1.0).
PAPER_TABLE1 = {
    "melody": {"teacher_forced_accuracy": 0.986, "sampled_accuracy": 0.951},
    "drums": {"teacher_forced_accuracy": 0.979, "sampled_accuracy": 0.917},
}
PAPER_SETTINGS = {
    "batch_size": 512,
    "training_data": "about 1.5 million unique MIDI files collected from the web (paper Sec. 5)",
}


def say(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=pathlib.Path, default=DEFAULT_CORPUS,
                        help="folder with melody/{train,eval} and drums/{train,eval} MIDI folders")
    parser.add_argument("--work-dir", type=pathlib.Path, default=REPO / "runs" / "reproduction_2bar",
                        help="run folders (checkpoints, logs)")
    parser.add_argument("--results-dir", type=pathlib.Path, default=REPO / "docs" / "results")
    parser.add_argument("--models", nargs="+", choices=sorted(MODELS), default=sorted(MODELS))
    parser.add_argument("--minutes", type=float, default=120.0, help="training time of each model (this run)")
    parser.add_argument("--steps", type=int, default=100000, help="at most this many steps")
    parser.add_argument("--batch-size", type=int, default=64,
                        help="examples per step (the presets' 512 makes 8x fewer updates per CPU hour)")
    parser.add_argument("--checkpoint-every", type=int, default=500)
    parser.add_argument("--eval-batches", type=int, default=40, help="held-out batches of each training evaluation")
    parser.add_argument("--eval-examples", type=int, default=None,
                        help="held-out examples of the final evaluation (default: all)")
    parser.add_argument("--interpolation-pairs", type=int, default=64)
    parser.add_argument("--attribute-examples", type=int, default=2048)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1, help="MIDI conversion processes")
    parser.add_argument("--skip-training", action="store_true", help="evaluate the runs as they are")
    parser.add_argument("--skip-evaluation", action="store_true", help="train only")
    return parser.parse_args(argv)


def train(name, args):
    from keras_musicvae import training

    preset, folder, run = MODELS[name]
    data = args.corpus / folder
    say(f"{name}: training {preset} for at most {args.minutes:g} min in {args.work_dir / run}")
    result, _ = training.train_model(
        preset,
        data / "train",
        args.work_dir / run,
        eval_data=data / "eval",
        steps=args.steps,
        batch_size=args.batch_size,
        checkpoint_every=args.checkpoint_every,
        eval_batches=args.eval_batches,
        sampled_eval_examples=256,
        time_limit=args.minutes * 60.0,
        seed=args.seed,
        workers=args.workers,
        say=say,
    )
    say(f"{name}: step {result.final_step} ({result.stopped_by}, {result.seconds / 60:.1f} min)")


def training_record(run_dir):
    """Steps, wall time and curve of a run folder, from its files.

    The wall time is the span from the run's start (`run.json`) to its last
    checkpoint, whatever process or session trained it.
    """
    import csv

    rows = list(csv.DictReader(open(run_dir / "training_log.csv")))
    checkpoints = sorted((run_dir / "checkpoints").iterdir())
    start = (run_dir / "run.json").stat().st_mtime
    end = max(path.stat().st_mtime for path in checkpoints) if checkpoints else start
    curve = [
        {
            "step": int(float(row["global_step"])),
            "train_accuracy": float(row["accuracy"]),
            "heldout_teacher_forced_accuracy": float(row["val_accuracy"]),
            # `train`'s sampled accuracy: greedy (argmax) free-running decoding from mu.
            "heldout_sampled_accuracy": float(row["val_sampled_accuracy"]) if row.get("val_sampled_accuracy") else None,
            "sampling_probability": float(row["sampling_probability"]),
            "kl_bits": float(row["kl_bits"]),
        }
        for row in rows
    ]
    return {"steps": curve[-1]["step"] if curve else 0, "wall_minutes": round((end - start) / 60.0, 1),
            "curve": curve}


def evaluate(name, args):
    from keras_musicvae.evaluation.run import evaluate_model

    preset, folder, run = MODELS[name]
    run_dir = args.work_dir / run
    out_dir = args.results_dir / "reproduction_2bar" / name
    say(f"{name}: evaluating {run_dir / 'preset'} on {args.corpus / folder / 'eval'}")
    results = evaluate_model(
        str(run_dir / "preset"),
        args.corpus / folder / "eval",
        out_dir,
        train_data=args.corpus / folder / "train",
        num_examples=args.eval_examples,
        interpolation_pairs=args.interpolation_pairs,
        attribute_examples=args.attribute_examples if name == "melody" else 0,
        seed=args.seed,
        num_workers=args.workers,
        name=f"{preset} ({name})",
        print_fn=say,
    )
    shutil.copyfile(run_dir / "training_log.csv", out_dir / "training_log.csv")
    run_info = json.loads((run_dir / "run.json").read_text())
    reconstruction = results["reconstruction"]
    magenta = reconstruction["magenta_eval"]
    return {
        "preset": preset,
        "teacher_forced_accuracy": reconstruction["teacher_forced_accuracy"],
        "sampled_accuracy": reconstruction["sampled_accuracy"],
        "teacher_forced_minus_sampled": reconstruction["teacher_forced_minus_sampled"],
        "argmax_accuracy": reconstruction["argmax_accuracy"],
        "majority_token_accuracy": reconstruction["majority_token_accuracy"],
        "kl_bits": reconstruction["kl_bits"],
        "magenta_eval": {key: magenta[key] for key in ("accuracy", "loss", "r_loss", "kl_bits", "free_running")},
        "heldout_examples": reconstruction["num_examples"],
        "paper": PAPER_TABLE1[name],
        "batch_size": run_info.get("batch_size"),
        "training": training_record(run_dir),
        "evaluation": str(out_dir.relative_to(args.results_dir) / "evaluation.json"),
    }


def plot_curves(path, report):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [name for name in MODELS if name in report]
    fig, axes = plt.subplots(1, len(names), figsize=(6.5 * len(names), 4.2), squeeze=False)
    for ax, name in zip(axes[0], names):
        curve = report[name]["training"]["curve"]
        steps = [row["step"] for row in curve]
        ax.plot(steps, [row["train_accuracy"] for row in curve], label="training batches", color="0.6")
        ax.plot(steps, [row["heldout_teacher_forced_accuracy"] for row in curve], label="held-out, teacher-forced")
        ax.plot(steps, [row["heldout_sampled_accuracy"] for row in curve], label="held-out, free-running (greedy)")
        final = report[name]
        ax.plot([steps[-1]], [final["teacher_forced_accuracy"]], "o", color="C0",
                label="final evaluation, teacher-forced")
        ax.plot([steps[-1]], [final["sampled_accuracy"]], "o", color="C1", label="final evaluation, sampled (T=1)")
        paper = report[name]["paper"]
        ax.axhline(paper["teacher_forced_accuracy"], color="C0", linestyle="--", linewidth=1,
                   label="paper, teacher-forced")
        ax.axhline(paper["sampled_accuracy"], color="C1", linestyle="--", linewidth=1, label="paper, sampled")
        ax2 = ax.twinx()
        ax2.plot(steps, [row["sampling_probability"] for row in curve], color="C2", linestyle=":", linewidth=1)
        ax2.set_ylim(0, 1)
        ax2.set_ylabel("scheduled-sampling probability (dotted)", color="C2")
        ax.set_title(f"{report[name]['preset']} (batch {report[name]['batch_size']})")
        ax.set_xlabel("step")
        ax.set_ylabel("per-step accuracy")
        ax.set_ylim(0.4, 1.0)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    args = parse_args(argv)
    if not args.skip_training:
        for name in args.models:
            train(name, args)
    if args.skip_evaluation:
        return 0
    args.results_dir.mkdir(parents=True, exist_ok=True)
    json_path = args.results_dir / "reproduction_2bar.json"
    report = json.loads(json_path.read_text()) if json_path.exists() else {}
    for name in args.models:
        report[name] = evaluate(name, args)
    report["settings"] = {
        "backend": os.environ["KERAS_BACKEND"],
        "sample_temperature": 1.0,
        "heldout": "the corpus' eval/ folders, windows drawn as the presets' converters do",
        "paper": PAPER_SETTINGS,
        "command": "python tools/reproduce_2bar.py " + " ".join(argv if argv is not None else sys.argv[1:]),
    }
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    plot_curves(args.results_dir / "training_2bar.png", report)
    for name in args.models:
        row = report[name]
        say(
            f"{name}: teacher-forced {row['teacher_forced_accuracy']:.3f} (paper {row['paper']['teacher_forced_accuracy']}),"
            f" sampled {row['sampled_accuracy']:.3f} (paper {row['paper']['sampled_accuracy']}),"
            f" after {row['training']['steps']} steps / {row['training']['wall_minutes']} min"
        )
    say(f"wrote {json_path} and {args.results_dir / 'training_2bar.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
