"""Resident memory of PyTorch sampling, stage by stage (what the peak is made of).

Prints the process's resident set (VmRSS) and its peak after `import keras`
(torch backend), after `import keras_musicvae`, after building the model in
a dtype policy, and after two `decode` calls of 8 prior vectors:

    python benchmarks/torch_sampling_memory.py --preset hierdec_trio_16bar --dtype bfloat16
    python benchmarks/torch_sampling_memory.py --preset hierdec_trio_16bar --dtype bfloat16 \
        --decode-quantization int8
    python benchmarks/torch_sampling_memory.py --without jax     # as in a `[torch]` install
    python benchmarks/torch_sampling_memory.py --decoder-only    # include_encoder=False

`--without MODULE` makes a module unimportable (as if not installed) before
`import keras`, which imports the optional libraries it finds: this venv
has JAX for the JAX backend, which a `pip install keras-musicvae[torch]`
environment does not.
"""

import argparse
import os
import resource

os.environ["KERAS_BACKEND"] = "torch"


def _megabytes():
    with open("/proc/self/status") as status:
        current = int(status.read().split("VmRSS:")[1].split()[0]) / 1024
    return current, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="hierdec_trio_16bar")
    parser.add_argument("--dtype", default="bfloat16")
    parser.add_argument("--decode-quantization", choices=["int8"], default=None)
    parser.add_argument("-n", type=int, default=8)
    parser.add_argument("--without", action="append", default=[], metavar="MODULE")
    parser.add_argument(
        "--decoder-only", action="store_true", help="build the model without its encoder (include_encoder=False)"
    )
    args = parser.parse_args()
    import sys

    for name in args.without:
        sys.modules[name] = None  # `import name` now raises ImportError

    def report(stage):
        current, peak = _megabytes()
        print(f"{stage:34s} RSS {current:7.0f} MB   peak {peak:7.0f} MB", flush=True)

    import keras  # noqa: F401

    report("import keras (torch backend)")
    import numpy as np

    import keras_musicvae

    report("import keras_musicvae")
    model = keras_musicvae.MusicVAE.from_preset(
        args.preset, load_weights=False, dtype=args.dtype, include_encoder=not args.decoder_only
    )
    model.decode_quantization = args.decode_quantization
    report(f"model built ({args.dtype}{', decoder only' if args.decoder_only else ''})")
    z = np.random.default_rng(0).standard_normal((args.n, model.z_size)).astype("float32")
    for call in (1, 2):
        model.decode(z, temperature=1.0, seed=call)
        report(f"after decode {call}")


if __name__ == "__main__":
    main()
