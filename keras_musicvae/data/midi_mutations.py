"""Seeded MIDI mutations: broken and odd variants of real MIDI files.

`generate` turns small MIDI files cut from the bundled Freedoom corpus into
broken and odd variants (byte flips, truncations, splices, bad chunk lengths,
odd divisions and formats, huge delta times, absurd tempos and time
signatures, zero-length notes, orphan note-offs, data bytes above 127, many
tracks, random bytes, empty files), the same files for the same seed;
`write_files` puts them in a folder. `fuzz.run_campaign` feeds them to the
data pipeline. Pure Python / NumPy / mido: no TensorFlow.
"""

import dataclasses
import functools
import io
import pathlib
import struct

import numpy as np


# ---------------------------------------------------------------------------
# Seed files
# ---------------------------------------------------------------------------


def bundled_corpus_dir():
    """The Freedoom corpus shipped inside the package."""
    return pathlib.Path(__file__).resolve().parent.parent / "corpus" / "freedoom"


@functools.lru_cache(maxsize=4)
def seed_files(bars=8, count=12):
    """Small real MIDI files: the first `bars` bars of bundled Freedoom songs.

    Args:
        bars: Bars of 4 quarter notes kept from the start of each song.
        count: Songs used (spread over the sorted corpus); one of them is
            also given as a format-0 (single track) file.

    Returns:
        A tuple of MIDI files (bytes).
    """
    import mido

    paths = sorted(bundled_corpus_dir().rglob("*.mid"))
    step = max(1, len(paths) // count)
    seeds = []
    for path in paths[::step][:count]:
        midi = mido.MidiFile(str(path))
        _cut_after(midi, bars * 4 * midi.ticks_per_beat)
        seeds.append(_midi_bytes(midi))
    single = mido.MidiFile(type=0, ticks_per_beat=midi.ticks_per_beat)
    single.tracks.append(mido.merge_tracks(midi.tracks))
    seeds.append(_midi_bytes(single))
    return tuple(seeds)


def _cut_after(midi, last_tick):
    """Keeps the events of each track up to `last_tick` (in place)."""
    import mido

    for index, track in enumerate(midi.tracks):
        kept = mido.MidiTrack()
        tick = 0
        for message in track:
            tick += message.time
            if tick > last_tick:
                break
            if message.type != "end_of_track":
                kept.append(message)
        kept.append(mido.MetaMessage("end_of_track", time=0))
        midi.tracks[index] = kept


def _midi_bytes(midi):
    buffer = io.BytesIO()
    midi.save(file=buffer)
    return buffer.getvalue()


# ---------------------------------------------------------------------------
# Standard MIDI File chunks
# ---------------------------------------------------------------------------


@dataclasses.dataclass
class _Smf:
    """A MIDI file cut into its header fields and chunks (leniently)."""

    header_length: int
    fields: bytes  # the header body: format, tracks, division (+ extra)
    chunks: list  # [(type bytes, body bytes)]
    tail: bytes  # bytes after the last complete chunk

    @classmethod
    def parse(cls, data):
        if len(data) < 14 or data[:4] != b"MThd":
            return None
        (header_length,) = struct.unpack(">L", data[4:8])
        fields = data[8 : 8 + max(6, min(header_length, 64))]
        pos = 8 + len(fields)
        chunks = []
        while pos + 8 <= len(data):
            kind = data[pos : pos + 4]
            (size,) = struct.unpack(">L", data[pos + 4 : pos + 8])
            if pos + 8 + size > len(data):
                break
            chunks.append((kind, data[pos + 8 : pos + 8 + size]))
            pos += 8 + size
        return cls(len(fields), fields, chunks, data[pos:])

    def tracks(self):
        """Indexes of the `MTrk` chunks."""
        return [i for i, (kind, _) in enumerate(self.chunks) if kind == b"MTrk"]

    def set_field(self, offset, value):
        """Sets one 16-bit header field (0 format, 2 tracks, 4 division)."""
        fields = bytearray(self.fields)
        fields[offset : offset + 2] = struct.pack(">H", value & 0xFFFF)
        self.fields = bytes(fields)

    def insert_events(self, track, events, at_end):
        """Inserts raw events (each starting with its delta time) in a track."""
        kind, body = self.chunks[track]
        if at_end and body[-3:] == b"\xff\x2f\x00" and len(body) >= 4:
            body = body[:-4] + events + body[-4:]
        else:
            body = events + body
        self.chunks[track] = (kind, body)

    def to_bytes(self, header_length=None, lengths=None):
        """The file, with chunk lengths given or (default) true."""
        out = [b"MThd", struct.pack(">L", self.header_length if header_length is None else header_length)]
        out.append(self.fields)
        for i, (kind, body) in enumerate(self.chunks):
            size = len(body) if lengths is None or i not in lengths else lengths[i]
            out.append(kind + struct.pack(">L", size & 0xFFFFFFFF) + body)
        out.append(self.tail)
        return b"".join(out)


def vlq(value):
    """A MIDI variable-length quantity (at most 0x0FFFFFFF)."""
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def _meta(kind, payload, delta=0):
    return vlq(delta) + bytes([0xFF, kind]) + vlq(len(payload)) + bytes(payload)


# ---------------------------------------------------------------------------
# Mutations: (data, rng, donor) -> bytes
# ---------------------------------------------------------------------------


def _flip_bytes(data, rng, donor):
    out = bytearray(data)
    for _ in range(int(rng.integers(1, 9))):
        if out:
            out[int(rng.integers(len(out)))] = int(rng.integers(256))
    return bytes(out)


def _truncate(data, rng, donor):
    return data[: int(rng.integers(len(data)))] if data else data


def _splice(data, rng, donor):
    return data[: int(rng.integers(len(data) + 1))] + donor[int(rng.integers(len(donor) + 1)) :]


def _bad_header_length(data, rng, donor):
    smf = _Smf.parse(data)
    if smf is None:
        return data
    return smf.to_bytes(header_length=int(rng.choice([0, 1, 5, 7, 8, 255, 0xFFFFFFFF])))


def _bad_track_length(data, rng, donor):
    smf = _Smf.parse(data)
    if smf is None or not smf.tracks():
        return data
    track = int(rng.choice(smf.tracks()))
    size = len(smf.chunks[track][1])
    wrong = int(rng.choice([0, 1, size - 1, size + 1, size * 2, 0x7FFFFFFF, 0xFFFFFFFF]))
    return smf.to_bytes(lengths={track: wrong})


def _odd_division(data, rng, donor):
    smf = _Smf.parse(data)
    if smf is None:
        return data
    # 0, tiny, largest, SMPTE (-30 fps x 80, -25 fps x 40, -24 x 0), negative.
    smf.set_field(4, int(rng.choice([0, 1, 2, 3, 0x7FFF, 0xFFFF, 0x8000, 0xE250, 0xE728, 0xE800])))
    return smf.to_bytes()


def _odd_format(data, rng, donor):
    smf = _Smf.parse(data)
    if smf is None:
        return data
    smf.set_field(0, int(rng.choice([0, 2, 3, 255, 0xFFFF])))
    return smf.to_bytes()


def _wrong_track_count(data, rng, donor):
    smf = _Smf.parse(data)
    if smf is None:
        return data
    smf.set_field(2, int(rng.choice([0, 1, len(smf.tracks()) + 1, 1000, 0xFFFF])))
    return smf.to_bytes()


def _many_tracks(data, rng, donor):
    smf = _Smf.parse(data)
    if smf is None or not smf.tracks():
        return data
    copies = int(rng.choice([50, 200, 600]))
    tracks = [smf.chunks[i] for i in smf.tracks()]
    smf.chunks = [tracks[i % len(tracks)] for i in range(copies)]
    smf.set_field(2, copies)
    return smf.to_bytes()


def _huge_delta(data, rng, donor):
    """One note held for up to 0x0FFFFFFF ticks (the "52-byte file")."""
    smf = _Smf.parse(data)
    if smf is None or not smf.tracks():
        return data
    delta = int(rng.choice([10**6, 99_000_000, 0x0FFFFFFF]))
    channel = int(rng.choice([0, 9]))
    note = bytes([0x90 | channel, 60, 100])
    events = b"\x00" + note + vlq(delta) + bytes([0x80 | channel, 60, 0])
    if rng.random() < 0.5:
        smf.set_field(4, 1)  # one tick per quarter note
    smf.insert_events(int(rng.choice(smf.tracks())), events, at_end=bool(rng.random() < 0.5))
    return smf.to_bytes()


def _odd_tempo(data, rng, donor):
    smf = _Smf.parse(data)
    if smf is None or not smf.tracks():
        return data
    choice = int(rng.integers(6))
    if choice < 4:  # 0, 1, 2 and the largest microseconds per quarter note
        value = [0, 1, 2, 0xFFFFFF][choice]
        payload = list(struct.pack(">L", value)[1:])
    elif choice == 4:  # 1e9 in four bytes
        payload = list(struct.pack(">L", 10**9))
    else:  # no value at all
        payload = []
    events = _meta(0x51, payload)
    if rng.random() < 0.5:  # a burst of tempo changes one tick apart
        events += b"".join(_meta(0x51, list(struct.pack(">L", 1 + i % 3)[1:]), delta=1) for i in range(500))
    smf.insert_events(smf.tracks()[0], events, at_end=bool(rng.random() < 0.3))
    return smf.to_bytes()


def _odd_time_signature(data, rng, donor):
    smf = _Smf.parse(data)
    if smf is None or not smf.tracks():
        return data
    numerator = int(rng.choice([0, 1, 3, 5, 7, 13, 255]))
    exponent = int(rng.choice([0, 1, 2, 3, 4, 5, 7, 31, 64, 255]))
    payload = [numerator, exponent, 24, 8][: int(rng.choice([4, 4, 4, 2, 0]))]
    smf.insert_events(smf.tracks()[0], _meta(0x58, payload), at_end=bool(rng.random() < 0.3))
    return smf.to_bytes()


def _odd_key_signature(data, rng, donor):
    smf = _Smf.parse(data)
    if smf is None or not smf.tracks():
        return data
    payload = [int(rng.choice([0, 7, 8, 127, 128, 249, 255])), int(rng.choice([0, 1, 2, 255]))]
    smf.insert_events(smf.tracks()[0], _meta(0x59, payload[: int(rng.choice([2, 2, 1]))]), at_end=False)
    return smf.to_bytes()


def _zero_length_notes(data, rng, donor):
    smf = _Smf.parse(data)
    if smf is None or not smf.tracks():
        return data
    count = int(rng.choice([1, 10, 1000]))
    pairs = b"".join(
        bytes([0, 0x90, 40 + i % 40, 90, 0, 0x80, 40 + i % 40, 0]) for i in range(count)
    )
    smf.insert_events(int(rng.choice(smf.tracks())), pairs, at_end=bool(rng.random() < 0.5))
    return smf.to_bytes()


def _orphan_note_offs(data, rng, donor):
    smf = _Smf.parse(data)
    if smf is None or not smf.tracks():
        return data
    events = b"".join(
        bytes([int(rng.integers(3)), 0x80 | int(rng.integers(16)), int(rng.integers(128)), 0])
        for _ in range(int(rng.integers(1, 50)))
    )
    smf.insert_events(int(rng.choice(smf.tracks())), events, at_end=bool(rng.random() < 0.5))
    return smf.to_bytes()


def _data_bytes_over_127(data, rng, donor):
    smf = _Smf.parse(data)
    if smf is None or not smf.tracks():
        return data
    status = int(rng.choice([0x90, 0x80, 0xB0, 0xC0, 0xE0]))
    events = bytes([0, status, int(rng.integers(128, 256)), int(rng.integers(256))])
    smf.insert_events(int(rng.choice(smf.tracks())), events, at_end=bool(rng.random() < 0.5))
    return smf.to_bytes()


def _odd_events(data, rng, donor):
    """Running status with no status yet, system bytes, bad sysex and meta lengths."""
    smf = _Smf.parse(data)
    if smf is None or not smf.tracks():
        return data
    events = [
        bytes([0, 60, 100]),  # running status at the start of a track
        bytes([0, 0xF8]),  # real-time byte in a file
        bytes([0, 0xF1, 5]),  # system common
        bytes([0, 0xF0]) + vlq(0x0FFFFFFF) + b"\x01\x02",  # sysex longer than the file
        bytes([0, 0xFF, 0x03]) + vlq(0x0FFFFFFF) + b"name",  # meta longer than the file
        bytes([0, 0xFF, 0x2F, 0x00, 0, 0x90, 60, 100]),  # events after end-of-track
        bytes([0, 0xFF, 0x20, 0x01, 0x7F]),  # channel prefix out of range
    ]
    smf.insert_events(int(rng.choice(smf.tracks())), events[int(rng.integers(len(events)))], at_end=False)
    return smf.to_bytes()


def _random_bytes(data, rng, donor):
    noise = rng.integers(0, 256, int(rng.integers(0, 4000)), dtype=np.uint8).tobytes()
    return (b"MThd" if rng.random() < 0.5 else b"") + noise


def _empty(data, rng, donor):
    return b""


# name -> (mutation, weight). Mutations that keep the file readable weigh
# more, so that about a third of the files reach the converters.
MUTATIONS = {
    "flip bytes": (_flip_bytes, 2),
    "truncate": (_truncate, 1),
    "splice": (_splice, 1),
    "bad header length": (_bad_header_length, 1),
    "bad track length": (_bad_track_length, 1),
    "odd division": (_odd_division, 3),
    "odd format": (_odd_format, 2),
    "wrong track count": (_wrong_track_count, 2),
    "many tracks": (_many_tracks, 2),
    "huge delta time": (_huge_delta, 3),
    "odd tempo": (_odd_tempo, 3),
    "odd time signature": (_odd_time_signature, 3),
    "odd key signature": (_odd_key_signature, 1),
    "zero-length notes": (_zero_length_notes, 3),
    "orphan note-offs": (_orphan_note_offs, 3),
    "data bytes over 127": (_data_bytes_over_127, 1),
    "odd events": (_odd_events, 1),
    "random bytes": (_random_bytes, 1),
    "empty file": (_empty, 1),
}
_NUMBER_OF_MUTATIONS = ((1, 0.6), (2, 0.3), (3, 0.1))  # (count, probability)


def mutate(data, rng, donor):
    """Applies 1 to 3 random mutations (one in 60% of the files).

    Returns:
        `(mutated bytes, names of the mutations applied, in order)`.
    """
    names = list(MUTATIONS)
    weights = np.array([MUTATIONS[n][1] for n in names], dtype=float)
    counts, chances = zip(*_NUMBER_OF_MUTATIONS)
    applied = []
    for _ in range(int(rng.choice(counts, p=chances))):
        name = names[int(rng.choice(len(names), p=weights / weights.sum()))]
        data = MUTATIONS[name][0](data, rng, donor)
        applied.append(name)
    return data, applied


@dataclasses.dataclass(frozen=True)
class FuzzFile:
    """One generated file: its name, its bytes and how it was made."""

    name: str
    data: bytes
    mutations: tuple


def generate(count, seed=0, seeds=None):
    """`count` mutated MIDI files, the same ones for the same `seed`.

    Args:
        count: Files to make.
        seed: Seed of every random choice.
        seeds: MIDI files (bytes) to mutate (default `seed_files()`).

    Returns:
        A list of `FuzzFile`.
    """
    seeds = seed_files() if seeds is None else tuple(seeds)
    rng = np.random.default_rng(seed)
    files = []
    for i in range(count):
        source = seeds[int(rng.integers(len(seeds)))]
        donor = seeds[int(rng.integers(len(seeds)))]
        data, applied = mutate(source, rng, donor)
        files.append(FuzzFile(f"fuzz_{seed}_{i:05d}.mid", data, tuple(applied)))
    return files


def write_files(folder, files):
    """Writes `FuzzFile`s into `folder`; returns their paths."""
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for f in files:
        path = folder / f.name
        path.write_bytes(f.data)
        paths.append(str(path))
    return paths
