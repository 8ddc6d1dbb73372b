"""Data conversion speed: MIDI file -> NoteSequence -> converter examples.

    python benchmarks/convert_speed.py --corpus=../shared/data/corpus [--num_workers=2] \
        [--magenta_python=$HOME/.magenta-ref-venv/bin/python] [--workloads=cat-mel_2bar_small:melody/train]

For each workload (a converter configuration and a corpus folder), converts
the first `--limit` files (sorted paths of `<folder>/**/*.mid`) in mode
"train" with the configuration's per-file cap (5 for the melody, drum and
trio configurations, chosen at random as Magenta does), and prints files/s
and examples/s of:

* `ours`: `pipeline.convert_midi_files` with `--num_workers` processes
  (process start-up included);
* `ours_1proc`: the same in this process (reading with `midi_io.read_midi`,
  converting with the converter), to compare one core with one core;
* `magenta`: Magenta's own reading and converter (the loop of
  ../shared/reference/magenta_convert_bench.py, run in Magenta's virtualenv
  of setup_magenta_env.sh) when `--magenta_python` exists; one process, as
  Magenta's pipeline converts file after file.

Besides wall-clock rates, examples per CPU-second are printed: on a shared
machine they are the steadier figure of per-core efficiency.

The runs alternate per workload, so that shared-machine load affects both
sides alike; quote the ratios, not the absolute figures. One JSON line per
measurement, then a Markdown table.
"""

import glob
import json
import os
import pathlib
import resource
import subprocess
import sys
import time
import warnings

from absl import app
from absl import flags

REPO = pathlib.Path(__file__).resolve().parent.parent
DEFAULT_MAGENTA_PYTHON = os.path.join(
    os.environ.get("MAGENTA_VENV", os.path.expanduser("~/.magenta-ref-venv")), "bin", "python"
)
DEFAULT_WORKLOADS = [
    "cat-mel_2bar_small:melody/train",
    "hierdec-mel_16bar:melody/train",
    "cat-mel_2bar_small:multi/train",
    "cat-drums_2bar_small:drums/train",
    "hierdec-trio_16bar:multi/train",
]

FLAGS = flags.FLAGS
flags.DEFINE_string("corpus", str(REPO.parent / "shared" / "data" / "corpus"), "Corpus root folder.")
flags.DEFINE_list("workloads", DEFAULT_WORKLOADS, "config:folder pairs (folder relative to --corpus).")
flags.DEFINE_integer("limit", 1000, "Files per workload (the first ones, sorted).")
flags.DEFINE_integer("num_workers", 2, "Worker processes of the parallel run.")
flags.DEFINE_string("magenta_python", DEFAULT_MAGENTA_PYTHON, "Python of Magenta's venv ('' to skip).")
flags.DEFINE_integer("repeats", 1, "Measurements per side and workload (the best is kept).")
flags.DEFINE_string("json_out", "", "Also write the results to this JSON file.")


def first_files(folder, limit):
    return sorted(glob.glob(os.path.join(folder, "**", "*.mid"), recursive=True))[:limit]


def _cpu_seconds():
    """CPU time of this process and of its finished child processes."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run_ours(config, files, num_workers):
    from keras_musicvae.data import converter_for_preset
    from keras_musicvae.data import pipeline

    converter = converter_for_preset(config, mode="train", seed=0)
    cpu = _cpu_seconds()
    start = time.perf_counter()
    tensors, stats = pipeline.convert_midi_files(files, converter, num_workers=num_workers, progress=False)
    seconds = time.perf_counter() - start
    return {"files": len(files), "seconds": seconds, "cpu_seconds": _cpu_seconds() - cpu,
            "examples": len(tensors), "failed_files": stats.num_failed}


def run_ours_one_process(config, files):
    from keras_musicvae.data import converter_for_preset
    from keras_musicvae.data import midi_io

    converter = converter_for_preset(config, mode="train", seed=0)
    examples = failed = 0
    cpu = time.process_time()
    start = time.perf_counter()
    for path in files:
        try:
            examples += len(converter.to_tensors(midi_io.read_midi(path)))
        except midi_io.MidiReadError:
            failed += 1
    seconds = time.perf_counter() - start
    return {"files": len(files), "seconds": seconds, "cpu_seconds": time.process_time() - cpu,
            "examples": examples, "failed_files": failed}


# The loop of ../shared/reference/magenta_convert_bench.py, also timing CPU seconds.
_MAGENTA_LOOP = """
import glob, json, os, sys, time, warnings
warnings.filterwarnings("ignore")
import note_seq
from magenta.models.music_vae import configs
config, folder, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
paths = sorted(glob.glob(os.path.join(folder, "**", "*.mid"), recursive=True))[:limit]
conv = configs.CONFIG_MAP[config].data_converter
conv.set_mode("train")
examples = failed = 0
cpu = time.process_time()
t0 = time.perf_counter()
for path in paths:
    try:
        ns = note_seq.midi_file_to_note_sequence(path)
        examples += len(conv.to_tensors(ns).inputs)
    except Exception:
        failed += 1
