"""The multi-instrument performance converter (`hier_multiperf_*` presets).

Each example is `hop_size_bars` bars of music with up to
`max_num_instruments` instruments, every instrument written as a sequence of
performance events (note-on, note-off, time shift, velocity) at 24 steps per
quarter note: Magenta's `MultiInstrumentPerformanceConverter`
(`music_vae/data_hierarchical.py`), with the same arrays.

Token vocabulary (`num_velocity_bins=8`, full pitch range, depth 490):

| tokens  | meaning                                               |
| ------- | ----------------------------------------------------- |
| 0-127   | note-on of MIDI pitch 0-127                           |
| 128-255 | note-off of MIDI pitch 0-127                          |
| 256-351 | time shift of 1-96 steps (96 = one 4/4 bar)           |
| 352-359 | velocity bin 1-8 (omitted when `num_velocity_bins=0`) |
| 360-487 | program token: 360 + MIDI program                     |
| 488     | program token of a drum kit                           |
| 489     | end token                                             |

An example is `num_chunks * max_num_instruments` track slots of
`max_events_per_instrument` rows each (8 x 64 = 512 rows for one bar). A used
slot is `[program token, events..., end token]` then all-zero rows; tracks are
sorted by `(is_drum, program)`; an unused slot is a lone end token then zero
rows. `lengths` holds the number of non-zero rows of every slot.

This module is pure NumPy / note-seq: no TensorFlow.
"""

import numpy as np
import note_seq
from note_seq import performance_lib
from note_seq import sequences_lib

from keras_musicvae.data import chords
from keras_musicvae.data import performance_tracks
from keras_musicvae.data.converter import DataConverter
from keras_musicvae.data.converter import check_pitch_range
from keras_musicvae.data.converter import empty_tensors
from keras_musicvae.data.converter import register_converter

_CHORD_SYMBOL = note_seq.NoteSequence.TextAnnotation.CHORD_SYMBOL
# Errors that make a stretch of music impossible to place on a grid of bars.
_QUANTIZATION_ERRORS = (
    sequences_lib.BadTimeSignatureError,
    sequences_lib.MultipleTimeSignatureError,
    sequences_lib.MultipleTempoError,
    sequences_lib.NegativeTimeError,
    note_seq.NonIntegerStepsPerBarError,
)


def _count(n, noun):
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _error_text(error):
    return str(error) or type(error).__name__


def _grid_reason(error):
    return f"cannot be placed on a grid of bars ({_error_text(error)})"


