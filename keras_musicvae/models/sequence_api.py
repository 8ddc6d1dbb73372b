"""`MusicVAE`'s methods on NoteSequences and its interpolations.

`SequenceMethods` is a mixin of `MusicVAE`. It gives the model the
NoteSequence API of Magenta's `TrainedModel` and magenta.js's `MusicVAE`:

* `encode_sequences(note_sequences)` -> `(z, mu, sigma)`;
* `decode_to_sequences(z, temperature=..., seed=...)`;
* `sample_sequences(n, temperature=..., seed=...)`;
* `interpolate_sequences(start, end, num_steps)` and the four-corner grid
  `interpolate_grid_sequences(corners, num_steps)` (magenta.js's
  `interpolate` with four inputs);
* `similar(sequence_or_inputs, n, similarity=...)` (magenta.js's `similar`);

plus the array versions of the interpolations (`interpolate`,
`interpolate_grid`). Chord-conditioned models take `chords=["C", "G", ...]`
(see `keras_musicvae.data.chord_progression`).

NoteSequences are read with the model's converter in inference mode
(`inference_converter`): every example, in order, nothing random (the
`model.converter` of training picks a few random windows per file). Each
input must give exactly one example, as in Magenta's `TrainedModel.encode`.

The mixin uses the host model's `encode`, `decode`, `z_size`,
`input_depth`, `control_depth`, `decoder_level_lengths`, `max_seq_len` and
`converter_config`.
"""

import numpy as np

from keras_musicvae.data.inference import MissingConverterError  # noqa: F401 - re-exported
from keras_musicvae.data.inference import MultipleExtractedExamplesError  # noqa: F401 - re-exported
from keras_musicvae.data.inference import NoExtractedExamplesError  # noqa: F401 - re-exported
from keras_musicvae.data.inference import inference_converter
from keras_musicvae.data.inference import one_example
from keras_musicvae.models.inference_mode import no_autograd


def similar_latents(mu, n, similarity, seed=None):
    """`n` latent codes `similarity` of the way from random codes to `mu`.

    Each code is `slerp(mu, r, 1 - similarity)` for a random `r ~ N(0, I)`
    drawn with `numpy.random.default_rng(seed)`: 1 keeps `mu`, 0 gives `r`.

    Args:
        mu: `[D]` latent code.
        n: int >= 1.
        similarity: float in [0, 1].

    Returns:
        float32 `[n, D]`.
    """
    from keras_musicvae.evaluation.slerp import slerp

    similarity = float(similarity)
    if not 0.0 <= similarity <= 1.0:
        raise ValueError(f"similarity must be between 0 and 1; got {similarity}.")
    mu = np.asarray(mu, "float32")
    random_z = np.random.default_rng(seed).standard_normal((_positive_int(n, "n"), mu.shape[-1]))
    return slerp(mu[None], random_z, 1.0 - similarity).astype("float32")


