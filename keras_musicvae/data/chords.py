"""Chord controls: chord symbols per melody step <-> one-hot control arrays.

The chord-conditioned melody models (Magenta's `cat-mel_2bar_med_chords`)
condition the encoder and decoder on the chord sounding at every melody step,
one-hot encoded with note-seq's `TriadChordOneHotEncoding` (49 classes:
0 = no chord "N.C.", then 12 roots x major, minor, augmented, diminished).
A file without chord symbols gets chords inferred by note-seq's chord
inference (two chords per 4/4 bar).

This module is pure NumPy / note-seq: no TensorFlow, no Keras.
"""

import threading

import note_seq
import numpy as np
from note_seq import chord_inference
from note_seq import chords_lib

CHORD_SYMBOL = note_seq.NoteSequence.TextAnnotation.CHORD_SYMBOL

# Names accepted as `chord_encoding` by the converters.
CHORD_ENCODINGS = {
    "triad": note_seq.TriadChordOneHotEncoding,
}

# Magenta's `from_tensors` reads chords from `controls[:, :-12]`: it always
# drops the last 12 columns (reserved for key conditioning, unused by the
# MusicVAE presets). With the 49-class triad encoding this hides the 12
# diminished chords (indices 37-48), which therefore decode as "N.C.".
MAGENTA_DROPPED_CONTROL_COLUMNS = 12


class ChordError(ValueError):
    """A sequence's chords cannot be found, inferred or encoded."""


def chord_encoding_from_name(name):
    """Returns the note-seq chord encoding called `name` (None for None).

    Args:
        name: None (no chord conditioning) or a key of `CHORD_ENCODINGS`.

    Returns:
        A `note_seq.encoder_decoder.OneHotEncoding` of chord symbols, or None.
    """
    if name is None:
        return None
    if name not in CHORD_ENCODINGS:
        raise ValueError(
            f"Unknown chord encoding {name!r}; use None or one of "
            f"{sorted(CHORD_ENCODINGS)}."
        )
    return CHORD_ENCODINGS[name]()


def resolve_chord_encoding(chord_encoding):
    """`(encoding object or None, its name in `CHORD_ENCODINGS`)` of a name or an encoding."""
    if chord_encoding is None:
        return None, None
    if isinstance(chord_encoding, str):
        return chord_encoding_from_name(chord_encoding), chord_encoding
    for name, encoding_class in CHORD_ENCODINGS.items():
        if type(chord_encoding) is encoding_class:
            return chord_encoding, name
    raise ValueError(
        f"chord_encoding must be None, one of {sorted(CHORD_ENCODINGS)} or an "
        f"instance of their classes; got {chord_encoding!r}."
    )


# note-seq's chord inference rebuilds a constant 588 x 588 key-chord
# transition matrix with Python loops on every call (~0.6 s, ~90% of the
# time of inferring the chords of a 2-minute song). `_use_cached_transitions`
# wraps that function (once, process-wide) with a cache keyed by its exact
# arguments, so results are bit-identical and inference is ~10x faster.
_TRANSITION_CACHE = {}
_TRANSITION_CACHE_LOCK = threading.Lock()


def _use_cached_transitions():
    original = chord_inference._key_chord_transition_distribution
    if getattr(original, "_keras_musicvae_cached", False):
        return

    def cached(key_chord_distribution, key_change_prob, chord_change_prob):
        key = (
            np.asarray(key_chord_distribution).tobytes(),
            float(key_change_prob),
            float(chord_change_prob),
        )
        with _TRANSITION_CACHE_LOCK:
            matrix = _TRANSITION_CACHE.get(key)
        if matrix is None:
            matrix = original(
                key_chord_distribution, key_change_prob, chord_change_prob
            )
            matrix.setflags(write=False)
            with _TRANSITION_CACHE_LOCK:
                if len(_TRANSITION_CACHE) >= 8:
                    _TRANSITION_CACHE.clear()
                _TRANSITION_CACHE[key] = matrix
        return matrix

    cached._keras_musicvae_cached = True
    cached.__wrapped__ = original
    chord_inference._key_chord_transition_distribution = cached


