"""NoteSequence augmentation: random transposition and tempo stretch.

The equivalent of Magenta's `NoteSequenceAugmenter(transpose_range,
stretch_range)` (music_vae/data.py, magenta 2.1.4), which calls note-seq's
`augment_note_sequence(..., delete_out_of_range_notes=True)`:

* a stretch factor is drawn uniformly from `stretch_range` and applied first
  (`sequences_lib.stretch_note_sequence`: times multiplied, tempos divided);
* a transposition is drawn uniformly from the integers of `transpose_range`
  (both ends included) and applied with `sequences_lib.transpose_note_sequence`:
  drum notes are left untouched; pitched notes that would leave the MIDI
  range 0..127 are deleted (not clamped, and the range is not narrowed);
  chord symbols and key signatures are transposed too;
* a sequence without notes is returned unchanged.

Unlike Magenta, which draws from Python's global `random` module, each
augmenter owns a seeded `numpy.random.Generator`, and `augment` accepts an
explicit generator so that pipelines can make the choice a pure function of
(seed, epoch, file). The input NoteSequence is never modified.

This module is pure NumPy / note-seq: no TensorFlow.
"""

import numpy as np

MIN_MIDI_PITCH = 0
MAX_MIDI_PITCH = 127


class NoteSequenceAugmenter:
    """Randomly transposes and/or stretches NoteSequences.

    Args:
        transpose_range: `(low, high)` integers, both included, of semitone
            shifts to draw from; None for no transposition.
        stretch_range: `(low, high)` floats of time-stretch factors to draw
            from (> 1 is slower); None for no stretch.
        seed: Seed of the augmenter's own random generator.
    """

    def __init__(self, transpose_range=None, stretch_range=None, seed=None):
        if transpose_range is not None:
            low, high = transpose_range
            if int(low) != low or int(high) != high or low > high:
                raise ValueError(
                    "transpose_range must be two integers (low, high) with low <= high; "
                    f"got {transpose_range!r}."
                )
            transpose_range = (int(low), int(high))
        if stretch_range is not None:
            low, high = stretch_range
            if not 0 < low <= high:
                raise ValueError(
                    "stretch_range must be two factors (low, high) with 0 < low <= high; "
                    f"got {stretch_range!r}."
                )
            stretch_range = (float(low), float(high))
        self.transpose_range = transpose_range
        self.stretch_range = stretch_range
        self.seed = seed
        self._rng = np.random.default_rng(seed)

    @property
    def transpositions(self):
        """Every transposition the augmenter can draw, as a list of ints."""
        if self.transpose_range is None:
            return [0]
        low, high = self.transpose_range
        return list(range(low, high + 1))

    @property
    def is_discrete(self):
        """True when the only random choice is a transposition (no stretch)."""
        return self.stretch_range is None

    def draw(self, rng=None):
        """Draws `(transposition, stretch_factor)`.

        Args:
            rng: A `numpy.random.Generator` (default: the augmenter's own).
        """
        rng = self._rng if rng is None else rng
        stretch = 1.0
        if self.stretch_range is not None:
            stretch = float(rng.uniform(*self.stretch_range))
        transposition = 0
        if self.transpose_range is not None:
            low, high = self.transpose_range
            transposition = int(rng.integers(low, high + 1))
        return transposition, stretch

    def augment(self, note_sequence, rng=None):
        """Returns a randomly transposed / stretched copy of `note_sequence`.

        Args:
            note_sequence: A `note_seq.NoteSequence` (not modified).
            rng: A `numpy.random.Generator` (default: the augmenter's own).

        Returns:
            A new `NoteSequence`.
        """
        transposition, stretch = self.draw(rng)
        return apply_augmentation(note_sequence, transposition, stretch)

    def get_config(self):
        return {
            "transpose_range": list(self.transpose_range) if self.transpose_range else None,
            "stretch_range": list(self.stretch_range) if self.stretch_range else None,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"NoteSequenceAugmenter({args})"


def apply_augmentation(note_sequence, transposition=0, stretch=1.0):
    """Stretches then transposes a copy of `note_sequence` (Magenta's order).

    Args:
        note_sequence: A `note_seq.NoteSequence` (not modified).
        transposition: Semitones to add to every pitched (non-drum) note;
            notes leaving 0..127 are deleted.
        stretch: Time-stretch factor (1.0: none).

    Returns:
        A new `NoteSequence` (a plain copy when there is nothing to do or
        the sequence has no notes).
    """
    from note_seq import sequences_lib

    augmented = type(note_sequence)()
    augmented.CopyFrom(note_sequence)
    if not augmented.notes:
        return augmented
    if stretch != 1.0:
        augmented = sequences_lib.stretch_note_sequence(augmented, stretch, in_place=True)
    if transposition:
        augmented = transpose(augmented, transposition)
    return augmented


def transpose(note_sequence, amount):
    """Transposes pitched notes by `amount` semitones, in place.

    Drum notes keep their pitch; pitched notes that would leave 0..127 are
    deleted. Key signatures and chord symbols are transposed; a chord symbol
    that cannot be transposed becomes "N.C." (as Magenta's augmenter did)
    instead of failing the whole sequence.

    Returns:
        The same `NoteSequence`.
    """
    from note_seq import chord_symbols_lib
    from note_seq import constants
    from note_seq import sequences_lib

    chord_type = note_sequence.TextAnnotation.CHORD_SYMBOL
    annotations = [type(ta)() for ta in note_sequence.text_annotations]
    for copy, ta in zip(annotations, note_sequence.text_annotations):
        copy.CopyFrom(ta)
    # Notes and keys; chords are handled one by one below.
    sequences_lib.transpose_note_sequence(
        note_sequence,
        amount,
        MIN_MIDI_PITCH,
        MAX_MIDI_PITCH,
        transpose_chords=False,
        in_place=True,
    )
    for ta in annotations:
        if ta.annotation_type == chord_type and ta.text != constants.NO_CHORD:
            try:
                ta.text = chord_symbols_lib.transpose_chord_symbol(ta.text, amount)
            except chord_symbols_lib.ChordSymbolError:
                ta.text = constants.NO_CHORD
    del note_sequence.text_annotations[:]
    note_sequence.text_annotations.extend(annotations)
    return note_sequence
