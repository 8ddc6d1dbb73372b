"""TF Lite export: built-in ops only, and the interpreter's outputs match Keras."""

import numpy as np
import pytest

from _export_testing import argmax_tokens
from _export_testing import random_encode_inputs
from _export_testing import small_model
from _export_testing import tensorflow_backend_only

pytestmark = [
    tensorflow_backend_only,
    pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated:UserWarning"),
]


def test_refuses_to_overwrite(tmp_path):
    from keras_musicvae.export import export_tflite

    path = tmp_path / "model.tflite"
    path.write_bytes(b"old")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        export_tflite(small_model("cat_mel_2bar_small"), path)
    assert path.read_bytes() == b"old"


def test_tflite_noise_matches_head_noise_kinds():
    from keras_musicvae.export.spec import ExportSpec
    from keras_musicvae.export.tflite import tflite_noise

    melody = ExportSpec.from_model(small_model("cat_mel_2bar_small"))
    noise = tflite_noise(melody, batch_size=2, seed=0)
    assert noise.shape == (2, 32, 90) and noise.dtype == np.float32
    np.testing.assert_array_equal(noise, tflite_noise(melody, batch_size=2, seed=0))
    # Gumbel(0, 1): mean = Euler's constant, variance = pi^2 / 6.
    big = tflite_noise(melody, batch_size=64, seed=1)
    assert abs(big.mean() - 0.5772) < 0.02 and abs(big.var() - np.pi**2 / 6) < 0.05


@pytest.mark.slow
@pytest.mark.parametrize(
    "preset, batch_size", [("cat_mel_2bar_small", 2), ("hierdec_mel_16bar", 1)]
)
def test_interpreter_matches_keras(preset, batch_size, tmp_path):
    import tensorflow as tf

    from keras_musicvae.export import export_tflite
    from keras_musicvae.export.spec import ExportSpec
    from keras_musicvae.export.tflite import tflite_noise
    from keras_musicvae.export.tflite import tflite_op_names

    model = small_model(preset)
    spec = ExportSpec.from_model(model)
    path = export_tflite(model, tmp_path / "model.tflite", batch_size=batch_size)

    ops = tflite_op_names(path)
    assert not [op for op in ops if op.startswith("Flex")], ops  # built-in ops only
    assert "WHILE" in ops and "TOPK_V2" in ops and "ARG_MAX" not in ops

    interpreter = tf.lite.Interpreter(model_path=str(path))
    signatures = interpreter.get_signature_list()
    assert sorted(signatures) == ["decode", "encode"]
    assert sorted(signatures["encode"]["inputs"]) == ["inputs", "lengths"]
    assert sorted(signatures["decode"]["inputs"]) == ["noise", "temperature", "z"]
    assert sorted(signatures["decode"]["outputs"]) == ["one_hot", "tokens"]
    encode = interpreter.get_signature_runner("encode")
    decode = interpreter.get_signature_runner("decode")

    rng = np.random.default_rng(3)
    inputs, lengths, _ = random_encode_inputs(model, spec, rng, batch_size)
    got = encode(inputs=inputs, lengths=lengths)
    mu, sigma = model.encode(inputs, lengths)
    np.testing.assert_allclose(got["mu"], mu, atol=1e-4, rtol=0)
    np.testing.assert_allclose(got["sigma"], sigma, atol=1e-4, rtol=0)
    assert np.abs(mu).max() > 0.1

    z = rng.normal(size=(batch_size, model.z_size)).astype("float32")
    zeros = np.zeros((batch_size, model.max_seq_len, spec.noise_depth), "float32")
    got = decode(z=z, temperature=np.float32(0.0), noise=zeros)
    expected = model.decode(z, temperature=0)
    np.testing.assert_array_equal(got["tokens"], argmax_tokens(expected, spec.stream_depths))
    assert len(np.unique(got["tokens"])) > 3

    # Sampling: the same noise gives the same sample as the Keras model.
    noise = tflite_noise(spec, batch_size, seed=4)
    got = decode(z=z, temperature=np.float32(1.0), noise=noise)
    samples, _ = model.decode_tensors(z, 1.0, [noise])
    np.testing.assert_array_equal(got["one_hot"], np.asarray(samples))
    assert (got["tokens"] != argmax_tokens(expected, spec.stream_depths)).any()


def test_rejects_unknown_quantization_and_mixing_with_optimizations(tmp_path):
    import tensorflow as tf

    from keras_musicvae.export import export_tflite

    model = small_model("cat_mel_2bar_small")
    with pytest.raises(ValueError, match="'float16' or 'int8'; got 'int4'"):
        export_tflite(model, tmp_path / "a.tflite", quantization="int4")
    with pytest.raises(ValueError, match="either quantization or optimizations"):
        export_tflite(
            model, tmp_path / "b.tflite", quantization="int8", optimizations=[tf.lite.Optimize.DEFAULT]
        )
    assert not list(tmp_path.iterdir())


