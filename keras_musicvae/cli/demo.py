"""`keras-musicvae demo`: train a small melody model on the bundled corpus and listen.

The bundled corpus is the Freedoom game music (BSD-3-Clause, see
`keras_musicvae/corpus/freedoom/COPYRIGHT`), split into `train/` and
`eval/` folders. The demo trains a reduced `cat_mel_2bar_small` (2-bar
melodies) for a few minutes on the CPU, reports teacher-forced and sampled
accuracy on the held-out files, and writes samples and an interpolation
between two held-out melodies (from two files: of the windows with at least
4 pitches and 8 notes, those the model reconstructs best) as MIDI, piano-roll
PNG and (with FluidSynth) WAV files.
"""

import pathlib
import time

from keras_musicvae.cli import common

EXAMPLES = """
keras-musicvae demo
keras-musicvae demo --output my_demo --minutes 10
keras-musicvae demo --minutes 2 --overwrite          # quick look, replacing demo_output/
"""

DEMO_PRESET = "cat_mel_2bar_small"
# A smaller cat_mel_2bar_small that learns melodic phrases in minutes on a
# CPU: 128-unit LSTMs (one encoder layer, two decoder layers) instead of 512 /
# 2 x 256, a 32-dimensional latent, teacher forcing only (scheduled sampling
# needs the step-by-step decoder loop in training, 30% slower), a KL weight
# that reaches its maximum within the first few thousand steps instead of
# the published 200k-step schedule, and a higher learning rate. Measured on
# the bundled corpus (2 CPU cores, TensorFlow, 4 minutes, ~1650 steps):
# held-out accuracy 0.75 teacher-forced, 0.69 sampled; the published
# schedule (free bits 16, max_beta 0.5) reached 0.71 / 0.57 in 5 minutes.
DEMO_HPARAMS = {
    "enc_rnn_size": [128],
    "dec_rnn_size": [128, 128],
    "z_size": 32,
    "free_bits": 0,
    "max_beta": 0.2,
    "beta_rate": 0.9995,
    "sampling_schedule": "constant",
    "sampling_rate": 0.0,
    "learning_rate": 3e-3,
    "decay_rate": 0.9995,
    "min_learning_rate": 3e-4,
}
# Freedoom's melodies are mostly on programs above 31 (brass, synth leads),
# which the published preset ignores; the demo keeps every program but the
# basses (32-39, mostly ostinatos): 5,838 training windows instead of 2,916,
# up to 16 per file and epoch.
DEMO_CONVERTER = {
    "valid_programs": list(range(0, 32)) + list(range(40, 128)),
    "max_tensors_per_notesequence": 16,
}
# The demo's backend when KERAS_BACKEND is not set. Measured on this 2-core
# machine (shared with other jobs) with the demo model, 6 minutes each:
# TensorFlow 2,564 steps, JAX 1,251 (JAX spent much of its time in the
# kernel); the design notes measured JAX about 10% faster than TensorFlow on
# an idle machine (cat-mel-2bar-small size, batch 64). `--backend` chooses.
DEMO_BACKEND_PREFERENCE = ("tensorflow", "jax", "torch")
DEMO_BATCH_SIZE = 64
DEMO_CHECKPOINT_EVERY = 250
DEMO_SAMPLES = 8
DEMO_INTERPOLATION_STEPS = 7
DEMO_SAMPLE_TEMPERATURE = 0.8  # livelier than 0.5 for a briefly trained model
DEMO_INTERPOLATION_TEMPERATURE = 0.5


def default_backend():
    """`$KERAS_BACKEND` when set, else the first of `DEMO_BACKEND_PREFERENCE` installed."""
    import importlib.util
    import os

    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    for name in DEMO_BACKEND_PREFERENCE:
        if importlib.util.find_spec(name) is not None:
            return name
    return None


def corpus_dir():
    """The bundled corpus folder (inside the installed package)."""
    return pathlib.Path(__file__).resolve().parent.parent / "corpus" / "freedoom"


