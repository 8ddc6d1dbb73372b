"""Base class of the decoder output heads.

A head owns the decoder's output projection (Magenta's
`decoder/output_projection`) and everything that depends on the output
distribution: the per-step loss, the per-step accuracy, and sampling.

Sampling is written as "argmax / threshold of (logits + temperature * noise)"
with the noise drawn outside the step loop: Gumbel noise for categoricals
(Gumbel-max trick), logistic noise for Bernoullis. For temperature T > 0 this
draws exactly from `softmax(logits / T)` / `sigmoid(logits / T)`; T = 0 gives
the argmax / `logit >= 0` decision. Drawing the noise up front keeps the step
loop free of random-state updates, so the same loop compiles on every
backend and exports to SavedModel / TF Lite with the noise as an input.

Precision: the projection runs in the layer's compute dtype and the logits
come out in it. Losses, accuracies and sampling decisions are computed in
float32 (`accumulation_dtype`) from those logits: log-softmax of unlikely
classes and the comparison `logits + temperature * noise` need more than
bfloat16's 8 bits of mantissa. Losses and accuracies are returned in float32;
samples in the logits' dtype (they are 0/1 or bounded values, fed back into
the decoder's compute-dtype products).
"""

import keras
from keras import ops

from keras_musicvae.layers.precision import accumulation_dtype
from keras_musicvae.layers.precision import compute_weight
from keras_musicvae.layers.step_projection import StepProjection


class OutputHead(keras.layers.Layer):
    """Projection from the top decoder LSTM state to the output distribution.

    Subclasses define `logits_depth`, `noise_depth`, `step_loss`,
    `step_accuracy`, `sample_correct`, `sample` and `make_noise`, and say
    what they support: `class_logits` (per-step class logits, so that
    teacher-forced accuracy is "argmax equals the target's class") and
    `stream_depths` (the categorical streams of the output).

    Args:
        output_depth: int, depth of the target / sampled vectors.
        input_dim: int, units of the top decoder LSTM layer.
    """

    #: Temperature of the model's own samples fed back during scheduled
    #: sampling (Magenta's `_sample` default).
    scheduled_sampling_temperature = 1.0

    #: Whether the logits are per-step class logits (categorical heads); NADE
    #: and groove outputs are not, and evaluation skips what needs them.
    class_logits = False

    #: Whether `sample` draws one-hot vectors from the logits and noise alone
    #: (no weights read, no gradient through the draw), so that a
    #: scheduled-sampling loop can treat the samples it feeds back as
    #: constants (`scheduled_sampling.py`'s hand-written backward pass).
    constant_samples = False

    def __init__(self, output_depth, input_dim, **kwargs):
        super().__init__(**kwargs)
        self.output_depth = int(output_depth)
        self.input_dim = int(input_dim)

    @property
    def logits_depth(self):
        return self.output_depth

    @property
    def noise_depth(self):
        return self.logits_depth

    @property
    def stream_depths(self):
        """Depths of the output's streams, `sample_correct`'s last axis (one stream here)."""
        return [self.output_depth]

    def build(self, input_shape=None):
        self.kernel = self.add_weight(
            name="kernel",
            shape=(self.input_dim, self.logits_depth),
            initializer="glorot_uniform",
        )
        self.bias = self.add_weight(
            name="bias", shape=(self.logits_depth,), initializer="zeros"
        )
        self.built = True

    def step_params(self, logits_dtype=None):
        """The projection as a `StepProjection` for a step loop, its weights
        read once per loop in `logits_dtype` (None: the compute dtype).

        Free-running sampling asks for float32 logits under a half-precision
        policy (`decoding.run_decoding_loop`): it samples from them, and the
        sampling decision compares them. Rounded to bfloat16 (8-bit mantissa:
        steps of 1/16 at a logit of 8), nearly equal classes tie or swap:
        greedy decoding in bfloat16 followed float32's tokens on 97.2% of the
        steps with bfloat16 logits, on 99.0-99.1% with float32 logits from
        the same bfloat16 hidden states (a trained cat_mel_2bar_small, every
        backend, `benchmarks/greedy_agreement.py`). The product is small
        (hidden units x classes); the LSTM products stay in the compute
        dtype. Scheduled sampling in training keeps the compute dtype: there
        float32 logits cost 4-9% of a cat_mel_2bar_small step on TensorFlow.
        """
        dtype = logits_dtype or self.compute_dtype
        return StepProjection(ops.cast(self.kernel, dtype), ops.cast(self.bias, dtype))

    def project(self, hidden, params=None):
        """The projection with given `step_params()` (logits in their dtype),
        or with the weights read here (None: logits in the compute dtype)."""
        if params is None:
            hidden = ops.cast(hidden, self.compute_dtype)
            return ops.matmul(hidden, compute_weight(self, self.kernel)) + compute_weight(
                self, self.bias
            )
        return params(ops.cast(hidden, keras.backend.standardize_dtype(params.kernel.dtype)))

    def call(self, hidden):
        """`[..., input_dim]` -> logits `[..., logits_depth]` (compute dtype)."""
        return self.project(hidden)

    def step_loss(self, targets, logits):
        """Per-step loss `[...]` of targets `[..., output_depth]`."""
        raise NotImplementedError

    def step_accuracy(self, targets, logits):
        """Per-step correctness in [0, 1], `[...]`."""
        raise NotImplementedError

    def sample_correct(self, samples, targets):
        """Per-step, per-stream correctness `[..., len(stream_depths)]` (bool)
        of decoded `samples` against `targets` (both `[..., output_depth]`)."""
        raise NotImplementedError

    def sample(self, logits, temperature, noise):
        """Sampled output vectors `[..., output_depth]` (float)."""
        raise NotImplementedError

    def make_noise(self, shape, seed):
        """Noise `shape + [noise_depth]` for `sample`."""
        raise NotImplementedError

    def get_config(self):
        config = super().get_config()
        config.update({"output_depth": self.output_depth, "input_dim": self.input_dim})
        return config