#: Accuracy bounds of the quantised files against the float32 file, for the
#: small random-weight model of `small_model` (weights N(0, 0.3): larger,
#: more sensitive logits than a trained model's; |mu| up to 1.5). Greedy
#: decoding feeds each token back, so one flipped argmax can change the rest
#: of its sequence. Measured on 16 sequences, three seeds (TF 2.21): float16
#: max |mu - mu32| 5e-4, token agreement 0.98-1.00; int8 0.011-0.018 and
#: 0.957-0.969. The bounds leave about 3x room on the errors.
QUANTIZATION_BOUNDS = {"float16": (0.002, 0.93), "int8": (0.05, 0.88)}


@pytest.mark.slow
def test_quantized_files_are_smaller_and_agree_with_float32(tmp_path):
    import tensorflow as tf

    from keras_musicvae.export import export_tflite
    from keras_musicvae.export.spec import ExportSpec

    model = small_model("cat_mel_2bar_small")
    spec = ExportSpec.from_model(model)
    # Batch 1 (the default): the files also hold float32 zero buffers of the
    # loops' stacked outputs, which grow with the batch and which int8
    # quantization leaves float32 (float16 halves them).
    paths = {q: export_tflite(model, tmp_path / f"{q}.tflite", quantization=q) for q in (None, "float16", "int8")}
    sizes = {q: p.stat().st_size for q, p in paths.items()}
    assert sizes["int8"] < sizes["float16"] < sizes[None], sizes

    rng = np.random.default_rng(5)
    examples = 16
    inputs, lengths, _ = random_encode_inputs(model, spec, rng, examples)
    z = rng.normal(size=(examples, model.z_size)).astype("float32")
    zeros = np.zeros((1, model.max_seq_len, spec.noise_depth), "float32")
    reference_signatures = tf.lite.Interpreter(model_path=str(paths[None])).get_signature_list()
    results = {}
    for q, path in paths.items():
        interpreter = tf.lite.Interpreter(model_path=str(path))
        assert interpreter.get_signature_list() == reference_signatures
        encode = interpreter.get_signature_runner("encode")
        decode = interpreter.get_signature_runner("decode")
        mus, tokens = [], []
        for i in range(examples):
            encoded = encode(inputs=inputs[i : i + 1], lengths=lengths[i : i + 1])
            decoded = decode(z=z[i : i + 1], temperature=np.float32(0.0), noise=zeros)
            assert decoded["tokens"].dtype == np.int32 and encoded["mu"].dtype == np.float32
            mus.append(encoded["mu"])
            tokens.append(decoded["tokens"])
        results[q] = np.concatenate(mus), np.concatenate(tokens)

    mu32, tokens32 = results[None]
    assert len(np.unique(tokens32)) > 3
    for q, (max_mu_error, min_agreement) in QUANTIZATION_BOUNDS.items():
        mu, tokens = results[q]
        error = np.abs(mu - mu32).max()
        agreement = (tokens == tokens32).mean()
        assert error <= max_mu_error, (q, error)
        assert agreement >= min_agreement, (q, agreement)


def test_decoder_only_model_exports_decode_alone(tmp_path):
    """`include_encoder=False`: one `decode` signature, a smaller file, the same tokens."""
    import tensorflow as tf

    from keras_musicvae import MusicVAE
    from keras_musicvae.export import export_tflite
    from keras_musicvae.export.spec import ExportSpec

    whole = small_model("cat_mel_2bar_small")
    whole.save_to_preset(tmp_path / "whole")
    model = MusicVAE.from_preset(tmp_path / "whole", include_encoder=False)
    spec = ExportSpec.from_model(model)
    whole_path = export_tflite(whole, tmp_path / "whole.tflite")
    path = export_tflite(model, tmp_path / "decoder.tflite")
    assert path.stat().st_size < whole_path.stat().st_size

    interpreter = tf.lite.Interpreter(model_path=str(path))
    assert sorted(interpreter.get_signature_list()) == ["decode"]
    z = np.random.default_rng(6).normal(size=(1, model.z_size)).astype("float32")
    zeros = np.zeros((1, model.max_seq_len, spec.noise_depth), "float32")
    got = interpreter.get_signature_runner("decode")(z=z, temperature=np.float32(0.0), noise=zeros)
    expected = whole.decode(z, temperature=0)
    np.testing.assert_array_equal(got["tokens"], argmax_tokens(expected, spec.stream_depths))
