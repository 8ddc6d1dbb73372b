"""Writes the built-in presets (`presets/<name>/{config,metadata}.json`).

The table below restates Magenta 2.1.4's `music_vae/configs.py` (23
configurations) in our hyperparameter names. Run after changing it:

    python tools/make_presets.py [--out presets]

`tests/test_presets.py` checks every preset's weight shapes against the
variables Magenta itself creates for the configuration.
"""

import argparse
import json
import pathlib
import sys

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

MEL_PROGRAMS = list(range(32))

# Paper: Roberts et al., "A Hierarchical Latent Vector Model for Learning
# Long-Term Structure in Music", ICML 2018.
PAPER_2BAR = "Roberts et al. 2018, Sections 5.1-5.2 (2-bar models, Table 1)"
PAPER_16BAR = "Roberts et al. 2018, Sections 3.2-3.3 and 5.3-5.5 (16-bar models, Table 1)"
PAPER_MULTIPERF = (
    "Simon et al. 2018, 'Learning a Latent Space of Multitrack Measures' (not in the MusicVAE paper)"
)
PAPER_GROOVE = (
    "Gillick et al. 2019, 'Learning to Groove with Inverse Sequence Transformations' (GrooVAE)"
)
PAPER_CHORDS = "Magenta release (chord-conditioned 2-bar melody; not in the MusicVAE paper)"

_TRIO_CONVERTER = {
    "class_name": "TrioConverter",
    "config": {"steps_per_quarter": 4, "slice_bars": 16, "gap_bars": 2},
}
_MEL16_CONVERTER = {
    "class_name": "MelodyConverter",
    "config": {"skip_polyphony": False, "max_bars": 100, "slice_bars": 16, "steps_per_quarter": 4},
}


def _mel2(**extra):
    config = {
        "valid_programs": MEL_PROGRAMS,
        "skip_polyphony": False,
        "max_bars": 100,
        "slice_bars": 2,
        "steps_per_quarter": 4,
    }
    config.update(extra)
    return {"class_name": "MelodyConverter", "config": config}


def _drums(**extra):
    config = {"max_bars": 100, "slice_bars": 2, "steps_per_quarter": 4, "roll_input": True}
    config.update(extra)
    return {"class_name": "DrumsConverter", "config": config}


def _groove(split_bars=2, **extra):
    config = {
        "split_bars": split_bars,
        "steps_per_quarter": 4,
        "quarters_per_bar": 4,
        "max_tensors_per_notesequence": 20,
        "pitch_classes": "roland",
        "inference_pitch_classes": "reduced",
    }
    config.update(extra)
    return {"class_name": "GrooveConverter", "config": config}


def _multiperf(**extra):
    config = {
        "num_velocity_bins": 8,
        "hop_size_bars": 1,
        "max_num_instruments": 8,
        "max_events_per_instrument": 64,
    }
    config.update(extra)
    return {"class_name": "MultiInstrumentPerformanceConverter", "config": config}


_GROOVE_HPARAMS = dict(
    input_depth=27,
    output_depth=27,
    max_seq_len=32,
    z_size=256,
    enc_rnn_size=[512],
    dec_rnn_size=[256, 256],
    output_head="groove",
    free_bits=48,
    max_beta=0.2,
    dropout_keep_prob=0.3,
    batch_size=512,
)
_MULTIPERF_MED = dict(
    input_depth=490,
    output_depth=490,
    max_seq_len=512,
    z_size=512,
    enc_rnn_size=[1024],
    dec_rnn_size=[512, 512, 512],
    encoder_level_lengths=[64, 8],
    decoder_level_lengths=[8, 64],
    batch_size=256,
)
_MULTIPERF_BIG = dict(_MULTIPERF_MED, enc_rnn_size=[2048], dec_rnn_size=[1024, 1024, 1024])
_TRIO = dict(input_depth=692, output_depth=692, max_seq_len=256, z_size=512, batch_size=256)
_MEL16 = dict(input_depth=90, output_depth=90, max_seq_len=256, z_size=512, batch_size=512)

