"""Drum converter: `DrumsConverter` (Magenta's `DrumsConverter`) and drum maps.

Drum notes are grouped into classes ("pitch classes": a list of classes, each
a list of MIDI pitches, the first pitch of a class being the one written back
by `from_tensors`):

* `REDUCED_DRUM_PITCH_CLASSES` (9 classes: kick, snare, closed hi-hat, open
  hi-hat, low tom, mid tom, high tom, crash, ride) is note-seq's
  `DEFAULT_DRUM_TYPE_PITCHES`, the map of Magenta's drum models;
* `FULL_DRUM_PITCH_CLASSES` (61 single-pitch classes) is the map of
  Magenta's `nade-drums_2bar_full`;
* `ROLAND_DRUM_PITCH_CLASSES` (9 classes) is GrooVAE's map for the Roland
  TD-11 kit of the Groove MIDI Dataset (it knows only 22 pitches).

At each step the drums playing form a set of classes. The one-hot encoding
has `2 ** num_classes` entries (index = bitmask, bit `c` = class `c`); the
"roll" encoding has one bit per class, plus, as an encoder input, a final
"no hit at this step" bit.

Pure NumPy / note-seq: no TensorFlow.
"""

import collections

import numpy as np
import note_seq
from note_seq import drums_encoder_decoder

from keras_musicvae.data import drum_extraction
from keras_musicvae.data.converter import DataConverter
from keras_musicvae.data.converter import empty_tensors
from keras_musicvae.data.converter import non_negative
from keras_musicvae.data.converter import positive_int
from keras_musicvae.data.converter import register_converter

OUTPUT_VELOCITY = 80
# A one-hot over 2**num_classes class combinations is only built up to this.
MAX_ONE_HOT_CLASSES = 16

REDUCED_DRUM_PITCH_CLASSES = [
    list(pitches) for pitches in drums_encoder_decoder.DEFAULT_DRUM_TYPE_PITCHES
]

FULL_DRUM_PITCH_CLASSES = [
    [pitch]
    for pitch in (
        36, 35, 38, 27, 28, 31, 32, 33, 34, 37, 39, 40, 56, 65, 66, 75, 85,
        42, 44, 54, 68, 69, 70, 71, 73, 78, 80, 46, 67, 72, 74, 79, 81, 45,
        29, 41, 61, 64, 84, 48, 47, 60, 63, 77, 86, 87, 50, 30, 43, 62, 76,
        83, 49, 55, 57, 58, 51, 52, 53, 59, 82,
    )
]  # fmt: skip

ROLAND_DRUM_PITCH_CLASSES = [
    [36],  # kick
    [38, 37, 40],  # snare
    [42, 22, 44],  # closed hi-hat
    [46, 26],  # open hi-hat
    [43, 58],  # low tom
    [47, 45],  # mid tom
    [50, 48],  # high tom
    [49, 52, 55, 57],  # crash
    [51, 53, 59],  # ride
]

NAMED_PITCH_CLASSES = {
    "reduced": REDUCED_DRUM_PITCH_CLASSES,
    "full": FULL_DRUM_PITCH_CLASSES,
    "roland": ROLAND_DRUM_PITCH_CLASSES,
}

# General MIDI percussion key map (channel 10), for readable reports.
GM_DRUM_NAMES = {
    35: "Acoustic Bass Drum", 36: "Bass Drum 1", 37: "Side Stick",
    38: "Acoustic Snare", 39: "Hand Clap", 40: "Electric Snare",
    41: "Low Floor Tom", 42: "Closed Hi-Hat", 43: "High Floor Tom",
    44: "Pedal Hi-Hat", 45: "Low Tom", 46: "Open Hi-Hat", 47: "Low-Mid Tom",
    48: "Hi-Mid Tom", 49: "Crash Cymbal 1", 50: "High Tom",
    51: "Ride Cymbal 1", 52: "Chinese Cymbal", 53: "Ride Bell",
    54: "Tambourine", 55: "Splash Cymbal", 56: "Cowbell",
    57: "Crash Cymbal 2", 58: "Vibraslap", 59: "Ride Cymbal 2",
    60: "Hi Bongo", 61: "Low Bongo", 62: "Mute Hi Conga", 63: "Open Hi Conga",
    64: "Low Conga", 65: "High Timbale", 66: "Low Timbale", 67: "High Agogo",
    68: "Low Agogo", 69: "Cabasa", 70: "Maracas", 71: "Short Whistle",
    72: "Long Whistle", 73: "Short Guiro", 74: "Long Guiro", 75: "Claves",
    76: "Hi Wood Block", 77: "Low Wood Block", 78: "Mute Cuica",
    79: "Open Cuica", 80: "Mute Triangle", 81: "Open Triangle",
}  # fmt: skip


