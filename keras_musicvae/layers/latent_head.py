"""The posterior head: `mu`, `sigma` and the reparameterised sample."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_musicvae")
class LatentHead(keras.layers.Layer):
    """`mu = Dense(z_size)`, `sigma = softplus(Dense(z_size))`.

    Kernels are initialised with stddev 0.001, as Magenta's `encoder/mu` and
    `encoder/sigma`. `sigma` is a standard deviation.

    Args:
        z_size: int, latent size.
        input_dim: int, depth of the encoder output.

    Call arguments:
        encoding: `[B, input_dim]`.

    Returns:
        `(mu, sigma)`, each `[B, z_size]`.
    """

    def __init__(self, z_size, input_dim, **kwargs):
        super().__init__(**kwargs)
        self.z_size = int(z_size)
        self.input_dim = int(input_dim)
        self._seed_generator = keras.random.SeedGenerator()

    def build(self, input_shape=None):
        init = keras.initializers.RandomNormal(stddev=0.001)
        shape = (self.input_dim, self.z_size)
        self.mu_kernel = self.add_weight(name="mu_kernel", shape=shape, initializer=init)
        self.mu_bias = self.add_weight(name="mu_bias", shape=(self.z_size,), initializer="zeros")
        self.sigma_kernel = self.add_weight(name="sigma_kernel", shape=shape, initializer=init)
        self.sigma_bias = self.add_weight(
            name="sigma_bias", shape=(self.z_size,), initializer="zeros"
        )
        self.built = True

    def call(self, encoding):
        mu = ops.matmul(encoding, self.mu_kernel) + self.mu_bias
        sigma = ops.softplus(ops.matmul(encoding, self.sigma_kernel) + self.sigma_bias)
        return mu, sigma

    def sample(self, mu, sigma, seed=None):
        """`mu + sigma * eps`, `eps ~ N(0, I)` (seeded by `seed` or the layer)."""
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