# name: (Magenta name, description, paper, model hparams, converter, augmentation)
PRESETS = {
    "cat_mel_2bar_small": (
        "cat-mel_2bar_small",
        "2-bar monophonic melody, small (the paper's 2-bar melody model size).",
        PAPER_2BAR,
        dict(
            input_depth=90, output_depth=90, max_seq_len=32, z_size=256, enc_rnn_size=[512],
            dec_rnn_size=[256, 256], free_bits=0, max_beta=0.2, beta_rate=0.99999,
            sampling_schedule="inverse_sigmoid", sampling_rate=1000, batch_size=512,
        ),
        _mel2(),
        {"transpose_range": [-5, 5]},
    ),
    "cat_mel_2bar_big": (
        "cat-mel_2bar_big",
        "2-bar monophonic melody, big (2048-unit LSTMs).",
        PAPER_2BAR,
        dict(
            input_depth=90, output_depth=90, max_seq_len=32, z_size=512, enc_rnn_size=[2048],
            dec_rnn_size=[2048, 2048, 2048], free_bits=0, max_beta=0.5, beta_rate=0.99999,
            sampling_schedule="inverse_sigmoid", sampling_rate=1000, batch_size=512,
        ),
        _mel2(),
        {"transpose_range": [-5, 5]},
    ),
    "cat_mel_2bar_med_chords": (
        "cat-mel_2bar_med_chords",
        "2-bar melody conditioned on chords (49 triad classes, inferred when absent).",
        PAPER_CHORDS,
        dict(
            input_depth=90, output_depth=90, max_seq_len=32, z_size=256, enc_rnn_size=[1024],
            dec_rnn_size=[512, 512, 512], control_depth=49, batch_size=512,
        ),
        {
            "class_name": "MelodyConverter",
            "config": {
                "max_bars": 100, "slice_bars": 2, "steps_per_quarter": 4, "chord_encoding": "triad",
            },
        },
        {"transpose_range": [-3, 3]},
    ),
    "cat_drums_2bar_small": (
        "cat-drums_2bar_small",
        "2-bar drums (9 drum classes, 512-way one-hot), small.",
        PAPER_2BAR,
        dict(
            input_depth=10, output_depth=512, max_seq_len=32, z_size=256, enc_rnn_size=[512],
            dec_rnn_size=[256, 256], free_bits=48, max_beta=0.2,
            sampling_schedule="inverse_sigmoid", sampling_rate=1000, batch_size=512,
        ),
        _drums(),
        None,
    ),
    "cat_drums_2bar_big": (
        "cat-drums_2bar_big",
        "2-bar drums (9 drum classes, 512-way one-hot), big.",
        PAPER_2BAR,
        dict(
            input_depth=10, output_depth=512, max_seq_len=32, z_size=512, enc_rnn_size=[2048],
            dec_rnn_size=[2048, 2048, 2048], free_bits=48, max_beta=0.2,
            sampling_schedule="inverse_sigmoid", sampling_rate=1000, batch_size=512,
        ),
        _drums(),
        None,
    ),
    "nade_drums_2bar_reduced": (
        "nade-drums_2bar_reduced",
        "2-bar drums with a multi-label RNN-NADE output over the 9 drum classes.",
        PAPER_2BAR,
        dict(
            input_depth=10, output_depth=9, max_seq_len=32, z_size=256, enc_rnn_size=[1024],
            dec_rnn_size=[512, 512], output_head="nade", nade_num_hidden=128, free_bits=48,
            max_beta=0.2, sampling_schedule="inverse_sigmoid", sampling_rate=1000, batch_size=512,
        ),
        _drums(roll_output=True),
        None,
    ),
    "nade_drums_2bar_full": (
        "nade-drums_2bar_full",
        "2-bar drums with a multi-label RNN-NADE output over 61 drum pitches.",
        PAPER_2BAR,
        dict(
            input_depth=62, output_depth=61, max_seq_len=32, z_size=256, enc_rnn_size=[1024],
            dec_rnn_size=[512, 512], output_head="nade", nade_num_hidden=128, free_bits=48,
            max_beta=0.2, sampling_schedule="inverse_sigmoid", sampling_rate=1000, batch_size=512,
        ),
        _drums(roll_output=True, pitch_classes="full"),
        None,
    ),
    "flat_mel_16bar": (
        "flat-mel_16bar",
        "16-bar melody with a flat LSTM decoder (the paper's baseline).",
        PAPER_16BAR,
        dict(
            _MEL16, enc_rnn_size=[2048, 2048], dec_rnn_size=[2048, 2048, 2048], free_bits=256,
            max_beta=0.2,
        ),
        _MEL16_CONVERTER,
        None,
    ),
    "hierdec_mel_16bar": (
        "hierdec-mel_16bar",
        "16-bar melody with the hierarchical (conductor) decoder.",
        PAPER_16BAR,
        dict(
            _MEL16, enc_rnn_size=[2048, 2048], dec_rnn_size=[1024, 1024],
            decoder_level_lengths=[16, 16], free_bits=256, max_beta=0.2,
        ),
        _MEL16_CONVERTER,
        None,
    ),
    "hier_mel_16bar": (
        "hier-mel_16bar",
        "16-bar melody with hierarchical encoder and decoder.",
        PAPER_16BAR,
        dict(
            _MEL16, enc_rnn_size=[1024], dec_rnn_size=[1024, 1024],
            encoder_level_lengths=[16, 16], decoder_level_lengths=[16, 16], free_bits=256,
            max_beta=0.2,
        ),
        _MEL16_CONVERTER,
        None,
    ),
    "flat_trio_16bar": (
        "flat-trio_16bar",
        "16-bar trio (melody, bass, drums) with a flat decoder and three softmaxes.",
        PAPER_16BAR,
        dict(
            _TRIO, enc_rnn_size=[2048, 2048], dec_rnn_size=[2048, 2048, 2048],
            output_head="multi_categorical", output_depths=[90, 90, 512],
        ),
        _TRIO_CONVERTER,
        None,
    ),
    "hierdec_trio_16bar": (
        "hierdec-trio_16bar",
        "16-bar trio with the hierarchical decoder, one bar decoder per instrument.",
        PAPER_16BAR,
        dict(
            _TRIO, enc_rnn_size=[2048, 2048], dec_rnn_size=[1024, 1024],
            decoder_level_lengths=[16, 16], split_streams=True, output_depths=[90, 90, 512],
            free_bits=256, max_beta=0.2,
        ),
        _TRIO_CONVERTER,
        None,
    ),
    "hier_trio_16bar": (
        "hier-trio_16bar",
        "16-bar trio with hierarchical encoder and decoder, one bar decoder per instrument.",
        PAPER_16BAR,
        dict(
            _TRIO, enc_rnn_size=[1024], dec_rnn_size=[1024, 1024],
            encoder_level_lengths=[16, 16], decoder_level_lengths=[16, 16], split_streams=True,
            output_depths=[90, 90, 512], free_bits=256, max_beta=0.2,
        ),
        _TRIO_CONVERTER,
        None,
    ),
    "hier_multiperf_vel_1bar_med": (
        "hier-multiperf_vel_1bar_med",
        "1-bar multi-instrument performance (up to 8 tracks, velocity), medium.",
        PAPER_MULTIPERF,
        dict(_MULTIPERF_MED),
        _multiperf(),
        {"transpose_range": [-3, 3]},
    ),
    "hier_multiperf_vel_1bar_big": (
        "hier-multiperf_vel_1bar_big",
        "1-bar multi-instrument performance (up to 8 tracks, velocity), big.",
        PAPER_MULTIPERF,
        dict(_MULTIPERF_BIG),
        _multiperf(),
        {"transpose_range": [-3, 3]},
    ),
    "hier_multiperf_vel_1bar_med_chords": (
        "hier-multiperf_vel_1bar_med_chords",
        "1-bar multi-instrument performance conditioned on chords, medium.",
        PAPER_MULTIPERF,
        dict(_MULTIPERF_MED, control_depth=49),
        _multiperf(chord_encoding="triad"),
        {"transpose_range": [-3, 3]},
    ),
    "hier_multiperf_vel_1bar_big_chords": (
        "hier-multiperf_vel_1bar_big_chords",
        "1-bar multi-instrument performance conditioned on chords, big.",
        PAPER_MULTIPERF,
        dict(_MULTIPERF_BIG, control_depth=49),
        _multiperf(chord_encoding="triad"),
        {"transpose_range": [-3, 3]},
    ),
    "groovae_4bar": (
        "groovae_4bar",
        "GrooVAE: 4-bar drum grooves with velocities and micro-timing.",
        PAPER_GROOVE,
        dict(_GROOVE_HPARAMS, max_seq_len=64),
        _groove(split_bars=4),
        None,
    ),
    "groovae_2bar_humanize": (
        "groovae_2bar_humanize",
        "GrooVAE humanizer: quantized 2-bar drums in, expressive drums out.",
        PAPER_GROOVE,
        dict(_GROOVE_HPARAMS),
        _groove(humanize=True),
        None,
    ),
    "groovae_2bar_tap_fixed_velocity": (
        "groovae_2bar_tap_fixed_velocity",
        "GrooVAE 'Drumify': a tapped rhythm in, a 2-bar drum groove out.",
        PAPER_GROOVE,
        dict(_GROOVE_HPARAMS),
        _groove(tapify=True, fixed_velocities=True),
        None,
    ),
    "groovae_2bar_tap_fixed_velocity_note_dropout": (
        "groovae_2bar_tap_fixed_velocity_note_dropout",
        "GrooVAE 'Drumify' trained with note dropout on the input.",
        PAPER_GROOVE,
        dict(_GROOVE_HPARAMS),
        _groove(tapify=True, fixed_velocities=True, max_note_dropout_probability=0.8),
        None,
    ),
    "groovae_2bar_add_closed_hh": (
        "groovae_2bar_add_closed_hh",
        "GrooVAE: adds a closed hi-hat part to a 2-bar groove.",
        PAPER_GROOVE,
        dict(_GROOVE_HPARAMS),
        _groove(add_instruments=[2]),
        None,
    ),
    "groovae_2bar_hits_control": (
        "groovae_2bar_hits_control_tfds",
        "GrooVAE with the drum hits given as controls (9-d), 2 bars.",
        PAPER_GROOVE,
        dict(_GROOVE_HPARAMS, control_depth=9),
        _groove(hits_as_controls=True),
        None,
    ),
}


