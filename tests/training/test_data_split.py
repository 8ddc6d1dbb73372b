"""`keras_musicvae.training.data_split`: each input pipeline's share of the training data."""

import os

import numpy as np
import pytest

from keras_musicvae.training import data_split


def test_enough_files_are_split_by_file():
    files = [f"song_{i}.mid" for i in range(7)]
    parts = [data_split.shard_source(files, 3, i) for i in range(3)]
    assert [how for _, how in parts] == ["file"] * 3
    assert sorted(sum((part for part, _ in parts), [])) == sorted(files)  # each file read once
    assert parts[1][0] == ["song_1.mid", "song_4.mid"]


def test_tfrecord_shards_are_split_by_file(tmp_path):
    for i in range(4):
        (tmp_path / f"train-{i:05d}-of-00004.tfrecord").write_bytes(b"")
    part, how = data_split.shard_source(str(tmp_path / "train-*.tfrecord"), 2, 1)
    assert how == "file"
    assert [os.path.basename(p) for p in part] == ["train-00001-of-00004.tfrecord", "train-00003-of-00004.tfrecord"]
    (tmp_path / "eval-00000-of-00001.tfrecord").write_bytes(b"")
    train, held, _ = data_split.resolve_training_data(tmp_path)
    assert (train, held) == (str(tmp_path / "train-*.tfrecord"), str(tmp_path / "eval-*.tfrecord"))


def test_few_files_or_one_tfrecord_are_split_by_example():
    assert data_split.shard_source(["a.mid"], 2, 1) == (["a.mid"], "example")
    assert data_split.shard_source("train.tfrecord", 4, 0) == ("train.tfrecord", "example")
    assert data_split.shard_source(["a.mid", "b.mid"], 1, 0) == (["a.mid", "b.mid"], "none")
    with pytest.raises(ValueError, match=r"index 2 is not in \[0, 2\)"):
        data_split.shard_source(["a.mid", "b.mid"], 2, 2)


def test_split_by_example_shares_every_batch_between_the_pipelines():
    tf = pytest.importorskip("tensorflow")

    examples = {"inputs": np.arange(24, dtype="float32").reshape(12, 2), "lengths": np.arange(12)}
    whole = tf.data.Dataset.from_tensor_slices(examples).batch(4)  # pipelines 2 x batch 2
    parts = [list(data_split.shard_by_example(whole, 2, i, 2).as_numpy_iterator()) for i in range(2)]
    assert [len(p) for p in parts] == [3, 3]
    for step in range(3):
        together = np.sort(np.concatenate([parts[0][step]["lengths"], parts[1][step]["lengths"]]))
        np.testing.assert_array_equal(together, np.arange(4 * step, 4 * step + 4))  # the undivided batch
    np.testing.assert_array_equal(parts[0][0]["lengths"], [0, 2])
