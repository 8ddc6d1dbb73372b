"""`make_dataset` / `dataset_from_tensors`: examples -> `tf.data.Dataset`.

Assembles the batches of the two strategies described in
`keras_musicvae.data.pipeline` (the example cache, or streaming conversion
through a shuffle buffer) into a `tf.data.Dataset` whose iterations are
successive epochs. TensorFlow is imported lazily.
"""

import dataclasses
import itertools
import logging
import time

import numpy as np

from keras_musicvae.data import blocks as blocks_lib
from keras_musicvae.data import conversion
from keras_musicvae.data import example_cache
from keras_musicvae.data import parallel
from keras_musicvae.data import sources
from keras_musicvae.data import worker
from keras_musicvae.data.shuffle_buffer import ShuffleBuffer
from keras_musicvae.data.stats import PipelineStats

logger = logging.getLogger("keras_musicvae.data")


def _output_signature(spec, batch_size, steps, drop_remainder):
    import tensorflow as tf

    b = batch_size if drop_remainder else None
    signature = {
        "inputs": tf.TensorSpec([b, steps, spec.input_depth], tf.float32),
        "targets": tf.TensorSpec([b, steps, spec.output_depth], tf.float32),
        "lengths": tf.TensorSpec([b, *spec.length_shape], tf.int32),
    }
    if spec.control_depth:
        signature["controls"] = tf.TensorSpec([b, steps, spec.control_depth], tf.float32)
    return signature


def _from_epochs(make_epoch, spec, batch_size, steps, *, repeat, deterministic, drop_remainder,
                 batches_per_epoch=None):
    """A dataset whose iterations are successive epochs of `make_epoch(epoch)`.

    Epoch numbers keep counting across iterations of the dataset, so that
    `model.fit(dataset, epochs=N)` sees N fresh epochs; with `repeat` one
    iteration runs forever. `batches_per_epoch`, when known, is asserted as
    the dataset's cardinality (Keras then knows the epoch length).
    """
    import tensorflow as tf

    counter = itertools.count()

    def one_epoch():
        produced = 0
        for batch in make_epoch(next(counter)):
            produced += 1
            yield batch
        if not produced:
            raise ValueError(
                f"An epoch gave no batch of {batch_size} example(s): there are fewer "
                "examples per epoch than one batch. Lower the batch size, add data, or "
                "pass drop_remainder=False."
            )

    dataset = tf.data.Dataset.from_generator(
        one_epoch, output_signature=_output_signature(spec, batch_size, steps, drop_remainder)
    )
    if batches_per_epoch is not None:
        dataset = dataset.apply(tf.data.experimental.assert_cardinality(batches_per_epoch))
    if repeat:
        dataset = dataset.repeat()
    options = tf.data.Options()
    options.deterministic = bool(deterministic)
    return dataset.with_options(options).prefetch(tf.data.AUTOTUNE)


def _num_batches(num_examples, batch_size, drop_remainder):
    return num_examples // batch_size if drop_remainder else -(-num_examples // batch_size)


def _batches(block, spec, batch_size, drop_remainder):
    stop = len(block) - (len(block) % batch_size if drop_remainder else 0)
    for start in range(0, stop, batch_size):
        yield spec.batch(block.take(slice(start, start + batch_size)))


def _base_seed(seed):
    if seed is not None:
        return int(seed)
    return int(np.random.SeedSequence().entropy % (2**63))


