"""Fuzzes the MIDI reader, the converters and the data pipeline.

    python tools/fuzz_midi.py --count=3000 --seed=0 [--output=fuzz_files/] [--workers=2]

Makes `--count` broken or odd MIDI files from the bundled Freedoom corpus
(`keras_musicvae.data.fuzz`: byte flips, truncations, splices, bad chunk
lengths, odd divisions and formats, huge delta times, absurd tempos and time
signatures, zero-length notes, orphan note-offs, data bytes above 127, many
tracks, random bytes, empty files), the same files for the same seed. Each
file is read and converted by one converter per family (`--presets`), one
file at a time in worker processes under a CPU-time and memory budget, and
then the whole folder goes through `pipeline.convert_midi_files`, whose
counters must add up to the number of files.

Prints: files tried, files read and refused (by reason), files giving
examples per converter, crashes (an exception escaping the reader or a
converter), hangs (a file over the CPU budget), files over the memory budget,
worker deaths, the largest CPU time and memory growth of one file, and the
pipeline's counters. Exits with status 1 when there is any finding.
"""

import argparse
import collections
import json
import logging
import os
import sys
import tempfile
import time


def parse_args(argv=None):
    from keras_musicvae.data import fuzz

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1000, help="files to make (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the mutations (default 0)")
    parser.add_argument(
        "--output",
        help="folder for the files (kept); default: a temporary folder, deleted afterwards",
    )
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument(
        "--cpu_seconds", type=float, default=fuzz.CampaignBudget.cpu_seconds,
        help="CPU seconds one file may take before it counts as a hang (default %(default)s)",
    )
    parser.add_argument(
        "--memory_mb", type=int, default=fuzz.CampaignBudget.memory_bytes // 2**20,
        help="MiB one file may add to a worker before it counts as a memory blow-up "
        "(default %(default)s)",
    )
    parser.add_argument(
        "--presets", default=",".join(fuzz.DEFAULT_PRESETS),
        help="comma-separated presets whose converters are run (default: one per family)",
    )
    parser.add_argument(
        "--pipeline_preset", default="cat_mel_2bar_small",
        help="preset whose converter runs the pipeline check (empty: skip it)",
    )
    parser.add_argument("--json", help="also write every file's outcome to this JSON file")
    return parser.parse_args(argv)


def run(args):
    """Runs the campaign; returns the number of findings."""
    from keras_musicvae.data import fuzz

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fuzz_midi_") as scratch:
        folder = args.output or scratch
        files = fuzz.generate(args.count, seed=args.seed)
        paths = fuzz.write_files(folder, files)
        print(f"{len(paths)} files written to {folder} "
              f"({time.perf_counter() - started:.1f} s); mutations applied:")
        for name, count in collections.Counter(m for f in files for m in f.mutations).most_common():
            print(f"  {count:7d}  {name}")
        converters = fuzz.default_converters(tuple(p for p in args.presets.split(",") if p))
        file_budget = fuzz.CampaignBudget(args.cpu_seconds, args.memory_mb * 2**20)
        start = time.perf_counter()
        outcomes = fuzz.run_campaign(paths, converters, args.workers, file_budget)
        summary = fuzz.summarize(outcomes)
        print(f"\nreader + converters ({time.perf_counter() - start:.1f} s wall, "
              f"{args.workers} worker(s), budget {args.cpu_seconds:g} CPU s and "
              f"{args.memory_mb} MiB per file):")
        print("\n".join(summary.lines()))
        findings = sum(summary.findings.values())
        if args.pipeline_preset:
            findings += check_pipeline(paths, outcomes, args)
        if args.json:
            write_json(args.json, files, outcomes)
    print(f"\ntotal {time.perf_counter() - started:.1f} s; findings: {findings}")
    return findings


def check_pipeline(paths, outcomes, args):
    """Runs `convert_midi_files`; returns 1 when its counters do not add up."""
    from keras_musicvae.data import converter_for_preset
    from keras_musicvae.data import pipeline

    converter = converter_for_preset(args.pipeline_preset, mode="eval")
    logging.getLogger("keras_musicvae.data").setLevel(logging.ERROR)  # one line per file
    start = time.perf_counter()
    tensors, stats = pipeline.convert_midi_files(
        paths, converter, num_workers=args.workers, progress=False
    )
    print(f"\npipeline.convert_midi_files with {args.pipeline_preset} "
          f"({time.perf_counter() - start:.1f} s wall):")
    print("  " + str(stats).replace("\n", "\n  "))
    with_examples = stats.files_read - stats.files_without_examples
    refused = collections.Counter(o.read_reason for o in outcomes if o.read_reason)
    checks = {
        "read + failed = files": stats.files_read + stats.num_failed == stats.files == len(paths),
        "with + without examples = read": with_examples + stats.files_without_examples
        == stats.files_read,
        "failure reasons = the reader's refusals": dict(stats.files_failed) == dict(refused),
        "examples = sum of per-file examples": stats.examples == len(tensors),
    }
    for name, ok in checks.items():
        print(f"  {'ok  ' if ok else 'FAIL'}  {name}")
    return 0 if all(checks.values()) else 1


def write_json(path, files, outcomes):
    mutations = {f.name: list(f.mutations) for f in files}
    rows = []
    for o in outcomes:
        row = dict(vars(o))
        row["mutations"] = mutations.get(os.path.basename(o.path), [])
        rows.append(row)
    with open(path, "w") as f:
        json.dump(rows, f, indent=1)


def main(argv=None):
    args = parse_args(argv)
    print("command: python tools/fuzz_midi.py " + " ".join(sys.argv[1:] if argv is None else argv))
    return 1 if run(args) else 0


if __name__ == "__main__":
    sys.exit(main())
