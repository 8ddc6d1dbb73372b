"""Tests for keras_musicvae.evaluation.kneser_ney (interpolated Kneser-Ney)."""

import math

import numpy as np
import pytest

from keras_musicvae.evaluation.kneser_ney import KneserNeyLanguageModel

# Toy corpus over tokens {0, 1, 2} (2 never occurs); padded as
#   <s> 0 1 </s>  |  <s> 0 1 1 </s>  |  <s> 1 0 </s>
TOY_CORPUS = [[0, 1], [0, 1, 1], [1, 0]]
END = 3  # vocab_size stands for </s>

# Hand computation for order 2, fixed discount D = 0.5, vocabulary
# {0, 1, 2, </s>} (4 predictable tokens).
# Bigram raw counts: (<s>,0)=2 (<s>,1)=1 (0,1)=2 (0,</s>)=1 (1,</s>)=2
#                    (1,1)=1 (1,0)=1.
# Unigram continuation counts (distinct left neighbours):
#   0 <- {<s>, 1} = 2;  1 <- {0, 1, <s>} = 3;  </s> <- {1, 0} = 2;  2 = 0.
#   total 7, 3 types -> gamma() = 0.5 * 3 / 7 = 1.5 / 7; uniform floor 1/4.
P1 = {
    0: (2 - 0.5) / 7 + (1.5 / 7) / 4,  # = 1.875 / 7
    1: (3 - 0.5) / 7 + (1.5 / 7) / 4,  # = 2.875 / 7
    2: (1.5 / 7) / 4,  # = 0.375 / 7 (never seen)
    END: (2 - 0.5) / 7 + (1.5 / 7) / 4,  # = 1.875 / 7
}
# Context 0: (0,1)=2, (0,</s>)=1 -> total 3, 2 types, gamma(0) = 0.5 * 2 / 3 = 1/3.
P_1_AFTER_0 = (2 - 0.5) / 3 + (1 / 3) * P1[1]  # = 0.636905
P_2_AFTER_0 = (1 / 3) * P1[2]  # unseen bigram: pure back-off, = 0.017857
# Context <s>: (<s>,0)=2, (<s>,1)=1 -> total 3, 2 types, gamma = 1/3.
P_0_AFTER_BOS = (2 - 0.5) / 3 + (1 / 3) * P1[0]  # = 0.589286
# Context 1: (1,</s>)=2, (1,1)=1, (1,0)=1 -> total 4, 3 types, gamma = 1.5 / 4.
P_END_AFTER_1 = (2 - 0.5) / 4 + (1.5 / 4) * P1[END]  # = 0.475446


@pytest.fixture(scope="module")
def bigram_model():
    return KneserNeyLanguageModel(order=2, vocab_size=3, discount=0.5).fit(TOY_CORPUS)


def test_unigram_level_hand_computed(bigram_model):
    # A context never seen (token 2) backs off to the unigram distribution.
    np.testing.assert_allclose(
        bigram_model.distribution([2]), [P1[0], P1[1], P1[2], P1[END]], rtol=1e-12
    )
    assert sum(P1.values()) == pytest.approx(1.0)


def test_bigram_probabilities_hand_computed(bigram_model):
    assert bigram_model.prob(1, [0]) == pytest.approx(P_1_AFTER_0, rel=1e-12)
    assert bigram_model.prob(2, [0]) == pytest.approx(P_2_AFTER_0, rel=1e-12)
    assert bigram_model.prob(0, [], sentence_start=True) == pytest.approx(P_0_AFTER_BOS, rel=1e-12)
    assert bigram_model.prob(END, [1]) == pytest.approx(P_END_AFTER_1, rel=1e-12)
    assert P_1_AFTER_0 == pytest.approx(0.636905, abs=1e-6)


def test_sequence_log_prob_hand_computed(bigram_model):
    # log p(<s> 0 1 </s>) = log p(0|<s>) + log p(1|0) + log p(</s>|1).
    expected = math.log(P_0_AFTER_BOS) + math.log(P_1_AFTER_0) + math.log(P_END_AFTER_1)
    assert bigram_model.log_prob([0, 1]) == pytest.approx(expected, rel=1e-12)
    assert bigram_model.cost([0, 1]) == pytest.approx(-expected, rel=1e-12)
    assert bigram_model.per_token_cost([0, 1]) == pytest.approx(-expected / 3, rel=1e-12)
    without_end = math.log(P_0_AFTER_BOS) + math.log(P_1_AFTER_0)
    assert bigram_model.log_prob([0, 1], include_end=False) == pytest.approx(without_end)
    np.testing.assert_allclose(bigram_model.costs([[0, 1], [0, 1]]), [-expected, -expected])


def test_trigram_uses_continuation_counts_at_middle_order():
    model = KneserNeyLanguageModel(order=3, vocab_size=3, discount=0.5).fit(TOY_CORPUS)
    # Middle (bigram) order now uses continuation counts:
    #   (0,1) <- {<s>} = 1;  (0,</s>) <- {1} = 1  -> total 2, 2 types, gamma = 0.5.
    p2_1_after_0 = (1 - 0.5) / 2 + 0.5 * P1[1]  # = 0.455357
    # Trigram context (<s>,0): (<s>,0,1) = 2 -> total 2, 1 type, gamma = 0.25.
    expected = (2 - 0.5) / 2 + 0.25 * p2_1_after_0  # = 0.863839
    assert model.prob(1, [0], sentence_start=True) == pytest.approx(expected, rel=1e-12)
    # Without <s>, context (0,) alone is a bigram context: continuation counts.
    assert model.prob(1, [0]) == pytest.approx(p2_1_after_0, rel=1e-12)


