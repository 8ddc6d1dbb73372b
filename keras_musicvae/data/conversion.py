"""`convert_midi_files`: many MIDI files -> converter tensors, in parallel."""

import logging
import time

from keras_musicvae.data import parallel
from keras_musicvae.data import sources
from keras_musicvae.data import worker
from keras_musicvae.data.converter import empty_tensors
from keras_musicvae.data.stats import PipelineStats

logger = logging.getLogger("keras_musicvae.data")


def progress_bar(total, enabled, desc):
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not enabled, desc=desc, unit="file", leave=False)


def record_result(stats, result):
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
    items = sources.resolve_source(files)
    stats = PipelineStats(files=len(items))
    out = empty_tensors()
    requests = [(i, item, [(0, 1.0)]) for i, item in enumerate(items)]
    tasks = [
        worker.Task(converter=converter, items=chunk, limits=limits, root=root, seed=converter.seed, pack=False)
        for chunk in parallel.chunks(requests, parallel.FILES_PER_TASK)
    ]
    with parallel.Runner(parallel.workers_for(num_workers, len(tasks))) as runner, progress_bar(
        len(items), progress, "converting"
    ) as bar:
        for results in runner.map(tasks):
            for result in results:
                record_result(stats, result)
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
