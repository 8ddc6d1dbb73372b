"""`keras-musicvae train`: trains a model on MIDI files, resumable."""

import pathlib
import shutil

from keras_musicvae.cli import common

EXAMPLES = """
keras-musicvae train --preset cat_mel_2bar_small --data midi/ --output runs/mel
keras-musicvae train --preset cat_mel_2bar_small --data data/ --output runs/mel --steps 50000 --batch-size 128
keras-musicvae train --preset cat_mel_2bar_small --data midi/ --output runs/tiny \\
    --hparams 'enc_rnn_size=[64],dec_rnn_size=[64],z_size=16' --steps 2000 --checkpoint-every 200
keras-musicvae train --preset cat_drums_2bar_small --data drums/ --eval-data drums_eval/ --output runs/drums --backend jax
# interrupted? run the same command again: it resumes from RUN_DIR/checkpoints
keras-musicvae train --output demo_output/run --steps 6000    # continue a run (its model and data)
"""


def register(subparsers):
    from keras_musicvae.cli.main import add_command

    parser = add_command(
        subparsers,
        "train",
        help="train a model on MIDI files (resumes automatically)",
        description=(
            "Trains the model of --preset (with --hparams changes) on --data: a folder written "
            "by `prepare`, a TFRecord of NoteSequences, or MIDI files / folders. Every "
            "--checkpoint-every steps it evaluates on the held-out set (--eval-data, else a "
            "stable 10% of --data; teacher-forced and sampled accuracy), writes a checkpoint to "
            "RUN_DIR/checkpoints/, a row to RUN_DIR/training_log.csv and TensorBoard logs to "
            "RUN_DIR/logs/. At the end the model is saved as the preset RUN_DIR/preset/ (use "
            "it as --model). Running the same command again on RUN_DIR resumes from the last "
            "checkpoint: weights, optimizer state and step."
        ),
        examples=EXAMPLES,
        backend_option=True,
    )
    parser.add_argument(
        "--preset",
        default=None,
        help="the model to train (see `keras-musicvae presets`); resuming: default the run's model",
    )
    parser.add_argument(
        "--data",
        default=None,
        help="prepared data folder, TFRecord, or MIDI files/folder; resuming: default the run's data",
    )
    parser.add_argument("--output", required=True, metavar="RUN_DIR", help="run folder (resumed when it holds a run)")
    parser.add_argument(
        "--steps", type=int, default=None, help="train until this step (default 10000, or the run's)"
    )
    parser.add_argument(
        "--batch-size", type=int, default=None, help="examples per step (default: the preset's, e.g. 512)"
    )
    parser.add_argument(
        "--hparams", default="", help="hyperparameter changes, k=v,... with JSON values, e.g. z_size=16"
    )
    parser.add_argument("--eval-data", default=None, help="held-out data (default: 10%% of --data)")
    parser.add_argument(
        "--eval-fraction", type=float, default=0.1, help="share of --data held out without --eval-data"
    )
    parser.add_argument(
        "--eval-batches", type=int, default=None, help="evaluate on at most this many batches (default all)"
    )
    parser.add_argument(
        "--sampled-eval-examples",
        type=int,
        default=512,
        help="held-out examples for the sampled accuracy (default 512; 0 to skip)",
    )
    parser.add_argument(
        "--checkpoint-every",
        type=int,
        default=None,
        help="steps between checkpoints and evaluations (default 1000, or the run's)",
    )
    parser.add_argument("--max-minutes", type=float, default=None, help="stop (with a checkpoint) after this long")
    parser.add_argument(
        "--no-augment", action="store_true", default=None, help="no transposition augmentation"
    )
    parser.add_argument("--seed", type=common.seed, default=None, help="random seed of the data pipeline and weights")
    parser.add_argument("--workers", type=int, default=None, help="data conversion processes (default: CPUs)")
    parser.add_argument("--overwrite", action="store_true", help="start over, deleting the run in RUN_DIR")
    parser.set_defaults(run=run)


