"""`ArrayMethods`: the NumPy-facing inference API of `MusicVAE`.

`encode`, `decode`, `sample` and `reconstruct` take and return NumPy arrays
(single examples or batches), check shapes and controls with clear messages,
and run the model's tensor methods (`encode_tensors`, `decode_tensors`)
through one compiled function each (`utils.backend_compile`), without
autograd on PyTorch.
"""

import numpy as np
from keras import ops

from keras_musicvae.layers import torch_int8
from keras_musicvae.models.inference_mode import no_autograd
from keras_musicvae.utils.backend_compile import compile_model_function


class ArrayMethods:
    """Mixin of `MusicVAE`: NumPy in, NumPy out.

    Uses the model's `encode_tensors`, `decode_tensors`, `decoder`,
    `_compiled` (a dict) and `_seed_generator`.
    """

    def _compiled_fn(self, name, fn):
        if name not in self._compiled:
            compiled = compile_model_function(self, fn)

            def run(*args):
                return compiled(*[_to_tensor(a) for a in args])

            self._compiled[name] = run
        return self._compiled[name]

    @property
    def decode_quantization(self):
        """None, or "int8": the step loops of `decode` (and of `sample`,
        `reconstruct`, the interpolations and the NoteSequence methods)
        multiply by int8 copies of the decoder weights.

        Inference-only and PyTorch-only (CPU, FBGEMM): the variables keep
        their dtype, the copies are made at the first `decode` and again
        only when the weights change (`torch_linear.cached`), and the
        products round their activations to 8 bits, so tokens may differ
        from the unquantized model's (how often: `benchmarks/README.md`,
        "int8 step products"). Setting "int8" on another backend raises
        ValueError; on a GPU the products stay unquantized. Not saved with
        the model.
        """
        return self.__dict__.get("_decode_quantization_mode")

    @decode_quantization.setter
    def decode_quantization(self, mode):
        mode = torch_int8.check_mode(mode)
        if mode is not None:
            reason = torch_int8.unavailable_reason()
            if reason:
                raise ValueError(f"decode_quantization={mode!r} cannot run here: {reason}")
        self.__dict__["_decode_quantization_mode"] = mode

    def _seed(self, seed):
        return self._seed_generator if seed is None else int(seed)

    def _batch_controls(self, controls, batch_size, length):
        if self.control_depth == 0:
            if controls is not None:
                raise ValueError("This model takes no controls.")
            return None
        if controls is None:
            raise ValueError(
                f"This model is conditioned on controls of depth {self.control_depth}; pass "
                "`controls` ([time, depth] or [batch, time, depth])."
            )
        controls = np.asarray(controls, dtype="float32")
        if controls.ndim == 2:
            controls = np.broadcast_to(controls[None], (batch_size,) + controls.shape)
        if controls.shape[1] < length or controls.shape[2] != self.control_depth:
            raise ValueError(
                f"controls must cover {length} steps of depth {self.control_depth}; "
                f"got shape {controls.shape}."
            )
        return np.ascontiguousarray(controls[:, :length])

    @no_autograd
    def encode(self, inputs, lengths=None, controls=None):
        """Posterior `(mu, sigma)`, NumPy `[B, z_size]` each.

        Args:
            inputs: `[B, T, input_depth]` (or `[T, input_depth]` for one).
            lengths: int `[B]` (or `[B, S]`); None = full length.
            controls: `[B, T, control_depth]` when the model has controls.
        """
        self.require_encoder("encoding")
        inputs = np.asarray(inputs, dtype="float32")
        single = inputs.ndim == 2
        if single:
            inputs = inputs[None]
        if inputs.ndim != 3 or inputs.shape[-1] != self.input_depth:
            raise ValueError(
                f"inputs must be [batch, time, {self.input_depth}]; got shape {inputs.shape}."
            )
        inputs = inputs[:, : self.max_seq_len]
        if lengths is None:
            lengths = np.full((inputs.shape[0],), inputs.shape[1], dtype="int32")
        lengths = np.minimum(np.asarray(lengths, dtype="int32"), inputs.shape[1])
        if single and lengths.ndim == 0:
            lengths = lengths[None]
        args = [inputs, lengths]
        if self.control_depth:
            args.append(self._batch_controls(controls, inputs.shape[0], inputs.shape[1]))
        fn = self._compiled_fn("encode", lambda *a: self.encode_tensors(*a))
        mu, sigma = fn(*args)
        mu, sigma = ops.convert_to_numpy(mu), ops.convert_to_numpy(sigma)
        return (mu[0], sigma[0]) if single else (mu, sigma)

    @no_autograd
    def decode(
        self,
        z,
        temperature=1.0,
        length=None,
        seed=None,
        controls=None,
        start_tokens=None,
        return_logits=False,
    ):
        """Samples sequences from latent vectors.

        Args:
            z: `[B, z_size]`.
            temperature: float; 0 or None = argmax (greedy).
            length: steps (default `max_seq_len`; hierarchical decoders
                decode exactly `max_seq_len`).
            seed: int for reproducible sampling, None to draw from the
                model's seed generator.
            controls: `[T, C]` or `[B, T, C]` when the model has controls.
            start_tokens: optional `[B, output_depth]` input of step 0.
            return_logits: also return the decoder's outputs.

        Returns:
            NumPy `[B, T, output_depth]` samples (one-hot / multi-hot /
            groove vectors), and the logits when asked.
        """
        z = np.asarray(z, dtype="float32")
        if z.ndim != 2 or z.shape[1] != self.z_size:
            raise ValueError(f"z must be [batch, {self.z_size}]; got shape {z.shape}.")
        length = self.max_seq_len if length is None else int(length)
        self.decoder.segment_length_for(length)  # validates hierarchical lengths
        temperature = 0.0 if temperature is None else float(temperature)
        if temperature < 0:
            raise ValueError(f"temperature must be >= 0; got {temperature}.")
        batch_size = z.shape[0]
        if temperature > 0:
            noises = self.decoder.make_noise(batch_size, self._seed(seed), length)
        else:
            noises = [
                ops.zeros((batch_size, length, h.noise_depth)) for h in self.decoder.heads
            ]
        args = [z, np.asarray(temperature, dtype="float32"), noises]
        controls = self._batch_controls(controls, batch_size, length)
        args.append(controls)
        args.append(None if start_tokens is None else np.asarray(start_tokens, "float32"))
        fn = self._compiled_fn("decode", lambda *a: self.decode_tensors(*a))
        with torch_int8.int8_products(self.decode_quantization == "int8"):
            samples, logits = fn(*args)
        samples = ops.convert_to_numpy(samples)
        if return_logits:
            return samples, ops.convert_to_numpy(logits)
        return samples

    @no_autograd
    def sample(self, n, temperature=1.0, seed=None, length=None, controls=None):
        """Samples `n` sequences from the prior. NumPy `[n, T, output_depth]`."""
        rng = np.random.default_rng(seed)
        z = rng.standard_normal((int(n), self.z_size)).astype("float32")
        return self.decode(z, temperature=temperature, length=length, seed=seed, controls=controls)

    @no_autograd
    def reconstruct(self, inputs, temperature=0.0, lengths=None, controls=None, seed=None):
        """Encodes and decodes from `mu`. NumPy `[B, T, output_depth]`."""
        mu, _ = self.encode(inputs, lengths=lengths, controls=controls)
        single = mu.ndim == 1
        mu = mu[None] if single else mu
        length = None if self.decoder_level_lengths else np.asarray(inputs).shape[-2]
        out = self.decode(mu, temperature=temperature, length=length, seed=seed, controls=controls)
        return out[0] if single else out


def _to_tensor(value):
    if isinstance(value, np.ndarray):
        return ops.convert_to_tensor(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_to_tensor(v) for v in value)
    return value
