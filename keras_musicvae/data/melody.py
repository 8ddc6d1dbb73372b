"""`MelodyConverter`: monophonic melodies <-> one-hot arrays (90 classes).

The representation of Magenta's `OneHotMelodyConverter` (MusicVAE's
`cat-mel_2bar_*`, `hierdec-mel_16bar`, `cat-mel_2bar_med_chords`): per 16th
note step one of 90 classes,

* 0 = no event (the previous note or rest continues),
* 1 = note-off,
* 2 + k = note-on of MIDI pitch `min_pitch + k` (21..108 by default),

one example per `slice_bars`-bar window (hop: one bar) of each melody found per
instrument, optionally with a chord per step as control (49-class triads).
(These are note-seq's `MelodyOneHotEncoding` classes, which Magenta's arrays
use: "no event" is 0 and "note-off" 1.)

This module is pure NumPy / note-seq: no TensorFlow, no Keras.
"""

import functools

import note_seq
import numpy as np

from keras_musicvae.data import chords as chords_lib
from keras_musicvae.data import melody_extraction
from keras_musicvae.data.converter import ConverterTensors
from keras_musicvae.data.converter import DataConverter
from keras_musicvae.data.converter import check_pitch_range
from keras_musicvae.data.converter import empty_tensors
from keras_musicvae.data.converter import non_negative
from keras_musicvae.data.converter import positive_int
from keras_musicvae.data.converter import register_converter

PIANO_MIN_MIDI_PITCH = 21
PIANO_MAX_MIDI_PITCH = 108
# Programs of Magenta's melody presets (piano, chromatic percussion, organ,
# guitar) and of the trio's bass part.
MELODY_PROGRAMS = tuple(range(0, 32))
BASS_PROGRAMS = tuple(range(32, 40))
# Velocity and tempo of the NoteSequences written by `from_tensors`.
OUTPUT_VELOCITY = 80
OUTPUT_QPM = note_seq.DEFAULT_QUARTERS_PER_MINUTE  # 120


def describe_numbers(numbers):
    """Compact text for a set of ints, e.g. `[0, 1, 2, 5]` -> "0-2, 5"."""
    numbers = sorted(set(int(n) for n in numbers))
    if not numbers:
        return "none"
    parts = []
    start = prev = numbers[0]
    for n in numbers[1:] + [None]:
        if n is not None and n == prev + 1:
            prev = n
            continue
        parts.append(f"{start}" if start == prev else f"{start}-{prev}")
        if n is not None:
            start = prev = n
    return ", ".join(parts)


def time_signature_text(sequence):
    """The (first) time signature of a sequence as "n/d" (4/4 when absent)."""
    if sequence.time_signatures:
        ts = sequence.time_signatures[0]
        return f"{ts.numerator}/{ts.denominator}"
    return "4/4"


def quantize_or_reason(sequence, steps_per_quarter, steps_per_bar):
    """Quantizes `sequence` relative to meter, or says why it cannot be used.

    Args:
        sequence: A NoteSequence with at most one tempo and time signature.
        steps_per_quarter: Steps per quarter note.
        steps_per_bar: The only bar length (in steps) accepted.

    Returns:
        `(quantized_sequence, None)` or `(None, reason)` with a reason a
        musician understands.
    """
    meter = time_signature_text(sequence)
    quarters_per_bar = steps_per_bar / steps_per_quarter
    wanted = (
        f"{int(quarters_per_bar)}/4"
        if quarters_per_bar == int(quarters_per_bar)
        else f"{steps_per_bar} steps per bar"
    )
    try:
        quantized = note_seq.quantize_note_sequence(sequence, steps_per_quarter)
    except note_seq.BadTimeSignatureError:
        return None, f"time signature {meter} is not supported (only {wanted} is)"
    except note_seq.NegativeTimeError:
        return None, "notes before time zero"
    except (note_seq.MultipleTempoError, note_seq.MultipleTimeSignatureError):
        return None, (
            "several tempos or time signatures in one part (split the sequence "
            "on time changes first)"
        )
    steps = note_seq.steps_per_bar_in_quantized_sequence(quantized)
    if steps != steps_per_bar:
        return None, f"time signature {meter} (only {wanted} is supported)"
    return quantized, None


