"""`EvaluationSettings` (what `evaluate_model` runs) and `StudyOutcome`."""

import dataclasses


@dataclasses.dataclass(frozen=True)
class EvaluationSettings:
    """The sizes, temperatures and seeds of the paper's evaluation.

    Attributes:
        num_examples: Held-out examples (a fixed, seeded subset; None: all).
        interpolation_pairs: Pairs (A, B) of the interpolation study (0:
            skip it); at most half the held-out examples.
        interpolation_steps: Interpolation points, endpoints included (11:
            alpha = 0, 0.1, ..., 1).
        interpolation_temperature: Decoding temperature of the
            interpolations (0.5 in the paper).
        sample_temperature: Temperature of the sampled reconstruction
            accuracy (1.0 in Table 1); argmax decoding is always reported too.
        attribute_examples: Training examples whose `mu` give the attribute
            vectors (a seeded subset; 0: skip the attribute study).
        attribute_samples: Prior samples the vectors are applied to.
        attribute_temperature: Decoding temperature of the attribute study.
        lm_order: n-gram order of the language model (5 in the paper).
        lm_examples: At most this many training examples fit the language
            model (None: all).
        batch_size: Examples per model call.
        seed: Seed of every random choice (subsets, pairs, noise, prior).
        num_workers: MIDI conversion processes.
    """

    num_examples: int = 256
    interpolation_pairs: int = 64
    interpolation_steps: int = 11
    interpolation_temperature: float = 0.5
    sample_temperature: float = 1.0
    attribute_examples: int = 2048
    attribute_samples: int = 256
    attribute_temperature: float = 0.5
    lm_order: int = 5
    lm_examples: int = None
    batch_size: int = 64
    seed: int = 0
    num_workers: int = None

    @classmethod
    def with_values(cls, settings=None, **values):
        """`settings` (default: the defaults) with `values` replacing fields.

        Raises:
            TypeError: For a name that is not a field (the fields are listed).
        """
        names = [field.name for field in dataclasses.fields(cls)]
        unknown = sorted(set(values) - set(names))
        if unknown:
            raise TypeError(
                f"Unknown evaluation setting(s) {', '.join(unknown)}; the settings are {', '.join(names)}."
            )
        return dataclasses.replace(settings or cls(), **values)

    def as_dict(self):
        """The settings as recorded in `evaluation.json`."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class StudyOutcome:
    """What one study gave: its figures, or why it did not run.

    Attributes:
        result: The study's dict of figures, or None when skipped.
        skipped: Why it did not run (None when it ran).
        seconds: Wall time it took.
    """

    result: dict = None
    skipped: str = None
    seconds: float = 0.0

    @classmethod
    def skip(cls, reason):
        return cls(skipped=reason)
