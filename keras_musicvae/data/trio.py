"""`TrioConverter`: melody + bass + drums <-> 692-wide one-hot arrays.

The representation of Magenta's `TrioConverter` (MusicVAE's
`hierdec-trio_16bar`): per 16th-note step the concatenation

    [melody 90 | bass 90 | drums 512]

of a melody one-hot (`MelodyConverter` classes), a bass one-hot (same
classes) and a drums one-hot (`DrumsConverter`, 9 classes as a 512-way
bitmask). Instruments are typed by program: 0-31 melody, 32-39 bass, drum
notes drums (an instrument with notes of two types is ignored). Every
combination of one melody, one bass and one drum instrument gives one example
per `slice_bars`-bar window (hop: one bar) in which all three play, allowing
silences of up to `gap_bars` bars.

This module is pure NumPy / note-seq: no TensorFlow, no Keras.
"""

import collections
import itertools
import math

import note_seq
import numpy as np

from keras_musicvae.data import chords as chords_lib
from keras_musicvae.data.converter import ConverterTensors
from keras_musicvae.data.converter import DataConverter
from keras_musicvae.data.converter import empty_tensors
from keras_musicvae.data.converter import non_negative
from keras_musicvae.data.converter import positive_int
from keras_musicvae.data.converter import register_converter
from keras_musicvae.data.drums import DrumsConverter
from keras_musicvae.data.melody import BASS_PROGRAMS
from keras_musicvae.data.melody import MELODY_PROGRAMS
from keras_musicvae.data.melody import MelodyConverter
from keras_musicvae.data.melody import describe_numbers
from keras_musicvae.data.melody import quantize_or_reason

MAX_INSTRUMENT_NUMBER = 127
# Program and instrument of the bass, and instrument of the drums, written by
# `from_tensors` (the melody keeps instrument 0, program 0).
BASS_OUTPUT_PROGRAM = 33  # electric bass (finger)
BASS_OUTPUT_INSTRUMENT = 1
DRUMS_OUTPUT_INSTRUMENT = 9

# Instrument types (0 = not seen yet).
_UNKNOWN, _MELODY, _BASS, _DRUMS, _INVALID = 0, 1, 2, 3, 4
_PART_NAMES = {
    _MELODY: f"melody (a program in {describe_numbers(MELODY_PROGRAMS)})",
    _BASS: f"bass (a program in {describe_numbers(BASS_PROGRAMS)})",
    _DRUMS: "drums",
}


