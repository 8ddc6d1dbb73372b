"""The matrix products of one cat_mel_2bar_small training step, timed alone (TensorFlow).

A training step of cat_mel_2bar_small (batch 64, 32 steps; a bidirectional
512-unit encoder, a 2 x 256-unit decoder with scheduled sampling) cannot be
faster than the matrix products it must run, most of them one small batch
at a time inside the time loops. This script times each of those products
on its own, the per-step ones inside a `tf.while_loop` of dependent products
as in a recurrence, in the layout the package uses
(`keras_musicvae.layers.step_projection.LoopMatrix`), and prints their sum:
the step time left if everything else (element-wise work, loop overhead,
the optimizer) took no time at all. Compare it with the step times of
`model_speed.py`.

    python benchmarks/product_floor.py                   # float32 and bfloat16
    python benchmarks/product_floor.py --tf-threads 1,2  # intra_op 1, inter_op 2

The list follows the model: the encoder's per-step recurrent products
forward (`h @ R`) and backward (`d_gates @ R^T`, `lstm_recurrence.py`) for
both directions, its recurrent-kernel gradients (one GEMM each over all
steps) and its input projection with its gradient; the decoder's per-step
products forward (token, two recurrent, second-layer input, head) and,
under automatic differentiation of the scheduled-sampling loop, two per
product backward (the input gradient and the weight gradient).
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

BATCH, STEPS = 64, 32
ENCODER_UNITS, DECODER_UNITS, DEPTH, Z = 512, 256, 90, 256


def products():
    """`(what, count, rows, inner, columns, in_loop, transposed)` of one training step.

    `in_loop`: one product per time step, each depending on the previous;
    `transposed`: the weight is read transposed (`d_gates @ R^T`).
    """
    b, t = BATCH, STEPS
    e, d = ENCODER_UNITS, DECODER_UNITS
    return [
        ("encoder h @ R, forward", 2 * t, b, e, 4 * e, True, False),
        ("encoder d_gates @ R^T, backward", 2 * t, b, 4 * e, e, True, True),
        ("encoder dR = H^T @ d_gates", 2, e, t * b, 4 * e, False, False),
        ("encoder input projection", 1, t * b, DEPTH, 8 * e, False, False),
        ("encoder input-kernel gradient", 1, DEPTH, t * b, 8 * e, False, False),
        ("decoder token @ W, forward", t, b, DEPTH, 4 * d, True, False),
        ("decoder h @ R / h @ W1, forward", 3 * t, b, d, 4 * d, True, False),
        ("decoder head, forward", t, b, d, DEPTH, True, False),
        ("decoder input gradients, backward", 3 * t, b, 4 * d, d, True, True),
        ("decoder weight gradients, backward", 3 * t, d, b, 4 * d, True, False),
        ("decoder token-kernel gradient, backward", t, DEPTH, b, 4 * d, True, False),
        ("decoder head gradients, backward", 2 * t, b, DEPTH, d, True, False),
        ("decoder z projections", 2, b, Z, 4 * d, False, False),
    ]


def time_product(tf, dtype, count, rows, inner, columns, in_loop, transposed, repeats):
    """Median seconds of `count` such products (a loop of them, or one timed `count` times)."""
    from keras_musicvae.layers.step_projection import LoopMatrix

    rng = tf.random.Generator.from_seed(0)
    weight_shape = (columns, inner) if transposed else (inner, columns)
    weight = tf.cast(rng.normal(weight_shape) * 0.02, dtype)
    x = tf.cast(rng.normal((rows, inner)), dtype)
    if in_loop:
        matrix = LoopMatrix(weight, transpose=transposed)

        @tf.function
        def run(x):
            def body(i, x):
                y = matrix(x)
                # The next input from this output (a recurrence), cheaply.
                y = tf.tile(y, [1, -(-inner // columns)])[:, :inner] if columns < inner else y[:, :inner]
                return i + 1, tf.tanh(y)

            return tf.while_loop(lambda i, x: i < count, body, (0, x))[1]

        calls = 1
    else:

        @tf.function
        def run(x):
            return tf.linalg.matmul(x, weight, transpose_b=transposed)

        calls = count
    run(x)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            run(x).numpy()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtypes", default="float32,bfloat16")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--tf-threads", metavar="INTRA,INTER")
    args = parser.parse_args()
    import tensorflow as tf

    if args.tf_threads:
        intra, inter = (int(v) for v in args.tf_threads.split(","))
        tf.config.threading.set_intra_op_parallelism_threads(intra)
        tf.config.threading.set_inter_op_parallelism_threads(inter)
    dtypes = args.dtypes.split(",")
    totals = dict.fromkeys(dtypes, 0.0)
    print(f"{'product':36s} {'count':>5s} {'shape (m x k x n)':>20s} " + " ".join(f"{d:>12s}" for d in dtypes))
    for what, count, rows, inner, columns, in_loop, transposed in products():
        figures = []
        for dtype in dtypes:
            seconds = time_product(tf, dtype, count, rows, inner, columns, in_loop, transposed, args.repeats)
            totals[dtype] += seconds
            figures.append(f"{seconds * 1000:9.2f} ms")
        shape = f"{rows}x{inner}x{columns}"
        print(f"{what:36s} {count:5d} {shape:>20s} " + " ".join(f"{f:>12s}" for f in figures), flush=True)
    print(f"{'sum: the products of one step':63s} " + " ".join(f"{totals[d] * 1000:9.2f} ms" for d in dtypes))


if __name__ == "__main__":
    main()
