"""Export plumbing that needs no TensorFlow graph: atomic writes, backend
checks, and what `ExportSpec` reads from the presets (any backend)."""

import keras
import pytest

from keras_musicvae.export.files import atomic_destination
from keras_musicvae.export.backend import require_tensorflow_backend
from keras_musicvae.export.spec import ExportSpec


def test_atomic_destination_moves_into_place(tmp_path):
    target = tmp_path / "models" / "cat_mel" / "1"
    with atomic_destination(target) as staging:
        assert staging.parent.parent == target.parent and not target.exists()
        staging.mkdir()
        (staging / "saved_model.pb").write_text("new")
    assert (target / "saved_model.pb").read_text() == "new"
    assert [p.name for p in target.parent.iterdir()] == ["1"]


def test_atomic_destination_refuses_existing_and_keeps_it_on_failure(tmp_path):
    target = tmp_path / "1"
    target.mkdir()
    (target / "saved_model.pb").write_text("old")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        with atomic_destination(target):
            pass
    with pytest.raises(ValueError, match="conversion broke"):
        with atomic_destination(target, overwrite=True) as staging:
            staging.mkdir()
            (staging / "saved_model.pb").write_text("half")
            raise ValueError("conversion broke")
    assert (target / "saved_model.pb").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["1"]
    with atomic_destination(target, overwrite=True) as staging:
        staging.write_text("a file this time")
    assert target.read_text() == "a file this time"
    assert [p.name for p in tmp_path.iterdir()] == ["1"]


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_other_backends_are_refused_with_the_way_out(backend, monkeypatch):
    monkeypatch.setattr(keras.backend, "backend", lambda: backend)
    with pytest.raises(RuntimeError) as info:
        require_tensorflow_backend("export_saved_model")
    message = str(info.value)
    assert f"active backend: {backend}" in message
    assert "KERAS_BACKEND=tensorflow" in message and "from_preset" in message
    if backend == "jax":
        assert "jax2tf" in message


@pytest.mark.parametrize(
    "preset, kind, streams, lengths_shape, control_depth",
    [
        ("cat_mel_2bar_small", "tokens", (90,), (), 0),
        ("cat_mel_2bar_med_chords", "tokens", (90,), (), 49),
        ("flat_trio_16bar", "tokens", (90, 90, 512), (), 0),
        ("hierdec_trio_16bar", "tokens", (90, 90, 512), (), 0),
        ("groovae_2bar_hits_control", "groove", (27,), (), 9),
        ("nade_drums_2bar_reduced", "multi_hot", (9,), (), 0),
        ("hier_multiperf_vel_1bar_med", "tokens", (490,), (8,), 0),
    ],
)
def test_export_spec_of_presets(preset, kind, streams, lengths_shape, control_depth):
    from keras_musicvae import MusicVAE

    model = MusicVAE.from_preset(preset, enc_rnn_size=[8], dec_rnn_size=[8], z_size=4)
    spec = ExportSpec.from_model(model)
    assert spec.output_kind == kind
    assert spec.stream_depths == streams
    assert spec.lengths_shape == lengths_shape
    assert spec.control_depth == control_depth
    assert spec.noise_depth == sum(h.noise_depth for h in model.decoder.heads)
