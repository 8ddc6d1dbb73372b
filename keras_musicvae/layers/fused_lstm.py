"""Which fused LSTM kernel, if any, runs a teacher-forced recurrence.

The layers run their recurrences over whole, known sequences (the encoders;
the decoders under teacher forcing) on a backend's own fused LSTM where one
gives the generic loop's numbers: PyTorch's `torch.nn.LSTM` on the torch
backend (CPU and GPU, `torch_lstm.py`), and cuDNN on TensorFlow with a GPU
(`cudnn_lstm.py`). Both modules share one contract (`run(inputs, weights,
initial_states, lengths)`, see `torch_lstm.run`). Everything else (JAX,
TensorFlow on a CPU, half precision, dropout in training, masks other than
lengths) runs the generic loop of `lstm_recurrence.py`.
"""

from keras_musicvae.layers import cudnn_lstm
from keras_musicvae.layers import torch_lstm


def runner(compute_dtype, training=False, dropout_rate=0.0):
    """The `run` function of the fused kernel for a layer's recurrence, or None.

    Args:
        compute_dtype: the layer's compute dtype.
        training: whether the call is in training mode.
        dropout_rate: the layer's input dropout (drawn only in training).
    """
    for module in (torch_lstm, cudnn_lstm):
        if module.is_available(compute_dtype, training, dropout_rate):
            return module.run
    return None


def supports_jit(compute_dtype):
    """False where a fused kernel that XLA cannot compile may run for a
    layer of this compute dtype (cuDNN on TensorFlow): layers set their
    `supports_jit` from it, as Keras' LSTM does, so that Keras trains them
    without `jit_compile`."""
    return not cudnn_lstm.is_available(compute_dtype)
