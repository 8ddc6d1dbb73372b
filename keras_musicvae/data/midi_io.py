"""Safe MIDI reading: every failure is one `MidiReadError` naming the file.

Real MIDI collections are full of files that cannot be read (truncated
downloads, text files named `.mid`, empty files) or that read into absurd
music (a tempo of 60,000 quarter notes per minute, millions of notes).
`read_midi` turns every such case into a `MidiReadError` whose `reason` is a
short category ("truncated MIDI file", "absurd tempo", ...) that pipelines
count, and whose message names the file and the problem.

Reading is done by a fast byte-level reader (`midi_parser.py`) that reproduces
exactly what `note_seq.midi_file_to_note_sequence` (pretty_midi on mido)
makes of a file: the same notes in the same order, the same times to the
last bit, the same instruments, programs, tempos, time and key signatures,
pitch bends and control changes. It is about four times faster, which is most
of the cost of turning a MIDI corpus into training examples. Whenever it
meets anything unusual (running status after a system message, undefined
status bytes, data bytes above 127, a track that overruns its chunk,
malformed meta events, ...) it hands the file to note-seq's own reader, so
that odd files are read (or rejected) exactly as note-seq does.

This module is pure Python / NumPy / note-seq: no TensorFlow.
"""

import dataclasses
import glob
import hashlib
import os
import pathlib
import re
import struct
import threading

from keras_musicvae.data import sequence_checks
from keras_musicvae.data.midi_parser import FastMidiReader
from keras_musicvae.data.midi_parser import TickLimitError

# Reasons a file is rejected (the `reason` attribute of `MidiReadError`).
REASON_UNREADABLE = "unreadable file"
REASON_EMPTY = "empty file"
REASON_NOT_MIDI = "not a MIDI file"
REASON_TRUNCATED = "truncated MIDI file"
REASON_CORRUPT = "corrupt MIDI data"
REASON_ABSURD_TEMPO = "absurd tempo"
REASON_HUGE = "huge file"
REASON_NO_NOTES = "no notes"
REASON_TOO_LONG = sequence_checks.REASON_TOO_LONG
REASON_INVALID_TIMES = sequence_checks.REASON_INVALID_TIMES

MIDI_EXTENSIONS = (".mid", ".midi")


class MidiReadError(Exception):
    """A MIDI file (or NoteSequence) that cannot be used, and why.

    Attributes:
        path: The file (or source name) concerned.
        reason: A short category, one of the `REASON_*` constants of this
            module (what pipelines count).
        detail: Details in words (may be empty).
    """

    def __init__(self, path, reason, detail=""):
        self.path = str(path)
        self.reason = reason
        self.detail = detail
        message = f"{self.path}: {reason}"
        if detail:
            message += f" ({detail})"
        super().__init__(message)

    def __reduce__(self):  # picklable across worker processes
        return (type(self), (self.path, self.reason, self.detail))


@dataclasses.dataclass(frozen=True)
class MidiSanityLimits:
    """What counts as absurd content, and what one file may cost.

    Attributes:
        min_qpm: Lowest tempo accepted, in quarter notes per minute.
        max_qpm: Highest tempo accepted.
        max_notes: Files with more notes are rejected as "huge file"
            (None for no cap).
        max_file_bytes: Files larger than this are rejected as "huge file"
            before being parsed (None for no cap).
        max_ticks: Files whose last event lies beyond this tick are rejected
            as "huge file".
        max_ticks_note_seq: The same for files only note-seq's reader reads
            (those with unusual content): pretty_midi allocates about 24
            bytes per tick (20 M ticks: 0.5 GB). Also, such a file may last
            at most `max_quarter_notes` times its ticks per quarter note
            ("too long").
        max_quarter_notes: Files lasting longer than this many quarter notes
            (at their own tempos) are rejected as "too long": a converter's
            work and memory grow with the quantized length. None: no limit.
        max_seconds: Files lasting longer than this many seconds are
            rejected as "too long". None: no limit.
        file_cpu_seconds: CPU time one file may take to be read and
            converted in a pipeline worker process; beyond it the file is
            skipped as "timed out". None: no limit. Not applied when
            converting in the calling process (`num_workers` 0 or 1).
        file_memory_bytes: Memory (address space) one file may add to a
            pipeline worker process; beyond it the file is skipped as "out
            of memory". None: no limit. Linux only; not applied in the
            calling process.
        drop_zero_length_notes: Drop notes whose end is not after their
            start (counted in `MidiReadInfo.zero_length_notes_dropped`).
        require_notes: Reject files with no notes at all ("no notes").
    """

    min_qpm: float = 1.0
    max_qpm: float = 1000.0
    max_notes: int = 250_000
    max_file_bytes: int = 64 * 1024 * 1024
    max_ticks: int = 100_000_000
    max_ticks_note_seq: int = 20_000_000
    max_quarter_notes: float = sequence_checks.DEFAULT_MAX_QUARTER_NOTES
    max_seconds: float = sequence_checks.DEFAULT_MAX_SECONDS
    file_cpu_seconds: float = 60.0
    file_memory_bytes: int = 3 * 1024**3
    drop_zero_length_notes: bool = True
    require_notes: bool = True


