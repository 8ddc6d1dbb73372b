"""Greedy tokens of bfloat16 (and, on PyTorch, int8) sampling against float32, for a trained model.

Encodes held-out examples with the float32 model, decodes each `mu` greedily
(temperature 0) with the float32 model and with each variant (bfloat16
weights; on PyTorch also int8 step products on float32 or bfloat16
weights), in batches of `--batch`, and prints the share of steps whose token
equals float32's (free running: each variant reads its own previous tokens)
and each variant's accuracy against the targets:

    python benchmarks/greedy_agreement.py --model runs/mel/preset \
        --data ../shared/data/corpus/melody/eval --examples 512
    python benchmarks/greedy_agreement.py --backend tensorflow --batch 8 --model ... --data ...

Every variant decodes from the same z (float32 `mu`), as sampling does; for
encoding and decoding both in bfloat16 see `quantization.py`'s Keras
bfloat16 row.
"""

import argparse
import os


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a trained preset folder")
    parser.add_argument("--data", required=True, help="held-out MIDI folder")
    parser.add_argument("--examples", type=int, default=512)
    parser.add_argument("--backend", default="torch", choices=["torch", "tensorflow", "jax"])
    parser.add_argument("--batch", type=int, default=0, help="decode batch (0: all examples at once)")
    args = parser.parse_args()
    os.environ["KERAS_BACKEND"] = args.backend

    import numpy as np

    from keras_musicvae import MusicVAE
    from keras_musicvae.evaluation.examples import load_examples
    from keras_musicvae.training import stream_accuracies

    reference_model = MusicVAE.from_preset(args.model)
    examples, _ = load_examples(args.data, reference_model, max_examples=args.examples, seed=0, num_workers=1)
    lengths = examples["lengths"]
    mu = reference_model.encode(examples["inputs"], lengths)[0]
    batch = args.batch or len(mu)

    def greedy(model):
        return np.concatenate([model.decode(mu[i : i + batch], temperature=0.0) for i in range(0, len(mu), batch)])

    reference = greedy(reference_model)
    print(f"{args.backend}: {len(mu)} held-out examples, {int(np.sum(lengths))} steps, decode batch {batch}")
    variants = [("float32", None), ("bfloat16", None)]
    if args.backend == "torch":
        variants += [("float32", "int8"), ("bfloat16", "int8")]
    for dtype, quantization in variants:
        model = MusicVAE.from_preset(args.model, dtype=dtype)
        model.decode_quantization = quantization
        tokens = greedy(model)
        agreement = float(np.mean(stream_accuracies(model, tokens, reference, lengths)))
        accuracy = float(np.mean(stream_accuracies(model, tokens, examples["targets"], lengths)))
        name = dtype + (" + int8 products" if quantization else "")
        print(f"  {name:26s} tokens = float32 on {agreement:.4f} of steps   accuracy {accuracy:.4f}", flush=True)


if __name__ == "__main__":
    main()
