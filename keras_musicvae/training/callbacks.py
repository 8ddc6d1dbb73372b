"""The Keras callbacks of a training run: checkpoints, stopping, progress, sampled accuracy."""

import sys
import time

import keras

from keras_musicvae.training.accuracy import sampled_accuracy
from keras_musicvae.training.run_folder import latest_checkpoint
from keras_musicvae.training.run_folder import save_checkpoint


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
