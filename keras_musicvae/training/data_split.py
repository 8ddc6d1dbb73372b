"""The held-out split of a training corpus, and its shards per worker."""

import glob
import hashlib
import os
import pathlib

import numpy as np

# The shards of `data/beam_pipeline.py` (`tools/prepare_corpus.py`).
BEAM_SHARDS = ("train-*.tfrecord", "eval-*.tfrecord")


def held_out(name, eval_fraction):
    """Whether `name` falls in the held-out split (a stable hash of the name).

    Args:
        name: a file name (relative path) or NoteSequence filename.
        eval_fraction: float in [0, 1), the share held out.
    """
    bucket = int(hashlib.sha1(str(name).encode("utf-8")).hexdigest()[:8], 16) % 10000
    return bucket < eval_fraction * 10000


def split_names(names, eval_fraction):
    """`(train_indices, eval_indices)`: a stable split of `names` by hash.

    At least one name is held out when there are two or more and
    `eval_fraction > 0` (the one with the smallest hash bucket), so that a
    small folder still gets an evaluation set.
    """
    names = [str(n) for n in names]
    eval_idx = [i for i, n in enumerate(names) if held_out(n, eval_fraction)]
    if not eval_idx and len(names) >= 2 and eval_fraction > 0:
        buckets = [int(hashlib.sha1(n.encode("utf-8")).hexdigest()[:8], 16) for n in names]
        eval_idx = [int(np.argmin(buckets))]
    if len(eval_idx) == len(names):
        eval_idx = eval_idx[:-1]
    chosen = set(eval_idx)
    return [i for i in range(len(names)) if i not in chosen], eval_idx


def resolve_training_data(data, eval_data=None, eval_fraction=0.1):
    """Turns `--data` / `--eval-data` into sources for `pipeline.make_dataset`.

    `data` may be a folder written by `keras-musicvae prepare` (holding
    `train.tfrecord` and maybe `eval.tfrecord`) or by the Beam pipeline
    (`train-*-of-*.tfrecord`, `eval-*-of-*.tfrecord` shards), a TFRecord
    (or glob) of NoteSequences,
    or MIDI files / folders. Without `eval_data` (and no `eval.tfrecord`),
    a stable `eval_fraction` of the files (or NoteSequences) is held out.

    Returns:
        `(train_source, eval_source or None, description)`.
    """
    from keras_musicvae.data import midi_io
    from keras_musicvae.data import pipeline

    path = pathlib.Path(os.path.expanduser(str(data)))
    for train_name, eval_name in (("train.tfrecord", "eval.tfrecord"), BEAM_SHARDS):
        if path.is_dir() and glob.glob(str(path / train_name)):
            train, held = str(path / train_name), str(path / eval_name)
            if eval_data is None and glob.glob(held):
                return train, held, f"{train} (+ {held} held out)"
            data = train
            path = pathlib.Path(train)
            break
    if eval_data is not None:
        return str(data), str(eval_data), f"{data} (evaluation on {eval_data})"
    if pipeline.is_tfrecord_name(path) and not path.is_dir():
        sequences = list(pipeline.read_note_sequences(str(path)))
        if not sequences:
            raise ValueError(f"{path} holds no NoteSequences.")
        names = [s.filename or s.id or str(i) for i, s in enumerate(sequences)]
        train_idx, eval_idx = split_names(names, eval_fraction)
        return (
            [sequences[i] for i in train_idx],
            [sequences[i] for i in eval_idx] or None,
            f"{path}: {len(train_idx)} sequences for training, {len(eval_idx)} held out",
        )
    files = midi_io.find_midi_files(str(path))
    if not files:
        raise ValueError(f"No MIDI files (*.mid, *.midi) in {path}.")
    root = path if path.is_dir() else path.parent
    names = [os.path.relpath(f, root) for f in files]
    train_idx, eval_idx = split_names(names, eval_fraction)
    return (
        [files[i] for i in train_idx],
        [files[i] for i in eval_idx] or None,
        f"{path}: {len(train_idx)} files for training, {len(eval_idx)} held out",
    )


def shard_source(source, num_shards, index):
    """The part of a training source that one of `num_shards` input pipelines reads.

    A list of files (or NoteSequences), or a glob of TFRecord shards, with
    at least `num_shards` entries is split by file: pipeline `index` takes entries `index, index + num_shards,
    ...`, so that no two pipelines convert the same file. Anything else (a
    single TFRecord, fewer files than pipelines) is left whole, to be split
    by example after conversion (`shard_by_example`).

    Args:
        source: a training source (see `resolve_training_data`).
        num_shards: the number of input pipelines (workers or processes).
        index: this pipeline's index in `[0, num_shards)`.

    Returns:
        `(source_part, "file" or "example")`; `(source, "none")` for one pipeline.
    """
    if num_shards <= 1:
        return source, "none"
    if not 0 <= index < num_shards:
        raise ValueError(f"input pipeline index {index} is not in [0, {num_shards}).")
    if isinstance(source, (str, os.PathLike)) and not os.path.isdir(source):
        shards = sorted(glob.glob(os.fspath(source)))  # a TFRecord glob: its shards are files
        if len(shards) >= num_shards:
            return shards[index::num_shards], "file"
    if isinstance(source, (list, tuple)) and len(source) >= num_shards:
        return list(source)[index::num_shards], "file"
    return source, "example"


def shard_by_example(dataset, num_shards, index, batch_size):
    """Every `num_shards`-th example of a batched dataset, from `index`, rebatched.

    The input must be deterministic and identical in every pipeline (same
    source, same seed), and batched by `batch_size * num_shards`: each of its
    batches becomes one batch of `batch_size` per pipeline, so the pipelines
    together read each batch of the undivided dataset once.
    """
    return dataset.unbatch().shard(num_shards, index).batch(batch_size, drop_remainder=True)
