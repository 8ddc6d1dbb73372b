"""Training throughput, sampling and encoding latency, peak memory.

Each workload runs in a fresh subprocess per backend (so peak RSS is its
own), at the published full sizes of the preset, on random data of the right
shapes. Figures are medians of timed steps after warm-up.

    python benchmarks/model_speed.py                      # all workloads, all backends
    python benchmarks/model_speed.py --backends jax --workloads train_cat_mel_2bar_small_b64
    python benchmarks/model_speed.py --json-out results.json

Magenta's side is `../shared/reference/run_bench.sh` (same workloads, same
batch sizes); `benchmarks/run_side_by_side.sh` runs both in one session.
"""

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time

REPO = pathlib.Path(__file__).resolve().parent.parent

# name: (preset, what, batch / n, warm-up, timed repeats)
WORKLOADS = {
    "train_cat_mel_2bar_small_b64": ("cat_mel_2bar_small", "train", 64, 3, 10),
    "train_hierdec_mel_16bar_b8": ("hierdec_mel_16bar", "train", 8, 2, 4),
    "train_hierdec_trio_16bar_b4": ("hierdec_trio_16bar", "train", 4, 2, 3),
    "train_hierdec_mel_16bar_b32": ("hierdec_mel_16bar", "train", 32, 1, 2),
    "sample_cat_mel_2bar_small_n8": ("cat_mel_2bar_small", "sample", 8, 2, 10),
    "sample_hierdec_trio_16bar_n8": ("hierdec_trio_16bar", "sample", 8, 1, 5),
    "encode_cat_mel_2bar_small_n8": ("cat_mel_2bar_small", "encode", 8, 2, 10),
    "encode_hierdec_trio_16bar_n8": ("hierdec_trio_16bar", "encode", 8, 1, 5),
}


def random_batch(model, batch_size, seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    steps = model.max_seq_len

    def one_hot_groups(depths):
        parts = [np.eye(d, dtype="float32")[rng.integers(0, d, (batch_size, steps))] for d in depths]
        return np.concatenate(parts, -1)

    depths = model.output_depths or [model.output_depth]
    targets = one_hot_groups(depths)
    inputs = targets if model.input_depth == model.output_depth else one_hot_groups([model.input_depth])
    return {
        "inputs": inputs,
        "targets": targets,
        "lengths": np.full((batch_size,), steps, dtype="int32"),
    }


def peak_rss_mb():
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_one(name):
    """Runs one workload in this process; prints a JSON line."""
    import keras
    import numpy as np

    import keras_musicvae

    preset, what, size, warmup, repeats = WORKLOADS[name]
    model = keras_musicvae.MusicVAE.from_preset(preset, load_weights=False)
    times = []
    if what == "train":
        model.compile()
        batch = random_batch(model, size)
        for _ in range(warmup):
            model.train_on_batch(batch)
        for _ in range(repeats):
            start = time.perf_counter()
            logs = model.train_on_batch(batch, return_dict=True)
            keras.ops.convert_to_numpy(logs["loss"]) if hasattr(logs["loss"], "shape") else None
            times.append(time.perf_counter() - start)
    elif what == "sample":
        z = np.random.default_rng(0).standard_normal((size, model.z_size)).astype("float32")
        for i in range(warmup):
            model.decode(z, temperature=1.0, seed=i)
        for i in range(repeats):
            start = time.perf_counter()
            model.decode(z, temperature=1.0, seed=100 + i)
            times.append(time.perf_counter() - start)
    else:
        batch = random_batch(model, size)
        for _ in range(warmup):
            model.encode(batch["inputs"], batch["lengths"])
        for _ in range(repeats):
            start = time.perf_counter()
            model.encode(batch["inputs"], batch["lengths"])
            times.append(time.perf_counter() - start)
    median = statistics.median(times)
    result = {
        "workload": name,
        "backend": keras.backend.backend(),
        "preset": preset,
        "what": what,
        "batch": size,
        "median_s": median,
        "times_s": times,
        "peak_rss_mb": peak_rss_mb(),
        "params": int(sum(np.prod(w.shape) for w in model.trainable_weights)),
    }
    if what == "train":
        result["examples_per_s"] = size / median
    print("RESULT " + json.dumps(result), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="jax,tensorflow,torch")
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--json-out")
    parser.add_argument("--timeout", type=int, default=1800)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        run_one(args.one)
        return
    results = []
    for workload in args.workloads.split(","):
        for backend in args.backends.split(","):
            env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
            cmd = [sys.executable, __file__, "--one", workload]
            start = time.perf_counter()
            try:
                proc = subprocess.run(
                    cmd, env=env, capture_output=True, text=True, timeout=args.timeout
                )
            except subprocess.TimeoutExpired:
                print(f"{workload:34s} {backend:10s} timed out after {args.timeout}s", flush=True)
                results.append({"workload": workload, "backend": backend, "error": "timeout"})
                continue
            lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
            if proc.returncode or not lines:
                tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
                print(f"{workload:34s} {backend:10s} FAILED (exit {proc.returncode}): {' | '.join(tail)}")
                results.append({"workload": workload, "backend": backend, "error": tail})
                continue
            result = json.loads(lines[-1][len("RESULT ") :])
            result["wall_s"] = time.perf_counter() - start
            results.append(result)
            extra = (
                f"{result['examples_per_s']:8.2f} ex/s" if "examples_per_s" in result else " " * 14
            )
            print(
                f"{workload:34s} {backend:10s} median {result['median_s'] * 1000:9.1f} ms {extra}"
                f"  peak RSS {result['peak_rss_mb']:8.0f} MB",
                flush=True,
            )
    if args.json_out:
        pathlib.Path(args.json_out).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
