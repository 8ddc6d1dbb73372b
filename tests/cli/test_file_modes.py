"""Written files and folders get the permissions the umask asks for (0644 / 0755 under 022)."""

import os
import stat
import subprocess
import sys

import note_seq
import pytest

from cli_support import TINY_HPARAMS
from cli_support import TWO_BAR_MELODY
from cli_support import cli_env
from cli_support import write_melody
from keras_musicvae import audio
from keras_musicvae import training
from keras_musicvae import visualize
from keras_musicvae.utils import atomic_files

UMASKS = [0o022, 0o077]


@pytest.fixture(params=UMASKS, ids=lambda u: f"umask{u:03o}")
def umask(request):
    """Sets the process umask for one test and restores it."""
    previous = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(previous)


def _mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def _assert_modes(umask, files=(), folders=()):
    for path in files:
        assert _mode(path) == 0o666 & ~umask, f"{path}: {_mode(path):04o}"
    for path in folders:
        assert _mode(path) == 0o777 & ~umask, f"{path}: {_mode(path):04o}"


def _assert_tree_modes(umask, folder):
    """`folder`, every folder under it and every file in them."""
    folders, files = [folder], []
    for root, names, file_names in os.walk(folder):
        folders += [os.path.join(root, n) for n in names]
        files += [os.path.join(root, n) for n in file_names]
    _assert_modes(umask, files, folders)


def _fake_fluidsynth(folder):
    """A `fluidsynth` stand-in that writes 100 bytes to the file after `-F`, and a SoundFont."""
    program = folder / "fluidsynth"
    program.write_text('#!/bin/sh\nwhile [ $# -gt 0 ]; do [ "$1" = -F ] && head -c 100 /dev/zero > "$2"; shift; done\n')
    program.chmod(0o755)
    soundfont = folder / "font.sf2"
    soundfont.write_bytes(b"sf2")
    return audio.Synth(str(program), str(soundfont))


def test_atomic_writes_honour_the_umask(umask, tmp_path):
    text = atomic_files.write_text(tmp_path / "a.txt", "text")
    written = atomic_files.write_file(tmp_path / "b.bin", lambda tmp: open(tmp, "wb").close())
    with atomic_files.atomic_folder(tmp_path / "folder") as staging:
        (staging / "inside.txt").write_text("x")
    _assert_modes(umask, [text, written, tmp_path / "folder" / "inside.txt"], [tmp_path / "folder"])
    with atomic_files.atomic_folder(tmp_path / "folder") as staging:  # replaces the old one
        (staging / "new.txt").write_text("y")
    assert sorted(p.name for p in (tmp_path / "folder").iterdir()) == ["new.txt"]
    with pytest.raises(RuntimeError), atomic_files.atomic_file(tmp_path / "a.txt") as tmp:
        tmp.write_text("half")
        raise RuntimeError("failed writer")
    assert text.read_text() == "text"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.bin", "folder"]  # no temporaries


def test_outputs_honour_the_umask(umask, tmp_path):
    from keras_musicvae.cli import common
    from keras_musicvae.models.music_vae import MusicVAE

    midi = write_melody(tmp_path / "in.mid", TWO_BAR_MELODY)
    sequence = note_seq.midi_file_to_note_sequence(str(midi))
    outputs = [
        common.write_midi(sequence, tmp_path / "out" / "melody.mid"),
        visualize.save_piano_roll(sequence, tmp_path / "out" / "melody.png"),
        audio.render_wav(midi, tmp_path / "out" / "melody.wav", synth=_fake_fluidsynth(tmp_path)),
    ]
    _assert_modes(umask, outputs, [tmp_path / "out"])

    model = MusicVAE.from_preset("cat_mel_2bar_small", load_weights=False, **TINY_HPARAMS)
    model.save_to_preset(tmp_path / "preset")
    _assert_tree_modes(umask, tmp_path / "preset")
    model.compile()
    training.save_checkpoint(model, tmp_path / "run", 1)
    training.write_run_config(tmp_path / "run", {"preset": "tiny"})
    _assert_tree_modes(umask, tmp_path / "run")


def test_cli_sample_outputs_are_shareable_under_umask_022(tiny_preset, tmp_path):
    mask = 0o022  # the usual one; umask 077 is checked in-process above
    synth = _fake_fluidsynth(tmp_path)
    env = cli_env(**{audio.FLUIDSYNTH_ENV: synth.fluidsynth, audio.SOUNDFONT_ENV: synth.soundfont})
    out = tmp_path / "samples"
    result = subprocess.run(
        [sys.executable, "-m", "keras_musicvae", "sample", "--model", str(tiny_preset), "-n", "2", "--seed", "1",
         "--output", str(out)],
        env=env, capture_output=True, text=True, timeout=600, umask=mask,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in out.iterdir())
    assert names == [f"sample_0{i}.{ext}" for i in (1, 2) for ext in ("mid", "png", "wav")]
    _assert_tree_modes(mask, out)
