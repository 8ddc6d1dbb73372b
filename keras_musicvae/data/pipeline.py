"""MIDI / NoteSequences -> `tf.data.Dataset` of batch dicts for `model.fit`.

A batch is a dict:

* `inputs`: `[B, T, input_depth]` float32, the encoder inputs;
* `targets`: `[B, T, output_depth]` float32, the decoder targets;
* `lengths`: `[B] + converter.length_shape` int32 (`[B]`, or `[B, 8]` for
  multiperf);
* `controls`: `[B, T, control_depth]` float32, only when
  `converter.control_depth > 0`.

`model.fit(dataset)` takes such a dataset with no separate `y`.

How conversion runs. Reading MIDI and `converter.to_tensors` are pure
Python, so they run in worker processes (`concurrent.futures`), a chunk of
files per task, results kept in input order. A file that cannot be read or
converted is skipped, never fatal: its reason is counted in `PipelineStats`
and one log line names it.

What one file may cost. Everywhere (workers or not), a file lasting more
than `MidiSanityLimits.max_quarter_notes` / `max_seconds` is refused as
"too long" before any quantization. In worker processes each file is also
read and converted under a budget (`budget.file_budget`): beyond
`file_cpu_seconds` of CPU time it is skipped as "timed out", beyond
`file_memory_bytes` of added address space as "out of memory". If a worker
dies all the same (killed by the system, a crash in C code) or stops
answering, the pool is replaced and the files of the unfinished tasks are
converted again one at a time, so that only the file responsible is counted,
as "worker process died" (or "timed out").

How per-epoch randomness is done. In training Magenta draws, every time a
file is used, a fresh transposition (`NoteSequenceAugmenter`, applied to the
NoteSequence *before* conversion, so notes pushed out of range and melodies
leaving the converter's pitch range really disappear) and a fresh random
choice of at most `max_tensors_per_notesequence` windows. (Magenta's own
`get_dataset` caches after conversion when `--cache_dataset` is on, its
default, which freezes both choices after the first pass; here they are
always fresh.) Two strategies give this, chosen by `cache`:

* `cache=True` (default): converted arrays are kept in memory per
  (file, transposition), bit-packed (a one-hot step costs 12 bytes, not 90),
  converted without the per-file cap. A first pass converts every file
  untransposed, in worker processes (statistics and "no examples" errors come
  from it). Each epoch then draws, per file, one transposition uniformly from
  `augmenter.transpositions` and at most `cap` of that version's windows,
  and shuffles the whole epoch: Magenta's distribution (the cap applies per
  file rather than per time-signature section and per file, a negligible
  difference). A (file, transposition) pair is converted, in the workers,
  the first time an epoch draws it, and kept: the first epochs convert a
  little, later ones nothing, and at most K versions per file are ever
  converted or held (K = 11 for -5..5). So no conversion CPU is taken from
  training once the cache is warm. This suits the published configurations
  (transposition only) and corpora whose K versions fit in memory.
* `cache=False`: each epoch re-reads and converts every file in worker
  processes, with a fresh random augmentation (any `stretch_range`
  included: a continuous stretch cannot be precomputed) and a fresh cap
  sampling, feeding a shuffle buffer of `shuffle_buffer` examples. Memory
  stays small; conversion CPU is spent every epoch (in parallel with
  training). Also the choice for converters whose training-mode conversion is
  itself random (GrooVAE note dropout). An augmenter with a `stretch_range`
  implies this strategy.

`tf.py_function` (Magenta's way) was not chosen: it runs the conversion
under the GIL of the training process, i.e. on one core at best.

Determinism: with a `seed`, every random choice is a function of
(seed, epoch, file index), so the batches do not depend on the number of
workers or on timing; a dataset iterated twice gives epochs 0 and 1.

TensorFlow is imported lazily, so worker processes never load it.
"""

import collections
import concurrent.futures
import concurrent.futures.process
import contextlib
import dataclasses
import glob
import itertools
import logging
import multiprocessing
import os
import sys
import time

import numpy as np

from keras_musicvae.data import budget
from keras_musicvae.data import midi_io
from keras_musicvae.data.converter import empty_tensors

logger = logging.getLogger("keras_musicvae.data")

TFRECORD_MARKERS = (".tfrecord", ".tfrecords", ".tfr")
_FILES_PER_TASK = 16
_MAX_FAILED_NAMES = 5


# ---------------------------------------------------------------------------
# Statistics
# ---------------------------------------------------------------------------