def full_converter_config(converter):
    """The converter's full `get_config()` when its class is available."""
    try:
        from keras_musicvae.data.converter import converter_from_config
        from keras_musicvae.data.converter import serialize_converter

        return serialize_converter(converter_from_config(converter))
    except (ValueError, TypeError, ImportError) as e:
        print(f"  (converter {converter['class_name']} kept as given: {e})")
        return converter


def count_trainable_params(hparams):
    import keras

    from keras_musicvae.models.music_vae import MusicVAE

    with keras.StatelessScope():
        model = MusicVAE(**hparams)
    return sum(_size(w.shape) for w in model.trainable_weights)


def _size(shape):
    n = 1
    for d in shape:
        n *= int(d)
    return n


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "presets"))
    args = parser.parse_args()
    out = pathlib.Path(args.out)
    for name, (magenta_name, description, paper, hparams, converter, augmentation) in PRESETS.items():
        print(name)
        config = dict(hparams)
        # Magenta's LSTM initialisation for training from scratch (converted
        # checkpoints bring their own weights).
        config["lstm_initializer"] = "magenta"
        config["name"] = name
        config["converter"] = full_converter_config(converter)
        config["augmentation"] = augmentation
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        keras_config = {
            "module": "keras_musicvae.models.music_vae",
            "class_name": "MusicVAE",
            "config": config,
            "registered_name": "keras_musicvae>MusicVAE",
        }
        (folder / "config.json").write_text(json.dumps(keras_config, indent=2) + "\n")
        metadata = {
            "description": description,
            "source_configuration": magenta_name,
            "paper": paper,
            "parameter_count": count_trainable_params(config),
            "published_batch_size": hparams.get("batch_size"),
            "weights_included": False,
        }
        (folder / "metadata.json").write_text(json.dumps(metadata, indent=2) + "\n")


if __name__ == "__main__":
    main()
