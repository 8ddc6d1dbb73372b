"""GrooVAE converter: drum performances <-> hit / velocity / offset arrays.

`GrooveConverter` is Magenta's `GrooveConverter` (Gillick et al., "Learning to
Groove with Inverse Sequence Transformations", ICML 2019). Each step of a
16th-note grid holds, per drum class, a hit (0/1), a velocity (MIDI
velocity / 127) and a micro-timing offset (distance from the grid step to the
onset, in steps, times 2: -1..1). With the 9 drum classes that is
`[hits 9 | velocities 9 | offsets 9]` = 27 values per step.

The encoder input is a transformed copy of the target (the "inverse sequence
transformation" the model learns to undo): `humanize` removes velocities and
timing, `tapify` squashes all drums to one channel, `fixed_velocities`
removes velocities, `add_instruments` removes some drums, note dropout removes
random (mostly quiet) notes.

Pure NumPy / note-seq: no TensorFlow.
"""

import collections

import note_seq
import numpy as np

from keras_musicvae.data import drum_extraction
from keras_musicvae.data.converter import DataConverter
from keras_musicvae.data.converter import empty_tensors
from keras_musicvae.data.converter import positive_int
from keras_musicvae.data.converter import register_converter
from keras_musicvae.data.drums import drum_name
from keras_musicvae.data.drums import pitch_class_map
from keras_musicvae.data.drums import resolve_pitch_classes
from keras_musicvae.data.drums import serializable_pitch_classes

# The input channel `tapify` squashes every drum onto (class 3, the open
# hi-hat of the 9-class maps).
TAPIFY_CHANNEL = 3
OUTPUT_QPM = 120.0


def _to_categorical(values, min_value, max_value, num_bins):
    """`[T, D]` floats -> `[T, D * num_bins]` one-hot bins (Magenta's binning)."""
    # The small margin keeps max_value itself inside the last bin.
    bins = np.linspace(min_value, max_value + 0.0001, num_bins)
    indices = np.digitize(values, bins, right=True)
    one_hot = np.zeros(values.shape + (num_bins,), np.int32)
    np.put_along_axis(one_hot, indices[..., None], 1, axis=-1)
    return one_hot.reshape(values.shape[0], -1)


def _windows(array, window_size, hop_size):
    """Windows of `window_size` rows every `hop_size` rows (complete ones only)."""
    return [
        array[start : start + window_size]
        for start in range(0, len(array) - window_size + 1, hop_size)
    ]


