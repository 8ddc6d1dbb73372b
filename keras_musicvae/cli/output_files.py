"""Writing a command's outputs: listed first, written atomically, never over a file silently.

Each command lists its outputs first (`OutputPlan`), so that it refuses
before doing any work; files are written to a temporary name in the same
folder, then renamed; an existing file is only replaced with `--overwrite`.
"""

import pathlib

from keras_musicvae.cli.console import progress
from keras_musicvae.cli.console import warn
from keras_musicvae.cli.errors import OutputExistsError


class OutputPlan:
    """The files a command will write; refuses up front if any exists.

    Args:
        overwrite: whether existing files may be replaced.
    """

    def __init__(self, overwrite=False):
        self.overwrite = overwrite
        self.paths = []

    def add(self, path):
        path = pathlib.Path(path)
        self.paths.append(path)
        return path

    def check(self):
        """Raises `OutputExistsError` naming the existing outputs (or a file where a folder goes)."""
        for folder in dict.fromkeys(p.parent for p in self.paths):
            check_output_folder(folder)
        if self.overwrite:
            return
        existing = [p for p in self.paths if p.exists()]
        if existing:
            shown = ", ".join(str(p) for p in existing[:3])
            more = f" and {len(existing) - 3} more" if len(existing) > 3 else ""
            raise OutputExistsError(
                f"{shown}{more} already exist{'s' if len(existing) == 1 else ''}; "
                "pass --overwrite to replace, or choose another --output."
            )


def check_output_folder(path):
    """Refuses an output folder that is an existing file, or lies under one.

    Raises:
        OutputExistsError: naming the file (exit code 3, with or without
            `--overwrite`: a file is never replaced by a folder).
    """
    path = pathlib.Path(path)
    for folder in (path, *path.parents):
        if folder.is_dir():
            return path
        if folder.exists():
            where = "is" if folder == path else f"lies under {folder}, which is"
            raise OutputExistsError(
                f"{path} {where} an existing file, not a folder; remove it or choose another --output."
            )
    return path


def check_can_write(path, overwrite):
    path = pathlib.Path(path)
    check_output_folder(path.parent)
    if path.exists() and not overwrite:
        raise OutputExistsError(
            f"{path} already exists; pass --overwrite to replace it, or choose another --output."
        )
    return path


def atomic_write(path, write_fn, overwrite=False, suffix=""):
    """Writes a file through a temporary file in the same folder, then renames it.

    Args:
        path: the destination.
        write_fn: callable taking the temporary path and writing it.
        overwrite: replace an existing file.
        suffix: suffix of the temporary file (some writers check it).

    Returns:
        `path` as a `pathlib.Path`.
    """
    from keras_musicvae.utils import atomic_files

    path = check_can_write(path, overwrite)
    return atomic_files.write_file(path, write_fn, suffix=suffix or path.suffix)


def write_midi(sequence, path, overwrite=False):
    """Writes a NoteSequence as a MIDI file, atomically.

    Chord symbols (chord-conditioned models) become MIDI text events at their
    times, which MIDI editors show; note-seq alone would drop them.
    """
    import note_seq

    chords = chord_symbols(sequence)
    if not chords:
        return atomic_write(path, lambda tmp: note_seq.sequence_proto_to_midi_file(sequence, tmp), overwrite)

    def write(tmp):
        import pretty_midi

        midi = note_seq.note_sequence_to_pretty_midi(sequence)
        midi.text_events.extend(pretty_midi.Text(text, time) for text, time in chords)
        with open(tmp, "wb") as f:
            midi.write(f)

    return atomic_write(path, write, overwrite)


def chord_symbols(sequence):
    """`[(symbol, time in seconds)]` of a NoteSequence's chord-symbol annotations."""
    import note_seq

    kind = note_seq.NoteSequence.TextAnnotation.CHORD_SYMBOL
    return [(a.text, a.time) for a in sequence.text_annotations if a.annotation_type == kind]


def write_npy(array, path, overwrite=False):
    import numpy as np

    def write(tmp):
        with open(tmp, "wb") as f:
            np.save(f, array)

    return atomic_write(path, write, overwrite)


def write_text(text, path, overwrite=False):
    def write(tmp):
        pathlib.Path(tmp).write_text(text)

    return atomic_write(path, write, overwrite)


class MusicWriter:
    """Writes NoteSequences as MIDI + piano-roll PNG (+ WAV when FluidSynth is there).

    Args:
        out_dir: the output folder (created).
        kind: piano-roll kind ("melody", "drums", "trio"; None: guessed).
        min_bars: piano rolls show at least this many bars.
        overwrite: replace existing files.
        audio: "auto" (WAV when FluidSynth and a SoundFont are found), "no".
    """

    def __init__(self, out_dir, kind=None, min_bars=1, overwrite=False, audio="auto"):
        if audio is True:
            audio = "auto"
        elif audio is False:
            audio = "no"
        from keras_musicvae import audio as audio_lib

        self.out_dir = pathlib.Path(out_dir)
        self.kind = kind
        self.min_bars = min_bars
        self.overwrite = overwrite
        self.synth = audio_lib.find_synth() if audio == "auto" else None
        self.written = []

    def extensions(self):
        return (".mid", ".png", ".wav") if self.synth else (".mid", ".png")

    def plan(self, plan, stems):
        """Adds the files of `stems` to an `OutputPlan`."""
        for stem in stems:
            for ext in self.extensions():
                plan.add(self.out_dir / f"{stem}{ext}")

    def write(self, sequence, stem, title=None):
        """Writes `<stem>.mid`, `<stem>.png` (and `<stem>.wav`)."""
        from keras_musicvae import audio as audio_lib
        from keras_musicvae import visualize

        self.out_dir.mkdir(parents=True, exist_ok=True)
        midi = write_midi(sequence, self.out_dir / f"{stem}.mid", self.overwrite)
        png = check_can_write(self.out_dir / f"{stem}.png", self.overwrite)
        visualize.save_piano_roll(sequence, png, kind=self.kind, title=title or stem, min_bars=self.min_bars)
        self.written += [midi, png]
        if self.synth:
            wav = check_can_write(self.out_dir / f"{stem}.wav", self.overwrite)
            try:
                audio_lib.render_wav(midi, wav, self.synth)
                self.written.append(wav)
            except audio_lib.AudioError as e:
                warn(str(e))
        return midi

    def write_all(self, sequences, stems, titles=None):
        titles = titles or [None] * len(sequences)
        for sequence, stem, title in zip(
            progress(sequences, total=len(sequences), desc="writing", unit="file"), stems, titles
        ):
            self.write(sequence, stem, title)

    def write_grid(self, sequences, stem, labels=None, title=None):
        """Writes `<stem>.png`: one row per sequence (interpolations, variations)."""
        from keras_musicvae import visualize

        png = check_can_write(self.out_dir / f"{stem}.png", self.overwrite)
        visualize.save_interpolation_grid(
            sequences, png, kind=self.kind, labels=labels, title=title, min_bars=self.min_bars
        )
        self.written.append(png)
        return png

    def audio_note(self):
        """None, or a line saying why no WAV was written."""
        from keras_musicvae import audio as audio_lib

        return None if self.synth else audio_lib.missing_synth_hint()


def numbered_stems(prefix, n):
    width = max(2, len(str(n)))
    return [f"{prefix}_{i + 1:0{width}d}" for i in range(n)]
