"""The shared interface of every NoteSequence <-> array converter.

A converter turns one `note_seq.NoteSequence` into training examples
(`to_tensors`) and model outputs back into NoteSequences (`from_tensors`),
with exactly the representations of Magenta's `music_vae/data.py`, so that
Magenta checkpoints and our models read the same data.

This module is pure NumPy / note-seq: no TensorFlow, no Keras.
"""

import collections
import dataclasses
import typing

import numpy as np

from keras_musicvae.data import sequence_checks

MODES = ("train", "eval", "infer")

_CONVERTER_REGISTRY = {}


def register_converter(cls):
    """Class decorator: makes a converter class loadable by name from a config."""
    _CONVERTER_REGISTRY[cls.__name__] = cls
    return cls


def converter_class(name):
    """Returns the registered converter class called `name`."""
    # Importing the package registers every built-in converter.
    import keras_musicvae.data  # noqa: F401

    if name not in _CONVERTER_REGISTRY:
        raise ValueError(
            f"Unknown data converter class {name!r}. Known classes: "
            f"{', '.join(sorted(_CONVERTER_REGISTRY))}."
        )
    return _CONVERTER_REGISTRY[name]


def converter_from_config(config, **overrides):
    """Builds a converter from `{"class_name": ..., "config": {...}}`.

    Args:
        config: A dict as returned by `serialize_converter`.
        **overrides: Constructor arguments that replace those in `config`.
    """
    if "class_name" not in config or "config" not in config:
        raise ValueError(
            "A converter config must be a dict with keys 'class_name' and "
            f"'config'; got keys {sorted(config)}."
        )
    cls = converter_class(config["class_name"])
    kwargs = dict(config["config"])
    kwargs.update(overrides)
    return cls.from_config(kwargs)


def serialize_converter(converter):
    """Returns `{"class_name": ..., "config": ...}` for a converter."""
    return {
        "class_name": type(converter).__name__,
        "config": converter.get_config(),
    }


class ConverterTensors(typing.NamedTuple):
    """The examples made from one NoteSequence: four equal-length lists.

    Attributes:
        inputs: Encoder inputs, one `[T, input_depth]` array per example.
        outputs: Decoder targets, one `[T, output_depth]` array per example.
        controls: Control sequences, one `[T, control_depth]` array per
            example (`control_depth` may be 0).
        lengths: Lengths, one int (or `length_shape` int32 array) per example.
    """

    inputs: list
    outputs: list
    controls: list
    lengths: list

    def __len__(self):  # the number of examples, not of fields
        return len(self.inputs)

    @property
    def num_examples(self):
        return len(self.inputs)


def empty_tensors():
    return ConverterTensors([], [], [], [])


def concat_tensors(tensor_lists):
    """Concatenates several `ConverterTensors` into one."""
    out = empty_tensors()
    for t in tensor_lists:
        out.inputs.extend(t.inputs)
        out.outputs.extend(t.outputs)
        out.controls.extend(t.controls)
        out.lengths.extend(t.lengths)
    return out


@dataclasses.dataclass
class ConversionReport:
    """Why a NoteSequence gave the examples it gave (or none).

    Attributes:
        num_examples: Examples returned.
        reasons: Counter of human-readable reasons for parts that gave
            nothing (e.g. "time signature 3/4 (only 4/4 is supported)").
        stats: Counter of informative counts (e.g. "melodies extracted").
    """

    num_examples: int = 0
    reasons: collections.Counter = dataclasses.field(
        default_factory=collections.Counter
    )
    stats: collections.Counter = dataclasses.field(
        default_factory=collections.Counter
    )

    def skip(self, reason, count=1):
        self.reasons[reason] += count

    def merge(self, other):
        self.reasons.update(other.reasons)
        self.stats.update(other.stats)

    def summary(self):
        """One line: the example count and, when it is zero, why."""
        if self.num_examples:
            return f"{self.num_examples} example(s)"
        if not self.reasons:
            return "no examples (no reason recorded)"
        parts = [
            f"{reason} (x{n})" if n > 1 else reason
            for reason, n in self.reasons.most_common()
        ]
        return "no examples: " + "; ".join(parts)


