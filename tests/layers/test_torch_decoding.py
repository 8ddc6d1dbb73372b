"""`torch_decoding`: the plain PyTorch sampling loop gives the generic loop's samples.

The same models decode through both loops, chosen as in sampling
(`torch_decoding.applies`), with the generic one forced by patching that
choice: flat with controls, hierarchical, hierarchical trio (one decoder per
stream), greedy and sampled, float32 and bfloat16; and the loop is not taken
where it does not apply (training, other heads, the fast paths off).
"""

import keras
import numpy as np
import pytest

from keras_musicvae.layers import torch_decoding
from keras_musicvae.layers import torch_lstm

from testing import tiny_music_vae

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "torch", reason="the plain PyTorch sampling loop is the torch backend's path only"
)

MODELS = {
    "flat_controls": dict(max_seq_len=12, dec_rnn_size=[16, 16], z_size=6, control_depth=3),
    "hierarchical": dict(max_seq_len=8, decoder_level_lengths=[2, 4], dec_rnn_size=[16, 8], z_size=6),
    "hierarchical_trio": dict(
        input_depth=7, output_depth=7, max_seq_len=8, z_size=6, enc_rnn_size=[4], dec_rnn_size=[8],
        encoder_level_lengths=[4, 2], decoder_level_lengths=[2, 4], output_depths=[3, 2, 2], split_streams=True,
    ),  # fmt: skip
}


def _model(kind, **overrides):
    """A tiny model of `kind` with every weight drawn at random (biases and
    initial-state projections included, so each segment starts elsewhere)."""
    model = tiny_music_vae(**MODELS[kind], **overrides)
    controls = np.zeros((model.max_seq_len, 3), "float32") if model.control_depth else None
    model.decode(np.zeros((1, model.z_size), "float32"), controls=controls)  # builds it
    rng = np.random.default_rng(1)
    model.set_weights([rng.normal(scale=0.5, size=w.shape).astype("float32") for w in model.get_weights()])
    return model


def _decode_both_ways(model, z, monkeypatch, **kwargs):
    taken = []
    original = torch_decoding.run

    def counted(*args, **kw):
        taken.append(1)
        return original(*args, **kw)

    with monkeypatch.context() as patch:
        patch.setattr(torch_decoding, "run", counted)
        fast = model.decode(z, return_logits=True, **kwargs)
    assert taken, "the plain PyTorch loop was not taken"
    with monkeypatch.context() as patch:
        patch.setattr(torch_decoding, "applies", lambda *args: False)
        generic = model.decode(z, return_logits=True, **kwargs)
    return fast, generic


@pytest.mark.parametrize("kind", sorted(MODELS))
@pytest.mark.parametrize("temperature", [0.0, 0.7])
def test_the_plain_loop_samples_what_the_generic_loop_samples(kind, temperature, monkeypatch):
    model = _model(kind)
    z = np.random.default_rng(5).standard_normal((3, 6)).astype("float32")
    kwargs = {"temperature": temperature, "seed": 11}
    if model.control_depth:
        kwargs["controls"] = np.random.default_rng(6).integers(0, 2, (12, 3)).astype("float32")
    (fast_samples, fast_logits), (samples, logits) = _decode_both_ways(model, z, monkeypatch, **kwargs)
    np.testing.assert_array_equal(fast_samples, samples)
    np.testing.assert_allclose(fast_logits, logits, atol=1e-6)


def test_bfloat16_and_int8_products_sample_the_same_way(monkeypatch):
    model = _model("hierarchical", dtype="bfloat16")
    z = np.random.default_rng(7).standard_normal((3, 6)).astype("float32")
    for quantization in (None, "int8"):
        model.decode_quantization = quantization
        (fast_samples, fast_logits), (samples, logits) = _decode_both_ways(
            model, z, monkeypatch, temperature=0.5, seed=3
        )
        np.testing.assert_array_equal(fast_samples, samples)
        np.testing.assert_allclose(fast_logits, logits, atol=1e-6)


def test_the_loop_is_not_taken_where_it_does_not_apply(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the plain PyTorch loop ran")

    monkeypatch.setattr(torch_decoding, "run", refuse)
    z = np.zeros((2, 6), "float32")
    nade = tiny_music_vae(max_seq_len=4, z_size=6, output_head="nade", nade_num_hidden=5)
    nade.decode(z)  # another head
    flat = tiny_music_vae(max_seq_len=4, z_size=6)
    with torch_lstm.disabled():
        flat.decode(z)  # the fast paths off: products not prepared
    # Training (scheduled sampling: teacher inputs, autograd on).
    trained = tiny_music_vae(max_seq_len=4, z_size=6, sampling_schedule="constant", sampling_rate=0.5)
    trained.compile()
    rng = np.random.default_rng(0)
    targets = np.eye(trained.output_depth, dtype="float32")[rng.integers(0, trained.output_depth, (2, 4))]
    trained.train_on_batch({"inputs": targets, "targets": targets, "lengths": np.full((2,), 4, "int32")})
