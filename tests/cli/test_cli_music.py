"""`keras-musicvae sample / interpolate / similar / encode / decode / attributes / presets`."""

import numpy as np
import pytest

from cli_support import error_lines
from cli_support import run_cli
from cli_support import write_melody


def _fluidsynth():
    from keras_musicvae import audio

    return audio.find_synth()


def _read_midi(path):
    import note_seq

    return note_seq.midi_file_to_note_sequence(str(path))


def _assert_png(path):
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path


def _assert_wav(path):
    data = path.read_bytes()
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE", path
    assert len(data) > 44 + 1000


def test_presets_lists_builtins():
    result = run_cli("presets", "--names", timeout=60)
    assert result.returncode == 0, result.stderr
    names = result.stdout.split()
    assert "cat_mel_2bar_small" in names and "hierdec_trio_16bar" in names
    assert len(names) == 23


def test_sample_writes_midi_png_wav_and_refuses_to_overwrite(tiny_preset, tmp_path):
    out = tmp_path / "samples"
    result = run_cli("sample", "--model", tiny_preset, "-n", 3, "--seed", 1, "--temperature", 1.0, "--output", out)
    assert result.returncode == 0, result.stderr
    assert "wrote 3 sample(s)" in result.stdout
    for i in (1, 2, 3):
        sequence = _read_midi(out / f"sample_0{i}.mid")
        assert sequence.total_time <= 4.0 + 1e-6  # 2 bars at 120 qpm
        _assert_png(out / f"sample_0{i}.png")
        if _fluidsynth():
            _assert_wav(out / f"sample_0{i}.wav")
        else:
            assert not (out / f"sample_0{i}.wav").exists()
    before = (out / "sample_01.mid").read_bytes()

    again = run_cli("sample", "--model", tiny_preset, "-n", 3, "--seed", 2, "--output", out)
    assert again.returncode == 3
    lines = error_lines(again)
    assert len(lines) == 1
    assert lines[0].startswith(f"keras-musicvae sample: error: {out / 'sample_01.mid'}, ")
    assert lines[0].endswith("already exist; pass --overwrite to replace, or choose another --output.")
    assert (out / "sample_01.mid").read_bytes() == before
    assert not list(out.glob(".*"))  # no temporary files left

    forced = run_cli("sample", "--model", tiny_preset, "-n", 3, "--seed", 1, "--temperature", 1.0, "--output", out, "--overwrite")
    assert forced.returncode == 0, forced.stderr
    assert (out / "sample_01.mid").read_bytes() == before  # same seed, same music