@dataclasses.dataclass
class PipelineStats:
    """What happened to the files of a conversion run.

    Attributes:
        files: Files (or NoteSequences) submitted.
        files_read: Files read successfully.
        files_failed: Counter of failure reasons (`MidiReadError.reason`, or
            "converter error: <type>").
        failed_examples: For each failure reason, up to 5 file names.
        files_without_examples: Files read that gave no example.
        no_example_reasons: Counter of the converters' reasons (from their
            `ConversionReport`s), summed over all files.
        examples: Examples made (untransposed). In "train" mode with a
            per-file cap sampled every epoch, all windows before the cap.
        examples_per_epoch: Examples each epoch yields (before batching;
            with augmentation, the untransposed count).
        zero_length_notes_dropped: Notes of zero duration dropped.
        examples_too_long: Examples dropped for exceeding `max_seq_len`.
        seconds: Wall-clock time of the run.
    """

    files: int = 0
    files_read: int = 0
    files_failed: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    failed_examples: dict = dataclasses.field(default_factory=dict)
    files_without_examples: int = 0
    no_example_reasons: collections.Counter = dataclasses.field(
        default_factory=collections.Counter
    )
    examples: int = 0
    examples_per_epoch: int = 0
    zero_length_notes_dropped: int = 0
    examples_too_long: int = 0
    seconds: float = 0.0

    @property
    def num_failed(self):
        return sum(self.files_failed.values())

    def record_failure(self, name, reason):
        self.files_failed[reason] += 1
        names = self.failed_examples.setdefault(reason, [])
        if len(names) < _MAX_FAILED_NAMES:
            names.append(name)

    def merge(self, other):
        """Adds the counts of another `PipelineStats`."""
        self.files += other.files
        self.files_read += other.files_read
        self.files_failed.update(other.files_failed)
        for reason, names in other.failed_examples.items():
            mine = self.failed_examples.setdefault(reason, [])
            mine.extend(names[: _MAX_FAILED_NAMES - len(mine)])
        self.files_without_examples += other.files_without_examples
        self.no_example_reasons.update(other.no_example_reasons)
        self.examples += other.examples
        self.examples_per_epoch += other.examples_per_epoch
        self.zero_length_notes_dropped += other.zero_length_notes_dropped
        self.examples_too_long += other.examples_too_long
        self.seconds += other.seconds

    def __str__(self):
        lines = [
            f"{self.files} file(s): {self.files_read} read, {self.num_failed} failed; "
            f"{self.examples} example(s) from {self.files_read - self.files_without_examples} "
            f"file(s)"
            + (f" in {self.seconds:.1f} s" if self.seconds else "")
        ]
        if self.examples_per_epoch and self.examples_per_epoch != self.examples:
            lines.append(f"  {self.examples_per_epoch} example(s) per epoch (per-file cap)")
        if self.files_failed:
            lines.append("  failed files:")
            for reason, count in self.files_failed.most_common():
                names = ", ".join(os.path.basename(n) for n in self.failed_examples.get(reason, []))
                more = ", ..." if count > len(self.failed_examples.get(reason, [])) else ""
                lines.append(f"    {count:6d}  {reason}  ({names}{more})")
        if self.files_without_examples:
            lines.append(f"  {self.files_without_examples} file(s) gave no example; reasons:")
            for reason, count in self.no_example_reasons.most_common():
                lines.append(f"    {count:6d}  {reason}")
        if self.zero_length_notes_dropped:
            lines.append(f"  {self.zero_length_notes_dropped} zero-length note(s) dropped")
        if self.examples_too_long:
            lines.append(f"  {self.examples_too_long} example(s) longer than max_seq_len dropped")
        return "\n".join(lines)


# ---------------------------------------------------------------------------
# Sources
# ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Item:
    """One unit of work: a MIDI file path or a serialized NoteSequence."""

    name: str
    path: str = None
    serialized: bytes = None


def _is_tfrecord_name(path):
    name = os.path.basename(str(path)).lower()
    return any(marker in name for marker in TFRECORD_MARKERS)


def resolve_source(source):
    """Turns a dataset source into a list of work items (see `make_dataset`)."""
    from note_seq.protobuf import music_pb2

    if isinstance(source, music_pb2.NoteSequence):
        source = [source]
    if isinstance(source, (list, tuple)) and source and all(
        isinstance(s, music_pb2.NoteSequence) for s in source
    ):
        return [
            _Item(name=ns.filename or ns.id or f"note_sequence[{i}]", serialized=ns.SerializeToString())
            for i, ns in enumerate(source)
        ]
    if isinstance(source, (list, tuple)) and not source:
        raise ValueError("The dataset source is an empty list.")
    paths = source if isinstance(source, (list, tuple)) else [source]
    items = []
    for path in paths:
        path = os.fspath(path)
        if not os.path.isdir(path) and _is_tfrecord_name(path):
            for record_path in _match_files(path):
                for i, serialized in enumerate(_read_tfrecord(record_path)):
                    items.append(_Item(name=f"{record_path}[{i}]", serialized=serialized))
        else:
            items.extend(_Item(name=p, path=p) for p in midi_io.find_midi_files(path))
    return items


def _match_files(pattern):
    if os.path.isfile(pattern):
        return [pattern]
    matches = sorted(glob.glob(pattern, recursive=True))
    if not matches:
        raise FileNotFoundError(f"No files match {pattern!r}.")
    return matches


# ---------------------------------------------------------------------------
# TFRecords of NoteSequences
# ---------------------------------------------------------------------------


def write_note_sequences(path, note_sequences):
    """Writes NoteSequences to a TFRecord file (one serialized proto per record).

    Args:
        path: Output file.
        note_sequences: Iterable of `NoteSequence`s.

    Returns:
        The number of records written.
    """
    import tensorflow as tf

    count = 0
    with tf.io.TFRecordWriter(os.fspath(path)) as writer:
        for ns in note_sequences:
            writer.write(ns.SerializeToString())
            count += 1
    return count


def read_note_sequences(path):
    """Yields the NoteSequences of TFRecord file(s) (a path, glob or list)."""
    from note_seq.protobuf import music_pb2

    paths = path if isinstance(path, (list, tuple)) else [path]
    for pattern in paths:
        for record_path in _match_files(os.fspath(pattern)):
            for serialized in _read_tfrecord(record_path):
                yield music_pb2.NoteSequence.FromString(serialized)


def _read_tfrecord(path):
    import tensorflow as tf

    for record in tf.data.TFRecordDataset(path):
        yield record.numpy()


