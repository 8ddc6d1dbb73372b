"""Numeric parity with Magenta: convert each fixture checkpoint, feed the
recorded inputs, compare with what Magenta's own graph computed.

Tolerances (float32): mu / sigma / logits 1e-4 absolute, except the
hierarchical decoders' logits from `z_rand`, where 16 chained segments of
rounding reach about 3e-5 (still under 1e-4). Per-sequence losses (sums of
hundreds of terms) 1e-5 relative. Greedy samples: identical (for GrooVAE the
hits are identical and velocities / offsets, continuous, within 1e-5).
"""

import json

import numpy as np
import pytest
from keras import ops

from support import magenta_batch
from support import magenta_fixture_io
from support import magenta_fixtures

FIXTURES = [
    "cat-mel_2bar_small",
    "cat-drums_2bar_small",
    "cat-mel_2bar_med_chords",
    "groovae_2bar_humanize",
    "flat-mel_16bar",
    "hierdec-mel_16bar",
    "hier-mel_16bar",
    "flat-trio_16bar",
    "hierdec-trio_16bar",
    "hier-trio_16bar",
    "nade-drums_2bar_reduced",
    "hier-multiperf_vel_1bar_med",
]


@pytest.fixture(scope="module")
def converted():
    cache = {}

    def get(name):
        if name not in cache:
            from keras_musicvae.convert import convert_magenta_checkpoint

            folder = magenta_fixtures() / name
            io = magenta_fixture_io(name)
            model = convert_magenta_checkpoint(folder / "checkpoint", name)
            cache[name] = (model, io, json.loads((folder / "notes.json").read_text()))
        return cache[name]

    return get


@pytest.mark.fixtures
@pytest.mark.parametrize("name", FIXTURES)
def test_encoder_matches_magenta(converted, name):
    model, io, _ = converted(name)
    mu, sigma = model.encode(
        io["input_sequence"], io["sequence_length"], controls=io.get("control_sequence")
    )
    np.testing.assert_allclose(mu, io["mu"], atol=1e-4, rtol=0)
    np.testing.assert_allclose(sigma, io["sigma"], atol=1e-4, rtol=0)


@pytest.mark.fixtures
@pytest.mark.parametrize("name", FIXTURES)
@pytest.mark.parametrize("latent", ["zmu", "zrand"])
def test_teacher_forced_decoder_matches_magenta(converted, name, latent):
    model, io, _ = converted(name)
    z = io["z_mu"] if latent == "zmu" else io["z_rand"]
    controls = io.get("control_sequence")
    reference = io[f"rnn_output_{latent}"]
    logits = ops.convert_to_numpy(model.teacher_forced_logits(z, io["x_target"], controls=controls))
    valid = ops.convert_to_numpy(model.step_mask(io["x_length"], reference.shape[1])).astype(bool)
    np.testing.assert_allclose(logits[:, : reference.shape[1]][valid], reference[valid], atol=1e-4, rtol=0)
    r_loss = ops.convert_to_numpy(
        model.reconstruction_loss(z, io["x_target"], io["x_length"], controls=controls)
    )
    np.testing.assert_allclose(r_loss, io[f"r_loss_{latent}"], rtol=1e-5, atol=0)


@pytest.mark.fixtures
@pytest.mark.parametrize("name", FIXTURES)
def test_greedy_sampling_matches_magenta(converted, name):
    model, io, _ = converted(name)
    samples, logits = model.decode(
        io["greedy_z"],
        temperature=0,
        length=io["greedy_samples"].shape[1],
        controls=io.get("greedy_c_input"),
        return_logits=True,
    )
    reference = io["greedy_samples"]
    if model.output_head == "groove":
        hits = model.output_depth // 3
        np.testing.assert_array_equal(samples[..., :hits], reference[..., :hits])
        np.testing.assert_allclose(samples[..., hits:], reference[..., hits:], atol=1e-5)
    else:
        np.testing.assert_array_equal(samples, reference)
    np.testing.assert_allclose(logits, io["greedy_rnn_output"], atol=1e-4, rtol=0)


