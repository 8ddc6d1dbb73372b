"""`keras-musicvae train`: trains a model on MIDI files, resumable."""

import pathlib

from keras_musicvae.cli import common

# Kept in step with keras_musicvae.training (not imported here: it loads Keras).
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
DISTRIBUTE_CHOICES = ("mirrored", "multi_worker", "data_parallel", "tpu")

EXAMPLES = """
keras-musicvae train --preset cat_mel_2bar_small --data midi/ --output runs/mel
keras-musicvae train --preset cat_mel_2bar_small --data data/ --output runs/mel --steps 50000 --batch-size 128
keras-musicvae train --preset cat_mel_2bar_small --data midi/ --output runs/tiny \\
    --hparams 'enc_rnn_size=[64],dec_rnn_size=[64],z_size=16' --steps 2000 --checkpoint-every 200
keras-musicvae train --preset cat_drums_2bar_small --data drums/ --eval-data drums_eval/ --output runs/drums --backend jax
# interrupted? run the same command again: it resumes from RUN_DIR/checkpoints
keras-musicvae train --output demo_output/run --steps 6000    # continue a run (its model and data)
keras-musicvae train --preset hierdec_mel_16bar --data data/ --output runs/16bar --batch-size 512 \
    --distribute mirrored --precision mixed_bfloat16          # all local GPUs, global batch 512
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
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default=None,
        help="Keras dtype policy of training (default: the model's, float32; resuming: the run's)",
    )
    parser.add_argument(
        "--distribute",
        choices=DISTRIBUTE_CHOICES,
        default=None,
        help="train on several devices/hosts: mirrored (TensorFlow, local GPUs), multi_worker (TensorFlow, "
        "TF_CONFIG), data_parallel (JAX), tpu; --batch-size is the global batch (see docs/SCALING.md)",
    )
    parser.add_argument(
        "--devices",
        default=None,
        help="comma-separated devices for --distribute mirrored / data_parallel (e.g. /gpu:0,/gpu:1), "
        "or the TPU's name for tpu",
    )
    parser.add_argument(
        "--worker-dir",
        default=None,
        help="multi_worker / multi-process jobs: where the workers other than the chief keep their checkpoints, "
        "logs and final preset, in worker-INDEX/ (default: a temporary folder, deleted at the end)",
    )
    parser.add_argument("--overwrite", action="store_true", help="start over, deleting the run in RUN_DIR")
    parser.set_defaults(run=run)


def run(args):
    for name in ("steps", "checkpoint_every"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise common.UsageError(f"--{name.replace('_', '-')} must be at least 1; got {value}.")
    if args.batch_size is not None and args.batch_size < 1:
        raise common.UsageError(f"--batch-size must be at least 1; got {args.batch_size}.")
    if not 0 <= args.eval_fraction < 1:
        raise common.UsageError(f"--eval-fraction must be in [0, 1); got {args.eval_fraction}.")
    if args.devices is not None and args.distribute not in ("mirrored", "data_parallel", "tpu"):
        raise common.UsageError("--devices needs --distribute mirrored, data_parallel or tpu.")
    run_dir = common.check_output_folder(args.output)
    from keras_musicvae import training

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
    options = training.TrainingConfig(
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
        precision=args.precision or resumed.get("precision"),
        distribute=args.distribute,
        devices=None if args.devices is None else [d.strip() for d in args.devices.split(",") if d.strip()],
        worker_dir=args.worker_dir,
    )
    run_training(run_dir, options)


def __getattr__(name):
    # `TrainOptions`, the options of `run_training`: `training.TrainingConfig`
    # (loaded on first use, as it imports Keras).
    if name == "TrainOptions":
        from keras_musicvae.training import TrainingConfig

        return TrainingConfig
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def run_training(run_dir, options, print_fn=None):
    """Runs `training.run_recipe` for the CLI: the model loaded as `--preset` says, errors as CLI errors.

    Args:
        run_dir: the run folder.
        options: a `training.TrainingConfig`.
        print_fn: where progress lines go (default `common.say`).

    Returns:
        `(training.TrainingResult, model)`.
    """
    from keras_musicvae import training
    from keras_musicvae.training import recipe

    say = print_fn or common.say
    run_dir = pathlib.Path(run_dir)

    def load_model():
        overrides = recipe.model_overrides(options.preset, options.hparams, options.converter_overrides)
        return common.load_model(options.preset, warn_no_weights=False, **overrides)

    model = options.model_config if options.model_config is not None else load_model
    try:
        result, model = training.run_recipe(
            options, run_dir, model, say=say, warn=common.warn, progress=common.interactive()
        )
    except training.RunFolderError as e:
        if run_dir.exists() and not run_dir.is_dir():
            raise common.CLIError(str(e)) from None
        raise common.OutputExistsError(str(e)) from None
    except (training.RunMismatchError, training.NotEnoughDataError, training.DistributionError) as e:
        raise common.UsageError(str(e)) from None
    except (FileNotFoundError, ValueError) as e:
        raise common.CLIError(" ".join(str(e).split())) from None
    _report(run_dir, options, result, say)
    return result, model


def _report(run_dir, options, result, say):
    from keras_musicvae import training

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
    preset_dir = run_dir / training.PRESET_DIR
    logs = common.describe_path(run_dir / training.CSV_LOG)
    if training.tensorboard_available():
        logs += f", tensorboard --logdir {common.describe_path(run_dir / training.TENSORBOARD_DIR)}"
    say(f"trained model: {common.describe_path(preset_dir)}/ (use it as --model); logs: {logs}")
