"""CPU-scale reproduction of the paper's Table 1 (16-bar melody rows), Fig. 3 and Fig. 4.

Trains a flat and a hierarchical 16-bar melody MusicVAE of the same reduced
size (bidirectional encoder 256, two-layer decoder 256 (+ conductor 256 for the
hierarchical one), z 128; free bits 256 and beta 0.2 as the 16-bar presets)
with the same steps, batch and data on the real corpus'
`melody/train` folder, then evaluates both on a fixed, seeded subset of
`melody/eval` with `keras_musicvae.evaluation.run.evaluate_model`:
reconstruction accuracy (teacher-forced and sampled), the interpolation study
(Fig. 3) and attribute vectors (Fig. 4).

Usage (from the repository root):

    KERAS_BACKEND=jax python tools/reproduce_paper.py --measure-steps 5
    KERAS_BACKEND=jax nohup python tools/reproduce_paper.py --steps 1000 \\
        > runs/reproduction.log 2>&1 &

At the paper's scale, on a GPU machine, one command (the presets' full sizes,
batch 512, 100k steps; it prints the batch, the steps and a time estimate
from a few measured steps before training):

    KERAS_BACKEND=jax python tools/reproduce_paper.py --paper-scale --precision mixed_bfloat16

The run is resumable: training checkpoints every `--checkpoint-every` steps
to `WORK_DIR/<model>/checkpoints/`, and running the same command again
continues where it stopped (a finished model is not trained again).

Writes:
    RESULTS_DIR/reproduction.json       Table 1 figures, settings, wall times
    RESULTS_DIR/fig3_interpolation.png  flat vs hierarchical vs data (Fig. 3)
    RESULTS_DIR/fig4_attributes.png     percent-change heat maps of both models (Fig. 4)
    RESULTS_DIR/<model>/evaluation.json (+ interpolation.png, attribute_changes.png):
                                        each model's full evaluation
    RESULTS_DIR/training_<model>.csv     the training log (held-out accuracy
                                         every `--checkpoint-every` steps)
"""

import argparse
import json
import os
import pathlib
import platform
import shutil
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "jax")

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

DEFAULT_CORPUS = REPO.parent / "shared" / "data" / "corpus" / "melody"

# The two models: same sizes for a fair comparison.
SHARED_OVERRIDES = {"enc_rnn_size": [256], "dec_rnn_size": [256, 256], "z_size": 128}
CPU_SCALE = {"steps": 1000, "batch_size": 32, "checkpoint_every": 100}
PAPER_SCALE = {"steps": 100000, "batch_size": 512, "checkpoint_every": 1000}
MODELS = {
    "flat": "flat_mel_16bar",
    "hierarchical": "hierdec_mel_16bar",
}

# Table 1 of the paper, 16-bar melody rows (temperature 1.0).
PAPER_TABLE1 = {
    "flat": {"teacher_forced_accuracy": 0.883, "sampled_accuracy": 0.620},
    "hierarchical": {"teacher_forced_accuracy": 0.919, "sampled_accuracy": 0.812},
}
PAPER_SETTINGS = {
    "steps": 100000,
    "batch_size": 512,
    "enc_rnn_size": [2048, 2048],
    "dec_rnn_size": {"flat": [2048, 2048, 2048], "hierarchical": [1024, 1024]},
    "z_size": 512,
    "training_data": "about 1.5 million unique MIDI files collected from the web (paper Sec. 5)",
}


