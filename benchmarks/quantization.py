"""Size, speed and accuracy cost of quantized TF Lite files of a trained model.

For each model it loads the Keras model a second time under the `bfloat16`
dtype policy, exports three TF Lite files (float32, float16 and
dynamic-range int8 weights, `export_tflite(..., quantization=...)`) with the
batch size `--batch`, and measures against the float32 Keras model
(TensorFlow backend), on held-out MIDI data converted with the model's
converter:

- file size;
- greedy decode latency of one batch (`decode` with temperature 0), median
  of `--repeats` calls made in rotation (Keras, float32, float16, int8,
  Keras, ...) so that all see the same machine state; quote the ratios;
- greedy-token agreement with the float32 Keras model: each held-out
  example is encoded and decoded greedily (argmax) from `mu` by each
  variant, and its tokens are compared step by step with the Keras
  model's, within the example's length;
- teacher-forced argmax agreement: each step's most likely token given the
  true previous tokens, against the Keras model's (categorical heads); unlike
  the greedy tokens, one early difference does not change every later step;
- sampled accuracy: the same greedy reconstructions against the targets;
- teacher-forced accuracy on the held-out data. The exported file has no
  teacher-forced signature, so a second file with one (`teacher_forced`:
  z and targets -> logits) is converted with the same converter settings
  (`tflite.convert_signatures`); z is the variant's own `mu`.

    python benchmarks/quantization.py --model /tmp/q_demo/run/preset
    python benchmarks/quantization.py --model runs/mel/preset --data midi_eval/ --examples 512
    python benchmarks/quantization.py --model hierdec_trio_16bar --speed-only --repeats 3

Runs on the TensorFlow backend (TF Lite conversion needs it).
"""

import argparse
import os
import pathlib
import statistics
import sys
import tempfile
import time

os.environ["KERAS_BACKEND"] = "tensorflow"

ROOT = pathlib.Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT / "keras_musicvae" / "corpus" / "freedoom" / "eval"
VARIANTS = ("float32", "float16", "int8")
LABELS = {"keras": "Keras float32", "keras_bfloat16": "Keras bfloat16 (2 bytes x parameters)"}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", action="append", required=True, help="preset folder (repeatable)")
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="held-out MIDI folder (default: bundled eval/)")
    parser.add_argument("--examples", type=int, default=256, help="held-out examples (default 256)")
    parser.add_argument("--batch", type=int, default=8, help="batch size of the TF Lite files (default 8)")
    parser.add_argument("--repeats", type=int, default=15, help="timed decode calls per variant (default 15)")
    parser.add_argument("--threads", type=int, default=2, help="TF Lite interpreter threads (default 2)")
    parser.add_argument(
        "--speed-only",
        action="store_true",
        help="size and decode latency only (no held-out data: for untrained presets such as hierdec_trio_16bar)",
    )
    return parser.parse_args(argv)


def teacher_forced_tflite(model, batch, quantization):
    """Bytes of a TF Lite file with one `teacher_forced` signature (benchmark only)."""
    import tensorflow as tf

    from keras_musicvae.export.tflite import convert_signatures

    t = model.max_seq_len

    def teacher_forced(z, targets):
        logits = model.teacher_forced_logits(z, targets)
        return {"logits": tf.cast(logits, tf.float32)}

    module = tf.Module(name="teacher_forced")
    module.model_variables = [v.value for v in model.weights]
    module.teacher_forced = tf.function(
        teacher_forced,
        input_signature=[
            tf.TensorSpec([batch, model.z_size], tf.float32, name="z"),
            tf.TensorSpec([batch, t, model.output_depth], tf.float32, name="targets"),
        ],
    )
    signatures = {"teacher_forced": module.teacher_forced.get_concrete_function()}
    return convert_signatures(module, signatures, quantization=quantization)


class KerasRunner:
    """The float32 Keras model behind the same three calls as `TFLiteRunner`."""

    def __init__(self, model):
        import tensorflow as tf

        self.model = model
        self._teacher_forced = tf.function(lambda z, targets: model.teacher_forced_logits(z, targets))

    def encode(self, inputs, lengths):
        return self.model.encode(inputs, lengths)[0]

    def greedy(self, z):
        return self.model.decode(z, temperature=0.0)

    def teacher_forced(self, z, targets):
        return self._teacher_forced(z, targets).numpy().astype("float32")


class TFLiteRunner:
    """The `encode` / `decode` signatures of an exported file, and a teacher-forced file (optional)."""

    def __init__(self, path, teacher_forced_bytes, spec, batch, threads):
        import numpy as np
        import tensorflow as tf

        interpreter = tf.lite.Interpreter(model_path=str(path), num_threads=threads)
        self._encode = interpreter.get_signature_runner("encode")
        self._decode = interpreter.get_signature_runner("decode")
        self._forced = None
        if teacher_forced_bytes is not None:
            forced = tf.lite.Interpreter(model_content=teacher_forced_bytes, num_threads=threads)
            self._forced = forced.get_signature_runner("teacher_forced")
        self._zeros = np.zeros((batch, spec.max_seq_len, spec.noise_depth), "float32")
        self._spec = spec

    def encode(self, inputs, lengths):
        return self._encode(inputs=inputs, lengths=lengths)["mu"]

    def greedy(self, z):
        import numpy as np

        return self._decode(z=z, temperature=np.float32(0.0), noise=self._zeros)["one_hot"]

    def teacher_forced(self, z, targets):
        return self._forced(z=z, targets=targets)["logits"]