@pytest.mark.fixtures
@pytest.mark.parametrize("name", ["cat-mel_2bar_small", "hierdec-mel_16bar", "hier-mel_16bar"])
def test_training_loss_matches_magenta(converted, name):
    """Magenta's loss formula at z = mu, with its global step and KL weight."""
    model, io, notes = converted(name)
    batch = magenta_batch(io)
    outputs = model(batch, training=False)
    terms = model.loss_terms(batch, outputs, step=notes["global_step"])
    np.testing.assert_allclose(ops.convert_to_numpy(terms["kl"]), io["kl_div"], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(float(terms["loss"]), float(io["loss_zmu"]), rtol=1e-5)


@pytest.mark.fixtures
def test_hierarchical_internals_match_magenta(converted):
    model, io, _ = converted("hier-trio_16bar")
    encoding, (level0,) = model.encoder(
        ops.convert_to_tensor(io["input_sequence"]),
        lengths=ops.convert_to_tensor(io["sequence_length"]),
        return_level_outputs=True,
    )
    np.testing.assert_allclose(ops.convert_to_numpy(encoding), io["encoder_output"], atol=1e-4)
    np.testing.assert_allclose(ops.convert_to_numpy(level0), io["encoder_level0_outputs"], atol=1e-4)
    embeddings = model.decoder.conductor(ops.convert_to_tensor(io["z_rand"]))
    np.testing.assert_allclose(
        ops.convert_to_numpy(embeddings), io["conductor_embeddings_zrand"], atol=1e-4
    )


@pytest.mark.fixtures
def test_mismatched_checkpoint_names_the_variables(tmp_path):
    from keras_musicvae.convert import CheckpointMismatchError
    from keras_musicvae.convert import convert_magenta_checkpoint

    checkpoint = magenta_fixtures() / "hierdec-mel_16bar" / "checkpoint"
    output = tmp_path / "out"
    with pytest.raises(CheckpointMismatchError) as error:
        convert_magenta_checkpoint(checkpoint, "flat_mel_16bar", output=output)
    message = str(error.value)
    assert "decoder/multi_rnn_cell/cell_0/lstm_cell/kernel" in message  # missing
    assert "core_decoder/decoder/output_projection/kernel" in message  # unused
    assert not output.exists()


@pytest.mark.fixtures
def test_inferred_sizes_and_preset_round_trip(tmp_path):
    """The reduced fixtures differ from the presets' sizes: they are read off
    the checkpoint; the written preset reloads with identical outputs."""
    from keras_musicvae import MusicVAE
    from keras_musicvae.convert import convert_magenta_checkpoint

    folder = magenta_fixtures() / "hier-mel_16bar"
    io = magenta_fixture_io("hier-mel_16bar")
    model = convert_magenta_checkpoint(folder / "checkpoint", "hier-mel_16bar", output=tmp_path / "p")
    assert model.enc_rnn_size == [64] and model.dec_rnn_size == [96, 96] and model.z_size == 32
    reloaded = MusicVAE.from_preset(tmp_path / "p")
    # Magenta's global_step (40) is kept, in the model and in the preset:
    # fine-tuning continues the learning-rate, KL and sampling schedules.
    assert int(ops.convert_to_numpy(model.global_step)) == 40
    assert int(ops.convert_to_numpy(reloaded.global_step)) == 40
    reloaded.compile()
    assert reloaded.optimizer._learning_rate.initial_step == 40
    mu, _ = reloaded.encode(io["input_sequence"])
    np.testing.assert_allclose(mu, io["mu"], atol=1e-4)
    with pytest.raises(FileExistsError):
        convert_magenta_checkpoint(folder / "checkpoint", "hier-mel_16bar", output=tmp_path / "p")
