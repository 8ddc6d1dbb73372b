"""Fixtures of the command-line tests (helpers live in `cli_support.py`)."""

import pytest

from cli_support import FOUR_BAR_MELODY
from cli_support import TINY_HPARAMS
from cli_support import TWO_BAR_MELODY
from cli_support import TWO_BAR_MELODY_B
from cli_support import write_bytes
from cli_support import write_melody


@pytest.fixture(scope="session")
def tiny_preset(tmp_path_factory):
    """A preset folder of an untrained tiny `cat_mel_2bar_small` (with weights)."""
    from keras_musicvae.models.music_vae import MusicVAE

    folder = tmp_path_factory.mktemp("tiny") / "preset"
    model = MusicVAE.from_preset("cat_mel_2bar_small", load_weights=False, **TINY_HPARAMS)
    model.save_to_preset(folder, description="tiny test model")
    return folder


@pytest.fixture(scope="session")
def melodies(tmp_path_factory):
    """MIDI files: two 2-bar melodies, a 4-bar melody, drums only, 3/4 time, not MIDI."""
    folder = tmp_path_factory.mktemp("midi")
    return {
        "a": write_melody(folder / "a.mid", TWO_BAR_MELODY),
        "b": write_melody(folder / "b.mid", TWO_BAR_MELODY_B),
        "long": write_melody(folder / "long.mid", FOUR_BAR_MELODY),
        "drums": write_melody(folder / "drums.mid", [36, 38] * 4, drum=True),
        "waltz": write_melody(folder / "waltz.mid", TWO_BAR_MELODY, numerator=3),
        "corrupt": write_bytes(folder / "corrupt.mid", b"MThd\x00\x00\x00\x06\x00\x01\x00"),
        "text": write_bytes(folder / "notes.mid", b"this is not a MIDI file\n"),
    }
