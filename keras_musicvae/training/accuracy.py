"""Reconstruction accuracy of held-out examples, as in the paper's Table 1.

The fraction of valid steps whose token is right, pooled over the held-out
set, (a) teacher-forced (the decoder sees the true previous token; Keras'
`val_accuracy`) and (b) sampled (the decoder runs free from the encoded `mu`,
greedy argmax at each step, compared step by step with the targets within
the lengths; `val_sampled_accuracy`, computed here).
"""

import numpy as np


def collect_examples(dataset, max_examples):
    """The first `max_examples` examples of a dataset of batch dicts, as NumPy."""
    parts = {}
    count = 0
    iterator = dataset.as_numpy_iterator() if hasattr(dataset, "as_numpy_iterator") else iter(dataset)
    for batch in iterator:
        for key, value in batch.items():
            parts.setdefault(key, []).append(np.asarray(value))
        count += len(batch["inputs"])
        if count >= max_examples:
            break
    return {k: np.concatenate(v)[:max_examples] for k, v in parts.items()}


def step_correct(model, samples, targets):
    """Per-step, per-stream correctness `[B, T, S]` (bool NumPy) of samples against targets.

    Each output head says what "right" is (`OutputHead.sample_correct`):
    categorical heads, the token (argmax) of each stream (S = 1, or 3 for
    trios); NADE, the whole multi-hot vector; groove, every hit.
    """
    from keras import ops

    correct = model.decoder.sample_correct(np.asarray(samples), np.asarray(targets))
    return np.asarray(ops.convert_to_numpy(correct), dtype=bool)


def padded_batches(num_examples, batch_size):
    """Equal-sized batches over `num_examples` examples, for fixed-shape calls.

    The last batch is filled up with the first examples again, so that every
    call has the same shape and a compiled function compiles once.

    Yields:
        `(index, keep)`: the example indices `[batch_size]` of a batch and how
        many of its leading rows are new examples.
    """
    for start in range(0, num_examples, batch_size):
        yield np.arange(start, start + batch_size) % num_examples, min(batch_size, num_examples - start)


def reconstruct_in_batches(model, inputs, lengths, controls=None, batch_size=128):
    """Greedy reconstructions `[N, T, D]` of `inputs`, in equal-sized calls (`padded_batches`)."""
    parts = []
    for index, keep in padded_batches(len(inputs), max(1, min(batch_size, len(inputs)))):
        batch_controls = controls[index] if model.control_depth else None
        samples = model.reconstruct(inputs[index], temperature=0.0, lengths=lengths[index], controls=batch_controls)
        parts.append(samples[:keep])
    return np.concatenate(parts)


def stream_accuracies(model, samples, targets, lengths):
    """Per-step accuracy of each output stream, pooled over the valid steps.

    Args:
        model: a `MusicVAE` (its head decides what a correct step is, see
            `step_correct`).
        samples: `[N, T, D]` model outputs (samples or logits).
        targets: `[N, T, D]` targets.
        lengths: `[N]`, or `[N, S]` per-segment lengths of `S` segments of
            `T / S` steps.

    Returns:
        list of floats, one per stream (3 for trios, else 1); `nan` for a
        stream without valid steps.
    """
    from keras_musicvae.evaluation import per_step_accuracy

    correct = step_correct(model, samples, targets)
    lengths = np.asarray(lengths)
    accuracies = []
    for stream in range(correct.shape[-1]):
        stream_correct = correct[..., stream].astype(np.int64)
        stream_lengths = lengths
        if lengths.ndim == 2:  # per-segment lengths: [N, S, T / S]
            stream_correct = stream_correct.reshape(len(stream_correct), lengths.shape[1], -1)
        else:
            stream_lengths = np.minimum(lengths, stream_correct.shape[1])
        accuracies.append(per_step_accuracy(stream_correct, np.ones_like(stream_correct), stream_lengths))
    return accuracies


def sampled_accuracy(model, examples, batch_size=128):
    """Greedy free-running reconstruction accuracy of held-out examples.

    Encodes each example, decodes from `mu` with temperature 0 (argmax),
    and compares step by step with the targets within the lengths, pooled
    over all valid steps and averaged over the streams, as Magenta's trio
    accuracy (`stream_accuracies`).

    Args:
        model: a `MusicVAE`.
        examples: dict of NumPy arrays `inputs` `[N, T, D]`, `targets`,
            `lengths` (`[N]` or `[N, S]`), `controls` (when the model has
            them), e.g. from `collect_examples`.
        batch_size: examples per decoding call (the last call is padded, so
            that every call has the same shape and compiles once).

    Returns:
        float in [0, 1] (nan when there is no valid step).
    """
    inputs = examples["inputs"]
    if len(inputs) == 0:
        return float("nan")
    samples = reconstruct_in_batches(model, inputs, examples["lengths"], examples.get("controls"), batch_size)
    targets = examples["targets"][:, : samples.shape[1]]
    return float(np.mean(stream_accuracies(model, samples, targets, examples["lengths"])))
