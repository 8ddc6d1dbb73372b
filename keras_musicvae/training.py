"""The training set-up of `keras-musicvae train` (usable from Python too).

A run folder holds everything of one training run, and a run is resumed by
starting it again on the same folder:

    RUN_DIR/run.json                     what is trained (model config, data, options)
    RUN_DIR/checkpoints/step-00001000/   the latest checkpoint, one folder:
        model.weights.h5                 model weights + optimizer state
        state.json                       the run's step (and optimizer iterations)
    RUN_DIR/training_log.csv             one row per evaluation period
    RUN_DIR/logs/                        TensorBoard logs
    RUN_DIR/eval.json                    the last evaluation
    RUN_DIR/preset/                      the trained model, as a preset folder

`train()` runs `model.fit` in periods of `checkpoint_every` steps (Keras
"epochs"): after each period the model is evaluated on the held-out set
(teacher-forced accuracy and loss through Keras' validation, and the sampled
accuracy of `SampledAccuracy`), a checkpoint is written, and a row is added
to the CSV and TensorBoard logs. A run stops at `total_steps`, at a time
limit, or when interrupted; the next run on the folder restores the weights,
the optimizer state and the step (the model's `global_step`, which drives the
KL and scheduled-sampling schedules, lies in the weights) from the checkpoint
and continues from there.

A checkpoint is one folder, written under a temporary name, flushed to disk
and renamed into place (`save_checkpoint`): whenever the process dies, the
latest checkpoint's weights, optimizer state and step belong together. A
resumed run first deletes the temporary files a killed one left
(`remove_stale_files`).

Accuracies, as in the paper's Table 1: the fraction of valid steps whose
token is right, pooled over the held-out set, (a) teacher-forced (the
decoder sees the true previous token; Keras' `val_accuracy`) and (b) sampled
(the decoder runs free from the encoded `mu`, greedy argmax at each step,
compared step by step with the targets within the lengths;
`val_sampled_accuracy`).
"""

import dataclasses
import hashlib
import json
import math
import os
import pathlib
import re
import sys
import time

import keras
import numpy as np

from keras_musicvae.utils import atomic_files

RUN_CONFIG = "run.json"
CHECKPOINT_DIR = "checkpoints"
CHECKPOINT_PREFIX = "step-"
CHECKPOINT_WEIGHTS = "model.weights.h5"
CHECKPOINT_STATE = "state.json"
LEGACY_WEIGHTS = "latest.weights.h5"  # checkpoints/ of versions before checkpoint folders
CSV_LOG = "training_log.csv"
TENSORBOARD_DIR = "logs"
PRESET_DIR = "preset"
EVAL_FILE = "eval.json"
RUN_FILES = (RUN_CONFIG, CHECKPOINT_DIR, CSV_LOG, TENSORBOARD_DIR, PRESET_DIR, EVAL_FILE)
_CHECKPOINT_NAME = re.compile(rf"^{CHECKPOINT_PREFIX}(\d+)$")
# Temporary files of versions before `atomic_files`: weights, JSON files, preset staging.
_LEGACY_TEMPORARY = re.compile(r"^(\.tmp-\d+\.weights\.h5|\.\w+\.json\.\d+\.tmp|\.preset-\w{8}|preset\.old-\w{6})$")


# ---------------------------------------------------------------- data split
def held_out(name, eval_fraction):
    """Whether `name` falls in the held-out split (a stable hash of the name).

    Args:
        name: a file name (relative path) or NoteSequence filename.
        eval_fraction: float in [0, 1), the share held out.
    """
    bucket = int(hashlib.sha1(str(name).encode("utf-8")).hexdigest()[:8], 16) % 10000
    return bucket < eval_fraction * 10000


def split_names(names, eval_fraction):
    """`(train_indices, eval_indices)`: a stable split of `names` by hash.

    At least one name is held out when there are two or more and
    `eval_fraction > 0` (the one with the smallest hash bucket), so that a
    small folder still gets an evaluation set.
    """
    names = [str(n) for n in names]
    eval_idx = [i for i, n in enumerate(names) if held_out(n, eval_fraction)]
    if not eval_idx and len(names) >= 2 and eval_fraction > 0:
        buckets = [int(hashlib.sha1(n.encode("utf-8")).hexdigest()[:8], 16) for n in names]
        eval_idx = [int(np.argmin(buckets))]
    if len(eval_idx) == len(names):
        eval_idx = eval_idx[:-1]
    chosen = set(eval_idx)
    return [i for i in range(len(names)) if i not in chosen], eval_idx


