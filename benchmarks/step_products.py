"""The step loops' matrix products on PyTorch: float32, bfloat16 and int8, side by side.

One sampling step of `hierdec_trio_16bar` multiplies a batch of 8 by the
weights of three 3-layer, 1024-unit bar decoders. This script times that
set of products (per decoder and layer, `[8, 1024 + 1024] @ [2048, 4096]`:
the stacked input and recurrent kernels) through the package's own prepared
products (`keras_musicvae.layers.torch_linear` / `torch_int8`), in
alternation so that every variant sees the same machine state, and prints
the median time per step and the ratio to float32. Run it on the CPU whose
figures you quote (`lscpu`: bfloat16 is fast only with AVX512_BF16 or AMX).

    python benchmarks/step_products.py [--batch 8] [--layers 9] [--repeats 30]
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("KERAS_BACKEND", "torch")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--layers", type=int, default=9, help="products per step (3 decoders x 3 layers)")
    parser.add_argument("--input-dim", type=int, default=2048)
    parser.add_argument("--output-dim", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()

    import torch

    from keras_musicvae.layers import torch_int8
    from keras_musicvae.layers import torch_linear

    torch.manual_seed(0)
    kernels = [torch.randn(args.input_dim, args.output_dim) * 0.02 for _ in range(args.layers)]
    inputs = torch.randn(args.batch, args.input_dim)
    variants = {
        "float32 (torch.mm)": [lambda x, k=k: x @ k for k in kernels],
        "float32 (oneDNN prepacked)": [torch_linear.PackedProjection(k) for k in kernels],
        "bfloat16 (oneDNN prepacked)": [torch_linear.PackedProjection(k.bfloat16()) for k in kernels],
        "int8 (FBGEMM, dynamic)": [torch_int8.Int8Projection(k) for k in kernels],
    }
    x_of = {name: inputs.bfloat16() if "bfloat16" in name else inputs for name in variants}
    times = {name: [] for name in variants}
    with torch.no_grad():
        for _ in range(3):
            for name, products in variants.items():
                [p(x_of[name]) for p in products]
        for _ in range(args.repeats):
            for name, products in variants.items():
                start = time.perf_counter()
                [p(x_of[name]) for p in products]
                times[name].append(time.perf_counter() - start)
    reference = statistics.median(times["float32 (torch.mm)"])
    print(
        f"{args.layers} products of [{args.batch}, {args.input_dim}] @ [{args.input_dim}, {args.output_dim}] "
        f"per step; torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    for name, measured in times.items():
        median = statistics.median(measured)
        print(f"  {name:28s} {median * 1e3:8.2f} ms per step   {reference / median:5.2f}x float32 torch.mm")


if __name__ == "__main__":
    main()
