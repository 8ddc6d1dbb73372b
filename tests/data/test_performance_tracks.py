"""Tests of `keras_musicvae.data.performance_tracks`: chunking, tokens and back."""

import note_seq
from note_seq import performance_lib

from keras_musicvae.data import performance_tracks

EVENT = performance_lib.PerformanceEvent
ENCODING = note_seq.PerformanceOneHotEncoding(num_velocity_bins=8, max_shift_steps=96)
END = ENCODING.num_classes + performance_tracks.NUM_PROGRAMS + 1


def _track(events, program=5, is_drum=False, steps_per_quarter=24):
    track = performance_lib.MetricPerformance(
        steps_per_quarter=steps_per_quarter, start_step=0, num_velocity_bins=8, program=program, is_drum=is_drum
    )
    for kind, value in events:
        track.append(EVENT(kind, value))
    return track


def _new_chunk(quantized_sequence, start_step):
    return performance_lib.MetricPerformance(
        quantized_sequence=quantized_sequence,
        steps_per_quarter=24 if quantized_sequence is None else None,
        start_step=start_step,
        num_velocity_bins=8,
        program=5,
        is_drum=False,
    )


def test_tokens_and_back_are_the_same_track():
    events = [(EVENT.VELOCITY, 3), (EVENT.NOTE_ON, 60), (EVENT.TIME_SHIFT, 12), (EVENT.NOTE_OFF, 60)]
    tokens = performance_tracks.track_tokens(_track(events), ENCODING, END)
    assert tokens[0] == ENCODING.num_classes + 5 and tokens[-1] == END and len(tokens) == 6
    track, event_indices = performance_tracks.track_from_tokens(tokens + [7, 7], ENCODING, END, 24, 8)
    assert (track.program, track.is_drum) == (5, False)
    assert [(e.event_type, e.event_value) for e in track] == events
    assert event_indices == [1, 2, 3, 4]


def test_drums_have_their_own_program_token_and_no_token_means_program_0():
    drums = performance_tracks.track_tokens(_track([(EVENT.NOTE_ON, 36)], program=None, is_drum=True), ENCODING, END)
    assert drums[0] == ENCODING.num_classes + performance_tracks.DRUM_PROGRAM_INDEX
    track, _ = performance_tracks.track_from_tokens(drums, ENCODING, END, 24, 8)
    assert (track.program, track.is_drum) == (0, True)
    track, _ = performance_tracks.track_from_tokens([ENCODING.encode_event(EVENT(EVENT.NOTE_ON, 40))], ENCODING, END, 24, 8)
    assert (track.program, track.is_drum) == (0, False)


def test_split_cuts_time_shifts_at_chunk_boundaries_and_closes_held_notes():
    # A note held across the boundary of two 24-step chunks: the first chunk
    # closes it at its end, the second drops the orphan note-off.
    events = [(EVENT.NOTE_ON, 60), (EVENT.TIME_SHIFT, 30), (EVENT.NOTE_OFF, 60), (EVENT.TIME_SHIFT, 18)]
    chunks = performance_tracks.split_into_chunks(_track(events), 24, _new_chunk)
    assert [c.num_steps for c in chunks] == [24, 24]
    def events_of(chunk):  # (a chunk read back from notes starts with its velocity)
        return [(e.event_type, e.event_value) for e in chunk if e.event_type != EVENT.VELOCITY]

    assert events_of(chunks[0]) == [(EVENT.NOTE_ON, 60), (EVENT.TIME_SHIFT, 24), (EVENT.NOTE_OFF, 60)]
    assert events_of(chunks[1]) == [(EVENT.TIME_SHIFT, 24)]
    joined = performance_tracks.join_chunks(chunks)
    assert joined.num_steps == 48
