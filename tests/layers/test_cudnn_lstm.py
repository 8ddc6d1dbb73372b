"""`cudnn_lstm`: the TensorFlow GPU path gives the generic loop's numbers and gradients.

cuDNN's kernel only runs on a GPU. Everything around it runs here, through
the same path selection as on a GPU: a GPU is reported visible, and the
op is replaced by `_reference_cudnn_rnn`, which implements its documented
semantics (time-major inputs, the flat parameter buffer of eight `[H, D]` /
`[H, H]` matrices then eight biases, gate order input, forget, cell,
output, sequence lengths with zeros written past them) independently of
`cudnn_lstm.pack_params`. Each layer is then called with the path off
(`KERAS_MUSICVAE_CUDNN_LSTM=0`, the generic loop) and on, and the outputs
and the gradients of every weight are compared.
"""

import keras
import numpy as np
import pytest

from keras_musicvae.layers import cudnn_lstm
from keras_musicvae.layers import fused_lstm
from keras_musicvae.layers.bidirectional_encoder import BidirectionalEncoder
from keras_musicvae.layers.lstm import LSTMStack

from testing import assert_same_values_and_gradients
from testing import tensor

from .fused_lstm_cases import CASES
from .numpy_reference import randomize_weights

ON_TENSORFLOW = keras.backend.backend() == "tensorflow"
needs_tensorflow = pytest.mark.skipif(
    not ON_TENSORFLOW, reason="cuDNN's LSTM is the TensorFlow backend's GPU path only"
)


def _reference_cudnn_rnn(inputs, initial_h, initial_c, params, lengths):
    """`CudnnRNNV3` (LSTM, unidirectional, time-major) in plain TensorFlow ops."""
    import tensorflow as tf

    num_steps, _, depth = inputs.shape
    units = initial_h.shape[-1]
    offset, matrices, biases = 0, [], []
    for columns in (depth,) * 4 + (units,) * 4:
        matrices.append(tf.reshape(params[offset : offset + units * columns], [units, columns]))
        offset += units * columns
    for _ in range(8):
        biases.append(params[offset : offset + units])
        offset += units
    assert offset == params.shape[0]
    h, c = initial_h[0], initial_c[0]
    outputs = []
    for t in range(num_steps):
        gates = [
            tf.matmul(inputs[t], matrices[k], transpose_b=True)
            + tf.matmul(h, matrices[4 + k], transpose_b=True)
            + biases[k]
            + biases[4 + k]
            for k in range(4)
        ]
        new_c = tf.sigmoid(gates[1]) * c + tf.sigmoid(gates[0]) * tf.tanh(gates[2])
        new_h = tf.sigmoid(gates[3]) * tf.tanh(new_c)
        valid = (t < lengths)[:, None]
        h, c = tf.where(valid, new_h, h), tf.where(valid, new_c, c)
        outputs.append(tf.where(valid, new_h, tf.zeros_like(new_h)))
    return tf.stack(outputs), h[None], c[None]


@pytest.fixture
def fake_gpu(monkeypatch):
    """A visible 'GPU' whose cuDNN op is the reference; counts the calls."""
    calls = []

    def counted(*args):
        calls.append(1)
        return _reference_cudnn_rnn(*args)

    monkeypatch.setattr(cudnn_lstm, "_gpu_available", lambda: True)
    monkeypatch.setattr(cudnn_lstm, "_cudnn_rnn", counted)
    return calls


def test_the_path_needs_tensorflow_and_a_gpu():
    # No GPU on the test machines: the path is off on every backend.
    assert not cudnn_lstm.is_available("float32")
    assert fused_lstm.supports_jit("float32")


@needs_tensorflow
def test_the_path_is_taken_only_where_it_gives_the_same_numbers(fake_gpu, monkeypatch):
    assert cudnn_lstm.is_available("float32")
    assert fused_lstm.runner("float32") is cudnn_lstm.run
    assert not cudnn_lstm.is_available("float16")  # cell states stay float32 in the generic loop
    assert not cudnn_lstm.is_available("float32", training=True, dropout_rate=0.1)
    assert cudnn_lstm.is_available("float32", training=True, dropout_rate=0.0)
    # XLA cannot compile the op: the layers say so, Keras then trains without jit_compile.
    assert not LSTMStack([3]).supports_jit
    assert not BidirectionalEncoder([3]).supports_jit
    assert LSTMStack([3], dtype="mixed_float16").supports_jit
    monkeypatch.setenv(cudnn_lstm.ENVIRONMENT_VARIABLE, "0")
    assert not cudnn_lstm.is_available("float32")
    assert fused_lstm.runner("float32") is None
    assert LSTMStack([3]).supports_jit


def _values_and_gradients(layer, run, calls, monkeypatch):
    """The layer's output and the gradients of a weighted sum of it, generic then cuDNN."""
    import tensorflow as tf

    results = []
    for enabled in ("0", "1"):
        monkeypatch.setenv(cudnn_lstm.ENVIRONMENT_VARIABLE, enabled)
        calls.clear()
        with tf.GradientTape() as tape:
            output = run()
            weights = tf.reshape(tf.linspace(-1.0, 1.0, tf.size(output)), tf.shape(output))
            total = tf.reduce_sum(output * weights)
        assert bool(calls) == (enabled == "1")  # the cuDNN path ran in the second call only
        gradients = tape.gradient(total, [w.value for w in layer.trainable_weights])
        results.append((output.numpy(), [g.numpy() for g in gradients]))
    return results


@needs_tensorflow
@pytest.mark.parametrize("case", CASES, ids=lambda case: case.__name__)
def test_the_fused_kernel_gives_the_generic_numbers(case, fake_gpu, monkeypatch):
    layer, runs = case()
    for run in runs:
        assert_same_values_and_gradients(_values_and_gradients(layer, run, fake_gpu, monkeypatch))


@needs_tensorflow
def test_the_path_traces_inside_a_tf_function(fake_gpu):
    import tensorflow as tf

    encoder = BidirectionalEncoder([4], 3)
    encoder.build()
    randomize_weights(encoder, 4)
    inputs = np.random.default_rng(3).normal(size=(3, 6, 3)).astype("float32")
    lengths = np.array([6, 2, 0], "int32")
    eager = encoder(inputs, lengths=lengths).numpy()
    graph = tf.function(lambda x, n: encoder(x, lengths=n))(inputs, lengths).numpy()
    np.testing.assert_allclose(graph, eager, atol=1e-6)
    np.testing.assert_array_equal(eager[2], 0.0)  # an empty sequence encodes to zeros


@needs_tensorflow
def test_exports_are_traced_without_the_gpu_only_op(fake_gpu):
    from keras_musicvae.export.saved_model import build_serving_module
    from keras_musicvae.export.tflite import _tflite_module
    from keras_musicvae.export.spec import ExportSpec

    from testing import tiny_music_vae

    model = tiny_music_vae()
    model.encode_tensors(*_tiny_batch(model))
    assert fake_gpu  # the model's own calls take the cuDNN path here
    fake_gpu.clear()
    build_serving_module(model)
    _tflite_module(model, ExportSpec.from_model(model), 1)
    assert not fake_gpu  # the serving graphs hold no cuDNN op


def _tiny_batch(model):
    from testing import TINY_DEPTH, TINY_STEPS

    tokens = np.random.default_rng(5).integers(0, TINY_DEPTH, (2, TINY_STEPS))
    return tensor(np.eye(TINY_DEPTH, dtype="float32")[tokens]), tensor(np.array([6, 3]), "int32")
