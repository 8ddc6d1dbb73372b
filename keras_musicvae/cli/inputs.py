"""MIDI inputs of a command: reading files, picking one example from each."""

import pathlib
import typing

from keras_musicvae.cli.errors import CLIError
from keras_musicvae.cli.errors import UsageError
from keras_musicvae.cli.options import existing_file
from keras_musicvae.cli.output_files import MusicWriter


def read_note_sequence(path):
    """Reads a MIDI file; a bad file is a one-line `CLIError`."""
    from keras_musicvae.data import midi_io

    path = existing_file(path, "MIDI file")
    try:
        return midi_io.read_midi(path)
    except midi_io.MidiReadError as e:
        raise CLIError(f"cannot read {e}.") from None


def examples_of_file(path, converter):
    """`(tensors, report)` of a MIDI file; no examples is a `CLIError` saying why."""
    sequence = read_note_sequence(path)
    tensors, report = converter.to_tensors_with_report(sequence)
    if not len(tensors):
        raise CLIError(f"{path} gives no examples for this model: {_reasons(report)}.")
    return tensors, report


def _reasons(report):
    from keras_musicvae.data.inference import no_example_reasons

    return no_example_reasons(report)


class ExampleRequest(typing.NamedTuple):
    """A MIDI input of a command and the choice of one of its examples.

    Attributes:
        path: the MIDI file.
        index: which of its examples (None: the only one).
        option: the option that sets `index`, for messages (`--from-index`).
        candidates_dir: where its examples are written when it gives several
            and `index` is None.
    """

    path: pathlib.Path
    index: typing.Optional[int]
    option: str
    candidates_dir: pathlib.Path


def read_examples(requests, converter):
    """The examples of each request's MIDI file; writes nothing.

    Every input is checked (readable, gives examples, its index in range)
    before a command writes anything, and the problems of all inputs are
    reported together.

    Returns:
        A list of `ConverterTensors`, one per request.

    Raises:
        CLIError: naming every bad input (a `UsageError` when the first
            problem is an index out of range).
    """
    found, errors = [], []
    for request in requests:
        try:
            tensors, _ = examples_of_file(request.path, converter)
            _check_index(request, len(tensors))
            found.append(tensors)
        except CLIError as e:
            errors.append(e)
    raise_together(errors)
    return found


def pick_examples(requests, found, converter, writer_kwargs):
    """One example of each input: its only one, or its request's index.

    An input that gives several examples and has no index has them written
    as MIDI + PNG into its `candidates_dir`, and a `CLIError` tells the user
    to choose one with its option. Call after `read_examples` (and after
    everything else that can fail) so that nothing is written in vain.

    Returns:
        A list of `Example`s, one per request.
    """
    picked, errors = [], []
    for request, tensors in zip(requests, found):
        try:
            picked.append(_pick(request, tensors, converter, writer_kwargs))
        except CLIError as e:
            errors.append(e)
    raise_together(errors)
    return picked


def raise_together(errors):
    """Raises one error made of several `CLIError`s (the first one's type and exit code)."""
    if errors:
        raise type(errors[0])("; ".join(str(e).rstrip(".") for e in errors) + ".", errors[0].exit_code)


def _check_index(request, n):
    if request.index is not None and not 0 <= request.index < n:
        raise UsageError(
            f"{request.option} {request.index} is out of range: {request.path} gives {n} example(s) (0-{n - 1})."
        )


def _pick(request, tensors, converter, writer_kwargs):
    n = len(tensors)
    index = 0 if request.index is None and n == 1 else request.index
    if index is None:
        _write_candidates(request, tensors, converter, writer_kwargs)
    controls = tensors.controls[index] if tensors.controls and tensors.controls[index].shape[-1] else None
    return Example(tensors.inputs[index], tensors.outputs[index], tensors.lengths[index], controls, index)


def _write_candidates(request, tensors, converter, writer_kwargs):
    """Writes an input's examples to choose from; raises a `CLIError` saying so."""
    n = len(tensors)
    candidates_dir = pathlib.Path(request.candidates_dir)
    shown = min(n, MAX_CANDIDATES)
    sequences = converter.from_tensors(tensors.outputs[:shown])
    writer = MusicWriter(candidates_dir, audio="no", **writer_kwargs)
    stems = [f"candidate_{i:03d}" for i in range(shown)]
    for i, (sequence, stem) in enumerate(zip(sequences, stems)):
        if not (candidates_dir / f"{stem}.mid").exists():  # same file, same candidates
            writer.write(sequence, stem, title=f"{pathlib.Path(request.path).name}: {request.option} {i}")
    more = f" (the first {shown} of {n} are written)" if shown < n else ""
    raise CLIError(
        f"{request.path} gives {n} possible inputs for this model; they are written to "
        f"{candidates_dir}/candidate_*.mid{more}: pick one with {request.option} N (0-{n - 1}).",
    )


class Example(typing.NamedTuple):
    """One example of a MIDI file.

    Attributes:
        inputs: `[T, input_depth]` encoder inputs.
        outputs: `[T, output_depth]` decoder targets (what `from_tensors` reads).
        length: int (or `[S]` ints) valid steps.
        controls: `[T, control_depth]` or None.
        index: its index among the file's examples.
    """

    inputs: object
    outputs: object
    length: object
    controls: object
    index: int


MAX_CANDIDATES = 64


def sequences_from_outputs(converter, outputs, controls=None):
    """`converter.from_tensors`, dropping controls the converter does not use."""
    if controls is not None and getattr(converter, "control_depth", 0):
        return converter.from_tensors(outputs, controls)
    return converter.from_tensors(outputs)


def describe_path(path):
    """A path as the user would type it (relative to the working folder when inside it)."""
    path = pathlib.Path(path)
    try:
        return str(path.resolve().relative_to(pathlib.Path.cwd().resolve()))
    except ValueError:
        return str(path)


def sequence_duration(sequence, converter, num_steps):
    """Seconds an example of `num_steps` steps lasts (at least its last note's end)."""
    qpm = sequence.tempos[0].qpm if sequence.tempos else 120.0
    steps_per_quarter = getattr(converter, "steps_per_quarter", 4) or 4
    return max(sequence.total_time, num_steps * 60.0 / qpm / steps_per_quarter)


def concatenate(sequences, converter, num_steps):
    """One NoteSequence playing `sequences` one after another (one example each)."""
    from note_seq import sequences_lib

    durations = [sequence_duration(s, converter, num_steps) for s in sequences]
    return sequences_lib.concatenate_sequences(list(sequences), durations)
