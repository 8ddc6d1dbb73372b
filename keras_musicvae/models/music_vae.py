"""`MusicVAE`: the hierarchical recurrent VAE of Roberts et al. (ICML 2018)."""

import logging

import keras
from keras import ops

from keras_musicvae.layers.bar_decoder import BarDecoder
from keras_musicvae.layers.bidirectional_encoder import BidirectionalEncoder
from keras_musicvae.layers.conductor import Conductor
from keras_musicvae.layers.decoders import FlatDecoder
from keras_musicvae.layers.decoders import HierarchicalDecoder
from keras_musicvae.layers.heads import CategoricalHead
from keras_musicvae.layers.heads import GrooveHead
from keras_musicvae.layers.heads import MultiStreamCategoricalHead
from keras_musicvae.layers.heads import NadeHead
from keras_musicvae.layers.hierarchical_encoder import HierarchicalEncoder
from keras_musicvae.layers.latent_head import LatentHead
from keras_musicvae.models import schedules
from keras_musicvae.models.array_api import ArrayMethods
from keras_musicvae.models.arguments import checked_int
from keras_musicvae.models.arguments import OUTPUT_HEADS  # noqa: F401 - public here
from keras_musicvae.models.arguments import int_list
from keras_musicvae.models.arguments import validate_hyperparameters
from keras_musicvae.models.sequence_api import SequenceMethods
from keras_musicvae.models.training_api import TrainingMethods

logger = logging.getLogger(__name__)


