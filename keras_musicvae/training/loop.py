"""`train`: `model.fit` in periods of `checkpoint_every` steps in a run folder, resuming.

`train()` runs `model.fit` in periods of `checkpoint_every` steps (Keras
"epochs"): after each period the model is evaluated on the held-out set
(teacher-forced accuracy and loss through Keras' validation, and the sampled
accuracy of `SampledAccuracy`), a checkpoint is written, and a row is added
to the CSV and TensorBoard logs. A run stops at `total_steps`, at a time
limit, or when interrupted; the next run on the folder restores the weights,
the optimizer state and the step (the model's `global_step`, which drives the
KL and scheduled-sampling schedules, lies in the weights) from the checkpoint
and continues from there.
"""

import dataclasses
import math
import pathlib
import time

import keras

from keras_musicvae.training.accuracy import sampled_accuracy
from keras_musicvae.training.callbacks import ProgressReport
from keras_musicvae.training.callbacks import SampledAccuracy
from keras_musicvae.training.callbacks import StepCheckpoint
from keras_musicvae.training.callbacks import StopTraining
from keras_musicvae.training.run_folder import CSV_LOG
from keras_musicvae.training.run_folder import EVAL_FILE
from keras_musicvae.training.run_folder import TENSORBOARD_DIR
from keras_musicvae.training.run_folder import write_json
from keras_musicvae.training.run_folder import model_step
from keras_musicvae.training.run_folder import optimizer_iterations
from keras_musicvae.training.run_folder import remove_stale_files
from keras_musicvae.training.run_folder import restore_checkpoint
from keras_musicvae.training.run_folder import save_checkpoint


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
    write_dir=None,
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
        write_dir: where this process writes checkpoints, logs and
            `eval.json` (default `run_dir`). The workers of a multi-worker
            job other than the chief pass a private folder: they restore
            from `run_dir`, which the chief alone writes.

    Returns:
        A `TrainingResult`.
    """
    run_dir = pathlib.Path(run_dir)
    write_dir = run_dir if write_dir is None else pathlib.Path(write_dir)
    write_dir.mkdir(parents=True, exist_ok=True)
    if write_dir == run_dir:
        remove_stale_files(run_dir)
    initial_step = restore_checkpoint(model, run_dir)
    # The learning rate follows the model's step (a converted Magenta
    # checkpoint starts at its own), whatever step the model was compiled at.
    if hasattr(model, "align_learning_rate_to_step"):
        model.align_learning_rate_to_step()
    initial_iterations = optimizer_iterations(model)
    eval_dataset, eval_batches = limit_batches(eval_dataset, eval_batches)
    if initial_step >= total_steps:
        metrics = evaluate(model, eval_dataset, eval_examples, eval_batches)
        return TrainingResult(initial_step, initial_step, "done", 0.0, metrics)
    checkpoint_every = max(1, int(checkpoint_every))
    initial_epoch = initial_step // checkpoint_every
    epochs = initial_epoch + math.ceil((total_steps - initial_step) / checkpoint_every)
    stopper = StopTraining(initial_step, total_steps, time_limit)
    callbacks = [
        stopper,
        StepCheckpoint(write_dir, checkpoint_every, initial_step),
    ]
    if eval_examples is not None and len(eval_examples.get("inputs", [])):
        callbacks.append(SampledAccuracy(eval_examples))
    callbacks.append(keras.callbacks.CSVLogger(str(write_dir / CSV_LOG), append=True))
    if tensorboard and tensorboard_available():
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(write_dir / TENSORBOARD_DIR)))
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
        save_checkpoint(model, write_dir, step)
        (print_fn or (lambda line: print(line, flush=True)))(
            f"interrupted: checkpoint saved at step {step}; run again to continue."
        )
        raise
    seconds = time.monotonic() - start
    metrics = {k: float(v[-1]) for k, v in history.history.items() if k.startswith("val_") and v}
    final_step = model_step(model)
    write_json(
        write_dir / EVAL_FILE,
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


def limit_batches(dataset, max_batches):
    """`(dataset, steps)` that evaluate on at most `max_batches` batches of `dataset`.

    A tf.data dataset is cut with `take` (steps None): a held-out set with fewer
    batches than the limit is then simply evaluated whole, where `steps` beyond
    its end would make Keras warn, at every evaluation, that the input "ran out
    of data". Other inputs keep `steps`.
    """
    if dataset is None or max_batches is None or not hasattr(dataset, "take"):
        return dataset, max_batches
    return dataset.take(int(max_batches)), None


def evaluate(model, eval_dataset=None, eval_examples=None, eval_batches=None):
    """Teacher-forced (`model.evaluate`) and sampled accuracy, as `val_*` metrics."""
    metrics = {}
    eval_dataset, eval_batches = limit_batches(eval_dataset, eval_batches)
    if eval_dataset is not None:
        result = model.evaluate(eval_dataset, steps=eval_batches, return_dict=True, verbose=0)
        metrics.update({f"val_{k}": float(v) for k, v in result.items()})
    if eval_examples is not None and len(eval_examples.get("inputs", [])):
        metrics["val_sampled_accuracy"] = sampled_accuracy(model, eval_examples)
    return metrics


def _finite(value):
    return value if math.isfinite(value) else None
