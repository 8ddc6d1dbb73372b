"""Apache Beam preprocessing: a MIDI collection -> sharded TFRecords.

    MIDI files ─read (midi_io)─▶ NoteSequence ─dedupe (content hash)─▶
        split by hash of the path ─▶ {train,eval}-?????-of-?????.tfrecord
        (optionally) ─converter─▶ {train,eval}_examples-*.tfrecord

The main output is one serialized `NoteSequence` per distinct MIDI file
(Magenta's `convert_dir_to_note_sequences` did the same, in one process):
`make_dataset` reads those TFRecords directly, and it needs NoteSequences, not
arrays, because training draws a fresh transposition and a fresh choice of
windows every epoch, and because one corpus feeds many converters.

Optionally (`converter=`) each split is also converted once into per-example
arrays (`tf.train.Example`s holding `inputs`, `targets`, `controls`,
`lengths`; read back with `read_example_tfrecords`). That suits evaluation
sets (fixed examples, nothing random) and inspecting or counting what a
converter extracts from a huge collection; it is not the training route, since
it freezes augmentation and sampling.

* Split: a file goes to eval when `int(sha1(relative path)[:8], 16) % 100 <
  eval_percent` (the rule of the project's corpus README), so it never moves
  when files are added.
* De-duplication: NoteSequences are keyed by a SHA-256 of their musical
  content (the serialized proto without filename and id); of identical files
  the one with the smallest relative path is kept, before the split, so the
  same music never lands in both splits.
* Bad files never stop the pipeline: they are counted (Beam counters
  "files failed: <reason>") and listed in `failures.tsv`.

Beam counters (namespace "keras_musicvae"): "files read", "files failed:
<reason>", "duplicates dropped", "note sequences written: <split>",
"examples written: <split>", "files without examples: <reason>".

Runs on the DirectRunner locally and on Dataflow / Flink / Spark. Apache Beam
is an optional dependency: `pip install keras-musicvae[beam]`.
"""

import hashlib
import json
import os

import numpy as np

from keras_musicvae.data import midi_io

COUNTER_NAMESPACE = "keras_musicvae"
SPLITS = ("train", "eval")
_INSTALL_HINT = (
    "Apache Beam is needed for this preprocessing pipeline but is not installed: "
    "pip install keras-musicvae[beam]"
)


def require_beam():
    """Imports and returns `apache_beam`, or raises an ImportError saying how to install it."""
    try:
        import apache_beam
    except ImportError as e:
        raise ImportError(_INSTALL_HINT) from e
    return apache_beam


def is_eval_file(relative_path, eval_percent):
    """The split rule: `int(sha1(path)[:8], 16) % 100 < eval_percent`."""
    digest = hashlib.sha1(relative_path.replace(os.sep, "/").encode("utf-8")).hexdigest()
    return int(digest[:8], 16) % 100 < eval_percent


def content_hash(note_sequence):
    """SHA-256 of a NoteSequence's musical content (names and ids excluded)."""
    copy = type(note_sequence)()
    copy.CopyFrom(note_sequence)
    for field in ("filename", "id", "collection_name"):
        copy.ClearField(field)
    return hashlib.sha256(copy.SerializeToString(deterministic=True)).hexdigest()


def list_input_files(source):
    """The MIDI files of a local folder / glob / list, or of a remote glob (gs://...)."""
    if isinstance(source, str) and "://" in source:
        beam = require_beam()
        del beam
        from apache_beam.io.filesystems import FileSystems

        matches = FileSystems.match([source])[0].metadata_list
        return sorted(m.path for m in matches if m.path.lower().endswith(midi_io.MIDI_EXTENSIONS))
    return midi_io.find_midi_files(source)


# -- steps (module-level functions: picklable by reference) --------------------


def _counter(name):
    from apache_beam.metrics import Metrics

    return Metrics.counter(COUNTER_NAMESPACE, name)


def _read_file(path, root, limits):
    from apache_beam import pvalue
    from apache_beam.io.filesystems import FileSystems

    name = path
    try:
        if "://" in path:
            with FileSystems.open(path) as f:
                data = f.read()
            ns, info = midi_io.midi_bytes_to_note_sequence(data, name=name, limits=limits)
            ns.filename = os.path.relpath(path, root) if root else path
        else:
            ns, info = midi_io.read_midi_with_info(path, limits=limits, root=root)
    except midi_io.MidiReadError as e:
        _counter(f"files failed: {e.reason}").inc()
        yield pvalue.TaggedOutput("failed", f"{path}\t{e.reason}\t{e.detail}")
        return
    except Exception as e:  # noqa: BLE001 - one bad file never stops the pipeline
        _counter(f"files failed: read error: {type(e).__name__}").inc()
        yield pvalue.TaggedOutput("failed", f"{path}\tread error: {type(e).__name__}\t{e}")
        return
    _counter("files read").inc()
    if info.zero_length_notes_dropped:
        _counter("zero-length notes dropped").inc(info.zero_length_notes_dropped)
    yield ns


