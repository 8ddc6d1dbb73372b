"""Mixed precision: which dtype each part of the model computes in.

A layer's dtype policy (`float32`, `mixed_bfloat16`, `mixed_float16`,
`bfloat16`) sets its variable dtype and its compute dtype. The matrix
products (LSTM input and recurrent projections, output heads) run in the
compute dtype: that is where the time goes, and where bfloat16 pays on CPUs
with AVX512_BF16 and on accelerators. A few quantities are kept in float32
whatever the policy, because half precision would visibly change the result:

- the LSTM cell state `c` and its gradient (`lstm_recurrence.py`): `c` is a
  running sum over up to 256 steps (`c_t = f * c_{t-1} + i * g`); with 8 bits
  of mantissa (bfloat16) each step would round away contributions smaller
  than 1/256 of `c`, and the error would compound over the sequence;
- the posterior `mu`, `sigma` and `z` (`latent_head.py`): the KL is a sum of
  `mu^2 + sigma^2 - 1 - 2 log sigma` over up to 512 dimensions, whose terms
  nearly cancel for dimensions close to the prior (sigma near 1, where
  bfloat16's spacing is 1/128);
- softmax / log-softmax / sigmoid of the heads' losses and of sampling
  (`heads/`): log-probabilities of unlikely classes and the Gumbel-max
  comparison `logits + temperature * noise` need more than 8 bits;
- the loss, the KL and the metrics (`MusicVAE.loss_terms`), and the
  optimizer: the variables of a mixed policy are float32, and the gradients
  reach them in float32.

Helpers here are `keras.ops` only.
"""

from keras import ops

_HALF = ("float16", "bfloat16")


def accumulation_dtype(dtype):
    """float32 for a half-precision `dtype`, `dtype` itself otherwise."""
    name = getattr(dtype, "name", dtype)
    return "float32" if str(name) in _HALF else str(name)


def compute_weight(layer, variable):
    """`variable` read in `layer`'s compute dtype.

    Inside a mixed-precision layer's `__call__`, Keras already casts
    variables on read; layer methods called from elsewhere (the decoding
    loop, `decode`) read them in the variable dtype. Casting here makes both
    paths the same (a no-op when the dtypes already agree).
    """
    return ops.cast(variable, layer.compute_dtype)
