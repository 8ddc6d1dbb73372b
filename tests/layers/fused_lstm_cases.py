"""The layer calls every fused LSTM kernel is compared on (`test_torch_lstm.py`,
`test_cudnn_lstm.py`): each builder returns a layer with random weights and
the calls to compare, fused kernel against the generic loop."""

import numpy as np

from keras_musicvae.layers.bar_decoder import BarDecoder
from keras_musicvae.layers.bidirectional_encoder import BidirectionalEncoder
from keras_musicvae.layers.heads import CategoricalHead
from keras_musicvae.layers.lstm import LSTMStack

from testing import tensor

from .numpy_reference import randomize_weights


def bidirectional_encoder_with_lengths_including_zero():
    rng = np.random.default_rng(0)
    encoder = BidirectionalEncoder([5, 4], 3)
    encoder.build()
    randomize_weights(encoder, 1)
    inputs = tensor(rng.normal(size=(5, 7, 3)).astype("float32"))
    lengths = tensor(np.array([7, 3, 1, 0, 5], "int32"))
    return encoder, [lambda: encoder(inputs, lengths=lengths), lambda: encoder(inputs)]


def lstm_stack_with_an_initial_state():
    rng = np.random.default_rng(1)
    stack = LSTMStack([4, 3])
    stack.build((None, None, 6))
    randomize_weights(stack, 2)
    inputs = tensor(rng.normal(size=(2, 5, 6)).astype("float32"))
    state = [(tensor(rng.normal(size=(2, u)).astype("float32")),) * 2 for u in (4, 3)]
    return stack, [lambda: stack(inputs, initial_state=state)[0]]


def bar_decoder_teacher_forcing_in_training():
    rng = np.random.default_rng(2)
    decoder = BarDecoder([4, 4], CategoricalHead(6, 4), conditioning_dim=3)
    decoder.build()
    randomize_weights(decoder, 3)
    tokens = tensor(np.eye(6, dtype="float32")[rng.integers(0, 6, (2, 5))])
    z = tensor(rng.normal(size=(2, 3)).astype("float32"))
    return decoder, [lambda: decoder(tokens, z, training=True)]


CASES = [
    bidirectional_encoder_with_lengths_including_zero,
    lstm_stack_with_an_initial_state,
    bar_decoder_teacher_forcing_in_training,
]