print(json.dumps({"files": len(paths), "seconds": time.perf_counter() - t0,
                  "cpu_seconds": time.process_time() - cpu, "examples": examples, "failed_files": failed}))
"""


def run_magenta(config, folder, limit):
    env = dict(os.environ, PYTHONHASHSEED="0", TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run(
        [FLAGS.magenta_python, "-c", _MAGENTA_LOOP, config, folder, str(limit)],
        capture_output=True, text=True, env=env, timeout=3600,
    )
    if proc.returncode:
        raise RuntimeError(f"Magenta's converter failed: {proc.stderr[-1500:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def best(runs):
    return min(runs, key=lambda r: r["seconds"])


def main(argv):
    del argv
    warnings.filterwarnings("ignore")
    magenta = bool(FLAGS.magenta_python) and os.path.exists(FLAGS.magenta_python)
    if not magenta:
        print(f"# Magenta's venv not found at {FLAGS.magenta_python!r}: our figures only.", file=sys.stderr)
    rows = []
    for workload in FLAGS.workloads:
        config, folder = workload.split(":", 1)
        folder = os.path.join(FLAGS.corpus, folder)
        files = first_files(folder, FLAGS.limit)
        if not files:
            print(f"# no files in {folder}; skipped", file=sys.stderr)
            continue
        sides = {"ours": [], "ours_1proc": [], "magenta": []}
        for _ in range(FLAGS.repeats):
            if magenta:
                sides["magenta"].append(run_magenta(config, folder, FLAGS.limit))
            sides["ours"].append(run_ours(config, files, FLAGS.num_workers))
            sides["ours_1proc"].append(run_ours_one_process(config, files))
        row = {"config": config, "folder": os.path.relpath(folder, FLAGS.corpus), "files": len(files)}
        for side, runs in sides.items():
            if not runs:
                continue
            r = best(runs)
            row[side] = dict(r, files_per_s=r["files"] / r["seconds"], examples_per_s=r["examples"] / r["seconds"],
                             examples_per_cpu_s=r["examples"] / r["cpu_seconds"])
            print(json.dumps({"config": config, "side": side, **row[side]}), flush=True)
        rows.append(row)
    print()
    print(f"| config | folder | files | magenta ex/s | ours, {FLAGS.num_workers} processes ex/s (ratio) "
          "| ours, 1 process ex/s (ratio) | ex per CPU-s: magenta / ours (ratio) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for row in rows:
        m = row.get("magenta")
        ours, one = row["ours"], row["ours_1proc"]

        def cell(r, key="examples_per_s"):
            return f"{r[key]:.0f}" + (f" ({r[key] / m[key]:.2f}x)" if m else "")

        cpu = (f"{m['examples_per_cpu_s']:.0f} / {one['examples_per_cpu_s']:.0f} "
               f"({one['examples_per_cpu_s'] / m['examples_per_cpu_s']:.2f}x)") if m else "-"
        print(f"| {row['config']} | {row['folder']} | {row['files']} | "
              f"{m['examples_per_s']:.0f} | " if m else f"| {row['config']} | {row['folder']} | {row['files']} | - | ",
              end="")
        print(f"{cell(ours)} | {cell(one)} | {cpu} |")
    if FLAGS.json_out:
        with open(FLAGS.json_out, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    app.run(main)
