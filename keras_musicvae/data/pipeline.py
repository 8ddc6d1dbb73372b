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

Where things live (this module only gathers the public names):

* `sources`: what a source may be; TFRecords of NoteSequences.
* `worker`: reading and converting one file (runs in worker processes).
* `parallel`: the process pool, its start method, dead-worker recovery.
* `conversion`: `convert_midi_files`.
* `blocks`: stacked, bit-packed arrays of examples.
* `example_cache` / `shuffle_buffer`: the two strategies' example stores.
* `dataset`: `make_dataset`, `DatasetOptions`, `dataset_from_tensors`.
* `stats`: `PipelineStats`.
"""

from keras_musicvae.data.conversion import convert_midi_files
from keras_musicvae.data.dataset import DatasetOptions
from keras_musicvae.data.dataset import dataset_from_tensors
from keras_musicvae.data.dataset import epoch_cap
from keras_musicvae.data.dataset import fixed_sequence_length
from keras_musicvae.data.dataset import make_dataset
from keras_musicvae.data.parallel import default_num_workers
from keras_musicvae.data.parallel import start_method
from keras_musicvae.data.sources import TFRECORD_MARKERS
from keras_musicvae.data.sources import is_tfrecord_name
from keras_musicvae.data.sources import read_note_sequences
from keras_musicvae.data.sources import resolve_source
from keras_musicvae.data.sources import write_note_sequences
from keras_musicvae.data.stats import PipelineStats

__all__ = [
    "DatasetOptions",
    "PipelineStats",
    "TFRECORD_MARKERS",
    "convert_midi_files",
    "dataset_from_tensors",
    "default_num_workers",
    "epoch_cap",
    "fixed_sequence_length",
    "is_tfrecord_name",
    "make_dataset",
    "read_note_sequences",
    "resolve_source",
    "start_method",
    "write_note_sequences",
]
