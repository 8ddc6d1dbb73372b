"""TensorFlow's per-step matrix products in the two operand layouts.

A recurrence multiplies a small batch by the same weight matrix at every
step. `x @ W` can be given to TensorFlow with `W` as it is (`[K, N]`) or
stored transposed (`[N, K]`, multiplied with `transpose_b=True`); the
results are equal, the speed is not: oneDNN's bfloat16 kernels are about
twice as fast with the transposed operand at the 16-bar models' sizes, its
float32 kernels faster with the plain one (`layers/step_projection.py`
picks per dtype). Each figure is the time of one product inside a
`tf.while_loop` of 64 dependent products (each step's input is the tanh of
the previous product), as in a recurrence.

    python benchmarks/operand_layout.py                 # the default shapes
    python benchmarks/operand_layout.py --batch 8 --shapes 2048x8192,1024x4096
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

STEPS = 64


def loop(tf, transposed):
    @tf.function
    def run(x, weight):
        def body(i, x):
            if transposed:
                y = tf.linalg.matmul(x, weight, transpose_b=True)
            else:
                y = tf.linalg.matmul(x, weight)
            k, n = x.shape[1], y.shape[1]
            y = y[:, :k] if n >= k else tf.tile(y, [1, k // n])
            return i + 1, tf.tanh(y)

        return tf.while_loop(lambda i, x: i < STEPS, body, (0, x))[1]

    return run


def time_product(tf, np, batch, k, n, dtype, transposed, repeats):
    rng = np.random.default_rng(0)
    x = tf.constant(rng.standard_normal((batch, k)), dtype)
    weight = rng.standard_normal((k, n)) * 0.01
    weight = tf.constant(weight.T if transposed else weight, dtype)
    run = loop(tf, transposed)
    run(x, weight).numpy()  # trace and warm up
    start = time.perf_counter()
    for _ in range(repeats):
        result = run(x, weight)
    result.numpy()
    return (time.perf_counter() - start) / repeats / STEPS * 1e6


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, nargs="+", default=[8, 64])
    parser.add_argument("--shapes", default="2048x8192,8192x2048,1024x4096,512x2048,256x1024")
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    import numpy as np
    import tensorflow as tf

    print("| batch | K x N | float32 plain | float32 transposed | bfloat16 plain | bfloat16 transposed |")
    print("| --- | --- | --- | --- | --- | --- |")
    for batch in args.batch:
        for shape in args.shapes.split(","):
            k, n = (int(v) for v in shape.split("x"))
            cells = [
                "%.0f us" % time_product(tf, np, batch, k, n, dtype, transposed, args.repeats)
                for dtype in (tf.float32, tf.bfloat16)
                for transposed in (False, True)
            ]
            print(f"| {batch} | {k} x {n} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