def register(subparsers):
    from keras_musicvae.cli.main import add_command

    parser = add_command(
        subparsers,
        "demo",
        help="train a small model on the bundled corpus and write music (a few minutes)",
        description=__doc__.split("\n\n", 1)[1].replace("`", "").strip()
        + "\n\nEverything goes to --output; the training run is in OUTPUT/run/ (its model: OUTPUT/run/preset/).",
        examples=EXAMPLES,
        backend_option=True,
        backend_help="Keras backend (default: $KERAS_BACKEND, else TensorFlow, measured fastest for the demo here)",
    )
    parser.add_argument("--output", default="demo_output", help="output folder (default demo_output)")
    parser.add_argument(
        "--minutes", type=float, default=6.0, help="training time in minutes (default 6; preparing the data and writing the music take about a minute more)"
    )
    parser.add_argument("--seed", type=common.seed, default=0, help="random seed (default 0)")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier demo in --output")
    common.add_audio_option(parser)
    parser.set_defaults(run=run, default_backend=default_backend())


def run(args):
    import numpy as np

    from keras_musicvae import training
    from keras_musicvae.cli import interpolate as interpolate_cmd
    from keras_musicvae.cli.train import TrainOptions
    from keras_musicvae.cli.train import run_training

    started = time.monotonic()
    if args.minutes <= 0:
        raise common.UsageError(f"--minutes must be positive; got {args.minutes}.")
    corpus = corpus_dir()
    if not (corpus / "train").is_dir() or not (corpus / "eval").is_dir():
        raise common.CLIError(f"the bundled corpus is missing from this installation ({corpus}).")
    out_dir = pathlib.Path(args.output)
    run_dir = out_dir / "run"
    samples_dir, interp_dir = out_dir / "samples", out_dir / "interpolation"
    sample_stems = common.numbered_stems("sample", DEMO_SAMPLES)
    interp_stems = common.numbered_stems("interp", DEMO_INTERPOLATION_STEPS)
    audio = not args.no_audio
    sample_writer = common.MusicWriter(samples_dir, kind="melody", min_bars=2, overwrite=args.overwrite, audio=audio)
    interp_writer = common.MusicWriter(interp_dir, kind="melody", min_bars=2, overwrite=args.overwrite, audio=audio)
    plan = common.OutputPlan(args.overwrite)
    sample_writer.plan(plan, sample_stems)
    interp_writer.plan(plan, interp_stems + ["interpolation", "melody_a", "melody_b"])
    plan.add(run_dir / training.RUN_CONFIG)
    plan.check()

    import keras

    common.say(f"keras-musicvae demo: training a small 2-bar melody model on the bundled Freedoom music "
               f"for {args.minutes:g} min ({keras.backend.backend()} backend)")
    options = TrainOptions(
        preset=DEMO_PRESET,
        hparams=DEMO_HPARAMS,
        data=str(corpus / "train"),
        eval_data=str(corpus / "eval"),
        steps=1_000_000,
        batch_size=DEMO_BATCH_SIZE,
        checkpoint_every=DEMO_CHECKPOINT_EVERY,
        sampled_eval_examples=512,
        time_limit=60.0 * args.minutes,
        augment=False,
        seed=args.seed,
        overwrite=args.overwrite,
        converter_overrides=DEMO_CONVERTER,
        eval_max_per_file=None,  # every 2-bar window of the held-out files
    )
    result, model = run_training(run_dir, options)
    converter = model.converter

    # Samples from the prior.
    outputs = model.sample(DEMO_SAMPLES, temperature=DEMO_SAMPLE_TEMPERATURE, seed=args.seed)
    sample_writer.write_all(
        converter.from_tensors(outputs),
        sample_stems,
        [f"demo sample {i + 1} (temperature {DEMO_SAMPLE_TEMPERATURE})" for i in range(DEMO_SAMPLES)],
    )

    # An interpolation between two held-out melodies.
    first, second, names = _two_held_out_melodies(model, corpus / "eval")
    sequences, num_steps = interpolate_cmd.interpolate(
        model, converter, first, second, DEMO_INTERPOLATION_STEPS, DEMO_INTERPOLATION_TEMPERATURE, seed=args.seed
    )
    originals = converter.from_tensors(np.stack([first.outputs, second.outputs]))
    interp_writer.write(originals[0], "melody_a", title=f"held-out melody A ({names[0]})")
    interp_writer.write(originals[1], "melody_b", title=f"held-out melody B ({names[1]})")
    interp_writer.write_all(sequences, interp_stems, [f"interpolation step {i + 1}" for i in range(len(sequences))])
    common.write_midi(common.concatenate(sequences, converter, num_steps), interp_dir / "interpolation.mid", args.overwrite)
    labels = ["A", "start"] + [f"{a:.0%}" for a in np.linspace(0, 1, DEMO_INTERPOLATION_STEPS)[1:-1]] + ["end", "B"]
    interp_writer.write_grid(
        [originals[0]] + list(sequences) + [originals[1]],
        "interpolation",
        labels=labels,
        title=f"A: {names[0]} \u2192 B: {names[1]} (held-out melodies)",
    )
    if interp_writer.synth:
        from keras_musicvae import audio

        audio.render_wav(interp_dir / "interpolation.mid", interp_dir / "interpolation.wav", interp_writer.synth)

    metrics = result.metrics
    elapsed = time.monotonic() - started
    common.say("")
    common.say(f"demo finished in {elapsed / 60:.1f} min: {result.final_step} training steps")
    if "val_accuracy" in metrics:
        common.say(f"  held-out accuracy, teacher-forced: {metrics['val_accuracy']:.3f}")
    if "val_sampled_accuracy" in metrics:
        common.say(f"  held-out accuracy, sampled (free-running reconstruction): {metrics['val_sampled_accuracy']:.3f}")
    common.say(f"  samples:        {common.describe_path(samples_dir)}/sample_*.mid (+ .png"
               f"{', .wav' if sample_writer.synth else ''})")
    common.say(f"  interpolation:  {common.describe_path(interp_dir)}/interpolation.mid, interpolation.png "
               f"(steps: interp_*.mid; the two melodies: melody_a.mid, melody_b.mid)")
    common.say(f"  trained model:  {common.describe_path(run_dir / training.PRESET_DIR)}/ "
               f"(e.g. keras-musicvae sample --model {common.describe_path(run_dir / training.PRESET_DIR)} --output more/)")
    note = sample_writer.audio_note()
    if note:
        common.say(f"  note: {note}")


