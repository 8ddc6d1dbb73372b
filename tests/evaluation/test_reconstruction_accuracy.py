"""Tests for keras_musicvae.evaluation.reconstruction_accuracy."""

import numpy as np
import pytest

from keras_musicvae.evaluation.reconstruction_accuracy import one_hot_per_step_accuracy
from keras_musicvae.evaluation.reconstruction_accuracy import per_step_accuracy
from keras_musicvae.evaluation.reconstruction_accuracy import trio_stream_accuracies


def _one_hot(tokens, depth):
    return np.eye(depth)[np.asarray(tokens)]


def test_per_step_accuracy_pools_valid_steps():
    predicted = np.array([[1, 2, 3, 4], [1, 1, 1, 1]])
    target = np.array([[1, 2, 0, 4], [1, 0, 0, 0]])
    # All steps: row 0 has 3 matches, row 1 has 1 -> 4 / 8.
    assert per_step_accuracy(predicted, target) == pytest.approx(0.5)
    # Row 1 only has 2 valid steps (1 match): (3 + 1) / (4 + 2).
    assert per_step_accuracy(predicted, target, lengths=[4, 2]) == pytest.approx(4 / 6)
    assert np.isnan(per_step_accuracy(predicted, target, lengths=[0, 0]))


def test_per_step_accuracy_errors():
    with pytest.raises(ValueError, match="same shape"):
        per_step_accuracy(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="lengths must lie"):
        per_step_accuracy(np.zeros((2, 3)), np.zeros((2, 3)), lengths=[1, 4])
    with pytest.raises(ValueError, match="lengths must have shape"):
        per_step_accuracy(np.zeros((2, 3)), np.zeros((2, 3)), lengths=[1, 2, 3])


def test_one_hot_accuracy_uses_argmax_of_logits():
    target = _one_hot([[0, 1, 2]], 3)
    logits = np.array([[[5.0, 1.0, 0.0], [0.0, -1.0, 3.0], [0.1, 0.2, 0.3]]])
    # argmax = [0, 2, 2] vs [0, 1, 2] -> 2 / 3.
    assert one_hot_per_step_accuracy(logits, target) == pytest.approx(2 / 3)


def test_trio_stream_accuracies():
    num_steps = 4
    melody_target = [5, 5, 7, 1]
    bass_target = [2, 3, 4, 1]
    drums_target = [0, 9, 0, 511]
    target = np.concatenate(
        [_one_hot(melody_target, 90), _one_hot(bass_target, 90), _one_hot(drums_target, 512)],
        axis=-1,
    )[None]
    melody_pred = [5, 5, 7, 1]  # 4/4
    bass_pred = [2, 0, 0, 1]  # 2/4
    drums_pred = [0, 9, 1, 0]  # 2/4
    predicted = np.concatenate(
        [_one_hot(melody_pred, 90), _one_hot(bass_pred, 90), 5.0 * _one_hot(drums_pred, 512)],
        axis=-1,
    )[None]
    # The drums logits dominate the global argmax; each stream must use its own group.
    accuracies = trio_stream_accuracies(predicted, target)
    assert accuracies["melody"] == pytest.approx(1.0)
    assert accuracies["bass"] == pytest.approx(0.5)
    assert accuracies["drums"] == pytest.approx(0.5)
    assert accuracies["mean"] == pytest.approx(2 / 3)
    # Only the first 2 steps valid: melody 2/2, bass 1/2, drums 2/2.
    short = trio_stream_accuracies(predicted, target, lengths=[2])
    assert (short["melody"], short["bass"], short["drums"]) == pytest.approx((1.0, 0.5, 1.0))
    assert target.shape == (1, num_steps, 692)


def test_trio_stream_accuracies_rejects_other_depths():
    with pytest.raises(ValueError, match="692"):
        trio_stream_accuracies(np.zeros((1, 4, 90)), np.zeros((1, 4, 90)))