def dataset_from_tensors(
    tensors,
    batch_size,
    *,
    converter=None,
    shuffle=True,
    repeat=False,
    seed=None,
    deterministic=None,
    max_seq_len=None,
    drop_remainder=True,
):
    """A dataset of batch dicts from examples already converted.

    Args:
        tensors: A `ConverterTensors` (lists of `[T, depth]` arrays), e.g.
            from `conversion.convert_midi_files`.
        batch_size: Examples per batch.
        converter: The converter that made them (depths, dtypes,
            `length_shape`); when None they are read off the arrays.
        shuffle: Shuffle the examples every epoch.
        repeat: Repeat forever (else one epoch per iteration).
        seed: Seed of the shuffling (None: random).
        deterministic: tf.data determinism (default: True when `seed` given).
        max_seq_len: Pad to this many steps, dropping longer examples;
            default: the longest example.
        drop_remainder: Drop the last incomplete batch.

    Returns:
        A `tf.data.Dataset` of batch dicts (see the module docstring).
    """
    if not len(tensors):
        raise ValueError("dataset_from_tensors: there are no examples.")
    spec = blocks_lib.ArraySpec.of(converter) if converter is not None else blocks_lib.ArraySpec.of_arrays(tensors)
    block = blocks_lib.to_block(tensors, spec, pack=True)
    steps = max_seq_len if max_seq_len is not None else block.inputs.shape[1]
    block, dropped = block.fit_to(steps)
    if dropped:
        logger.info("dataset_from_tensors: %d example(s) longer than %d steps dropped", dropped, steps)
    if not len(block):
        raise ValueError(f"dataset_from_tensors: every example is longer than max_seq_len={steps}.")
    base = _base_seed(seed)

    def make_epoch(epoch):
        order = np.random.default_rng([base, epoch]).permutation(len(block)) if shuffle else slice(None)
        yield from _batches(block.take(order), spec, batch_size, drop_remainder)

    return _from_epochs(
        make_epoch, spec, batch_size, steps, repeat=repeat,
        deterministic=seed is not None if deterministic is None else deterministic,
        drop_remainder=drop_remainder,
        batches_per_epoch=_num_batches(len(block), batch_size, drop_remainder),
    )


def _converter_copy(converter, mode, uncapped=False):
    """A copy of `converter` in `mode`, optionally without its per-file cap."""
    config = dict(converter.get_config())
    config["mode"] = mode
    if uncapped and "max_tensors_per_notesequence" in config:
        config["max_tensors_per_notesequence"] = None
    return type(converter).from_config(config)


def epoch_cap(converter):
    """The per-file cap sampled in each training epoch.

    A converter opts out with `applies_max_tensors_cap = False` (Magenta's
    GrooVAE converter stores a cap but never applies it).
    """
    if not converter.applies_max_tensors_cap:
        return None
    return converter.max_tensors_per_notesequence


def fixed_sequence_length(converter):
    """The converter's fixed example length in steps, when it declares one."""
    for name in ("sequence_length", "slice_steps"):
        value = getattr(converter, name, None)
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value > 0:
            return int(value)
    return None


@dataclasses.dataclass(frozen=True)
class DatasetOptions:
    """How `make_dataset` orders, repeats, pads and converts examples.

    Every field's `None` means "the default for the mode" (see each field).

    Attributes:
        shuffle: Shuffle the examples (default: True in "train" mode).
        shuffle_buffer: Examples in the shuffle buffer of the streaming
            strategy (`cache=False`; default `max(1000, 10 * batch_size)`);
            with the cache every epoch is shuffled as a whole.
        repeat: Repeat forever (for `fit(steps_per_epoch=...)`); otherwise
            each iteration of the dataset is one epoch, with fresh random
            choices.
        cache: Keep converted arrays in memory (see
            `keras_musicvae.data.pipeline`); False converts every epoch.
        seed: Seed of every random choice (None: random).
        deterministic: tf.data determinism (default: True when `seed` is
            given).
        max_seq_len: Pad to this many steps, dropping (and counting) longer
            examples. Default: the converter's fixed length, else the
            longest example.
        drop_remainder: Drop the last incomplete batch (default: True in
            "train" mode, as Magenta; False otherwise).
        num_workers: Conversion processes (default: the CPUs available; 0
            or 1: in this process).
        limits: `midi_io.MidiSanityLimits` for reading and converting
            (length limits) and the per-file budget of worker processes.
        progress: Show a progress bar during the first conversion pass.
    """

    shuffle: bool = None
    shuffle_buffer: int = None
    repeat: bool = False
    cache: bool = True
    seed: int = None
    deterministic: bool = None
    max_seq_len: int = None
    drop_remainder: bool = None
    num_workers: int = None
    limits: object = None
    progress: bool = True

    def resolved(self, mode, batch_size):
        """These options with every mode-dependent `None` filled in."""
        training = mode == "train"
        return dataclasses.replace(
            self,
            shuffle=training if self.shuffle is None else self.shuffle,
            drop_remainder=training if self.drop_remainder is None else self.drop_remainder,
            deterministic=self.seed is not None if self.deterministic is None else self.deterministic,
            seed=_base_seed(self.seed),
            shuffle_buffer=self.shuffle_buffer or max(1000, 10 * batch_size),
        )


