"""The posterior head: `mu`, `sigma` and the reparameterised sample."""

import keras
from keras import ops

from keras_musicvae.layers.precision import accumulation_dtype
from keras_musicvae.utils.building import resolve_input_dim


@keras.saving.register_keras_serializable(package="keras_musicvae")
class LatentHead(keras.layers.Layer):
    """`mu = Dense(z_size)`, `sigma = softplus(Dense(z_size))`.

    Kernels are initialised with stddev 0.001, as Magenta's `encoder/mu` and
    `encoder/sigma`. `sigma` is a standard deviation.

    Precision: whatever the dtype policy, this head computes in float32 (its
    variables follow the policy; a mixed policy's are float32 and are read
    without autocasting) and returns float32 `mu` and `sigma`, and `sample`
    a float32 z. The KL sums `mu^2 + sigma^2 - 1 - 2 log sigma` over up to
    512 dimensions, whose terms nearly cancel near the prior (sigma near 1,
    where bfloat16's spacing is 1/128); the cost is one small product per
    sequence. The decoder casts z to its compute dtype.

    Args:
        z_size: int, latent size.
        input_dim: int, depth of the encoder output; None: taken from the
            shape the layer is built with (its first call).

    Call arguments:
        encoding: `[B, input_dim]`.

    Returns:
        `(mu, sigma)`, each `[B, z_size]`, float32 (float64 under a float64
        policy).
    """

    def __init__(self, z_size, input_dim=None, **kwargs):
        super().__init__(**kwargs)
        self.z_size = int(z_size)
        self.input_dim = None if input_dim is None else int(input_dim)
        self._seed_generator = keras.random.SeedGenerator()

    def build(self, input_shape=None):
        self.input_dim = resolve_input_dim(self, self.input_dim, input_shape)
        init = keras.initializers.RandomNormal(stddev=0.001)
        shape = (self.input_dim, self.z_size)
        # autocast=False: read in the variable dtype (float32 under a mixed
        # policy) inside `__call__` too, for the float32 arithmetic below.
        self.mu_kernel = self.add_weight(
            name="mu_kernel", shape=shape, initializer=init, autocast=False
        )
        self.mu_bias = self.add_weight(
            name="mu_bias", shape=(self.z_size,), initializer="zeros", autocast=False
        )
        self.sigma_kernel = self.add_weight(
            name="sigma_kernel", shape=shape, initializer=init, autocast=False
        )
        self.sigma_bias = self.add_weight(
            name="sigma_bias", shape=(self.z_size,), initializer="zeros", autocast=False
        )
        self.built = True

    @property
    def output_dtype(self):
        """The dtype of `mu`, `sigma` and z: float32 for half policies."""
        return accumulation_dtype(self.compute_dtype)

    def call(self, encoding):
        dtype = self.output_dtype
        encoding = ops.cast(encoding, dtype)

        def dense(kernel, bias):
            return ops.matmul(encoding, ops.cast(kernel, dtype)) + ops.cast(bias, dtype)

        mu = dense(self.mu_kernel, self.mu_bias)
        sigma = ops.softplus(dense(self.sigma_kernel, self.sigma_bias))
        return mu, sigma

    def sample(self, mu, sigma, seed=None, noise=None):
        """`mu + sigma * eps`, `eps ~ N(0, I)`.

        Args:
            mu: `[B, z_size]`.
            sigma: `[B, z_size]`, standard deviations.
            seed: a seed or `SeedGenerator` for `eps` (default: the layer's).
            noise: optional `[B, z_size]` `eps` to use instead of drawing it
                (e.g. to replay recorded training steps).

        Returns:
            z `[B, z_size]`, in the dtype of `mu`.
        """
        if noise is not None:
            noise = ops.cast(noise, mu.dtype)
            if len(noise.shape) != 2 or (
                noise.shape[-1] is not None and noise.shape[-1] != self.z_size
            ):
                raise ValueError(
                    f"posterior noise must be [batch, {self.z_size}]; got shape "
                    f"{tuple(noise.shape)}."
                )
            return mu + sigma * noise
        seed = self._seed_generator if seed is None else seed
        return mu + sigma * keras.random.normal(ops.shape(mu), seed=seed, dtype=mu.dtype)

    def get_config(self):
        config = super().get_config()
        config.update({"z_size": self.z_size, "input_dim": self.input_dim})
        return config


def kl_divergence(mu, sigma):
    """KL(N(mu, diag sigma^2) || N(0, I)) in nats, summed over the last axis."""
    return 0.5 * ops.sum(
        ops.square(mu) + ops.square(sigma) - 1.0 - 2.0 * ops.log(sigma), axis=-1
    )
