"""`--model` with a Magenta checkpoint (converted once, cached), `--chords`, and
`interpolate --corners` (a four-corner grid)."""

import pytest

from cli_support import TINY_HPARAMS
from cli_support import cli_env
from cli_support import error_lines
from cli_support import run_cli
from support import magenta_fixtures

CONFIG = "cat-mel_2bar_med_chords"


# The heaviest CLI runs (30-50 s each on JAX) run in the full TensorFlow pass
# only: their backend-dependent part (the model) is covered on every backend
# by the model and conversion tests, and the CLI on JAX and PyTorch by the
# lighter tests of test_cli_music.py.
SLOW_ON_CORE_BACKENDS = pytest.mark.slow


def _read_midi(path):
    import note_seq

    return note_seq.midi_file_to_note_sequence(str(path))


def _chords(path):
    """The chord symbols of a MIDI file written by the command line (MIDI text events)."""
    import pretty_midi

    return [(t.text, round(t.time, 3)) for t in pretty_midi.PrettyMIDI(str(path)).text_events]


@pytest.fixture(scope="module")
def tiny_chords_preset(tmp_path_factory):
    from keras_musicvae.models.music_vae import MusicVAE

    folder = tmp_path_factory.mktemp("tiny_chords") / "preset"
    MusicVAE.from_preset("cat_mel_2bar_med_chords", load_weights=False, **TINY_HPARAMS).save_to_preset(folder)
    return folder


@pytest.fixture
def checkpoint():
    folder = magenta_fixtures() / CONFIG / "checkpoint"
    if not folder.is_dir():
        pytest.skip(f"the Magenta fixture checkpoint {folder} is absent")
    return folder


@SLOW_ON_CORE_BACKENDS
def test_a_magenta_checkpoint_as_model_is_converted_once(checkpoint, tmp_path):
    env = cli_env(XDG_CACHE_HOME=str(tmp_path / "xdg"))
    args = ["sample", "--model", checkpoint, "--config", CONFIG, "--chords", "C G Am F", "-n", 2,
            "--seed", 3, "--temperature", 0.5, "--no-audio"]  # fmt: skip
    first = run_cli(*args, "--output", tmp_path / "first", env=env)
    assert first.returncode == 0, first.stderr
    cache = tmp_path / "xdg" / "keras_musicvae" / "converted"
    (entry,) = cache.iterdir()
    assert f"note: converted the Magenta checkpoint {checkpoint} into {entry}/ (a cache: later runs reuse it)" in first.stderr
    stamp = (entry / "model.weights.h5").stat().st_mtime_ns

    second = run_cli(*args, "--output", tmp_path / "second", env=env)
    assert second.returncode == 0, second.stderr
    assert f"note: using the converted checkpoint cached in {entry}/" in second.stderr
    assert "converted the Magenta checkpoint" not in second.stderr
    assert (entry / "model.weights.h5").stat().st_mtime_ns == stamp and len(list(cache.iterdir())) == 1

    explicit = tmp_path / "explicit"
    converted = run_cli("convert", "--checkpoint", checkpoint, "--preset", CONFIG, "--output", explicit)
    assert converted.returncode == 0, converted.stderr
    third = run_cli(*args[:2], explicit, *args[5:], "--output", tmp_path / "third", env=env)
    assert third.returncode == 0, third.stderr
    for name in ("sample_01.mid", "sample_02.mid"):
        outputs = [(tmp_path / run / name).read_bytes() for run in ("first", "second", "third")]
        assert outputs[0] == outputs[1] == outputs[2]
    assert _chords(tmp_path / "first" / "sample_01.mid") == [
        ("C", 0.0), ("G", 1.0), ("Am", 2.0), ("F", 3.0)
    ]  # fmt: skip


def test_checkpoint_and_config_mistakes(checkpoint, tiny_preset, tmp_path):
    env = cli_env(XDG_CACHE_HOME=str(tmp_path / "xdg"))
    missing = run_cli("sample", "--model", checkpoint, "--output", tmp_path / "o", env=env, timeout=120)
    assert missing.returncode == 2
    assert error_lines(missing) == [
        f"keras-musicvae sample: error: --model {checkpoint} is a Magenta checkpoint: give the configuration "
        "it was trained with as --config (e.g. --config cat-mel_2bar_big), as for Magenta's music_vae_generate."
    ]
    with_preset = run_cli("sample", "--model", tiny_preset, "--config", CONFIG, "--output", tmp_path / "o", timeout=120)
    assert with_preset.returncode == 2
    assert "--config names the configuration of a Magenta checkpoint" in with_preset.stderr
    wrong = run_cli("sample", "--model", checkpoint, "--config", "cat-mel_2bar_small", "--output", tmp_path / "o",
                    env=env, timeout=300)  # fmt: skip
    assert wrong.returncode == 1
    assert "The checkpoint does not match the model" in wrong.stderr and "Traceback" not in wrong.stderr
    assert not list((tmp_path / "xdg" / "keras_musicvae" / "converted").iterdir())