_OPTION_NAMES = tuple(field.name for field in dataclasses.fields(DatasetOptions))


def make_dataset(source, converter, batch_size, *, mode="train", augmenter=None, options=None,
                 return_stats=False, **option_values):
    """A `tf.data.Dataset` of batch dicts for `model.fit`, from MIDI or NoteSequences.

    The fields of `DatasetOptions` may be given as keywords
    (`make_dataset(..., repeat=True, seed=0)`) or as `options=`; keywords
    override `options`.

    Args:
        source: A folder of MIDI files (searched recursively), a glob, a MIDI
            file or a list of MIDI files/folders; a TFRecord file or glob of
            serialized NoteSequences (a name containing ".tfrecord"); or a
            list of `NoteSequence`s.
        converter: A `DataConverter` (not modified: a copy in `mode` is used).
        batch_size: Examples per batch.
        mode: "train": per-epoch augmentation and per-file sampling of
            `max_tensors_per_notesequence` windows, shuffled. "eval" /
            "infer": the converter's own (first-`cap`) examples, in file
            order unless `shuffle`.
        augmenter: A `NoteSequenceAugmenter`, used in "train" mode only.
        options: A `DatasetOptions`.
        return_stats: Also return the `PipelineStats` of the first pass.
        **option_values: `DatasetOptions` fields (`shuffle`, `repeat`,
            `seed`, `num_workers`, ...).

    Returns:
        The dataset, or `(dataset, stats)` with `return_stats`.

    Raises:
        TypeError: For a keyword that is not a `DatasetOptions` field.
        ValueError: For a bad mode or batch size, or if no file gives any
            example (the message says why).
    """
    unknown = sorted(set(option_values) - set(_OPTION_NAMES))
    if unknown:
        raise TypeError(
            f"make_dataset() got unexpected keyword argument(s) {', '.join(unknown)}; "
            f"the options are {', '.join(_OPTION_NAMES)}."
        )
    if mode not in ("train", "eval", "infer"):
        raise ValueError(f"Unknown mode {mode!r}; use 'train', 'eval' or 'infer'.")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
    options = dataclasses.replace(options or DatasetOptions(), **option_values).resolved(mode, batch_size)
    augmenter = augmenter if mode == "train" else None
    items = sources.resolve_source(source)
    if not items:
        raise ValueError(f"No MIDI files or NoteSequences found in {source!r}.")
    if not options.cache or (augmenter is not None and not augmenter.is_discrete):
        dataset, stats = _streaming_dataset(items, converter, batch_size, mode, augmenter, options)
    else:
        dataset, stats = _cached_dataset(items, converter, batch_size, mode, augmenter, options)
    return (dataset, stats) if return_stats else dataset


