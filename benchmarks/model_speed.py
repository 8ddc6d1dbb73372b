"""Training throughput, sampling and encoding latency, peak memory, side by
side with Magenta.

Each workload runs in a fresh subprocess per backend (so peak RSS is its
own), at the published full sizes of the preset, on random data of the right
shapes. Figures are medians of timed steps after warm-up, in wall-clock and
CPU seconds (CPU seconds move less when the machine is shared).

    python benchmarks/model_speed.py                      # all workloads, all backends
    python benchmarks/model_speed.py --backends jax --workloads train_cat_mel_2bar_small_b64
    python benchmarks/model_speed.py --magenta-python /path/to/magenta-venv/bin/python \
        --json-out benchmarks/results_model_speed.json

With `--magenta-python`, Magenta's own code (`../shared/reference/magenta_ref.py
bench`, the same workloads and batch sizes) runs right before ours for each
workload, so both see the same machine state.
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

REFERENCE = REPO.parent / "shared" / "reference" / "magenta_ref.py"

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


# Magenta's arguments for the same workloads (as ../shared/reference/run_bench.sh).
MAGENTA_ARGS = {
    "train_cat_mel_2bar_small_b64": "--config cat-mel_2bar_small --hparams batch_size=64 --what train --warmup 3 --steps 10",
    "train_hierdec_mel_16bar_b8": "--config hierdec-mel_16bar --hparams batch_size=8 --what train --warmup 1 --steps 4 --parallel_iterations 1",
    "train_hierdec_trio_16bar_b4": "--config hierdec-trio_16bar --hparams batch_size=4 --what train --warmup 1 --steps 3 --parallel_iterations 1",
    "train_hierdec_mel_16bar_b32": "--config hierdec-mel_16bar --hparams batch_size=32 --what train --warmup 1 --steps 2 --parallel_iterations 1",
    "sample_cat_mel_2bar_small_n8": "--config cat-mel_2bar_small --what sample --n 8 --warmup 2 --repeats 10",
    "sample_hierdec_trio_16bar_n8": "--config hierdec-trio_16bar --what sample --n 8 --warmup 1 --repeats 5",
    "encode_cat_mel_2bar_small_n8": "--config cat-mel_2bar_small --what encode --n 8 --warmup 2 --repeats 10",
    "encode_hierdec_trio_16bar_n8": "--config hierdec-trio_16bar --what encode --n 8 --warmup 1 --repeats 5",
}


def run_magenta(workload, python, timeout, tf_threads=None):
    """Runs Magenta's reference bench; returns its figures and peak RSS.

    `tf_threads`: None (TensorFlow's defaults) or `(intra_op, inter_op)`.
    """
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        out = pathlib.Path(tmp) / "result.json"
        wrapper = (
            "import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
            "print('PEAK_RSS_KB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); "
            "sys.exit(r.returncode)"
        )
        cmd = [sys.executable, "-c", wrapper, python, str(REFERENCE), "bench"]
        cmd += MAGENTA_ARGS[workload].split() + ["--json_out", str(out), "--work_dir", tmp]
        if tf_threads:
            cmd += ["--intra_op", str(tf_threads[0]), "--inter_op", str(tf_threads[1])]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if proc.returncode or not out.exists():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            return {"workload": workload, "backend": "magenta", "error": tail}
        data = json.loads(out.read_text())
        peak = [l for l in proc.stdout.splitlines() if l.startswith("PEAK_RSS_KB")]
        result = {"workload": workload, "backend": "magenta", "raw": data}
        if "median_step_s" in data:
            result.update(
                median_s=data["median_step_s"],
                median_cpu_s=data["median_step_cpu_s"],
                examples_per_s=data["examples_per_s"],
            )
        else:
            result.update(median_s=data["median_call_s"], median_cpu_s=data["median_call_cpu_s"])
        if peak:
            result["peak_rss_mb"] = int(peak[-1].split()[1]) / 1024.0
        return result


def peak_rss_mb():
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_one(name, dtype="float32", decode_quantization=None, tf_threads=None, decoder_only=False):
    """Runs one workload in this process with our models in dtype policy
    `dtype` (and `decode_quantization` for sampling, and a model without its
    encoder with `decoder_only`; TensorFlow's thread pools sized
    `tf_threads = (intra_op, inter_op)` when given); prints a JSON line."""
    import keras
    import numpy as np

    if tf_threads and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(tf_threads[0])
        tf.config.threading.set_inter_op_parallelism_threads(tf_threads[1])
    import keras_musicvae

    preset, what, size, warmup, repeats = WORKLOADS[name]
    decoder_only = decoder_only and what == "sample"
    model = keras_musicvae.MusicVAE.from_preset(
        preset, load_weights=False, dtype=dtype, include_encoder=not decoder_only
    )
    if decode_quantization and what == "sample":
        model.decode_quantization = decode_quantization
    times, cpu_times = [], []
    if what == "train":
        model.compile()
        batch = random_batch(model, size)
        for _ in range(warmup):
            model.train_on_batch(batch)
        for _ in range(repeats):
            start, cpu = time.perf_counter(), time.process_time()
            model.train_on_batch(batch, return_dict=True)
            times.append(time.perf_counter() - start)
            cpu_times.append(time.process_time() - cpu)
    elif what == "sample":
        z = np.random.default_rng(0).standard_normal((size, model.z_size)).astype("float32")
        for i in range(warmup):
            model.decode(z, temperature=1.0, seed=i)
        for i in range(repeats):
            start, cpu = time.perf_counter(), time.process_time()
            model.decode(z, temperature=1.0, seed=100 + i)
            times.append(time.perf_counter() - start)
            cpu_times.append(time.process_time() - cpu)
    else:
        batch = random_batch(model, size)
        for _ in range(warmup):
            model.encode(batch["inputs"], batch["lengths"])
        for _ in range(repeats):
            start, cpu = time.perf_counter(), time.process_time()
            model.encode(batch["inputs"], batch["lengths"])
            times.append(time.perf_counter() - start)
            cpu_times.append(time.process_time() - cpu)
    median = statistics.median(times)
    result = {
        "workload": name,
        "backend": keras.backend.backend(),
        "dtype": dtype,
        "decode_quantization": decode_quantization if what == "sample" else None,
        "decoder_only": decoder_only,
        "tf_threads": list(tf_threads) if tf_threads and keras.backend.backend() == "tensorflow" else None,
        "preset": preset,
        "what": what,
        "batch": size,
        "median_s": median,
        "median_cpu_s": statistics.median(cpu_times),
        "times_s": times,
        "peak_rss_mb": peak_rss_mb(),
        "params": int(sum(np.prod(w.shape) for w in model.trainable_weights)),
    }
    if what == "train":
        result["examples_per_s"] = size / median
    print("RESULT " + json.dumps(result), flush=True)


def print_result(result):
    name, backend = result["workload"], result["backend"]
    if "error" in result:
        print(f"{name:34s} {backend:10s} FAILED: {result['error']}", flush=True)
        return
    extra = f"{result['examples_per_s']:8.2f} ex/s" if "examples_per_s" in result else " " * 14
    peak = result.get("peak_rss_mb")
    print(
        f"{name:34s} {backend:10s} median {result['median_s'] * 1000:9.1f} ms "
        f"(cpu {result['median_cpu_s'] * 1000:9.1f} ms) {extra}"
        f"  peak RSS {peak if peak is None else round(peak):>6} MB",
        flush=True,
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="jax,tensorflow,torch")
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--json-out")
    parser.add_argument("--timeout", type=int, default=1800)
    parser.add_argument("--magenta-python", help="python of a Magenta 2.1.4 venv (side by side)")
    parser.add_argument(
        "--dtype",
        default="float32",
        help="dtype policy of our models: float32, bfloat16 (inference), mixed_bfloat16 (training)",
    )
    parser.add_argument(
        "--decode-quantization",
        choices=["int8"],
        help="sampling workloads: MusicVAE.decode_quantization (int8: PyTorch backend only)",
    )
    parser.add_argument(
        "--tf-threads",
        metavar="INTRA,INTER",
        help="TensorFlow's intra-op and inter-op thread pools, for our TensorFlow runs and "
        "Magenta's alike (default: TensorFlow's own choice)",
    )
    parser.add_argument(
        "--decoder-only",
        action="store_true",
        help="sampling workloads: our models without their encoder (include_encoder=False, as "
        "`keras-musicvae sample` loads them); Magenta always builds its encoder",
    )
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    tf_threads = None
    if args.tf_threads:
        tf_threads = tuple(int(v) for v in args.tf_threads.split(","))
        if len(tf_threads) != 2:
            parser.error("--tf-threads takes INTRA,INTER, e.g. 1,2")
    if args.one:
        run_one(args.one, args.dtype, args.decode_quantization, tf_threads, args.decoder_only)
        return
    results = []
    for workload in args.workloads.split(","):
        if args.magenta_python and workload in MAGENTA_ARGS:
            try:
                result = run_magenta(workload, args.magenta_python, args.timeout, tf_threads)
            except subprocess.TimeoutExpired:
                result = {"workload": workload, "backend": "magenta", "error": "timeout"}
            results.append(result)
            print_result(result)
        for backend in args.backends.split(","):
            env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
            cmd = [sys.executable, __file__, "--one", workload, "--dtype", args.dtype]
            if args.decode_quantization:
                cmd += ["--decode-quantization", args.decode_quantization]
            if args.tf_threads:
                cmd += ["--tf-threads", args.tf_threads]
            if args.decoder_only:
                cmd.append("--decoder-only")
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
            print_result(result)
    if args.json_out:
        pathlib.Path(args.json_out).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
