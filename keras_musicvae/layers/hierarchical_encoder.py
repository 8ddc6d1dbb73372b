"""Hierarchical encoder (Magenta's `HierarchicalLstmEncoder`, `hier-*` presets)."""

import math

import keras
from keras import ops

from keras_musicvae.layers.bidirectional_encoder import BidirectionalEncoder
from keras_musicvae.utils.building import build_once
from keras_musicvae.utils.building import resolve_input_dim


@keras.saving.register_keras_serializable(package="keras_musicvae")
class HierarchicalEncoder(keras.layers.Layer):
    """Bidirectional encoders applied level by level over segments.

    With `level_lengths=[16, 16]` (16-bar presets) level 0 encodes each of the
    16 bars (16 steps) independently, with the same weights and in one batched
    call; level 1 encodes the sequence of 16 bar embeddings into one vector.
    With `[64, 8]` (multiperf) level 0 encodes 8 track slots of 64 events.

    Lengths: `[B]` (every length is then split evenly over the level-0
    segments, `length // num_segments`, as Magenta) or `[B, num_segments]`
    (one length per segment, e.g. multiperf track slots).

    Args:
        units: list of ints, `enc_rnn_size` of every level's encoder.
        level_lengths: list of ints whose product is the sequence length.
        input_dim: int, depth of the input; None: taken from the shape the
            layer is built with (its first call).
        dropout_rate: float, input dropout in training.
        kernel_initializer: "keras" or "magenta" (see
            `keras_musicvae.layers.lstm.lstm_initializers`).

    Call arguments:
        inputs: `[B, T, input_dim]`, `T = prod(level_lengths)`.
        lengths: optional int `[B]` or `[B, T // level_lengths[0]]`.
        training: bool.
        return_level_outputs: also return the embeddings of every level
            below the top (`[B, n_l, 2 * units[-1]]` each).

    Returns:
        `[B, 2 * units[-1]]` (and the list of level outputs).
    """

    def __init__(
        self, units, level_lengths, input_dim=None, dropout_rate=0.0, kernel_initializer="keras", **kwargs
    ):
        super().__init__(**kwargs)
        self.units = [int(u) for u in units]
        self.level_lengths = [int(n) for n in level_lengths]
        self.input_dim = None if input_dim is None else int(input_dim)
        self.dropout_rate = float(dropout_rate)
        self.kernel_initializer = kernel_initializer
        self.levels = []
        level_input = self.input_dim
        for level in range(len(self.level_lengths)):
            encoder = BidirectionalEncoder(
                self.units,
                level_input,
                dropout_rate=self.dropout_rate,
                kernel_initializer=self.kernel_initializer,
                name=f"level_{level}",
                dtype=self.dtype_policy,
            )
            self.levels.append(encoder)
            level_input = encoder.output_dim

    @property
    def output_dim(self):
        return 2 * self.units[-1]

    @property
    def total_length(self):
        return math.prod(self.level_lengths)

    def build(self, input_shape=None):
        self.input_dim = resolve_input_dim(self, self.input_dim, input_shape)
        # Level 0 reads the input; every level above reads the embeddings of
        # the level below.
        build_once(self.levels[0], (None, None, self.input_dim))
        for encoder in self.levels[1:]:
            build_once(encoder)
        self.built = True

    def call(self, inputs, lengths=None, training=False, return_level_outputs=False):
        batch_size = ops.shape(inputs)[0]
        num_segments = self.total_length // self.level_lengths[0]
        segment_lengths = None
        if lengths is not None:
            lengths = ops.cast(lengths, "int32")
            if len(lengths.shape) == 1:
                segment_lengths = ops.repeat(
                    ops.expand_dims(lengths // num_segments, 1), num_segments, axis=1
                )
            else:
                segment_lengths = lengths
        sequence = inputs
        level_outputs = []
        for level, encoder in enumerate(self.levels):
            chunk = self.level_lengths[level]
            num_chunks = self.total_length // math.prod(self.level_lengths[: level + 1])
            depth = sequence.shape[-1]
            chunks = ops.reshape(sequence, (-1, chunk, depth))
            chunk_lengths = None
            if level == 0 and segment_lengths is not None:
                chunk_lengths = ops.reshape(segment_lengths, (-1,))
            embeddings = encoder(chunks, lengths=chunk_lengths, training=training)
            sequence = ops.reshape(embeddings, (batch_size, num_chunks, encoder.output_dim))
            if level < len(self.levels) - 1:
                level_outputs.append(sequence)
        encoding = sequence[:, 0]
        if return_level_outputs:
            return encoding, level_outputs
        return encoding

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "level_lengths": self.level_lengths,
                "input_dim": self.input_dim,
                "dropout_rate": self.dropout_rate,
                "kernel_initializer": self.kernel_initializer,
            }
        )
        return config