def has_chords(sequence):
    """Whether `sequence` carries any chord-symbol text annotation."""
    return any(ta.annotation_type == CHORD_SYMBOL for ta in sequence.text_annotations)


def ensure_chords(quantized_sequence):
    """Infers chords into `quantized_sequence` (in place) if it has none.

    Uses `note_seq.infer_chords_for_sequence` (as Magenta's converters do),
    which adds chord-symbol text annotations, two chords per 4/4 bar.

    Args:
        quantized_sequence: A NoteSequence quantized relative to meter.

    Raises:
        ChordError: If inference fails (e.g. an empty or too long sequence).
    """
    if has_chords(quantized_sequence):
        return
    _use_cached_transitions()
    try:
        note_seq.infer_chords_for_sequence(quantized_sequence)
    except note_seq.ChordInferenceError as e:
        raise ChordError(f"chords could not be inferred ({e})") from e


def chords_for_event_lists(quantized_sequence, event_lists):
    """The chord symbol sounding at every step of each event list.

    Args:
        quantized_sequence: The quantized NoteSequence (with chords) the
            event lists were extracted from.
        event_lists: `note_seq` event sequences (e.g. `Melody` windows) whose
            step numbering matches `quantized_sequence`.

    Returns:
        A list (one per event list) of lists of chord-symbol strings, each as
        long as its event list.

    Raises:
        ChordError: If two chords start on the same step.
    """
    try:
        return chords_lib.event_list_chords(quantized_sequence, event_lists)
    except chords_lib.CoincidentChordsError as e:
        raise ChordError(f"two chords start at the same time ({e})") from e


def encode_chords(chords, chord_encoding, dtype=np.bool_):
    """One-hot encodes a list of chord symbols.

    Args:
        chords: A sequence of T chord-symbol strings ("N.C." for no chord).
        chord_encoding: A note-seq chord `OneHotEncoding`.
        dtype: Output dtype.

    Returns:
        A `[T, chord_encoding.num_classes]` array of `dtype`.

    Raises:
        ChordError: If a chord symbol cannot be parsed or is not in the
            encoding (e.g. a seventh chord for the triad encoding).
    """
    try:
        indices = [chord_encoding.encode_event(chord) for chord in chords]
    except (note_seq.ChordSymbolError, note_seq.ChordEncodingError) as e:
        raise ChordError(f"chord symbol cannot be encoded ({e})") from e
    onehot = np.zeros((len(indices), chord_encoding.num_classes), dtype=dtype)
    onehot[np.arange(len(indices)), indices] = 1
    return onehot


def decode_chord_controls(controls, chord_encoding):
    """Chord symbols of a control array, exactly as Magenta decodes them.

    Takes `argmax(controls[:, :-12])`, i.e. Magenta's quirk of dropping the
    last 12 columns (see `MAGENTA_DROPPED_CONTROL_COLUMNS`).

    Args:
        controls: A `[T, num_classes]` control array.
        chord_encoding: The note-seq chord `OneHotEncoding` of the controls.

    Returns:
        A list of T chord-symbol strings.
    """
    controls = np.asarray(controls)
    kept = controls[:, : controls.shape[-1] - MAGENTA_DROPPED_CONTROL_COLUMNS]
    return [chord_encoding.decode_event(int(i)) for i in np.argmax(kept, axis=-1)]


def add_chords_to_sequence(sequence, chords, times):
    """Adds chord-symbol annotations (in place) where the chord changes.

    Args:
        sequence: A NoteSequence without chords.
        chords: Chord-symbol strings, one per time.
        times: Non-decreasing times in seconds, as many as `chords`.
    """
    chords_lib.add_chords_to_sequence(sequence, list(chords), list(times))