# ---------------------------------------------------------------------------
# Worker side (no TensorFlow here)
# ---------------------------------------------------------------------------


@dataclasses.dataclass
class _Block:
    """The examples of one (item, variant), stacked and maybe bit-packed.

    inputs/outputs/controls: `[n, T, depth]`, or uint8 `[n, T, ceil(depth/8)]`
    when packed (bool arrays); lengths: `[n] + length_shape` int32; steps:
    `[n]` the unpadded number of rows of each example.
    """

    inputs: np.ndarray
    outputs: np.ndarray
    controls: np.ndarray
    lengths: np.ndarray
    steps: np.ndarray

    def __len__(self):
        return len(self.lengths)

    @property
    def nbytes(self):
        arrays = {id(a): a for a in (self.inputs, self.outputs, self.controls, self.lengths)}
        return sum(a.nbytes for a in arrays.values())

    def take(self, rows):
        return _Block(
            self.inputs[rows], self.outputs[rows], self.controls[rows], self.lengths[rows], self.steps[rows]
        )

    def fit_to(self, steps):
        """Drops examples longer than `steps`, pads the rest to `steps` rows.

        Returns:
            `(block, number dropped)`.
        """
        dropped = 0
        block = self
        keep = self.steps <= steps
        if not keep.all():
            dropped = int((~keep).sum())
            block = self.take(keep)
        width = block.inputs.shape[1]
        if width > steps:
            cut = slice(0, steps)
            block = _Block(block.inputs[:, cut], block.outputs[:, cut], block.controls[:, cut],
                           block.lengths, block.steps)
        elif width < steps:
            pad = [(0, 0), (0, steps - width), (0, 0)]
            same = block.outputs is block.inputs
            inputs = np.pad(block.inputs, pad)
            block = _Block(inputs, inputs if same else np.pad(block.outputs, pad),
                           np.pad(block.controls, pad), block.lengths, block.steps)
        return block, dropped


@dataclasses.dataclass
class _ItemResult:
    index: int
    name: str
    failure: tuple = None  # (reason, detail)
    zero_length_notes: int = 0
    blocks: list = None  # one _Block per requested variant
    reasons: collections.Counter = None  # the converter's reasons (first variant)
    num_examples: int = 0  # of the first variant


@dataclasses.dataclass
class _Task:
    """Work for one worker call.

    items: `[(index, _Item, variants)]`, variants a list of
    `(transposition, stretch)`, or None for one fresh draw of `augmenter`
    (seeded by (seed, epoch, index)).
    """

    converter: object
    items: list
    augmenter: object = None
    limits: object = None
    root: str = None
    seed: int = None  # None: the converter's randomness is left alone
    epoch: int = 0
    pack: bool = True


def _stack(arrays, depth, dtype, pack):
    """List of `[T_i, depth]` arrays -> `[n, max T_i, depth]` (maybe packed)."""
    n = len(arrays)
    steps = max((len(a) for a in arrays), default=0)
    out = np.zeros((n, steps, depth), dtype=dtype)
    for i, a in enumerate(arrays):
        if len(a):
            out[i, : len(a)] = a
    if pack and dtype == np.bool_ and depth:
        return np.packbits(out, axis=-1)
    return out


def _to_block(tensors, spec, pack):
    """`ConverterTensors` -> `_Block` (`spec`: a converter or a `_Spec`)."""
    n = len(tensors)
    steps = np.array([len(a) for a in tensors.inputs], dtype=np.int32)
    lengths = np.zeros((n, *spec.length_shape), dtype=np.int32)
    for i, length in enumerate(tensors.lengths):
        lengths[i] = length
    control_depth = spec.control_depth or 0
    inputs = _stack(tensors.inputs, spec.input_depth, np.dtype(spec.input_dtype), pack)
    outputs = _stack(tensors.outputs, spec.output_depth, np.dtype(spec.output_dtype), pack)
    if inputs.shape == outputs.shape and inputs.dtype == outputs.dtype and np.array_equal(inputs, outputs):
        outputs = inputs  # melody and trio targets are their inputs: keep one copy
    controls = _stack(
        tensors.controls if control_depth else [np.zeros((len(a), 0)) for a in tensors.inputs],
        control_depth,
        np.dtype(spec.control_dtype),
        pack,
    )
    return _Block(inputs, outputs, controls, lengths, steps)


def _unpack(array, depth, dtype):
    if array.dtype == np.uint8 and np.dtype(dtype) == np.bool_ and depth:
        return np.unpackbits(array, axis=-1, count=depth)
    return array


def _load_item(item, limits, root):
    from note_seq.protobuf import music_pb2

    if item.path is not None:
        return midi_io.read_midi_with_info(item.path, limits=limits, root=root)
    try:
        ns = music_pb2.NoteSequence.FromString(item.serialized)
    except Exception as e:  # noqa: BLE001
        raise midi_io.MidiReadError(item.name, "unreadable NoteSequence", str(e)) from None
    info = midi_io.check_note_sequence(ns, limits=limits, name=item.name)
    return ns, info


def _convert_task(task):
    """Reads and converts the items of a task (in a worker process or not).

    In a pool worker every item runs under the file budget of `task.limits`.
    """
    limits = task.limits if task.limits is not None else midi_io.DEFAULT_LIMITS
    results = []
    for index, item, variants in task.items:
        result = _ItemResult(index=index, name=item.name)
        results.append(result)
        try:
            if _IN_WORKER:
                with budget.file_budget(limits.file_cpu_seconds, limits.file_memory_bytes):
                    _convert_item(task, index, item, variants, result)
            else:
                _convert_item(task, index, item, variants, result)
        except budget.FileTimedOut as e:
            _fail(result, budget.REASON_TIMED_OUT, str(e))
        except MemoryError:
            limit = limits.file_memory_bytes
            detail = f"more than {limit / 2**30:.3g} GiB" if _IN_WORKER and limit else ""
            _fail(result, budget.REASON_OUT_OF_MEMORY, detail)
    return results