DEFAULT_LIMITS = MidiSanityLimits()


@dataclasses.dataclass
class MidiReadInfo:
    """What `read_midi_with_info` noticed while reading one file.

    Attributes:
        zero_length_notes_dropped: Notes dropped because their end is not
            after their start (including note-on/note-off pairs on the same
            MIDI tick, which note-seq also drops).
        parser: "fast" (this module's reader) or "note_seq" (the fallback).
    """

    zero_length_notes_dropped: int = 0
    parser: str = "fast"


# -- public API ----------------------------------------------------------


def read_midi(path, limits=None, root=None):
    """Reads a MIDI file into a `note_seq.NoteSequence`, or raises `MidiReadError`.

    Args:
        path: The MIDI file.
        limits: A `MidiSanityLimits` (default `DEFAULT_LIMITS`).
        root: Optional folder the file belongs to: when given, the
            NoteSequence's `filename` is the path relative to it,
            `collection_name` its base name and `id` a stable hash, as
            Magenta's `convert_dir_to_note_sequences`.

    Returns:
        A `NoteSequence`, identical to `note_seq.midi_file_to_note_sequence`
        apart from dropped zero-length notes and the filename fields.

    Raises:
        MidiReadError: For every problem, with the file and the reason.
    """
    return read_midi_with_info(path, limits=limits, root=root)[0]


def read_midi_with_info(path, limits=None, root=None):
    """Like `read_midi`, also returning a `MidiReadInfo`."""
    limits = DEFAULT_LIMITS if limits is None else limits
    path = os.fspath(path)
    try:
        size = os.path.getsize(path)
        if limits.max_file_bytes is not None and size > limits.max_file_bytes:
            raise MidiReadError(
                path,
                REASON_HUGE,
                f"{size:,} bytes, more than the limit of {limits.max_file_bytes:,}",
            )
        with open(path, "rb") as f:
            data = f.read()
    except MidiReadError:
        raise
    except OSError as e:
        raise MidiReadError(path, REASON_UNREADABLE, e.strerror or str(e)) from None
    ns, info = midi_bytes_to_note_sequence(data, name=path, limits=limits)
    _set_source_fields(ns, path, root)
    return ns, info


def midi_bytes_to_note_sequence(data, name="<bytes>", limits=None):
    """Converts the bytes of a MIDI file to a checked NoteSequence.

    Args:
        data: The file's bytes.
        name: Used in error messages.
        limits: A `MidiSanityLimits` (default `DEFAULT_LIMITS`).

    Returns:
        `(NoteSequence, MidiReadInfo)`.

    Raises:
        MidiReadError: For every problem.
    """
    limits = DEFAULT_LIMITS if limits is None else limits
    if not data:
        raise MidiReadError(name, REASON_EMPTY, "0 bytes")
    if data[:4] != b"MThd":
        raise MidiReadError(name, REASON_NOT_MIDI, _describe_header(data))
    info = MidiReadInfo()
    try:
        ns, times, same_tick_notes = FastMidiReader(data, limits, name).read()
        info.zero_length_notes_dropped += same_tick_notes
    except TickLimitError as e:
        raise MidiReadError(name, REASON_HUGE, str(e)) from None
    except MemoryError:
        raise
    except Exception:  # anything unusual: note-seq's own reader decides
        ns = _read_with_note_seq(data, name, limits)
        times = None
        info.parser = "note_seq"
    check_note_sequence(ns, limits=limits, name=name, info=info, times=times)
    return ns, info


