"""Multi-label RNN-NADE output head (`nade-drums_*` presets)."""

import math

import keras
from keras import ops

from keras_musicvae.layers.heads.output_head import OutputHead
from keras_musicvae.layers.heads.output_head import logistic_noise
from keras_musicvae.layers.heads.output_head import loss_dtype
from keras_musicvae.layers.heads.output_head import same_binary

_SAFE_LOG_EPSILON = 1e-6


@keras.saving.register_keras_serializable(package="keras_musicvae")
class NadeHead(OutputHead):
    """A NADE over `output_depth` binary labels, biased by the decoder.

    Magenta's `MultiLabelRnnNadeDecoder`: the decoder's projection gives
    `num_hidden + output_depth` values per step, the NADE's encoder bias
    `b_enc` and decoder bias `b_dec`; the NADE's own weights `w_enc`
    `[D, 1, H]` and `w_dec_t` `[D, H, 1]` (Magenta's shapes) are shared by all
    steps. For label `i`: `p_i = sigmoid(b_dec_i + sigmoid(a) @ w_dec_t[i])`,
    then `a += x_i * w_enc[i]`, starting from `a = b_enc`.

    Loss: `-log p(x)` with Magenta's `log(p + 1e-6)`. Accuracy: every label of
    the step right (conditional probabilities >= 0.5, teacher-forced).
    Sampling draws the labels one after another; temperature 0 thresholds at
    0.5 (Magenta's behaviour without temperature, also used for scheduled
    sampling).

    Precision: the decoder's projection runs in the compute dtype; the NADE
    itself (a chain of sigmoids and log-probabilities) runs in float32 for
    the loss, the accuracy and sampling, with its own weights read without
    autocasting. Samples come back in the logits' dtype.

    Args:
        output_depth: int, number of labels (9 or 61 drum classes).
        num_hidden: int, NADE hidden units.
        input_dim: int, units of the top decoder LSTM layer.
    """

    scheduled_sampling_temperature = 0.0

    def __init__(self, output_depth, num_hidden, input_dim, **kwargs):
        self.num_hidden = int(num_hidden)
        super().__init__(output_depth, input_dim, **kwargs)

    @property
    def logits_depth(self):
        return self.num_hidden + self.output_depth

    @property
    def noise_depth(self):
        return self.output_depth

    def build(self, input_shape=None):
        super().build(input_shape)
        init = keras.initializers.TruncatedNormal(stddev=1.0 / math.sqrt(self.output_depth))
        # autocast=False: read in the variable dtype, for the float32 NADE.
        self.w_enc = self.add_weight(
            name="w_enc",
            shape=(self.output_depth, 1, self.num_hidden),
            initializer=init,
            autocast=False,
        )
        self.w_dec_t = self.add_weight(
            name="w_dec_t",
            shape=(self.output_depth, self.num_hidden, 1),
            initializer=init,
            autocast=False,
        )

    def _run(self, logits, labels=None, temperature=0.0, noise=None):
        """Walks the labels; returns (labels, log_prob, cond_probs), float32."""
        dtype = loss_dtype(logits)
        logits = ops.cast(logits, dtype)
        w_enc = ops.cast(self.w_enc, dtype)
        w_dec_t = ops.cast(self.w_dec_t, dtype)
        b_enc = logits[..., : self.num_hidden]
        b_dec = logits[..., self.num_hidden :]
        a = b_enc
        log_prob = 0.0
        values, cond_probs = [], []
        for i in range(self.output_depth):
            cond_logit = b_dec[..., i] + ops.matmul(ops.sigmoid(a), w_dec_t[i])[..., 0]
            cond_p = ops.sigmoid(cond_logit)
            if labels is None:
                v = ops.cast(cond_logit + temperature * noise[..., i] >= 0, logits.dtype)
            else:
                v = ops.cast(labels[..., i], logits.dtype)
            log_prob = log_prob + (
                v * ops.log(cond_p + _SAFE_LOG_EPSILON)
                + (1.0 - v) * ops.log(1.0 - cond_p + _SAFE_LOG_EPSILON)
            )
            a = a + ops.expand_dims(v, -1) * w_enc[i, 0]
            values.append(v)
            cond_probs.append(cond_p)
        return ops.stack(values, -1), log_prob, ops.stack(cond_probs, -1)

    def step_loss(self, targets, logits):
        _, log_prob, _ = self._run(logits, labels=targets)
        return -log_prob

    def step_accuracy(self, targets, logits):
        _, _, cond_probs = self._run(logits, labels=targets)
        predicted = cond_probs >= 0.5
        truth = ops.cast(targets, "bool")
        return ops.cast(ops.all(ops.equal(predicted, truth), axis=-1), loss_dtype(logits))

    def sample_correct(self, samples, targets):
        """The whole multi-hot vector is right."""
        return ops.expand_dims(same_binary(samples, targets), -1)

    def sample(self, logits, temperature, noise):
        values, _, _ = self._run(logits, temperature=temperature, noise=noise)
        return ops.cast(values, logits.dtype)

    def make_noise(self, shape, seed):
        return logistic_noise(tuple(shape) + (self.noise_depth,), seed)

    def get_config(self):
        config = super().get_config()
        config["num_hidden"] = self.num_hidden
        return config
