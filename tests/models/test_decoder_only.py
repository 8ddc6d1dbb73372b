"""Decoder-only `MusicVAE` (`include_encoder=False`): it loads a whole model's
decoder weights and decodes exactly as the whole model does; encoding,
training and the exports that need the encoder fail with clear messages."""

import json

import numpy as np
import pytest

from keras_musicvae.models.music_vae import MusicVAE
from layers.numpy_reference import randomize_weights
from testing import tiny_music_vae

HIERARCHICAL = dict(max_seq_len=8, encoder_level_lengths=[4, 2], decoder_level_lengths=[2, 4])
STRUCTURES = {"flat": {}, "hierarchical": HIERARCHICAL}


@pytest.fixture(params=sorted(STRUCTURES))
def whole_preset(request, tmp_path):
    """A tiny whole model with random (non-trivial) weights, saved as a preset folder."""
    model = tiny_music_vae(**STRUCTURES[request.param])
    for layer in (model.encoder, model.latent, model.decoder):
        randomize_weights(layer, seed=3)
    model.save_to_preset(tmp_path / "whole")
    return model, tmp_path / "whole"


def _z(model, batch=3, seed=0):
    return np.random.default_rng(seed).standard_normal((batch, model.z_size)).astype("float32")


def test_decoder_only_model_decodes_as_the_whole_model(whole_preset):
    whole, folder = whole_preset
    decoder_only = MusicVAE.from_preset(folder, include_encoder=False)

    assert decoder_only.include_encoder is False
    assert decoder_only.encoder is None and decoder_only.latent is None
    paths = [w.path for w in decoder_only.weights]
    assert not [p for p in paths if p.startswith(("encoder", "latent"))], paths
    decoder_params = sum(int(np.prod(w.shape)) for w in whole.decoder.weights)
    assert decoder_only.count_params() == decoder_params + 1  # and global_step
    assert decoder_only.count_params() < whole.count_params()

    z = _z(whole)
    np.testing.assert_array_equal(decoder_only.decode(z, temperature=0.0), whole.decode(z, temperature=0.0))
    np.testing.assert_array_equal(
        decoder_only.decode(z, temperature=1.0, seed=5), whole.decode(z, temperature=1.0, seed=5)
    )
    np.testing.assert_array_equal(decoder_only.sample(4, seed=2), whole.sample(4, seed=2))


def test_encoding_and_training_say_the_encoder_is_missing(whole_preset):
    whole, folder = whole_preset
    decoder_only = MusicVAE.from_preset(folder, include_encoder=False)
    inputs = np.zeros((2, whole.max_seq_len, whole.input_depth), "float32")
    message = r"Encoding needs the encoder.*include_encoder=False.*include_encoder=True"
    with pytest.raises(ValueError, match=message):
        decoder_only.encode(inputs)
    with pytest.raises(ValueError, match=message):
        decoder_only.encode_tensors(inputs, np.full((2,), whole.max_seq_len, "int32"))
    with pytest.raises(ValueError, match=message):
        decoder_only.reconstruct(inputs)
    with pytest.raises(ValueError, match=r"Training needs the encoder.*include_encoder=False"):
        decoder_only.compile()


def test_config_round_trip_and_a_decoder_only_preset(whole_preset, tmp_path):
    whole, folder = whole_preset
    decoder_only = MusicVAE.from_preset(folder, include_encoder=False)
    config = decoder_only.get_config()
    assert config["include_encoder"] is False
    assert MusicVAE.from_config(config).include_encoder is False
    assert whole.get_config()["include_encoder"] is True

    decoder_only.save_to_preset(tmp_path / "decoder")
    stored = json.loads((tmp_path / "decoder" / "config.json").read_text())
    assert stored["config"]["include_encoder"] is False
    assert "decoder-only model" in (tmp_path / "decoder" / "README.md").read_text()
    revived = MusicVAE.from_preset(tmp_path / "decoder")
    z = _z(whole, seed=1)
    np.testing.assert_array_equal(revived.decode(z, temperature=0.0), whole.decode(z, temperature=0.0))
    # Its weights file has no encoder: asking for one is refused, by name.
    with pytest.raises(ValueError, match=r"decoder-only model .*include_encoder=False.*no encoder"):
        MusicVAE.from_preset(tmp_path / "decoder", include_encoder=True)


def test_magenta_exports_need_the_whole_model(tmp_path):
    from keras_musicvae.export import export_magenta_checkpoint
    from keras_musicvae.export import export_magentajs

    model = MusicVAE.from_preset(
        "cat_mel_2bar_small", enc_rnn_size=[8], dec_rnn_size=[8, 8], z_size=4, include_encoder=False
    )
    with pytest.raises(ValueError, match="Export to a Magenta checkpoint needs the encoder"):
        export_magenta_checkpoint(model, tmp_path / "ckpt")
    with pytest.raises(ValueError, match="Export to magenta.js needs the encoder"):
        export_magentajs(model, tmp_path / "js")
    assert not (tmp_path / "ckpt").exists() and not (tmp_path / "js").exists()