def same_binary(samples, targets):
    """Whether every 0/1 value (thresholded at 0.5) agrees, `[...]` (bool)."""
    return ops.all(ops.equal(ops.greater_equal(samples, 0.5), ops.greater_equal(targets, 0.5)), axis=-1)


#: Stream `i` of a multi-stream decoder draws its noise from the integer seed
#: `seed + STREAM_SEED_STRIDE * i` (the export code does the same).
STREAM_SEED_STRIDE = 7919


def stream_seed(seed, index):
    """The seed of stream `index`: an int for int seeds; a `SeedGenerator`
    (drawn from in turn) is returned as it is."""
    if isinstance(seed, int):
        return seed + STREAM_SEED_STRIDE * index
    return seed


def loss_dtype(logits):
    """The dtype losses and sampling decisions are computed in: float32 for
    half-precision logits."""
    return accumulation_dtype(keras.backend.standardize_dtype(logits.dtype))


#: `(minval, maxval)` of the uniforms behind the noise: open enough that the
#: logarithms stay finite. The export graphs (`keras_musicvae.export.noise`)
#: draw theirs in the same intervals.
GUMBEL_UNIFORM_RANGE = (1e-20, 1.0)
LOGISTIC_UNIFORM_RANGE = (1e-7, 1.0 - 1e-7)


def gumbel_from_uniform(uniform):
    """Gumbel(0, 1) noise `-log(-log(u))` from uniforms `u` in
    `GUMBEL_UNIFORM_RANGE` (also used by the export graphs)."""
    return -ops.log(-ops.log(uniform))


def logistic_from_uniform(uniform):
    """Logistic(0, 1) noise `log(u) - log(1 - u)` from uniforms `u` in
    `LOGISTIC_UNIFORM_RANGE` (also used by the export graphs)."""
    return ops.log(uniform) - ops.log1p(-uniform)


def gumbel_noise(shape, seed, dtype="float32"):
    """Gumbel(0, 1) noise (categorical sampling)."""
    minval, maxval = GUMBEL_UNIFORM_RANGE
    uniform = keras.random.uniform(shape, minval=minval, maxval=maxval, seed=seed, dtype=dtype)
    return gumbel_from_uniform(uniform)


def logistic_noise(shape, seed, dtype="float32"):
    """Logistic(0, 1) noise (Bernoulli sampling)."""
    minval, maxval = LOGISTIC_UNIFORM_RANGE
    uniform = keras.random.uniform(shape, minval=minval, maxval=maxval, seed=seed, dtype=dtype)
    return logistic_from_uniform(uniform)


def argmax_one_hot(scores, depth, dtype=None):
    """One-hot of the argmax over the last axis (via top_k: exports to TF Lite).

    The one-hot is the comparison of the class index with every class: the
    same tensor as `ops.one_hot`, which is slower per sampling step on eager
    PyTorch (sampling 8 cat_mel_2bar_small: about 13.4 -> 12.5 ms).
    """
    _, index = ops.top_k(scores, 1)
    classes = ops.arange(depth, dtype=index.dtype)
    return ops.cast(ops.equal(index, classes), dtype or scores.dtype)
