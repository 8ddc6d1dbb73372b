"""`PipelineStats`: what happened to every file of a conversion pass."""

import collections
import dataclasses
import os


_MAX_FAILED_NAMES = 5


@dataclasses.dataclass
class PipelineStats:
    """What happened to the files of a conversion run.

    Attributes:
        files: Files (or NoteSequences) submitted.
        files_read: Files read successfully.
        files_failed: Counter of failure reasons (`MidiReadError.reason`, or
            "converter error: <type>").
        failed_examples: For each failure reason, up to 5 file names.
        files_without_examples: Files read that gave no example.
        no_example_reasons: Counter of the converters' reasons (from their
            `ConversionReport`s), summed over all files.
        examples: Examples made (untransposed). In "train" mode with a
            per-file cap sampled every epoch, all windows before the cap.
        examples_per_epoch: Examples each epoch yields (before batching;
            with augmentation, the untransposed count).
        zero_length_notes_dropped: Notes of zero duration dropped.
        examples_too_long: Examples dropped for exceeding `max_seq_len`.
        seconds: Wall-clock time of the run.
    """

    files: int = 0
    files_read: int = 0
    files_failed: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    failed_examples: dict = dataclasses.field(default_factory=dict)
    files_without_examples: int = 0
    no_example_reasons: collections.Counter = dataclasses.field(
        default_factory=collections.Counter
    )
    examples: int = 0
    examples_per_epoch: int = 0
    zero_length_notes_dropped: int = 0
    examples_too_long: int = 0
    seconds: float = 0.0

    @property
    def num_failed(self):
        return sum(self.files_failed.values())

    def record_failure(self, name, reason):
        self.files_failed[reason] += 1
        names = self.failed_examples.setdefault(reason, [])
        if len(names) < _MAX_FAILED_NAMES:
            names.append(name)

    def merge(self, other):
        """Adds the counts of another `PipelineStats`."""
        self.files += other.files
        self.files_read += other.files_read
        self.files_failed.update(other.files_failed)
        for reason, names in other.failed_examples.items():
            mine = self.failed_examples.setdefault(reason, [])
            mine.extend(names[: _MAX_FAILED_NAMES - len(mine)])
        self.files_without_examples += other.files_without_examples
        self.no_example_reasons.update(other.no_example_reasons)
        self.examples += other.examples
        self.examples_per_epoch += other.examples_per_epoch
        self.zero_length_notes_dropped += other.zero_length_notes_dropped
        self.examples_too_long += other.examples_too_long
        self.seconds += other.seconds

    def __str__(self):
        lines = [
            f"{self.files} file(s): {self.files_read} read, {self.num_failed} failed; "
            f"{self.examples} example(s) from {self.files_read - self.files_without_examples} "
            f"file(s)"
            + (f" in {self.seconds:.1f} s" if self.seconds else "")
        ]
        if self.examples_per_epoch and self.examples_per_epoch != self.examples:
            lines.append(f"  {self.examples_per_epoch} example(s) per epoch (per-file cap)")
        if self.files_failed:
            lines.append("  failed files:")
            for reason, count in self.files_failed.most_common():
                names = ", ".join(os.path.basename(n) for n in self.failed_examples.get(reason, []))
                more = ", ..." if count > len(self.failed_examples.get(reason, [])) else ""
                lines.append(f"    {count:6d}  {reason}  ({names}{more})")
        if self.files_without_examples:
            lines.append(f"  {self.files_without_examples} file(s) gave no example; reasons:")
            for reason, count in self.no_example_reasons.most_common():
                lines.append(f"    {count:6d}  {reason}")
        if self.zero_length_notes_dropped:
            lines.append(f"  {self.zero_length_notes_dropped} zero-length note(s) dropped")
        if self.examples_too_long:
            lines.append(f"  {self.examples_too_long} example(s) longer than max_seq_len dropped")
        return "\n".join(lines)
