"""GrooVAE output head: drum hits, velocities and micro-timing offsets."""

import keras
from keras import ops

from keras_musicvae.layers.heads.output_head import OutputHead
from keras_musicvae.layers.heads.output_head import logistic_noise
from keras_musicvae.layers.heads.output_head import loss_dtype
from keras_musicvae.layers.heads.output_head import same_binary

_LOG_LOSS_EPSILON = 1e-7


@keras.saving.register_keras_serializable(package="keras_musicvae")
class GrooveHead(OutputHead):
    """Magenta's `GrooveLstmDecoder` outputs: `[hits | velocities | offsets]`.

    For `N` drum classes the logits are `[..., 3N]`: hits through a sigmoid
    (Bernoulli), velocities through a sigmoid (0..1), offsets through a tanh
    (-1..1). Loss per step: summed log-loss of the hits (epsilon 1e-7) plus
    summed squared errors of velocities and offsets. Temperature applies to
    the hits only. Accuracy: every hit of the step right (threshold 0.5).
    Loss, accuracy and sampling in float32 (`output_head` docstring).

    Args:
        num_instruments: int, drum classes (9 for the published presets).
        input_dim: int, units of the top decoder LSTM layer.
    """

    def __init__(self, num_instruments=9, input_dim=None, **kwargs):
        kwargs.pop("output_depth", None)
        self.num_instruments = int(num_instruments)
        super().__init__(3 * self.num_instruments, input_dim, **kwargs)

    @property
    def noise_depth(self):
        return self.num_instruments

    def activate(self, logits):
        """`(hit probabilities, velocities, offsets)`, each `[..., N]`."""
        hits, velocities, offsets = ops.split(logits, 3, axis=-1)
        return ops.sigmoid(hits), ops.sigmoid(velocities), ops.tanh(offsets)

    def step_loss(self, targets, logits):
        logits = ops.cast(logits, loss_dtype(logits))
        targets = ops.cast(targets, logits.dtype)
        target_hits, target_velocities, target_offsets = ops.split(targets, 3, axis=-1)
        hits, velocities, offsets = self.activate(logits)
        hits_loss = -(
            target_hits * ops.log(hits + _LOG_LOSS_EPSILON)
            + (1.0 - target_hits) * ops.log(1.0 - hits + _LOG_LOSS_EPSILON)
        )
        return (
            ops.sum(hits_loss, axis=-1)
            + ops.sum(ops.square(target_velocities - velocities), axis=-1)
            + ops.sum(ops.square(target_offsets - offsets), axis=-1)
        )

    def step_accuracy(self, targets, logits):
        logits = ops.cast(logits, loss_dtype(logits))
        target_hits = ops.cast(targets, logits.dtype)[..., : self.num_instruments]
        predicted = ops.cast(logits[..., : self.num_instruments] > 0, logits.dtype)
        return ops.cast(ops.all(ops.equal(predicted, target_hits), axis=-1), logits.dtype)

    def sample_correct(self, samples, targets):
        """Every hit is right (velocities and offsets are not compared)."""
        hits = self.num_instruments
        return ops.expand_dims(same_binary(samples[..., :hits], targets[..., :hits]), -1)

    def sample(self, logits, temperature, noise):
        dtype = logits.dtype
        hit_logits, velocity_logits, offset_logits = ops.split(
            ops.cast(logits, loss_dtype(logits)), 3, axis=-1
        )
        hits = ops.cast(hit_logits + temperature * noise > 0, hit_logits.dtype)
        sample = ops.concatenate(
            [hits, ops.sigmoid(velocity_logits), ops.tanh(offset_logits)], axis=-1
        )
        return ops.cast(sample, dtype)

    def make_noise(self, shape, seed):
        return logistic_noise(tuple(shape) + (self.noise_depth,), seed)

    def get_config(self):
        config = super().get_config()
        config.pop("output_depth")
        config["num_instruments"] = self.num_instruments
        return config
