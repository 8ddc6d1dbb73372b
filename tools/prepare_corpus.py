"""Preprocesses a MIDI collection into sharded TFRecords of NoteSequences (Apache Beam).

    python tools/prepare_corpus.py --input=/data/lmd_full --output=/data/lmd_prepared \
        [--eval_percent=10] [--num_shards=0] [--nodedupe] \
        [--examples_preset=cat_mel_2bar_small --examples_mode=eval] \
        [--runner=DirectRunner --direct_num_workers=4 --direct_running_mode=multi_processing]

Writes, under --output:
    train-?????-of-?????.tfrecord, eval-?????-of-?????.tfrecord
        one serialized NoteSequence per distinct MIDI file; feed them to
        `keras_musicvae.data.pipeline.make_dataset("<output>/train-*.tfrecord", ...)`
        or `keras-musicvae train --data`;
    {train,eval}_examples-*.tfrecord (with --examples_preset)
        the converter's examples, as tf.train.Examples
        (`beam_pipeline.read_example_tfrecords`);
    failures.tsv    the files that could not be read, and why;
    counters.json   the Beam counters (files read, failed by reason, ...).

A file is in eval when int(sha1(<path relative to --input>)[:8], 16) % 100 <
--eval_percent. Flags this tool does not know are passed to Beam as pipeline
options (e.g. --runner=DataflowRunner --project=... --region=...).
Needs Apache Beam: pip install keras-musicvae[beam].
"""

import json
import os
import sys

from absl import app
from absl import flags

FLAGS = flags.FLAGS
flags.DEFINE_string("input", None, "Folder of MIDI files (searched recursively), a glob, or gs://... glob.")
flags.DEFINE_string("output", None, "Output folder.")
flags.DEFINE_integer("eval_percent", 10, "Percentage of files (by path hash) in the eval split.")
flags.DEFINE_integer("num_shards", 0, "Shards per split (0: chosen by the runner).")
flags.DEFINE_bool("dedupe", True, "Drop files whose music is identical to another file's.")
flags.DEFINE_string("examples_preset", None, "Also write this preset's converter examples per split.")
flags.DEFINE_enum("examples_mode", "eval", ["train", "eval"], "Converter mode for --examples_preset.")
flags.DEFINE_string(
    "examples_cap", None, "Per-file example cap for --examples_preset ('none': no cap; default: the preset's)."
)
flags.DEFINE_integer("max_notes", 250_000, "Files with more notes are rejected as 'huge file'.")
flags.DEFINE_float("max_qpm", 1000.0, "Files with a faster tempo are rejected as 'absurd tempo'.")
flags.mark_flags_as_required(["input", "output"])


def _converter():
    if not FLAGS.examples_preset:
        return None
    from keras_musicvae.data import converter_for_preset

    overrides = {"mode": FLAGS.examples_mode}
    if FLAGS.examples_cap is not None:
        cap = FLAGS.examples_cap.lower()
        overrides["max_tensors_per_notesequence"] = None if cap == "none" else int(cap)
    return converter_for_preset(FLAGS.examples_preset, **overrides)


def _collection_root(source, files):
    """The folder relative paths are taken from (split rule, NoteSequence.filename)."""
    if "://" in source:
        return None
    if os.path.isdir(source):
        return source
    common = os.path.commonpath([os.path.abspath(f) for f in files])
    return os.path.dirname(common) if os.path.isfile(common) else common


def main(argv):
    from keras_musicvae.data import beam_pipeline
    from keras_musicvae.data import midi_io

    try:
        beam_pipeline.require_beam()
    except ImportError as e:
        sys.exit(str(e))
    pipeline_args = argv[1:]
    files = beam_pipeline.list_input_files(FLAGS.input)
    if not files:
        sys.exit(f"No MIDI files found in {FLAGS.input!r}.")
    root = _collection_root(FLAGS.input, files)
    if "://" not in FLAGS.output:
        os.makedirs(FLAGS.output, exist_ok=True)
    limits = midi_io.MidiSanityLimits(max_notes=FLAGS.max_notes, max_qpm=FLAGS.max_qpm)
    print(f"{len(files)} MIDI file(s) -> {FLAGS.output}")
    _, counters = beam_pipeline.run(
        files,
        FLAGS.output,
        root=root,
        pipeline_args=pipeline_args,
        eval_percent=FLAGS.eval_percent,
        dedupe=FLAGS.dedupe,
        num_shards=FLAGS.num_shards,
        converter=_converter(),
        limits=limits,
    )
    for name, value in counters.items():
        print(f"{value:10d}  {name}")
    if "://" not in FLAGS.output:
        with open(os.path.join(FLAGS.output, "counters.json"), "w") as f:
            json.dump(counters, f, indent=1)


def _parse_flags(argv):
    # Unknown flags are Beam pipeline options: keep them for main().
    if any(arg in ("--help", "-h", "-?") for arg in argv[1:]):
        app.usage(shorthelp=True, writeto_stdout=True, exitcode=0)  # absl would exit with 1
    return FLAGS(argv, known_only=True)


if __name__ == "__main__":
    app.run(main, flags_parser=_parse_flags)