def _key_by_content(note_sequence):
    return content_hash(note_sequence), note_sequence


def _keep_first(keyed):
    _, sequences = keyed
    sequences = sorted(sequences, key=lambda ns: ns.filename)
    if len(sequences) > 1:
        _counter("duplicates dropped").inc(len(sequences) - 1)
    return sequences[0]


def _split_index(note_sequence, num_partitions, eval_percent):
    del num_partitions
    return 1 if is_eval_file(note_sequence.filename, eval_percent) else 0


def _count(element, name):
    _counter(name).inc()
    return element


_CONVERTERS = {}


def _converter_from_json(converter_json):
    converter = _CONVERTERS.get(converter_json)
    if converter is None:
        from keras_musicvae.data.converter import converter_from_config

        converter = converter_from_config(json.loads(converter_json))
        _CONVERTERS[converter_json] = converter
    return converter


def _to_examples(note_sequence, converter_json, split, limits=None):
    converter = _converter_from_json(converter_json)
    try:
        tensors, report = converter.to_tensors_with_report(note_sequence, limits=limits)
    except Exception as e:  # noqa: BLE001
        _counter(f"files failed: converter error: {type(e).__name__}").inc()
        return
    if not len(tensors):
        for reason in report.reasons or {"no reason recorded": 1}:
            _counter(f"files without examples: {reason}").inc()
        return
    for i in range(len(tensors)):
        _counter(f"examples written: {split}").inc()
        yield encode_example(
            tensors.inputs[i], tensors.outputs[i], tensors.controls[i], tensors.lengths[i],
            name=note_sequence.filename,
        )


# -- per-example records ---------------------------------------------------------


def encode_example(inputs, targets, controls, lengths, name=""):
    """One example's arrays -> a serialized `tf.train.Example`.

    Each array is stored as raw bytes with its shape and dtype (bool arrays
    bit-packed along the last axis).
    """
    from tensorflow.core.example import example_pb2

    example = example_pb2.Example()
    features = example.features.feature
    for key, array in (("inputs", inputs), ("targets", targets), ("controls", controls)):
        array = np.asarray(array)
        features[f"{key}_shape"].int64_list.value.extend(array.shape)
        features[f"{key}_dtype"].bytes_list.value.append(array.dtype.str.encode())
        stored = np.packbits(array, axis=-1) if array.dtype == np.bool_ and array.size else array
        features[key].bytes_list.value.append(np.ascontiguousarray(stored).tobytes())
    lengths = np.asarray(lengths, np.int64)
    features["lengths"].int64_list.value.extend(lengths.reshape(-1).tolist())
    features["lengths_shape"].int64_list.value.extend(lengths.shape)
    features["name"].bytes_list.value.append(name.encode("utf-8"))
    return example.SerializeToString()


def decode_example(serialized):
    """A serialized example -> `(inputs, targets, controls, lengths)` arrays."""
    from tensorflow.core.example import example_pb2

    features = example_pb2.Example.FromString(serialized).features.feature
    arrays = []
    for key in ("inputs", "targets", "controls"):
        shape = tuple(features[f"{key}_shape"].int64_list.value)
        dtype = np.dtype(features[f"{key}_dtype"].bytes_list.value[0].decode())
        raw = features[key].bytes_list.value[0]
        if dtype == np.bool_ and int(np.prod(shape)):
            packed = np.frombuffer(raw, np.uint8).reshape(shape[:-1] + (-1,))
            array = np.unpackbits(packed, axis=-1, count=shape[-1]).astype(np.bool_)
        else:
            array = np.frombuffer(raw, dtype).reshape(shape).copy()
        arrays.append(array)
    shape = tuple(features["lengths_shape"].int64_list.value)
    lengths = np.asarray(features["lengths"].int64_list.value, np.int32).reshape(shape)
    arrays.append(int(lengths) if not shape else lengths)
    return tuple(arrays)


def read_example_tfrecords(path):
    """Reads per-example TFRecords back into a `ConverterTensors`.

    Args:
        path: File, glob or list of the `*_examples-*.tfrecord` files.

    Returns:
        A `ConverterTensors` (feed it to `pipeline.dataset_from_tensors`).
    """
    from keras_musicvae.data import sources
    from keras_musicvae.data.converter import empty_tensors

    out = empty_tensors()
    paths = path if isinstance(path, (list, tuple)) else [path]
    for pattern in paths:
        for record_path in sources.match_files(os.fspath(pattern)):
            for serialized in sources.read_tfrecord(record_path):
                inputs, targets, controls, lengths = decode_example(serialized)
                out.inputs.append(inputs)
                out.outputs.append(targets)
                out.controls.append(controls)
                out.lengths.append(lengths)
    return out


# -- the pipeline ------------------------------------------------------------------