def evaluate(runner, examples, batch):
    """Greedy reconstructions `[N, T, D]` and teacher-forced logits `[N, T, D]`."""
    import numpy as np

    from keras_musicvae.training import padded_batches

    samples, logits = [], []
    for index, keep in padded_batches(len(examples["inputs"]), batch):
        mu = runner.encode(examples["inputs"][index], examples["lengths"][index])
        samples.append(runner.greedy(mu)[:keep])
        logits.append(runner.teacher_forced(mu, examples["targets"][index])[:keep])
    return np.concatenate(samples), np.concatenate(logits)


def token_agreement(model, samples, reference, lengths):
    """Share of valid steps (and streams) whose greedy token equals the reference's."""
    import numpy as np

    from keras_musicvae.training import stream_accuracies

    return float(np.mean(stream_accuracies(model, samples, reference, lengths)))


def benchmark(folder, args, scratch):
    import numpy as np

    from keras_musicvae import MusicVAE
    from keras_musicvae.evaluation.examples import load_examples
    from keras_musicvae.export import export_tflite
    from keras_musicvae.export.spec import ExportSpec
    from keras_musicvae.training import stream_accuracies

    model = MusicVAE.from_preset(folder)
    spec = ExportSpec.from_model(model)
    units = f"enc {model.enc_rnn_size}, dec {model.dec_rnn_size}, z {model.z_size}"
    print(f"\n## {folder} ({units}; {model.count_params():,} parameters)")
    print(f"TF Lite batch {args.batch}, {args.threads} threads")
    if not args.speed_only:
        examples, described = load_examples(args.data, model, max_examples=args.examples, seed=0, num_workers=1)
        print(f"held-out: {described['examples_used']} examples from {described['source']}")

    runners = {"keras": KerasRunner(model)}
    weights = pathlib.Path(folder) / "model.weights.h5"
    sizes = {"keras": os.path.getsize(weights) if weights.exists() else 4 * model.count_params()}
    # The same weights under the `bfloat16` dtype policy (weights and products in bfloat16).
    runners["keras_bfloat16"] = KerasRunner(MusicVAE.from_preset(folder, dtype="bfloat16"))
    sizes["keras_bfloat16"] = 2 * model.count_params()
    for variant in VARIANTS:
        quantization = None if variant == "float32" else variant
        path = pathlib.Path(scratch) / f"model_{variant}.tflite"
        started = time.perf_counter()
        export_tflite(model, path, batch_size=args.batch, quantization=quantization, overwrite=True)
        seconds = time.perf_counter() - started
        forced = None if args.speed_only else teacher_forced_tflite(model, args.batch, quantization)
        runners[variant] = TFLiteRunner(path, forced, spec, args.batch, args.threads)
        sizes[variant] = path.stat().st_size
        print(f"exported {variant}: {sizes[variant] / 1e6:.2f} MB in {seconds:.0f} s")

    # Decode latency: one greedy batch, the variants in rotation.
    z = np.random.default_rng(0).standard_normal((args.batch, model.z_size)).astype("float32")
    times = {name: [] for name in runners}
    for name, runner in runners.items():
        runner.greedy(z)  # warm-up (the Keras model compiles here)
    for _ in range(args.repeats):
        for name, runner in runners.items():
            started = time.perf_counter()
            runner.greedy(z)
            times[name].append(time.perf_counter() - started)
    latency = {name: statistics.median(values) for name, values in times.items()}

    if args.speed_only:
        print(f"\n| variant | file MB | decode ms (batch {args.batch}) | speed vs f32 TF Lite | speed vs Keras |")
        print("| --- | --- | --- | --- | --- |")
        for name in runners:
            label = LABELS.get(name, f"TF Lite {name}")
            print(
                f"| {label} | {sizes[name] / 1e6:.1f} | {latency[name] * 1e3:.0f} "
                f"| {latency['float32'] / latency[name]:.2f}x | {latency['keras'] / latency[name]:.2f}x |"
            )
        return

    lengths = examples["lengths"]
    results = {name: evaluate(runner, examples, args.batch) for name, runner in runners.items()}
    reference, reference_logits = results["keras"]
    rows = []
    for name in runners:
        samples, logits = results[name]
        rows.append(
            (
                name,
                sizes[name] / 1e6,
                latency[name] * 1e3,
                latency["float32"] / latency[name],
                latency["keras"] / latency[name],
                token_agreement(model, samples, reference, lengths),
                # Each step's most likely token given the same (true) previous
                # tokens: agreement without the free-running decode's
                # compounding (categorical heads: argmax of the logits).
                token_agreement(model, logits, reference_logits, lengths)
                if model.decoder.class_logits
                else float("nan"),
                float(np.mean(stream_accuracies(model, samples, examples["targets"], lengths))),
                float(np.mean(stream_accuracies(model, logits, examples["targets"], lengths))),
            )
        )
    print(
        "\n| variant | file MB | decode ms (batch %d) | speed vs f32 TF Lite | speed vs Keras "
        "| greedy tokens = Keras f32 | teacher-forced argmax = Keras f32 | sampled acc. "
        "| teacher-forced acc. |" % args.batch
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, size, ms, vs_lite, vs_keras, agree, forced_agree, sampled, forced in rows:
        label = LABELS.get(name, f"TF Lite {name}")
        print(
            f"| {label} | {size:.2f} | {ms:.1f} | {vs_lite:.2f}x | {vs_keras:.2f}x | {agree:.4f} "
            f"| {forced_agree:.4f} | {sampled:.4f} | {forced:.4f} |"
        )


def main(argv=None):
    args = parse_args(argv)
    import tensorflow as tf

    print(f"TensorFlow {tf.__version__}; {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory(prefix="musicvae-quant-") as scratch:
        for folder in args.model:
            benchmark(folder, args, scratch)
    print(f"\nload average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    sys.exit(main())