def _cached_dataset(items, converter, batch_size, mode, augmenter, options):
    training = mode == "train"
    # In training the cap is sampled per epoch here, so convert uncapped.
    work_converter = _converter_copy(converter, mode, uncapped=training)
    spec = blocks_lib.ArraySpec.of(work_converter)
    cache = example_cache.ExampleCache(
        items, work_converter, spec, limits=options.limits, seed=options.seed,
        num_workers=options.num_workers, max_seq_len=options.max_seq_len,
        fixed_length=fixed_sequence_length(converter), progress=options.progress,
    )
    stats = cache.stats
    logger.info("Data conversion: %s", stats)
    if not cache.num_examples:
        raise ValueError(no_examples_message(stats, converter))
    transpositions = augmenter.transpositions if augmenter is not None else [0]
    cap = epoch_cap(converter) if training else None
    stats.examples_per_epoch = sum(
        len(b) if cap is None else min(cap, len(b)) for (_, t), b in cache.blocks.items() if t == 0
    )
    drop_remainder = options.drop_remainder

    def make_epoch(epoch):
        rng = np.random.default_rng([options.seed, epoch])
        block = cache.epoch(rng, transpositions=transpositions, cap=cap, shuffle=options.shuffle)
        if epoch == 0:
            logger.info("Example cache: %d block(s), %.1f MiB", len(cache.blocks), cache.nbytes / 2**20)
        if block is not None:
            yield from _batches(block, spec, batch_size, drop_remainder)

    # Without augmentation every epoch has the same number of examples.
    known = len(transpositions) == 1
    dataset = _from_epochs(
        make_epoch, spec, batch_size, cache.steps, repeat=options.repeat,
        deterministic=options.deterministic, drop_remainder=drop_remainder,
        batches_per_epoch=_num_batches(stats.examples_per_epoch, batch_size, drop_remainder) if known else None,
    )
    return dataset, stats


def _streaming_dataset(items, converter, batch_size, mode, augmenter, options):
    # No progress bar: conversion happens while training.
    work_converter = _converter_copy(converter, mode)
    spec = blocks_lib.ArraySpec.of(work_converter)
    steps = options.max_seq_len or fixed_sequence_length(converter)
    seed, shuffle, drop_remainder = options.seed, options.shuffle, options.drop_remainder
    stats = PipelineStats(files=len(items))

    def make_epoch(epoch):
        rng = np.random.default_rng([seed, epoch])
        order = rng.permutation(len(items)) if shuffle else np.arange(len(items))
        work = [(int(i), items[i], None) for i in order]
        tasks = [
            worker.Task(converter=work_converter, items=chunk, augmenter=augmenter,
                        limits=options.limits, seed=seed, epoch=epoch)
            for chunk in parallel.chunks(work, parallel.FILES_PER_TASK)
        ]
        first = epoch == 0  # the statistics describe the first epoch
        start = time.perf_counter()
        buffer = ShuffleBuffer(options.shuffle_buffer if shuffle else 0, rng, spec, steps)
        produced = 0
        with parallel.Runner(parallel.workers_for(options.num_workers, len(tasks))) as runner:
            for results in runner.map(tasks):
                for result in results:
                    if first:
                        conversion.record_result(stats, result)
                    if result.blocks:
                        too_long = buffer.add(result.blocks[0])
                        if first:
                            stats.examples_too_long += too_long
                for batch in buffer.full_batches(batch_size):
                    produced += 1
                    yield batch
        if first:
            stats.seconds = time.perf_counter() - start
            logger.info("Data conversion (first epoch): %s", stats)
        for batch in buffer.drain(batch_size, drop_remainder):
            produced += 1
            yield batch
        if first and not produced:
            raise ValueError(no_examples_message(stats, converter))

    dataset = _from_epochs(
        make_epoch, spec, batch_size, steps, repeat=options.repeat,
        deterministic=options.deterministic, drop_remainder=drop_remainder,
    )
    return dataset, stats


def no_examples_message(stats, converter):
    """Why a source gave no example: the statistics and what to check."""
    return (
        f"No examples were extracted with {type(converter).__name__}.\n{stats}\n"
        "Check that the files match what the converter expects (time signature, "
        "instruments, length)."
    )
