"""Quantisation with reasons, and drum-track extraction on `note_seq.DrumTrack`.

Magenta's `drum_pipelines.extract_drum_tracks` is not part of note-seq; this
module re-implements its behaviour (as used by MusicVAE's `DrumsConverter`)
on top of `note_seq.DrumTrack.from_quantized_sequence`:

* drum notes of *all* instruments are merged into one track (only one drum
  track is active at a time); a silence of `gap_bars` bars or more ends a
  track and the search goes on from the next bar line;
* tracks shorter than `min_bars` bars are dropped, tracks longer than
  `max_steps_truncate` steps are cut (to a bar line when `pad_end`).

Pure note-seq / Python: no TensorFlow.
"""

import collections
import math

import note_seq
from note_seq import sequences_lib


def quantize_or_explain(note_sequence, steps_per_quarter, steps_per_bar, report):
    """Quantises `note_sequence`, or records in `report` why it cannot be used.

    The checks and their order are Magenta's (`note_seq.quantize_note_sequence`
    then "steps per bar must equal the model's").

    Args:
        note_sequence: A `note_seq.NoteSequence` (not modified).
        steps_per_quarter: Quantisation steps per quarter note.
        steps_per_bar: The steps per bar the model needs (e.g. 16 for 4/4 at
            4 steps per quarter).
        report: A `ConversionReport`; a reason is added when `None` is
            returned.

    Returns:
        The quantised copy, or `None` if the sequence cannot be used.
    """
    try:
        quantized = note_seq.quantize_note_sequence(note_sequence, steps_per_quarter)
    except note_seq.MultipleTempoError:
        report.skip("tempo changes during the piece (one tempo throughout is needed)")
        return None
    except note_seq.MultipleTimeSignatureError:
        report.skip(
            "time signature changes during the piece (one time signature "
            "throughout is needed)"
        )
        return None
    except note_seq.BadTimeSignatureError:
        ts = note_sequence.time_signatures[0]
        report.skip(f"unusable time signature {ts.numerator}/{ts.denominator}")
        return None
    except note_seq.NegativeTimeError:
        report.skip("notes at negative times")
        return None
    if sequences_lib.steps_per_bar_in_quantized_sequence(quantized) != steps_per_bar:
        ts = quantized.time_signatures[0]
        quarters_per_bar = steps_per_bar / steps_per_quarter
        wanted = (
            f"{int(quarters_per_bar)}/4"
            if float(quarters_per_bar).is_integer()
            else f"{steps_per_bar} steps per bar"
        )
        report.skip(
            f"time signature {ts.numerator}/{ts.denominator} "
            f"(only {wanted} is supported)"
        )
        return None
    return quantized


def extract_drum_tracks(
    quantized_sequence,
    min_bars=1,
    max_steps_truncate=None,
    gap_bars=1.0,
    pad_end=False,
):
    """Extracts the drum tracks of a quantised NoteSequence.

    Notes that are not `is_drum` or have velocity 0 are ignored (as
    `note_seq.DrumTrack` does). Simultaneous drum notes (after quantisation)
    form one event, a `frozenset` of their pitches.

    Args:
        quantized_sequence: A NoteSequence quantised relative to tempo, with an
            integer number of steps per bar.
        min_bars: Tracks shorter than this many bars are dropped.
        max_steps_truncate: Tracks longer than this many steps are truncated
            (to the last bar line below it when `pad_end`); None for no limit.
        gap_bars: A track ends when this many bars (or more) follow its last
            hit; `None`/0 for no limit.
        pad_end: Pad each track with empty events to a bar line.

    Returns:
        `(tracks, stats)`: a list of `note_seq.DrumTrack` in time order and a
        `collections.Counter` with "drum tracks shorter than N bars" and
        "drum tracks truncated to N bars" counts.
    """
    gap_bars = gap_bars or math.inf
    steps_per_bar = int(
        sequences_lib.steps_per_bar_in_quantized_sequence(quantized_sequence)
    )
    tracks = []
    stats = collections.Counter()
    search_start_step = 0
    while True:
        track = note_seq.DrumTrack()
        track.from_quantized_sequence(
            quantized_sequence,
            search_start_step=search_start_step,
            gap_bars=gap_bars,
            pad_end=pad_end,
        )
        # The next search starts at the first bar line (counted from the
        # previous search start) at or after the end of this track.
        search_start_step = track.end_step + (
            (search_start_step - track.end_step) % steps_per_bar
        )
        if not track:
            break
        if len(track) < track.steps_per_bar * min_bars:
            stats[f"drum tracks shorter than {min_bars} bar(s) dropped"] += 1
            continue
        if max_steps_truncate is not None and len(track) > max_steps_truncate:
            length = max_steps_truncate
            if pad_end:
                length -= max_steps_truncate % track.steps_per_bar
            track.set_length(length)
            stats[f"drum tracks truncated to {length // steps_per_bar} bars"] += 1
        tracks.append(track)
    return tracks, stats
