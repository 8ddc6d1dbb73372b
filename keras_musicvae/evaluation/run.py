"""`evaluate_model`: the paper's evaluation of a trained MusicVAE (Sec. 5.3-5.5).

One call runs, on held-out data:

* reconstruction accuracy (Table 1): per-step accuracy with teacher forcing
  (next-step argmax prediction) and with full sampling from the encoded
  latent code, at temperature 1.0 (the paper's setting) and with argmax
  decoding; per stream for multi-stream (trio) models;
* the interpolation study (Fig. 3): pairs of held-out sequences, decoded at
  slerp points alpha = 0, 0.1, ..., 1 (temperature 0.5), their normalised
  Hamming distance to sequence A and their cost under a 5-gram Kneser-Ney
  language model relative to the endpoints, beside the per-step Bernoulli
  "data" interpolation;
* attribute vectors (Sec. 5.5, Fig. 4; 90-class melody models only): the
  top-minus-bottom-quartile mean latent code of each of the five melody
  attributes over a data set, added to / subtracted from samples of the
  prior, and the percent change of every attribute of the decoded melodies.

It writes `evaluation.json` (every figure) and PNG plots into an output
folder and returns the same numbers as a dict.

Latent codes: accuracies and interpolations use the posterior mean `mu` (as
`MusicVAE.reconstruct` and Magenta's `TrainedModel.interpolate`); Magenta's
own eval metric decodes a sample of the posterior, which is also reported
for teacher forcing (`teacher_forced_accuracy_posterior_z`).
"""

import os
import time

from keras_musicvae.evaluation.attribute_study import attribute_study
from keras_musicvae.evaluation.attribute_study import is_melody_model
from keras_musicvae.evaluation.attribute_study import run_attribute_study
from keras_musicvae.evaluation.examples import load_examples
from keras_musicvae.evaluation.examples import load_model
from keras_musicvae.evaluation.figures_json import write_figures_json
from keras_musicvae.evaluation.interpolation_study import interpolation_study
from keras_musicvae.evaluation.interpolation_study import run_interpolation_study
from keras_musicvae.evaluation.model_runner import ModelRunner
from keras_musicvae.evaluation.plots import plot_attribute_change_heatmap
from keras_musicvae.evaluation.plots import plot_interpolation_study
from keras_musicvae.evaluation.reconstruction_study import reconstruction_study
from keras_musicvae.evaluation.reconstruction_study import run_reconstruction_study
from keras_musicvae.evaluation.settings import EvaluationSettings

__all__ = [
    "EvaluationSettings",
    "ModelRunner",
    "attribute_study",
    "evaluate_model",
    "interpolation_study",
    "is_melody_model",
    "load_examples",
    "load_model",
    "reconstruction_study",
    "write_outputs",
]

EVALUATION_JSON = "evaluation.json"
INTERPOLATION_PNG = "interpolation.png"
ATTRIBUTES_PNG = "attribute_changes.png"


