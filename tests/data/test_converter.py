"""Tests of `keras_musicvae.data.converter`: the base class's argument checks.

Every converter validates its shared arguments (time grid, bar counts, the
per-file cap, the pitch range) the same way, through the base class.
"""

import pytest

from keras_musicvae.data import converter as converter_lib
from keras_musicvae.data.drums import DrumsConverter
from keras_musicvae.data.groove import GrooveConverter
from keras_musicvae.data.melody import MelodyConverter
from keras_musicvae.data.multiperf import MultiInstrumentPerformanceConverter
from keras_musicvae.data.trio import TrioConverter

CONVERTERS = [MelodyConverter, DrumsConverter, GrooveConverter, MultiInstrumentPerformanceConverter,
              TrioConverter]


@pytest.mark.parametrize("cls", CONVERTERS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("argument, value", [
    ("steps_per_quarter", 0), ("steps_per_quarter", 2.5), ("quarters_per_bar", -4),
    ("quarters_per_bar", True), ("max_tensors_per_notesequence", 0),
])
def test_every_converter_checks_the_shared_arguments(cls, argument, value):
    with pytest.raises(ValueError, match=f"{argument} must be a positive integer"):
        cls(**{argument: value})


@pytest.mark.parametrize("cls", CONVERTERS, ids=lambda c: c.__name__)
def test_every_converter_sets_the_grid(cls):
    converter = cls(steps_per_quarter=4, quarters_per_bar=3)
    assert (converter.steps_per_quarter, converter.quarters_per_bar, converter.steps_per_bar) == (4, 3, 12)


@pytest.mark.parametrize("cls", [MelodyConverter, DrumsConverter, TrioConverter], ids=lambda c: c.__name__)
@pytest.mark.parametrize("argument", ["max_bars", "slice_bars"])
def test_bar_counts_are_positive_integers_or_none(cls, argument):
    assert getattr(cls(**{argument: None}), argument) is None
    assert getattr(cls(**{argument: 2.0}), argument) == 2
    with pytest.raises(ValueError, match=f"{argument} must be a positive integer or None"):
        cls(**{argument: 0})


def test_gap_bars_and_pitch_range():
    with pytest.raises(ValueError, match="gap_bars must be a number >= 0"):
        DrumsConverter(gap_bars=-1)
    with pytest.raises(ValueError, match="gap_bars must be an integer >= 0"):
        TrioConverter(gap_bars=1.5)
    for cls in (MelodyConverter, MultiInstrumentPerformanceConverter):
        with pytest.raises(ValueError, match="Need 0 <= min_pitch <= max_pitch <= 127"):
            cls(min_pitch=70, max_pitch=60)


def test_groove_window_arguments():
    with pytest.raises(ValueError, match="split_bars must be a positive integer or None"):
        GrooveConverter(split_bars=0)
    with pytest.raises(ValueError, match="hop_size must be a positive integer or None"):
        GrooveConverter(split_bars=2, hop_size=-16)


def test_validators():
    assert converter_lib.positive_int("n", 3.0) == 3
    assert converter_lib.positive_int("n", None, optional=True) is None
    with pytest.raises(ValueError, match="n must be a positive integer, got None"):
        converter_lib.positive_int("n", None)
    with pytest.raises(ValueError, match="n must be a positive integer"):
        converter_lib.positive_int("n", "3")
    assert converter_lib.non_negative("g", 0.5) == 0.5
    with pytest.raises(ValueError, match="g must be a number >= 0"):
        converter_lib.non_negative("g", float("nan"))
