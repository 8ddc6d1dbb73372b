"""Performance tracks as token lists: the pieces of the multi-instrument layout.

A track is a `note_seq.MetricPerformance` (note-on, note-off, time-shift and
velocity events of one instrument). The multi-instrument performance
converter (`multiperf.py`) cuts each track into chunks of bars
(`split_into_chunks`), writes every chunk as `[program token, events...,
end token]` (`track_tokens`) and, decoding, reads token lists back into
tracks (`track_from_tokens`) and joins a track's chunks (`join_chunks`).
Program tokens follow the performance events: `num_classes + program`, and
`num_classes + 128` for a drum kit. Pure note-seq: no TensorFlow.
"""

import note_seq
from note_seq import performance_lib
from note_seq import sequences_lib

# MIDI programs 0-127; drums get the program token after the last program.
NUM_PROGRAMS = note_seq.MAX_MIDI_PROGRAM - note_seq.MIN_MIDI_PROGRAM + 1
DRUM_PROGRAM_INDEX = NUM_PROGRAMS


def split_into_chunks(track, chunk_steps, new_chunk):
    """Cuts a performance into consecutive `chunk_steps`-step chunks.

    At a chunk boundary, note-offs stay in the chunk that ends and every other
    event goes to the next one; a time shift that crosses a boundary is cut in
    two. A trailing chunk of zero steps is dropped. Then each chunk is written
    out as notes and read back, which closes notes left sounding at the end
    of a chunk and drops note-offs whose note-on is in an earlier chunk
    (Magenta's `split_performance(..., clip_tied_notes=True)`).

    Args:
        track: A `note_seq.MetricPerformance`.
        chunk_steps: Steps per chunk.
        new_chunk: `new_chunk(quantized_sequence, start_step)` returns a new
            `MetricPerformance` (empty when `quantized_sequence` is None).

    Returns:
        A list of `MetricPerformance`, each exactly `chunk_steps` long.
    """
    time_shift = performance_lib.PerformanceEvent.TIME_SHIFT
    note_off = performance_lib.PerformanceEvent.NOTE_OFF
    chunks = [new_chunk(None, 0)]
    steps_in_chunk = 0

    def start_next_chunk():
        chunks.append(new_chunk(None, len(chunks) * chunk_steps))

    for event in track:
        if event.event_type != time_shift:
            if steps_in_chunk == chunk_steps and event.event_type != note_off:
                start_next_chunk()
                steps_in_chunk = 0
            chunks[-1].append(event)
            continue
        remaining = event.event_value
        while steps_in_chunk + remaining > chunk_steps:
            room = chunk_steps - steps_in_chunk
            if room > 0:
                chunks[-1].append(performance_lib.PerformanceEvent(time_shift, room))
            remaining -= room
            start_next_chunk()
            steps_in_chunk = 0
        if remaining > 0:
            chunks[-1].append(performance_lib.PerformanceEvent(time_shift, remaining))
            steps_in_chunk += remaining
    if chunks[-1].num_steps == 0:
        chunks.pop()

    clipped = []
    for chunk in chunks:
        notes = chunk.to_sequence()
        quantized = sequences_lib.quantize_note_sequence(
            notes, steps_per_quarter=chunk.steps_per_quarter
        )
        chunk = new_chunk(quantized, chunk.start_step)
        chunk.set_length(chunk_steps)
        clipped.append(chunk)
    return clipped


def track_tokens(track, performance_encoding, end_token):
    """`[program token, event tokens..., end_token]` of one track (ints).

    Args:
        track: a `MetricPerformance` with `program` / `is_drum` set.
        performance_encoding: the `PerformanceOneHotEncoding` of the events.
        end_token: int, the token that closes the track.
    """
    program = DRUM_PROGRAM_INDEX if track.is_drum else track.program
    return (
        [performance_encoding.num_classes + program]
        + [performance_encoding.encode_event(event) for event in track]
        + [end_token]
    )


def track_from_tokens(tokens, performance_encoding, end_token, steps_per_quarter, num_velocity_bins):
    """Reads a token list back into a track (the inverse of `track_tokens`).

    Tokens are read up to the first `end_token`; the first program token
    sets the program (none: program 0; the drum index: drums, program 0);
    later program tokens are ignored; every other token is an event.

    Returns:
        `(track, event_indices)`: the `MetricPerformance` (starting at step
        0) and the positions in `tokens` of its events, in order.
    """
    num_event_classes = performance_encoding.num_classes
    if end_token in tokens:
        tokens = tokens[: tokens.index(end_token)]
    program_tokens = [t for t in tokens if t >= num_event_classes]
    event_indices = [k for k, t in enumerate(tokens) if t < num_event_classes]
    program, is_drum = 0, False
    if program_tokens:
        program = program_tokens[0] - num_event_classes
        if program == DRUM_PROGRAM_INDEX:
            program, is_drum = 0, True
    track = performance_lib.MetricPerformance(
        steps_per_quarter=steps_per_quarter,
        start_step=0,
        num_velocity_bins=num_velocity_bins,
        program=program,
        is_drum=is_drum,
    )
    for k in event_indices:
        track.append(performance_encoding.decode_event(tokens[k]))
    return track, event_indices


def join_chunks(chunks):
    """One track of consecutive chunks: the first, extended by the others' events (in place)."""
    track = chunks[0]
    for later_chunk in chunks[1:]:
        for event in later_chunk:
            track.append(event)
    return track
