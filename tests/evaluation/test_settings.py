"""Tests of `keras_musicvae.evaluation.settings` and the studies' skip reasons."""

import dataclasses
import types

import numpy as np
import pytest

from keras_musicvae.evaluation.attribute_study import run_attribute_study
from keras_musicvae.evaluation.interpolation_study import run_interpolation_study
from keras_musicvae.evaluation.settings import EvaluationSettings
from keras_musicvae.evaluation.settings import StudyOutcome


def test_defaults_are_the_papers():
    settings = EvaluationSettings()
    assert (settings.interpolation_steps, settings.interpolation_temperature) == (11, 0.5)
    assert (settings.sample_temperature, settings.lm_order, settings.attribute_samples) == (1.0, 5, 256)


def test_values_override_settings_and_unknown_names_are_listed():
    base = EvaluationSettings(seed=3, batch_size=8)
    merged = EvaluationSettings.with_values(base, seed=4)
    assert (merged.seed, merged.batch_size) == (4, 8)
    assert base.seed == 3  # frozen: the original is unchanged
    with pytest.raises(TypeError, match=r"Unknown evaluation setting\(s\) sead; the settings are num_examples"):
        EvaluationSettings.with_values(None, sead=1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        base.seed = 5
    assert merged.as_dict()["seed"] == 4


def _runner(output_head="categorical", output_depth=90, output_depths=None):
    """A stand-in runner whose model's decoder answers what the studies ask of it."""
    decoder = types.SimpleNamespace(
        class_logits=output_head in ("categorical", "multi_categorical"),
        num_streams=len(output_depths) if output_depths else 1,
    )
    model = types.SimpleNamespace(
        output_head=output_head, output_depth=output_depth, output_depths=output_depths, decoder=decoder
    )
    return types.SimpleNamespace(model=model)


def _examples(n):
    return {"inputs": np.zeros((n, 4, 90), "float32"), "targets": np.zeros((n, 4, 90), "float32"),
            "lengths": np.full(n, 4, "int32")}


@pytest.mark.parametrize("runner, examples, settings, reason", [
    (_runner(), _examples(4), EvaluationSettings(interpolation_pairs=0), "interpolation_pairs is 0"),
    (_runner(output_head="nade"), _examples(4), EvaluationSettings(), "needs a single-stream categorical"),
    (_runner(output_depths=[90, 90, 512]), _examples(4), EvaluationSettings(), "needs a single-stream categorical"),
    (_runner(), _examples(1), EvaluationSettings(), "fewer than 2 held-out examples"),
])
def test_interpolation_study_says_why_it_is_skipped(runner, examples, settings, reason):
    outcome = run_interpolation_study(runner, examples, examples, {}, settings, say=lambda line: None)
    assert outcome.result is None and reason in outcome.skipped


@pytest.mark.parametrize("runner, examples, settings, reason", [
    (_runner(), _examples(8), EvaluationSettings(attribute_examples=0), "attribute_examples is 0"),
    (_runner(output_depth=9), _examples(8), EvaluationSettings(), "90-class melody models only"),
    (_runner(), _examples(3), EvaluationSettings(), "fewer than 4 examples"),
])
def test_attribute_study_says_why_it_is_skipped(runner, examples, settings, reason):
    outcome = run_attribute_study(runner, examples, {}, settings, say=lambda line: None)
    assert outcome.result is None and reason in outcome.skipped


def test_study_outcome_skip():
    assert StudyOutcome.skip("why") == StudyOutcome(result=None, skipped="why", seconds=0.0)