def refusal_reason(note_sequence, limits=None):
    """Why a converter refuses a sequence outright (a report reason), or None.

    Args:
        note_sequence: A `NoteSequence`.
        limits: A `midi_io.MidiSanityLimits` (default `DEFAULT_LIMITS`);
            only its length limits are used.

    Returns:
        None, or a fixed text such as "too long (more than 10,000 quarter
        notes or 10,800 s)", the same for every sequence refused for that
        reason (reports count reasons).
    """
    if limits is None:
        from keras_musicvae.data.midi_io import DEFAULT_LIMITS as limits
    problem = sequence_checks.sequence_problem(
        note_sequence, limits.max_seconds, limits.max_quarter_notes
    )
    if problem is None:
        return None
    reason = problem[0]
    if reason == sequence_checks.REASON_TOO_LONG:
        return f"{reason} ({_length_limits_text(limits)})"
    if reason == sequence_checks.REASON_INVALID_TEMPO:
        return f"{reason} (NaN, infinite or not positive)"
    return f"{reason} (NaN or infinite)"


def _length_limits_text(limits):
    parts = []
    if limits.max_quarter_notes is not None:
        parts.append(f"{limits.max_quarter_notes:,} quarter notes")
    if limits.max_seconds is not None:
        parts.append(f"{limits.max_seconds:,.0f} s")
    return "more than " + " or ".join(parts)


def positive_int(name, value, optional=False):
    """`value` as an int after checking that it is a positive integer.

    Args:
        name: The argument's name, for the error message.
        value: The value to check.
        optional: Whether None is allowed (and returned as is).

    Raises:
        ValueError: If `value` is not a positive integer (or None when
            `optional`).
    """
    if value is None and optional:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float, np.integer, np.floating))
        or int(value) != value
        or value < 1
    ):
        allowed = "a positive integer or None" if optional else "a positive integer"
        raise ValueError(f"{name} must be {allowed}, got {value!r}.")
    return int(value)


def non_negative(name, value, optional=False, integer=False):
    """`value` after checking that it is a number >= 0 (an integer if asked).

    Raises:
        ValueError: If it is not (None passes when `optional`).
    """
    if value is None and optional:
        return None
    kind = "an integer" if integer else "a number"
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float, np.integer, np.floating))
        or not np.isfinite(value)
        or value < 0
        or (integer and int(value) != value)
    ):
        raise ValueError(f"{name} must be {kind} >= 0{' or None' if optional else ''}, got {value!r}.")
    return int(value) if integer else value


def check_pitch_range(min_pitch, max_pitch):
    """Raises ValueError unless 0 <= min_pitch <= max_pitch <= 127."""
    if not 0 <= min_pitch <= max_pitch <= 127:
        raise ValueError(
            "Need 0 <= min_pitch <= max_pitch <= 127, got "
            f"min_pitch={min_pitch!r}, max_pitch={max_pitch!r}."
        )