def build_pipeline(
    pipeline,
    files,
    output_dir,
    *,
    root=None,
    eval_percent=10,
    dedupe=True,
    num_shards=0,
    converter=None,
    limits=None,
):
    """Adds the preprocessing steps to a `beam.Pipeline`.

    Args:
        pipeline: A `beam.Pipeline`.
        files: MIDI file paths (see `list_input_files`).
        output_dir: Folder (or remote prefix) for the outputs.
        root: The collection's root folder: relative paths (used for the
            split and stored as `NoteSequence.filename`) are taken from it.
        eval_percent: Percentage of files (by path hash) in the eval split.
        dedupe: Drop NoteSequences whose content equals another's.
        num_shards: Output shards per split (0: let the runner choose).
        converter: Optional `DataConverter` (or its serialized config dict):
            also write per-example arrays of each split.
        limits: `midi_io.MidiSanityLimits` for reading (and the length
            limits of `converter`).

    Returns:
        The dict of the final PCollections (for tests / composition).
    """
    beam = require_beam()
    from note_seq.protobuf import music_pb2

    if not 0 <= eval_percent <= 100:
        raise ValueError(f"eval_percent must be in 0..100, got {eval_percent}.")
    if not files:
        raise ValueError("No MIDI files to preprocess.")
    coder = beam.coders.ProtoCoder(music_pb2.NoteSequence)
    read = (
        pipeline
        | "ListFiles" >> beam.Create(sorted(files))
        | "ReadMidi" >> beam.FlatMap(_read_file, root, limits).with_outputs("failed", main="sequences")
    )
    sequences = read.sequences
    _ = (
        read.failed
        | "WriteFailures"
        >> beam.io.WriteToText(
            os.path.join(output_dir, "failures"), file_name_suffix=".tsv", shard_name_template="",
            header="path\treason\tdetail",
        )
    )
    if dedupe:
        sequences = (
            sequences
            | "KeyByContent" >> beam.Map(_key_by_content)
            | "GroupDuplicates" >> beam.GroupByKey()
            | "KeepFirst" >> beam.Map(_keep_first)
        )
    parts = sequences | "Split" >> beam.Partition(_split_index, 2, eval_percent)
    converter_json = None
    if converter is not None:
        from keras_musicvae.data.converter import serialize_converter

        config = converter if isinstance(converter, dict) else serialize_converter(converter)
        converter_json = json.dumps(config, sort_keys=True)
    outputs = {}
    for index, split in enumerate(SPLITS):
        part = parts[index]
        outputs[split] = part
        _ = (
            part
            | f"Count{split.title()}" >> beam.Map(_count, f"note sequences written: {split}")
            | f"Write{split.title()}"
            >> beam.io.WriteToTFRecord(
                os.path.join(output_dir, split), file_name_suffix=".tfrecord", coder=coder,
                num_shards=num_shards,
            )
        )
        if converter_json is not None:
            examples = part | f"Convert{split.title()}" >> beam.FlatMap(
                _to_examples, converter_json, split, limits
            )
            outputs[f"{split}_examples"] = examples
            _ = examples | f"WriteExamples{split.title()}" >> beam.io.WriteToTFRecord(
                os.path.join(output_dir, f"{split}_examples"), file_name_suffix=".tfrecord",
                num_shards=num_shards,
            )
    return outputs


def run(files, output_dir, *, root=None, pipeline_args=None, **kwargs):
    """Builds and runs the pipeline; returns `(PipelineResult, counters)`.

    Args:
        files: MIDI file paths.
        output_dir: Output folder.
        root: The collection's root folder.
        pipeline_args: Beam pipeline options as command-line strings, e.g.
            `["--direct_num_workers=2", "--direct_running_mode=multi_processing"]`
            or `["--runner=DataflowRunner", ...]`. Without `--runner` the
            pipeline runs locally in-process (the DirectRunner's engine).
        **kwargs: Passed to `build_pipeline`.

    Returns:
        The Beam `PipelineResult` and a dict `{counter name: value}`.
    """
    beam = require_beam()
    from apache_beam.options.pipeline_options import PipelineOptions

    pipeline_args = list(pipeline_args or [])
    options = PipelineOptions(pipeline_args)
    runner = None
    if not any(arg.startswith("--runner") for arg in pipeline_args):
        # The DirectRunner's in-process engine, without the DirectRunner's
        # attempt to download the Prism runner binary first.
        from apache_beam.runners.portability.fn_api_runner import FnApiRunner

        runner = FnApiRunner()
    pipeline = beam.Pipeline(runner=runner, options=options)
    build_pipeline(pipeline, files, output_dir, root=root, **kwargs)
    result = pipeline.run()
    result.wait_until_finish()
    return result, counters_of(result)


def counters_of(result):
    """`{counter name: committed value}` of the pipeline's counters."""
    from apache_beam.metrics.metric import MetricsFilter

    query = result.metrics().query(MetricsFilter().with_namespace(COUNTER_NAMESPACE))
    totals = {}
    for counter in query["counters"]:
        value = counter.committed if counter.committed is not None else counter.attempted
        totals[counter.key.metric.name] = totals.get(counter.key.metric.name, 0) + value
    return dict(sorted(totals.items()))
