"""`train_model`: the whole training recipe of `keras-musicvae train`, for Python users.

    from keras_musicvae.training import train_model

    result, model = train_model(
        "cat_mel_2bar_small", "midi/", "runs/mel", steps=50_000, batch_size=512,
        precision="mixed_bfloat16", distribute="mirrored", seed=0,
    )

It splits the data (or uses the given held-out set), builds the datasets
(each worker its own shard), builds the model under the precision policy and
the distribution, prepares the run folder (new, resumed, or `overwrite`),
trains with evaluation and checkpoints every `checkpoint_every` steps
(`loop.train`), and saves the trained model as the preset `RUN_DIR/preset/`.
Starting it again on the same folder resumes the run.

In a multi-worker job (`distribute="multi_worker"`, or JAX processes) every
worker runs the same call; the chief alone writes the run folder, which must
lie on storage every worker reads (the others restore from it and write only
into a private temporary folder).
"""

import dataclasses
import json
import pathlib
import shutil
import tempfile
import warnings

import keras

from keras_musicvae.training import data_split
from keras_musicvae.training import distribute as distribute_lib
from keras_musicvae.training import run_folder
from keras_musicvae.training.accuracy import collect_examples
from keras_musicvae.training.loop import tensorboard_available
from keras_musicvae.training.loop import train

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")


class RunFolderError(FileExistsError):
    """The output folder is not empty and holds no training run."""


class RunMismatchError(ValueError):
    """The run folder holds a run of a different model."""


class NotEnoughDataError(ValueError):
    """The data gives fewer examples than one batch."""


@dataclasses.dataclass
class TrainingConfig:
    """The options of a training run (`train_model`'s keyword arguments).

    Attributes:
        preset: the preset's name, recorded in `run.json` (informative).
        data: prepared data folder, TFRecord of NoteSequences, MIDI files
            or folders (see `data_split.resolve_training_data`).
        steps: train until the run's step (= optimizer step) reaches this.
        hparams: the hyperparameter changes, recorded in `run.json`.
        eval_data: held-out data (default: `eval_fraction` of `data`).
        eval_fraction: share of `data` held out without `eval_data`.
        batch_size: the global batch of one optimizer step (default the
            run's, else the model's).
        checkpoint_every: steps between checkpoints and evaluations.
        eval_batches: evaluate on at most this many batches.
        sampled_eval_examples: held-out examples of the sampled accuracy.
        time_limit: seconds after which training stops (one process only).
        augment: the preset's transposition augmentation.
        seed: seed of the data pipeline and the weights.
        workers: data conversion processes (default: CPUs).
        overwrite: delete the run in the folder first.
        converter_overrides: changes to the converter's config.
        eval_max_per_file: "converter" (its cap), None (all) or an int.
        model_config: a model config to rebuild (resuming a run as it is).
        precision: a Keras dtype policy: "float32", "mixed_bfloat16",
            "mixed_float16" (default the model's).
        distribute: None, one of `distribute.DISTRIBUTE_CHOICES`, a
            `tf.distribute.Strategy` or a `keras.distribution.Distribution`.
        devices: devices for "mirrored" / "data_parallel"; TPU for "tpu".
        worker_dir: where the workers other than the chief keep their
            checkpoints, logs and final preset, each in `worker-INDEX/`
            (default: a temporary folder each, deleted at the end).
    """

    preset: str
    data: object
    steps: int = 10000
    hparams: dict = dataclasses.field(default_factory=dict)
    eval_data: object = None
    eval_fraction: float = 0.1
    batch_size: int = None
    checkpoint_every: int = 1000
    eval_batches: int = None
    sampled_eval_examples: int = 512
    time_limit: float = None
    augment: bool = True
    seed: int = None
    workers: int = None
    overwrite: bool = False
    converter_overrides: dict = dataclasses.field(default_factory=dict)
    eval_max_per_file: object = "converter"
    model_config: dict = None
    precision: str = None
    distribute: object = None
    devices: list = None
    worker_dir: str = None