def test_modified_discounts_hand_computed():
    # Order 1: raw unigram counts of one sequence
    #   0:1 1:1 5:1 </s>:1 (n1 = 4)  2:2 6:2 (n2 = 2)  3:3 (n3 = 1)  4:4 (n4 = 1)
    # Y = 4 / (4 + 2*2) = 0.5, D1 = 1 - 2Y*2/4 = 0.5, D2 = 2 - 3Y*1/2 = 1.25,
    # D3+ = 3 - 4Y*1/1 = 1.
    corpus = [[0, 1, 2, 2, 3, 3, 3, 4, 4, 4, 4, 5, 6, 6]]
    model = KneserNeyLanguageModel(order=1, vocab_size=8).fit(corpus)
    assert model.discounts[1] == pytest.approx((0.5, 1.25, 1.0))
    # total 15; gamma = (0.5*4 + 1.25*2 + 1*2) / 15 = 6.5 / 15; |V| = 9 (0..7, </s>).
    floor = (6.5 / 15) / 9
    assert model.prob(4) == pytest.approx((4 - 1.0) / 15 + floor, rel=1e-12)
    assert model.prob(2) == pytest.approx((2 - 1.25) / 15 + floor, rel=1e-12)
    assert model.prob(0) == pytest.approx((1 - 0.5) / 15 + floor, rel=1e-12)
    assert model.prob(7) == pytest.approx(floor, rel=1e-12)  # never seen
    assert model.distribution().sum() == pytest.approx(1.0, abs=1e-12)


def _melodic_corpus(num_sequences, seed):
    """Structured sequences (repeated motifs on a small scale), not uniform noise."""
    rng = np.random.default_rng(seed)
    scale = np.array([2, 4, 6, 7, 9, 11, 13, 14]) + 30
    rows = []
    for _ in range(num_sequences):
        motif = np.concatenate([rng.choice(scale, size=3), [1, 1, 0]])
        shift = rng.integers(0, 3)
        row = np.tile(motif, 6)
        row[row > 1] += shift
        rows.append(row)
    return np.array(rows)


@pytest.mark.parametrize("discount", [None, 0.75])
def test_distributions_sum_to_one(discount):
    corpus = _melodic_corpus(150, seed=0)
    model = KneserNeyLanguageModel(order=5, vocab_size=90, discount=discount).fit(corpus)
    contexts = [
        ([], True),
        ([], False),
        (corpus[0, :2], True),
        (corpus[3, :4], False),
        (corpus[7, 5:9], False),
        ([89, 88, 87, 86], False),  # never seen
        ([0, 1, 1], False),
    ]
    for context, sentence_start in contexts:
        distribution = model.distribution(context, sentence_start=sentence_start)
        assert distribution.shape == (91,)
        assert np.all(distribution > 0)
        assert distribution.sum() == pytest.approx(1.0, abs=1e-10)


def test_unseen_ngrams_back_off():
    corpus = _melodic_corpus(100, seed=1)
    model = KneserNeyLanguageModel(order=5, vocab_size=90).fit(corpus)
    # Context whose older tokens never occurred: identical to the shorter context.
    seen = list(corpus[0, 1:4])
    for token in (int(corpus[0, 4]), 50, 90):  # 90 = </s> for vocab_size 90
        assert model.prob(token, [89] + seen) == pytest.approx(model.prob(token, seen), rel=1e-12)
    # Entirely unseen context: the unigram distribution.
    np.testing.assert_allclose(model.distribution([88, 87, 86, 85]), model.distribution([]))
    # A seen 5-gram is more likely than its continuation by an unseen token.
    context = list(corpus[0, :4])
    assert model.prob(int(corpus[0, 4]), context) > 0.3
    assert 0 < model.prob(89, context) < 1e-2


def test_structured_sequences_cost_less_than_noise():
    corpus = _melodic_corpus(200, seed=2)
    model = KneserNeyLanguageModel(order=5, vocab_size=90).fit(corpus)
    held_out = _melodic_corpus(20, seed=3)
    noise = np.random.default_rng(4).integers(0, 90, size=held_out.shape)
    structured_cost = model.costs(held_out, per_token=True).mean()
    noise_cost = model.costs(noise, per_token=True).mean()
    assert structured_cost < 0.5 * noise_cost


def test_fit_with_lengths_and_inferred_vocab():
    model = KneserNeyLanguageModel(order=2, discount=0.5).fit(
        np.array([[0, 1, 7], [0, 1, 1], [1, 0, 7]]), lengths=[2, 3, 2]
    )
    assert model.vocab_size == 2  # token 7 was cut off by the lengths
    reference = KneserNeyLanguageModel(order=2, vocab_size=2, discount=0.5).fit(TOY_CORPUS)
    np.testing.assert_allclose(model.distribution([0]), reference.distribution([0]))


def test_errors():
    with pytest.raises(ValueError, match="order"):
        KneserNeyLanguageModel(order=0)
    with pytest.raises(ValueError, match="discount"):
        KneserNeyLanguageModel(discount=1.5)
    with pytest.raises(RuntimeError, match="fit"):
        KneserNeyLanguageModel().cost([1, 2])
    model = KneserNeyLanguageModel(order=2, vocab_size=3).fit(TOY_CORPUS)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        model.cost([0, 5])
    with pytest.raises(ValueError, match="training sequence 1"):
        KneserNeyLanguageModel(order=2, vocab_size=3).fit([[0, 1], [0, 9]])
    with pytest.raises(ValueError, match="single 1-D array"):
        KneserNeyLanguageModel(order=2).fit(np.array([0, 1, 2]))