def drum_name(pitch):
    """`"41 (Low Floor Tom)"`, or just the number outside the GM map."""
    name = GM_DRUM_NAMES.get(pitch)
    return f"{pitch} ({name})" if name else str(pitch)


def resolve_pitch_classes(pitch_classes, default="reduced", argument="pitch_classes"):
    """Returns pitch classes as a list of lists of ints, validated.

    Args:
        pitch_classes: None (use `default`), a name ("reduced", "full",
            "roland") or a sequence of sequences of MIDI pitches.
        default: What None means (a name or a list of lists).
        argument: The argument name, for error messages.

    Raises:
        ValueError: An unknown name, an empty class, a pitch outside 0-127 or
            a pitch in two classes.
    """
    if pitch_classes is None:
        pitch_classes = default
    if isinstance(pitch_classes, str):
        key = pitch_classes.lower()
        if key not in NAMED_PITCH_CLASSES:
            raise ValueError(
                f"Unknown {argument} {pitch_classes!r}; use one of "
                f"{sorted(NAMED_PITCH_CLASSES)} or a list of lists of MIDI pitches."
            )
        pitch_classes = NAMED_PITCH_CLASSES[key]
    classes = []
    seen = {}
    for index, pitches in enumerate(pitch_classes):
        pitches = [int(p) for p in pitches]
        if not pitches:
            raise ValueError(f"{argument}: class {index} has no pitches.")
        for pitch in pitches:
            if not 0 <= pitch <= 127:
                raise ValueError(f"{argument}: pitch {pitch} is not a MIDI pitch (0-127).")
            if pitch in seen and seen[pitch] != index:
                raise ValueError(
                    f"{argument}: pitch {pitch} is in class {seen[pitch]} and class {index}."
                )
            seen[pitch] = index
        classes.append(pitches)
    if not classes:
        raise ValueError(f"{argument} is empty.")
    return classes


def pitch_class_map(pitch_classes):
    """`{pitch: class index}` for a list of pitch classes."""
    return {pitch: index for index, pitches in enumerate(pitch_classes) for pitch in pitches}


def serializable_pitch_classes(pitch_classes):
    """The constructor value as JSON (a name, None, or a list of int lists)."""
    if pitch_classes is None or isinstance(pitch_classes, str):
        return pitch_classes
    return [[int(p) for p in pitches] for pitches in pitch_classes]