def say(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default=str(DEFAULT_CORPUS), help="folder with train/ and eval/ MIDI folders")
    parser.add_argument("--work-dir", default=str(REPO / "runs" / "reproduction"), help="run folders (checkpoints)")
    parser.add_argument("--results-dir", default=str(REPO / "docs" / "results"), help="where JSON and PNGs go")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--paper-scale", action="store_true",
                        help="the presets' full sizes, batch 512 and 100k steps (a GPU run; see the usage)")
    parser.add_argument("--steps", type=int, default=None,
                        help="training steps of each model (default 1000; --paper-scale: 100000)")
    parser.add_argument("--batch-size", type=int, default=None, help="default 32 (--paper-scale: 512)")
    parser.add_argument("--checkpoint-every", type=int, default=None,
                        help="steps between checkpoints/evaluations (default 100; --paper-scale: 1000)")
    parser.add_argument("--precision", default="float32", choices=["float32", "mixed_bfloat16", "mixed_float16"],
                        help="Keras dtype policy of training (mixed_* for GPUs)")
    parser.add_argument("--eval-examples", type=int, default=256, help="held-out examples (fixed, seeded subset)")
    parser.add_argument("--train-eval-examples", type=int, default=64,
                        help="held-out examples for the sampled accuracy logged during training")
    parser.add_argument("--interpolation-pairs", type=int, default=128)
    parser.add_argument("--attribute-examples", type=int, default=2048,
                        help="training examples whose mu give the attribute vectors")
    parser.add_argument("--attribute-samples", type=int, default=256, help="prior samples of Fig. 4")
    parser.add_argument("--eval-batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--measure-steps", type=int, default=0,
                        help="only time this many training steps of each model and print an estimate")
    parser.add_argument("--skip-evaluation", action="store_true", help="train only")
    args = parser.parse_args(argv)
    scale = PAPER_SCALE if args.paper_scale else CPU_SCALE
    for key, value in scale.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def size_overrides(args):
    """The model-size changes of this run: none at the paper's scale."""
    return {} if args.paper_scale else dict(SHARED_OVERRIDES)


# ------------------------------------------------------------------- data
def load_data(args):
    """Converts the corpus once: training examples and the held-out subset.

    Returns:
        dict with `converter`, `train_dir`, `train` (ConverterTensors, the
        per-file cap applied with a seeded random choice), `heldout` (dict of
        NumPy arrays, `--eval-examples` examples), and counts.
    """
    import numpy as np

    from keras_musicvae.data import converter_for_preset
    from keras_musicvae.data.pipeline import convert_midi_files

    corpus = pathlib.Path(args.corpus)
    train_dir, eval_dir = corpus / "train", corpus / "eval"
    for folder in (train_dir, eval_dir):
        if not folder.is_dir():
            raise SystemExit(f"error: {folder} does not exist (see --corpus).")
    # Both presets use the same 16-bar melody converter.
    converter = converter_for_preset(MODELS["hierarchical"], mode="train", seed=args.seed)
    train, train_stats = convert_midi_files(str(train_dir), converter, progress=False)
    heldout_all, eval_stats = convert_midi_files(str(eval_dir), converter, progress=False)
    say(f"training data: {train_stats}".replace("\n", "\n    "))
    say(f"held-out data: {eval_stats}".replace("\n", "\n    "))
    rng = np.random.default_rng(args.seed)
    count = min(args.eval_examples, len(heldout_all))
    chosen = np.sort(rng.choice(len(heldout_all), count, replace=False))
    heldout = {
        "inputs": np.stack([heldout_all.inputs[i] for i in chosen]).astype("float32"),
        "targets": np.stack([heldout_all.outputs[i] for i in chosen]).astype("float32"),
        "lengths": np.array([heldout_all.lengths[i] for i in chosen], dtype="int32"),
    }
    return {
        "converter": converter,
        "train_dir": str(train_dir),
        "eval_dir": str(eval_dir),
        "train": train,
        "heldout": heldout,
        "counts": {
            "train_files": train_stats.files,
            "train_files_with_examples": train_stats.files_read - train_stats.files_without_examples,
            "train_examples_per_epoch": len(train),
            "train_windows_note": "at most 5 randomly chosen 16-bar windows per file, re-drawn every epoch",
            "eval_files": eval_stats.files,
            "eval_examples_available": len(heldout_all),
            "eval_examples_used": int(count),
        },
    }


def train_dataset(args, data):
    from keras_musicvae.data import pipeline

    return pipeline.make_dataset(
        data["train_dir"],
        data["converter"],
        args.batch_size,
        mode="train",
        repeat=True,
        seed=args.seed,
        progress=False,
    )


# ------------------------------------------------------------------ models
def build_model(kind, args):
    import keras

    from keras_musicvae.models.music_vae import MusicVAE

    keras.utils.set_random_seed(args.seed)
    model = MusicVAE.from_preset(
        MODELS[kind],
        load_weights=False,
        batch_size=args.batch_size,
        name=f"{MODELS[kind]}_{'paper' if args.paper_scale else 'small'}",
        dtype=args.precision,
        **size_overrides(args),
    )
    model.compile()
    return model