def resolve_training_data(data, eval_data=None, eval_fraction=0.1):
    """Turns `--data` / `--eval-data` into sources for `pipeline.make_dataset`.

    `data` may be a folder written by `keras-musicvae prepare` (holding
    `train.tfrecord` and maybe `eval.tfrecord`), a TFRecord of NoteSequences,
    or MIDI files / folders. Without `eval_data` (and no `eval.tfrecord`),
    a stable `eval_fraction` of the files (or NoteSequences) is held out.

    Returns:
        `(train_source, eval_source or None, description)`.
    """
    from keras_musicvae.data import midi_io
    from keras_musicvae.data import pipeline

    path = pathlib.Path(os.path.expanduser(str(data)))
    if path.is_dir() and (path / "train.tfrecord").exists():
        train = str(path / "train.tfrecord")
        if eval_data is None and (path / "eval.tfrecord").exists():
            return train, str(path / "eval.tfrecord"), f"{train} (+ {path / 'eval.tfrecord'} held out)"
        data = train
        path = pathlib.Path(train)
    if eval_data is not None:
        return str(data), str(eval_data), f"{data} (evaluation on {eval_data})"
    if pipeline._is_tfrecord_name(path) and not path.is_dir():
        sequences = list(pipeline.read_note_sequences(str(path)))
        if not sequences:
            raise ValueError(f"{path} holds no NoteSequences.")
        names = [s.filename or s.id or str(i) for i, s in enumerate(sequences)]
        train_idx, eval_idx = split_names(names, eval_fraction)
        return (
            [sequences[i] for i in train_idx],
            [sequences[i] for i in eval_idx] or None,
            f"{path}: {len(train_idx)} sequences for training, {len(eval_idx)} held out",
        )
    files = midi_io.find_midi_files(str(path))
    if not files:
        raise ValueError(f"No MIDI files (*.mid, *.midi) in {path}.")
    root = path if path.is_dir() else path.parent
    names = [os.path.relpath(f, root) for f in files]
    train_idx, eval_idx = split_names(names, eval_fraction)
    return (
        [files[i] for i in train_idx],
        [files[i] for i in eval_idx] or None,
        f"{path}: {len(train_idx)} files for training, {len(eval_idx)} held out",
    )


# ---------------------------------------------------------------- checkpoints
@dataclasses.dataclass(frozen=True)
class Checkpoint:
    """One checkpoint of a run.

    Attributes:
        step: the run's step it was written at.
        weights: its weights file (model weights + optimizer state).
        state: its `state.json`.
        legacy: written by an older version as two loose files
            (`checkpoints/latest.weights.h5` + `checkpoints/state.json`).
    """

    step: int
    weights: pathlib.Path
    state: pathlib.Path
    legacy: bool = False

    @property
    def folder(self):
        """The checkpoint's folder (for a legacy checkpoint, `checkpoints/`)."""
        return self.weights.parent


def checkpoints_folder(run_dir):
    """`RUN_DIR/checkpoints`, the folder of a run's checkpoints."""
    return pathlib.Path(run_dir) / CHECKPOINT_DIR


def checkpoint_name(step):
    """The folder name of the checkpoint at `step`: `step-00000123`."""
    return f"{CHECKPOINT_PREFIX}{int(step):08d}"


def list_checkpoints(run_dir):
    """The complete checkpoint folders of a run, oldest first (legacy files excluded)."""
    folder = checkpoints_folder(run_dir)
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        match = _CHECKPOINT_NAME.match(path.name)
        weights, state = path / CHECKPOINT_WEIGHTS, path / CHECKPOINT_STATE
        if match and weights.is_file() and state.is_file():
            found.append(Checkpoint(int(match.group(1)), weights, state))
    return sorted(found, key=lambda c: c.step)


def latest_checkpoint(run_dir):
    """The checkpoint a run resumes from (the newest folder, else legacy files), or None.

    Raises:
        ValueError: a legacy `state.json` is damaged.
    """
    checkpoints = list_checkpoints(run_dir)
    if checkpoints:
        return checkpoints[-1]
    folder = checkpoints_folder(run_dir)
    weights, state = folder / LEGACY_WEIGHTS, folder / CHECKPOINT_STATE
    if weights.is_file() and state.is_file():
        return Checkpoint(int(_read_state(state)["step"]), weights, state, legacy=True)
    return None


