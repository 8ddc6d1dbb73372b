"""Piano-roll pictures of NoteSequences (PNG, matplotlib with the Agg backend).

* Melodies: a pitch / time roll, one bar per major grid line, beats dotted,
  octaves labelled (C4 = MIDI 60), black-key rows shaded.
* Drums: a grid with one labelled row per drum class (kick, snare, closed
  hi-hat, ...), one mark per hit, its opacity the velocity.
* Trio (and any multi-instrument sequence): stacked panels, one per part
  (melody, bass, drums), sharing the time axis.
* Interpolations: a grid with one row per interpolation step (and one column
  per part for trios).

Times are drawn in bars, computed from the sequence's first tempo and time
signature (120 qpm and 4/4 when absent, as the converters write them).

Everything here takes `note_seq.NoteSequence`s, so it works for the output
of any converter's `from_tensors` and for MIDI files read from disk.
"""

import numpy as np

from keras_musicvae.utils import atomic_files

# Drum rows, top to bottom: (label, MIDI pitches). The nine classes of
# Magenta's reduced drum map (note-seq's DEFAULT_DRUM_TYPE_PITCHES), named;
# pitches in none of them go to "other".
DRUM_ROWS = (
    ("kick", (36, 35)),
    ("snare", (38, 27, 28, 31, 32, 33, 34, 37, 39, 40, 56, 65, 66, 75, 85)),
    ("closed hi-hat", (42, 44, 54, 68, 69, 70, 71, 73, 78, 80)),
    ("open hi-hat", (46, 67, 72, 74, 79, 81)),
    ("low tom", (45, 29, 41, 61, 64, 84)),
    ("mid tom", (48, 47, 60, 63, 77, 86, 87)),
    ("high tom", (50, 30, 43, 62, 76, 83)),
    ("crash", (49, 55, 57, 58)),
    ("ride", (51, 52, 53, 59, 82)),
)
_DRUM_ROW_OF_PITCH = {p: i for i, (_, pitches) in enumerate(DRUM_ROWS) for p in pitches}
_OTHER_DRUM_ROW = len(DRUM_ROWS)

_NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_BLACK_KEYS = {1, 3, 6, 8, 10}
_PART_COLORS = {"melody": "#1f5fa8", "bass": "#2e8540", "drums": "#b03a2e", "notes": "#1f5fa8"}
# Programs of the bass part (General MIDI basses 32-39, as the trio converter).
_BASS_PROGRAMS = range(32, 40)

MELODY = "melody"
DRUMS = "drums"
TRIO = "trio"
MULTI = "multi"
KINDS = (MELODY, DRUMS, TRIO, MULTI)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


# ----------------------------------------------------------------- timing
def _meter(sequence):
    """`(seconds_per_bar, beats_per_bar, seconds_per_beat)` of a sequence."""
    qpm = sequence.tempos[0].qpm if sequence.tempos else 120.0
    numerator, denominator = 4, 4
    if sequence.time_signatures:
        numerator = sequence.time_signatures[0].numerator or 4
        denominator = sequence.time_signatures[0].denominator or 4
    seconds_per_quarter = 60.0 / qpm
    seconds_per_beat = seconds_per_quarter * 4.0 / denominator
    return seconds_per_beat * numerator, numerator, seconds_per_beat


def _num_bars(sequence, min_bars=1):
    seconds_per_bar, _, _ = _meter(sequence)
    end = max([sequence.total_time] + [n.end_time for n in sequence.notes])
    return max(min_bars, int(np.ceil(end / seconds_per_bar - 1e-6)))


def _pitch_name(pitch):
    return f"{_NOTE_NAMES[pitch % 12]}{pitch // 12 - 1}"


