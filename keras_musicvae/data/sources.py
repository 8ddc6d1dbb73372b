"""Dataset sources: MIDI files, folders, globs, TFRecords of NoteSequences.

`resolve_source` turns whatever `make_dataset` / `convert_midi_files` accept
into a list of `SourceItem`s (a path to read, or a serialized NoteSequence);
`write_note_sequences` / `read_note_sequences` are the TFRecord format of
`keras-musicvae prepare` and the Beam pipeline. TensorFlow is imported
lazily, only to read or write TFRecords.
"""

import dataclasses
import glob
import os

from keras_musicvae.data import midi_io


TFRECORD_MARKERS = (".tfrecord", ".tfrecords", ".tfr")


@dataclasses.dataclass(frozen=True)
class SourceItem:
    """One unit of work: a MIDI file path or a serialized NoteSequence."""

    name: str
    path: str = None
    serialized: bytes = None


def is_tfrecord_name(path):
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
            SourceItem(name=ns.filename or ns.id or f"note_sequence[{i}]", serialized=ns.SerializeToString())
            for i, ns in enumerate(source)
        ]
    if isinstance(source, (list, tuple)) and not source:
        raise ValueError("The dataset source is an empty list.")
    paths = source if isinstance(source, (list, tuple)) else [source]
    items = []
    for path in paths:
        path = os.fspath(path)
        if not os.path.isdir(path) and is_tfrecord_name(path):
            for record_path in match_files(path):
                for i, serialized in enumerate(read_tfrecord(record_path)):
                    items.append(SourceItem(name=f"{record_path}[{i}]", serialized=serialized))
        else:
            items.extend(SourceItem(name=p, path=p) for p in midi_io.find_midi_files(path))
    return items


def match_files(pattern):
    if os.path.isfile(pattern):
        return [pattern]
    matches = sorted(glob.glob(pattern, recursive=True))
    if not matches:
        raise FileNotFoundError(f"No files match {pattern!r}.")
    return matches


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
        for record_path in match_files(os.fspath(pattern)):
            for serialized in read_tfrecord(record_path):
                yield music_pb2.NoteSequence.FromString(serialized)


def read_tfrecord(path):
    import tensorflow as tf

    for record in tf.data.TFRecordDataset(path):
        yield record.numpy()