def read_checkpoint_state(run_dir):
    """The `state.json` dict (with `step`) of the checkpoint a run resumes from, or None."""
    checkpoint = latest_checkpoint(run_dir)
    return None if checkpoint is None else _read_state(checkpoint.state)


def _read_state(path):
    try:
        state = json.loads(pathlib.Path(path).read_text())
        int(state["step"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise ValueError(
            f"{path} is damaged ({type(e).__name__}: {e}); delete its checkpoint folder to resume from "
            "an older one, or the checkpoints folder to start over."
        ) from None
    return state


def save_checkpoint(model, run_dir, step, keep=1):
    """Writes the checkpoint at `step` as one unit: a folder renamed into place.

    The folder `checkpoints/step-NNNNNNNN/` (weights + optimizer state, and
    `state.json`) is written under a temporary name, flushed to disk and
    renamed: a crash at any moment leaves the previous checkpoint or the new
    one, whole. Then all but the `keep` newest checkpoints are deleted.

    Args:
        model: the model (anything with `save_weights`).
        run_dir: the run folder.
        step: the run's step.
        keep: how many checkpoints to keep (at least 1).

    Returns:
        The checkpoint's folder.
    """
    target = checkpoints_folder(run_dir) / checkpoint_name(step)
    if not target.is_dir():  # an existing one holds this very step
        state = {"step": int(step), "time": time.strftime("%Y-%m-%d %H:%M:%S")}
        iterations = optimizer_iterations(model)
        if iterations is not None:
            state["optimizer_iterations"] = iterations
        with atomic_files.atomic_folder(target) as staging:
            model.save_weights(str(staging / CHECKPOINT_WEIGHTS))
            (staging / CHECKPOINT_STATE).write_text(json.dumps(state, indent=2) + "\n")
    prune_checkpoints(run_dir, keep)
    return target


def prune_checkpoints(run_dir, keep=1):
    """Deletes all but the `keep` newest checkpoint folders, and legacy checkpoint files.

    A folder is renamed to a temporary name before it is deleted, so that a
    half-deleted one never looks like a checkpoint.
    """
    checkpoints = list_checkpoints(run_dir)
    if not checkpoints:
        return
    for checkpoint in checkpoints[: -max(1, int(keep))]:
        doomed = atomic_files.temporary_path(checkpoint.folder)
        os.rename(checkpoint.folder, doomed)
        atomic_files.remove(doomed)
    folder = checkpoints_folder(run_dir)
    for name in (LEGACY_WEIGHTS, CHECKPOINT_STATE):
        atomic_files.remove(folder / name)


def stale_files(run_dir):
    """The temporary files and folders that interrupted writers left in a run folder.

    Returns:
        Sorted paths: those of `atomic_files` (`.NAME.tmp-XXXXXXXX`) and of
        versions before it, in `run_dir` and its `checkpoints/`.
    """
    run_dir = pathlib.Path(run_dir)
    found = []
    for folder in (run_dir, checkpoints_folder(run_dir)):
        if folder.is_dir():
            found += [
                p for p in folder.iterdir() if atomic_files.is_temporary(p.name) or _LEGACY_TEMPORARY.match(p.name)
            ]
    return sorted(found)


def remove_stale_files(run_dir):
    """Deletes `stale_files(run_dir)`; call it only while no other process trains there.

    Returns:
        The sorted paths removed, relative to `run_dir`.
    """
    removed = stale_files(run_dir)
    for path in removed:
        atomic_files.remove(path)
    return [os.path.relpath(path, run_dir) for path in removed]


def restore_checkpoint(model, run_dir):
    """Loads a run's latest checkpoint into a compiled model.

    Weights and optimizer state (its iteration count included) come from
    the checkpoint's weights file; the step from its `state.json`, written
    with it.

    Returns:
        The run's step at the checkpoint (0 without a checkpoint).

    Raises:
        ValueError: the checkpoint does not fit the model, or its weights
            and state disagree.
    """
    checkpoint = latest_checkpoint(run_dir)
    if checkpoint is None:
        return 0
    state = _read_state(checkpoint.state)
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    try:
        model.load_weights(str(checkpoint.weights))
    except Exception as e:  # noqa: BLE001 - re-raised naming the file
        raise ValueError(
            f"Cannot resume from {checkpoint.weights} ({type(e).__name__}: {e}); it does not fit this model."
        ) from None
    iterations = optimizer_iterations(model)
    if checkpoint.legacy:
        # The old layout replaced the weights before state.json: a crash in
        # between left the weights (and optimizer) a step ahead of the state.
        return max(int(state["step"]), iterations or 0)
    if "optimizer_iterations" in state and iterations != state["optimizer_iterations"]:
        raise ValueError(
            f"{checkpoint.folder} is inconsistent: the optimizer state is at iteration {iterations}, "
            f"{checkpoint.state.name} says {state['optimizer_iterations']}; delete that folder to resume "
            "from an older checkpoint."
        )
    return int(state["step"])


def weights_file_iterations(path):
    """The optimizer's iteration count stored in a `.weights.h5` file, or None.

    Keras stores the optimizer's variables under `optimizer/vars/`, its
    iteration count first; a `LossScaleOptimizer` (mixed_float16) counts the
    iterations of its inner optimizer, under `optimizer/inner_optimizer/`.
    Read without building a model (for checks).
    """
    import h5py

    with h5py.File(path, "r") as f:
        stored = f.get("optimizer/inner_optimizer/vars/0")
        if stored is None:
            stored = f.get("optimizer/vars/0")
        if stored is None or stored.shape != () or stored.dtype.kind not in "iu":
            return None
        return int(stored[()])


def optimizer_iterations(model):
    """The iteration count of a model's optimizer as an int (None without one)."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        return None
    return int(keras.ops.convert_to_numpy(optimizer.iterations))


def model_step(model):
    """The model's `global_step` as an int."""
    return int(keras.ops.convert_to_numpy(model.global_step))


def _atomic_json(path, data):
    atomic_files.write_text(path, json.dumps(data, indent=2) + "\n")


# ---------------------------------------------------------------- accuracy
def collect_examples(dataset, max_examples):
    """The first `max_examples` examples of a dataset of batch dicts, as NumPy."""
    parts = {}
    count = 0
    iterator = dataset.as_numpy_iterator() if hasattr(dataset, "as_numpy_iterator") else iter(dataset)
    for batch in iterator:
        for key, value in batch.items():
            parts.setdefault(key, []).append(np.asarray(value))
        count += len(batch["inputs"])
        if count >= max_examples:
            break
    return {k: np.concatenate(v)[:max_examples] for k, v in parts.items()}


def step_correct(model, samples, targets):
    """Per-step, per-stream correctness `[B, T, S]` (bool) of samples against targets.

    Categorical heads: the token (argmax) of each stream is right (S = 1, or
    3 for trios); NADE: the whole multi-hot vector is right; groove: every
    hit is right.
    """
    from keras_musicvae.evaluation import tokens_from_one_hot

    samples = np.asarray(samples)
    targets = np.asarray(targets)
    if model.output_head == "nade":
        return np.all((samples >= 0.5) == (targets >= 0.5), axis=-1)[..., None]
    if model.output_head == "groove":
        hits = model.output_depth // 3
        return np.all((samples[..., :hits] >= 0.5) == (targets[..., :hits] >= 0.5), axis=-1)[..., None]
    depths = model.output_depths or [model.output_depth]
    bounds = np.cumsum([0] + list(depths))
    streams = [
        tokens_from_one_hot(samples[..., a:b]) == tokens_from_one_hot(targets[..., a:b])
        for a, b in zip(bounds[:-1], bounds[1:])
    ]
    return np.stack(streams, -1)


def padded_batches(num_examples, batch_size):
    """Equal-sized batches over `num_examples` examples, for fixed-shape calls.

    The last batch is filled up with the first examples again, so that every
    call has the same shape and a compiled function compiles once.

    Yields:
        `(index, keep)`: the example indices `[batch_size]` of a batch and how
        many of its leading rows are new examples.
    """
    for start in range(0, num_examples, batch_size):
        yield np.arange(start, start + batch_size) % num_examples, min(batch_size, num_examples - start)


def reconstruct_in_batches(model, inputs, lengths, controls=None, batch_size=128):
    """Greedy reconstructions `[N, T, D]` of `inputs`, in equal-sized calls (`padded_batches`)."""
    parts = []
    for index, keep in padded_batches(len(inputs), max(1, min(batch_size, len(inputs)))):
        batch_controls = controls[index] if model.control_depth else None
        samples = model.reconstruct(inputs[index], temperature=0.0, lengths=lengths[index], controls=batch_controls)
        parts.append(samples[:keep])
    return np.concatenate(parts)


def stream_accuracies(model, samples, targets, lengths):
    """Per-step accuracy of each output stream, pooled over the valid steps.

    Args:
        model: a `MusicVAE` (its head decides what a correct step is, see
            `step_correct`).
        samples: `[N, T, D]` model outputs (samples or logits).
        targets: `[N, T, D]` targets.
        lengths: `[N]`, or `[N, S]` per-segment lengths of `S` segments of
            `T / S` steps.

    Returns:
        list of floats, one per stream (3 for trios, else 1); `nan` for a
        stream without valid steps.
    """
    from keras_musicvae.evaluation import per_step_accuracy

    correct = step_correct(model, samples, targets)
    lengths = np.asarray(lengths)
    accuracies = []
    for stream in range(correct.shape[-1]):
        stream_correct = correct[..., stream].astype(np.int64)
        stream_lengths = lengths
        if lengths.ndim == 2:  # per-segment lengths: [N, S, T / S]
            stream_correct = stream_correct.reshape(len(stream_correct), lengths.shape[1], -1)
        else:
            stream_lengths = np.minimum(lengths, stream_correct.shape[1])
        accuracies.append(per_step_accuracy(stream_correct, np.ones_like(stream_correct), stream_lengths))
    return accuracies


def sampled_accuracy(model, examples, batch_size=128):
    """Greedy free-running reconstruction accuracy of held-out examples.

    Encodes each example, decodes from `mu` with temperature 0 (argmax),
    and compares step by step with the targets within the lengths, pooled
    over all valid steps and averaged over the streams, as Magenta's trio
    accuracy (`stream_accuracies`).

    Args:
        model: a `MusicVAE`.
        examples: dict of NumPy arrays `inputs` `[N, T, D]`, `targets`,
            `lengths` (`[N]` or `[N, S]`), `controls` (when the model has
            them), e.g. from `collect_examples`.
        batch_size: examples per decoding call (the last call is padded, so
            that every call has the same shape and compiles once).

    Returns:
        float in [0, 1] (nan when there is no valid step).
    """
    inputs = examples["inputs"]
    if len(inputs) == 0:
        return float("nan")
    samples = reconstruct_in_batches(model, inputs, examples["lengths"], examples.get("controls"), batch_size)
    targets = examples["targets"][:, : samples.shape[1]]
    return float(np.mean(stream_accuracies(model, samples, targets, examples["lengths"])))


# ---------------------------------------------------------------- callbacks
class SampledAccuracy(keras.callbacks.Callback):
    """Adds `val_sampled_accuracy` to the logs at the end of every period.

    Place it before the CSV and TensorBoard callbacks so that they log it.

    Args:
        examples: held-out examples (see `sampled_accuracy`).
        batch_size: examples per decoding call.
    """

    def __init__(self, examples, batch_size=128):
        super().__init__()
        self.examples = examples
        self.batch_size = batch_size

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["val_sampled_accuracy"] = sampled_accuracy(self.model, self.examples, self.batch_size)


class StepCheckpoint(keras.callbacks.Callback):
    """Saves the run's checkpoint every `every` steps and when training ends.

    Also writes `global_step` into the logs of each period.
    """

    def __init__(self, run_dir, every, initial_step):
        super().__init__()
        self.run_dir = run_dir
        self.every = int(every)
        self.step = int(initial_step)
        self.saved_step = int(initial_step)

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        if self.step % self.every == 0:
            self._save()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["global_step"] = self.step

    def on_train_end(self, logs=None):
        self._save()

    def _save(self):
        if self.step != self.saved_step or latest_checkpoint(self.run_dir) is None:
            save_checkpoint(self.model, self.run_dir, self.step)
            self.saved_step = self.step


class StopTraining(keras.callbacks.Callback):
    """Stops `fit` at `total_steps` or after `time_limit` seconds (checked per step)."""

    def __init__(self, initial_step, total_steps, time_limit=None):
        super().__init__()
        self.step = int(initial_step)
        self.total_steps = int(total_steps)
        self.time_limit = time_limit
        self.reason = None
        self._start = None

    def on_train_begin(self, logs=None):
        self._start = time.monotonic()

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        self._check()

    def on_epoch_end(self, epoch, logs=None):
        self._check()  # so that no new period starts after the limit

    def _check(self):
        if self.step >= self.total_steps:
            self.reason = "steps"
            self.model.stop_training = True
        elif self.time_limit is not None and time.monotonic() - self._start >= self.time_limit:
            self.reason = "time"
            self.model.stop_training = True


class ProgressReport(keras.callbacks.Callback):
    """A step progress bar (on terminals) and one line per period.

    Args:
        initial_step: the step training starts from.
        total_steps: the last step.
        print_fn: where period lines go (default: print to stdout).
    """

    METRICS = ("loss", "r_loss", "kl_bits", "accuracy")

    def __init__(self, initial_step, total_steps, print_fn=None):
        super().__init__()
        self.step = int(initial_step)
        self.total_steps = int(total_steps)
        self.print_fn = print_fn or (lambda line: print(line, flush=True))
        self._bar = None
        self._period_start = None

    def on_train_begin(self, logs=None):
        from tqdm.auto import tqdm

        self._bar = tqdm(
            total=self.total_steps,
            initial=self.step,
            unit="step",
            file=sys.stderr,
            disable=None,
            dynamic_ncols=True,
            leave=False,
            desc="training",
        )

    def on_epoch_begin(self, epoch, logs=None):
        self._period_start = time.monotonic()

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        if self._bar is not None and not self._bar.disable:
            self._bar.update(1)
            if logs and batch % 10 == 0:
                self._bar.set_postfix(
                    {k: f"{float(logs[k]):.3g}" for k in ("loss", "accuracy") if k in logs}, refresh=False
                )

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        parts = [f"step {self.step}/{self.total_steps}"]
        parts += [f"{k} {float(logs[k]):.4g}" for k in self.METRICS if k in logs]
        evaluation = []
        if "val_accuracy" in logs:
            evaluation.append(f"accuracy {float(logs['val_accuracy']):.3f} (teacher-forced)")
        if "val_sampled_accuracy" in logs:
            evaluation.append(f"{float(logs['val_sampled_accuracy']):.3f} (sampled)")
        line = "  ".join(parts)
        if evaluation:
            line += " | eval " + ", ".join(evaluation)
        if self._period_start is not None:
            line += f"  [{time.monotonic() - self._period_start:.0f} s]"
        if self._bar is not None and not self._bar.disable:
            self._bar.clear()
        self.print_fn(line)

    def on_train_end(self, logs=None):
        if self._bar is not None:
            self._bar.close()


# ---------------------------------------------------------------- train
@dataclasses.dataclass
class TrainingResult:
    """What `train` did.

    Attributes:
        initial_step: the step it started (resumed) from.
        final_step: the step it reached.
        stopped_by: "steps", "time", or "done" (nothing left to train).
        seconds: wall-clock seconds spent in `fit`.
        metrics: the last evaluation: `val_accuracy` (teacher-forced),
            `val_sampled_accuracy`, `val_loss`, ... (empty without an eval set).
    """

    initial_step: int
    final_step: int
    stopped_by: str
    seconds: float
    metrics: dict


def train(
    model,
    train_dataset,
    run_dir,
    total_steps,
    checkpoint_every=1000,
    eval_dataset=None,
    eval_examples=None,
    eval_batches=None,
    time_limit=None,
    tensorboard=True,
    print_fn=None,
):
    """Trains a compiled model in a run folder, resuming from its checkpoint.

    Args:
        model: a compiled `MusicVAE`.
        train_dataset: a repeating `tf.data.Dataset` of batch dicts.
        run_dir: the run folder (created).
        total_steps: train until the model's step reaches this.
        checkpoint_every: steps between checkpoints (and evaluations and
            log rows).
        eval_dataset: optional finite dataset of held-out batch dicts
            (teacher-forced `val_*` metrics through `model.fit`'s validation).
        eval_examples: optional held-out NumPy examples for the sampled
            accuracy (see `collect_examples`).
        eval_batches: evaluate on at most this many batches (None: all).
        time_limit: optional seconds after which training stops (after the
            current step) and a checkpoint is written.
        tensorboard: write TensorBoard logs (needs the `tensorboard` package;
            skipped without it).
        print_fn: where the per-period lines go (default stdout).

    Returns:
        A `TrainingResult`.
    """
    run_dir = pathlib.Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_files(run_dir)
    initial_step = restore_checkpoint(model, run_dir)
    initial_iterations = optimizer_iterations(model)
    if initial_step >= total_steps:
        metrics = evaluate(model, eval_dataset, eval_examples, eval_batches)
        return TrainingResult(initial_step, initial_step, "done", 0.0, metrics)
    checkpoint_every = max(1, int(checkpoint_every))
    initial_epoch = initial_step // checkpoint_every
    epochs = initial_epoch + math.ceil((total_steps - initial_step) / checkpoint_every)
    stopper = StopTraining(initial_step, total_steps, time_limit)
    callbacks = [
        stopper,
        StepCheckpoint(run_dir, checkpoint_every, initial_step),
    ]
    if eval_examples is not None and len(eval_examples.get("inputs", [])):
        callbacks.append(SampledAccuracy(eval_examples))
    callbacks.append(keras.callbacks.CSVLogger(str(run_dir / CSV_LOG), append=True))
    if tensorboard and tensorboard_available():
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(run_dir / TENSORBOARD_DIR)))
    callbacks.append(ProgressReport(initial_step, total_steps, print_fn))
    start = time.monotonic()
    try:
        history = model.fit(
            train_dataset,
            shuffle=False,  # the dataset shuffles
            epochs=epochs,
            initial_epoch=initial_epoch,
            steps_per_epoch=checkpoint_every,
            validation_data=eval_dataset,
            validation_steps=eval_batches,
            callbacks=callbacks,
            verbose=0,
        )
    except KeyboardInterrupt:
        # Ctrl-C: keep the steps since the last checkpoint.
        if hasattr(model, "jax_state_sync"):
            model.jax_state_sync()
        step = _interrupted_step(model, initial_step, initial_iterations, stopper.step)
        save_checkpoint(model, run_dir, step)
        (print_fn or (lambda line: print(line, flush=True)))(
            f"interrupted: checkpoint saved at step {step}; run again to continue."
        )
        raise
    seconds = time.monotonic() - start
    metrics = {k: float(v[-1]) for k, v in history.history.items() if k.startswith("val_") and v}
    final_step = model_step(model)
    _atomic_json(
        run_dir / EVAL_FILE,
        {"step": final_step, **{k: _finite(v) for k, v in metrics.items()}},
    )
    return TrainingResult(initial_step, final_step, stopper.reason or "steps", seconds, metrics)


