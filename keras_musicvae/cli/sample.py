"""`keras-musicvae sample`: new music from the model's prior."""

import pathlib

from keras_musicvae.cli import common

EXAMPLES = """
keras-musicvae sample --model runs/mel/preset -n 8 --output samples/
keras-musicvae sample --model cat_mel_2bar_small --temperature 0.3 --seed 7 --output samples/
keras-musicvae sample --model runs/drums/preset -n 4 --temperature 1.0 --output drums/ --overwrite
keras-musicvae sample --model cat_mel_2bar_med_chords_preset/ --chords C G Am F --output over_chords/
keras-musicvae sample --model mel_2bar_big/model.ckpt-1234 --config cat-mel_2bar_big --output samples/
"""


def register(subparsers):
    from keras_musicvae.cli.main import add_command

    parser = add_command(
        subparsers,
        "sample",
        help="sample new music from a model",
        description=(
            "Draws latent vectors from the prior N(0, I), decodes them and writes one MIDI file "
            "(with a piano-roll PNG, and a WAV when FluidSynth is installed) per sample: "
            "OUTPUT/sample_01.mid, ...\n\n"
            "--model may be a Magenta checkpoint (give its --config): it is converted on first "
            "use and kept in ~/.cache/keras_musicvae/converted/ ($XDG_CACHE_HOME). "
            "Chord-conditioned models need --chords."
        ),
        examples=EXAMPLES,
    )
    common.add_model_option(parser)
    common.add_precision_option(parser)
    common.add_decode_quantization_option(parser)
    parser.add_argument("-n", "--num", type=common.count(1), default=8,
        help=f"number of samples, at most {common.MAX_COUNT} (default 8)")
    common.add_temperature_option(parser, 0.5)
    common.add_seed_option(parser, help="random seed, for repeatable samples")
    common.add_chords_option(parser)
    common.add_output_options(parser)
    common.add_audio_option(parser)
    parser.set_defaults(run=run)


def run(args):
    quantization = common.decode_quantization_of(args)
    out_dir = pathlib.Path(args.output)
    spec = common.ModelSpec(args.model, args.config)
    converter = spec.converter()
    chords = common.chord_progression(args, spec, converter, required=True)
    writer = common.MusicWriter(out_dir, overwrite=args.overwrite, audio=not args.no_audio, **spec.writer_kwargs(converter))
    stems = common.numbered_stems("sample", args.num)
    plan = common.OutputPlan(args.overwrite)
    writer.plan(plan, stems)
    plan.check()

    model = spec.load(dtype=args.precision, decoder_only=True)
    model.decode_quantization = quantization
    sequences = model.sample_sequences(args.num, temperature=args.temperature, seed=args.seed, chords=chords)
    writer.write_all(sequences, stems, [f"sample {i + 1} (temperature {args.temperature:g})" for i in range(args.num)])
    common.say(f"wrote {args.num} sample(s) to {common.describe_path(out_dir)}/ (sample_*.mid, .png"
               f"{', .wav' if writer.synth else ''})")
    note = writer.audio_note()
    if note:
        common.say(f"note: {note}")