def _checks_like_base(converter):
    """Whether `converter` keeps `DataConverter`'s checks (no override)."""
    from keras_musicvae.data.converter import DataConverter

    return type(converter).to_tensors_with_report is DataConverter.to_tensors_with_report


def _fail(result, reason, detail):
    result.failure = (reason, detail)
    result.blocks = None
    result.num_examples = 0
    result.reasons = None


def _convert_item(task, index, item, variants, result):
    """Reads and converts one item into `result` (failures included)."""
    from keras_musicvae.data import augment as augment_lib

    converter = task.converter
    try:
        ns, info = _load_item(item, task.limits, task.root)
    except midi_io.MidiReadError as e:
        result.failure = (e.reason, e.detail)
        return
    except MemoryError:
        raise
    except Exception as e:  # noqa: BLE001 - never die on one file
        result.failure = (f"read error: {type(e).__name__}", midi_io._short(str(e)))
        return
    result.zero_length_notes = info.zero_length_notes_dropped
    fresh_draw = variants is None
    if fresh_draw:
        rng = np.random.default_rng([task.seed, task.epoch, index, 1])
        variants = [task.augmenter.draw(rng)] if task.augmenter else [(0, 1.0)]
    blocks = []
    try:
        for v, (transposition, stretch) in enumerate(variants):
            if task.seed is not None:
                # Random choices inside the converter depend only on these.
                key = [task.seed, index, 2, task.epoch] if fresh_draw else [task.seed, index, 3, transposition + 128]
                converter._rng = np.random.default_rng(key)
            source = ns
            if transposition or stretch != 1.0:
                source = augment_lib.apply_augmentation(ns, transposition, stretch)
            if stretch == 1.0 and _checks_like_base(converter):
                # `_load_item` checked these times with the same limits.
                tensors, report = converter._to_tensors_with_report_checked(source)
            else:
                tensors, report = converter.to_tensors_with_report(source, limits=task.limits)
            if v == 0:
                result.num_examples = len(tensors)
                result.reasons = collections.Counter(report.reasons)
            blocks.append(_to_block(tensors, converter, task.pack))
    except MemoryError:
        raise
    except Exception as e:  # noqa: BLE001 - a converter bug must not kill a run
        result.failure = (f"converter error: {type(e).__name__}", midi_io._short(str(e)))
        return
    result.blocks = blocks


# ---------------------------------------------------------------------------
# Parallel execution
# ---------------------------------------------------------------------------


def default_num_workers():
    """The CPUs this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS / Windows
        return os.cpu_count() or 1


def _mp_context():
    """`fork` while no ML framework is loaded (fast), else `forkserver`.

    Forking a process that runs TensorFlow / JAX / PyTorch threads can
    deadlock; the fork server is a clean process that never loads them.
    """
    methods = multiprocessing.get_all_start_methods()
    heavy = any(name in sys.modules for name in ("tensorflow", "jax", "torch"))
    if "fork" in methods and not heavy:
        return multiprocessing.get_context("fork")
    if "forkserver" in methods:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["keras_musicvae.data.pipeline"])
        return context
    return multiprocessing.get_context("spawn")


# True in the processes of a conversion pool (set by `_init_worker`).
_IN_WORKER = False


def _init_worker():
    """Pool initializer: marks the process as a worker (budgets apply)."""
    global _IN_WORKER
    _IN_WORKER = True


def _wall_clock_limit(task):
    """Seconds to wait for a task before taking its worker for stuck.

    A backstop only: workers enforce CPU-time budgets themselves. None when
    the limits set no CPU budget.
    """
    limits = task.limits if task.limits is not None else midi_io.DEFAULT_LIMITS
    if not limits.file_cpu_seconds:
        return None
    return 60.0 + 4.0 * limits.file_cpu_seconds * len(task.items)


_POOL_FAILURES = (concurrent.futures.process.BrokenProcessPool, concurrent.futures.TimeoutError)


class _Runner:
    """Runs `_convert_task` over tasks, results in task order.

    With `num_workers <= 1` everything runs in this process; otherwise in a
    process pool, with at most `2 * num_workers` tasks in flight (memory
    stays bounded however many files there are). When a worker dies or stops
    answering, the pool is replaced and the unfinished tasks are run again
    one file at a time (`_run_alone`).
    """

    def __init__(self, num_workers):
        self.num_workers = num_workers
        self._pool = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def map(self, tasks):
        if self.num_workers <= 1:
            for task in tasks:
                yield _convert_task(task)
            return
        tasks = iter(tasks)
        pending = collections.deque()
        self._fill(pending, tasks)
        while pending:
            task, future = pending.popleft()
            try:
                results = future.result(timeout=_wall_clock_limit(task))
            except _POOL_FAILURES as error:
                yield from self._recover([(task, future)] + list(pending), error)
                pending.clear()
            else:
                yield results
            self._fill(pending, tasks)

    def _fill(self, pending, tasks):
        """Submits tasks until `2 * num_workers` are in flight."""
        for task in itertools.islice(tasks, max(0, 2 * self.num_workers - len(pending))):
            pending.append((task, self._submit(task)))

    def _recover(self, unfinished, error):
        """After a dead or stuck worker: the results of `unfinished`, in order."""
        logger.warning(
            "A conversion worker %s; converting the files of %d unfinished task(s) one at a time",
            "stopped answering" if isinstance(error, TimeoutError) else "died",
            len(unfinished),
        )
        self._discard_pool()
        for task, future in unfinished:
            yield _finished_result(future) or self._run_alone(task)

    def _run_alone(self, task):
        """Runs each item of `task` as its own task; a dead worker fails only it."""
        results = []
        for entry in task.items:
            single = dataclasses.replace(task, items=[entry])
            try:
                results.extend(self._submit(single).result(timeout=_wall_clock_limit(single)))
            except _POOL_FAILURES as error:
                self._discard_pool()
                index, item, _ = entry
                result = _ItemResult(index=index, name=item.name)
                if isinstance(error, TimeoutError):
                    _fail(result, budget.REASON_TIMED_OUT, "the worker stopped answering")
                else:
                    _fail(result, budget.REASON_WORKER_DIED, "killed by the system or crashed")
                results.append(result)
        return results

    def _discard_pool(self):
        """Kills the pool's workers (a dead or stuck pool) and forgets it."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if hasattr(pool, "kill_workers"):  # Python >= 3.14
            pool.kill_workers()
        else:
            processes = getattr(pool, "_processes", None) or {}
            for process in list(processes.values()):
                process.kill()
        pool.shutdown(wait=False, cancel_futures=True)

    def _submit(self, task):
        """Submits a task; a broken pool gives a future holding its error."""
        if self._pool is None:
            self._pool = concurrent.futures.ProcessPoolExecutor(
                max_workers=self.num_workers, mp_context=_mp_context(), initializer=_init_worker
            )
        # Workers start inside `submit`. A fork-server / spawn worker
        # re-imports the main script unless told otherwise, which runs a
        # script without an `if __name__ == "__main__":` guard again; it is
        # not needed unless the converter or augmenter is defined there.
        uses_main = any(
            type(obj).__module__ == "__main__" for obj in (task.converter, task.augmenter) if obj is not None
        )
        try:
            with contextlib.nullcontext() if uses_main else _main_module_hidden():
                return self._pool.submit(_convert_task, task)
        except concurrent.futures.process.BrokenProcessPool as error:
            future = concurrent.futures.Future()
            future.set_exception(error)
            return future