def check_note_sequence(note_sequence, limits=None, name="<NoteSequence>", info=None, times=None):
    """Applies the sanity checks to a NoteSequence, in place.

    Rejects absurd tempos and NaN or infinite times, drops zero-length notes
    (counting them in `info`), then rejects sequences too long to convert
    at bounded cost (`sequence_checks`), huge files and files with no notes.

    Args:
        note_sequence: A `NoteSequence` (modified in place).
        limits: A `MidiSanityLimits` (default `DEFAULT_LIMITS`).
        name: Used in error messages.
        info: Optional `MidiReadInfo` to update.
        times: The sequence's `sequence_checks.SequenceTimes` when known
            (reading them from the protobuf costs as much as the checks).

    Returns:
        The `MidiReadInfo` (a new one when `info` is None).

    Raises:
        MidiReadError: With reason "absurd tempo", "invalid times", "too
            long", "huge file" or "no notes".
    """
    limits = DEFAULT_LIMITS if limits is None else limits
    info = MidiReadInfo() if info is None else info
    for tempo in note_sequence.tempos:
        if not limits.min_qpm <= tempo.qpm <= limits.max_qpm:
            raise MidiReadError(
                name,
                REASON_ABSURD_TEMPO,
                f"{tempo.qpm:.6g} quarter notes per minute at {tempo.time:.3f} s; "
                f"accepted: {limits.min_qpm:g} to {limits.max_qpm:g}",
            )
    problem = sequence_checks.invalid_tempo(note_sequence)  # if min_qpm <= 0
    if problem is not None:
        raise MidiReadError(name, REASON_ABSURD_TEMPO, problem[1])
    if times is None:
        times = sequence_checks.SequenceTimes.of(note_sequence)
    problem = times.invalid()
    if problem is not None:
        raise MidiReadError(name, *problem)
    if limits.drop_zero_length_notes:
        zero = times.zero_length_notes()
        if zero:
            notes = note_sequence.notes
            keep = [n for n in notes if n.end_time > n.start_time]
            del notes[:]
            notes.extend(keep)
            info.zero_length_notes_dropped += len(zero)
            note_sequence.total_time = max((n.end_time for n in keep), default=0.0)
            times = sequence_checks.SequenceTimes.of(note_sequence)
    problem = sequence_checks.length_problem(
        note_sequence, limits.max_seconds, limits.max_quarter_notes, times
    )
    if problem is not None:
        raise MidiReadError(name, *problem)
    if limits.max_notes is not None and len(note_sequence.notes) > limits.max_notes:
        raise MidiReadError(
            name,
            REASON_HUGE,
            f"{len(note_sequence.notes):,} notes, more than the limit of "
            f"{limits.max_notes:,}",
        )
    if limits.require_notes and not note_sequence.notes:
        detail = "the file holds no note events"
        if info.zero_length_notes_dropped:
            detail = f"all {info.zero_length_notes_dropped} notes have zero length"
        raise MidiReadError(name, REASON_NO_NOTES, detail)
    return info


def find_midi_files(source):
    """Lists MIDI files, sorted.

    Args:
        source: A folder (searched recursively for `*.mid` / `*.midi` in any
            letter case), a glob pattern (`**` allowed), a single file, or a
            list/tuple of any of these.

    Returns:
        A sorted list of unique path strings.

    Raises:
        FileNotFoundError: If a folder, file or pattern matches nothing.
    """
    if isinstance(source, (list, tuple)):
        found = set()
        for item in source:
            found.update(find_midi_files(item))
        return sorted(found)
    source = os.fspath(source)
    if os.path.isdir(source):
        return sorted(
            str(p)
            for p in pathlib.Path(source).rglob("*")
            if p.suffix.lower() in MIDI_EXTENSIONS and p.is_file()
        )
    if os.path.isfile(source):
        return [source]
    if glob.has_magic(source):
        matches = sorted(p for p in glob.glob(source, recursive=True) if os.path.isfile(p))
        if not matches:
            raise FileNotFoundError(f"No files match the pattern {source!r}.")
        return matches
    raise FileNotFoundError(f"No such MIDI file or folder: {source!r}.")