@register_converter
class MultiInstrumentPerformanceConverter(DataConverter):
    """Multi-instrument metric performances <-> `[T, 490]` one-hot arrays.

    Magenta's `MultiInstrumentPerformanceConverter`, with the same arguments
    and arrays. The NoteSequence is split on tempo / time-signature changes,
    sustain pedal is applied, then it is cut into hops of `hop_size_bars` bars
    (at the first tempo); each hop with enough instruments and events, and no
    instrument with too many events, gives one example.

    Args:
        num_velocity_bins: Velocity bins (0 for no velocity events).
        max_tensors_per_notesequence: Cap on the examples per NoteSequence.
        hop_size_bars: Bars per example.
        chunk_size_bars: Bars per chunk (the level of the hierarchy above the
            tracks); `hop_size_bars` must be a multiple of it.
        steps_per_quarter: Time steps per quarter note.
        quarters_per_bar: Quarter notes per bar (only bars of this length are
            converted).
        min_num_instruments: Fewest instruments a hop must have.
        max_num_instruments: Most instruments a hop may have (track slots).
        min_total_events: Fewest performance events, all tracks together.
        max_events_per_instrument: Rows per track slot; a track may have at
            most this minus 2 events (room for program and end tokens).
        min_pitch: Lowest MIDI pitch; hops with lower notes are skipped.
        max_pitch: Highest MIDI pitch; hops with higher notes are skipped.
        first_subsequence_only: Only convert sequences that fit in one hop.
        chord_encoding: None, or "triad" to condition on chords
            (Magenta's `TriadChordOneHotEncoding`, 49 classes; inferred when
            the sequence has no chord symbols).
        drop_tracks_and_truncate: Keep a random `max_num_instruments` of the
            instruments of a hop with more, and cut tracks that are too long
            instead of skipping the hop.
        mode: "train", "eval" or "infer".
        seed: Seed of the random choices (`train`-mode capping and
            `drop_tracks_and_truncate`).

    Arrays per example (`T = num_chunks * max_num_instruments *
    max_events_per_instrument`, `num_chunks = hop_size_bars //
    chunk_size_bars`):
        inputs, outputs: `[T, depth]` bool (depth 490 with 8 velocity bins).
        controls: `[T, 49]` bool with chords; otherwise Magenta's empty
            placeholder `[num_chunks, 0]` float64.
        lengths: `[num_chunks * max_num_instruments]` int32.
    """

    presplit_on_time_changes = True

    def __init__(
        self,
        num_velocity_bins=0,
        max_tensors_per_notesequence=None,
        hop_size_bars=1,
        chunk_size_bars=1,
        steps_per_quarter=24,
        quarters_per_bar=4,
        min_num_instruments=2,
        max_num_instruments=8,
        min_total_events=8,
        max_events_per_instrument=64,
        min_pitch=performance_lib.MIN_MIDI_PITCH,
        max_pitch=performance_lib.MAX_MIDI_PITCH,
        first_subsequence_only=False,
        chord_encoding=None,
        drop_tracks_and_truncate=False,
        mode="train",
        seed=None,
    ):
        super().__init__(
            max_tensors_per_notesequence=max_tensors_per_notesequence,
            mode=mode,
            seed=seed,
        )
        if hop_size_bars < 1 or chunk_size_bars < 1 or hop_size_bars % chunk_size_bars:
            raise ValueError(
                "hop_size_bars must be a positive multiple of chunk_size_bars; got "
                f"hop_size_bars={hop_size_bars}, chunk_size_bars={chunk_size_bars}."
            )
        if max_events_per_instrument < 2:
            raise ValueError(
                "max_events_per_instrument must leave room for the program and end "
                f"tokens (>= 2); got {max_events_per_instrument}."
            )
        check_pitch_range(min_pitch, max_pitch)
        self._set_grid(steps_per_quarter, quarters_per_bar)
        self.num_velocity_bins = num_velocity_bins
        self.hop_size_bars = hop_size_bars
        self.chunk_size_bars = chunk_size_bars
        self.min_num_instruments = min_num_instruments
        self.max_num_instruments = max_num_instruments
        self.min_total_events = min_total_events
        self.max_events_per_instrument = max_events_per_instrument
        self.min_pitch = min_pitch
        self.max_pitch = max_pitch
        self.first_subsequence_only = first_subsequence_only
        self.drop_tracks_and_truncate = drop_tracks_and_truncate
        self._chord_encoding, self.chord_encoding = chords.resolve_chord_encoding(
            chord_encoding
        )

        self.num_chunks = hop_size_bars // chunk_size_bars
        self.chunk_steps = self.steps_per_bar * chunk_size_bars
        self.hop_steps = self.steps_per_bar * hop_size_bars
        self.performance_encoding = note_seq.PerformanceOneHotEncoding(
            num_velocity_bins=num_velocity_bins,
            max_shift_steps=performance_lib.DEFAULT_MAX_SHIFT_QUARTERS
            * steps_per_quarter,
            min_pitch=min_pitch,
            max_pitch=max_pitch,
        )
        num_event_classes = self.performance_encoding.num_classes
        # One program token per MIDI program, plus one for drums.
        self.end_token = num_event_classes + performance_tracks.NUM_PROGRAMS + 1
        self.input_depth = self.output_depth = self.end_token + 1
        self.input_dtype = self.output_dtype = np.bool_
        self.control_dtype = np.bool_
        self.length_shape = (self.num_chunks * max_num_instruments,)
        if self._chord_encoding is None:
            self.control_depth = 0
            self._control_pad_token = None
        else:
            self.control_depth = self._chord_encoding.num_classes
            self._control_pad_token = self._chord_encoding.encode_event(
                note_seq.NO_CHORD
            )

    def _time_signature_reason(self, quantized_sequence):
        signature = "4/4"
        if quantized_sequence.time_signatures:
            ts = quantized_sequence.time_signatures[0]
            signature = f"{ts.numerator}/{ts.denominator}"
        return (
            f"time signature {signature} (only bars of {self.quarters_per_bar} "
            "quarter notes, e.g. 4/4, are supported)"
        )

    @property
    def _hop_name(self):
        return "bar" if self.hop_size_bars == 1 else f"{self.hop_size_bars}-bar section"

    @property
    def sequence_length(self):
        """Rows per example: chunks x track slots x events per slot."""
        return self.num_chunks * self.max_num_instruments * self.max_events_per_instrument

    # -- NoteSequence -> arrays ----------------------------------------------
    def _to_tensors(self, note_sequence, report):
        # Performances need the sustain pedal applied to the note lengths.
        sequence = sequences_lib.apply_sustain_control_changes(note_sequence)
        if self._chord_encoding is not None and not self._add_inferred_chords(
            sequence, report
        ):
            return empty_tensors()

        qpm = (
            sequence.tempos[0].qpm
            if sequence.tempos
            else note_seq.DEFAULT_QUARTERS_PER_MINUTE
        )
        # The same float expression as Magenta, so hops split at the same times.
        quarters_per_bar = self.steps_per_bar / self.steps_per_quarter
        hop_seconds = 60.0 * (quarters_per_bar * self.hop_size_bars) / qpm
        hops = sequences_lib.split_note_sequence(sequence, hop_seconds)
        if self.first_subsequence_only and len(hops) > 1:
            report.skip(
                f"longer than {self.hop_size_bars} bar(s) "
                "(first_subsequence_only keeps only sequences of one hop)"
            )
            return empty_tensors()

        examples = []
        for hop in hops:
            try:
                quantized = sequences_lib.quantize_note_sequence(
                    hop, self.steps_per_quarter
                )
                steps_per_bar = sequences_lib.steps_per_bar_in_quantized_sequence(
                    quantized
                )
            except _QUANTIZATION_ERRORS as error:
                # As Magenta: one bad hop discards the whole time-change section.
                report.skip(_grid_reason(error))
                return empty_tensors()
            if steps_per_bar != self.steps_per_bar:
                report.skip(self._time_signature_reason(quantized))
                return empty_tensors()
            example = self._hop_to_tokens(quantized, report)
            if example is not None:
                examples.append(example)
        report.stats["hops"] += len(hops)
        report.stats["hops converted"] += len(examples)

        examples = self._maybe_sample_items(examples)
        tensors = empty_tensors()
        for track_tokens, chord_tokens in examples:
            inputs, lengths = self._pad_tracks(
                track_tokens, self.end_token, self.input_depth, self.input_dtype
            )
            tensors.inputs.append(inputs)
            tensors.outputs.append(inputs.copy())
            tensors.lengths.append(lengths)
            if self._chord_encoding is None:
                # Magenta's placeholder: one empty row per chunk.
                tensors.controls.append(np.zeros((self.num_chunks, 0)))
            else:
                controls, _ = self._pad_tracks(
                    chord_tokens,
                    self._control_pad_token,
                    self.control_depth,
                    self.control_dtype,
                )
                tensors.controls.append(controls)
        return tensors

    def _add_inferred_chords(self, sequence, report):
        """Infers chords into `sequence` when it has none; False on failure."""
        if chords.has_chords(sequence):
            return True
        try:
            quantized = sequences_lib.quantize_note_sequence(
                sequence, self.steps_per_quarter
            )
            if (
                sequences_lib.steps_per_bar_in_quantized_sequence(quantized)
                != self.steps_per_bar
            ):
                report.skip(self._time_signature_reason(quantized))
                return False
            chords.ensure_chords(quantized)
        except _QUANTIZATION_ERRORS as error:
            report.skip(_grid_reason(error))
            return False
        except chords.ChordError as error:
            report.skip(str(error))
            return False
        for annotation in quantized.text_annotations:
            if annotation.annotation_type == _CHORD_SYMBOL:
                copied = sequence.text_annotations.add()
                copied.annotation_type = _CHORD_SYMBOL
                copied.time = annotation.time
                copied.text = annotation.text
        return True

    def _extract_tracks(self, quantized_hop):
        """One `MetricPerformance` per instrument, `hop_steps` long."""
        tracks = []
        # Iterate over a Python set of instrument numbers, as Magenta does, so
        # that instruments with equal (is_drum, program) keep Magenta's order.
        for instrument in set(note.instrument for note in quantized_hop.notes):
            track = performance_lib.MetricPerformance(
                quantized_hop,
                start_step=0,
                num_velocity_bins=self.num_velocity_bins,
                instrument=instrument,
            )
            track.set_length(self.hop_steps)
            tracks.append(track)
        return tracks

    def _instrument_count_reason(self, count):
        """Why a hop with `count` instruments is refused."""
        hop = self._hop_name
        if not count:
            return f"silent {hop}"
        if count < self.min_num_instruments:
            return (
                f"{hop} with only {_count(count, 'instrument')} playing "
                f"(at least {self.min_num_instruments} needed)"
            )
        return f"{hop} with {count} instruments playing (at most {self.max_num_instruments} supported)"

    def _hop_to_tokens(self, quantized_hop, report):
        """Token lists of one hop, or None (with the reason in `report`).

        Returns:
            `(track_tokens, chord_tokens)`: per chunk, a list of int token
            lists, one per track, each `[program, events..., end]`;
            `chord_tokens` likewise (an empty list without chord encoding).
        """
        hop = self._hop_name
        if any(
            not self.min_pitch <= note.pitch <= self.max_pitch
            for note in quantized_hop.notes
        ):
            report.skip(f"{hop} with a pitch outside {self.min_pitch}-{self.max_pitch}")
            return None

        if not self.drop_tracks_and_truncate:
            # One track per instrument: refuse a hop by its count before
            # building tracks (note-seq scans every note once per track).
            count = len(set(note.instrument for note in quantized_hop.notes))
            if not self.min_num_instruments <= count <= self.max_num_instruments:
                report.skip(self._instrument_count_reason(count))
                return None
        tracks = self._extract_tracks(quantized_hop)
        if self.drop_tracks_and_truncate and len(tracks) > self.max_num_instruments:
            keep = self._rng.choice(
                len(tracks), self.max_num_instruments, replace=False
            )
            tracks = [tracks[i] for i in sorted(keep)]
        if not self.min_num_instruments <= len(tracks) <= self.max_num_instruments:
            report.skip(self._instrument_count_reason(len(tracks)))
            return None
        if any(t.is_drum is None or (t.program is None and not t.is_drum) for t in tracks):
            # Magenta fails here with a TypeError; MIDI files cannot produce it.
            report.skip(
                f"{hop} where one instrument mixes several programs, or drums "
                "and pitched notes"
            )
            return None
        tracks.sort(key=lambda t: (t.is_drum, t.program if t.program is not None else -1))

        chunks_of_tracks = [[] for _ in range(self.num_chunks)]
        max_track_events = self.max_events_per_instrument - 2
        total_events = 0
        for track in tracks:

            def new_chunk(quantized_sequence, start_step, track=track):
                return performance_lib.MetricPerformance(
                    quantized_sequence=quantized_sequence,
                    steps_per_quarter=(
                        self.steps_per_quarter if quantized_sequence is None else None
                    ),
                    start_step=start_step,
                    num_velocity_bins=self.num_velocity_bins,
                    program=track.program,
                    is_drum=track.is_drum,
                )

            track_chunks = performance_tracks.split_into_chunks(track, self.chunk_steps, new_chunk)
            if len(track_chunks) != self.num_chunks:
                raise AssertionError(
                    f"internal error: a {self.hop_steps}-step track gave "
                    f"{len(track_chunks)} chunks, expected {self.num_chunks}"
                )
            if self.drop_tracks_and_truncate:
                for chunk in track_chunks:
                    chunk.truncate(max_track_events)
            longest = max(len(chunk) for chunk in track_chunks)
            if longest > max_track_events:
                report.skip(
                    f"{hop} where one instrument plays more than {max_track_events} "
                    "events (note-ons, note-offs, time shifts, velocity changes)"
                )
                return None
            if any(
                not note_seq.MIN_MIDI_PROGRAM <= chunk.program <= note_seq.MAX_MIDI_PROGRAM
                for chunk in track_chunks
                if not chunk.is_drum
            ):
                report.skip(f"{hop} with a MIDI program outside 0-127")
                return None
            total_events += sum(len(chunk) for chunk in track_chunks)
            for chunk_tracks, chunk in zip(chunks_of_tracks, track_chunks):
                chunk_tracks.append(chunk)

        if total_events < self.min_total_events:
            report.skip(
                f"{hop} with fewer than {self.min_total_events} performance events "
                "(note-ons, note-offs, time shifts, velocity changes)"
            )
            return None

        track_tokens = []
        chord_tokens = []
        for chunk_tracks in chunks_of_tracks:
            track_tokens.append(
                [
                    performance_tracks.track_tokens(t, self.performance_encoding, self.end_token)
                    for t in chunk_tracks
                ]
            )
            if self._chord_encoding is not None:
                tokens = self._chord_tokens(quantized_hop, chunk_tracks, report)
                if tokens is None:
                    return None
                chord_tokens.append(tokens)
        return track_tokens, chord_tokens

    def _chord_tokens(self, quantized_hop, chunk_tracks, report):
        """Chord token lists aligned with the tracks' tokens, or None."""
        try:
            track_chords = chords.chords_for_event_lists(quantized_hop, chunk_tracks)
        except chords.ChordError:
            report.skip(
                f"{self._hop_name} where two chord symbols fall on the same step"
            )
            return None
        tokens = []
        try:
            for symbols in track_chords:
                # The program token gets the pad chord, the end token repeats
                # the last chord.
                track = [self._control_pad_token]
                track += [self._chord_encoding.encode_event(c) for c in symbols]
                track.append(track[-1])
                tokens.append(track)
        except (note_seq.ChordSymbolError, note_seq.ChordEncodingError) as error:
            report.skip(
                f"{self._hop_name} with a chord that is not a plain triad ({error})"
            )
            return None
        return tokens

    def _pad_tracks(self, tokens_per_chunk, empty_slot_token, depth, dtype):
        """Lays the token lists of one example out as `[T, depth]` one-hot.

        Returns:
            `(array, lengths)`: `[T, depth]` of `dtype` and the int32 row
            count of every slot, `[num_chunks * max_num_instruments]`.
        """
        slots = []
        for chunk_tracks in tokens_per_chunk:
            slots.extend(chunk_tracks)
            slots.extend(
                [[empty_slot_token]] * (self.max_num_instruments - len(chunk_tracks))
            )
        array = np.zeros((self.sequence_length, depth), dtype=dtype)
        lengths = np.zeros(len(slots), np.int32)
        for slot, tokens in enumerate(slots):
            first_row = slot * self.max_events_per_instrument
            rows = np.arange(first_row, first_row + len(tokens))
            array[rows, tokens] = 1
            lengths[slot] = len(tokens)
        return array, lengths

    # -- arrays -> NoteSequence ----------------------------------------------
    def from_tensors(self, outputs, controls=None):
        """Decodes model outputs into multi-instrument NoteSequences.

        Each track slot is read up to its first end token; its first program
        token sets the program (none: program 0; 488: drums); the other
        tokens are performance events. Slot `i` becomes instrument `i`, at
        120 qpm.

        Args:
            outputs: `[N, T, depth]` array (or list of `[T, depth]`), one-hot
                or scores (argmax is taken).
            controls: Optional `[N, T, control_depth]` chord controls, used
                only with a chord encoding (adds chord symbols).

        Returns:
            A list of N `note_seq.NoteSequence`.
        """
        sequences = []
        shape = [
            self.num_chunks,
            self.max_num_instruments,
            self.max_events_per_instrument,
            -1,
        ]
        expected = (self.sequence_length, self.output_depth)
        for i, sample in enumerate(outputs):
            sample = np.asarray(sample)
            if sample.shape != expected:
                raise ValueError(
                    f"Each output must be {list(expected)} (chunks x instruments x "
                    f"events per instrument, depth); output {i} has shape "
                    f"{list(sample.shape)}."
                )
            sample_controls = None
            if self._chord_encoding is not None and controls is not None:
                sample_controls = np.asarray(controls[i]).reshape(shape)
            sequences.append(
                self._tokens_to_sequence(sample.reshape(shape), sample_controls)
            )
        return sequences

    def _tokens_to_sequence(self, sample, controls):
        qpm = note_seq.DEFAULT_QUARTERS_PER_MINUTE
        seconds_per_step = 60.0 / (self.steps_per_quarter * qpm)

        sequence = note_seq.NoteSequence()
        sequence.tempos.add().qpm = qpm
        sequence.ticks_per_quarter = note_seq.STANDARD_PPQ

        tracks = [[] for _ in range(self.max_num_instruments)]
        timed_chords = []
        for chunk_index, chunk in enumerate(sample):
            chunk_start_step = chunk_index * self.chunk_steps
            for instrument, encoded_track in enumerate(chunk):
                tokens = np.argmax(encoded_track, axis=-1).tolist()
                track, event_indices = performance_tracks.track_from_tokens(
                    tokens,
                    self.performance_encoding,
                    self.end_token,
                    self.steps_per_quarter,
                    self.num_velocity_bins,
                )
                if controls is not None:
                    chord_tokens = np.argmax(controls[chunk_index][instrument], axis=-1)
                    symbols = [
                        self._chord_encoding.decode_event(int(chord_tokens[k]))
                        for k in event_indices
                    ]
                    times = [
                        (chunk_start_step + step) * seconds_per_step
                        for step in track.steps
                        if step < self.chunk_steps
                    ]
                    timed_chords.extend(zip(times, symbols))
                track.set_length(self.chunk_steps)
                tracks[instrument].append(track)

        for instrument, track_chunks in enumerate(tracks):
            track = performance_tracks.join_chunks(track_chunks)
            sequence.notes.extend(track.to_sequence(instrument=instrument, qpm=qpm).notes)
        if sequence.notes:
            sequence.total_time = max(note.end_time for note in sequence.notes)
        if timed_chords:
            times, symbols = zip(*sorted(timed_chords))
            chords.add_chords_to_sequence(sequence, symbols, times)
        return sequence

    # -- config --------------------------------------------------------------
    def get_config(self):
        config = super().get_config()
        config.update(
            num_velocity_bins=self.num_velocity_bins,
            hop_size_bars=self.hop_size_bars,
            chunk_size_bars=self.chunk_size_bars,
            steps_per_quarter=self.steps_per_quarter,
            quarters_per_bar=self.quarters_per_bar,
            min_num_instruments=self.min_num_instruments,
            max_num_instruments=self.max_num_instruments,
            min_total_events=self.min_total_events,
            max_events_per_instrument=self.max_events_per_instrument,
            min_pitch=self.min_pitch,
            max_pitch=self.max_pitch,
            first_subsequence_only=self.first_subsequence_only,
            chord_encoding=self.chord_encoding,
            drop_tracks_and_truncate=self.drop_tracks_and_truncate,
        )
        return config
