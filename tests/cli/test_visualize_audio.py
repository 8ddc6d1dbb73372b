"""Piano-roll pictures (`keras_musicvae.visualize`) and WAV rendering (`keras_musicvae.audio`)."""

import wave

import note_seq
import numpy as np
import pytest

from keras_musicvae import audio
from keras_musicvae import visualize


def _sequence(notes, qpm=120.0):
    sequence = note_seq.NoteSequence()
    sequence.tempos.add(qpm=qpm)
    for pitch, start, end, program, is_drum in notes:
        sequence.notes.add(
            pitch=pitch, start_time=start, end_time=end, velocity=80, program=program, is_drum=is_drum,
            instrument=9 if is_drum else (1 if 32 <= program < 40 else 0),
        )  # fmt: skip
    sequence.total_time = max(n[2] for n in notes)
    return sequence


MELODY = _sequence([(60 + i, i * 0.5, (i + 1) * 0.5, 0, False) for i in range(8)])
DRUMS = _sequence([(36, 0.0, 0.1, 0, True), (38, 0.5, 0.6, 0, True), (42, 0.25, 0.3, 0, True), (99, 1.0, 1.1, 0, True)])
TRIO = _sequence(
    [(72, 0.0, 1.0, 0, False), (40, 0.0, 2.0, 33, False), (36, 0.0, 0.1, 0, True), (38, 1.0, 1.1, 0, True)]
)


def _notes(ax):
    return [p for p in ax.patches if p.get_gid() == "note"]


def _axes_texts(fig):
    return [[t.get_text() for t in ax.get_yticklabels()] for ax in fig.axes]


def test_split_parts_guesses_the_kind():
    assert visualize.split_parts(MELODY)[0] == "melody"
    assert visualize.split_parts(DRUMS)[0] == "drums"
    kind, parts = visualize.split_parts(TRIO)
    assert kind == "trio"
    assert [(name, len(notes)) for name, _, notes in parts] == [("melody", 1), ("bass", 1), ("drums", 2)]
    with pytest.raises(ValueError, match="Unknown piano-roll kind"):
        visualize.split_parts(MELODY, kind="polka")


def test_melody_roll_has_bars_and_octave_labels(tmp_path):
    fig = visualize.piano_roll_figure(MELODY, title="melody")
    ax = fig.axes[0]
    assert ax.get_xlim() == (0.0, 2.0)  # 4 s at 120 qpm = 2 bars
    assert len(_notes(ax)) == 8
    assert "C4" in _axes_texts(fig)[0]
    visualize.save_figure(fig, tmp_path / "melody.png")
    assert (tmp_path / "melody.png").read_bytes()[:4] == b"\x89PNG"


def test_drum_grid_is_labelled_and_counts_unknown_pitches_as_other():
    fig = visualize.piano_roll_figure(DRUMS)
    labels = _axes_texts(fig)[0]
    assert labels[:4] == ["kick", "snare", "closed hi-hat", "open hi-hat"]
    assert labels[-1] == "other"
    assert len(_notes(fig.axes[0])) == 4


def test_trio_has_three_panels_and_interpolation_grid_one_row_per_step(tmp_path):
    fig = visualize.piano_roll_figure(TRIO)
    assert [ax.get_ylabel() for ax in fig.axes] == ["melody", "bass", "drums"]
    fig = visualize.interpolation_figure([TRIO, TRIO, TRIO], kind="trio")
    assert len(fig.axes) == 9
    path = visualize.save_interpolation_grid([MELODY, MELODY, MELODY], tmp_path / "grid.png", labels=["a", "b", "c"])
    assert path.exists()
    fig = visualize.interpolation_figure([MELODY, _sequence([(90, 0.0, 1.0, 0, False)])])
    assert fig.axes[0].get_ylim() == fig.axes[1].get_ylim()  # one pitch scale for all rows


def test_kind_for_converter():
    from keras_musicvae.data import converter_for_preset

    assert visualize.kind_for_converter(converter_for_preset("cat_mel_2bar_small")) == "melody"
    assert visualize.kind_for_converter(converter_for_preset("cat_drums_2bar_small")) == "drums"
    assert visualize.kind_for_converter(converter_for_preset("hierdec_trio_16bar")) == "trio"
    assert visualize.kind_for_converter(None) is None


def test_find_synth_honours_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(audio.SOUNDFONT_ENV, str(tmp_path / "missing.sf2"))
    assert audio.find_soundfont() is None
    assert audio.find_synth() is None
    with pytest.raises(audio.AudioError, match="apt-get install fluidsynth fluid-soundfont-gm"):
        audio.render_wav(tmp_path / "x.mid", tmp_path / "x.wav")


@pytest.mark.skipif(audio.find_synth() is None, reason="FluidSynth or a General MIDI SoundFont is not installed")
def test_render_wav(tmp_path):
    midi = tmp_path / "melody.mid"
    note_seq.sequence_proto_to_midi_file(MELODY, str(midi))
    path = audio.render_wav(midi, tmp_path / "melody.wav", sample_rate=22050)
    with wave.open(str(path)) as w:
        assert w.getframerate() == 22050
        assert w.getnframes() >= 4 * 22050  # at least the 4 s of music
        frames = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
    assert np.abs(frames).max() > 1000  # not silence
    assert not list(tmp_path.glob(".*"))
