"""A fast Standard MIDI File reader with note-seq's (pretty_midi's) results.

`FastMidiReader(data, limits, name).read()` turns a file's bytes into the
NoteSequence that `note_seq.midi_file_to_note_sequence` makes of it (same
notes, order, times to the last bit, instruments, programs, tempos, time and
key signatures, pitch bends and control changes), about four times faster.
Anything unusual raises `_Fallback`, and the caller (`midi_io`) then reads
the file with note-seq itself; a file beyond the tick limit raises
`TickLimitError`. Pure Python / NumPy / mido; no TensorFlow.
"""

import struct

import numpy as np

from keras_musicvae.data import sequence_checks


class _Fallback(Exception):
    """Raised by the fast reader for anything it leaves to note-seq."""


class TickLimitError(Exception):
    """A file whose last event lies beyond `MidiSanityLimits.max_ticks`.

    Attributes:
        tick: int, the file's last tick.
        limit: int, the limit.
    """

    def __init__(self, tick, limit):
        self.tick = tick
        self.limit = limit
        super().__init__(f"its last event is at tick {tick:,}, beyond the limit of {limit:,}")


class _Instrument:
    """pretty_midi's per-(program, channel, track) instrument, in ticks."""

    __slots__ = ("program", "is_drum", "name", "notes", "control_changes", "pitch_bends")

    def __init__(self, program, is_drum, name):
        self.program = program
        self.is_drum = is_drum
        self.name = name
        self.notes = []  # (start_tick, end_tick, pitch, velocity)
        self.control_changes = []  # (tick, number, value)
        self.pitch_bends = []  # (tick, bend)


_MAX_MESSAGE_LENGTH = 1_000_000  # mido's limit for one meta / sysex event
_MAX_INT32 = 2**31 - 1