@register_converter
class MelodyConverter(DataConverter):
    """Magenta's `OneHotMelodyConverter`: melodies <-> one-hot arrays.

    For each time-change-free part of a NoteSequence: keep the notes with a
    valid program and a pitch in `[min_pitch, max_pitch]`; quantize to
    `steps_per_quarter` (only `quarters_per_bar`/4 parts are used); infer
    chords if `chord_encoding` is set and the part has none; extract one
    monophonic melody line per instrument (`melody_extraction`, highest note
    of simultaneous onsets unless `skip_polyphony`, drums ignored, at least
    one bar, cut to `max_bars`); slide a `slice_bars` window over each melody
    with a hop of one bar; drop duplicate windows (in Magenta's order without
    chords, see `_dedupe`); keep at most `max_tensors_per_notesequence` of
    them (the first ones, or a seeded random choice in `train` mode).

    Arrays per example (`T` = `slice_bars * steps_per_quarter *
    quarters_per_bar`, or the melody length without slicing):

    * inputs, outputs: `[T, 90]` bool one-hot (identical arrays);
    * controls: `[T, 49]` bool one-hot chords with `chord_encoding="triad"`,
      else `[T, 0]` bool;
    * lengths: the int `T`.

    Args:
        valid_programs: Programs whose notes are used (None: all). The 2-bar
            presets use programs 0-31 (`MELODY_PROGRAMS`).
        skip_polyphony: If True, an instrument with simultaneous onsets is
            skipped instead of keeping its highest note.
        max_bars: Melodies are cut to this many bars before slicing (None: no
            limit).
        slice_bars: Window length in bars (None: whole melodies).
        gap_bars: A melody ends after this many bars of silence (0 or None:
            never).
        steps_per_quarter: Quantization steps per quarter note.
        quarters_per_bar: Quarter notes per bar; other meters give nothing.
        pad_to_total_time: Pad each melody with "no event" from step 0 to the
            end of the sequence.
        max_tensors_per_notesequence: Cap on examples per NoteSequence (None:
            no cap).
        chord_encoding: None, or "triad" to return chord controls
            (note-seq's `TriadChordOneHotEncoding`, 49 classes).
        min_pitch: Lowest MIDI pitch modelled (lower notes are dropped).
        max_pitch: Highest MIDI pitch modelled (higher notes are dropped).
        presplit_on_time_changes: Split sequences on tempo / time signature
            changes before converting (as Magenta; the trio's inner melody
            converter sets False).
        mode: "train", "eval" or "infer".
        seed: Seed of the random choice made in `train` mode.
    """

    input_dtype = np.bool_
    output_dtype = np.bool_
    control_dtype = np.bool_
    length_shape = ()
    end_token = None

    def __init__(
        self,
        valid_programs=None,
        skip_polyphony=False,
        max_bars=None,
        slice_bars=None,
        gap_bars=1.0,
        steps_per_quarter=4,
        quarters_per_bar=4,
        pad_to_total_time=False,
        max_tensors_per_notesequence=5,
        chord_encoding=None,
        min_pitch=PIANO_MIN_MIDI_PITCH,
        max_pitch=PIANO_MAX_MIDI_PITCH,
        presplit_on_time_changes=True,
        mode="train",
        seed=None,
    ):
        super().__init__(
            max_tensors_per_notesequence=max_tensors_per_notesequence,
            mode=mode,
            seed=seed,
        )
        self._set_grid(steps_per_quarter, quarters_per_bar)
        max_bars = positive_int("max_bars", max_bars, optional=True)
        slice_bars = positive_int("slice_bars", slice_bars, optional=True)
        gap_bars = non_negative("gap_bars", gap_bars, optional=True)
        check_pitch_range(min_pitch, max_pitch)
        if valid_programs is not None:
            valid_programs = [int(p) for p in valid_programs]
            if any(not 0 <= p <= 127 for p in valid_programs):
                raise ValueError(
                    f"valid_programs must be MIDI programs 0-127, got {valid_programs}."
                )

        self.valid_programs = valid_programs
        self._valid_program_set = (
            None if valid_programs is None else frozenset(valid_programs)
        )
        self.skip_polyphony = bool(skip_polyphony)
        self.max_bars = max_bars
        self.slice_bars = slice_bars
        self.gap_bars = gap_bars
        self.pad_to_total_time = bool(pad_to_total_time)
        self.chord_encoding = chord_encoding
        self.min_pitch = min_pitch
        self.max_pitch = max_pitch
        self.presplit_on_time_changes = bool(presplit_on_time_changes)

        self.slice_steps = self.steps_per_bar * self.slice_bars if slice_bars else None
        self.melody_encoding = note_seq.MelodyOneHotEncoding(min_pitch, max_pitch + 1)
        self.chord_encoder = chords_lib.chord_encoding_from_name(chord_encoding)
        self.input_depth = self.melody_encoding.num_classes
        self.output_depth = self.melody_encoding.num_classes
        self.control_depth = (
            self.chord_encoder.num_classes if self.chord_encoder is not None else 0
        )
        self._extract = functools.partial(
            melody_extraction.extract_melodies,
            min_bars=1,
            gap_bars=gap_bars or float("inf"),
            max_steps_truncate=(
                self.steps_per_bar * self.max_bars if self.max_bars else None
            ),
            min_unique_pitches=1,
            ignore_polyphonic_notes=not self.skip_polyphony,
            pad_end=True,
        )

    # -- NoteSequence -> arrays ---------------------------------------------
    def _to_tensors(self, note_sequence, report):
        sequence, reason = self._filtered_sequence(note_sequence)
        quantized, quantize_reason = quantize_or_reason(
            sequence, self.steps_per_quarter, self.steps_per_bar
        )
        if quantized is None:
            report.skip(quantize_reason)
            return empty_tensors()

        if self.chord_encoder is not None:
            try:
                chords_lib.ensure_chords(quantized)
            except chords_lib.ChordError as e:
                report.skip(reason or str(e))
                return empty_tensors()

        melodies, stats = self._extract(quantized)
        report.stats.update(stats)
        if not melodies:
            report.skip(reason or self._no_melody_reason(stats))
            return empty_tensors()
        windows = self._windows(melodies, quantized)
        if not windows:
            report.skip(
                f"melodies shorter than {self.slice_bars} bar"
                f"{'s' if self.slice_bars != 1 else ''}"
            )
            return empty_tensors()

        if self.chord_encoder is not None:
            try:
                chord_lists = chords_lib.chords_for_event_lists(quantized, windows)
            except chords_lib.ChordError as e:
                report.skip(str(e))
                return empty_tensors()
            items = [
                tuple(zip(list(w), chord_list))
                for w, chord_list in zip(windows, chord_lists)
            ]
        else:
            items = [tuple(w) for w in windows]

        unique = self._dedupe(items)
        report.stats["windows"] += len(items)
        report.stats["distinct windows"] += len(unique)
        unique = self._maybe_sample_items(unique)
        return self._encode_items(unique, report)

    def _dedupe(self, items):
        """Drops repeated windows, in a deterministic order.

        Without chords the order is exactly Magenta's: Magenta keeps
        `list(set(...))` of windows stored as tuples of 1-tuples `(event,)`;
        their hashes (ints only) do not depend on PYTHONHASHSEED, so building
        the same set in the same insertion order gives the same order, and an
        eval-mode cap keeps the same windows. With chords Magenta's tuples
        hold chord strings, whose set order depends on PYTHONHASHSEED and the
        Python version; here the first occurrence (time order) is kept.
        """
        if self.chord_encoder is not None:
            return list(dict.fromkeys(items))
        magenta_set = set(tuple((event,) for event in item) for item in items)
        return [tuple(event for (event,) in item) for item in magenta_set]

    def _filtered_sequence(self, note_sequence):
        """A copy of `note_sequence` with only the notes this converter models.

        Returns `(sequence, reason)`: `reason` says why no note is left (None
        if some are).
        """
        sequence = note_seq.NoteSequence()
        sequence.CopyFrom(note_sequence)
        notes = list(sequence.notes)
        in_programs = [
            n
            for n in notes
            if self._valid_program_set is None or n.program in self._valid_program_set
        ]
        kept = [n for n in in_programs if self.min_pitch <= n.pitch <= self.max_pitch]
        del sequence.notes[:]
        sequence.notes.extend(kept)

        pitched = [n for n in kept if not n.is_drum]
        if pitched:
            reason = None
        elif not notes:
            reason = "no notes"
        elif all(n.is_drum for n in notes):
            reason = "only drum notes (no melody)"
        elif not [n for n in in_programs if not n.is_drum]:
            reason = (
                "no melody with a program in "
                f"{describe_numbers(self.valid_programs)}"
            )
        else:
            reason = (
                f"no melody notes in the pitch range {self.min_pitch}-{self.max_pitch}"
            )
        return sequence, reason

    def _no_melody_reason(self, stats):
        if stats[melody_extraction.STAT_POLYPHONIC_TRACKS]:
            return "every instrument plays chords (skip_polyphony=True skips them)"
        if stats[melody_extraction.STAT_TOO_SHORT]:
            return "melodies shorter than 1 bar"
        return "no melody found"

    def _windows(self, melodies, quantized):
        """Pads / slices melodies into the event lists that become examples."""
        if self.pad_to_total_time:
            for melody in melodies:
                melody.set_length(len(melody) + melody.start_step, from_left=True)
                melody.set_length(quantized.total_quantized_steps)
        if not self.slice_steps:
            return list(melodies)
        windows = []
        for melody in melodies:
            for end in range(self.slice_steps, len(melody) + 1, self.steps_per_bar):
                windows.append(melody[end - self.slice_steps : end])
        return windows

    def _encode_events(self, events):
        """`[T, depth]` bool one-hot of melody events."""
        indices = [self.melody_encoding.encode_event(e) for e in events]
        onehot = np.zeros((len(indices), self.output_depth), dtype=self.output_dtype)
        onehot[np.arange(len(indices)), indices] = True
        return onehot

    def _encode_items(self, items, report):
        """Arrays of deduplicated windows (event tuples or (event, chord) tuples)."""
        items = [item for item in items if item]
        if not items:
            return empty_tensors()
        controls = []
        if self.chord_encoder is not None:
            event_tuples = [tuple(e for e, _ in item) for item in items]
            try:
                for item in items:
                    controls.append(
                        chords_lib.encode_chords(
                            [c for _, c in item], self.chord_encoder, self.control_dtype
                        )
                    )
            except chords_lib.ChordError as e:
                report.skip(str(e))
                return empty_tensors()
        else:
            event_tuples = items
            controls = [
                np.zeros((len(item), 0), dtype=self.control_dtype) for item in items
            ]
        seqs = [self._encode_events(events) for events in event_tuples]
        return ConverterTensors(
            inputs=seqs,
            outputs=list(seqs),
            controls=controls,
            lengths=[len(s) for s in seqs],
        )

    # -- arrays -> NoteSequence ---------------------------------------------
    def melody_from_array(self, sample):
        """A `note_seq.Melody` from `[T, depth]` scores/one-hot or `[T]` classes."""
        sample = np.asarray(sample)
        classes = np.argmax(sample, axis=-1) if sample.ndim == 2 else sample
        if classes.ndim != 1:
            raise ValueError(
                "Expected a [T, depth] array or [T] class indices per example, got "
                f"shape {sample.shape}."
            )
        melody = note_seq.Melody(
            steps_per_bar=self.steps_per_bar, steps_per_quarter=self.steps_per_quarter
        )
        for c in classes.tolist():
            if not 0 <= c < self.output_depth:
                raise ValueError(
                    f"Melody class {c} outside 0..{self.output_depth - 1}."
                )
            melody.append(self.melody_encoding.decode_event(c))
        return melody

    def from_tensors(self, outputs, controls=None):
        """Converts melody arrays back to NoteSequences, as Magenta does.

        Notes have velocity 80 at 120 qpm (one step = 0.125 s with 4 steps per
        quarter), instrument 0, program 0; there is no time signature. With a
        chord encoding and `controls`, the chord of each step is written as a
        chord-symbol text annotation where it changes, decoded as Magenta
        does: `argmax(controls[:, :-12])` (so diminished chords come back as
        "N.C.", see `chords.MAGENTA_DROPPED_CONTROL_COLUMNS`).

        Args:
            outputs: `[N, T, 90]` one-hot / scores, or `[N, T]` class indices
                (or a list of per-example arrays).
            controls: Optional `[N, T, control_depth]` chord controls.

        Returns:
            A list of N `note_seq.NoteSequence`.
        """
        seconds_per_step = 60.0 / (self.steps_per_quarter * OUTPUT_QPM)
        sequences = []
        for i, sample in enumerate(outputs):
            melody = self.melody_from_array(sample)
            sequence = melody.to_sequence(velocity=OUTPUT_VELOCITY, qpm=OUTPUT_QPM)
            if self.chord_encoder is not None and controls is not None:
                chords = chords_lib.decode_chord_controls(
                    controls[i], self.chord_encoder
                )[: len(melody)]
                times = [step * seconds_per_step for step in melody.steps]
                chords_lib.add_chords_to_sequence(sequence, chords, times)
            sequences.append(sequence)
        return sequences

    # -- config -------------------------------------------------------------
    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "valid_programs": (
                    None if self.valid_programs is None else list(self.valid_programs)
                ),
                "skip_polyphony": self.skip_polyphony,
                "max_bars": self.max_bars,
                "slice_bars": self.slice_bars,
                "gap_bars": self.gap_bars,
                "steps_per_quarter": self.steps_per_quarter,
                "quarters_per_bar": self.quarters_per_bar,
                "pad_to_total_time": self.pad_to_total_time,
                "chord_encoding": self.chord_encoding,
                "min_pitch": self.min_pitch,
                "max_pitch": self.max_pitch,
                "presplit_on_time_changes": self.presplit_on_time_changes,
            }
        )
        return config