def _finished_result(future):
    """A future's results if it completed successfully, else None."""
    if future.done() and not future.cancelled() and future.exception() is None:
        return future.result()
    return None


@contextlib.contextmanager
def _main_module_hidden():
    """Hides `__main__`'s spec and file from multiprocessing's start-up data."""
    main = sys.modules.get("__main__")
    saved = {name: getattr(main, name) for name in ("__spec__", "__file__") if hasattr(main, name)}
    try:
        if main is not None:
            main.__spec__ = None
            if "__file__" in saved:
                del main.__file__
        yield
    finally:
        for name, value in saved.items():
            setattr(main, name, value)


def _chunks(sequence, size):
    for start in range(0, len(sequence), size):
        yield sequence[start : start + size]


def _workers_for(num_workers, num_tasks):
    if num_workers is None:
        num_workers = default_num_workers()
    return max(1, min(num_workers, num_tasks))


def _progress(total, enabled, desc):
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not enabled, desc=desc, unit="file", leave=False)


def _record(stats, result):
    """Adds one item's result to `stats`; logs one line for a failed file."""
    if result.failure is not None:
        reason, detail = result.failure
        stats.record_failure(result.name, reason)
        logger.warning("Skipping %s: %s%s", result.name, reason, f" ({detail})" if detail else "")
        return
    stats.files_read += 1
    stats.zero_length_notes_dropped += result.zero_length_notes
    stats.examples += result.num_examples
    stats.examples_per_epoch += result.num_examples
    if not result.num_examples:
        stats.files_without_examples += 1
        stats.no_example_reasons.update(result.reasons or {"no reason recorded": 1})


# ---------------------------------------------------------------------------
# convert_midi_files
# ---------------------------------------------------------------------------


def convert_midi_files(files, converter, num_workers=None, progress=True, limits=None, root=None):
    """Reads MIDI files and converts them with `converter`, in parallel.

    Files are independent: they are read (`midi_io.read_midi`) and converted
    (`converter.to_tensors`) in worker processes, a few files per task; the
    examples come back in file order. A bad file is skipped: its reason is
    counted in the stats and one warning line names it. When the converter
    has a `seed`, its random choices (the per-file cap in "train" mode)
    depend only on the seed and the file's position, not on the number of
    workers.

    Args:
        files: A folder, glob, file or list of files; or a list of
            NoteSequences or TFRecord paths (anything `make_dataset` takes).
        converter: A `DataConverter`, used in its current mode and cap.
        num_workers: Worker processes (default: the CPUs available; 0 or 1
            converts in this process).
        progress: Show a tqdm progress bar.
        limits: `midi_io.MidiSanityLimits` for reading and converting (length
            limits) and the per-file budget of worker processes.
        root: Folder the files belong to (sets NoteSequence filenames).

    Returns:
        `(ConverterTensors, PipelineStats)`: the examples of every file,
        concatenated in file order, and what happened.
    """
    start = time.perf_counter()
    items = resolve_source(files)
    stats = PipelineStats(files=len(items))
    out = empty_tensors()
    requests = [(i, item, [(0, 1.0)]) for i, item in enumerate(items)]
    tasks = [
        _Task(converter=converter, items=chunk, limits=limits, root=root, seed=converter.seed, pack=False)
        for chunk in _chunks(requests, _FILES_PER_TASK)
    ]
    with _Runner(_workers_for(num_workers, len(tasks))) as runner, _progress(
        len(items), progress, "converting"
    ) as bar:
        for results in runner.map(tasks):
            for result in results:
                _record(stats, result)
                if result.blocks:
                    _append_block(out, result.blocks[0], converter)
            bar.update(len(results))
    stats.seconds = time.perf_counter() - start
    return out, stats