# ---------------------------------------------------------------- parts
def split_parts(sequence, kind=None):
    """Splits a sequence into named parts for drawing.

    Args:
        sequence: a `note_seq.NoteSequence`.
        kind: "melody", "drums", "trio", "multi" or None (guess: drums when
            every note is a drum, "trio" when pitched notes and drums are
            both present or there are several pitched instruments, else
            "melody").

    Returns:
        `(kind, [(part_name, is_drum, notes), ...])`.
    """
    notes = list(sequence.notes)
    drums = [n for n in notes if n.is_drum]
    pitched = [n for n in notes if not n.is_drum]
    if kind is None:
        instruments = {n.instrument for n in pitched}
        if drums and not pitched:
            kind = DRUMS
        elif (drums and pitched) or len(instruments) > 1:
            kind = TRIO
        else:
            kind = MELODY
    if kind not in KINDS:
        raise ValueError(f"Unknown piano-roll kind {kind!r}; use one of {KINDS}.")
    if kind == MELODY:
        return kind, [("melody", False, pitched)]
    if kind == DRUMS:
        return kind, [("drums", True, drums)]
    if kind == TRIO:
        bass = [n for n in pitched if n.program in _BASS_PROGRAMS]
        melody = [n for n in pitched if n.program not in _BASS_PROGRAMS]
        return kind, [("melody", False, melody), ("bass", False, bass), ("drums", True, drums)]
    parts = []
    for instrument in sorted({n.instrument for n in pitched}):
        part = [n for n in pitched if n.instrument == instrument]
        parts.append((f"instrument {instrument} (program {part[0].program})", False, part))
    if drums:
        parts.append(("drums", True, drums))
    return kind, parts or [("notes", False, [])]


# ---------------------------------------------------------------- drawing
def _draw_grid(ax, sequence, num_bars):
    seconds_per_bar, beats_per_bar, _ = _meter(sequence)
    ax.set_xlim(0, num_bars)
    for beat in range(num_bars * beats_per_bar + 1):
        x = beat / beats_per_bar
        if beat % beats_per_bar == 0:
            ax.axvline(x, color="#333333", linewidth=1.0, zorder=1)
        elif num_bars <= 8:  # beat lines only where they stay readable
            ax.axvline(x, color="#999999", linewidth=0.5, linestyle=":", zorder=1)
    ax.set_xticks(np.arange(num_bars) + 0.5, minor=True)
    ax.set_xticks(np.arange(num_bars + 1))
    ax.set_xticklabels([])
    ax.set_xticklabels([str(i + 1) for i in range(num_bars)], minor=True)
    ax.tick_params(axis="x", which="minor", length=0)
    return seconds_per_bar


def draw_pitched(ax, sequence, notes, num_bars, color="#1f5fa8", pitch_range=None, label=None):
    """Draws pitched notes as bars on a pitch/time roll.

    Args:
        ax: a matplotlib Axes.
        sequence: the NoteSequence the notes come from (for tempo and meter).
        notes: the notes to draw.
        num_bars: the width of the roll, in bars.
        color: note colour.
        pitch_range: optional `(low, high)` MIDI pitches shown (so that rows
            of a grid share a scale); default: the notes' range, padded, at
            least an octave.
        label: optional y-axis label.
    """
    seconds_per_bar = _draw_grid(ax, sequence, num_bars)
    if pitch_range is None:
        pitch_range = pitch_range_of(notes)
    low, high = pitch_range
    for pitch in range(low, high + 1):
        if pitch % 12 in _BLACK_KEYS:
            ax.axhspan(pitch - 0.5, pitch + 0.5, color="#f0f0f0", zorder=0, linewidth=0)
    for note in notes:
        start = note.start_time / seconds_per_bar
        width = max(note.end_time - note.start_time, 1e-3) / seconds_per_bar
        alpha = 0.45 + 0.55 * min(max(note.velocity, 1), 127) / 127.0
        ax.add_patch(
            _rectangle(
                (start, note.pitch - 0.4), width, 0.8, color=color, alpha=alpha, edgecolor="black"
            )
        )
    ax.set_ylim(low - 0.5, high + 0.5)
    # Octaves (C) on wide rolls; C, E and G on narrow ones.
    classes = (0,) if high - low >= 24 else (0, 4, 7)
    ticks = [p for p in range(low, high + 1) if p % 12 in classes]
    ax.set_yticks(ticks)
    ax.set_yticklabels([_pitch_name(p) for p in ticks], fontsize=7)
    if label:
        ax.set_ylabel(label, fontsize=8)
    if not notes:
        ax.text(num_bars / 2, (low + high) / 2, "(silence)", ha="center", va="center", color="#888888")