class FastMidiReader:
    """Standard MIDI File bytes -> NoteSequence, with pretty_midi's rules.

    The rules reproduced (from reading pretty_midi 0.2 and note-seq 0.0.5):
    tempo, time and key signatures come from track 0 only; a tempo event at
    tick 0 replaces the default 120 qpm, later ones are kept when they change
    the tick length; tick -> seconds is piecewise linear; an instrument is
    one (program, channel, track) and is created when its first note ends;
    a note-off ends every open note of its (channel, pitch) that started on
    an earlier tick; control changes and pitch bends that come before an
    instrument exists are kept for the first instrument of their
    (channel, track) and shared with later ones; channel 10 is drums.
    """

    def __init__(self, data, limits, name):
        self.data = data
        self.limits = limits
        self.name = name

    def read(self):
        from mido.midifiles.meta import build_meta_message
        from mido.midifiles.meta import meta_charset

        data = self.data
        if len(data) < 14:
            raise _Fallback
        (header_size,) = struct.unpack(">L", data[4:8])
        if header_size < 6 or 8 + header_size > len(data):
            raise _Fallback
        _, num_tracks, resolution = struct.unpack(">hhh", data[8:14])
        if resolution <= 0 or num_tracks <= 0:
            raise _Fallback
        self.resolution = resolution
        self.instrument_map = {}
        self.stragglers = {}
        self.track_names = {}
        self.same_tick_notes = 0
        self.tempo_events = []  # (tick, microseconds per quarter)
        self.time_signatures = []  # (tick, numerator, denominator)
        self.key_signatures = []  # (tick, key number 0..23)
        max_tick = -1
        pos = 8 + header_size
        with meta_charset("latin1"):
            for track_index in range(num_tracks):
                if data[pos : pos + 4] != b"MTrk" or pos + 8 > len(data):
                    raise _Fallback
                (size,) = struct.unpack(">L", data[pos + 4 : pos + 8])
                start = pos + 8
                end = start + size
                if end > len(data) or size == 0:
                    raise _Fallback
                last_tick = self._read_track(data, start, end, track_index, build_meta_message)
                max_tick = max(max_tick, last_tick)
                pos = end
        if max_tick > self.limits.max_ticks:
            raise TickLimitError(max_tick, self.limits.max_ticks)
        ns, times = self._to_note_sequence()
        return ns, times, self.same_tick_notes

    # -- parsing -----------------------------------------------------------
    def _read_track(self, data, pos, end, track_index, build_meta_message):
        """Parses one MTrk chunk, applying pretty_midi's instrument rules."""
        tick = 0
        running_status = None
        program = [0] * 16
        open_notes = {}  # (channel, pitch) -> [(start_tick, velocity), ...]
        instrument_map = self.instrument_map
        is_first_track = track_index == 0
        try:
            while pos != end:
                if pos > end:
                    raise _Fallback  # overran the chunk: leave it to mido
                # The delta time: `_read_variable_int`, inlined in this
                # per-event loop (a method call per event costs ~10%).
                byte = data[pos]
                pos += 1
                delta = byte & 0x7F
                while byte & 0x80:
                    byte = data[pos]
                    pos += 1
                    delta = (delta << 7) | (byte & 0x7F)
                tick += delta
                status = data[pos]
                pos += 1
                if status < 0x80:  # running status: this is the first data byte
                    if running_status is None or running_status >= 0xF0:
                        raise _Fallback
                    first = status
                    status = running_status
                elif status < 0xF0:
                    running_status = status
                    first = data[pos]
                    pos += 1
                    if first > 0x7F:
                        raise _Fallback
                elif status == 0xFF:
                    pos = self._read_meta(data, pos, tick, track_index, is_first_track, build_meta_message)
                    continue
                elif status == 0xF0 or status == 0xF7:
                    running_status = status
                    pos = self._skip_sysex(data, pos)
                    continue
                else:
                    raise _Fallback  # system common / real-time bytes in a file
                kind = status & 0xF0
                channel = status & 0x0F
                if kind == 0xC0:  # program change
                    program[channel] = first
                    continue
                if kind == 0xD0:  # channel aftertouch: ignored
                    continue
                second = data[pos]
                pos += 1
                if second > 0x7F:
                    raise _Fallback
                if kind == 0x90 and second > 0:  # note on
                    key = (channel, first)
                    started = open_notes.get(key)
                    if started is None:
                        open_notes[key] = [(tick, second)]
                    else:
                        started.append((tick, second))
                elif kind == 0x80 or kind == 0x90:  # note off
                    key = (channel, first)
                    started = open_notes.get(key)
                    if started is None:
                        continue
                    if len(started) == 1:  # the common case
                        if started[0][0] == tick:
                            self.same_tick_notes += 1
                            del open_notes[key]
                            continue
                        to_close = started
                        to_keep = None
                    else:
                        to_close = [s for s in started if s[0] != tick]
                        if not to_close:
                            self.same_tick_notes += len(started)
                            del open_notes[key]
                            continue
                        to_keep = [s for s in started if s[0] == tick]
                    inst_key = (program[channel], channel, track_index)
                    instrument = instrument_map.get(inst_key)
                    if instrument is None:
                        instrument = self._new_instrument(inst_key)
                    append = instrument.notes.append
                    for start_tick, velocity in to_close:
                        append((start_tick, tick, first, velocity))
                    if to_keep:
                        open_notes[key] = to_keep
                    else:
                        del open_notes[key]
                elif kind == 0xB0:  # control change
                    self._instrument_for_event(program[channel], channel, track_index).control_changes.append(
                        (tick, first, second)
                    )
                elif kind == 0xE0:  # pitch wheel
                    self._instrument_for_event(program[channel], channel, track_index).pitch_bends.append(
                        (tick, (first | (second << 7)) - 8192)
                    )
                # 0xA0 polyphonic aftertouch: ignored
        except IndexError:
            raise _Fallback from None
        return tick

    def _read_variable_int(self, data, pos):
        byte = data[pos]
        pos += 1
        value = byte & 0x7F
        while byte & 0x80:
            byte = data[pos]
            pos += 1
            value = (value << 7) | (byte & 0x7F)
        return value, pos

    def _read_meta(self, data, pos, tick, track_index, is_first_track, build_meta_message):
        meta_type = data[pos]
        length, pos = self._read_variable_int(data, pos + 1)
        if length > _MAX_MESSAGE_LENGTH or pos + length > len(data):
            raise _Fallback
        payload = list(data[pos : pos + length])
        # mido decodes (and validates) every meta event; so do we.
        message = build_meta_message(meta_type, payload, 0)
        kind = message.type
        if kind == "track_name":
            self.track_names[track_index] = message.name
        elif is_first_track:
            if kind == "set_tempo":
                self.tempo_events.append((tick, message.tempo))
            elif kind == "time_signature":
                if message.numerator <= 0 or message.denominator > _MAX_INT32:
                    raise _Fallback
                self.time_signatures.append((tick, message.numerator, message.denominator))
            elif kind == "key_signature":
                self.key_signatures.append((tick, key_number(message.key)))
        return pos + length

    def _skip_sysex(self, data, pos):
        length, pos = self._read_variable_int(data, pos)
        if length > _MAX_MESSAGE_LENGTH or pos + length > len(data):
            raise _Fallback
        body = data[pos : pos + length]
        if body[:1] == b"\xf0":
            body = body[1:]
        if body[-1:] == b"\xf7":
            body = body[:-1]
        if body and max(body) > 0x7F:
            raise _Fallback
        return pos + length

    def _new_instrument(self, inst_key):
        program, channel, track_index = inst_key
        instrument = _Instrument(program, channel == 9, self.track_names.get(track_index, ""))
        straggler = self.stragglers.get((channel, track_index))
        if straggler is not None:
            # pretty_midi hands the straggler's lists over (the same objects).
            instrument.control_changes = straggler.control_changes
            instrument.pitch_bends = straggler.pitch_bends
        self.instrument_map[inst_key] = instrument
        return instrument

    def _instrument_for_event(self, program, channel, track_index):
        instrument = self.instrument_map.get((program, channel, track_index))
        if instrument is not None:
            return instrument
        straggler = self.stragglers.get((channel, track_index))
        if straggler is None:
            straggler = _Instrument(program, False, "")
            self.stragglers[(channel, track_index)] = straggler
        return straggler

    # -- NoteSequence ------------------------------------------------------
    def _tick_scales(self):
        resolution = self.resolution
        scales = [(0, 60.0 / (120.0 * resolution))]
        for tick, tempo in self.tempo_events:
            if tempo == 0:
                raise _Fallback
            if tick == 0:
                bpm = 6e7 / tempo
                scales = [(0, 60.0 / (bpm * resolution))]
            else:
                scale = 60.0 / ((6e7 / tempo) * resolution)
                if scale != scales[-1][1]:
                    scales.append((tick, scale))
        return scales

    def _to_note_sequence(self):
        """The NoteSequence and its `SequenceTimes` (the same floats)."""
        from note_seq.protobuf import music_pb2

        resolution = self.resolution
        scales = self._tick_scales()
        starts = np.array([s[0] for s in scales], dtype=np.int64)
        factors = np.array([s[1] for s in scales], dtype=np.float64)
        # Time in seconds at each segment start, accumulated as pretty_midi does.
        offsets = np.zeros(len(scales), dtype=np.float64)
        for i in range(1, len(scales)):
            offsets[i] = offsets[i - 1] + factors[i - 1] * (starts[i] - starts[i - 1])

        def to_seconds(ticks):
            ticks = np.asarray(ticks, dtype=np.int64)
            segment = np.searchsorted(starts, ticks, side="right") - 1
            return offsets[segment] + factors[segment] * (ticks - starts[segment])

        ns = music_pb2.NoteSequence()
        ns.ticks_per_quarter = resolution
        ns.source_info.parser = music_pb2.NoteSequence.SourceInfo.PRETTY_MIDI
        ns.source_info.encoding_type = music_pb2.NoteSequence.SourceInfo.MIDI

        other_times = []  # (kind, [seconds]) as in `sequence_checks.SequenceTimes`
        if self.time_signatures:
            times = to_seconds([t[0] for t in self.time_signatures])
            other_times.append(("time signature", times.tolist()))
            for time, (_, numerator, denominator) in zip(times.tolist(), self.time_signatures):
                ns.time_signatures.add(time=time, numerator=numerator, denominator=denominator)
        if self.key_signatures:
            times = to_seconds([k[0] for k in self.key_signatures])
            other_times.append(("key signature", times.tolist()))
            for time, (_, key_number) in zip(times.tolist(), self.key_signatures):
                ns.key_signatures.add(time=time, key=key_number % 12, mode=key_number // 12)
        tempo_times = to_seconds(starts)
        other_times.append(("tempo", tempo_times.tolist()))
        for time, factor in zip(tempo_times.tolist(), factors.tolist()):
            ns.tempos.add(time=time, qpm=60.0 / (factor * resolution))

        instruments = list(self.instrument_map.values())
        total_time = 0.0
        note_starts, note_ends = [], []
        add_note = ns.notes.add
        for index, inst in enumerate(instruments):
            if inst.name:
                ns.instrument_infos.add(name=inst.name, instrument=index)
            if not inst.notes:
                continue
            ticks = np.array(inst.notes, dtype=np.int64)
            begin = to_seconds(ticks[:, 0]).tolist()
            finish = to_seconds(ticks[:, 1]).tolist()
            total_time = max(total_time, max(finish))
            note_starts += begin
            note_ends += finish
            program = int(inst.program)
            is_drum = inst.is_drum
            for b, f, (_, _, pitch, velocity) in zip(begin, finish, inst.notes):
                add_note(
                    instrument=index,
                    program=program,
                    start_time=b,
                    end_time=f,
                    pitch=pitch,
                    velocity=velocity,
                    is_drum=is_drum,
                )
        for index, inst in enumerate(instruments):
            if inst.pitch_bends:
                times = to_seconds([p[0] for p in inst.pitch_bends]).tolist()
                other_times.append(("pitch bend", times))
                for time, (_, bend) in zip(times, inst.pitch_bends):
                    ns.pitch_bends.add(
                        instrument=index,
                        program=int(inst.program),
                        time=time,
                        bend=bend,
                        is_drum=inst.is_drum,
                    )
        for index, inst in enumerate(instruments):
            if inst.control_changes:
                times = to_seconds([c[0] for c in inst.control_changes]).tolist()
                other_times.append(("control change", times))
                for time, (_, number, value) in zip(times, inst.control_changes):
                    ns.control_changes.add(
                        instrument=index,
                        program=int(inst.program),
                        time=time,
                        control_number=number,
                        control_value=value,
                        is_drum=inst.is_drum,
                    )
        ns.total_time = total_time
        other_times.append(("total time", [total_time]))
        times = sequence_checks.SequenceTimes(tuple(note_starts), tuple(note_ends), tuple(other_times))
        return ns, times


def key_number(key_name):
    """mido's key name ("C", "F#m", ...) -> pretty_midi's key number 0..23."""
    return _KEY_NUMBERS[key_name]


def _build_key_numbers():
    names = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]
    enharmonic = {"Db": 1, "D#": 3, "Gb": 6, "G#": 8, "A#": 10, "Cb": 11, "B#": 0, "E#": 5, "Fb": 4}
    table = {}
    for number, name in enumerate(names):
        table[name] = number
        table[name + "m"] = number + 12
    for name, number in enharmonic.items():
        table[name] = number
        table[name + "m"] = number + 12
    return table


_KEY_NUMBERS = _build_key_numbers()
