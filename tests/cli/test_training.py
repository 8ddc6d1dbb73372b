"""`keras_musicvae.training`: data split, sampled accuracy, checkpoints."""

import json

import keras
import numpy as np
import pytest

from keras_musicvae import training
from keras_musicvae.utils import atomic_files


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
    """What `sampled_accuracy` uses of a model: its decoder's `sample_correct`
    (a real head's stands in for it) and a greedy `reconstruct`."""

    def __init__(self, outputs, output_head="categorical", output_depths=None):
        from keras_musicvae.layers.heads import CategoricalHead
        from keras_musicvae.layers.heads import MultiStreamCategoricalHead

        self.outputs = outputs
        self.output_head = output_head
        self.decoder = (
            MultiStreamCategoricalHead(output_depths, 1) if output_depths else CategoricalHead(outputs.shape[-1], 1)
        )
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


class _Saver:
    """What `save_checkpoint` uses of a model: `save_weights` (writes a label)."""

    def __init__(self, label=b"weights"):
        self.label = label

    def save_weights(self, path):
        with open(path, "wb") as f:
            f.write(self.label)


def _checkpoint_entries(run_dir):
    return sorted(p.name for p in (run_dir / training.CHECKPOINT_DIR).iterdir())


def test_checkpoint_is_one_folder_with_weights_and_state(tmp_path):
    assert training.read_checkpoint_state(tmp_path) is None
    assert training.latest_checkpoint(tmp_path) is None

    folder = training.save_checkpoint(_Saver(), tmp_path, 42)
    assert folder == tmp_path / "checkpoints" / "step-00000042"
    assert sorted(p.name for p in folder.iterdir()) == ["model.weights.h5", "state.json"]
    checkpoint = training.latest_checkpoint(tmp_path)
    assert (checkpoint.step, checkpoint.folder, checkpoint.legacy) == (42, folder, False)
    assert checkpoint.weights.read_bytes() == b"weights"
    assert training.read_checkpoint_state(tmp_path)["step"] == 42
    checkpoint.state.write_text("{broken")
    with pytest.raises(ValueError, match="is damaged"):
        training.read_checkpoint_state(tmp_path)


def test_a_new_checkpoint_replaces_the_older_ones(tmp_path):
    training.save_checkpoint(_Saver(b"one"), tmp_path, 1)
    training.save_checkpoint(_Saver(b"two"), tmp_path, 2)
    assert _checkpoint_entries(tmp_path) == ["step-00000002"]
    training.save_checkpoint(_Saver(b"three"), tmp_path, 3, keep=2)
    training.save_checkpoint(_Saver(b"four"), tmp_path, 4, keep=2)
    assert _checkpoint_entries(tmp_path) == ["step-00000003", "step-00000004"]
    assert training.latest_checkpoint(tmp_path).weights.read_bytes() == b"four"


class _FailingJson:
    """`json` whose `dumps` fails: a crash after the weights, before the state."""

    loads = staticmethod(json.loads)

    @staticmethod
    def dumps(*args, **kwargs):
        raise RuntimeError("crash between the weights and the state")


def test_crash_between_weights_and_state_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    training.save_checkpoint(_Saver(b"step 1"), tmp_path, 1)
    monkeypatch.setattr(training.run_folder, "json", _FailingJson)
    with pytest.raises(RuntimeError, match="crash between"):
        training.save_checkpoint(_Saver(b"step 2"), tmp_path, 2)
    monkeypatch.undo()
    assert _checkpoint_entries(tmp_path) == ["step-00000001"]  # no half checkpoint, no temporary
    checkpoint = training.latest_checkpoint(tmp_path)
    assert checkpoint.step == 1 and checkpoint.weights.read_bytes() == b"step 1"
    assert training.read_checkpoint_state(tmp_path)["step"] == 1


def test_crash_at_the_commit_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    training.save_checkpoint(_Saver(b"step 1"), tmp_path, 1)

    def crash(source, path):
        raise OSError("disk gone")

    monkeypatch.setattr(atomic_files, "replace_folder", crash)
    with pytest.raises(OSError, match="disk gone"):
        training.save_checkpoint(_Saver(b"step 2"), tmp_path, 2)
    assert _checkpoint_entries(tmp_path) == ["step-00000001"]
    assert training.latest_checkpoint(tmp_path).weights.read_bytes() == b"step 1"