def test_interpolate_candidates_then_indices(tiny_preset, melodies, tmp_path):
    out = tmp_path / "interp"
    result = run_cli("interpolate", "--model", tiny_preset, "--from", melodies["long"], "--to", melodies["b"], "--output", out)
    assert result.returncode == 1
    assert error_lines(result) == [
        f"keras-musicvae interpolate: error: {melodies['long']} gives 3 possible inputs for this model; they "
        f"are written to {out / 'from_candidates'}/candidate_*.mid: pick one with --from-index N (0-2)."
    ]
    for i in range(3):
        assert len(_read_midi(out / "from_candidates" / f"candidate_00{i}.mid").notes) == 8
        _assert_png(out / "from_candidates" / f"candidate_00{i}.png")

    result = run_cli(
        "interpolate",
        "--model", tiny_preset,
        "--from", melodies["long"],
        "--from-index", 1,
        "--to", melodies["b"],
        "--steps", 4,
        "--temperature", 0,
        "--output", out,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    for i in range(1, 5):
        assert (out / f"interp_0{i}.mid").exists()
        _assert_png(out / f"interp_0{i}.png")
    _assert_png(out / "interpolation.png")
    whole = _read_midi(out / "interpolation.mid")
    assert all(note.start_time < 16.0 for note in whole.notes)  # 4 steps x 4 s
    if _fluidsynth():
        _assert_wav(out / "interpolation.wav")

    bad_index = run_cli(
        "interpolate", "--model", tiny_preset, "--from", melodies["long"], "--from-index", 7,
        "--to", melodies["b"], "--output", tmp_path / "other",
    )  # fmt: skip
    assert bad_index.returncode == 2
    assert error_lines(bad_index) == [
        f"keras-musicvae interpolate: error: --from-index 7 is out of range: {melodies['long']} gives 3 example(s) (0-2)."
    ]


def test_similar_writes_input_variations_and_grid(tiny_preset, melodies, tmp_path):
    out = tmp_path / "similar"
    result = run_cli(
        "similar", "--model", tiny_preset, "--input", melodies["a"], "--similarity", 0.9, "-n", 2, "--seed", 3,
        "--output", out, "--no-audio",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    original = _read_midi(out / "input.mid")
    assert [n.pitch for n in original.notes] == [60, 62, 64, 65, 67, 65, 64, 62]
    for name in ("variation_01", "variation_02"):
        assert (out / f"{name}.mid").exists()
        _assert_png(out / f"{name}.png")
    _assert_png(out / "variations.png")

    bad = run_cli("similar", "--model", tiny_preset, "--input", melodies["a"], "--similarity", 1.5, "--output", out)
    assert bad.returncode == 2
    assert error_lines(bad) == ["keras-musicvae similar: error: --similarity must be between 0 and 1; got 1.5."]


def test_encode_then_decode(tiny_preset, melodies, tmp_path):
    codes = tmp_path / "codes.npy"
    result = run_cli("encode", "--model", tiny_preset, "--input", melodies["a"], melodies["long"], melodies["drums"], "--output", codes)
    assert result.returncode == 0, result.stderr
    z = np.load(codes)
    assert z.shape == (4, 4) and z.dtype == np.float32  # 1 + 3 windows, z_size 4
    rows = (tmp_path / "codes.csv").read_text().splitlines()
    assert rows[0] == "row,file,example" and len(rows) == 5
    assert f"skipped: {melodies['drums']} gives no examples for this model: only drum notes (no melody)." in result.stderr

    out = tmp_path / "decoded"
    result = run_cli("decode", "--model", tiny_preset, "--input", codes, "--output", out, "--no-audio")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.glob("*.mid")) == [f"decoded_0{i}.mid" for i in range(1, 5)]
    assert not list(out.glob("*.wav"))

    np.save(tmp_path / "wrong.npy", np.zeros((2, 7), "float32"))
    result = run_cli("decode", "--model", tiny_preset, "--input", tmp_path / "wrong.npy", "--output", out / "x")
    assert result.returncode == 1
    assert error_lines(result) == [
        f"keras-musicvae decode: error: {tmp_path / 'wrong.npy'}: rows have 7 values but this model's latent size is 4."
    ]


def test_attributes_compute_and_apply(tiny_preset, melodies, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):  # 4-bar melodies of varied density: 3 windows each
        steps = rng.choice([0.25, 0.5], size=1)[0]
        pitches = rng.integers(55, 80, size=int(8 / steps)).tolist()
        write_melody(data / f"m{i}.mid", pitches, step=steps)
    vectors = tmp_path / "vectors.npz"
    result = run_cli("attributes", "compute", "--model", tiny_preset, "--data", data, "--output", vectors)
    assert result.returncode == 0, result.stderr
    with np.load(vectors) as saved:
        assert saved["vectors"].shape == (5, 4)
        assert list(saved["names"]) == [
            "c_diatonic", "note_density", "average_interval", "syncopation_16th", "syncopation_8th",
        ]  # fmt: skip
    assert "note_density" in result.stdout

    out = tmp_path / "applied"
    result = run_cli(
        "attributes", "apply", "--model", tiny_preset, "--vectors", vectors, "--input", melodies["a"],
        "--add", "note_density", "--subtract", "c_diatonic", "--amount", 2, "--output", out, "--no-audio",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    for name in ("original", "modified"):
        assert (out / f"{name}.mid").exists()
    _assert_png(out / "attributes.png")
    assert "+note_density -c_diatonic x 2" in result.stdout

    wrong = run_cli(
        "attributes", "apply", "--model", tiny_preset, "--vectors", vectors, "--input", melodies["a"],
        "--add", "density", "--output", tmp_path / "x",
    )  # fmt: skip
    assert wrong.returncode == 2
    assert "Did you mean note_density?" in error_lines(wrong)[0]


@pytest.mark.slow
def test_export_tflite(tiny_preset, tmp_path):
    path = tmp_path / "tiny.tflite"
    result = run_cli("export", "--model", tiny_preset, "--format", "tflite", "--output", path)
    assert result.returncode == 0, result.stderr
    assert path.stat().st_size > 1000
    again = run_cli("export", "--model", tiny_preset, "--format", "tflite", "--output", path)
    assert again.returncode == 3