def train_model(model, data, output, *, say=None, warn=None, progress=False, **options):
    """Trains `model` on `data` in the run folder `output`, resuming a run there.

    Args:
        model: a preset name or folder, a model config dict, a `MusicVAE`
            (copied when the precision or distribution asks for another
            build), or a function returning one.
        data: see `TrainingConfig.data`.
        output: the run folder.
        say: where progress lines go (default `print`).
        warn: where warnings go (default `warnings.warn`).
        progress: show progress bars while converting data.
        **options: the other fields of `TrainingConfig` (`steps`,
            `batch_size`, `precision`, `distribute`, `seed`, ...).

    Returns:
        `(loop.TrainingResult, model)`.

    Raises:
        ValueError: bad options, unusable data (`NotEnoughDataError`), a run
            of another model in `output` (`RunMismatchError`), a backend that
            cannot run the distribution.
        RunFolderError: `output` holds other files.
    """
    if isinstance(model, dict):
        options.setdefault("model_config", model)
        preset = options.pop("preset", None)
    else:
        preset = options.pop("preset", None) or (model if isinstance(model, (str, pathlib.Path)) else None)
    config = TrainingConfig(preset=None if preset is None else str(preset), data=data, **options)
    return run_recipe(config, output, model, say=say, warn=warn, progress=progress)


def run_recipe(config, output, model=None, *, say=None, warn=None, progress=False):
    """`train_model` with its options as a `TrainingConfig` (`model` default: `config.preset`)."""
    return _Recipe(config, say, warn, progress).run(pathlib.Path(output), config.preset if model is None else model)