class SequenceMethods:
    """NoteSequence methods and interpolations of `MusicVAE` (see the module docstring)."""

    # ------------------------------------------------------------ converter
    @property
    def inference_converter(self):
        """The model's data converter in inference mode (every example, in order).

        Raises:
            MissingConverterError: the model names no data converter.
        """
        cached = self.__dict__.get("_sequence_converter")
        if cached is None:
            cached = inference_converter(self.converter_config, f"model {self.name!r}")
            self.__dict__["_sequence_converter"] = cached
        return cached

    def sequences_to_inputs(self, note_sequences, chords=None, names=None):
        """Encoder inputs of NoteSequences that give one example each.

        Args:
            note_sequences: a NoteSequence or a list of them.
            chords: optional chord progression replacing the sequences' own
                chords (chord-conditioned models only).
            names: optional names of the inputs for error messages (default
                `note_sequences[i]`).

        Returns:
            `(inputs [B, T, input_depth] float32, lengths [B] or [B, S] int32,
            controls [B, T, control_depth] float32 or None)`.

        Raises:
            NoExtractedExamplesError, MultipleExtractedExamplesError: naming
                the input and why.
        """
        sequences = _sequence_list(note_sequences)
        names = names or [f"note_sequences[{i}]" for i in range(len(sequences))]
        converter = self.inference_converter
        examples = [one_example(converter, s, name) for s, name in zip(sequences, names)]
        inputs = _stack_padded([e.inputs[0] for e in examples])
        lengths = np.stack([np.asarray(e.lengths[0], "int32") for e in examples])
        controls = None
        if self.control_depth and chords is not None:
            controls = self._chord_controls(chords, len(sequences), inputs.shape[1])
        elif self.control_depth:
            controls = _stack_padded([e.controls[0] for e in examples])
        elif chords is not None:
            raise ValueError("This model is not conditioned on chords; it takes no chords.")
        return inputs, lengths, controls

    def outputs_to_sequences(self, outputs, controls=None):
        """NoteSequences of decoder outputs `[B, T, output_depth]` (chords from `controls`)."""
        converter = self.inference_converter
        if controls is not None and getattr(converter, "control_depth", 0):
            return converter.from_tensors(outputs, controls)
        return converter.from_tensors(outputs)

    # ----------------------------------------------------- NoteSequence API
    def encode_sequences(self, note_sequences, chords=None, seed=None):
        """Latent codes of NoteSequences, as Magenta's `TrainedModel.encode`.

        Args:
            note_sequences: a NoteSequence or a list of them; each must give
                exactly one example (e.g. one 2-bar melody for a 2-bar model).
            chords: chord-conditioned models: a progression (e.g.
                `["C", "G", "Am", "F"]`) used instead of the sequences' own
                chord symbols (inferred when they have none).
            seed: seed of the draw of `z` from N(mu, sigma).

        Returns:
            `(z, mu, sigma)`, NumPy float32 `[B, z_size]` each.
        """
        inputs, lengths, controls = self.sequences_to_inputs(note_sequences, chords)
        mu, sigma = self.encode(inputs, lengths=lengths, controls=controls)
        noise = np.random.default_rng(seed).standard_normal(mu.shape).astype("float32")
        return mu + sigma * noise, mu, sigma

    def decode_to_sequences(self, z, temperature=1.0, seed=None, chords=None, controls=None, length=None):
        """NoteSequences decoded from latent codes `z` `[B, z_size]` (or `[z_size]`).

        Args:
            temperature: sampling temperature; 0 = argmax.
            seed: int for reproducible sampling.
            chords: chord-conditioned models: the progression to play over
                (chord symbols, spread evenly over the steps as magenta.js).
            controls: other controlled models (GrooVAE hits): `[T, C]` or
                `[B, T, C]`.
            length: steps to decode (default `max_seq_len`).

        Returns:
            A list of B NoteSequences (with chord annotations when decoded
            over chords, as Magenta's converters write them).
        """
        z = np.asarray(z, "float32")
        z = z[None] if z.ndim == 1 else z
        controls = self._decoding_controls(len(z), length, chords, controls)
        outputs = self.decode(z, temperature=temperature, length=length, seed=seed, controls=controls)
        return self.outputs_to_sequences(outputs, controls)

    def sample_sequences(self, n, temperature=1.0, seed=None, chords=None, controls=None, length=None):
        """`n` NoteSequences sampled from the prior (`model.sample` as music).

        Arguments as `decode_to_sequences`; the same seed gives the same
        music as `model.sample(n, temperature, seed=seed)`.
        """
        z = np.random.default_rng(seed).standard_normal((_positive_int(n, "n"), self.z_size))
        return self.decode_to_sequences(z, temperature, seed, chords, controls, length)

    def interpolate_sequences(
        self, start, end, num_steps=11, temperature=0.5, seed=None, chords=None, method="slerp"
    ):
        """NoteSequences on the path between two NoteSequences, endpoints included.

        Args:
            start, end: NoteSequences giving one example each.
            num_steps: int >= 2.
            temperature: sampling temperature; 0 = argmax.
            chords: chord-conditioned models: a progression used to encode
                both inputs and to decode every step (without it each input is
                encoded with its own chords and the steps are decoded over
                the start's).
            method: "slerp" (Magenta) or "linear" (magenta.js).

        Returns:
            A list of `num_steps` NoteSequences.
        """
        inputs, lengths, controls = self.sequences_to_inputs([start, end], chords, ["start", "end"])
        outputs = self.interpolate(
            inputs[0],
            inputs[1],
            num_steps=num_steps,
            temperature=temperature,
            start_length=lengths[0],
            end_length=lengths[1],
            controls=controls,
            seed=seed,
            method=method,
        )
        return self.outputs_to_sequences(outputs, _rows_of(controls, len(outputs)))

    def interpolate_grid_sequences(
        self, corners, num_steps=5, temperature=0.5, seed=None, chords=None, method="slerp"
    ):
        """A `num_steps x num_steps` grid of NoteSequences between four corners.

        As magenta.js's `interpolate` with four inputs. `corners` are in
        magenta.js's order: top-left, bottom-left, top-right, bottom-right
        (see `interpolate_grid`).

        Returns:
            A list of `num_steps` rows, each a list of `num_steps`
            NoteSequences (magenta.js's flat list: `[s for row in grid for s
            in row]`).
        """
        names = ["corners[0] (top-left)", "corners[1] (bottom-left)", "corners[2] (top-right)",
                 "corners[3] (bottom-right)"]  # fmt: skip
        inputs, lengths, controls = self.sequences_to_inputs(_four(corners), chords, names)
        grid = self.interpolate_grid(
            inputs, num_steps, temperature, lengths=lengths, controls=controls, seed=seed, method=method
        )
        flat = grid.reshape((-1,) + grid.shape[2:])
        sequences = self.outputs_to_sequences(flat, _rows_of(controls, len(flat)))
        return [sequences[i : i + grid.shape[1]] for i in range(0, len(sequences), grid.shape[1])]

    @no_autograd
    def similar(
        self,
        sequence,
        n=4,
        similarity=0.8,
        temperature=0.5,
        seed=None,
        chords=None,
        lengths=None,
        controls=None,
    ):
        """`n` variations of one input, `similarity` of the way to it (magenta.js's `similar`).

        The input's code `mu` is moved toward random codes along great
        circles (`similar_latents`): 1 keeps the input's code, 0 gives prior
        samples.

        Args:
            sequence: a NoteSequence giving one example, or encoder inputs
                `[T, input_depth]` (or a batch of one `[1, T, input_depth]`).
            n: number of variations.
            similarity: float in [0, 1].
            temperature: sampling temperature; 0 = argmax.
            seed: seed of the random codes and of the sampling.
            chords: chord-conditioned models, NoteSequence input: a
                progression used instead of the input's chords.
            lengths, controls: array input only: its length (int or `[S]`)
                and controls `[T, C]`.

        Returns:
            A list of `n` NoteSequences for a NoteSequence input; NumPy
            `[n, T, output_depth]` for an array input.
        """
        if _is_note_sequence(sequence):
            if lengths is not None or controls is not None:
                raise ValueError("lengths and controls go with array inputs; a NoteSequence carries its own.")
            inputs, lengths, controls = self.sequences_to_inputs([sequence], chords, ["the input"])
            outputs = self._similar_outputs(inputs[0], lengths[0], controls, n, similarity, temperature, seed)
            return self.outputs_to_sequences(outputs, _rows_of(controls, len(outputs)))
        if chords is not None:
            raise ValueError("chords go with NoteSequence inputs; pass controls with arrays.")
        inputs = _one_sequence(sequence, "the input", self.input_depth)
        controls = None if controls is None else _one_sequence(controls, "controls")[None]
        length = inputs.shape[0] if lengths is None else _one_length(lengths, np.ndim(sequence) == 3)
        return self._similar_outputs(inputs, length, controls, n, similarity, temperature, seed)

    def _similar_outputs(self, inputs, length, controls, n, similarity, temperature, seed):
        mu, _ = self.encode(inputs[None], lengths=np.asarray(length, "int32")[None], controls=controls)
        z = similar_latents(mu[0], n, similarity, seed)
        return self.decode(
            z,
            temperature=temperature,
            length=self._decode_length(inputs.shape[0]),
            seed=seed,
            controls=None if controls is None else controls[0],
        )

    # -------------------------------------------------------- array API
    @no_autograd
    def interpolate(
        self,
        start,
        end,
        num_steps=11,
        temperature=0.5,
        start_length=None,
        end_length=None,
        controls=None,
        seed=None,
        method="slerp",
    ):
        """Decodes points on the path between the `mu`s of two inputs.

        Args:
            start, end: `[T, input_depth]` sequences (or batches of one,
                `[1, T, input_depth]`).
            num_steps: points, endpoints included.
            temperature: sampling temperature (0 = argmax).
            start_length, end_length: valid steps (int, or `[S]` per
                segment); None = all.
            controls: `[T, C]` shared by both inputs and every step, or
                `[2, T, C]`: the start's and the end's (the steps are decoded
                over the start's).
            seed: int for reproducible sampling.
            method: "slerp" (great circle, Magenta) or "linear" (magenta.js).

        Returns:
            NumPy `[num_steps, T, output_depth]`.
        """
        from keras_musicvae.evaluation.slerp import interpolation_path

        if num_steps < 2:
            raise ValueError(f"num_steps must be at least 2 (the endpoints); got {num_steps}.")
        pair = self._same_length_inputs([(start, "start"), (end, "end")])
        lengths = _pair_lengths(pair, (start, start_length), (end, end_length))
        encode_controls, decode_controls = _split_controls(controls, 2)
        mu, _ = self.encode(pair, lengths=lengths, controls=encode_controls)
        z = interpolation_path(mu[0], mu[1], num_steps, method).astype("float32")
        return self.decode(
            z, temperature=temperature, length=self._decode_length(pair.shape[1]), seed=seed,
            controls=decode_controls,
        )  # fmt: skip

    @no_autograd
    def interpolate_grid(
        self, corners, num_steps=5, temperature=0.5, lengths=None, controls=None, seed=None, method="slerp"
    ):
        """Decodes a `num_steps x num_steps` grid between four inputs (magenta.js's four-input `interpolate`).

        Args:
            corners: `[4, T, input_depth]` (or a list of four `[T,
                input_depth]`), in magenta.js's order: top-left, bottom-left,
                top-right, bottom-right.
            num_steps: points per side, corners included (>= 2).
            temperature: sampling temperature (0 = argmax).
            lengths: `[4]` (or `[4, S]`) valid steps; None = all.
            controls: `[T, C]` shared, or `[4, T, C]` per corner (the grid is
                decoded over the first corner's).
            seed: int for reproducible sampling.
            method: "slerp" (default: every edge is the two-corner slerp) or
                "linear" (magenta.js's bilinear blend); see
                `keras_musicvae.evaluation.slerp.interpolation_grid`.

        Returns:
            NumPy `[num_steps, num_steps, T, output_depth]`: `grid[row,
            column]`, the top row from corner 0 to corner 2, the bottom row
            from corner 1 to corner 3.
        """
        from keras_musicvae.evaluation.slerp import interpolation_grid

        if num_steps < 2:
            raise ValueError(f"num_steps must be at least 2 (the corners); got {num_steps}.")
        inputs = self._same_length_inputs([(c, f"corners[{i}]") for i, c in enumerate(_four(corners))])
        encode_controls, decode_controls = _split_controls(controls, 4)
        mu, _ = self.encode(inputs, lengths=lengths, controls=encode_controls)
        z = interpolation_grid(mu, num_steps, method).astype("float32").reshape(-1, mu.shape[-1])
        outputs = self.decode(
            z, temperature=temperature, length=self._decode_length(inputs.shape[1]), seed=seed,
            controls=decode_controls,
        )  # fmt: skip
        return outputs.reshape((num_steps, num_steps) + outputs.shape[1:])

    # ---------------------------------------------------------- helpers
    def _decode_length(self, num_steps):
        """`length` of `decode` for inputs of `num_steps` steps (hierarchical: the full length)."""
        return None if self.decoder_level_lengths else int(num_steps)

    def _same_length_inputs(self, named_inputs):
        """`[N, T, input_depth]` of single sequences that share their length."""
        sequences = [_one_sequence(x, name, self.input_depth) for x, name in named_inputs]
        steps = {s.shape[0] for s in sequences}
        if len(steps) > 1:
            shown = ", ".join(f"{name} {s.shape[0]}" for (_, name), s in zip(named_inputs, sequences))
            raise ValueError(f"The inputs must have the same number of steps; got {shown}.")
        return np.stack(sequences)

    def _chord_controls(self, chords, batch_size, num_steps):
        from keras_musicvae.data.chord_progression import progression_controls

        rows = progression_controls(chords, self.inference_converter, num_steps)
        return np.broadcast_to(rows[None], (batch_size,) + rows.shape)

    def _decoding_controls(self, batch_size, length, chords, controls):
        """The `[B, T, C]` controls of `decode_to_sequences` (None for models without)."""
        if not self.control_depth:
            if chords is not None or controls is not None:
                raise ValueError("This model is not conditioned on chords or controls; pass neither.")
            return None
        if chords is not None and controls is not None:
            raise ValueError("Pass chords or controls, not both.")
        num_steps = self.max_seq_len if length is None else int(length)
        if chords is not None:
            return self._chord_controls(chords, batch_size, num_steps)
        if controls is None:
            raise ValueError(self._missing_controls_message())
        controls = np.asarray(controls, "float32")
        if controls.ndim == 2:
            controls = np.broadcast_to(controls[None], (batch_size,) + controls.shape)
        return controls

    def _missing_controls_message(self):
        from keras_musicvae.data.chord_progression import is_chord_conditioned

        if is_chord_conditioned(self.inference_converter):
            return (
                "This model is conditioned on chords: pass chords=[...] (chord symbols such as "
                "['C', 'G', 'Am', 'F'], spread evenly over the steps)."
            )
        return (
            f"This model is conditioned on controls of depth {self.control_depth} (e.g. GrooVAE's "
            "hits): pass controls ([time, depth] or [batch, time, depth])."
        )


