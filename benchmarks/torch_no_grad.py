"""PyTorch sampling with and without autograd recording, side by side.

`MusicVAE.sample` / `decode` run under `torch.no_grad()` on the torch backend
(`keras_musicvae/models/inference_mode.py`). This script calls the decorated
`sample` and the undecorated `decode` (`MusicVAE.decode.__wrapped__`, which
records the autograd graph as before) in alternation (ABBA order, garbage
collected before each call) in one process, checks
that they give the same samples, and prints the medians and their ratio.

    python benchmarks/torch_no_grad.py --model cat_mel_2bar_small -n 8 --repeats 5
    python benchmarks/torch_no_grad.py --model /tmp/q_demo/run/preset -n 8 --repeats 7
"""

import argparse
import gc
import os
import statistics
import time

os.environ["KERAS_BACKEND"] = "torch"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="cat_mel_2bar_small", help="preset name or folder")
    parser.add_argument("-n", type=int, default=8, help="sequences per call (default 8)")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls of each (default 5)")
    args = parser.parse_args()

    import numpy as np
    import torch

    from keras_musicvae import MusicVAE

    model = MusicVAE.from_preset(args.model)

    def with_autograd():
        z = np.random.default_rng(0).standard_normal((args.n, model.z_size)).astype("float32")
        return MusicVAE.decode.__wrapped__(model, z, temperature=0.5, seed=0)

    def without_autograd():
        return model.sample(args.n, temperature=0.5, seed=0)

    np.testing.assert_array_equal(with_autograd(), without_autograd())  # also the warm-up
    times = {"autograd": [], "no_grad": []}
    cpu = {"autograd": [], "no_grad": []}  # CPU seconds of this process: less sensitive to other jobs
    order = [("autograd", with_autograd), ("no_grad", without_autograd)]
    for _ in range(args.repeats):
        order.reverse()  # ABBA...: neither always runs right after the other
        for name, run in order:
            gc.collect()  # free the previous call's graph outside the timing
            started, cpu_started = time.perf_counter(), time.process_time()
            run()
            times[name].append(time.perf_counter() - started)
            cpu[name].append(time.process_time() - cpu_started)
    before, after = statistics.median(times["autograd"]), statistics.median(times["no_grad"])
    # On a shared machine the load changes between calls: the ratio of each
    # adjacent pair, and the fastest call of each, are steadier than medians.
    pairs = statistics.median(a / b for a, b in zip(times["autograd"], times["no_grad"]))
    fastest = min(times["autograd"]) / min(times["no_grad"])
    print(
        f"{args.model}: sample {args.n} on torch {torch.__version__} ({torch.get_num_threads()} threads), "
        f"{args.repeats} calls each: with autograd median {before * 1e3:.0f} ms, no_grad {after * 1e3:.0f} ms; "
        f"speed-up: medians {before / after:.2f}x, median of pair ratios {pairs:.2f}x, fastest calls {fastest:.2f}x"
    )
    cpu_before, cpu_after = statistics.median(cpu["autograd"]), statistics.median(cpu["no_grad"])
    print(
        f"CPU time per call (median): with autograd {cpu_before * 1e3:.0f} ms, no_grad {cpu_after * 1e3:.0f} ms, "
        f"ratio {cpu_before / cpu_after:.2f}x"
    )


if __name__ == "__main__":
    main()
