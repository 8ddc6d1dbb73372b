"""Categorical output heads: one softmax, or several (multi-stream, e.g. trio)."""

import keras
from keras import ops

from keras_musicvae.layers.heads.output_head import OutputHead
from keras_musicvae.layers.heads.output_head import argmax_one_hot
from keras_musicvae.layers.heads.output_head import gumbel_noise
from keras_musicvae.layers.heads.output_head import loss_dtype
from keras_musicvae.utils.splitting import split_by_sizes


@keras.saving.register_keras_serializable(package="keras_musicvae")
class CategoricalHead(OutputHead):
    """Softmax over `output_depth` classes (Magenta's `CategoricalLstmDecoder`).

    Loss: softmax cross-entropy per step. Accuracy: argmax equals the target
    class. Samples are one-hot vectors. Log-softmax, accuracy and the
    Gumbel-max decision in float32 (module docstring of `output_head`).
    """

    class_logits = True
    constant_samples = True

    def sample_correct(self, samples, targets):
        return ops.expand_dims(_same_class(samples, targets), -1)

    def step_loss(self, targets, logits):
        dtype = loss_dtype(logits)
        targets = ops.cast(targets, dtype)
        return -ops.sum(targets * ops.log_softmax(ops.cast(logits, dtype), axis=-1), axis=-1)

    def step_accuracy(self, targets, logits):
        return ops.cast(
            ops.equal(ops.argmax(logits, axis=-1), ops.argmax(targets, axis=-1)),
            loss_dtype(logits),
        )

    def sample(self, logits, temperature, noise):
        scores = ops.cast(logits, loss_dtype(logits)) + temperature * noise
        return argmax_one_hot(scores, self.output_depth, dtype=logits.dtype)

    def make_noise(self, shape, seed):
        return gumbel_noise(tuple(shape) + (self.noise_depth,), seed)


@keras.saving.register_keras_serializable(package="keras_musicvae")
class MultiStreamCategoricalHead(OutputHead):
    """Independent softmaxes over consecutive column groups of one projection.

    Magenta's `MultiOutCategoricalLstmDecoder` (`flat-trio`: melody 90, bass
    90, drums 512). The loss is the sum of the streams' cross-entropies; the
    accuracy is the mean of the streams' accuracies.

    Args:
        output_depths: list of ints, the depth of each stream.
        input_dim: int, units of the top decoder LSTM layer.
    """

    def __init__(self, output_depths, input_dim, **kwargs):
        kwargs.pop("output_depth", None)
        self.output_depths = [int(d) for d in output_depths]
        super().__init__(sum(self.output_depths), input_dim, **kwargs)

    class_logits = True
    constant_samples = True

    @property
    def stream_depths(self):
        return list(self.output_depths)

    def _split(self, x):
        return split_by_sizes(x, self.output_depths)

    def sample_correct(self, samples, targets):
        return ops.stack([_same_class(s, t) for s, t in zip(self._split(samples), self._split(targets))], axis=-1)

    def step_loss(self, targets, logits):
        dtype = loss_dtype(logits)
        targets = ops.cast(targets, dtype)
        logits = ops.cast(logits, dtype)
        total = 0.0
        for t, l in zip(self._split(targets), self._split(logits)):
            total = total - ops.sum(t * ops.log_softmax(l, axis=-1), axis=-1)
        return total

    def stream_accuracy(self, targets, logits):
        """Per-stream correctness, `[..., num_streams]` (float32)."""
        return ops.stack(
            [
                ops.cast(ops.equal(ops.argmax(l, -1), ops.argmax(t, -1)), loss_dtype(logits))
                for t, l in zip(self._split(targets), self._split(logits))
            ],
            axis=-1,
        )

    def step_accuracy(self, targets, logits):
        return ops.mean(self.stream_accuracy(targets, logits), axis=-1)

    def sample(self, logits, temperature, noise):
        scores = self._split(ops.cast(logits, loss_dtype(logits)) + temperature * noise)
        return ops.concatenate(
            [argmax_one_hot(s, d, dtype=logits.dtype) for s, d in zip(scores, self.output_depths)],
            axis=-1,
        )

    def make_noise(self, shape, seed):
        return gumbel_noise(tuple(shape) + (self.noise_depth,), seed)

    def get_config(self):
        config = super().get_config()
        config.pop("output_depth")
        config["output_depths"] = self.output_depths
        return config


def _same_class(samples, targets):
    """Whether the argmax classes agree, `[...]` (bool)."""
    return ops.equal(ops.argmax(samples, axis=-1), ops.argmax(targets, axis=-1))

