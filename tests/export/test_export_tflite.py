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