def draw_drums(ax, sequence, notes, num_bars, color="#b03a2e", label=None, steps_per_beat=4):
    """Draws drum hits on a labelled drum grid (one row per drum class)."""
    seconds_per_bar = _draw_grid(ax, sequence, num_bars)
    _, beats_per_bar, _ = _meter(sequence)
    step = 1.0 / (beats_per_bar * steps_per_beat)  # a 16th note, in bars
    rows = [label_ for label_, _ in DRUM_ROWS]
    has_other = any(n.pitch not in _DRUM_ROW_OF_PITCH for n in notes)
    if has_other:
        rows.append("other")
    for i in range(len(rows)):
        if i % 2:
            ax.axhspan(i - 0.5, i + 0.5, color="#f4f4f4", zorder=0, linewidth=0)
    for note in notes:
        row = _DRUM_ROW_OF_PITCH.get(note.pitch, _OTHER_DRUM_ROW)
        start = note.start_time / seconds_per_bar
        alpha = 0.35 + 0.65 * min(max(note.velocity, 1), 127) / 127.0
        ax.add_patch(
            _rectangle(
                (start, row - 0.38), step * 0.9, 0.76, color=color, alpha=alpha, edgecolor="black"
            )
        )
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels(rows, fontsize=7)
    if label:
        ax.set_ylabel(label, fontsize=8)


def _rectangle(xy, width, height, color, alpha, edgecolor):
    from matplotlib.patches import Rectangle

    return Rectangle(
        xy, width, height, facecolor=color, alpha=alpha, edgecolor=edgecolor, linewidth=0.4, zorder=2, gid="note"
    )


def pitch_range_of(notes, min_span=12, padding=2):
    """`(low, high)` MIDI pitches covering `notes`, padded, at least `min_span`."""
    pitches = [n.pitch for n in notes]
    if not pitches:
        return 60 - min_span // 2, 60 + min_span // 2
    low, high = min(pitches) - padding, max(pitches) + padding
    if high - low < min_span:
        extra = min_span - (high - low)
        low -= extra // 2
        high += extra - extra // 2
    return max(0, low), min(127, high)


def _draw_part(ax, sequence, name, is_drum, notes, num_bars, pitch_range=None, label=None):
    color = _PART_COLORS.get(name, "#6a3d9a")
    if is_drum:
        draw_drums(ax, sequence, notes, num_bars, color=color, label=label)
    else:
        draw_pitched(ax, sequence, notes, num_bars, color=color, pitch_range=pitch_range, label=label)


def _figure_width(num_bars):
    return float(np.clip(2.0 + 2.2 * num_bars, 6.0, 22.0))


# --------------------------------------------------------------- figures
def piano_roll_figure(sequence, kind=None, title=None, min_bars=1):
    """A matplotlib Figure of one sequence (one panel per part).

    Args:
        sequence: a `note_seq.NoteSequence`.
        kind: see `split_parts` (None: guessed).
        title: figure title.
        min_bars: draw at least this many bars (e.g. the model's length,
            so that a sample ending in silence keeps its width).

    Returns:
        A `matplotlib.figure.Figure` (close it with `plt.close(fig)`).
    """
    plt = _pyplot()
    kind, parts = split_parts(sequence, kind)
    num_bars = _num_bars(sequence, min_bars)
    heights = [2.2 if is_drum else 2.8 for _, is_drum, _ in parts]
    fig, axes = plt.subplots(
        len(parts),
        1,
        figsize=(_figure_width(num_bars), sum(heights) + 0.9),
        squeeze=False,
        sharex=True,
        gridspec_kw={"height_ratios": heights},
    )
    for ax, (name, is_drum, notes) in zip(axes[:, 0], parts):
        _draw_part(ax, sequence, name, is_drum, notes, num_bars, label=name if len(parts) > 1 else None)
    axes[-1, 0].set_xlabel("bar", fontsize=8)
    _set_title(fig, title)
    return fig