# ------------------------------------------------------------------ helpers
def _is_note_sequence(value):
    import note_seq

    return isinstance(value, note_seq.NoteSequence)


def _sequence_list(note_sequences):
    """A list of NoteSequences from one or an iterable of them."""
    if _is_note_sequence(note_sequences):
        return [note_sequences]
    if isinstance(note_sequences, (str, bytes, np.ndarray)) or not hasattr(note_sequences, "__iter__"):
        raise TypeError(
            f"Expected a NoteSequence or a list of NoteSequences; got {type(note_sequences).__name__}."
        )
    sequences = list(note_sequences)
    for i, sequence in enumerate(sequences):
        if not _is_note_sequence(sequence):
            raise TypeError(f"note_sequences[{i}] is a {type(sequence).__name__}, not a NoteSequence.")
    if not sequences:
        raise ValueError("No NoteSequences given.")
    return sequences


def _stack_padded(arrays):
    """`[N, T_max, ...]` float32 of arrays `[T_i, ...]`, zero-padded at the end."""
    arrays = [np.asarray(a, "float32") for a in arrays]
    steps = max(a.shape[0] for a in arrays)
    out = np.zeros((len(arrays), steps) + arrays[0].shape[1:], "float32")
    for i, a in enumerate(arrays):
        out[i, : a.shape[0]] = a
    return out