@keras.saving.register_keras_serializable(package="keras_musicvae")
class MusicVAE(TrainingMethods, ArrayMethods, SequenceMethods, keras.Model):
    """MusicVAE: a bidirectional (or hierarchical) LSTM encoder, a Gaussian
    latent, and a flat or hierarchical (conductor + bar) LSTM decoder.

    Hyperparameters carry Magenta's names. A batch is a dict: `inputs`
    `[B, T, input_depth]`, `targets` `[B, T, output_depth]`, `lengths` int
    `[B]` (or `[B, num_segments]`), and `controls` `[B, T, control_depth]`
    when `control_depth > 0`; optionally `posterior_noise` `[B, z_size]`,
    the N(0, 1) draws of the training-time sample `z = mu + sigma * noise`
    (reproducible training, e.g. replaying another implementation's steps;
    drawn from the model's seed generator when absent, ignored outside
    training). `model.fit(dataset)` takes batches with no
    separate `y`; `model(batch)` returns a dict `mu`, `sigma`, `z` (`mu`
    unless training) and `logits` `[B, T, U]`, the teacher-forced decoder
    outputs before any softmax / sigmoid (U = output depth; for NADE heads
    the NADE biases).

    Training follows Magenta: per-sequence summed reconstruction loss, KL
    against N(0, I) with free bits, `beta` annealing, the learning-rate decay
    of `MagentaLearningRate`, Adam with global-norm clipping
    (`MusicVAEAdam`), and scheduled sampling. `compile()` with no optimizer
    sets that optimizer up.

    Args:
        input_depth: int, encoder input depth (without controls).
        output_depth: int, decoder output depth.
        max_seq_len: int, steps per sequence (longer inputs are truncated).
        z_size: int, latent size.
        enc_rnn_size: list of ints, encoder units per direction per layer.
        dec_rnn_size: list of ints, decoder (and conductor) units per layer.
        encoder_level_lengths: None (bidirectional encoder) or the level
            lengths of a hierarchical encoder (e.g. `[16, 16]`).
        decoder_level_lengths: None (flat decoder) or `[num_segments,
            segment_length]` of a hierarchical decoder (e.g. `[16, 16]`).
        output_head: "categorical", "multi_categorical" (flat trio),
            "groove" or "nade".
        output_depths: stream depths for "multi_categorical" or for
            `split_streams` (trio: `[90, 90, 512]`).
        split_streams: hierarchical trio: one bar decoder per stream.
        control_depth: int, depth of the control sequence (chords: 49;
            GrooVAE hits as controls: 9), concatenated to the encoder and
            decoder inputs.
        nade_num_hidden: int, NADE hidden units ("nade" head).
        free_bits, max_beta, beta_rate: KL settings.
        sampling_schedule, sampling_rate: scheduled sampling.
        dropout_keep_prob: float, LSTM input keep probability in training.
        lstm_initializer: "keras" (Keras' LSTM defaults: Glorot-uniform
            input kernels, orthogonal recurrent kernels) or "magenta"
            (Magenta's: one Glorot-uniform draw over each cell's
            concatenated `[input + units, 4 units]` kernel; the built-in
            presets use it). Only fresh weights depend on it.
        learning_rate, decay_rate, min_learning_rate, grad_clip,
            grad_norm_clip_to_zero: optimizer settings used by `compile()`.
        batch_size: int, the published training batch size (used by the
            training tools; the model itself takes any batch).
        converter: optional data converter config (`{"class_name",
            "config"}`) of the preset; `model.converter` builds it.
        augmentation: optional training-time augmentation settings of the
            preset (e.g. `{"transpose_range": [-5, 5]}`).
        include_encoder: bool, build the encoder and the latent head
            (default). False builds a decoder-only model for sampling and
            decoding latent vectors (`sample`, `decode`, `decode_to_sequences`,
            `interpolate` between given z): it skips the encoder's weights
            (145.6 M of hierdec_trio_16bar's 231 M parameters), and loading a
            whole model's weights into it reads only the decoder's. Encoding,
            training and export need the whole model and say so.
        dtype: a Keras dtype policy (name, `keras.DTypePolicy` or its
            config): "float32" (default: the global policy),
            "mixed_bfloat16" or "mixed_float16" for training (float32
            variables, half-precision products; `compile()` adds loss
            scaling for "mixed_float16"), "bfloat16" for inference (weights
            and products in bfloat16). Every sublayer gets this policy.

    Precision: the encoder and decoder LSTMs (their hand-written backward
    pass included), the heads' projections and the sampling loop run in the
    compute dtype; kept in float32 whatever the policy are the LSTM cell
    states, the posterior (`mu`, `sigma`, z), log-softmax / sigmoid of the
    losses and the sampling decisions, the loss, the KL and the metrics
    (`loss_terms`), and the optimizer (it updates a mixed policy's float32
    variables). Why, part by part: `keras_musicvae/layers/precision.py`.
    `model(batch)` returns `mu`, `sigma`, z in float32 and `logits` in the
    compute dtype; the NumPy API (`encode`, `decode`, `sample`, ...) returns
    float32.
    """

    def __init__(
        self,
        input_depth,
        output_depth,
        max_seq_len,
        z_size,
        enc_rnn_size,
        dec_rnn_size,
        encoder_level_lengths=None,
        decoder_level_lengths=None,
        output_head="categorical",
        output_depths=None,
        split_streams=False,
        control_depth=0,
        nade_num_hidden=128,
        free_bits=0.0,
        max_beta=1.0,
        beta_rate=0.0,
        sampling_schedule="constant",
        sampling_rate=0.0,
        dropout_keep_prob=1.0,
        lstm_initializer="keras",
        learning_rate=1e-3,
        decay_rate=0.9999,
        min_learning_rate=1e-5,
        grad_clip=1.0,
        grad_norm_clip_to_zero=10000.0,
        batch_size=512,
        converter=None,
        augmentation=None,
        include_encoder=True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.input_depth = checked_int(input_depth, "input_depth", 1)
        self.output_depth = checked_int(output_depth, "output_depth", 1)
        self.max_seq_len = checked_int(max_seq_len, "max_seq_len", 1)
        self.z_size = checked_int(z_size, "z_size", 1)
        self.enc_rnn_size = int_list(enc_rnn_size, "enc_rnn_size")
        self.dec_rnn_size = int_list(dec_rnn_size, "dec_rnn_size")
        self.encoder_level_lengths = (
            None if encoder_level_lengths is None else int_list(encoder_level_lengths, "encoder_level_lengths")
        )
        self.decoder_level_lengths = (
            None if decoder_level_lengths is None else int_list(decoder_level_lengths, "decoder_level_lengths")
        )
        self.output_head = output_head
        self.output_depths = None if output_depths is None else int_list(output_depths, "output_depths")
        self.split_streams = bool(split_streams)
        self.control_depth = checked_int(control_depth, "control_depth", 0)
        self.nade_num_hidden = checked_int(nade_num_hidden, "nade_num_hidden", 0)
        self.free_bits = float(free_bits)
        self.max_beta = float(max_beta)
        self.beta_rate = float(beta_rate)
        self.sampling_schedule = sampling_schedule
        self.sampling_rate = float(sampling_rate)
        self.dropout_keep_prob = float(dropout_keep_prob)
        self.lstm_initializer = lstm_initializer
        self.learning_rate = float(learning_rate)
        self.decay_rate = float(decay_rate)
        self.min_learning_rate = float(min_learning_rate)
        self.grad_clip = float(grad_clip)
        self.grad_norm_clip_to_zero = float(grad_norm_clip_to_zero)
        self.batch_size = checked_int(batch_size, "batch_size", 1)
        self.converter_config = converter
        self.augmentation = augmentation
        self.include_encoder = bool(include_encoder)
        self._converter = None
        validate_hyperparameters(self)

        dropout_rate = 1.0 - self.dropout_keep_prob
        # Every sublayer computes under the model's dtype policy.
        policy = self.dtype_policy
        self.encoder, self.latent = (
            self._make_encoder(dropout_rate) if self.include_encoder else (None, None)
        )

        if self.decoder_level_lengths:
            num_segments, segment_length = self.decoder_level_lengths
            conductor = Conductor(
                self.dec_rnn_size,
                num_segments,
                self.z_size,
                dropout_rate=dropout_rate,
                kernel_initializer=self.lstm_initializer,
                name="conductor",
                dtype=policy,
            )
            conditioning_dim = self.dec_rnn_size[-1]
        else:
            conditioning_dim = self.z_size
        if self.split_streams:
            bar_decoders = [
                BarDecoder(
                    self.dec_rnn_size,
                    self._make_head(depth, f"head_{i}", kind="categorical"),
                    conditioning_dim,
                    self.control_depth,
                    dropout_rate=dropout_rate,
                    kernel_initializer=self.lstm_initializer,
                    name=f"bar_decoder_{i}",
                    dtype=policy,
                )
                for i, depth in enumerate(self.output_depths)
            ]
        else:
            bar_decoders = [
                BarDecoder(
                    self.dec_rnn_size,
                    self._make_head(self.output_depth, "head"),
                    conditioning_dim,
                    self.control_depth,
                    dropout_rate=dropout_rate,
                    kernel_initializer=self.lstm_initializer,
                    name="bar_decoder",
                    dtype=policy,
                )
            ]
        if self.decoder_level_lengths:
            self.decoder = HierarchicalDecoder(
                conductor,
                bar_decoders,
                self.decoder_level_lengths[1],
                name="decoder",
                dtype=policy,
            )
        else:
            self.decoder = FlatDecoder(bar_decoders, self.max_seq_len, name="decoder", dtype=policy)

        self._seed_generator = keras.random.SeedGenerator(name="sampling_seed")
        if self.include_encoder:
            self.encoder.build()
            self.latent.build()
        self.decoder.build()
        # Magenta's `global_step`: training steps taken; read by the KL and
        # scheduled-sampling schedules, advanced by the training forward
        # pass (`_advance_step`).
        self.global_step = self.add_weight(
            name="global_step", shape=(), dtype="int32", initializer="zeros", trainable=False
        )
        self.built = True

        self.r_loss_tracker = keras.metrics.Mean(name="r_loss")
        self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")
        self.kl_bits_tracker = keras.metrics.Mean(name="kl_bits")
        self.kl_beta_tracker = keras.metrics.Mean(name="kl_beta")
        self.accuracy_tracker = keras.metrics.Mean(name="accuracy")
        self.sampling_probability_tracker = keras.metrics.Mean(name="sampling_probability")
        self._compiled = {}

    # ------------------------------------------------------------------ setup
    def _make_encoder(self, dropout_rate):
        """The encoder (bidirectional or hierarchical) and the latent head."""
        policy = self.dtype_policy
        encoder_input_dim = self.input_depth + self.control_depth
        settings = dict(
            dropout_rate=dropout_rate, kernel_initializer=self.lstm_initializer, name="encoder", dtype=policy
        )
        if self.encoder_level_lengths:
            encoder = HierarchicalEncoder(
                self.enc_rnn_size, self.encoder_level_lengths, encoder_input_dim, **settings
            )
        else:
            encoder = BidirectionalEncoder(self.enc_rnn_size, encoder_input_dim, **settings)
        return encoder, LatentHead(self.z_size, encoder.output_dim, name="latent", dtype=policy)

    def require_encoder(self, purpose):
        """Raises ValueError when this model was built without its encoder.

        Args:
            purpose: what needs the encoder, for the message (e.g. "encoding").
        """
        if not self.include_encoder:
            raise ValueError(
                f"{purpose[:1].upper()}{purpose[1:]} needs the encoder, and this model was built without it "
                f"(include_encoder=False, a decoder-only model for sampling and decoding). Load it "
                "with include_encoder=True (the default), e.g. "
                "MusicVAE.from_preset(preset, include_encoder=True)."
            )

    def _make_head(self, depth, name, kind=None):
        kind = kind or self.output_head
        units = self.dec_rnn_size[-1]
        policy = self.dtype_policy
        if kind == "categorical":
            return CategoricalHead(depth, units, name=name, dtype=policy)
        if kind == "multi_categorical":
            return MultiStreamCategoricalHead(self.output_depths, units, name=name, dtype=policy)
        if kind == "groove":
            return GrooveHead(depth // 3, units, name=name, dtype=policy)
        return NadeHead(depth, self.nade_num_hidden, units, name=name, dtype=policy)

    @property
    def converter(self):
        """The preset's data converter (a `DataConverter`), or None."""
        if self._converter is None and self.converter_config:
            from keras_musicvae.data.converter import converter_from_config

            self._converter = converter_from_config(self.converter_config)
        return self._converter

    # `make_optimizer`, `align_learning_rate_to_step`, `compile`, `loss_terms`,
    # `compute_loss` (Magenta's objective and optimizer) and the step counter
    # (`_advance_step`): `TrainingMethods`.

    # --------------------------------------------------------------- helpers
    def _prepare(self, batch):
        """Casts and truncates a batch dict to `max_seq_len`."""
        if not isinstance(batch, dict):
            raise TypeError(
                "MusicVAE takes a dict batch with keys 'inputs', 'targets', 'lengths' "
                f"(and 'controls'); got {type(batch).__name__}."
            )
        missing = [k for k in ("inputs", "targets") if k not in batch]
        if missing:
            raise ValueError(f"The batch lacks {missing}; it has {sorted(batch)}.")
        inputs = ops.cast(batch["inputs"], self.compute_dtype)[:, : self.max_seq_len]
        targets = ops.cast(batch["targets"], self.compute_dtype)[:, : self.max_seq_len]
        self._check_depth(inputs, self.input_depth, "inputs")
        self._check_depth(targets, self.output_depth, "targets")
        num_steps = inputs.shape[1]
        lengths = batch.get("lengths")
        if lengths is None:
            lengths = ops.full((ops.shape(inputs)[0],), num_steps, dtype="int32")
        lengths = ops.minimum(ops.cast(lengths, "int32"), num_steps)
        controls = self._prepare_controls(batch.get("controls"), num_steps)
        return inputs, targets, lengths, controls

    def _prepare_controls(self, controls, num_steps):
        if self.control_depth == 0:
            return None
        if controls is None:
            raise ValueError(
                f"This model is conditioned on controls of depth {self.control_depth}: "
                "the batch needs 'controls'."
            )
        controls = ops.cast(controls, self.compute_dtype)[:, :num_steps]
        self._check_depth(controls, self.control_depth, "controls")
        return controls

    @staticmethod
    def _check_depth(x, depth, name):
        if len(x.shape) != 3 or (x.shape[-1] is not None and x.shape[-1] != depth):
            raise ValueError(
                f"'{name}' must be [batch, time, {depth}]; got shape {tuple(x.shape)}."
            )

    def _encoder_inputs(self, inputs, controls):
        if controls is not None:
            return ops.concatenate([inputs, controls], axis=-1)
        return inputs

    def step_mask(self, lengths, num_steps):
        """`[B, T]` float mask of the valid steps of each sequence.

        With per-segment lengths `[B, S]`, step t of segment s = t // L is
        valid when `t % L < lengths[:, s]`.
        """
        lengths = ops.cast(lengths, "int32")
        steps = ops.arange(num_steps, dtype="int32")
        if len(lengths.shape) == 2:
            segment_length = num_steps // lengths.shape[1]
            per_step = ops.repeat(lengths, segment_length, axis=1)
            return ops.cast(steps[None, :] % segment_length < per_step, self.compute_dtype)
        return ops.cast(steps[None, :] < lengths[:, None], self.compute_dtype)

    @staticmethod
    def shift_right(targets):
        """Decoder teacher-forcing inputs: zeros, then targets[:, :-1]."""
        return ops.pad(targets[:, :-1], ((0, 0), (1, 0), (0, 0)))

    def _encoder_lengths(self, lengths, num_steps):
        if self.encoder_level_lengths is None and len(lengths.shape) == 2:
            # Per-segment lengths with a flat encoder: the sequence is
            # contiguous up to the last non-empty segment.
            return ops.max(
                ops.where(lengths > 0, ops.arange(1, lengths.shape[1] + 1)[None, :], 0), axis=1
            ) * (num_steps // lengths.shape[1])
        return lengths

    # ------------------------------------------------------------------ call
    def call(self, batch, training=False):
        inputs, targets, lengths, controls = self._prepare(batch)
        mu, sigma = self._encode(inputs, lengths, controls, training=training)
        if training:
            z = self.latent.sample(
                mu, sigma, seed=self._seed_generator, noise=batch.get("posterior_noise")
            )
        else:
            z = mu
        use_sample = None
        step = self._advance_step() if training else None
        if training and schedules.uses_scheduled_sampling(self.sampling_schedule, self.sampling_rate):
            probability = schedules.sampling_probability(self.sampling_schedule, self.sampling_rate, step)
            uniform = keras.random.uniform(ops.shape(targets)[:2], seed=self._seed_generator)
            use_sample = uniform < probability
        logits = self.decoder(
            z,
            self.shift_right(targets),
            controls,
            training=training,
            use_sample=use_sample,
            noise_seed=self._seed_generator,
        )
        outputs = {"mu": mu, "sigma": sigma, "z": z, "logits": logits}
        if training:
            outputs["step"] = step
        return outputs

    def _encode(self, inputs, lengths, controls, training=False):
        self.require_encoder("training" if training else "encoding")
        encoding = self.encoder(
            self._encoder_inputs(inputs, controls),
            lengths=self._encoder_lengths(lengths, inputs.shape[1]),
            training=training,
        )
        return self.latent(encoding)

    # ----------------------------------------------------- tensor-level API
    # These are pure keras.ops (traceable): export and the compiled public
    # methods below use them.
    def encode_tensors(self, inputs, lengths, controls=None):
        """`(mu, sigma)` of `[B, T, input_depth]` inputs (tensors)."""
        inputs = ops.cast(inputs, self.compute_dtype)
        if controls is not None:
            controls = ops.cast(controls, self.compute_dtype)
        return self._encode(inputs, ops.cast(lengths, "int32"), controls)

    def decode_tensors(self, z, temperature, noises, controls=None, start_tokens=None):
        """`(samples [B, T, D], logits [B, T, U])` from z and sampling noise.

        The loop runs in the compute dtype; both outputs are returned as
        float32 (samples are exact 0/1 or bounded values).
        """
        samples, logits = self.decoder.decode(
            ops.cast(z, self.compute_dtype), temperature, noises, controls, start_tokens
        )
        return ops.cast(samples, "float32"), ops.cast(logits, "float32")

    def teacher_forced_logits(self, z, targets, lengths=None, controls=None):
        """Decoder logits `[B, T, U]` for targets given z (teacher forcing).

        `lengths` is accepted for symmetry with the batch format; the logits
        of steps past a length are computed but meaningless.
        """
        del lengths
        targets = ops.cast(targets, self.compute_dtype)
        if controls is not None:
            controls = ops.cast(controls, self.compute_dtype)[:, : targets.shape[1]]
        return self.decoder(ops.cast(z, self.compute_dtype), self.shift_right(targets), controls)

    def reconstruction_loss(self, z, targets, lengths=None, controls=None):
        """Per-sequence reconstruction loss `[B]` (summed over valid steps)."""
        targets = ops.cast(targets, "float32")
        if lengths is None:
            lengths = ops.full((ops.shape(targets)[0],), targets.shape[1], dtype="int32")
        logits = ops.cast(self.teacher_forced_logits(z, targets, controls=controls), "float32")
        mask = ops.cast(self.step_mask(lengths, targets.shape[1]), "float32")
        return ops.sum(self.decoder.step_losses(targets, logits) * mask, axis=1)

    # `encode`, `decode`, `sample`, `reconstruct` (NumPy in and out): `ArrayMethods`.
    # `interpolate`, `interpolate_grid`, `similar` and the NoteSequence methods
    # (`encode_sequences`, `decode_to_sequences`, ...): `SequenceMethods`.

    # ---------------------------------------------------------------- config
    def get_config(self):
        # Keras' base config: name, trainable and the dtype policy.
        config = super().get_config()
        config.update(
            {
                "input_depth": self.input_depth,
                "output_depth": self.output_depth,
                "max_seq_len": self.max_seq_len,
                "z_size": self.z_size,
                "enc_rnn_size": self.enc_rnn_size,
                "dec_rnn_size": self.dec_rnn_size,
                "encoder_level_lengths": self.encoder_level_lengths,
                "decoder_level_lengths": self.decoder_level_lengths,
                "output_head": self.output_head,
                "output_depths": self.output_depths,
                "split_streams": self.split_streams,
                "control_depth": self.control_depth,
                "nade_num_hidden": self.nade_num_hidden,
                "free_bits": self.free_bits,
                "max_beta": self.max_beta,
                "beta_rate": self.beta_rate,
                "sampling_schedule": self.sampling_schedule,
                "sampling_rate": self.sampling_rate,
                "dropout_keep_prob": self.dropout_keep_prob,
                "lstm_initializer": self.lstm_initializer,
                "learning_rate": self.learning_rate,
                "decay_rate": self.decay_rate,
                "min_learning_rate": self.min_learning_rate,
                "grad_clip": self.grad_clip,
                "grad_norm_clip_to_zero": self.grad_norm_clip_to_zero,
                "batch_size": self.batch_size,
                "converter": self.converter_config,
                "augmentation": self.augmentation,
                "include_encoder": self.include_encoder,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    # ---------------------------------------------------------------- presets
    @classmethod
    def from_preset(cls, preset, load_weights=True, dtype=None, **overrides):
        """Builds a model from a built-in preset, a Magenta alias or a folder.

        Args:
            preset: built-in name, Magenta alias, or preset folder.
            load_weights: load the preset's weights when it has them.
            dtype: None (the preset's stored policy, else the global one) or
                a Keras dtype policy: "float32", "mixed_bfloat16" /
                "mixed_float16" (training), "bfloat16" (inference). The
                weights load into any policy (cast to its variable dtype).
            **overrides: hyperparameters replacing the preset's.

        See `keras_musicvae.presets`.
        """
        from keras_musicvae.presets import load_model_from_preset

        if dtype is not None:
            overrides["dtype"] = dtype
        return load_model_from_preset(preset, load_weights=load_weights, model_class=cls, **overrides)

    def save_to_preset(self, preset_dir, overwrite=False, description=None):
        """Writes `config.json`, `model.weights.h5`, `metadata.json`, `README.md`."""
        from keras_musicvae.presets import save_model_to_preset

        return save_model_to_preset(self, preset_dir, overwrite=overwrite, description=description)
