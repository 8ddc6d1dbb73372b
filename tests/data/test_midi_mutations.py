"""Tests of `keras_musicvae.data.midi_mutations`: seeded, covering, and really mutating."""

import collections
import io

import mido
import pytest

from keras_musicvae.data import midi_mutations


def test_generation_is_seeded_and_covers_every_mutation():
    first = midi_mutations.generate(30, seed=5)
    assert first == midi_mutations.generate(30, seed=5)
    assert first != midi_mutations.generate(30, seed=6)
    applied = collections.Counter(m for f in midi_mutations.generate(400, seed=5) for m in f.mutations)
    assert set(applied) == set(midi_mutations.MUTATIONS)


def test_seed_files_are_short_real_midi_files():
    seeds = midi_mutations.seed_files()
    assert len(seeds) == 13  # 12 songs and one of them as a format-0 file
    for data in seeds:
        midi = mido.MidiFile(file=io.BytesIO(data))
        assert midi.length > 0
        last_tick = max(sum(m.time for m in track) for track in midi.tracks)
        assert last_tick <= 8 * 4 * midi.ticks_per_beat  # 8 bars of 4 quarters
    assert mido.MidiFile(file=io.BytesIO(seeds[-1])).type == 0


@pytest.mark.parametrize("value, encoded", [(0, b"\x00"), (0x7F, b"\x7f"), (0x80, b"\x81\x00"), (0x0FFFFFFF, b"\xff\xff\xff\x7f")])
def test_vlq_is_the_midi_encoding(value, encoded):
    assert midi_mutations.vlq(value) == encoded


def test_write_files_writes_the_bytes_under_their_names(tmp_path):
    files = midi_mutations.generate(5, seed=1)
    paths = midi_mutations.write_files(tmp_path / "out", files)
    assert [p.rsplit("/", 1)[-1] for p in paths] == [f.name for f in files]
    assert all(open(p, "rb").read() == f.data for p, f in zip(paths, files))
    assert any(f.data != s for f in files for s in midi_mutations.seed_files())
