"""Worker side of a conversion: read one file, convert it, report.

This module is what a conversion worker process runs (`convert_task`); it
never imports TensorFlow, JAX or PyTorch. Each item is read
(`midi_io.read_midi_with_info`) and converted (`converter.to_tensors`) into
`blocks_lib.Block`s; any failure becomes a counted reason in its
`ItemResult`, never an exception. In a pool worker (`init_worker` ran) every
item runs under the CPU-time and memory budget of its `MidiSanityLimits`.
"""

import collections
import dataclasses

import numpy as np

from keras_musicvae.data import blocks as blocks_lib
from keras_musicvae.data import budget
from keras_musicvae.data import midi_io


@dataclasses.dataclass
class ItemResult:
    index: int
    name: str
    failure: tuple = None  # (reason, detail)
    zero_length_notes: int = 0
    blocks: list = None  # one blocks_lib.Block per requested variant
    reasons: collections.Counter = None  # the converter's reasons (first variant)
    num_examples: int = 0  # of the first variant


@dataclasses.dataclass
class Task:
    """Work for one worker call.

    items: `[(index, sources.SourceItem, variants)]`, variants a list of
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


# True in the processes of a conversion pool (set by `init_worker`).
IN_WORKER = False


def init_worker():
    """Pool initializer: marks the process as a worker (budgets apply)."""
    global IN_WORKER
    IN_WORKER = True


def convert_task(task):
    """Reads and converts the items of a task (in a worker process or not).

    In a pool worker every item runs under the file budget of `task.limits`.
    """
    limits = task.limits if task.limits is not None else midi_io.DEFAULT_LIMITS
    results = []
    for index, item, variants in task.items:
        result = ItemResult(index=index, name=item.name)
        results.append(result)
        try:
            if IN_WORKER:
                with budget.file_budget(limits.file_cpu_seconds, limits.file_memory_bytes):
                    _convert_item(task, index, item, variants, result)
            else:
                _convert_item(task, index, item, variants, result)
        except budget.FileTimedOut as e:
            fail_item(result, budget.REASON_TIMED_OUT, str(e))
        except MemoryError:
            limit = limits.file_memory_bytes
            detail = f"more than {limit / 2**30:.3g} GiB" if IN_WORKER and limit else ""
            fail_item(result, budget.REASON_OUT_OF_MEMORY, detail)
    return results


def _checks_like_base(converter):
    """Whether `converter` keeps `DataConverter`'s checks (no override)."""
    from keras_musicvae.data.converter import DataConverter

    return type(converter).to_tensors_with_report is DataConverter.to_tensors_with_report


def fail_item(result, reason, detail):
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
            blocks.append(blocks_lib.to_block(tensors, converter, task.pack))
    except MemoryError:
        raise
    except Exception as e:  # noqa: BLE001 - a converter bug must not kill a run
        result.failure = (f"converter error: {type(e).__name__}", midi_io._short(str(e)))
        return
    result.blocks = blocks
