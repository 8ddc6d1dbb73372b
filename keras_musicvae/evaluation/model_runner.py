"""`ModelRunner`: batched, fixed-shape model calls; per-stream accuracies."""

import numpy as np

from keras_musicvae.evaluation.reconstruction_accuracy import tokens_from_one_hot


TRIO_STREAM_NAMES = ("melody", "bass", "drums")


class ModelRunner:
    """Batched, fixed-shape calls of a model (the last batch is padded so
    that every call has one shape and compiles once)."""

    def __init__(self, model, batch_size):
        from keras_musicvae.utils.backend_compile import compile_model_function

        self.model = model
        self.batch_size = int(batch_size)
        self._teacher_forced = compile_model_function(
            model, lambda z, targets, *controls: model.teacher_forced_logits(
                z, targets, controls=controls[0] if controls else None
            )
        )

    def _batches(self, n):
        from keras_musicvae.training import padded_batches

        return padded_batches(n, self.batch_size)

    def encode(self, examples):
        """`(mu, sigma)` float64 `[N, Z]`."""
        n = len(examples["inputs"])
        mus, sigmas = [], []
        for index, keep in self._batches(n):
            controls = examples["controls"][index] if "controls" in examples else None
            mu, sigma = self.model.encode(
                examples["inputs"][index], lengths=examples["lengths"][index], controls=controls
            )
            mus.append(mu[:keep])
            sigmas.append(sigma[:keep])
        return np.concatenate(mus).astype(np.float64), np.concatenate(sigmas).astype(np.float64)

    def decode(self, z, temperature, seed, controls=None, length=None):
        """Samples `[N, T, output_depth]` from `z` `[N, Z]`; batch i uses seed + i."""
        z = np.asarray(z, dtype="float32")
        out = []
        for number, (index, keep) in enumerate(self._batches(len(z))):
            samples = self.model.decode(
                z[index],
                temperature=temperature,
                length=length,
                seed=None if seed is None else int(seed) + number,
                controls=None if controls is None else controls[index],
            )
            out.append(samples[:keep])
        return np.concatenate(out)

    def teacher_forced_logits(self, z, examples):
        """Logits `[N, T, U]` with the targets fed back (teacher forcing)."""
        from keras import ops

        z = np.asarray(z, dtype="float32")
        out = []
        for index, keep in self._batches(len(z)):
            args = [ops.convert_to_tensor(z[index]), ops.convert_to_tensor(examples["targets"][index])]
            if "controls" in examples:
                args.append(ops.convert_to_tensor(examples["controls"][index]))
            logits = self._teacher_forced(*args)
            out.append(ops.convert_to_numpy(logits)[:keep])
        return np.concatenate(out)


def stream_bounds(model):
    depths = model.output_depths or [model.output_depth]
    bounds = np.cumsum([0] + list(depths))
    if len(depths) == 3 and list(depths) == [90, 90, 512]:
        names = TRIO_STREAM_NAMES
    elif len(depths) == 1:
        names = ("output",)
    else:
        names = tuple(f"stream_{i}" for i in range(len(depths)))
    return {name: (int(a), int(b)) for name, a, b in zip(names, bounds[:-1], bounds[1:])}


def accuracies(model, predicted, targets, lengths):
    """Pooled per-step accuracy (mean over streams) and per-stream accuracies
    (named; empty for single-stream models)."""
    from keras_musicvae.training import stream_accuracies

    accuracies = stream_accuracies(model, predicted, targets, lengths)
    overall = float(np.mean(accuracies))
    if len(accuracies) == 1:
        return overall, {}
    return overall, dict(zip(stream_bounds(model), accuracies))


def majority_accuracy(model, targets, lengths):
    """Accuracy of always predicting each stream's most frequent target token
    (for melodies: "no event"), a trivial reference for the accuracies."""
    predicted = np.zeros_like(targets)
    for start, stop in stream_bounds(model).values():
        tokens = tokens_from_one_hot(targets[..., start:stop])
        mask = np.arange(tokens.shape[1]) < lengths[:, None]
        majority = np.bincount(tokens[mask], minlength=stop - start).argmax()
        predicted[..., start + majority] = 1.0
    return accuracies(model, predicted, targets, lengths)[0]


def has_class_logits(model):
    """Whether the model's decoder gives per-step class logits (teacher forcing).

    The heads say so (`OutputHead.class_logits`): true for the categorical
    heads; NADE and GrooVAE outputs are not per-step class logits.
    """
    return model.decoder.class_logits


def is_single_stream_categorical(model):
    """Whether the model outputs one categorical token per step (melody, drums)."""
    return model.decoder.class_logits and model.decoder.num_streams == 1