class DataConverter:
    """Base class of every converter (melody, drums, trio, groove, multiperf).

    Subclasses implement `_to_tensors(note_sequence, report)` for one
    time-change-free subsequence and `from_tensors(outputs, controls)`, and
    list their constructor arguments in `get_config()`. A subclass that
    converts whole sequences differently overrides `_convert_sequence`.

    Every sequence is checked before any quantization (`sequence_checks`):
    a NaN, infinite or non-positive tempo, a NaN or infinite time, or a
    sequence longer than the length limits gives no examples and one reason
    in the report, never an exception or an unbounded amount of work.

    Args:
        max_tensors_per_notesequence: Cap on the examples kept per
            NoteSequence (None for no cap). In `train` mode the kept examples
            are a seeded random choice, otherwise the first ones (as Magenta).
        mode: "train", "eval" or "infer" (as Magenta's `set_mode`).
        seed: Seed of the random choice made in `train` mode.
    """

    # Set by subclasses (depths may depend on constructor arguments).
    input_depth = None
    output_depth = None
    control_depth = 0
    input_dtype = np.bool_
    output_dtype = np.bool_
    control_dtype = np.bool_
    length_shape = ()
    end_token = None
    # Whether `to_tensors` first splits the sequence on tempo / time
    # signature changes (Magenta's `presplit_on_time_changes`).
    presplit_on_time_changes = True
    # Whether the training pipeline samples `max_tensors_per_notesequence`
    # examples per file and epoch (False for GrooVAE, as Magenta).
    applies_max_tensors_cap = True

    def __init__(self, max_tensors_per_notesequence=None, mode="train", seed=None):
        self.max_tensors_per_notesequence = positive_int(
            "max_tensors_per_notesequence", max_tensors_per_notesequence, optional=True
        )
        self.seed = seed
        self._rng = np.random.default_rng(seed)
        self.mode = mode

    def _set_grid(self, steps_per_quarter, quarters_per_bar):
        """Checks and sets `steps_per_quarter`, `quarters_per_bar`, `steps_per_bar`."""
        self.steps_per_quarter = positive_int("steps_per_quarter", steps_per_quarter)
        self.quarters_per_bar = positive_int("quarters_per_bar", quarters_per_bar)
        self.steps_per_bar = self.steps_per_quarter * self.quarters_per_bar

    # -- mode ---------------------------------------------------------------
    @property
    def mode(self):
        return self._mode

    @mode.setter
    def mode(self, value):
        if value not in MODES:
            raise ValueError(f"Unknown converter mode {value!r}; use one of {MODES}.")
        self._mode = value

    def set_mode(self, mode):
        """Magenta-style setter; returns self."""
        self.mode = mode
        return self

    @property
    def is_training(self):
        return self._mode == "train"

    @property
    def is_inferring(self):
        return self._mode == "infer"

    # -- sampling cap -------------------------------------------------------
    def _maybe_sample_items(self, items, cap=None):
        """Keeps at most `cap` items: random in train mode, else the first."""
        cap = self.max_tensors_per_notesequence if cap is None else cap
        if cap is None or len(items) <= cap:
            return list(items)
        if self.is_training:
            idx = self._rng.choice(len(items), cap, replace=False)
            return [items[i] for i in idx]
        return list(items[:cap])

    def _maybe_sample_tensors(self, tensors, cap=None):
        cap = self.max_tensors_per_notesequence if cap is None else cap
        if cap is None or len(tensors) <= cap:
            return tensors
        rows = list(zip(*tensors))
        rows = self._maybe_sample_items(rows, cap)
        return ConverterTensors(*(list(col) for col in zip(*rows))) if rows else empty_tensors()

    # -- public API ---------------------------------------------------------
    def to_tensors(self, note_sequence, limits=None):
        """Converts a NoteSequence to examples (see `ConverterTensors`).

        The input is not modified.

        Args:
            note_sequence: An unquantized `NoteSequence`.
            limits: A `midi_io.MidiSanityLimits` whose `max_seconds` and
                `max_quarter_notes` bound the sequence's length (default:
                `midi_io.DEFAULT_LIMITS`: 3 hours, 10,000 quarter notes).
        """
        return self.to_tensors_with_report(note_sequence, limits=limits)[0]

    def to_tensors_with_report(self, note_sequence, limits=None):
        """Like `to_tensors`, also returning a `ConversionReport`."""
        problem = refusal_reason(note_sequence, limits)
        if problem is not None:
            report = ConversionReport()
            report.skip(problem)
            return empty_tensors(), report
        return self._to_tensors_with_report_checked(note_sequence)

    def _to_tensors_with_report_checked(self, note_sequence):
        """`to_tensors_with_report` of a sequence `refusal_reason` accepts.

        For the pipeline, whose reader (`midi_io.check_note_sequence`) has
        already applied the same checks to the same times.
        """
        report = ConversionReport()
        tensors = self._convert_sequence(note_sequence, report)
        report.num_examples = len(tensors)
        return tensors, report

    def _convert_sequence(self, note_sequence, report):
        """Splits on time changes, converts each part, applies the cap."""
        if self.presplit_on_time_changes:
            from keras_musicvae.data.time_changes import split_on_time_changes

            subsequences = split_on_time_changes(note_sequence)
        else:
            subsequences = [note_sequence]
        parts = []
        for subsequence in subsequences:
            parts.append(self._to_tensors(subsequence, report))
        tensors = self._maybe_sample_tensors(concat_tensors(parts))
        if not len(tensors) and not report.reasons:
            report.skip(
                "the sequence has no notes"
                if not note_sequence.notes
                else "the sequence has zero length"
            )
        return tensors

    def _to_tensors(self, note_sequence, report):
        raise NotImplementedError

    def from_tensors(self, outputs, controls=None):
        """Converts model outputs back to NoteSequences.

        Args:
            outputs: `[N, T, output_depth]` array (or list of `[T, depth]`).
            controls: Optional `[N, T, control_depth]` array.

        Returns:
            A list of N `note_seq.NoteSequence`.
        """
        raise NotImplementedError

    # -- config -------------------------------------------------------------
    def get_config(self):
        return {
            "max_tensors_per_notesequence": self.max_tensors_per_notesequence,
            "mode": self._mode,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"