@register_converter
class TrioConverter(DataConverter):
    """Magenta's `TrioConverter`: melody, bass and drums <-> one-hot arrays.

    For each time-change-free part of a NoteSequence (only
    `quarters_per_bar`/4 parts are used): type every instrument by its notes
    (programs 0-31 melody, 32-39 bass, `is_drum` drums; other programs or a
    mix make it unusable), mark the bars each plays in, and encode each
    instrument over the whole part (cut to `max_bars`) with an inner
    `MelodyConverter` (no gaps, padded to the part's length) or
    `DrumsConverter`. An instrument counts as playing in a bar if it plays
    within `gap_bars` bars of it. Then, for every (melody, bass, drums)
    instrument triple in ascending instrument numbers, each `slice_bars`-bar
    window (hop one bar) where all three play gives an example (the first
    and last `gap_bars` bars count as covered if any of the three plays
    there, as in Magenta). At most `max_tensors_per_notesequence` examples
    are kept (the first ones, or a seeded random choice in `train` mode).
    A part with more than `max_instrument_triples` instrument triples or
    `max_windows` windows gives nothing (and a reason), to bound the work.

    Arrays per example (`T` = `slice_bars * steps_per_quarter *
    quarters_per_bar`):

    * inputs, outputs: `[T, 692]` bool, `[melody 90 | bass 90 | drums 512]`
      one-hots (identical arrays);
    * controls: `[T, 49]` bool chords with `chord_encoding="triad"`, else
      `[T, 0]` bool;
    * lengths: the int `T`.

    Args:
        slice_bars: Window length in bars (None: the whole part).
        gap_bars: Silences of up to this many bars still count as playing.
        max_bars: Parts are cut to this many bars.
        steps_per_quarter: Quantization steps per quarter note.
        quarters_per_bar: Quarter notes per bar; other meters give nothing.
        max_tensors_per_notesequence: Cap on examples per NoteSequence (None:
            no cap).
        chord_encoding: None, or "triad" for chord controls (inferred from
            all parts when the sequence has no chord symbols).
        mode: "train", "eval" or "infer".
        seed: Seed of the random choice made in `train` mode.
    """

    input_dtype = np.bool_
    output_dtype = np.bool_
    control_dtype = np.bool_
    length_shape = ()
    end_token = False  # as Magenta: fixed-length examples, no end token
    # Bounds on the work of one part (Magenta has none): files with dozens
    # of melody and bass instruments would otherwise make every combination
    # times every window (a 220 KB fuzzed file: 23 GB). The richest file of
    # the development corpus gives 661 windows.
    max_instrument_triples = 1024
    max_windows = 8192

    def __init__(
        self,
        slice_bars=None,
        gap_bars=2,
        max_bars=1024,
        steps_per_quarter=4,
        quarters_per_bar=4,
        max_tensors_per_notesequence=5,
        chord_encoding=None,
        mode="train",
        seed=None,
    ):
        super().__init__(
            max_tensors_per_notesequence=max_tensors_per_notesequence,
            mode=mode,
            seed=seed,
        )
        self._set_grid(steps_per_quarter, quarters_per_bar)
        steps_per_quarter, quarters_per_bar = self.steps_per_quarter, self.quarters_per_bar
        self.slice_bars = positive_int("slice_bars", slice_bars, optional=True)
        self.gap_bars = non_negative("gap_bars", gap_bars, integer=True)
        self.max_bars = positive_int("max_bars", max_bars, optional=True)
        self.chord_encoding = chord_encoding

        self.melody_converter = MelodyConverter(
            gap_bars=None,
            steps_per_quarter=steps_per_quarter,
            quarters_per_bar=quarters_per_bar,
            pad_to_total_time=True,
            presplit_on_time_changes=False,
            max_tensors_per_notesequence=None,
            chord_encoding=chord_encoding,
            mode="eval",
        )
        self.drums_converter = DrumsConverter(
            gap_bars=None,
            steps_per_quarter=steps_per_quarter,
            quarters_per_bar=quarters_per_bar,
            pad_to_total_time=True,
            presplit_on_time_changes=False,
            max_tensors_per_notesequence=None,
            mode="eval",
        )
        self.split_output_depths = (
            self.melody_converter.output_depth,
            self.melody_converter.output_depth,
            self.drums_converter.output_depth,
        )
        self.input_depth = self.output_depth = sum(self.split_output_depths)
        self.control_depth = self.melody_converter.control_depth
        self._program_types = {p: _MELODY for p in MELODY_PROGRAMS}
        self._program_types.update({p: _BASS for p in BASS_PROGRAMS})

    # -- NoteSequence -> arrays ---------------------------------------------
    def _to_tensors(self, note_sequence, report):
        quantized, reason = quantize_or_reason(
            note_sequence, self.steps_per_quarter, self.steps_per_bar
        )
        if quantized is None:
            report.skip(reason)
            return empty_tensors()
        # The parts are encoded from (a copy of) the unquantized sequence.
        sequence = note_seq.NoteSequence()
        sequence.CopyFrom(note_sequence)

        if self.melody_converter.chord_encoder is not None and not (
            chords_lib.has_chords(quantized)
        ):
            try:
                chords_lib.ensure_chords(quantized)
            except chords_lib.ChordError as e:
                report.skip(str(e))
                return empty_tensors()
            for ta in quantized.text_annotations:
                if ta.annotation_type == chords_lib.CHORD_SYMBOL:
                    sequence.text_annotations.add(
                        time=ta.time, text=ta.text, annotation_type=ta.annotation_type
                    )

        total_bars = math.ceil(quantized.total_quantized_steps / self.steps_per_bar)
        if self.max_bars is not None:
            total_bars = min(total_bars, self.max_bars)
        instrument_types, coverage = self._instrument_coverage(quantized, total_bars)
        by_type = collections.defaultdict(list)
        for instrument, type_ in enumerate(instrument_types):
            if type_ not in (_UNKNOWN, _INVALID):
                by_type[type_].append(instrument)
        invalid = int(np.sum(instrument_types == _INVALID))
        if invalid:
            report.stats["instruments ignored (other programs, or mixed parts)"] += invalid
        missing = [_PART_NAMES[t] for t in (_MELODY, _BASS, _DRUMS) if not by_type[t]]
        if not quantized.notes:
            report.skip("no notes")
            return empty_tensors()
        if missing:
            report.skip("no " + " and no ".join(missing))
            return empty_tensors()

        # Encoding each part over the whole (cut) subsequence.
        qpm = (
            sequence.tempos[0].qpm
            if sequence.tempos
            else note_seq.DEFAULT_QUARTERS_PER_MINUTE
        )
        sequence.total_time = (
            total_bars * self.steps_per_bar * 60 / qpm / self.steps_per_quarter
        )
        encoded, encoded_controls = self._encode_parts(sequence, by_type, coverage, report)

        # An instrument plays in a bar if it plays within `gap_bars` of it.
        gap = self.gap_bars
        original = coverage.copy()
        for bar in range(total_bars):
            coverage[bar] = np.any(
                original[max(0, bar - gap) : min(total_bars, bar + gap) + 1], axis=0
            )

        slice_bars = self.slice_bars or total_bars
        windows = self._windows(by_type, encoded, coverage, total_bars, slice_bars, report)
        if windows is None:
            return empty_tensors()
        if not windows:
            report.skip(
                f"no {slice_bars}-bar stretch where melody, bass and drums all play"
            )
            return empty_tensors()
        report.stats["trio windows"] += len(windows)

        # Sampled before the arrays are built (the same choice as sampling
        # the built arrays), so memory follows the cap, not the windows.
        rows = self._maybe_sample_items(list(range(len(windows))))
        seqs, controls = [], []
        for group, bar in (windows[r] for r in rows):
            start = bar * self.steps_per_bar
            end = (bar + slice_bars) * self.steps_per_bar
            seqs.append(np.concatenate([encoded[i][start:end] for i in group], axis=-1))
            if encoded_controls is not None:
                controls.append(encoded_controls[start:end])
            else:
                controls.append(np.zeros((end - start, 0), self.control_dtype))
        return ConverterTensors(
            inputs=seqs,
            outputs=list(seqs),
            controls=controls,
            lengths=[len(s) for s in seqs],
        )

    def _windows(self, by_type, encoded, coverage, total_bars, slice_bars, report):
        """`[(instrument triple, first bar)]` of every example, in Magenta's order.

        None (with the reason in `report`) beyond `max_instrument_triples`
        or `max_windows`.
        """
        parts = [[i for i in by_type[t] if i in encoded] for t in (_MELODY, _BASS, _DRUMS)]
        triples = math.prod(len(p) for p in parts)
        if triples > self.max_instrument_triples:
            counts = " x ".join(str(len(p)) for p in parts)
            report.skip(
                f"too many melody x bass x drums combinations ({counts}; at most "
                f"{self.max_instrument_triples:,})"
            )
            return None
        gap = self.gap_bars
        windows = []
        for group in itertools.product(*parts):
            group = list(group)
            group_coverage = np.all(coverage[:, group], axis=1)
            # Magenta's leniency at both ends (note: with gap_bars=0 the
            # second slice `[-0:]` is the whole array, as in Magenta).
            group_coverage[:gap] = np.any(coverage[:gap, group])
            group_coverage[-gap:] = np.any(coverage[-gap:, group])
            for bar in range(total_bars - slice_bars + 1):
                if np.all(group_coverage[bar : bar + slice_bars]):
                    windows.append((group, bar))
            if len(windows) > self.max_windows:
                report.skip(f"more than {self.max_windows:,} trio windows")
                return None
        return windows

    def _instrument_coverage(self, quantized, total_bars):
        """Types every instrument and marks the bars it plays in.

        Returns:
            `(types, coverage)`: a `[128]` uint8 array of instrument types and
            a `[total_bars, 128]` bool array.
        """
        types = np.zeros(MAX_INSTRUMENT_NUMBER + 1, np.uint8)
        coverage = np.zeros((total_bars, MAX_INSTRUMENT_NUMBER + 1), np.bool_)
        for note in quantized.notes:
            i = note.instrument
            if i > MAX_INSTRUMENT_NUMBER:
                continue
            if note.is_drum:
                type_ = _DRUMS
            else:
                type_ = self._program_types.get(note.program, _INVALID)
            if not types[i]:
                types[i] = type_
            elif types[i] != type_:
                types[i] = _INVALID
            start_bar = note.quantized_start_step // self.steps_per_bar
            end_bar = math.ceil(note.quantized_end_step / self.steps_per_bar)
            if start_bar >= total_bars:
                continue
            coverage[start_bar : min(end_bar, total_bars), i] = True
        return types, coverage

    def _encode_parts(self, sequence, by_type, coverage, report):
        """Encodes each typed instrument over the whole sequence.

        Returns `(encoded, controls)`: `{instrument: [steps, depth] array}`
        and the chord controls of the first encoded melody / bass instrument
        (None without chords). An instrument that cannot be encoded is
        marked as not playing anywhere in `coverage`.
        """
        encoded = {}
        controls = None
        for i in by_type[_MELODY] + by_type[_BASS]:
            tensors = self.melody_converter.to_tensors(_extract_instrument(sequence, i))
            if len(tensors):
                encoded[i] = tensors.outputs[0]
                if controls is None and self.control_depth:
                    controls = tensors.controls[0]
            else:
                coverage[:, i] = False
                report.stats["melody/bass instruments without a usable melody"] += 1
        for i in by_type[_DRUMS]:
            tensors = self.drums_converter.to_tensors(_extract_instrument(sequence, i))
            if len(tensors):
                encoded[i] = tensors.outputs[0]
            else:
                coverage[:, i] = False
                report.stats["drum instruments without usable drums"] += 1
        return encoded, controls

    # -- arrays -> NoteSequence ---------------------------------------------
    def from_tensors(self, outputs, controls=None):
        """Converts trio arrays back to NoteSequences, as Magenta does.

        The melody keeps instrument 0 / program 0, the bass gets instrument 1
        / program 33, the drums instrument 9 (`is_drum`); velocity 80 at 120
        qpm; chords (with a chord encoding and `controls`) as in
        `MelodyConverter.from_tensors`.

        Args:
            outputs: `[N, T, 692]` one-hot / scores (or a list of `[T, 692]`).
            controls: Optional `[N, T, control_depth]` chord controls.

        Returns:
            A list of N `note_seq.NoteSequence`: melody, then bass, then
            drum notes.
        """
        mel_end, bass_end, _ = np.cumsum(self.split_output_depths)
        sequences = []
        for i, sample in enumerate(outputs):
            sample = np.asarray(sample)
            if sample.ndim != 2 or sample.shape[-1] != self.output_depth:
                raise ValueError(
                    f"Expected [T, {self.output_depth}] trio arrays, got shape "
                    f"{sample.shape}."
                )
            melody = self.melody_converter.from_tensors(
                [sample[:, :mel_end]],
                [controls[i]] if controls is not None else None,
            )[0]
            bass = self.melody_converter.from_tensors([sample[:, mel_end:bass_end]])[0]
            drums = self.drums_converter.from_tensors([sample[:, bass_end:]])[0]
            for note in bass.notes:
                note.instrument = BASS_OUTPUT_INSTRUMENT
                note.program = BASS_OUTPUT_PROGRAM
            for note in drums.notes:
                note.instrument = DRUMS_OUTPUT_INSTRUMENT
            melody.notes.extend(bass.notes)
            melody.notes.extend(drums.notes)
            melody.total_time = max(melody.total_time, bass.total_time, drums.total_time)
            sequences.append(melody)
        return sequences

    # -- config -------------------------------------------------------------
    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "slice_bars": self.slice_bars,
                "gap_bars": self.gap_bars,
                "max_bars": self.max_bars,
                "steps_per_quarter": self.steps_per_quarter,
                "quarters_per_bar": self.quarters_per_bar,
                "chord_encoding": self.chord_encoding,
            }
        )
        return config


def _extract_instrument(sequence, instrument):
    """A copy of `sequence` holding only the notes of `instrument`."""
    extracted = note_seq.NoteSequence()
    extracted.CopyFrom(sequence)
    del extracted.notes[:]
    extracted.notes.extend(n for n in sequence.notes if n.instrument == instrument)
    return extracted