@register_converter
class GrooveConverter(DataConverter):
    """Drum performances <-> hit / velocity / offset arrays (GrooVAE).

    `to_tensors` converts a whole NoteSequence (it is not split on time
    changes: a tempo or time-signature change gives no examples, as in
    Magenta). Notes are quantised; per step and drum class the loudest onset
    gives the hit, velocity and offset. The sequence is padded to a bar line
    after its last onset and cut into windows of `split_bars` bars (hop
    `hop_size` steps, default one window). Per example (T = window steps,
    times the number of classes with `split_instruments`; D = number of
    classes, 9 by default):

    * inputs, outputs: `[T, 3 * D]` float64 `[hits | velocities | offsets]`
      (velocities in 0..1, offsets in -1..1); with `num_velocity_bins` /
      `num_offset_bins`: `[T, D * (1 + velocity bins + offset bins)]` one-hot
      bins; with `split_instruments`: one drum per row, `[T, 3]` (or
      `[T, 1 + bins]`). The values are float64 exactly as Magenta computes
      them; `input_dtype` / `output_dtype` (float32) are what the training
      pipeline casts them to, as Magenta's does.
    * controls: `[T, control_depth]` bool: the target hits
      (`hits_as_controls`) and/or the one-hot drum of each row
      (`split_instruments`); `[T, 0]` otherwise.
    * lengths: T (int).

    Differences from Magenta, all where Magenta crashes or misbehaves:

    * Notes that are not `is_drum` are ignored (Magenta maps them as drums).
      Drum notes whose pitch is in no class are skipped and counted in the
      report (Magenta raises `KeyError`), e.g. GM toms 41 or clap 39 with the
      22-pitch Roland map.
    * Note dropout (`max_note_dropout_probability`) is applied in "train"
      mode only, with this converter's seeded generator (Magenta also drops
      notes in eval and infer mode).
    * `max_tensors_per_notesequence` is stored but, exactly as in Magenta,
      not applied: every window is returned.
    * `from_tensors` decodes every step with one-hot velocity / offset bins
      and `split_instruments=False` (Magenta's decodes only the first
      `T / D` steps there).

    Args:
        split_bars: Window length in bars (None: the whole sequence is one
            example).
        steps_per_quarter: Grid steps per quarter note.
        quarters_per_bar: Quarter notes per bar; other time signatures give no
            examples.
        max_tensors_per_notesequence: Stored only (see above).
        pitch_classes: Drum classes in "train" and "eval" mode: None or
            "roland" (the Groove MIDI Dataset's Roland TD-11 map), "reduced",
            "full", or a list of lists of MIDI pitches.
        inference_pitch_classes: Drum classes in "infer" mode (None: as
            `pitch_classes`); same number of classes.
        humanize: Zero input velocities and offsets (learn to add groove).
        tapify: Put, at each step, the hit / velocity / offset of the loudest
            drum on input class 3 and clear the others (learn drums from
            tapping).
        add_instruments: Class indices removed from the inputs only (learn to
            add those drums), e.g. `[2]` for the closed hi-hat.
        num_velocity_bins: One-hot velocity bins (with `num_offset_bins`).
        num_offset_bins: One-hot offset bins (with `num_velocity_bins`).
        split_instruments: One row per (step, drum) instead of per step; the
            controls then say which drum a row is.
        hop_size: Window hop in steps (needs `split_bars`; default: no
            overlap).
        hits_as_controls: Pass the target hits as controls (the model learns
            only velocities and offsets).
        fixed_velocities: Zero input velocities.
        max_note_dropout_probability: If set, each input sequence drops notes
            with a probability drawn uniformly from [0, this], quieter notes
            more often (train mode only).
        mode: "train", "eval" or "infer".
        seed: Seed of note dropout.
    """

    presplit_on_time_changes = False
    # Magenta never applies the cap to grooves (read by the data pipeline).
    applies_max_tensors_cap = False
    input_dtype = np.float32
    output_dtype = np.float32
    control_dtype = np.bool_
    end_token = False  # as Magenta: fixed-length examples, no end token

    def __init__(
        self,
        split_bars=None,
        steps_per_quarter=4,
        quarters_per_bar=4,
        max_tensors_per_notesequence=20,
        pitch_classes=None,
        inference_pitch_classes=None,
        humanize=False,
        tapify=False,
        add_instruments=None,
        num_velocity_bins=None,
        num_offset_bins=None,
        split_instruments=False,
        hop_size=None,
        hits_as_controls=False,
        fixed_velocities=False,
        max_note_dropout_probability=None,
        mode="train",
        seed=None,
    ):
        super().__init__(
            max_tensors_per_notesequence=max_tensors_per_notesequence,
            mode=mode,
            seed=seed,
        )
        self._set_grid(steps_per_quarter, quarters_per_bar)
        self.split_bars = split_bars = positive_int("split_bars", split_bars, optional=True)
        hop_size = positive_int("hop_size", hop_size, optional=True)
        self.humanize = humanize
        self.tapify = tapify
        self.add_instruments = (
            None if add_instruments is None else [int(i) for i in add_instruments]
        )
        self.num_velocity_bins = num_velocity_bins
        self.num_offset_bins = num_offset_bins
        self.split_instruments = split_instruments
        self.hop_size = hop_size
        self.hits_as_controls = hits_as_controls
        self.fixed_velocities = fixed_velocities
        self.max_note_dropout_probability = max_note_dropout_probability

        self._pitch_classes_arg = serializable_pitch_classes(pitch_classes)
        self._inference_pitch_classes_arg = serializable_pitch_classes(
            inference_pitch_classes
        )
        self.train_pitch_classes = resolve_pitch_classes(pitch_classes, "roland")
        self.infer_pitch_classes = resolve_pitch_classes(
            inference_pitch_classes,
            self.train_pitch_classes,
            argument="inference_pitch_classes",
        )
        if len(self.train_pitch_classes) != len(self.infer_pitch_classes):
            raise ValueError(
                "pitch_classes and inference_pitch_classes must have the same "
                f"number of classes; got {len(self.train_pitch_classes)} and "
                f"{len(self.infer_pitch_classes)}."
            )
        self._train_map = pitch_class_map(self.train_pitch_classes)
        self._infer_map = pitch_class_map(self.infer_pitch_classes)
        self.num_drums = len(self.train_pitch_classes)

        if bool(num_velocity_bins) != bool(num_offset_bins):
            raise ValueError(
                "Set both num_velocity_bins and num_offset_bins (one-hot "
                "velocities and offsets) or neither (continuous values)."
            )
        if split_bars is None and hop_size is not None:
            raise ValueError("hop_size needs split_bars (the window length).")
        if self.add_instruments and not all(
            0 <= i < self.num_drums for i in self.add_instruments
        ):
            raise ValueError(
                f"add_instruments {self.add_instruments} must be drum class "
                f"indices in 0..{self.num_drums - 1}."
            )
        if tapify and self.num_drums <= TAPIFY_CHANNEL:
            raise ValueError(
                f"tapify needs at least {TAPIFY_CHANNEL + 1} drum classes."
            )
        self.categorical = bool(num_velocity_bins and num_offset_bins)

        drums_per_row = 1 if split_instruments else self.num_drums
        if self.categorical:
            self.output_depth = drums_per_row * (1 + num_velocity_bins + num_offset_bins)
        else:
            self.output_depth = drums_per_row * 3
        self.input_depth = self.output_depth
        control_depth = 0
        if hits_as_controls:
            control_depth += 1 if split_instruments else self.num_drums
        if split_instruments:
            control_depth += self.num_drums
        self.control_depth = control_depth

    # -- mode-dependent drum map (Magenta's `pitch_classes` property) --------
    @property
    def pitch_classes(self):
        """The drum classes of the current mode (inference map in "infer")."""
        return self.infer_pitch_classes if self.is_inferring else self.train_pitch_classes

    @property
    def pitch_class_map(self):
        """`{pitch: class}` of the current mode."""
        return self._infer_map if self.is_inferring else self._train_map

    # -- NoteSequence -> arrays --------------------------------------------
    def _convert_sequence(self, note_sequence, report):
        """The whole sequence is converted at once and, as in Magenta, no cap
        is applied."""
        return self._to_tensors(note_sequence, report)

    def _to_tensors(self, note_sequence, report):
        quantized = drum_extraction.quantize_or_explain(
            note_sequence, self.steps_per_quarter, self.steps_per_bar, report
        )
        if quantized is None:
            return empty_tensors()
        onsets = self._loudest_onsets(quantized, report)
        if not onsets:
            return empty_tensors()

        qpm = quantized.tempos[0].qpm if quantized.tempos else OUTPUT_QPM
        beat_length = 60.0 / qpm
        step_length = beat_length / self.steps_per_quarter
        max_start_step = max(step for step, _ in onsets)
        # Pad to the end of the bar of the last onset.
        total_bars = -(-(max_start_step + 1) // self.steps_per_bar)
        num_steps = self.steps_per_bar * total_bars

        hits = np.zeros((num_steps, self.num_drums))
        velocities = np.zeros((num_steps, self.num_drums))
        offsets = np.zeros((num_steps, self.num_drums))
        for (step, drum), note in onsets.items():
            hits[step, drum] = 1.0
            velocities[step, drum] = note.velocity / 127.0
            # Grid time minus onset, in steps, scaled from [-0.5, 0.5] to [-1, 1]
            # (Magenta's float operations, in this order).
            grid_time = step_length * note.quantized_start_step
            offsets[step, drum] = (grid_time - note.start_time) / step_length * 2

        in_hits, in_velocities, in_offsets = self._input_features(
            hits, velocities, offsets
        )

        if self.categorical:
            velocities = _to_categorical(velocities, 0.0, 1.0, self.num_velocity_bins)
            in_velocities = _to_categorical(in_velocities, 0.0, 1.0, self.num_velocity_bins)
            offsets = _to_categorical(offsets, -1.0, 1.0, self.num_offset_bins)
            in_offsets = _to_categorical(in_offsets, -1.0, 1.0, self.num_offset_bins)

        total_length = num_steps
        if self.split_instruments:
            total_length = num_steps * self.num_drums
            hits, velocities, offsets, in_hits, in_velocities, in_offsets = (
                a.reshape(total_length, -1)
                for a in (hits, velocities, offsets, in_hits, in_velocities, in_offsets)
            )
        outputs = np.concatenate([hits, velocities, offsets], axis=1)
        inputs = np.concatenate([in_hits, in_velocities, in_offsets], axis=1)

        controls = []
        if self.hits_as_controls:
            controls.append(hits.astype(np.bool_))
        if self.split_instruments:
            drum_one_hot = np.eye(self.num_drums, dtype=np.bool_)
            controls.append(np.tile(drum_one_hot, (num_steps, 1)))
        if controls:
            controls = np.concatenate(controls, axis=-1)
        else:
            controls = np.zeros((total_length, 0), self.control_dtype)

        if self.split_bars:
            window_size = self.steps_per_bar * self.split_bars
            hop_size = self.hop_size or window_size
            if self.split_instruments:
                window_size *= self.num_drums
                hop_size *= self.num_drums
            input_windows = _windows(inputs, window_size, hop_size)
            output_windows = _windows(outputs, window_size, hop_size)
            control_windows = _windows(controls, window_size, hop_size)
            if not output_windows:
                report.skip(
                    f"shorter than {self.split_bars} bars "
                    f"({total_bars} bar(s) up to the last drum hit)"
                )
                return empty_tensors()
        else:
            input_windows, output_windows, control_windows = [inputs], [outputs], [controls]

        tensors = empty_tensors()
        tensors.inputs.extend(input_windows)
        tensors.outputs.extend(output_windows)
        tensors.controls.extend(control_windows)
        tensors.lengths.extend(len(w) for w in input_windows)
        return tensors

    def _loudest_onsets(self, quantized, report):
        """`{(step, class): note}`: the loudest onset per step and drum class.

        Non-drum notes and drum notes outside the current map are left out and
        counted in `report`; a reason is recorded when nothing is left.
        """
        class_map = self.pitch_class_map
        onsets = {}
        unmapped = collections.Counter()
        num_non_drum = 0
        for note in quantized.notes:
            if not note.is_drum:
                num_non_drum += 1
                continue
            drum = class_map.get(note.pitch)
            if drum is None:
                unmapped[note.pitch] += 1
                continue
            key = (int(note.quantized_start_step), drum)
            # Strictly louder replaces: the first of equally loud notes wins.
            if key not in onsets or note.velocity > onsets[key].velocity:
                onsets[key] = note
        if num_non_drum:
            report.stats["non-drum notes ignored"] += num_non_drum
        map_name = "inference_pitch_classes" if self.is_inferring else "pitch_classes"
        for pitch, count in sorted(unmapped.items()):
            report.stats[
                f"drum hits skipped: pitch {drum_name(pitch)} is not in the drum "
                f"map ({map_name})"
            ] += count
        if not onsets:
            if unmapped:
                pitches = ", ".join(str(p) for p in sorted(unmapped))
                report.skip(f"no drum hits in the drum map (pitches {pitches} are not in it)")
            else:
                report.skip("no drum notes (MIDI channel 10)")
        return onsets

    def _input_features(self, hits, velocities, offsets):
        """The encoder's `(hits, velocities, offsets)`: transformed copies."""
        in_hits, in_velocities, in_offsets = hits.copy(), velocities.copy(), offsets.copy()
        if self.max_note_dropout_probability is not None and self.is_training:
            dropout_probability = self._rng.uniform(0.0, self.max_note_dropout_probability)
            # Quieter notes are dropped more often (weights 1 - velocity, at
            # least 0.2).
            weights = np.maximum(0.2, 1.0 - in_velocities)
            keep = 1 - self._rng.binomial(1, weights * dropout_probability)
            in_hits *= keep
            in_velocities *= keep
            in_offsets *= keep
        if self.tapify:
            # The loudest (remaining) drum of each step, taken from the target.
            loudest = np.argmax(in_velocities, axis=1)
            steps = np.arange(len(hits))
            tap_hits = hits[steps, loudest]
            tap_velocities = velocities[steps, loudest]
            tap_offsets = offsets[steps, loudest]
            for array in (in_hits, in_velocities, in_offsets):
                array[:] = 0
            in_hits[:, TAPIFY_CHANNEL] = tap_hits
            in_velocities[:, TAPIFY_CHANNEL] = tap_velocities
            in_offsets[:, TAPIFY_CHANNEL] = tap_offsets
        if self.humanize:
            in_velocities[:] = 0
            in_offsets[:] = 0
        if self.fixed_velocities:
            in_velocities[:] = 0
        if self.add_instruments:
            for array in (in_hits, in_velocities, in_offsets):
                array[:, self.add_instruments] = 0.0
        return in_hits, in_velocities, in_offsets

    # -- arrays -> NoteSequence --------------------------------------------
    def from_tensors(self, outputs, controls=None):
        """Decodes groove outputs to NoteSequences (120 qpm, as Magenta).

        A note is written where a hit is > 0.5: velocity `round(v * 127)`
        clipped to 0..127, onset `(i - offset / 2) * step` seconds with the
        half-offset clipped to [-0.5, 0.5] (so the first step may start
        slightly before 0 s), one step long, `is_drum`, instrument 9, pitch =
        first pitch of the class in the current mode's map. With one-hot bins,
        velocity is `int(bin / bins * 127)` and offset `bin / bins - 0.5`.
        As Magenta, `total_time` is left at 0.

        Args:
            outputs: `[N, T, output_depth]` (or a list of `[T, output_depth]`).
            controls: Ignored (hits are read from `outputs`).

        Returns:
            A list of N `note_seq.NoteSequence`.
        """
        step_length = 60.0 / OUTPUT_QPM / self.steps_per_quarter
        pitch_classes = self.pitch_classes
        sequences = []
        for sample in outputs:
            sample = np.asarray(sample)
            sequence = note_seq.NoteSequence()
            sequence.tempos.add(qpm=OUTPUT_QPM)
            rows_per_step = self.num_drums if self.split_instruments else 1
            for step in range(sample.shape[0] // rows_per_step):
                for drum, hit, velocity, offset in self._decode_step(sample, step):
                    if hit <= 0.5:
                        continue
                    note = sequence.notes.add()
                    note.instrument = 9
                    note.is_drum = True
                    note.pitch = pitch_classes[drum][0]
                    note.velocity = int(velocity)
                    note.start_time = (step - offset) * step_length
                    note.end_time = note.start_time + step_length
            sequences.append(sequence)
        return sequences

    def _decode_step(self, sample, step):
        """Yields `(drum, hit, velocity 0..127, offset in steps)` of one step."""
        n = self.num_drums
        if self.split_instruments:
            rows = sample[step * n : (step + 1) * n]
            if self.categorical:
                hits = rows[:, 0]
                velocity_bins = rows[:, 1 : 1 + self.num_velocity_bins]
                offset_bins = rows[:, 1 + self.num_velocity_bins :]
            else:
                hits, velocities, offsets = rows.T
        else:
            row = sample[step]
            if self.categorical:
                hits = row[:n]
                velocity_bins = row[n : n * (1 + self.num_velocity_bins)].reshape(n, -1)
                offset_bins = row[n * (1 + self.num_velocity_bins) :].reshape(n, -1)
            else:
                hits, velocities, offsets = np.split(row, 3)
        for drum in range(n):
            if self.categorical:
                velocity = int(
                    np.argmax(velocity_bins[drum]) / self.num_velocity_bins * 127
                )
                offset = np.argmax(offset_bins[drum]) / self.num_offset_bins - 0.5
            else:
                velocity = np.clip(int(np.round(velocities[drum] * 127)), 0, 127)
                offset = np.clip(offsets[drum] / 2, -0.5, 0.5)
            yield drum, hits[drum], velocity, offset

    # -- config -------------------------------------------------------------
    def get_config(self):
        config = {
            "split_bars": self.split_bars,
            "steps_per_quarter": self.steps_per_quarter,
            "quarters_per_bar": self.quarters_per_bar,
            "pitch_classes": self._pitch_classes_arg,
            "inference_pitch_classes": self._inference_pitch_classes_arg,
            "humanize": self.humanize,
            "tapify": self.tapify,
            "add_instruments": self.add_instruments,
            "num_velocity_bins": self.num_velocity_bins,
            "num_offset_bins": self.num_offset_bins,
            "split_instruments": self.split_instruments,
            "hop_size": self.hop_size,
            "hits_as_controls": self.hits_as_controls,
            "fixed_velocities": self.fixed_velocities,
            "max_note_dropout_probability": self.max_note_dropout_probability,
        }
        config.update(super().get_config())
        return config
