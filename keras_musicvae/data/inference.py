"""Reading music for a trained model: the converter in inference mode, one example per input.

`model.converter` is set up for training (a few random windows per file,
different at each call). To encode a given piece the converter runs in
`infer` mode instead: every example, in order, nothing random. Used by the
NoteSequence methods of `MusicVAE` and by the command line.

Pure Python / NumPy / note-seq: no Keras, no TensorFlow.
"""

from keras_musicvae.data.converter import converter_from_config


class NoExtractedExamplesError(ValueError):
    """A NoteSequence gives no example for the model (the message says why)."""


class MultipleExtractedExamplesError(ValueError):
    """A NoteSequence gives several examples where one is needed."""


class MissingConverterError(ValueError):
    """The model names no data converter, so it cannot read or write music."""


def inference_converter(converter_config, model_name="this model"):
    """A model's data converter set up for reading inputs: `infer` mode, every example, in order.

    Args:
        converter_config: the model's `converter_config` (a preset's "converter").
        model_name: how the error message names the model.

    Raises:
        MissingConverterError: the model names no data converter.
    """
    if not converter_config:
        raise MissingConverterError(
            f"{model_name} names no data converter, so MIDI files cannot be turned into its "
            "inputs or its outputs into MIDI."
        )
    return converter_from_config(converter_config, mode="infer", max_tensors_per_notesequence=None)


def one_example(converter, sequence, name):
    """The `ConverterTensors` of a NoteSequence that gives exactly one example.

    Args:
        converter: a data converter (see `inference_converter`).
        sequence: a NoteSequence.
        name: how the messages name the input (e.g. "note_sequences[1]").

    Raises:
        NoExtractedExamplesError: no example, and why (e.g. "time signature
            3/4 (only 4/4 is supported)").
        MultipleExtractedExamplesError: several examples (e.g. a 4-bar
            melody for a 2-bar model).
    """
    tensors, report = converter.to_tensors_with_report(sequence)
    if not len(tensors):
        raise NoExtractedExamplesError(f"{name} gives no examples for this model: {no_example_reasons(report)}.")
    if len(tensors) > 1:
        raise MultipleExtractedExamplesError(
            f"{name} gives {len(tensors)} examples for this model (e.g. one per window of the "
            "model's length); pass a sequence that gives one, e.g. one window cut with "
            "note_seq.sequences_lib.extract_subsequence(sequence, start_time, end_time)."
        )
    return tensors


def no_example_reasons(report):
    """Why a `ConversionReport` has no examples, without the "no examples: " prefix."""
    summary = report.summary()
    prefix = "no examples: "
    return summary[len(prefix) :] if summary.startswith(prefix) else summary