def _append_block(out, block, converter):
    for i in range(len(block)):
        t = int(block.steps[i])
        out.inputs.append(block.inputs[i, :t])
        out.outputs.append(block.outputs[i, :t])
        out.controls.append(block.controls[i, :t])
        out.lengths.append(block.lengths[i] if converter.length_shape else int(block.lengths[i]))


# ---------------------------------------------------------------------------
# The example cache
# ---------------------------------------------------------------------------


class _Spec:
    """Depths, dtypes and length shape of the arrays."""

    def __init__(self, input_depth, output_depth, control_depth, input_dtype, output_dtype,
                 control_dtype, length_shape):
        self.input_depth = int(input_depth)
        self.output_depth = int(output_depth)
        self.control_depth = int(control_depth or 0)
        self.input_dtype = np.dtype(input_dtype)
        self.output_dtype = np.dtype(output_dtype)
        self.control_dtype = np.dtype(control_dtype)
        self.length_shape = tuple(length_shape)

    @classmethod
    def of(cls, converter):
        return cls(converter.input_depth, converter.output_depth, converter.control_depth,
                   converter.input_dtype, converter.output_dtype, converter.control_dtype,
                   converter.length_shape)

    @classmethod
    def of_arrays(cls, tensors):
        controls = tensors.controls[0] if tensors.controls else np.zeros((0, 0))
        return cls(tensors.inputs[0].shape[-1], tensors.outputs[0].shape[-1],
                   controls.shape[-1] if controls.ndim == 2 else 0,
                   tensors.inputs[0].dtype, tensors.outputs[0].dtype, controls.dtype,
                   np.shape(tensors.lengths[0]))

    def batch(self, block):
        """A `_Block`'s examples as a float32 / int32 batch dict."""
        batch = {
            "inputs": _unpack(block.inputs, self.input_depth, self.input_dtype).astype(np.float32),
            "targets": _unpack(block.outputs, self.output_depth, self.output_dtype).astype(np.float32),
            "lengths": block.lengths.astype(np.int32),
        }
        if self.control_depth:
            batch["controls"] = _unpack(block.controls, self.control_depth, self.control_dtype).astype(
                np.float32
            )
        return batch