def measure(args, data):
    """Times a few training steps of each model; prints a step-count estimate."""
    seconds = {}
    for kind in args.models:
        model = build_model(kind, args)
        dataset = train_dataset(args, data)
        start = time.monotonic()
        model.fit(dataset, steps_per_epoch=2, epochs=1, verbose=0)  # compiles
        compiled = time.monotonic()
        model.fit(dataset, steps_per_epoch=args.measure_steps, epochs=1, verbose=0)
        per_step = (time.monotonic() - compiled) / args.measure_steps
        seconds[kind] = per_step
        say(f"{kind}: compile + 2 steps {compiled - start:.1f} s; {per_step:.2f} s/step "
            f"at batch {args.batch_size}")
    pair = sum(seconds.values())
    say(f"{args.steps} steps of each model at batch {args.batch_size} ({args.precision}): about "
        f"{args.steps * pair / 3600:.1f} h of training in all")
    for hours in (1.5, 2.0):
        say(f"{hours} h of training for both models: about {int(hours * 3600 / pair)} steps each")
    return seconds


class _WallClock:
    """Cumulative training seconds of a run folder (over resumed runs)."""

    def __init__(self, run_dir):
        self.path = pathlib.Path(run_dir) / "wall_time.json"

    def read(self):
        if self.path.exists():
            return json.loads(self.path.read_text())
        return {"training_seconds": 0.0, "sessions": 0}

    def add(self, seconds):
        state = self.read()
        state["training_seconds"] += float(seconds)
        state["sessions"] += 1
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(state, indent=2) + "\n")
        return state


def train_one(kind, args, data):
    """Trains (or resumes) one model; returns `(model, info)`."""
    from keras_musicvae import training
    from keras_musicvae.data import pipeline

    run_dir = pathlib.Path(args.work_dir) / kind
    model = build_model(kind, args)
    heldout = data["heldout"]
    eval_dataset = pipeline.dataset_from_tensors(
        _as_converter_tensors(heldout), args.batch_size, converter=data["converter"],
        shuffle=False, drop_remainder=False,
    )
    small = {k: v[: args.train_eval_examples] for k, v in heldout.items()}
    say(f"{kind}: training {MODELS[kind]} {size_overrides(args) or '(full size)'} ({model.count_params():,} parameters) "
        f"to step {args.steps} in {run_dir}")
    result = training.train(
        model,
        train_dataset(args, data),
        run_dir,
        total_steps=args.steps,
        checkpoint_every=args.checkpoint_every,
        eval_dataset=eval_dataset,
        eval_examples=small,
        tensorboard=False,
        print_fn=lambda line: say(f"{kind}: {line}"),
    )
    clock = _WallClock(run_dir)
    state = clock.add(result.seconds) if result.seconds else clock.read()
    say(f"{kind}: step {result.final_step} ({result.stopped_by}); {result.seconds:.0f} s this session, "
        f"{state['training_seconds']:.0f} s in all")
    preset_dir = run_dir / "preset"
    model.save_to_preset(str(preset_dir), overwrite=True,
                         description=f"CPU-scale reproduction ({kind}), {result.final_step} steps")
    info = {
        "preset": MODELS[kind],
        "overrides": size_overrides(args),
        "parameters": int(model.count_params()),
        "steps": int(result.final_step),
        "training_wall_seconds": round(state["training_seconds"], 1),
        "training_sessions": state["sessions"],
        "final_training_metrics": {k: float(v) for k, v in result.metrics.items()},
        "preset_dir": str(preset_dir),
    }
    return model, info


def _as_converter_tensors(arrays):
    from keras_musicvae.data.converter import ConverterTensors

    n = len(arrays["inputs"])
    return ConverterTensors(
        inputs=list(arrays["inputs"].astype(bool)),
        outputs=list(arrays["targets"].astype(bool)),
        controls=[arrays["inputs"][i][:, :0] for i in range(n)],
        lengths=[int(x) for x in arrays["lengths"]],
    )