def _one_sequence(value, name, depth=None):
    """`[T, D]` of a sequence given as `[T, D]` or as a batch of one `[1, T, D]`."""
    array = np.asarray(value, "float32")
    if array.ndim == 3:
        if array.shape[0] != 1:
            raise ValueError(
                f"{name} must be one sequence, [time, depth] or a batch of one [1, time, depth]; got a "
                f"batch of {array.shape[0]} (shape {array.shape}): call once per sequence."
            )
        array = array[0]
    if array.ndim != 2 or (depth is not None and array.shape[-1] != depth):
        expected = f"[time, {depth}]" if depth is not None else "[time, depth]"
        raise ValueError(f"{name} must be {expected} (or [1, time, depth]); got shape {array.shape}.")
    return array


def _one_length(length, batched):
    """An int (or `[S]`) length; a batch of one's `[1]` / `[1, S]` loses its batch axis."""
    length = np.asarray(length, "int32")
    if batched and length.ndim >= 1 and length.shape[0] == 1:
        length = length[0]
    return length


def _pair_lengths(pair, *inputs_and_lengths):
    """`[2]` (or `[2, S]`) lengths of `encode`, or None when neither is given."""
    if all(length is None for _, length in inputs_and_lengths):
        return None
    full = pair.shape[1]
    lengths = [
        np.asarray(full, "int32") if length is None else _one_length(length, np.ndim(x) == 3)
        for x, length in inputs_and_lengths
    ]
    if len({np.shape(length) for length in lengths}) > 1:
        shown = [length.tolist() for length in lengths]
        raise ValueError(f"start_length and end_length must have the same shape; got {shown}.")
    return np.stack(lengths)


def _split_controls(controls, num_inputs):
    """`(encode controls, decode controls)` of shared `[T, C]` or per-input `[N, T, C]` controls."""
    if controls is None:
        return None, None
    controls = np.asarray(controls, "float32")
    if controls.ndim == 2:
        return controls, controls
    if controls.ndim != 3 or controls.shape[0] != num_inputs:
        raise ValueError(
            f"controls must be [time, depth] (shared) or [{num_inputs}, time, depth] (one per input); "
            f"got shape {controls.shape}."
        )
    return controls, controls[0]


def _rows_of(controls, num_rows):
    """The first input's controls repeated for `num_rows` outputs (None stays None)."""
    if controls is None:
        return None
    first = np.asarray(controls)[0]
    return np.broadcast_to(first[None], (num_rows,) + first.shape)


def _four(corners):
    corners = list(corners)
    if len(corners) != 4:
        raise ValueError(
            f"A grid needs four corners (top-left, bottom-left, top-right, bottom-right); got {len(corners)}."
        )
    return corners


def _positive_int(value, name):
    if isinstance(value, bool) or not float(value).is_integer() or int(value) < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}.")
    return int(value)