def note_sequence_id(filename, collection_name, source_type="midi"):
    """A stable id, `/id/<type>/<collection>/<sha1 of filename>` (Magenta's form)."""
    fingerprint = hashlib.sha1(filename.encode("utf-8")).hexdigest()
    return f"/id/{source_type}/{collection_name}/{fingerprint}"


# -- helpers -------------------------------------------------------------


def _set_source_fields(ns, path, root):
    if root is None:
        ns.filename = path
        return
    root = os.fspath(root)
    ns.filename = os.path.relpath(path, root)
    ns.collection_name = os.path.basename(os.path.normpath(root))
    ns.id = note_sequence_id(ns.filename, ns.collection_name)


def _describe_header(data):
    head = data[:16]
    if all(32 <= b < 127 or b in (9, 10, 13) for b in head):
        text = head.decode("ascii", "replace").split("\n")[0]
        return f"it starts with text {text!r}, not the MIDI header 'MThd'"
    if head[:4] == b"RIFF":
        return "a RIFF file (RMID/WAV); only Standard MIDI Files are read"
    return f"it starts with bytes {head[:4].hex(' ')}, not the MIDI header 'MThd'"


_PRETTY_MIDI_LOCK = threading.Lock()
_LARGEST_TICK = re.compile(r"largest tick of (\d+)")


def _read_with_note_seq(data, name, limits):
    """note-seq's reader (pretty_midi/mido), its errors made `MidiReadError`s.

    pretty_midi allocates arrays with one entry per tick up to the file's
    last tick, and note-seq raises pretty_midi's own limit on that tick to
    1e10; here it is lowered to what `limits` accept, so that a file of a
    few bytes cannot make it allocate gigabytes.
    """
    import note_seq
    from pretty_midi import pretty_midi

    max_tick = _note_seq_tick_limit(data, limits)
    try:
        with _PRETTY_MIDI_LOCK:
            saved = pretty_midi.MAX_TICK
            pretty_midi.MAX_TICK = max_tick
            try:
                return note_seq.midi_to_note_sequence(data)
            finally:
                pretty_midi.MAX_TICK = saved
    except MemoryError:
        raise
    except Exception as e:  # noqa: BLE001 - every note-seq/pretty_midi failure
        raise _classify_note_seq_error(e, name, _division(data), limits) from None


def _division(data):
    """Ticks per quarter note from the header (None for SMPTE or none)."""
    if len(data) < 14:
        return None
    (division,) = struct.unpack(">h", data[12:14])
    return division if division > 0 else None


def _note_seq_tick_limit(data, limits):
    limit = limits.max_ticks_note_seq
    division = _division(data)
    if division and limits.max_quarter_notes is not None:
        quarters_limit = int(limits.max_quarter_notes * division)
        limit = quarters_limit if limit is None else min(limit, quarters_limit)
    return 1e10 if limit is None else limit  # note-seq's own setting


def _classify_note_seq_error(error, name, division=None, limits=DEFAULT_LIMITS):
    text = str(error)
    if "EOFError" in text or isinstance(error, EOFError):
        return MidiReadError(name, REASON_TRUNCATED, "the file ends in the middle of the data")
    if "MThd not found" in text:
        return MidiReadError(name, REASON_NOT_MIDI, "no MIDI header 'MThd'")
    largest = _LARGEST_TICK.search(text)
    if largest:
        return _tick_limit_error(int(largest.group(1)), division, limits, name)
    if "MemoryError" in text:
        return MidiReadError(name, REASON_HUGE, _short(text))
    return MidiReadError(name, REASON_CORRUPT, _short(text))


def _tick_limit_error(tick, division, limits, name):
    """"too long" or "huge file" for a file whose last event is at `tick`."""
    if division and limits.max_quarter_notes is not None:
        quarters = tick / division
        if quarters > limits.max_quarter_notes:
            return MidiReadError(
                name,
                REASON_TOO_LONG,
                f"it lasts {quarters:,.0f} quarter notes ({tick:,} ticks of 1/{division} quarter), "
                f"more than the limit of {limits.max_quarter_notes:,}",
            )
    limit = limits.max_ticks_note_seq
    return MidiReadError(
        name,
        REASON_HUGE,
        f"its last event is at tick {tick:,}"
        + (f", beyond the limit of {limit:,} for files with unusual content" if limit else ""),
    )


def _short(text, limit=200):
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
