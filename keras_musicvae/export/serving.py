"""The serving graphs of a MusicVAE: `encode`, `decode`, `sample`, `interpolate`, `interpolate_grid`.

BACKEND-SPECIFIC CODE (TensorFlow): run with the TensorFlow backend; the model's
tensor-level methods (`encode_tensors`, `decode_tensors`) are traced into
`tf.function`s with fixed input signatures.

Shapes: the batch axis is dynamic; the time axis is the model's `max_seq_len`
(pad shorter sequences and pass their `lengths`). See
`keras_musicvae.export.saved_model` for the signature table.
"""

import tensorflow as tf

from keras_musicvae.export.noise import PRIOR_SEED_SALT
from keras_musicvae.export.noise import seeded_noises
from keras_musicvae.export.outputs import named_outputs

_PARALLEL_SIN_TOLERANCE = 1e-7  # as keras_musicvae.evaluation.slerp


class ServingGraphs:
    """Builds the `tf.function`s of the serving signatures of one model.

    Args:
        model: a `MusicVAE` on the TensorFlow backend.
        spec: its `ExportSpec`.
        max_batch: optional int; calls with a larger batch (or
            `num_samples`, `num_steps`) fail with a clear error.
    """

    def __init__(self, model, spec, max_batch=None):
        self.model = model
        self.spec = spec
        self.max_batch = None if max_batch is None else int(max_batch)

    # -- input specs ---------------------------------------------------------
    def _sequence_spec(self, name, batched=True):
        shape = [self.spec.max_seq_len, self.spec.input_depth]
        return tf.TensorSpec([None] + shape if batched else shape, tf.float32, name=name)

    def _controls_spec(self, batched=True):
        shape = [self.spec.max_seq_len, self.spec.control_depth]
        return tf.TensorSpec([None] + shape if batched else shape, tf.float32, name="controls")

    @staticmethod
    def _scalar(name, dtype):
        return tf.TensorSpec([], dtype, name=name)

    # -- checks --------------------------------------------------------------
    def _check_batch(self, size, what):
        checks = []
        if self.max_batch is not None:
            checks.append(
                tf.debugging.assert_less_equal(
                    tf.cast(size, tf.int32),
                    self.max_batch,
                    message=f"{what} exceeds max_batch={self.max_batch} of this export",
                )
            )
        return checks

    @staticmethod
    def _check_temperature(temperature):
        return [
            tf.debugging.assert_greater_equal(
                temperature, 0.0, message="temperature must be >= 0 (0 = argmax)"
            )
        ]

    # -- building blocks -----------------------------------------------------
    def _encode(self, inputs, lengths, controls):
        lengths = tf.clip_by_value(tf.cast(lengths, tf.int32), 0, self.spec.max_seq_len)
        mu, sigma = self.model.encode_tensors(inputs, lengths, controls)
        return tf.cast(mu, tf.float32), tf.cast(sigma, tf.float32)

    def _decode(self, z, temperature, seed, controls):
        batch_size = tf.shape(z)[0]
        noises = seeded_noises(self.spec, batch_size, seed)
        samples, _ = self.model.decode_tensors(z, temperature, noises, controls)
        return named_outputs(self.spec, samples)

    @staticmethod
    def _broadcast(controls, batch_size):
        if controls is None:
            return None
        return tf.broadcast_to(controls[None], tf.concat([[batch_size], tf.shape(controls)], 0))

    @staticmethod
    def slerp(start, end, num_steps):
        """`[num_steps, D]` points on the great circle from `start` to `end` `[D]`.

        Endpoints included; linear where the two are (anti)parallel, as
        `keras_musicvae.evaluation.slerp.slerp`. Computed in float64.
        """
        a = tf.cast(start, tf.float64)
        b = tf.cast(end, tf.float64)
        denominator = tf.norm(a) * tf.norm(b)
        safe_denominator = tf.where(denominator > 0, denominator, tf.ones_like(denominator))
        cos_omega = tf.clip_by_value(tf.reduce_sum(a * b) / safe_denominator, -1.0, 1.0)
        omega = tf.math.acos(cos_omega)
        sin_omega = tf.sin(omega)
        parallel = tf.logical_or(tf.abs(sin_omega) < _PARALLEL_SIN_TOLERANCE, denominator == 0)
        safe_sin = tf.where(parallel, tf.ones_like(sin_omega), sin_omega)
        t = tf.linspace(tf.constant(0.0, tf.float64), 1.0, num_steps)[:, None]
        weight_a = tf.where(parallel, 1.0 - t, tf.sin((1.0 - t) * omega) / safe_sin)
        weight_b = tf.where(parallel, t, tf.sin(t * omega) / safe_sin)
        return tf.cast(weight_a * a[None] + weight_b * b[None], tf.float32)

    @staticmethod
    def _slerp_rows(start, end, t):
        """`[R, K, D]` slerps from `start[r]` to `end[r]` `[R, D]` at amounts `t` `[K]` (float64)."""
        a = tf.cast(start, tf.float64)
        b = tf.cast(end, tf.float64)
        denominator = tf.norm(a, axis=-1, keepdims=True) * tf.norm(b, axis=-1, keepdims=True)
        safe_denominator = tf.where(denominator > 0, denominator, tf.ones_like(denominator))
        cos_omega = tf.clip_by_value(tf.reduce_sum(a * b, -1, keepdims=True) / safe_denominator, -1.0, 1.0)
        omega = tf.math.acos(cos_omega)[:, None]  # [R, 1, 1]
        sin_omega = tf.sin(omega)
        parallel = tf.logical_or(tf.abs(sin_omega) < _PARALLEL_SIN_TOLERANCE, denominator[:, None] == 0)
        safe_sin = tf.where(parallel, tf.ones_like(sin_omega), sin_omega)
        t = tf.cast(t, tf.float64)[None, :, None]  # [1, K, 1]
        weight_a = tf.where(parallel, 1.0 - t, tf.sin((1.0 - t) * omega) / safe_sin)
        weight_b = tf.where(parallel, t, tf.sin(t * omega) / safe_sin)
        return weight_a * a[:, None] + weight_b * b[:, None]

    @classmethod
    def slerp_grid(cls, corners, num_steps):
        """`[num_steps * num_steps, D]` latent grid between `corners` `[4, D]`, row by row.

        Corners in magenta.js's order (top-left, bottom-left, top-right,
        bottom-right); each row is the slerp between the left edge (slerp of
        corners 0 and 1) and the right edge (corners 2 and 3) at its height,
        as `keras_musicvae.evaluation.slerp.interpolation_grid`.
        """
        t = tf.linspace(tf.constant(0.0, tf.float64), 1.0, num_steps)
        left = cls._slerp_rows(corners[0:1], corners[1:2], t)[0]  # [rows, D]
        right = cls._slerp_rows(corners[2:3], corners[3:4], t)[0]
        grid = cls._slerp_rows(left, right, t)  # [rows, columns, D]
        return tf.cast(tf.reshape(grid, [-1, tf.shape(corners)[-1]]), tf.float32)

    # -- signatures ----------------------------------------------------------
    def encode_function(self):
        """`encode(inputs, lengths[, controls])` -> `mu`, `sigma` `[batch, z_size]`."""
        signature = [
            self._sequence_spec("inputs"),
            tf.TensorSpec([None, *self.spec.lengths_shape], tf.int32, name="lengths"),
        ]
        if self.spec.control_depth:
            signature.append(self._controls_spec())

        def encode(inputs, lengths, controls=None):
            with tf.control_dependencies(self._check_batch(tf.shape(inputs)[0], "batch size")):
                mu, sigma = self._encode(inputs, lengths, controls)
            return {"mu": mu, "sigma": sigma}

        return tf.function(encode, input_signature=signature)

    def decode_function(self):
        """`decode(z, temperature, seed[, controls])` -> decoded outputs."""
        signature = [
            tf.TensorSpec([None, self.spec.z_size], tf.float32, name="z"),
            self._scalar("temperature", tf.float32),
            self._scalar("seed", tf.int32),
        ]
        if self.spec.control_depth:
            signature.append(self._controls_spec())

        def decode(z, temperature, seed, controls=None):
            checks = self._check_batch(tf.shape(z)[0], "batch size")
            with tf.control_dependencies(checks + self._check_temperature(temperature)):
                return self._decode(z, temperature, seed, controls)

        return tf.function(decode, input_signature=signature)

    def sample_function(self):
        """`sample(temperature, seed, num_samples[, controls])` -> outputs and `z`."""
        signature = [
            self._scalar("temperature", tf.float32),
            self._scalar("seed", tf.int32),
            self._scalar("num_samples", tf.int32),
        ]
        if self.spec.control_depth:
            signature.append(self._controls_spec(batched=False))

        def sample(temperature, seed, num_samples, controls=None):
            checks = self._check_batch(num_samples, "num_samples")
            checks.append(
                tf.debugging.assert_positive(num_samples, message="num_samples must be >= 1")
            )
            with tf.control_dependencies(checks + self._check_temperature(temperature)):
                z = tf.random.stateless_normal(
                    [num_samples, self.spec.z_size],
                    tf.stack([seed, tf.constant(PRIOR_SEED_SALT, tf.int32)]),
                    dtype=tf.float32,
                )
                outputs = self._decode(z, temperature, seed, self._broadcast(controls, num_samples))
            outputs["z"] = z
            return outputs

        return tf.function(sample, input_signature=signature)

    def interpolate_function(self):
        """`interpolate(start, end, num_steps, temperature, seed[, controls])`."""
        signature = [
            self._sequence_spec("start", batched=False),
            self._sequence_spec("end", batched=False),
            self._scalar("num_steps", tf.int32),
            self._scalar("temperature", tf.float32),
            self._scalar("seed", tf.int32),
        ]
        if self.spec.control_depth:
            signature.append(self._controls_spec(batched=False))

        def interpolate(start, end, num_steps, temperature, seed, controls=None):
            checks = self._check_batch(num_steps, "num_steps")
            checks.append(
                tf.debugging.assert_greater_equal(
                    num_steps, 2, message="num_steps must be >= 2 (the endpoints are included)"
                )
            )
            with tf.control_dependencies(checks + self._check_temperature(temperature)):
                pair = tf.stack([start, end])
                lengths = tf.fill([2, *self.spec.lengths_shape], self._full_length())
                mu, _ = self._encode(pair, lengths, self._broadcast(controls, 2))
                z = self.slerp(mu[0], mu[1], num_steps)
                outputs = self._decode(z, temperature, seed, self._broadcast(controls, num_steps))
            outputs["z"] = z
            return outputs

        return tf.function(interpolate, input_signature=signature)

    def interpolate_grid_function(self):
        """`interpolate_grid(corners, num_steps, temperature, seed[, controls])`: a four-corner grid.

        `corners` `[4, T, input_depth]` in magenta.js's order (top-left,
        bottom-left, top-right, bottom-right); the outputs hold the
        `num_steps x num_steps` grid row by row (`num_steps ** 2` rows) and
        `z` `[num_steps ** 2, z_size]`.
        """
        signature = [
            tf.TensorSpec([4, self.spec.max_seq_len, self.spec.input_depth], tf.float32, name="corners"),
            self._scalar("num_steps", tf.int32),
            self._scalar("temperature", tf.float32),
            self._scalar("seed", tf.int32),
        ]
        if self.spec.control_depth:
            signature.append(self._controls_spec(batched=False))

        def interpolate_grid(corners, num_steps, temperature, seed, controls=None):
            checks = self._check_batch(num_steps * num_steps, "num_steps * num_steps")
            checks.append(
                tf.debugging.assert_greater_equal(
                    num_steps, 2, message="num_steps must be >= 2 (the corners are included)"
                )
            )
            with tf.control_dependencies(checks + self._check_temperature(temperature)):
                lengths = tf.fill([4, *self.spec.lengths_shape], self._full_length())
                mu, _ = self._encode(corners, lengths, self._broadcast(controls, 4))
                z = self.slerp_grid(mu, num_steps)
                outputs = self._decode(z, temperature, seed, self._broadcast(controls, num_steps * num_steps))
            outputs["z"] = z
            return outputs

        return tf.function(interpolate_grid, input_signature=signature)

    def _full_length(self):
        if self.spec.lengths_shape:
            return self.spec.max_seq_len // self.spec.lengths_shape[0]
        return self.spec.max_seq_len