def _two_held_out_melodies(model, eval_dir, min_pitches=4, min_notes=8):
    """Two 2-bar held-out melodies, from two different files, for the interpolation.

    Of each held-out file's windows with at least `min_pitches` distinct
    pitches and `min_notes` notes, the one the model reconstructs best (greedy, from its `mu`) is
    kept; the two files whose kept windows are reconstructed best give the
    endpoints, so that the interpolation starts and ends on music the model
    has captured.

    Returns:
        `(example_a, example_b, (name_a, name_b))`.
    """
    import numpy as np

    from keras_musicvae import training
    from keras_musicvae.data import midi_io

    converter = common.converter_for_inputs(model.converter_config)
    windows = []  # (file stem, Example)
    for path in midi_io.find_midi_files(str(eval_dir)):
        try:
            tensors, _ = common.examples_of_file(path, converter)
        except common.CLIError:
            continue
        for i, outputs in enumerate(tensors.outputs):
            tokens = np.argmax(outputs, axis=-1)
            onsets = tokens[tokens >= 2]
            if len(set(onsets.tolist())) >= min_pitches and len(onsets) >= min_notes:
                windows.append(
                    (pathlib.Path(path).stem, common.Example(tensors.inputs[i], outputs, tensors.lengths[i], None, i))
                )
    inputs = np.stack([w.inputs for _, w in windows]).astype("float32") if windows else None
    if inputs is None:
        raise common.CLIError(
            f"no held-out file in {eval_dir} gives a melody with {min_pitches} pitches and {min_notes} notes."
        )
    lengths = np.array([w.length for _, w in windows])
    samples = training.reconstruct_in_batches(model, inputs, lengths)
    targets = np.stack([w.outputs for _, w in windows])
    scores = training.step_correct(model, samples, targets[:, : samples.shape[1]]).mean(axis=(1, 2))
    best = {}  # file stem -> (score, Example)
    for (stem, window), score in zip(windows, scores):
        if stem not in best or score > best[stem][0]:
            best[stem] = (float(score), window)
    if len(best) < 2:
        raise common.CLIError(f"fewer than two held-out files in {eval_dir} give a melody.")
    (name_a, (_, a)), (name_b, (_, b)) = sorted(best.items(), key=lambda kv: -kv[1][0])[:2]
    return a, b, (name_a, name_b)