def run(args):
    from keras_musicvae import training

    for name in ("steps", "checkpoint_every"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise common.UsageError(f"--{name.replace('_', '-')} must be at least 1; got {value}.")
    if args.batch_size is not None and args.batch_size < 1:
        raise common.UsageError(f"--batch-size must be at least 1; got {args.batch_size}.")
    if not 0 <= args.eval_fraction < 1:
        raise common.UsageError(f"--eval-fraction must be in [0, 1); got {args.eval_fraction}.")
    run_dir = common.check_output_folder(args.output)
    previous = None
    if not args.overwrite and run_dir.is_dir():
        try:
            previous = training.read_run_config(run_dir)
        except ValueError as e:
            raise common.CLIError(str(e)) from None
    resumed = previous or {}  # the run's settings, the defaults of what is not given
    model_config = None
    if args.preset is None:
        if previous is None:
            raise common.UsageError(f"--preset is required: {run_dir} holds no run to resume.")
        if args.hparams:
            raise common.UsageError("--hparams needs --preset (the run's model is resumed as it is).")
        model_config = previous["model_config"]
    data = args.data if args.data is not None else resumed.get("data")
    if data is None:
        raise common.UsageError(f"--data is required: {run_dir} holds no run to resume.")
    eval_data = args.eval_data
    if eval_data is None and args.data is None:
        eval_data = resumed.get("eval_data")
    common.existing_path(data, "data file or folder")
    if eval_data is not None:
        common.existing_path(eval_data, "data file or folder")
    augment = not args.no_augment if args.no_augment is not None else resumed.get("augment", True)
    options = TrainOptions(
        preset=args.preset or resumed.get("preset"),
        hparams=common.parse_hparams(args.hparams),
        data=data,
        eval_data=eval_data,
        eval_fraction=args.eval_fraction,
        steps=args.steps or resumed.get("steps") or 10000,
        batch_size=args.batch_size,
        checkpoint_every=args.checkpoint_every or resumed.get("checkpoint_every") or 1000,
        eval_batches=args.eval_batches,
        sampled_eval_examples=args.sampled_eval_examples,
        time_limit=None if args.max_minutes is None else 60.0 * args.max_minutes,
        augment=augment,
        seed=args.seed,
        workers=args.workers,
        overwrite=args.overwrite,
        model_config=model_config,
    )
    run_training(run_dir, options)


class TrainOptions:
    """The options of a training run (the `train` command's arguments)."""

    def __init__(self, preset, data, steps, hparams=None, eval_data=None, eval_fraction=0.1, batch_size=None,
                 checkpoint_every=1000, eval_batches=None, sampled_eval_examples=512, time_limit=None,
                 augment=True, seed=None, workers=None, overwrite=False, converter_overrides=None,
                 eval_max_per_file="converter", model_config=None):
        self.preset = preset
        self.data = data
        self.steps = steps
        self.hparams = hparams or {}
        self.eval_data = eval_data
        self.eval_fraction = eval_fraction
        self.batch_size = batch_size
        self.checkpoint_every = checkpoint_every
        self.eval_batches = eval_batches
        self.sampled_eval_examples = sampled_eval_examples
        self.time_limit = time_limit
        self.augment = augment
        self.seed = seed
        self.workers = workers
        self.overwrite = overwrite
        self.converter_overrides = converter_overrides or {}
        # "converter": the converter's own per-file cap; None: every example; or an int.
        self.eval_max_per_file = eval_max_per_file
        # A full model config (resuming a run as it is) instead of preset + hparams.
        self.model_config = model_config


def _prepare_run_dir(run_dir, model_config, options):
    """Checks RUN_DIR: empty, or a run of the same model (resumed); `--overwrite` clears it."""
    from keras_musicvae import training

    if run_dir.exists() and not run_dir.is_dir():
        raise common.CLIError(f"{run_dir} is a file, not a run folder.")
    if options.overwrite and run_dir.exists():
        for name in training.RUN_FILES:
            target = run_dir / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    previous = training.read_run_config(run_dir) if run_dir.exists() else None
    if previous is None:
        if run_dir.exists() and any(run_dir.iterdir()):
            raise common.OutputExistsError(
                f"{run_dir} is not empty and holds no training run; choose another --output "
                "(or pass --overwrite to use it anyway)."
            )
        return None
    old = previous.get("model_config", {})
    differences = sorted(k for k in set(old) | set(model_config) if old.get(k) != model_config.get(k) and k != "name")
    if differences:
        shown = ", ".join(f"{k} ({old.get(k)!r} there, {model_config.get(k)!r} now)" for k in differences[:3])
        raise common.UsageError(
            f"{run_dir} holds a run of a different model: {shown}. Resume it with the same --preset and "
            "--hparams, choose another --output, or pass --overwrite to start over."
        )
    return previous


def run_training(run_dir, options, print_fn=None):
    """Builds the model and data of `options` and trains in `run_dir` (resuming).

    Returns:
        `(training.TrainingResult, model)`.
    """
    import keras

    from keras_musicvae import training
    from keras_musicvae.data import pipeline
    from keras_musicvae.data.converter import converter_from_config
    from keras_musicvae.data.augment import NoteSequenceAugmenter

    say = print_fn or common.say
    run_dir = pathlib.Path(run_dir)
    if options.seed is not None:
        keras.utils.set_random_seed(options.seed)
    overrides = dict(options.hparams)
    if options.converter_overrides:
        base = overrides.get("converter") or _preset_converter_config(options.preset)
        overrides["converter"] = {
            "class_name": base["class_name"],
            "config": {**base["config"], **options.converter_overrides},
        }
    if options.model_config is not None:
        from keras_musicvae.models.music_vae import MusicVAE

        try:
            model = MusicVAE.from_config(dict(options.model_config))
        except (TypeError, ValueError) as e:
            raise common.CLIError(f"{run_dir / training.RUN_CONFIG}: cannot rebuild the run's model ({e}).") from None
    else:
        model = common.load_model(options.preset, warn_no_weights=False, **overrides)
    model_config = _jsonable(model.get_config())
    previous = _prepare_run_dir(run_dir, model_config, options)
    batch_size = options.batch_size or (previous or {}).get("batch_size") or model.batch_size
    converter = model.converter
    if converter is None:
        raise common.CLIError(f"preset {options.preset!r} names no data converter: nothing to train on.")

    try:
        train_source, eval_source, description = training.resolve_training_data(
            options.data, options.eval_data, options.eval_fraction
        )
    except (FileNotFoundError, ValueError) as e:
        raise common.CLIError(str(e)) from None
    say(f"data: {description}")
    augmenter = None
    if options.augment and model.augmentation:
        augmenter = NoteSequenceAugmenter(**model.augmentation, seed=options.seed)
    try:
        train_dataset, stats = pipeline.make_dataset(
            train_source,
            converter,
            batch_size,
            mode="train",
            augmenter=augmenter,
            repeat=True,
            seed=options.seed,
            num_workers=options.workers,
            progress=common.interactive(),
            return_stats=True,
        )
    except ValueError as e:
        raise common.CLIError(" ".join(str(e).split())) from None
    say(f"training examples: {stats.examples} from {stats.files_read - stats.files_without_examples} of "
        f"{stats.files} file(s) ({stats.num_failed} unreadable)")
    if stats.examples < batch_size:
        raise common.UsageError(
            f"only {stats.examples} training example(s), fewer than one batch of {batch_size}: "
            "lower --batch-size or add data."
        )
    eval_dataset, eval_examples = None, None
    if eval_source is not None:
        eval_converter = converter
        if options.eval_max_per_file != "converter":
            eval_converter = converter_from_config(
                model.converter_config, max_tensors_per_notesequence=options.eval_max_per_file
            )
        try:
            eval_dataset, eval_stats = pipeline.make_dataset(
                eval_source,
                eval_converter,
                batch_size,
                mode="eval",
                repeat=False,
                num_workers=options.workers,
                progress=common.interactive(),
                return_stats=True,
            )
            say(f"held-out examples: {eval_stats.examples} from {eval_stats.files} file(s)")
            if options.sampled_eval_examples:
                eval_examples = training.collect_examples(eval_dataset, options.sampled_eval_examples)
        except ValueError as e:
            common.warn(f"no evaluation: the held-out data gives no examples ({' '.join(str(e).split())[:300]})")
            eval_dataset = None
    else:
        common.warn("no held-out data (too few files to split): training without evaluation.")

    if not training.tensorboard_available():
        common.warn("no TensorBoard logs: the tensorboard package is not installed (pip install tensorboard).")
    model.compile()
    training.write_run_config(
        run_dir,
        {
            "preset": str(options.preset),
            "hparams": _jsonable(options.hparams),
            "model_config": model_config,
            "data": str(options.data),
            "eval_data": None if options.eval_data is None else str(options.eval_data),
            "batch_size": batch_size,
            "steps": options.steps,
            "checkpoint_every": options.checkpoint_every,
            "augment": options.augment,
            "backend": keras.backend.backend(),
        },
    )
    try:
        checkpoint = training.latest_checkpoint(run_dir)
    except ValueError as e:
        raise common.CLIError(str(e)) from None
    start_step = 0 if checkpoint is None else checkpoint.step
    if start_step:
        say(f"resuming {run_dir} from step {start_step}")
    say(f"training {model.name} on {keras.backend.backend()}: batch {batch_size}, steps {start_step} -> {options.steps}"
        + (f", at most {options.time_limit / 60:.3g} min" if options.time_limit else ""))
    try:
        result = training.train(
            model,
            train_dataset,
            run_dir,
            total_steps=options.steps,
            checkpoint_every=options.checkpoint_every,
            eval_dataset=eval_dataset,
            eval_examples=eval_examples,
            eval_batches=options.eval_batches,
            time_limit=options.time_limit,
            print_fn=say,
        )
    except ValueError as e:
        raise common.CLIError(str(e)) from None
    preset_dir = run_dir / training.PRESET_DIR
    model.save_to_preset(
        preset_dir,
        overwrite=True,
        description=f"{options.preset} trained {result.final_step} steps on {options.data}",
    )
    if result.stopped_by == "done":
        say(f"{run_dir} was already trained to step {result.initial_step} (--steps {options.steps}).")
    elif result.stopped_by == "time":
        say(f"stopped at the time limit, step {result.final_step} (run again to continue).")
    metrics = result.metrics
    if "val_accuracy" in metrics or "val_sampled_accuracy" in metrics:
        say(
            "held-out accuracy: "
            + ", ".join(
                f"{label} {metrics[key]:.3f}"
                for key, label in (("val_accuracy", "teacher-forced"), ("val_sampled_accuracy", "sampled"))
                if key in metrics
            )
        )
    logs = common.describe_path(run_dir / training.CSV_LOG)
    if training.tensorboard_available():
        logs += f", tensorboard --logdir {common.describe_path(run_dir / training.TENSORBOARD_DIR)}"
    say(f"trained model: {common.describe_path(preset_dir)}/ (use it as --model); logs: {logs}")
    return result, model


def _preset_converter_config(preset):
    from keras_musicvae.presets import load_preset_config

    return load_preset_config(preset)["converter"]


def _jsonable(value):
    import json

    return json.loads(json.dumps(value, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))