def evaluate_model(model, data, output_dir=None, *, train_data=None, settings=None, language_model=None,
                   name=None, print_fn=None, **setting_values):
    """Runs the paper's evaluation of a model and writes JSON + PNG figures.

    The studies' sizes, temperatures and seed are an `EvaluationSettings`,
    given as `settings=` or as keywords (`num_examples=64, seed=1`);
    keywords override `settings`.

    Args:
        model: a `MusicVAE`, or a preset name / folder (`--model`).
        data: held-out data: MIDI folder / file / glob, TFRecord of
            NoteSequences, list of NoteSequences, `ConverterTensors`, or a
            dict of arrays (`inputs`, `targets`, `lengths`); MIDI is
            converted with the model's converter (the per-file cap keeps a
            seeded random choice of windows).
        output_dir: folder for `evaluation.json`, `interpolation.png` and
            `attribute_changes.png` (None: write nothing).
        train_data: training data, same forms as `data`, for the n-gram
            language model of Fig. 3 and the attribute vectors of Fig. 4;
            None uses the held-out examples (recorded in the JSON).
        settings: an `EvaluationSettings`.
        language_model: an already fitted language model (an object with
            `costs(sequences, lengths) -> [N]` and `order`, e.g. a
            `KneserNeyLanguageModel`) to use instead of fitting one on
            `train_data` (to compare several models under one LM).
        name: the model's label in the plots (default: the model's name).
        print_fn: progress lines (default: none).
        **setting_values: `EvaluationSettings` fields.

    Returns:
        dict (the content of `evaluation.json`): `model`, `data`,
        `settings`, `reconstruction` (see `reconstruction_study`),
        `interpolation` (see `interpolation_study`, or None), `attributes`
        (see `attribute_study`, or None), `skipped` (why a study did not
        run), `seconds` (wall time of each part) and `files` (paths
        written).

    Raises:
        TypeError: For a keyword that is not an `EvaluationSettings` field.
    """
    settings = EvaluationSettings.with_values(settings, **setting_values)
    say = print_fn or (lambda line: None)
    start = time.monotonic()
    model = load_model(model)
    label = name or model.name
    examples, data_info = load_examples(
        data, model, settings.num_examples, seed=settings.seed, num_workers=settings.num_workers
    )
    if train_data is not None:
        train_examples, train_info = load_examples(
            train_data, model, None, seed=settings.seed, num_workers=settings.num_workers
        )
    else:
        train_examples, train_info = examples, {"source": "the held-out examples (no train_data given)"}
    timings = {"data": time.monotonic() - start}
    runner = ModelRunner(model, settings.batch_size)
    outcomes = {
        "reconstruction": run_reconstruction_study(runner, examples, settings, say),
        "interpolation": run_interpolation_study(
            runner, examples, train_examples, train_info, settings, language_model, say
        ),
        "attributes": run_attribute_study(runner, train_examples, train_info, settings, say),
    }
    for study, outcome in outcomes.items():
        if outcome.result is not None or outcome.seconds:
            timings[study] = outcome.seconds
    timings["total"] = time.monotonic() - start
    results = {
        "name": label,
        "model": _model_info(model),
        "data": {"heldout": data_info, "train": train_info},
        "settings": {
            **settings.as_dict(),
            "latent_code": "posterior mean mu (teacher_forced_accuracy_posterior_z: a posterior sample)",
        },
        **{study: outcome.result for study, outcome in outcomes.items()},
        "skipped": {study: outcome.skipped for study, outcome in outcomes.items() if outcome.skipped},
        "seconds": {key: round(value, 2) for key, value in timings.items()},
        "files": {},
    }
    if output_dir is not None:
        results["files"] = write_outputs(results, output_dir, label)
    return results


def _model_info(model):
    from keras import ops

    return {
        "name": model.name,
        "hierarchical_decoder": bool(model.decoder_level_lengths),
        "z_size": model.z_size,
        "enc_rnn_size": list(model.enc_rnn_size),
        "dec_rnn_size": list(model.dec_rnn_size),
        "output_depth": model.output_depth,
        "max_seq_len": model.max_seq_len,
        "parameters": int(model.count_params()),
        "step": int(ops.convert_to_numpy(model.global_step)),
    }


def write_outputs(results, output_dir, label):
    """Writes `evaluation.json` and the PNG plots; returns their paths."""
    os.makedirs(output_dir, exist_ok=True)
    files = {"json": os.path.join(os.fspath(output_dir), EVALUATION_JSON)}
    interpolation = results["interpolation"]
    if interpolation is not None:
        files["interpolation_png"] = plot_interpolation_study(
            os.path.join(output_dir, INTERPOLATION_PNG),
            interpolation["alphas"],
            {label: interpolation["hamming_to_a"]["model"], "data": interpolation["hamming_to_a"]["data"]},
            {label: interpolation["relative_lm_cost"]["model"], "data": interpolation["relative_lm_cost"]["data"]},
        )
    attributes = results["attributes"]
    if attributes is not None:
        files["attributes_png"] = plot_attribute_change_heatmap(
            os.path.join(output_dir, ATTRIBUTES_PNG),
            {"Adding": attributes["adding"], "Subtracting": attributes["subtracting"]},
        )
    results["files"] = files
    write_figures_json(results, files["json"])
    return files