class _Recipe:
    """One call of `train_model`."""

    def __init__(self, config, say, warn, progress):
        self.config = config
        self.say = say or (lambda line: print(line, flush=True))
        self.warn = warn or (lambda message: warnings.warn(message, stacklevel=3))
        self.progress = progress

    def run(self, run_dir, model_source):
        config = self.config
        _check(config)
        # First: strategies configure the runtime before any tensor exists.
        distribution = distribute_lib.resolve_distribution(config.distribute, config.devices)
        if distribution.num_pipelines > 1 and config.time_limit is not None:
            raise ValueError("a time limit stops workers at different steps: it needs one process, not "
                             f"{distribution.num_pipelines}.")
        if distribution.num_pipelines > 1 and config.overwrite:
            raise ValueError("overwrite cannot be coordinated between workers: clear the run folder first.")
        if config.seed is not None:
            keras.utils.set_random_seed(config.seed)
        source_model = None if config.model_config is not None else _make_model(model_source, config)
        with distribution.scope():
            model = self._build_model(source_model, distribution, run_dir)
            model_config = _jsonable(model.get_config())
            previous = prepare_run_dir(
                run_dir, model_config, config.overwrite and distribution.is_chief, owner=distribution.is_chief
            )
            batch_size = config.batch_size or (previous or {}).get("batch_size") or model.batch_size
            distribution.check_batch_size(batch_size)
            if model.converter is None:
                raise ValueError(f"preset {config.preset!r} names no data converter: nothing to train on.")
            train_source, eval_source, description = data_split.resolve_training_data(
                config.data, config.eval_data, config.eval_fraction
            )
            self.say(f"data: {description}")
            train_dataset = self._train_dataset(model, train_source, batch_size, distribution)
            eval_dataset, eval_examples = self._eval_data(model, eval_source, batch_size, distribution)
            if not tensorboard_available():
                self.warn("no TensorBoard logs: the tensorboard package is not installed (pip install tensorboard).")
            model.compile()
            distribute_lib.prepare_model(model, distribution)
            write_dir, temporary = run_dir, False
            if distribution.is_chief:
                run_folder.write_run_config(run_dir, self._run_record(model_config, batch_size, distribution))
            elif config.worker_dir is not None:
                write_dir = pathlib.Path(config.worker_dir) / f"worker-{distribution.pipeline_index}"
            else:
                write_dir, temporary = pathlib.Path(tempfile.mkdtemp(prefix="keras-musicvae-worker-")), True
            try:
                result = self._train(model, train_dataset, eval_dataset, eval_examples, run_dir, write_dir,
                                     batch_size, distribution)
            finally:
                if temporary:
                    shutil.rmtree(write_dir, ignore_errors=True)
            if not temporary:
                model.save_to_preset(
                    write_dir / run_folder.PRESET_DIR,
                    overwrite=True,
                    description=f"{config.preset} trained {result.final_step} steps on {config.data}",
                )
        return result, model

    def _build_model(self, model, distribution, run_dir):
        """The model to train, built in the distribution's scope under the precision policy.

        `model` (None: rebuild `config.model_config`, a resumed run's) is
        copied (config and weights) when the distribution or the precision
        needs another build.
        """
        from keras_musicvae.models.music_vae import MusicVAE

        config = self.config
        if model is not None:
            if distribution.kind == "none" and config.precision in (None, model.dtype_policy.name):
                return model
            model_config = model.get_config()
        else:
            model_config = config.model_config
        model_config = dict(model_config)
        if config.precision is not None:
            model_config["dtype"] = config.precision
        try:
            rebuilt = MusicVAE.from_config(model_config)
        except (TypeError, ValueError) as e:
            where = f"{run_dir / run_folder.RUN_CONFIG}: " if model is None else ""
            raise ValueError(f"{where}cannot rebuild the run's model ({e}).") from None
        if model is not None:
            rebuilt.set_weights(model.get_weights())
        return rebuilt

    def _train_dataset(self, model, source, batch_size, distribution):
        from keras_musicvae.data import pipeline
        from keras_musicvae.data.augment import NoteSequenceAugmenter

        config = self.config
        seed = config.seed
        if seed is None and distribution.num_pipelines > 1:
            seed = 0  # every worker must draw the same shuffles to share out the examples
        augmenter = None
        if config.augment and model.augmentation:
            augmenter = NoteSequenceAugmenter(**model.augmentation, seed=seed)
        found = {}

        def build(num_pipelines, index, pipeline_batch):
            part, how = data_split.shard_source(source, num_pipelines, index)
            read_batch = pipeline_batch * num_pipelines if how == "example" else pipeline_batch
            dataset, stats = pipeline.make_dataset(
                part, model.converter, read_batch, mode="train", augmenter=augmenter, repeat=True, seed=seed,
                num_workers=config.workers, progress=self.progress, return_stats=True,
            )  # fmt: skip
            found.update(stats=stats, how=how, read_batch=read_batch)
            if how == "example":
                dataset = data_split.shard_by_example(dataset, num_pipelines, index, pipeline_batch)
            return dataset

        dataset = distribution.training_dataset(build, batch_size)
        stats = found["stats"]
        shard = {"file": " (this worker's files)", "example": " (split by example between workers)"}
        self.say(f"training examples: {stats.examples} from {stats.files_read - stats.files_without_examples} of "
                 f"{stats.files} file(s) ({stats.num_failed} unreadable)" + shard.get(found["how"], ""))
        if stats.examples < found["read_batch"]:
            raise NotEnoughDataError(
                f"only {stats.examples} training example(s), fewer than one batch of {found['read_batch']}: "
                "lower --batch-size or add data."
            )
        return dataset

    def _eval_data(self, model, source, batch_size, distribution):
        from keras_musicvae.data import pipeline
        from keras_musicvae.data.converter import converter_from_config

        config = self.config
        if source is None:
            self.warn("no held-out data (too few files to split): training without evaluation.")
            return None, None
        converter = model.converter
        if config.eval_max_per_file != "converter":
            converter = converter_from_config(
                model.converter_config, max_tensors_per_notesequence=config.eval_max_per_file
            )
        try:
            dataset, stats = pipeline.make_dataset(
                source, converter, batch_size, mode="eval", repeat=False, num_workers=config.workers,
                progress=self.progress, return_stats=True,
            )  # fmt: skip
        except ValueError as e:
            self.warn(f"no evaluation: the held-out data gives no examples ({' '.join(str(e).split())[:300]})")
            return None, None
        self.say(f"held-out examples: {stats.examples} from {stats.files} file(s)")
        examples = None
        if config.sampled_eval_examples:
            examples = collect_examples(dataset, config.sampled_eval_examples)
        if distribution.keras_distribution is not None:
            # A JAX mesh needs every batch to split evenly over its devices
            # (and each process to read its share).
            replicas, n, i = distribution.num_replicas, distribution.num_pipelines, distribution.pipeline_index
            eval_batch = min(batch_size, stats.examples // replicas * replicas)
            if eval_batch == 0:
                self.warn(f"no teacher-forced evaluation: fewer held-out examples than the {replicas} replicas.")
                return None, examples
            dataset = dataset.unbatch().batch(eval_batch, drop_remainder=True)
            if n > 1:
                dataset = data_split.shard_by_example(dataset, n, i, eval_batch // n)
        return distribution.evaluation_dataset(dataset), examples

    def _run_record(self, model_config, batch_size, distribution):
        config = self.config
        return {
            "preset": str(config.preset),
            "hparams": _jsonable(config.hparams),
            "model_config": model_config,
            "data": str(config.data),
            "eval_data": None if config.eval_data is None else str(config.eval_data),
            "batch_size": batch_size,
            "steps": config.steps,
            "checkpoint_every": config.checkpoint_every,
            "augment": config.augment,
            "backend": keras.backend.backend(),
            "precision": config.precision,
            "distribute": distribution.kind if distribution.kind != "none" else None,
            "replicas": distribution.num_replicas,
        }

    def _train(self, model, train_dataset, eval_dataset, eval_examples, run_dir, write_dir, batch_size,
               distribution):
        config = self.config
        checkpoint = run_folder.latest_checkpoint(run_dir)
        start_step = 0 if checkpoint is None else checkpoint.step
        if start_step:
            self.say(f"resuming {run_dir} from step {start_step}")
        self.say(
            f"training {model.name} on {keras.backend.backend()}: batch {batch_size}, steps {start_step} -> "
            f"{config.steps}" + (f", at most {config.time_limit / 60:.3g} min" if config.time_limit else "")
        )
        if distribution.kind != "none":
            self.say(f"distribution: {distribute_lib.describe(distribution)}, {batch_size // distribution.num_replicas}"
                     " examples per replica")
        return train(
            model,
            train_dataset,
            run_dir,
            total_steps=config.steps,
            checkpoint_every=config.checkpoint_every,
            eval_dataset=eval_dataset,
            eval_examples=eval_examples,
            eval_batches=config.eval_batches,
            time_limit=config.time_limit,
            print_fn=self.say if distribution.is_chief else (lambda line: None),
            write_dir=write_dir,
        )


def prepare_run_dir(run_dir, model_config, overwrite=False, owner=True):
    """Checks a run folder: empty, or a run of the same model (resumed); `overwrite` clears it.

    Args:
        run_dir: the run folder.
        model_config: the config of the model to train (JSON types).
        overwrite: delete the run's files first.
        owner: whether this process writes the folder; other workers of a
            job only check that a run there is of the same model (the chief
            may be writing into it).

    Returns:
        The previous `run.json` dict, or None for a new run.

    Raises:
        RunFolderError: `run_dir` is a file, or not empty and holds no run.
        RunMismatchError: `run_dir` holds a run of another model.
    """
    run_dir = pathlib.Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise RunFolderError(f"{run_dir} is a file, not a run folder.")
    if overwrite and run_dir.exists():
        for name in run_folder.RUN_FILES:
            target = run_dir / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    previous = run_folder.read_run_config(run_dir) if run_dir.exists() else None
    if previous is None:
        if owner and run_dir.exists() and any(run_dir.iterdir()):
            raise RunFolderError(
                f"{run_dir} is not empty and holds no training run; choose another --output "
                "(or pass --overwrite to use it anyway)."
            )
        return None
    old = previous.get("model_config", {})
    ignored = ("name", "dtype")  # the precision may change between sessions of a run
    keys = (set(old) | set(model_config)) - set(ignored)
    differences = sorted(k for k in keys if old.get(k) != model_config.get(k))
    if differences:
        shown = ", ".join(f"{k} ({old.get(k)!r} there, {model_config.get(k)!r} now)" for k in differences[:3])
        raise RunMismatchError(
            f"{run_dir} holds a run of a different model: {shown}. Resume it with the same --preset and "
            "--hparams, choose another --output, or pass --overwrite to start over."
        )
    return previous


def _check(config):
    for name in ("steps", "checkpoint_every", "batch_size"):
        value = getattr(config, name)
        if value is not None and value < 1:
            raise ValueError(f"{name} must be at least 1; got {value}.")
    if not 0 <= config.eval_fraction < 1:
        raise ValueError(f"eval_fraction must be in [0, 1); got {config.eval_fraction}.")
    if config.precision is not None and config.precision not in PRECISIONS:
        raise ValueError(f"unknown precision {config.precision!r}; choose one of {', '.join(PRECISIONS)}.")


def _make_model(source, config):
    """The model of `source` (see `train_model`), with `config`'s hparams and converter changes."""
    from keras_musicvae.models.music_vae import MusicVAE

    if isinstance(source, MusicVAE):
        return source
    if callable(source):
        return source()
    overrides = model_overrides(source, config.hparams, config.converter_overrides)
    return MusicVAE.from_preset(str(source), load_weights=not overrides, **overrides)


def model_overrides(preset, hparams, converter_overrides=None):
    """The hyperparameter overrides of a preset: `hparams`, with `converter_overrides` merged into its converter."""
    overrides = dict(hparams or {})
    if converter_overrides:
        from keras_musicvae.presets import load_preset_config

        base = overrides.get("converter") or load_preset_config(str(preset))["converter"]
        overrides["converter"] = {"class_name": base["class_name"], "config": {**base["config"], **converter_overrides}}
    return overrides


def _jsonable(value):
    return json.loads(json.dumps(value, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))
