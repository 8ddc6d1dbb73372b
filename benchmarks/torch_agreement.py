"""Greedy tokens of PyTorch bfloat16 / int8 sampling against float32, for a trained model.

Encodes held-out examples with the float32 model, decodes each `mu` greedily
(temperature 0) with the float32 model and with each variant (bfloat16
weights, int8 step products on float32 or bfloat16 weights), and prints the
share of steps whose token equals float32's (free running: each variant
reads its own previous tokens) and each variant's accuracy against the
targets:

    python benchmarks/torch_agreement.py --model runs/mel/preset \
        --data ../shared/data/corpus/melody/eval --examples 512
"""

import argparse
import os

os.environ["KERAS_BACKEND"] = "torch"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a trained preset folder")
    parser.add_argument("--data", required=True, help="held-out MIDI folder")
    parser.add_argument("--examples", type=int, default=512)
    args = parser.parse_args()

    import numpy as np

    from keras_musicvae import MusicVAE
    from keras_musicvae.evaluation.examples import load_examples
    from keras_musicvae.training import stream_accuracies

    reference_model = MusicVAE.from_preset(args.model)
    examples, _ = load_examples(args.data, reference_model, max_examples=args.examples, seed=0, num_workers=1)
    lengths = examples["lengths"]
    mu = reference_model.encode(examples["inputs"], lengths)[0]
    reference = reference_model.decode(mu, temperature=0.0)
    print(f"{len(mu)} held-out examples, {int(np.sum(lengths))} steps")
    for dtype, quantization in (("float32", None), ("float32", "int8"), ("bfloat16", None), ("bfloat16", "int8")):
        model = MusicVAE.from_preset(args.model, dtype=dtype)
        model.decode_quantization = quantization
        tokens = model.decode(mu, temperature=0.0)
        agreement = float(np.mean(stream_accuracies(model, tokens, reference, lengths)))
        accuracy = float(np.mean(stream_accuracies(model, tokens, examples["targets"], lengths)))
        name = dtype + (" + int8 products" if quantization else "")
        print(f"  {name:26s} tokens = float32 on {agreement:.4f} of steps   accuracy {accuracy:.4f}", flush=True)


if __name__ == "__main__":
    main()