def _interrupted_step(model, initial_step, initial_iterations, counted_step):
    """The run's step after a Ctrl-C, from the optimizer's iterations.

    The interrupt may come after a step's update and before the callbacks
    that count it, so the callbacks' count (`counted_step`) can be a step
    behind the weights. (An optimizer that skips steps, such as a loss-scale
    optimizer on non-finite gradients, counts fewer iterations than steps:
    the larger count wins.)
    """
    iterations = optimizer_iterations(model)
    if iterations is None or initial_iterations is None:
        return counted_step
    return max(counted_step, initial_step + iterations - initial_iterations)


def tensorboard_available():
    """Whether TensorBoard logs can be written (the `tensorboard` and `tensorflow` packages)."""
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("tensorboard", "tensorflow"))


def evaluate(model, eval_dataset=None, eval_examples=None, eval_batches=None):
    """Teacher-forced (`model.evaluate`) and sampled accuracy, as `val_*` metrics."""
    metrics = {}
    if eval_dataset is not None:
        result = model.evaluate(eval_dataset, steps=eval_batches, return_dict=True, verbose=0)
        metrics.update({f"val_{k}": float(v) for k, v in result.items()})
    if eval_examples is not None and len(eval_examples.get("inputs", [])):
        metrics["val_sampled_accuracy"] = sampled_accuracy(model, eval_examples)
    return metrics


def _finite(value):
    return value if math.isfinite(value) else None


def write_run_config(run_dir, config):
    """Writes `run.json` atomically."""
    pathlib.Path(run_dir).mkdir(parents=True, exist_ok=True)
    _atomic_json(pathlib.Path(run_dir) / RUN_CONFIG, config)


def read_run_config(run_dir):
    path = pathlib.Path(run_dir) / RUN_CONFIG
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is damaged ({e}).") from None
