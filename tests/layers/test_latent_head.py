"""`LatentHead` (mu, softplus sigma, reparameterised sample) and `kl_divergence`."""

import keras
import numpy as np
import pytest

from keras_musicvae.layers.latent_head import LatentHead
from keras_musicvae.layers.latent_head import kl_divergence

from testing import run_serialization_test
from testing import tensor

from .numpy_reference import randomize_weights
from .numpy_reference import to_numpy


def _head(z_size=3, input_dim=4, seed=0):
    head = LatentHead(z_size, input_dim)
    head.build()
    return randomize_weights(head, seed)


def test_mu_and_sigma_equal_dense_and_softplus():
    rng = np.random.default_rng(0)
    head = _head()
    encoding = rng.normal(size=(2, 4))
    mu, sigma = head(tensor(encoding))
    np.testing.assert_allclose(
        to_numpy(mu), encoding @ to_numpy(head.mu_kernel) + to_numpy(head.mu_bias), atol=1e-5
    )
    pre = encoding @ to_numpy(head.sigma_kernel) + to_numpy(head.sigma_bias)
    np.testing.assert_allclose(to_numpy(sigma), np.log1p(np.exp(pre)), atol=1e-5)
    assert np.all(to_numpy(sigma) > 0)


def test_initialisation_matches_magenta():
    keras.utils.set_random_seed(0)
    head = LatentHead(256, 512)
    head.build()
    for kernel in (head.mu_kernel, head.sigma_kernel):
        values = to_numpy(kernel)
        assert values.shape == (512, 256)
        assert 0.0009 < values.std() < 0.0011
    np.testing.assert_array_equal(to_numpy(head.mu_bias), 0.0)
    np.testing.assert_array_equal(to_numpy(head.sigma_bias), 0.0)


def test_kl_divergence_equals_closed_form():
    rng = np.random.default_rng(1)
    mu = rng.normal(size=(3, 5))
    sigma = rng.uniform(0.1, 2.0, size=(3, 5))
    # KL(N(mu, sigma^2) || N(0, 1)) = log(1/sigma) + (sigma^2 + mu^2) / 2 - 1/2, per dim.
    expected = np.sum(-np.log(sigma) + (sigma**2 + mu**2) / 2.0 - 0.5, axis=-1)
    np.testing.assert_allclose(to_numpy(kl_divergence(tensor(mu), tensor(sigma))), expected, rtol=1e-5)


def test_kl_divergence_is_zero_for_the_prior():
    kl = kl_divergence(tensor(np.zeros((2, 4))), tensor(np.ones((2, 4))))
    np.testing.assert_allclose(to_numpy(kl), 0.0, atol=1e-7)


def test_sample_with_fixed_seed_is_deterministic():
    head = _head()
    mu, sigma = tensor(np.zeros((4, 3))), tensor(np.ones((4, 3)))
    a = to_numpy(head.sample(mu, sigma, seed=42))
    b = to_numpy(head.sample(mu, sigma, seed=42))
    c = to_numpy(head.sample(mu, sigma, seed=43))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_sample_without_seed_advances_the_layer_generator():
    head = _head()
    mu, sigma = tensor(np.zeros((4, 3))), tensor(np.ones((4, 3)))
    assert not np.allclose(to_numpy(head.sample(mu, sigma)), to_numpy(head.sample(mu, sigma)))


def test_sample_has_the_posterior_mean_and_std():
    head = _head()
    n = 20000
    mu_values = np.array([-2.0, 0.5, 3.0], "float32")
    sigma_values = np.array([0.1, 1.0, 2.5], "float32")
    mu = tensor(np.broadcast_to(mu_values, (n, 3)))
    sigma = tensor(np.broadcast_to(sigma_values, (n, 3)))
    z = to_numpy(head.sample(mu, sigma, seed=7))
    # Standard errors: sigma / sqrt(n) for the mean, sigma / sqrt(2n) for the std.
    np.testing.assert_allclose(z.mean(0), mu_values, atol=float(5 * sigma_values.max() / np.sqrt(n)))
    np.testing.assert_allclose(z.std(0), sigma_values, rtol=5 / np.sqrt(2 * n))
    standardized = (z - mu_values) / sigma_values
    assert abs(np.corrcoef(standardized.T)[0, 1]) < 0.05


def test_config_round_trip():
    head = LatentHead(8, 6, name="latent")
    clone = run_serialization_test(head)
    assert (clone.z_size, clone.input_dim, clone.name) == (8, 6, "latent")


def test_input_dim_comes_from_the_first_call_when_not_given():
    head = LatentHead(3)
    mu, sigma = head(tensor(np.ones((2, 6), "float32")))
    assert head.input_dim == 6 and tuple(mu.shape) == (2, 3) and tuple(sigma.shape) == (2, 3)
    assert tuple(head.mu_kernel.shape) == (6, 3)
    with pytest.raises(ValueError, match=r"'latent' was made for inputs of depth 4"):
        LatentHead(3, 4, name="latent").build((None, 6))