def interpolation_figure(sequences, kind=None, labels=None, title=None, min_bars=1):
    """A grid with one row per interpolation step (one column per part).

    Melody rows share one pitch scale, so that the motion between steps is
    visible.

    Args:
        sequences: list of `note_seq.NoteSequence`, the steps in order.
        kind: see `split_parts` (None: guessed from all steps together).
        labels: optional row labels (default "step 1", ..., with "start" /
            "end" at the ends).
        title: figure title.
        min_bars: draw at least this many bars.

    Returns:
        A `matplotlib.figure.Figure`.
    """
    plt = _pyplot()
    if not sequences:
        raise ValueError("interpolation_figure needs at least one sequence.")
    if kind is None:
        import note_seq

        merged = note_seq.NoteSequence()
        for s in sequences:
            merged.notes.extend(s.notes)
        kind, _ = split_parts(merged)
    split = [split_parts(s, kind)[1] for s in sequences]
    num_parts = len(split[0])
    num_bars = max(_num_bars(s, min_bars) for s in sequences)
    if labels is None:
        labels = [f"step {i + 1}" for i in range(len(sequences))]
        labels[0] = "start"
        if len(labels) > 1:
            labels[-1] = "end"
    # Shared pitch scale per pitched part.
    ranges = []
    for p in range(num_parts):
        notes = [n for parts in split for n in parts[p][2]] if not split[0][p][1] else []
        ranges.append(pitch_range_of(notes))
    row_height = 1.5 if num_parts == 1 else 1.4
    width = _figure_width(num_bars) * (1 if num_parts == 1 else 0.6 * num_parts)
    fig, axes = plt.subplots(
        len(sequences),
        num_parts,
        figsize=(min(width, 26.0), row_height * len(sequences) + 1.0),
        squeeze=False,
        sharex=True,
    )
    for r, (sequence, parts) in enumerate(zip(sequences, split)):
        for c, (name, is_drum, notes) in enumerate(parts):
            ax = axes[r, c]
            _draw_part(
                ax,
                sequence,
                name,
                is_drum,
                notes,
                num_bars,
                pitch_range=ranges[c],
                label=labels[r] if c == 0 else None,
            )
            if r == 0 and num_parts > 1:
                ax.set_title(name, fontsize=9)
            if is_drum and num_parts > 1 and c > 0:
                ax.tick_params(axis="y", labelsize=5)
    for c in range(num_parts):
        axes[-1, c].set_xlabel("bar", fontsize=8)
    _set_title(fig, title)
    return fig


def _set_title(fig, title):
    """A figure title wrapped to the figure's width, then a tight layout."""
    if title:
        import textwrap

        width_chars = max(30, int(fig.get_figwidth() * 11))
        fig.suptitle("\n".join(textwrap.wrap(title, width_chars)), fontsize=10)
    fig.tight_layout()


def save_figure(fig, path, dpi=110):
    """Writes a Figure as PNG atomically (temp file + rename) and closes it."""
    plt = _pyplot()
    try:
        return atomic_files.write_file(path, lambda tmp: fig.savefig(tmp, dpi=dpi, format="png"), suffix=".png")
    finally:
        plt.close(fig)


def save_piano_roll(sequence, path, kind=None, title=None, min_bars=1):
    """Draws one sequence (`piano_roll_figure`) and writes it as a PNG."""
    return save_figure(piano_roll_figure(sequence, kind=kind, title=title, min_bars=min_bars), path)


def save_interpolation_grid(sequences, path, kind=None, labels=None, title=None, min_bars=1):
    """Draws an interpolation (`interpolation_figure`) and writes it as a PNG."""
    return save_figure(
        interpolation_figure(sequences, kind=kind, labels=labels, title=title, min_bars=min_bars), path
    )


def kind_for_converter(converter):
    """The piano-roll kind for a data converter's outputs (None: guess)."""
    if converter is None:
        return None
    name = type(converter).__name__
    if name.startswith("Melody"):
        return MELODY
    if name.startswith("Drum") or name.startswith("Groove"):
        return DRUMS
    if name.startswith("Trio"):
        return TRIO
    return None