@SLOW_ON_CORE_BACKENDS
def test_sample_and_decode_over_chords(tiny_chords_preset, tiny_preset, tmp_path):
    import numpy as np

    result = run_cli("sample", "--model", tiny_chords_preset, "--chords", "Am", "F", "-n", 1, "--seed", 1,
                     "--no-audio", "--output", tmp_path / "s")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert _chords(tmp_path / "s" / "sample_01.mid") == [("Am", 0.0), ("F", 2.0)]

    np.save(tmp_path / "z.npy", np.zeros((1, 4), "float32"))
    decoded = run_cli("decode", "--model", tiny_chords_preset, "--input", tmp_path / "z.npy", "--chords", "C G",
                      "--no-audio", "--output", tmp_path / "d")  # fmt: skip
    assert decoded.returncode == 0, decoded.stderr
    assert _chords(tmp_path / "d" / "decoded_01.mid") == [("C", 0.0), ("G", 2.0)]

    no_chords = run_cli("sample", "--model", tiny_chords_preset, "--output", tmp_path / "x", timeout=120)
    assert no_chords.returncode == 2
    assert error_lines(no_chords) == [
        "keras-musicvae sample: error: this model is conditioned on chords: give the chords to play over "
        "with --chords (e.g. --chords C G Am F)."
    ]
    bad = run_cli("sample", "--model", tiny_chords_preset, "--chords", "C", "h", "--output", tmp_path / "x", timeout=120)
    assert bad.returncode == 2
    assert error_lines(bad)[0].startswith("keras-musicvae sample: error: --chords: cannot encode the chord(s) 'h' (")
    not_chords = run_cli("sample", "--model", tiny_preset, "--chords", "C", "--output", tmp_path / "x", timeout=120)
    assert not_chords.returncode == 2
    assert error_lines(not_chords) == [
        "keras-musicvae sample: error: --chords: this model is not conditioned on chords; leave --chords out."
    ]
    hits = run_cli("sample", "--model", "groovae_2bar_hits_control", "--output", tmp_path / "x", timeout=120)
    assert hits.returncode == 2
    assert "conditioned on controls (drum hits)" in hits.stderr


@SLOW_ON_CORE_BACKENDS
def test_interpolate_with_chords_and_similar(tiny_chords_preset, melodies, tmp_path):
    result = run_cli("interpolate", "--model", tiny_chords_preset, "--from", melodies["a"], "--to", melodies["b"],
                     "--steps", 3, "--chords", "Dm", "G", "--no-audio", "--output", tmp_path / "i")  # fmt: skip
    assert result.returncode == 0, result.stderr
    for i in (1, 2, 3):
        assert _chords(tmp_path / "i" / f"interp_0{i}.mid") == [("Dm", 0.0), ("G", 2.0)]
    similar = run_cli("similar", "--model", tiny_chords_preset, "--input", melodies["a"], "-n", 2, "--chords", "E",
                      "--no-audio", "--output", tmp_path / "v")  # fmt: skip
    assert similar.returncode == 0, similar.stderr
    assert _chords(tmp_path / "v" / "variation_01.mid") == [("E", 0.0)]


@SLOW_ON_CORE_BACKENDS
def test_interpolate_grid(tiny_preset, melodies, tmp_path):
    import numpy as np

    from keras_musicvae.models.music_vae import MusicVAE

    out = tmp_path / "grid"
    result = run_cli(
        "interpolate", "--model", tiny_preset, "--from", melodies["a"], "--to", melodies["b"],
        "--corners", melodies["long"], melodies["a"], "--corner-indices", 1, 0, "--steps", 3,
        "--temperature", 0, "--no-audio", "--output", out,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "wrote a 3 x 3 interpolation grid" in result.stdout
    model = MusicVAE.from_preset(str(tiny_preset))
    converter = model.inference_converter
    import note_seq

    examples = [converter.to_tensors(note_seq.midi_file_to_note_sequence(str(melodies[k]))) for k in ("a", "b", "long", "a")]
    a, b, c, d = (e.inputs[i] for e, i in zip(examples, (0, 0, 1, 0)))
    grid = model.interpolate_grid(np.stack([a, c, b, d]), 3, temperature=0)  # magenta.js order
    expected = converter.from_tensors(grid.reshape((9,) + grid.shape[2:]))
    for r in range(3):
        for col in range(3):
            got = _read_midi(out / f"grid_{r + 1:02d}_{col + 1:02d}.mid")
            assert [n.pitch for n in got.notes] == [n.pitch for n in expected[3 * r + col].notes]
    assert (out / "interpolation.mid").exists() and (out / "interpolation.png").exists()

    candidates = run_cli("interpolate", "--model", tiny_preset, "--from", melodies["a"], "--to", melodies["b"],
                         "--corners", melodies["long"], melodies["a"], "--output", tmp_path / "c")  # fmt: skip
    assert candidates.returncode == 1
    assert "pick one with the first of --corner-indices N (0-2)" in candidates.stderr
    assert (tmp_path / "c" / "corner_c_candidates" / "candidate_000.mid").exists()
