"""Magenta's training schedules: learning rate, KL weight, scheduled sampling."""

import math

import keras
from keras import ops

SAMPLING_SCHEDULES = ("constant", "exponential", "inverse_sigmoid")


@keras.saving.register_keras_serializable(package="keras_musicvae")
class MagentaLearningRate(keras.optimizers.schedules.LearningRateSchedule):
    """`(learning_rate - min_learning_rate) * decay_rate**step + min_learning_rate`.

    Keras calls a schedule with the optimizer's `iterations`, which also
    drive Adam's bias correction; Magenta reads its `global_step` for the
    rate and keeps Adam's own step separately. `initial_step` reconciles the
    two when a fresh optimizer continues a model already trained
    `initial_step` steps (a converted Magenta checkpoint, a preset): the
    rate is read at `initial_step + iterations` while Adam starts at its
    first step, exactly as Magenta resuming from a checkpoint without Adam
    slots. `MusicVAE.make_optimizer` sets it to the model's `global_step`.

    Args:
        learning_rate: float, the rate at step 0.
        decay_rate: float, decay per step.
        min_learning_rate: float, the floor.
        initial_step: int, the training step of the optimizer's iteration 0.
    """

    def __init__(
        self, learning_rate=1e-3, decay_rate=0.9999, min_learning_rate=1e-5, initial_step=0
    ):
        self.learning_rate = float(learning_rate)
        self.decay_rate = float(decay_rate)
        self.min_learning_rate = float(min_learning_rate)
        self.initial_step = int(initial_step)
        if self.initial_step < 0:
            raise ValueError(f"initial_step must be >= 0; got {initial_step}.")

    def __call__(self, step):
        step = ops.cast(step, "float32") + float(self.initial_step)
        return (self.learning_rate - self.min_learning_rate) * ops.power(
            self.decay_rate, step
        ) + self.min_learning_rate

    def get_config(self):
        return {
            "learning_rate": self.learning_rate,
            "decay_rate": self.decay_rate,
            "min_learning_rate": self.min_learning_rate,
            "initial_step": self.initial_step,
        }


def validate_sampling_schedule(schedule, rate):
    """Raises ValueError, as Magenta, for a schedule/rate that makes no sense."""
    if schedule not in SAMPLING_SCHEDULES:
        raise ValueError(
            f"Unknown sampling_schedule {schedule!r}; use one of {SAMPLING_SCHEDULES}."
        )
    if schedule == "constant" and not 0 <= rate <= 1:
        raise ValueError(f"`constant` sampling_rate must be in [0, 1]; got {rate}.")
    if schedule == "exponential" and not 0 < rate < 1:
        raise ValueError(f"`exponential` sampling_rate must be in (0, 1); got {rate}.")
    if schedule == "inverse_sigmoid" and rate < 1:
        raise ValueError(f"`inverse_sigmoid` sampling_rate must be at least 1; got {rate}.")


def uses_scheduled_sampling(schedule, rate):
    """False only for `constant` with rate 0 (pure teacher forcing)."""
    return not (schedule == "constant" and rate == 0)


def sampling_probability(schedule, rate, step):
    """Probability of feeding the model's own sample at a training step.

    constant: `rate`; exponential: `1 - rate**step`; inverse_sigmoid:
    `1 - k / (k + exp(step / k))` with `k = rate`.
    """
    step = ops.cast(step, "float32")
    if schedule == "constant":
        return ops.cast(rate, "float32") + 0.0 * step
    if schedule == "exponential":
        return 1.0 - ops.power(float(rate), step)
    if schedule == "inverse_sigmoid":
        k = float(rate)
        return 1.0 - k / (k + ops.exp(step / k))
    raise ValueError(f"Unknown sampling_schedule {schedule!r}.")


def kl_beta(max_beta, beta_rate, step):
    """`(1 - beta_rate**step) * max_beta`."""
    step = ops.cast(step, "float32")
    return (1.0 - ops.power(float(beta_rate), step)) * float(max_beta)


def free_nats(free_bits):
    return float(free_bits) * math.log(2.0)
