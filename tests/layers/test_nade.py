"""`NadeHead`: NADE log-probability (Magenta's safe log), accuracy, sampling."""

import itertools

import keras
import numpy as np
import pytest

from keras_musicvae.layers.heads import NadeHead

from testing import run_serialization_test
from testing import tensor

from .numpy_reference import randomize_weights
from .numpy_reference import sigmoid
from .numpy_reference import to_numpy


def _head(depth=3, hidden=4, input_dim=2, seed=0):
    head = NadeHead(depth, hidden, input_dim)
    head.build()
    return randomize_weights(head, seed, scale=1.0)


def _conditionals(head, logits, labels):
    """NumPy NADE: conditional p(x_i = 1 | x_<i) for one step `[U]`."""
    w_enc = to_numpy(head.w_enc)  # [D, 1, H]
    w_dec_t = to_numpy(head.w_dec_t)  # [D, H, 1]
    a = logits[: head.num_hidden].copy()
    b_dec = logits[head.num_hidden :]
    probs = []
    for i in range(head.output_depth):
        probs.append(sigmoid(b_dec[i] + sigmoid(a) @ w_dec_t[i][:, 0]))
        a = a + labels[i] * w_enc[i, 0]
    return np.array(probs)


def _log_prob(head, logits, labels):
    p = _conditionals(head, logits, labels)
    return np.sum(labels * np.log(p + 1e-6) + (1 - labels) * np.log(1 - p + 1e-6))


def test_shapes():
    head = _head(depth=9, hidden=5, input_dim=3)
    assert head.logits_depth == 14 and head.noise_depth == 9 and head.output_depth == 9
    assert tuple(head.w_enc.shape) == (9, 1, 5) and tuple(head.w_dec_t.shape) == (9, 5, 1)
    assert tuple(head.kernel.shape) == (3, 14)


def test_step_loss_is_minus_nade_log_prob_with_safe_log():
    rng = np.random.default_rng(0)
    head = _head()
    logits = rng.normal(scale=2.0, size=(2, 3, head.logits_depth))
    logits[0, 0, head.num_hidden] = 30.0  # p_0 ~ 1 while x_0 = 0: log(1e-6) is finite
    labels = rng.integers(0, 2, size=(2, 3, head.output_depth)).astype("float64")
    labels[0, 0, 0] = 0.0
    expected = np.array(
        [[-_log_prob(head, logits[b, t], labels[b, t]) for t in range(3)] for b in range(2)]
    )
    loss = to_numpy(head.step_loss(tensor(labels), tensor(logits)))
    np.testing.assert_allclose(loss, expected, rtol=1e-4, atol=1e-5)
    assert np.isfinite(loss).all() and loss[0, 0] > -np.log(2e-6) - 1


def test_probabilities_of_all_label_vectors_sum_to_one():
    rng = np.random.default_rng(1)
    head = _head()
    logits = rng.normal(size=(head.logits_depth,))
    outcomes = np.array(list(itertools.product([0.0, 1.0], repeat=head.output_depth)))
    loss = to_numpy(
        head.step_loss(tensor(outcomes), tensor(np.broadcast_to(logits, (len(outcomes), head.logits_depth))))
    )
    np.testing.assert_allclose(np.exp(-loss).sum(), 1.0, atol=1e-4)


def test_step_accuracy_uses_teacher_forced_conditionals():
    rng = np.random.default_rng(2)
    head = _head()
    logits = rng.normal(scale=2.0, size=(6, head.logits_depth))
    labels = rng.integers(0, 2, size=(6, head.output_depth)).astype("float64")
    expected = [
        float(np.all((_conditionals(head, l, x) >= 0.5) == x.astype(bool)))
        for l, x in zip(logits, labels)
    ]
    np.testing.assert_array_equal(
        to_numpy(head.step_accuracy(tensor(labels), tensor(logits))), expected
    )


def test_temperature_zero_sample_thresholds_each_conditional_in_turn():
    rng = np.random.default_rng(3)
    head = _head()
    logits = rng.normal(scale=2.0, size=(5, head.logits_depth))
    samples = to_numpy(head.sample(tensor(logits), 0.0, head.make_noise((5,), 0)))
    for l, s in zip(logits, samples):
        # Greedy: x_i = [p(x_i | x_<i) >= 0.5], with the already chosen x_<i.
        chosen = np.zeros(head.output_depth)
        for i in range(head.output_depth):
            chosen[i] = float(_conditionals(head, l, chosen)[i] >= 0.5)
        np.testing.assert_array_equal(s, chosen)


@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_sample_distribution_matches_nade_with_tempered_conditionals(temperature):
    rng = np.random.default_rng(4)
    head = _head()
    logits = rng.normal(size=(head.logits_depth,))
    outcomes = list(itertools.product([0.0, 1.0], repeat=head.output_depth))
    # Exact distribution: each label Bernoulli(sigmoid(logit_i / T)) given x_<i.
    probabilities = []
    for x in outcomes:
        x = np.array(x)
        p = _conditionals(head, logits, x)
        logit = np.log(p) - np.log1p(-p)
        q = sigmoid(logit / temperature)
        probabilities.append(np.prod(np.where(x == 1, q, 1 - q)))
    probabilities = np.array(probabilities)
    np.testing.assert_allclose(probabilities.sum(), 1.0, atol=1e-9)
    n = 20000
    samples = to_numpy(
        head.sample(
            tensor(np.broadcast_to(logits, (n, head.logits_depth))),
            temperature,
            head.make_noise((n,), 5),
        )
    )
    index = (samples @ (2 ** np.arange(head.output_depth)[::-1])).astype(int)
    counts = np.bincount(index, minlength=len(outcomes))
    expected = probabilities * n
    keep = expected > 5
    chi2 = np.sum((counts[keep] - expected[keep]) ** 2 / expected[keep])
    # 7 degrees of freedom at most: P(X > 40) ~ 1e-6.
    assert chi2 < 40.0
    assert counts[~keep].sum() < 5 * max(expected[~keep].sum(), 1.0) + 10


def test_scheduled_sampling_is_greedy():
    assert NadeHead.scheduled_sampling_temperature == 0.0


def test_initialisation_stddev():
    keras.utils.set_random_seed(0)
    head = NadeHead(61, 128, 8)
    head.build()
    # Truncated normal with stddev 1/sqrt(D) (truncation shrinks the std by ~12%).
    std = to_numpy(head.w_enc).std()
    assert 0.8 / np.sqrt(61) < std < 1.05 / np.sqrt(61)


def test_config_round_trip():
    head = NadeHead(9, 8, 4, name="nade")
    config = head.get_config()
    assert config["num_hidden"] == 8 and config["output_depth"] == 9
    clone = run_serialization_test(head)
    assert isinstance(clone, NadeHead) and clone.num_hidden == 8 and clone.logits_depth == 17


def test_a_sample_is_right_when_its_whole_multi_hot_vector_is():
    head = NadeHead(4, 3, 2)
    assert not head.class_logits and head.stream_depths == [4]
    targets = np.array([[[1, 0, 1, 0], [0, 0, 0, 0], [1, 1, 1, 1]]], "float32")
    samples = np.array([[[1, 0, 1, 0], [0, 1, 0, 0], [1, 1, 1, 0]]], "float32")
    np.testing.assert_array_equal(to_numpy(head.sample_correct(samples, targets)), [[[True], [False], [False]]])
