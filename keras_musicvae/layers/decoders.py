"""Sequence decoders: flat (`cat-*`, `flat-*`, `nade-*`, `groovae_*`) and
hierarchical (`hierdec-*`, `hier-*`, conductor + bar decoders)."""

import keras
from keras import ops

from keras_musicvae.layers.bar_decoder import BarDecoder
from keras_musicvae.layers.conductor import Conductor
from keras_musicvae.layers.decoding import run_decoding_loop
from keras_musicvae.layers.heads.output_head import stream_seed
from keras_musicvae.utils.building import build_once
from keras_musicvae.utils.splitting import split_by_sizes


class SequenceDecoder(keras.layers.Layer):
    """What flat and hierarchical decoders share.

    A decoder turns z into `num_segments` conditioning vectors (z itself for
    a flat decoder, the conductor's embeddings for a hierarchical one) and
    runs one `BarDecoder` per output stream over every segment. Streams split
    the output depth (trio with `split_streams`: melody 90, bass 90, drums
    512); each stream sees only its own previous outputs.

    Subclasses implement `segment_conditionings(z, training)`.
    """

    def __init__(self, bar_decoders, num_segments, segment_length, **kwargs):
        super().__init__(**kwargs)
        self.bar_decoders = list(bar_decoders)
        self.num_segments = int(num_segments)
        self.segment_length = int(segment_length)

    @property
    def output_depths(self):
        return [d.token_depth for d in self.bar_decoders]

    @property
    def logits_depths(self):
        return [d.head.logits_depth for d in self.bar_decoders]

    @property
    def output_depth(self):
        return sum(self.output_depths)

    @property
    def logits_depth(self):
        return sum(self.logits_depths)

    @property
    def max_length(self):
        return self.num_segments * self.segment_length

    @property
    def heads(self):
        return [d.head for d in self.bar_decoders]

    def segment_conditionings(self, z, training=False):
        raise NotImplementedError

    def segment_length_for(self, num_steps):
        """Steps per segment when decoding `num_steps` steps."""
        if self.num_segments == 1:
            return int(num_steps)
        if int(num_steps) != self.max_length:
            raise ValueError(
                f"A hierarchical decoder decodes exactly {self.max_length} steps "
                f"({self.num_segments} segments of {self.segment_length}); got {num_steps}."
            )
        return self.segment_length

    # -- splitting by stream -------------------------------------------------
    @staticmethod
    def _split(x, depths):
        return split_by_sizes(x, depths)

    def split_targets(self, x):
        return self._split(x, self.output_depths)

    def split_logits(self, x):
        return self._split(x, self.logits_depths)

    # -- losses and metrics --------------------------------------------------
    def step_losses(self, targets, logits):
        """Summed over streams, per step: `[B, T]`."""
        total = 0.0
        for head, t, l in zip(self.heads, self.split_targets(targets), self.split_logits(logits)):
            total = total + head.step_loss(t, l)
        return total

    def step_accuracy(self, targets, logits):
        """Mean over streams of the per-step correctness, `[B, T]`."""
        parts = [
            head.step_accuracy(t, l)
            for head, t, l in zip(self.heads, self.split_targets(targets), self.split_logits(logits))
        ]
        return parts[0] if len(parts) == 1 else ops.mean(ops.stack(parts, -1), axis=-1)

    def stream_accuracy(self, targets, logits):
        """Per-stream correctness `[B, T, num_streams]` (trio: mel, bass, drums)."""
        if len(self.heads) == 1 and hasattr(self.heads[0], "stream_accuracy"):
            return self.heads[0].stream_accuracy(targets, logits)
        parts = [
            head.step_accuracy(t, l)
            for head, t, l in zip(self.heads, self.split_targets(targets), self.split_logits(logits))
        ]
        return ops.stack(parts, -1)

    def sample_correct(self, samples, targets):
        """Per-step, per-stream correctness `[B, T, num_streams]` (bool) of
        decoded `samples` against `targets` (each head decides what "right" is)."""
        parts = [
            head.sample_correct(s, t)
            for head, s, t in zip(self.heads, self.split_targets(samples), self.split_targets(targets))
        ]
        return parts[0] if len(parts) == 1 else ops.concatenate(parts, axis=-1)

    @property
    def class_logits(self):
        """Whether every head gives per-step class logits (see `OutputHead.class_logits`)."""
        return all(head.class_logits for head in self.heads)

    @property
    def num_streams(self):
        """Streams of the output (trio: 3), the last axis of `sample_correct`."""
        return sum(len(head.stream_depths) for head in self.heads)

    # -- noise ---------------------------------------------------------------
    def make_noise(self, batch_size, seed, length=None):
        """Per-stream sampling noise `[B, T, noise_depth]` for `decode`."""
        length = self.max_length if length is None else length
        return [
            head.make_noise((batch_size, length), stream_seed(seed, i))
            for i, head in enumerate(self.heads)
        ]

    # -- teacher forcing / scheduled sampling --------------------------------
    def call(
        self,
        z,
        decoder_inputs,
        controls=None,
        training=False,
        use_sample=None,
        noise_seed=None,
    ):
        """Teacher-forced logits `[B, T, logits_depth]`.

        Args:
            z: `[B, z_size]`.
            decoder_inputs: `[B, T, output_depth]`, targets shifted right.
            controls: `[B, T, control_depth]` or None.
            training: bool.
            use_sample: None for pure teacher forcing, or `[B, T]` bool for
                scheduled sampling (feed the model's own sample there).
            noise_seed: seed of the scheduled-sampling noise.
        """
        conditionings = self.segment_conditionings(z, training=training)
        stream_inputs = self.split_targets(decoder_inputs)
        num_steps = decoder_inputs.shape[1]
        segment_length = self.segment_length_for(num_steps)
        if use_sample is not None:
            batch_size = ops.shape(z)[0]
            noises = [h.make_noise((batch_size, num_steps), noise_seed) for h in self.heads]
            # Every stream of a decoder has the same kind of head.
            temperature = self.heads[0].scheduled_sampling_temperature
            _, logits = run_decoding_loop(
                self.bar_decoders,
                conditionings,
                segment_length,
                temperature,
                noises,
                controls=controls,
                teacher_inputs=stream_inputs,
                use_sample=use_sample,
                training=training,
            )
            return ops.concatenate(logits, axis=-1) if len(logits) > 1 else logits[0]
        flat_conditionings = ops.reshape(conditionings, (-1, conditionings.shape[-1]))

        def by_segment(x):
            if self.num_segments == 1:
                return x
            return ops.reshape(x, (-1, self.segment_length, x.shape[-1]))

        segment_controls = None if controls is None else by_segment(controls)
        logits = []
        for decoder, inputs in zip(self.bar_decoders, stream_inputs):
            stream_logits = decoder(
                by_segment(inputs), flat_conditionings, segment_controls, training=training
            )
            if self.num_segments > 1:
                stream_logits = ops.reshape(
                    stream_logits, (-1, num_steps, stream_logits.shape[-1])
                )
            logits.append(stream_logits)
        return ops.concatenate(logits, axis=-1) if len(logits) > 1 else logits[0]

    # -- free running --------------------------------------------------------
    def decode(self, z, temperature, noises, controls=None, start_tokens=None):
        """Samples as many steps as the noise has (`max_length` when hierarchical).

        Returns:
            `(samples [B, T, output_depth], logits [B, T, logits_depth])`.
        """
        conditionings = self.segment_conditionings(z, training=False)
        samples, logits = run_decoding_loop(
            self.bar_decoders,
            conditionings,
            self.segment_length_for(noises[0].shape[1]),
            temperature,
            noises,
            controls=controls,
            start_tokens=None if start_tokens is None else self.split_targets(start_tokens),
        )
        if len(samples) == 1:
            return samples[0], logits[0]
        return ops.concatenate(samples, axis=-1), ops.concatenate(logits, axis=-1)

    def build(self, input_shape=None):
        for decoder in self.bar_decoders:
            build_once(decoder)
        self.built = True

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "bar_decoders": [keras.saving.serialize_keras_object(d) for d in self.bar_decoders],
            }
        )
        return config