def test_stale_files_of_killed_runs_are_ignored_then_removed(tmp_path):
    training.save_checkpoint(_Saver(b"step 1"), tmp_path, 1)
    checkpoints = tmp_path / "checkpoints"
    # A run killed while writing step 2: its staging folder, half written.
    staging = atomic_files.create_temporary_folder(checkpoints / training.checkpoint_name(2))
    (staging / "model.weights.h5").write_bytes(b"half")
    # ... and the temporaries of earlier versions and of other atomic writes.
    (checkpoints / ".tmp-4242.weights.h5").write_bytes(b"old layout")
    (checkpoints / ".state.json.4242.tmp").write_text("{}")
    (tmp_path / ".run.json.4242.tmp").write_text("{}")
    (tmp_path / ".preset-abcd_123").mkdir()
    atomic_files.create_temporary_file(tmp_path / "eval.json")
    (tmp_path / "run.json").write_text("{}")

    assert training.latest_checkpoint(tmp_path).step == 1
    removed = training.remove_stale_files(tmp_path)
    assert len(removed) == 6 and staging.relative_to(tmp_path).as_posix() in removed
    assert _checkpoint_entries(tmp_path) == ["step-00000001"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoints", "run.json"]
    assert training.remove_stale_files(tmp_path) == []


def _tiny_model():
    from cli_support import TINY_HPARAMS

    from keras_musicvae.models.music_vae import MusicVAE

    model = MusicVAE.from_preset("cat_mel_2bar_small", load_weights=False, **TINY_HPARAMS)
    model.compile()
    return model


def _batches(model, seed=0):
    rng = np.random.default_rng(seed)
    steps, depth = model.max_seq_len, model.input_depth
    x = np.eye(depth, dtype="float32")[rng.integers(0, depth, size=(4, steps))]
    batch = {"inputs": x, "targets": x, "lengths": np.full(4, steps, "int32")}
    while True:
        yield (batch,)  # x only: the model takes its targets from the batch


def _iterations(model):
    return training.optimizer_iterations(model)


def test_training_resumes_at_the_exact_optimizer_step(tmp_path):
    model = _tiny_model()
    result = training.train(model, _batches(model), tmp_path, total_steps=3, checkpoint_every=1,
                            tensorboard=False, print_fn=lambda line: None)  # fmt: skip
    assert (result.initial_step, result.final_step) == (0, 3)
    assert _checkpoint_entries(tmp_path) == ["step-00000003"]
    checkpoint = training.latest_checkpoint(tmp_path)
    state = training.read_checkpoint_state(tmp_path)
    assert state["step"] == state["optimizer_iterations"] == 3
    assert training.weights_file_iterations(checkpoint.weights) == 3

    resumed = _tiny_model()
    assert training.restore_checkpoint(resumed, tmp_path) == 3
    assert _iterations(resumed) == 3 and training.model_step(resumed) == 3
    for a, b in zip(model.weights, resumed.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    result = training.train(resumed, _batches(resumed), tmp_path, total_steps=5, checkpoint_every=2,
                            tensorboard=False, print_fn=lambda line: None)  # fmt: skip
    assert (result.initial_step, result.final_step) == (3, 5)
    assert _iterations(resumed) == 5
    assert training.read_checkpoint_state(tmp_path)["step"] == 5
    assert training.weights_file_iterations(training.latest_checkpoint(tmp_path).weights) == 5


def test_a_run_of_the_old_layout_resumes_at_its_weights_step(tmp_path):
    """Before checkpoint folders, a kill could leave the weights a step ahead of state.json."""
    model = _tiny_model()
    training.train(model, _batches(model), tmp_path / "new", total_steps=4, checkpoint_every=4,
                   tensorboard=False, print_fn=lambda line: None)  # fmt: skip
    old = tmp_path / "old" / "checkpoints"
    old.mkdir(parents=True)
    model.save_weights(str(old / "latest.weights.h5"))
    (old / "state.json").write_text(json.dumps({"step": 3}))

    resumed = _tiny_model()
    checkpoint = training.latest_checkpoint(tmp_path / "old")
    assert checkpoint.legacy and checkpoint.step == 3
    assert training.restore_checkpoint(resumed, tmp_path / "old") == 4
    assert _iterations(resumed) == 4
    training.save_checkpoint(resumed, tmp_path / "old", 4)
    assert _checkpoint_entries(tmp_path / "old") == ["step-00000004"]  # the old files are gone


def test_restore_refuses_a_checkpoint_whose_weights_and_state_disagree(tmp_path):
    model = _tiny_model()
    training.train(model, _batches(model), tmp_path, total_steps=2, checkpoint_every=2,
                   tensorboard=False, print_fn=lambda line: None)  # fmt: skip
    state_path = training.latest_checkpoint(tmp_path).state
    state = json.loads(state_path.read_text())
    state_path.write_text(json.dumps({**state, "optimizer_iterations": 7}))
    with pytest.raises(ValueError, match="is inconsistent: the optimizer state is at iteration 2"):
        training.restore_checkpoint(_tiny_model(), tmp_path)


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
