"""Speed of a half-precision dtype policy against float32, side by side.

For each workload the float32 model and the half-precision one (same preset,
same random data) are built in one process and timed in alternation (f32,
half, f32, half, ...), so both see the same machine state; the figure to
quote is the ratio of the medians (the machine may be shared and noisy).

    python benchmarks/precision_speed.py                  # all workloads
    python benchmarks/precision_speed.py --workloads train_cat_mel_2bar_small_b64 \
        --backends torch
"""

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

# name: (preset, what, batch / n, half policy, backends, warm-up, timed repeats)
WORKLOADS = {
    "train_cat_mel_2bar_small_b64": (
        "cat_mel_2bar_small", "train", 64, "mixed_bfloat16", "tensorflow,torch", 2, 6,
    ),
    "sample_hierdec_trio_16bar_n8": (
        "hierdec_trio_16bar", "sample", 8, "bfloat16", "tensorflow,torch", 1, 3,
    ),
    "train_hierdec_mel_16bar_b8": (
        "hierdec_mel_16bar", "train", 8, "mixed_bfloat16", "tensorflow", 1, 3,
    ),
}


def run_one(name):
    import keras
    import numpy as np

    import keras_musicvae
    from model_speed import random_batch

    preset, what, size, half, _, warmup, repeats = WORKLOADS[name]
    models = {}
    for policy in ("float32", half):
        keras.utils.set_random_seed(0)
        models[policy] = keras_musicvae.MusicVAE.from_preset(preset, load_weights=False, dtype=policy)
    # The same weights in both (cast to bfloat16 in a bfloat16 model).
    models[half].set_weights(models["float32"].get_weights())
    if what == "train":
        batch = random_batch(models["float32"], size)
        for model in models.values():
            model.compile()

        def work(model, i):
            model.train_on_batch(batch)

    else:
        z = np.random.default_rng(0).standard_normal((size, models["float32"].z_size)).astype("float32")

        def work(model, i):
            model.decode(z, temperature=1.0, seed=i)

    for i in range(warmup):
        for model in models.values():
            work(model, i)
    times = {policy: [] for policy in models}
    for i in range(repeats):
        for policy, model in models.items():
            start = time.perf_counter()
            work(model, 100 + i)
            times[policy].append(time.perf_counter() - start)
    medians = {policy: statistics.median(t) for policy, t in times.items()}
    result = {
        "workload": name,
        "backend": keras.backend.backend(),
        "half_policy": half,
        "median_s": medians,
        "times_s": times,
        "speedup": medians["float32"] / medians[half],
    }
    print("RESULT " + json.dumps(result), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--backends", help="override the workloads' backends")
    parser.add_argument("--json-out")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        run_one(args.one)
        return
    results = []
    for workload in args.workloads.split(","):
        backends = args.backends or WORKLOADS[workload][4]
        for backend in backends.split(","):
            env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
            proc = subprocess.run(
                [sys.executable, __file__, "--one", workload], env=env, capture_output=True, text=True
            )
            lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
            if proc.returncode or not lines:
                print(f"{workload:32s} {backend:10s} FAILED: {proc.stderr.strip().splitlines()[-3:]}")
                continue
            r = json.loads(lines[-1][len("RESULT ") :])
            results.append(r)
            m = r["median_s"]
            print(
                f"{workload:32s} {backend:10s} float32 {m['float32'] * 1000:8.1f} ms  "
                f"{r['half_policy']} {m[r['half_policy']] * 1000:8.1f} ms  "
                f"float32 / {r['half_policy']} = {r['speedup']:.2f}x",
                flush=True,
            )
    if args.json_out:
        pathlib.Path(args.json_out).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