def _deserialize_all(items):
    return [
        keras.saving.deserialize_keras_object(d) if isinstance(d, dict) else d for d in items
    ]


@keras.saving.register_keras_serializable(package="keras_musicvae")
class FlatDecoder(SequenceDecoder):
    """One bar decoder over the whole sequence, conditioned on z.

    Args:
        bar_decoders: list of `BarDecoder` (one; the flat trio uses one
            decoder with a multi-stream head).
        max_length: int, steps per sequence.
    """

    def __init__(self, bar_decoders, max_length, **kwargs):
        super().__init__(_deserialize_all(bar_decoders), 1, max_length, **kwargs)

    def segment_conditionings(self, z, training=False):
        return ops.expand_dims(z, 1)

    def get_config(self):
        config = super().get_config()
        config["max_length"] = self.max_length
        return config


@keras.saving.register_keras_serializable(package="keras_musicvae")
class HierarchicalDecoder(SequenceDecoder):
    """Conductor + bar decoder(s) (Magenta's `HierarchicalLstmDecoder`).

    The conductor turns z into one embedding per segment; each segment is
    decoded by the bar decoder(s) from its embedding. Teacher-forced, all
    segments are independent given their embeddings and inputs, so they run
    as one batch of `B * num_segments` sequences.

    Args:
        conductor: a `Conductor`.
        bar_decoders: list of `BarDecoder`, one per stream.
        segment_length: int, steps per segment (16 for bars).
    """

    def __init__(self, conductor, bar_decoders, segment_length, **kwargs):
        if isinstance(conductor, dict):
            conductor = keras.saving.deserialize_keras_object(conductor)
        super().__init__(
            _deserialize_all(bar_decoders), conductor.num_segments, segment_length, **kwargs
        )
        self.conductor = conductor

    def segment_conditionings(self, z, training=False):
        return self.conductor(z, training=training)

    def build(self, input_shape=None):
        build_once(self.conductor)
        super().build(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "conductor": keras.saving.serialize_keras_object(self.conductor),
                "segment_length": self.segment_length,
            }
        )
        return config
