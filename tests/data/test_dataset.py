"""Tests of `keras_musicvae.data.dataset`: `DatasetOptions` and its keywords."""

import dataclasses
import pathlib

import numpy as np
import pytest

from keras_musicvae.data import converter_for_preset
from keras_musicvae.data import pipeline

BUNDLED = pathlib.Path(__file__).resolve().parents[2] / "keras_musicvae" / "corpus" / "freedoom"
FILES = [str(p) for p in sorted((BUNDLED / "train").glob("*.mid"))[:4]]


@pytest.fixture(scope="module")
def melody_converter():
    return converter_for_preset("cat_mel_2bar_small")


def _batches(dataset):
    return [{k: v.numpy() for k, v in batch.items()} for batch in dataset]


def test_options_object_and_keywords_give_the_same_batches(melody_converter):
    options = pipeline.DatasetOptions(seed=3, num_workers=0, progress=False, shuffle=True)
    by_object = _batches(pipeline.make_dataset(FILES, melody_converter, 4, options=options))
    by_keywords = _batches(
        pipeline.make_dataset(FILES, melody_converter, 4, seed=3, num_workers=0, progress=False, shuffle=True)
    )
    assert len(by_object) == len(by_keywords) > 0
    for a, b in zip(by_object, by_keywords):
        np.testing.assert_array_equal(a["inputs"], b["inputs"])


def test_keywords_override_the_options_object(melody_converter):
    options = pipeline.DatasetOptions(num_workers=0, progress=False, drop_remainder=True)
    dataset = pipeline.make_dataset(FILES, melody_converter, 1000, mode="eval", options=options,
                                    drop_remainder=False)
    (batch,) = _batches(dataset)  # one short batch, kept because the keyword wins
    assert 0 < len(batch["inputs"]) < 1000


def test_unknown_keyword_lists_the_options(melody_converter):
    with pytest.raises(TypeError, match=r"unexpected keyword argument\(s\) shufle; the options are shuffle"):
        pipeline.make_dataset(FILES, melody_converter, 4, shufle=True)


def test_mode_defaults_are_resolved():
    train = pipeline.DatasetOptions().resolved("train", batch_size=8)
    assert (train.shuffle, train.drop_remainder, train.deterministic) == (True, True, False)
    assert train.shuffle_buffer == 1000 and train.seed is not None
    evaluation = pipeline.DatasetOptions(seed=1, shuffle_buffer=64).resolved("eval", batch_size=8)
    assert (evaluation.shuffle, evaluation.drop_remainder, evaluation.deterministic) == (False, False, True)
    assert evaluation.shuffle_buffer == 64
    with pytest.raises(dataclasses.FrozenInstanceError):
        evaluation.seed = 2