class _ExampleCache:
    """Converted examples per (item, transposition), filled on demand.

    The first pass converts every item untransposed (the statistics, and the
    padded length, come from it). A transposition is converted the first
    time an epoch draws it for an item, and kept: after a few epochs nothing
    is converted any more, and the first epoch costs no more than one pass.
    """

    def __init__(self, items, converter, spec, *, limits, seed, num_workers, max_seq_len,
                 fixed_length, progress):
        self.items = items
        self.converter = converter
        self.spec = spec
        self.limits = limits
        self.seed = seed
        self.num_workers = num_workers
        self.blocks = {}  # (item index, transposition) -> _Block
        self.unusable = set()  # items that failed to read or convert
        self.stats = PipelineStats(files=len(items))
        start = time.perf_counter()
        pending = self._convert([(i, [0]) for i in range(len(items))], progress=progress)
        longest = max((int(b.steps.max()) for b in pending.values() if len(b)), default=0)
        self.steps = max_seq_len if max_seq_len is not None else max(longest, fixed_length or 0)
        for key, block in pending.items():
            self._store(key, block)
        self.stats.seconds = time.perf_counter() - start

    @property
    def num_examples(self):
        return sum(len(b) for (i, t), b in self.blocks.items() if t == 0)

    @property
    def nbytes(self):
        return sum(b.nbytes for b in self.blocks.values())

    def _store(self, key, block):
        block, dropped = block.fit_to(self.steps)
        if key[1] == 0:
            self.stats.examples_too_long += dropped
        self.blocks[key] = block

    def _convert(self, requests, progress=False):
        """Converts `[(item index, [transpositions])]`; returns the new blocks.

        Blocks of the first pass are returned unstored (their padded length
        is not known yet); later ones are stored.
        """
        first_pass = not self.blocks and not self.unusable
        wanted = dict(requests)
        per_task = max(1, _FILES_PER_TASK // max(len(ts) for ts in wanted.values()))
        work = [(i, self.items[i], [(t, 1.0) for t in ts]) for i, ts in requests]
        tasks = [
            _Task(converter=self.converter, items=chunk, limits=self.limits, seed=self.seed)
            for chunk in _chunks(work, per_task)
        ]
        new = {}
        with _Runner(_workers_for(self.num_workers, len(tasks))) as runner, _progress(
            len(work), progress, "converting"
        ) as bar:
            for results in runner.map(tasks):
                for result in results:
                    if first_pass:
                        _record(self.stats, result)
                    if result.failure is not None:
                        self.unusable.add(result.index)
                        continue
                    for t, block in zip(wanted[result.index], result.blocks):
                        new[(result.index, t)] = block
                bar.update(len(results))
        if not first_pass:
            for key, block in new.items():
                self._store(key, block)
        return new

    def epoch(self, rng, *, transpositions, cap, shuffle):
        """The examples of one epoch, as one `_Block` in batch order.

        Per usable item: a transposition drawn uniformly from
        `transpositions`, then at most `cap` of its examples (without
        replacement); then everything shuffled when `shuffle`.
        """
        alive = [i for i in range(len(self.items)) if i not in self.unusable]
        if len(transpositions) > 1:
            drawn = np.asarray(transpositions)[rng.integers(len(transpositions), size=len(alive))]
        else:
            drawn = np.full(len(alive), transpositions[0])
        missing = collections.defaultdict(list)
        for i, t in zip(alive, drawn.tolist()):
            if (i, t) not in self.blocks:
                missing[i].append(t)
        if missing:
            self._convert(sorted(missing.items()))
        parts = []
        for i, t in zip(alive, drawn.tolist()):
            block = self.blocks.get((i, t))
            if block is None or not len(block):
                continue
            if cap is not None and len(block) > cap:
                block = block.take(np.sort(rng.choice(len(block), cap, replace=False)))
            parts.append(block)
        if not parts:
            return None
        merged = _concat_blocks(parts)
        if shuffle:
            merged = merged.take(rng.permutation(len(merged)))
        return merged


def _concat_blocks(blocks):
    if len(blocks) == 1:
        return blocks[0]
    same = all(b.outputs is b.inputs for b in blocks)
    inputs = np.concatenate([b.inputs for b in blocks])
    return _Block(
        inputs,
        inputs if same else np.concatenate([b.outputs for b in blocks]),
        np.concatenate([b.controls for b in blocks]),
        np.concatenate([b.lengths for b in blocks]),
        np.concatenate([b.steps for b in blocks]),
    )


# ---------------------------------------------------------------------------
# tf.data wrapping
# ---------------------------------------------------------------------------


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
            from `convert_midi_files`.
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
    spec = _Spec.of(converter) if converter is not None else _Spec.of_arrays(tensors)
    block = _to_block(tensors, spec, pack=True)
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


def make_dataset(
    source,
    converter,
    batch_size,
    *,
    mode="train",
    augmenter=None,
    shuffle=None,
    shuffle_buffer=None,
    repeat=False,
    cache=True,
    seed=None,
    deterministic=None,
    max_seq_len=None,
    drop_remainder=None,
    num_workers=None,
    limits=None,
    progress=True,
    return_stats=False,
):
    """A `tf.data.Dataset` of batch dicts for `model.fit`, from MIDI or NoteSequences.

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
        shuffle: Shuffle (default: True in "train" mode).
        shuffle_buffer: Examples in the shuffle buffer of the streaming
            strategy (`cache=False`; default `max(1000, 10 * batch_size)`);
            with the cache every epoch is shuffled as a whole.
        repeat: Repeat forever (for `fit(steps_per_epoch=...)`); otherwise
            each iteration of the dataset is one epoch, with fresh random
            choices.
        cache: Keep converted arrays in memory (see the module docstring);
            False converts every epoch.
        seed: Seed of every random choice (None: random).
        deterministic: tf.data determinism (default: True when `seed` given).
        max_seq_len: Pad to this many steps, dropping (and counting) longer
            examples. Default: the converter's fixed length, else the
            longest example.
        drop_remainder: Drop the last incomplete batch (default: True in
            "train" mode, as Magenta; False otherwise).
        num_workers: Conversion processes (default: the CPUs available;
            0 or 1: in this process).
        limits: `midi_io.MidiSanityLimits` for reading and converting (length
            limits) and the per-file budget of worker processes.
        progress: Show a progress bar during the first conversion pass.
        return_stats: Also return the `PipelineStats` of the first pass.

    Returns:
        The dataset, or `(dataset, stats)` with `return_stats`.

    Raises:
        ValueError: If no file gives any example (the message says why).
    """
    if mode not in ("train", "eval", "infer"):
        raise ValueError(f"Unknown mode {mode!r}; use 'train', 'eval' or 'infer'.")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
    training = mode == "train"
    shuffle = training if shuffle is None else shuffle
    drop_remainder = training if drop_remainder is None else drop_remainder
    deterministic = seed is not None if deterministic is None else deterministic
    augmenter = augmenter if training else None
    items = resolve_source(source)
    if not items:
        raise ValueError(f"No MIDI files or NoteSequences found in {source!r}.")
    common = dict(
        mode=mode, augmenter=augmenter, shuffle=shuffle, repeat=repeat, seed=_base_seed(seed),
        deterministic=deterministic, max_seq_len=max_seq_len, drop_remainder=drop_remainder,
        num_workers=num_workers, limits=limits, progress=progress,
    )
    if not cache or (augmenter is not None and not augmenter.is_discrete):
        buffer = shuffle_buffer or max(1000, 10 * batch_size)
        dataset, stats = _streaming_dataset(items, converter, batch_size, shuffle_buffer=buffer, **common)
    else:
        dataset, stats = _cached_dataset(items, converter, batch_size, **common)
    return (dataset, stats) if return_stats else dataset


def _cached_dataset(items, converter, batch_size, *, mode, augmenter, shuffle, repeat, seed,
                    deterministic, max_seq_len, drop_remainder, num_workers, limits, progress):
    training = mode == "train"
    # In training the cap is sampled per epoch here, so convert uncapped.
    work_converter = _converter_copy(converter, mode, uncapped=training)
    spec = _Spec.of(work_converter)
    cache = _ExampleCache(
        items, work_converter, spec, limits=limits, seed=seed, num_workers=num_workers,
        max_seq_len=max_seq_len, fixed_length=fixed_sequence_length(converter), progress=progress,
    )
    stats = cache.stats
    logger.info("Data conversion: %s", stats)
    if not cache.num_examples:
        raise ValueError(_no_examples_message(stats, converter))
    transpositions = augmenter.transpositions if augmenter is not None else [0]
    cap = epoch_cap(converter) if training else None
    stats.examples_per_epoch = sum(
        len(b) if cap is None else min(cap, len(b)) for (_, t), b in cache.blocks.items() if t == 0
    )

    def make_epoch(epoch):
        rng = np.random.default_rng([seed, epoch])
        block = cache.epoch(rng, transpositions=transpositions, cap=cap, shuffle=shuffle)
        if epoch == 0:
            logger.info("Example cache: %d block(s), %.1f MiB", len(cache.blocks), cache.nbytes / 2**20)
        if block is not None:
            yield from _batches(block, spec, batch_size, drop_remainder)

    # Without augmentation every epoch has the same number of examples.
    known = len(transpositions) == 1
    dataset = _from_epochs(
        make_epoch, spec, batch_size, cache.steps, repeat=repeat, deterministic=deterministic,
        drop_remainder=drop_remainder,
        batches_per_epoch=_num_batches(stats.examples_per_epoch, batch_size, drop_remainder) if known else None,
    )
    return dataset, stats


def _streaming_dataset(items, converter, batch_size, *, mode, augmenter, shuffle, shuffle_buffer,
                       repeat, seed, deterministic, max_seq_len, drop_remainder, num_workers,
                       limits, progress):
    del progress  # conversion happens while training
    work_converter = _converter_copy(converter, mode)
    spec = _Spec.of(work_converter)
    steps = max_seq_len or fixed_sequence_length(converter)
    stats = PipelineStats(files=len(items))

    def make_epoch(epoch):
        rng = np.random.default_rng([seed, epoch])
        order = rng.permutation(len(items)) if shuffle else np.arange(len(items))
        work = [(int(i), items[i], None) for i in order]
        tasks = [
            _Task(converter=work_converter, items=chunk, augmenter=augmenter, limits=limits,
                  seed=seed, epoch=epoch)
            for chunk in _chunks(work, _FILES_PER_TASK)
        ]
        first = epoch == 0  # the statistics describe the first epoch
        start = time.perf_counter()
        buffer = _ShuffleBuffer(shuffle_buffer if shuffle else 0, rng, spec, steps)
        produced = 0
        with _Runner(_workers_for(num_workers, len(tasks))) as runner:
            for results in runner.map(tasks):
                for result in results:
                    if first:
                        _record(stats, result)
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
            raise ValueError(_no_examples_message(stats, converter))

    dataset = _from_epochs(
        make_epoch, spec, batch_size, steps, repeat=repeat, deterministic=deterministic,
        drop_remainder=drop_remainder,
    )
    return dataset, stats


class _ShuffleBuffer:
    """Examples waiting to be batched (streaming strategy)."""

    def __init__(self, size, rng, spec, steps):
        self.size = size
        self.rng = rng
        self.spec = spec
        self.steps = steps
        self.examples = []  # (inputs, outputs, controls, length), unpacked, unpadded

    def add(self, block):
        """Adds a block's examples; returns how many were too long."""
        spec = self.spec
        inputs = _unpack(block.inputs, spec.input_depth, spec.input_dtype)
        outputs = _unpack(block.outputs, spec.output_depth, spec.output_dtype)
        controls = _unpack(block.controls, spec.control_depth, spec.control_dtype)
        dropped = 0
        for i in range(len(block)):
            t = int(block.steps[i])
            if self.steps is not None and t > self.steps:
                dropped += 1
                continue
            self.examples.append((inputs[i, :t], outputs[i, :t], controls[i, :t], block.lengths[i]))
        return dropped

    def _take(self, n):
        examples = self.examples
        if self.size:
            taken = []
            for i in sorted(self.rng.choice(len(examples), n, replace=False).tolist(), reverse=True):
                examples[i], examples[-1] = examples[-1], examples[i]
                taken.append(examples.pop())
        else:
            taken, self.examples = examples[:n], examples[n:]
        return self._batch(taken)

    def full_batches(self, batch_size):
        while len(self.examples) >= max(batch_size, self.size):
            yield self._take(batch_size)

    def drain(self, batch_size, drop_remainder):
        while len(self.examples) >= batch_size:
            yield self._take(batch_size)
        if self.examples and not drop_remainder:
            yield self._take(len(self.examples))

    def _batch(self, examples):
        spec = self.spec
        steps = self.steps or max(len(e[0]) for e in examples)
        n = len(examples)

        def stack(k, depth):
            out = np.zeros((n, steps, depth), np.float32)
            for i, e in enumerate(examples):
                out[i, : len(e[k])] = e[k]
            return out

        batch = {
            "inputs": stack(0, spec.input_depth),
            "targets": stack(1, spec.output_depth),
            "lengths": np.stack([np.asarray(e[3], np.int32) for e in examples]).reshape(
                (n, *spec.length_shape)
            ),
        }
        if spec.control_depth:
            batch["controls"] = stack(2, spec.control_depth)
        return batch


def _no_examples_message(stats, converter):
    return (
        f"No examples were extracted with {type(converter).__name__}.\n{stats}\n"
        "Check that the files match what the converter expects (time signature, "
        "instruments, length)."
    )