@register_converter
class DrumsConverter(DataConverter):
    """Drum tracks <-> one-hot (or roll) arrays, as Magenta's `DrumsConverter`.

    `to_tensors`: per time-change subsequence (4/4 only by default), the drum
    notes (`is_drum`, velocity > 0, pitch in `pitch_classes`; all instruments
    merged) are quantised, their pitches mapped to classes, and drum tracks
    extracted (a silence of `gap_bars` bars ends a track; tracks are padded
    to a bar line and cut to `max_bars`). Each track is cut into windows of
    `slice_bars` bars with a hop of one bar; identical windows of a
    subsequence are kept once. Example arrays (T = window steps, plus one
    with `add_end_token`; N = number of classes, 9 by default):

    * inputs: `[T, 2**N (+1)]` bool one-hot, or with `roll_input`
      `[T, N (+1) + 1]` bool roll whose last column is "no hit";
    * outputs: `[T, 2**N (+1)]` bool one-hot, or with `roll_output`
      `[T, N (+1)]` bool roll (used by NADE decoders);
    * controls: `[T, 0]` bool; lengths: T (int).

    Args:
        max_bars: Drum tracks longer than this are cut before slicing
            (None: no limit).
        slice_bars: Window length in bars (None: whole tracks).
        gap_bars: A silence of this many bars ends a drum track (None/0: never).
        pitch_classes: None or "reduced" (9 classes), "full" (61 classes), or
            a list of lists of MIDI pitches. Pitches outside every class are
            ignored.
        add_end_token: Append an end-token step (one extra output class).
        steps_per_quarter: Quantisation steps per quarter note.
        quarters_per_bar: Quarter notes per bar; other time signatures give no
            examples.
        pad_to_total_time: Pad each track to span the whole subsequence.
        roll_input: Use the roll (+ "no hit") encoding for inputs.
        roll_output: Use the roll encoding for outputs.
        presplit_on_time_changes: Split on tempo / time signature changes
            first (False when embedded in the trio converter).
        max_tensors_per_notesequence: Cap on examples per subsequence and per
            NoteSequence (None: no cap).
        mode: "train", "eval" or "infer".
        seed: Seed of the random choice of capped examples in train mode.
    """

    input_dtype = np.bool_
    output_dtype = np.bool_
    control_dtype = np.bool_
    control_depth = 0

    def __init__(
        self,
        max_bars=None,
        slice_bars=None,
        gap_bars=1.0,
        pitch_classes=None,
        add_end_token=False,
        steps_per_quarter=4,
        quarters_per_bar=4,
        pad_to_total_time=False,
        roll_input=False,
        roll_output=False,
        presplit_on_time_changes=True,
        max_tensors_per_notesequence=5,
        mode="train",
        seed=None,
    ):
        super().__init__(
            max_tensors_per_notesequence=max_tensors_per_notesequence,
            mode=mode,
            seed=seed,
        )
        self._set_grid(steps_per_quarter, quarters_per_bar)
        self.max_bars = max_bars = positive_int("max_bars", max_bars, optional=True)
        self.slice_bars = slice_bars = positive_int("slice_bars", slice_bars, optional=True)
        self.gap_bars = non_negative("gap_bars", gap_bars, optional=True)
        self._pitch_classes_arg = serializable_pitch_classes(pitch_classes)
        self.pitch_classes = resolve_pitch_classes(pitch_classes, "reduced")
        self.pitch_class_map = pitch_class_map(self.pitch_classes)
        self.add_end_token = bool(add_end_token)
        self.pad_to_total_time = pad_to_total_time
        self.roll_input = roll_input
        self.roll_output = roll_output
        self.presplit_on_time_changes = presplit_on_time_changes

        self.slice_steps = self.steps_per_bar * slice_bars if slice_bars else None
        self.max_steps = self.steps_per_bar * max_bars if max_bars else None
        self.num_classes = len(self.pitch_classes)
        extra = int(self.add_end_token)

        if not (roll_input and roll_output) and self.num_classes > MAX_ONE_HOT_CLASSES:
            raise ValueError(
                f"{self.num_classes} drum classes need roll_input=True and "
                f"roll_output=True: a one-hot over 2**{self.num_classes} class "
                "combinations cannot be built."
            )
        # Classes are mapped before encoding, so class c is "pitch" c here.
        self._one_hot = (
            None
            if roll_input and roll_output
            else drums_encoder_decoder.MultiDrumOneHotEncoding(
                drum_type_pitches=[(c,) for c in range(self.num_classes)]
            )
        )
        one_hot_depth = 2**self.num_classes + extra
        roll_depth = self.num_classes + extra
        self.output_depth = roll_depth if roll_output else one_hot_depth
        self.input_depth = roll_depth + 1 if roll_input else one_hot_depth
        self.end_token = self.output_depth - 1 if self.add_end_token else None

    # -- NoteSequence -> arrays --------------------------------------------
    def _to_tensors(self, note_sequence, report):
        quantized = drum_extraction.quantize_or_explain(
            note_sequence, self.steps_per_quarter, self.steps_per_bar, report
        )
        if quantized is None:
            return empty_tensors()

        kept = []
        unmapped = collections.Counter()
        for note in quantized.notes:
            if not note.is_drum:
                continue
            if note.pitch not in self.pitch_class_map:
                unmapped[note.pitch] += 1
                continue
            note.pitch = self.pitch_class_map[note.pitch]
            kept.append(note)
        for pitch, count in sorted(unmapped.items()):
            reason = f"drum hits ignored: pitch {drum_name(pitch)} is in no drum class"
            report.stats[reason] += count
        if not kept:
            report.skip(
                "no drum notes with a pitch in the drum classes"
                if unmapped
                else "no drum notes (MIDI channel 10)"
            )
            return empty_tensors()
        del quantized.notes[:]
        quantized.notes.extend(kept)

        tracks, stats = drum_extraction.extract_drum_tracks(
            quantized,
            min_bars=1,
            max_steps_truncate=self.max_steps,
            gap_bars=self.gap_bars,
            pad_end=True,
        )
        report.stats.update(stats)
        report.stats["drum tracks extracted"] += len(tracks)
        if not tracks:
            report.skip("no audible drum hits (all velocities are 0)")
            return empty_tensors()
        if self.pad_to_total_time:
            for track in tracks:
                track.set_length(len(track) + track.start_step, from_left=True)
                track.set_length(quantized.total_quantized_steps)

        if self.slice_steps:
            windows = [
                tuple(track[end - self.slice_steps : end])
                for track in tracks
                for end in range(self.slice_steps, len(track) + 1, self.steps_per_bar)
            ]
        else:
            windows = [tuple(track) for track in tracks]
        if not windows:
            report.skip(f"drum parts shorter than {self.slice_bars} bars")
            return empty_tensors()
        # Identical windows are kept once. Their order is Python's set order,
        # as in Magenta: windows are tuples of frozensets of ints, whose hashes
        # do not depend on PYTHONHASHSEED, so the order (and hence which
        # windows an eval-mode cap keeps) is deterministic and Magenta's.
        unique_windows = list(set(windows))
        if len(unique_windows) < len(windows):
            report.stats["repeated drum windows dropped"] += len(windows) - len(unique_windows)
        unique_windows = self._maybe_sample_items(unique_windows)

        tensors = empty_tensors()
        for window in unique_windows:
            inputs, outputs = self._encode_window(window)
            tensors.inputs.append(inputs)
            tensors.outputs.append(outputs)
            tensors.controls.append(np.zeros((len(outputs), 0), self.control_dtype))
            tensors.lengths.append(len(outputs))
        return tensors

    def _encode_window(self, window):
        """`(inputs, outputs)` of one window (a tuple of class-index sets)."""
        extra = int(self.add_end_token)
        steps = len(window) + extra
        roll = one_hot = None
        if self.roll_input or self.roll_output:
            roll = np.zeros((steps, self.num_classes + extra), np.bool_)
            for step, classes in enumerate(window):
                roll[step, list(classes)] = True
            if extra:
                roll[-1, -1] = True
        if not (self.roll_input and self.roll_output):
            labels = [self._one_hot.encode_event(classes) for classes in window]
            depth = self._one_hot.num_classes + extra
            if extra:
                labels.append(self._one_hot.num_classes)
            one_hot = np.zeros((steps, depth), np.bool_)
            one_hot[np.arange(steps), labels] = True
        if self.roll_input:
            no_hit = ~roll.any(axis=1, keepdims=True)
            inputs = np.concatenate([roll, no_hit], axis=1)
        else:
            inputs = one_hot
        outputs = roll if self.roll_output else one_hot
        return inputs, outputs

    # -- arrays -> NoteSequence --------------------------------------------
    def from_tensors(self, outputs, controls=None):
        """Decodes drum outputs to NoteSequences (120 qpm, velocity 80).

        Args:
            outputs: `[N, T, output_depth]` (or a list of `[T, output_depth]`):
                one-hot (argmax is taken) or, with `roll_output`, 0/1 rolls
                (a class plays where its value is > 0.5).
            controls: Ignored.

        Returns:
            N `note_seq.NoteSequence`: one step-long `is_drum` note
            (instrument 9) per class hit, with the first pitch of its class.
            Decoding stops at the first end token.
        """
        sequences = []
        for sample in outputs:
            sample = np.asarray(sample)
            if self.roll_output:
                hits = sample > 0.5
                if self.end_token is not None:
                    ends = np.flatnonzero(hits[:, self.end_token])
                    if len(ends):
                        hits = hits[: ends[0]]
                events = [frozenset(np.flatnonzero(row).tolist()) for row in hits]
            else:
                labels = np.argmax(sample, axis=-1).tolist()
                if self.end_token is not None and self.end_token in labels:
                    labels = labels[: labels.index(self.end_token)]
                events = [self._one_hot.decode_event(label) for label in labels]
            events = [frozenset(self.pitch_classes[c][0] for c in e) for e in events]
            track = note_seq.DrumTrack(
                events=events,
                steps_per_bar=self.steps_per_bar,
                steps_per_quarter=self.steps_per_quarter,
            )
            sequences.append(track.to_sequence(velocity=OUTPUT_VELOCITY))
        return sequences

    # -- config -------------------------------------------------------------
    def get_config(self):
        config = {
            "max_bars": self.max_bars,
            "slice_bars": self.slice_bars,
            "gap_bars": self.gap_bars,
            "pitch_classes": self._pitch_classes_arg,
            "add_end_token": self.add_end_token,
            "steps_per_quarter": self.steps_per_quarter,
            "quarters_per_bar": self.quarters_per_bar,
            "pad_to_total_time": self.pad_to_total_time,
            "roll_input": self.roll_input,
            "roll_output": self.roll_output,
            "presplit_on_time_changes": self.presplit_on_time_changes,
        }
        config.update(super().get_config())
        return config
