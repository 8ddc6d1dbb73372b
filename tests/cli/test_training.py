"""`keras_musicvae.training`: data split, sampled accuracy, checkpoints."""

import numpy as np
import pytest

from keras_musicvae import training


def test_split_names_is_stable_and_holds_out_at_least_one():
    names = [f"song_{i}.mid" for i in range(200)]
    train_idx, eval_idx = training.split_names(names, 0.1)
    assert sorted(train_idx + eval_idx) == list(range(200))
    assert 10 <= len(eval_idx) <= 30
    assert training.split_names(list(reversed(names)), 0.1)[1] == sorted(199 - i for i in eval_idx)
    assert training.split_names(["a.mid", "b.mid"], 0.1)[1] != []  # at least one held out
    assert training.split_names(["a.mid"], 0.1) == ([0], [])  # never everything
    assert training.split_names(names, 0.0)[1] == []


class _StubModel:
    """What `sampled_accuracy` uses of a model: heads and a greedy `reconstruct`."""

    def __init__(self, outputs, output_head="categorical", output_depths=None):
        self.outputs = outputs
        self.output_head = output_head
        self.output_depth = outputs.shape[-1]
        self.output_depths = output_depths
        self.control_depth = 0
        self.calls = []

    def reconstruct(self, inputs, temperature, lengths, controls=None):
        assert temperature == 0.0
        self.calls.append(len(inputs))
        index = [int(np.argmax(x[0])) for x in inputs]  # the example's id lies in step 0
        return self.outputs[index]


def _one_hot(tokens, depth):
    return np.eye(depth, dtype="float32")[np.asarray(tokens)]


def test_sampled_accuracy_pools_valid_steps_and_pads_the_last_call():
    targets = _one_hot([[0, 1, 2, 3], [0, 1, 2, 3], [1, 1, 1, 1]], 5)
    predicted = _one_hot([[0, 1, 0, 0], [0, 1, 2, 3], [1, 4, 4, 4]], 5)
    inputs = _one_hot([[0, 0, 0, 0], [1, 0, 0, 0], [2, 0, 0, 0]], 5)  # ids 0, 1, 2
    model = _StubModel(predicted)
    examples = {"inputs": inputs, "targets": targets, "lengths": np.array([4, 2, 1])}
    # valid steps: 4 + 2 + 1 = 7; right: 2 + 2 + 1 = 5
    assert training.sampled_accuracy(model, examples, batch_size=2) == pytest.approx(5 / 7)
    assert model.calls == [2, 2]


def test_sampled_accuracy_of_trio_streams_is_their_mean():
    depths = [2, 2, 3]
    targets = np.concatenate([_one_hot([[0, 1]], 2), _one_hot([[0, 1]], 2), _one_hot([[0, 1]], 3)], -1)
    predicted = np.concatenate([_one_hot([[0, 1]], 2), _one_hot([[1, 1]], 2), _one_hot([[2, 2]], 3)], -1)
    model = _StubModel(predicted, output_head="multi_categorical", output_depths=depths)
    examples = {"inputs": np.zeros((1, 2, 7), "float32"), "targets": targets, "lengths": np.array([2])}
    assert training.sampled_accuracy(model, examples) == pytest.approx((1.0 + 0.5 + 0.0) / 3)


def test_checkpoint_state_round_trip(tmp_path):
    assert training.read_checkpoint_state(tmp_path) is None

    class _Saver:
        def save_weights(self, path):
            with open(path, "wb") as f:
                f.write(b"weights")

    training.save_checkpoint(_Saver(), tmp_path, 42)
    assert training.read_checkpoint_state(tmp_path)["step"] == 42
    weights, state = training.checkpoint_paths(tmp_path)
    assert weights.read_bytes() == b"weights"
    assert sorted(p.name for p in weights.parent.iterdir()) == ["latest.weights.h5", "state.json"]
    state.write_text("{broken")
    with pytest.raises(ValueError, match="is damaged"):
        training.read_checkpoint_state(tmp_path)


def test_resolve_training_data_splits_a_midi_folder(tmp_path):
    from cli_support import TWO_BAR_MELODY
    from cli_support import write_melody

    for i in range(12):
        write_melody(tmp_path / f"m{i:02d}.mid", TWO_BAR_MELODY)
    train, held_out, description = training.resolve_training_data(tmp_path, eval_fraction=0.25)
    assert len(train) + len(held_out) == 12 and held_out
    assert not set(train) & set(held_out)
    assert "files for training" in description
    train2, held_out2, _ = training.resolve_training_data(tmp_path, eval_data=tmp_path)
    assert train2 == held_out2 == str(tmp_path)