# -------------------------------------------------------------- evaluation
def evaluate_all(args, data, models, infos):
    import numpy as np

    from keras_musicvae.evaluation import plot_interpolation_study
    from keras_musicvae.evaluation import write_figures_json
    from keras_musicvae.evaluation.run import evaluate_model

    results_dir = pathlib.Path(args.results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    train_arrays = {
        "inputs": np.stack(data["train"].inputs).astype("float32"),
        "targets": np.stack(data["train"].outputs).astype("float32"),
        "lengths": np.asarray(data["train"].lengths, dtype="int32"),
    }
    from keras_musicvae.evaluation import KneserNeyLanguageModel
    from keras_musicvae.evaluation import tokens_from_one_hot

    # One 5-gram LM for both models (Fig. 3 bottom), fit on the training melodies.
    start = time.monotonic()
    language_model = KneserNeyLanguageModel(order=5, vocab_size=90).fit(
        tokens_from_one_hot(train_arrays["targets"]), train_arrays["lengths"]
    )
    say(f"5-gram Kneser-Ney LM fit on {len(train_arrays['targets'])} training melodies "
        f"in {time.monotonic() - start:.0f} s")
    evaluations = {}
    for kind, model in models.items():
        start = time.monotonic()
        say(f"{kind}: evaluating on {len(data['heldout']['inputs'])} held-out examples")
        evaluations[kind] = evaluate_model(
            model,
            data["heldout"],
            results_dir / kind,
            train_data=train_arrays,
            num_examples=args.eval_examples,
            interpolation_pairs=args.interpolation_pairs,
            attribute_examples=args.attribute_examples,
            attribute_samples=args.attribute_samples,
            batch_size=args.eval_batch_size,
            language_model=language_model,
            seed=args.seed,
            name=kind,
            print_fn=lambda line, kind=kind: say(f"{kind}: {line}"),
        )
        infos[kind]["evaluation_wall_seconds"] = round(time.monotonic() - start, 1)
        log = pathlib.Path(args.work_dir) / kind / "training_log.csv"
        if log.exists():
            shutil.copyfile(log, results_dir / f"training_{kind}.csv")

    # Fig. 3: both models and the data baseline on one plot (same pairs).
    first = evaluations[next(iter(evaluations))]["interpolation"]
    alphas = first["alphas"]
    hamming = {kind: e["interpolation"]["hamming_to_a"]["model"] for kind, e in evaluations.items()}
    hamming["data"] = first["hamming_to_a"]["data"]
    costs = {kind: e["interpolation"]["relative_lm_cost"]["model"] for kind, e in evaluations.items()}
    costs["data"] = first["relative_lm_cost"]["data"]
    fig3 = plot_interpolation_study(results_dir / "fig3_interpolation.png", alphas, hamming, costs)
    # Each model's own Fig. 4 heat map is the one `evaluate_model` wrote.
    fig4 = {"all": plot_fig4(results_dir / "fig4_attributes.png", evaluations)}
    fig4.update({kind: e["files"]["attributes_png"] for kind, e in evaluations.items()})

    import keras

    report = {
        "description": (
            "CPU-scale reproduction of MusicVAE (Roberts et al., ICML 2018) Table 1 (16-bar melody), "
            "Fig. 3 and Fig. 4 with keras_musicvae; see docs/RESULTS.md."
        ),
        "settings": {
            "steps": args.steps,
            "batch_size": args.batch_size,
            "sizes": size_overrides(args) or "the presets' (paper) sizes",
            "precision": args.precision,
            "free_bits": 256,
            "max_beta": 0.2,
            "seed": args.seed,
            "data": {"corpus": args.corpus, **data["counts"]},
            "backend": keras.backend.backend(),
            "keras_version": keras.__version__,
            "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores (shared), {platform.system()}",
            "command": " ".join([pathlib.Path(sys.executable).name] + sys.argv),
        },
        "paper": {"table1_16bar_melody": PAPER_TABLE1, "settings": PAPER_SETTINGS},
        "figures": {
            "fig3": os.path.relpath(fig3, results_dir),
            "fig4": {k: os.path.relpath(v, results_dir) for k, v in fig4.items()},
        },
    }
    for kind, evaluation in evaluations.items():
        reconstruction = evaluation["reconstruction"]
        report[kind] = {
            "teacher_forced_accuracy": reconstruction["teacher_forced_accuracy"],
            "sampled_accuracy": reconstruction["sampled_accuracy"],
            "sampled_argmax_accuracy": reconstruction["argmax_accuracy"],
            "teacher_forced_accuracy_posterior_z": reconstruction["teacher_forced_accuracy_posterior_z"],
            "teacher_forced_minus_sampled": reconstruction["teacher_forced_minus_sampled"],
            "kl_bits": reconstruction.get("kl_bits"),
            "majority_token_accuracy": reconstruction.get("majority_token_accuracy"),
            "interpolation": evaluation["interpolation"],
            "attributes": evaluation["attributes"],
            "model": infos[kind],
            "evaluation_json": os.path.relpath(evaluation["files"]["json"], results_dir),
        }
    path = write_figures_json(report, results_dir / "reproduction.json")
    say(f"wrote {path}")
    for kind in evaluations:
        r = report[kind]
        say(f"{kind}: teacher-forced {r['teacher_forced_accuracy']:.3f}, sampled (T=1) "
            f"{r['sampled_accuracy']:.3f}, argmax {r['sampled_argmax_accuracy']:.3f}")
    return report


def plot_fig4(path, evaluations, limit=100.0):
    """Fig. 4 for every model: rows = models, columns = adding / subtracting.

    The colour scale is clipped at +-`limit` percent (the numbers printed in
    the cells are not).
    """
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from keras_musicvae.evaluation.plots import ATTRIBUTE_LABELS

    kinds = list(evaluations)
    names = evaluations[kinds[0]]["attributes"]["attribute_names"]
    labels = [ATTRIBUTE_LABELS.get(n, n) for n in names]
    figure = Figure(figsize=(11.0, 4.6 * len(kinds)), layout="constrained")
    axes = figure.subplots(len(kinds), 2, squeeze=False)
    image = None
    for row, kind in enumerate(kinds):
        attributes = evaluations[kind]["attributes"]
        for column, key in enumerate(("adding", "subtracting")):
            matrix = np.asarray(attributes[key], dtype=np.float64)
            axis = axes[row, column]
            image = axis.imshow(np.clip(matrix, -limit, limit), cmap="RdBu_r", vmin=-limit, vmax=limit)
            axis.set_xticks(range(len(labels)), labels, rotation=35, ha="right")
            axis.set_yticks(range(len(labels)), labels)
            axis.set_title(f"{kind}: {key} attribute vectors")
            axis.set_xlabel("attribute measured")
            if column == 0:
                axis.set_ylabel("attribute vector applied")
            for (i, j), value in np.ndenumerate(matrix):
                text = "n/a" if not np.isfinite(value) else f"{value:+.0f}%"
                axis.text(j, i, text, ha="center", va="center", fontsize=8)
    figure.colorbar(image, ax=axes.ravel().tolist(), label=f"change (%), clipped at +-{limit:.0f}", shrink=0.6)
    FigureCanvasAgg(figure)
    figure.savefig(str(path), format="png", dpi=110)
    return str(path)


def _devices():
    import keras

    try:
        return keras.distribution.list_devices()
    except Exception:  # a backend without device listing
        return ["cpu"]


def main(argv=None):
    args = parse_args(argv)
    start = time.monotonic()
    import keras

    say(f"backend {keras.backend.backend()}, keras {keras.__version__}")
    say(f"scale: {'the paper' if args.paper_scale else 'CPU'}; batch {args.batch_size}, {args.steps} steps, "
        f"sizes {size_overrides(args) or 'of the presets'}, precision {args.precision}, devices "
        f"{[str(d) for d in _devices()]}")
    data = load_data(args)
    if args.measure_steps:
        measure(args, data)
        return 0
    if args.paper_scale:  # the time estimate first, from a few measured steps
        args.measure_steps = 3
        measure(args, data)
    models, infos = {}, {}
    for kind in args.models:
        models[kind], infos[kind] = train_one(kind, args, data)
    if not args.skip_evaluation:
        evaluate_all(args, data, models, infos)
    say(f"done in {time.monotonic() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
