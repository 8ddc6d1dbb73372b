"""`TrainingMethods`: `MusicVAE`'s objective and optimizer (Magenta's).

`loss_terms` computes Magenta's loss pieces (reconstruction loss, KL with
free bits, the beta schedule); `compute_loss` is what `fit` minimises and
updates the model's metrics (the step counter, `global_step`, advances in
the training forward pass, `MusicVAE.call`); `make_optimizer` / `compile` set up Magenta's
Adam with its decaying learning rate and gradient clipping (plus loss
scaling under "mixed_float16").
"""

import keras
import numpy as np
from keras import ops

from keras_musicvae.layers.latent_head import kl_divergence
from keras_musicvae.models import schedules
from keras_musicvae.models.optimizer import MusicVAEAdam


class TrainingMethods:
    """Mixin of `MusicVAE` (before `keras.Model` in its bases).

    Uses the model's hyperparameters (`learning_rate`, `free_bits`,
    `max_beta`, ...), `global_step`, `decoder`, `step_mask`, `_prepare` and
    its metric trackers.
    """

    def make_optimizer(self, initial_step=None, **kwargs):
        """Magenta's optimizer: Adam, decaying learning rate, clipping.

        The learning-rate schedule continues from the model's step: it is
        read at `initial_step + optimizer.iterations`, while Adam's bias
        correction starts afresh (Magenta resuming from a checkpoint without
        optimizer slots, e.g. a converted one). Build the optimizer (call
        `compile()`) after loading the weights that training continues from;
        a training run's own checkpoint, restored afterwards, carries the
        optimizer's iterations on top of that.

        Args:
            initial_step: int, the step of the optimizer's first iteration
                (default: the model's `global_step` now).
            **kwargs: other `MusicVAEAdam` arguments (e.g.
                `track_global_norm=True`).
        """
        if initial_step is None:
            initial_step = int(ops.convert_to_numpy(self.global_step))
        return MusicVAEAdam(
            learning_rate=schedules.MagentaLearningRate(
                self.learning_rate,
                self.decay_rate,
                self.min_learning_rate,
                initial_step=initial_step,
            ),
            grad_clip=self.grad_clip,
            grad_norm_clip_to_zero=self.grad_norm_clip_to_zero,
            **kwargs,
        )

    def align_learning_rate_to_step(self):
        """Makes the learning-rate schedule read the model's `global_step`.

        After weights and optimizer state are loaded into a compiled model
        (resuming a run), sets the schedule's `initial_step` to
        `global_step - optimizer.iterations`, so that the next step's rate is
        Magenta's rate at `global_step` whatever step the model had when the
        optimizer was made. Call it before training resumes (the training
        function reads `initial_step` when it is first traced). A no-op for
        an optimizer without a `MagentaLearningRate`.

        Returns:
            The `initial_step` set, or None when there is no such schedule.
        """
        optimizer = getattr(self, "optimizer", None)
        optimizer = getattr(optimizer, "inner_optimizer", optimizer)
        schedule = getattr(optimizer, "_learning_rate", None)
        if not isinstance(schedule, schedules.MagentaLearningRate):
            return None
        step = int(ops.convert_to_numpy(self.global_step))
        iterations = int(ops.convert_to_numpy(optimizer.iterations))
        schedule.initial_step = max(step - iterations, 0)
        return schedule.initial_step

    def compile(self, optimizer=None, auto_scale_loss=True, **kwargs):
        """`keras.Model.compile`; with no optimizer, Magenta's (`make_optimizer`).

        Under the "mixed_float16" policy the optimizer is wrapped in a
        `keras.optimizers.LossScaleOptimizer` (dynamic loss scaling: float16
        gradients of small losses would underflow to zero), unless
        `auto_scale_loss=False`. bfloat16 has float32's exponent range and
        needs no loss scaling. A decoder-only model (`include_encoder=False`)
        cannot be trained: this raises ValueError.
        """
        self.require_encoder("training")
        if optimizer is None:
            optimizer = self.make_optimizer()
        if (
            auto_scale_loss
            and self.dtype_policy.name == "mixed_float16"
            and not isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
        ):
            optimizer = keras.optimizers.LossScaleOptimizer(
                keras.optimizers.get(optimizer), name="loss_scale_optimizer"
            )
        super().compile(optimizer=optimizer, auto_scale_loss=auto_scale_loss, **kwargs)

    def compile_from_config(self, config):
        """Compiles as a `.keras` file says (`keras.models.load_model`, ModelCheckpoint files).

        Keras skips this for models that override `compile`; the optimizer
        is built here so that the file's optimizer state loads into it.
        """
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.built:
            self.optimizer.build(self.trainable_variables)

    def loss_terms(self, batch, outputs, step=None):
        """Magenta's loss pieces for a batch and the model's outputs.

        The KL weight is read at `step`; by default the step the outputs
        were trained at (`outputs["step"]`, from a training forward pass),
        else the model's `global_step`.

        Returns:
            dict: `r_loss` `[B]` (summed over valid steps), `kl` `[B]`
            (nats), `kl_cost` `[B]` (after free bits), `beta`, `loss`
            (scalar), `step_accuracy` `[B, T]` and `mask` `[B, T]`.
        """
        _, targets, lengths, _ = self._prepare(batch)
        # The loss, the KL and the metrics are float32 under every policy:
        # the reconstruction loss sums up to 256 per-step cross-entropies per
        # sequence and the KL up to 512 nearly cancelling terms, beyond
        # half precision's 8 (bfloat16) or 11 (float16) bits; the gradients
        # then start from a float32 loss (scaled under "mixed_float16").
        logits = ops.cast(outputs["logits"], "float32")
        targets = ops.cast(targets, "float32")
        mask = ops.cast(self.step_mask(lengths, targets.shape[1]), "float32")
        r_loss = ops.sum(self.decoder.step_losses(targets, logits) * mask, axis=1)
        mu = ops.cast(outputs["mu"], "float32")
        sigma = ops.cast(outputs["sigma"], "float32")
        kl = kl_divergence(mu, sigma)
        kl_cost = ops.maximum(kl - schedules.free_nats(self.free_bits), 0.0)
        if step is None:
            step = outputs.get("step", self.global_step)
        beta = schedules.kl_beta(self.max_beta, self.beta_rate, step)
        loss = ops.mean(r_loss) + beta * ops.mean(kl_cost)
        return {
            "r_loss": r_loss,
            "kl": kl,
            "kl_cost": kl_cost,
            "beta": beta,
            "loss": loss,
            "step_accuracy": self.decoder.step_accuracy(targets, logits),
            "mask": mask,
        }

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if y_pred is None:
            y_pred = self(x, training=training)
        # No state changes here: the step counter advanced in the forward
        # pass, whose step `loss_terms` reads from `y_pred["step"]`.
        terms = self.loss_terms(x, y_pred)
        self.r_loss_tracker.update_state(terms["r_loss"])
        self.kl_loss_tracker.update_state(terms["kl_cost"])
        self.kl_bits_tracker.update_state(terms["kl"] / np.log(2.0))
        self.kl_beta_tracker.update_state(terms["beta"])
        self.accuracy_tracker.update_state(terms["step_accuracy"], sample_weight=terms["mask"])
        if training and schedules.uses_scheduled_sampling(self.sampling_schedule, self.sampling_rate):
            probability = schedules.sampling_probability(
                self.sampling_schedule, self.sampling_rate, y_pred.get("step", self.global_step)
            )
        else:
            probability = 0.0
        self.sampling_probability_tracker.update_state(probability)
        loss = terms["loss"]
        losses = self.losses
        if losses:
            loss = loss + ops.sum(ops.stack([ops.cast(l, "float32") for l in losses]))
        return loss

    def _advance_step(self):
        """The training step this forward pass runs; advances `global_step`.

        `global_step` is the model's one step counter (Magenta's: restored by
        checkpoint conversion, written by export), read by the KL-weight and
        scheduled-sampling schedules. It advances here, in the training
        forward pass, as `BatchNormalization`'s statistics and the seed
        generators do: the place where every Keras backend (JAX's stateless
        training step included) lets a layer's state change during `fit`.
        The step of the pass (before the advance) goes out with the outputs
        as `"step"`, for the loss (`loss_terms`); evaluation and inference
        (`training=False`) leave the counter alone.

        Returns:
            int32 scalar, the step before the advance (a copy: PyTorch
            assigns variables in place).
        """
        step = ops.copy(ops.convert_to_tensor(self.global_step))
        self.global_step.assign_add(1)
        return step
