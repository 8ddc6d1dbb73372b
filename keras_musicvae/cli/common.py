"""What every subcommand shares: errors, output files, models, MIDI inputs.

This module gathers the names of `errors`, `console`, `options`,
`output_files`, `model_loading` and `inputs`, where they are defined.

Rules the command line keeps:

* An expected problem (a missing or unreadable file, a MIDI file that gives
  no examples, an unknown preset, an output that exists) is raised as a
  `CLIError`: `main` prints it as one line on stderr and exits non-zero.
* Outputs are written atomically (a temporary file in the same folder, then
  a rename) and an existing file is only replaced with `--overwrite`. Each
  command lists its outputs first (`OutputPlan`), so that it refuses before
  doing any work.

Heavy modules (Keras, TensorFlow, note-seq, matplotlib) are imported inside
the functions, never at module level, so that `--help` stays fast.
"""

from keras_musicvae.cli.console import say  # noqa: F401
from keras_musicvae.cli.console import warn  # noqa: F401
from keras_musicvae.cli.console import note  # noqa: F401
from keras_musicvae.cli.console import interactive  # noqa: F401
from keras_musicvae.cli.console import progress  # noqa: F401
from keras_musicvae.cli.errors import EXIT_OK  # noqa: F401
from keras_musicvae.cli.errors import EXIT_FAILURE  # noqa: F401
from keras_musicvae.cli.errors import EXIT_USAGE  # noqa: F401
from keras_musicvae.cli.errors import EXIT_EXISTS  # noqa: F401
from keras_musicvae.cli.errors import EXIT_INTERRUPTED  # noqa: F401
from keras_musicvae.cli.errors import EXIT_BROKEN_PIPE  # noqa: F401
from keras_musicvae.cli.errors import DEBUG_ENV  # noqa: F401
from keras_musicvae.cli.errors import CLIError  # noqa: F401
from keras_musicvae.cli.errors import UsageError  # noqa: F401
from keras_musicvae.cli.errors import OutputExistsError  # noqa: F401
from keras_musicvae.cli.errors import debug_enabled  # noqa: F401
from keras_musicvae.cli.inputs import read_note_sequence  # noqa: F401
from keras_musicvae.cli.inputs import examples_of_file  # noqa: F401
from keras_musicvae.cli.inputs import ExampleRequest  # noqa: F401
from keras_musicvae.cli.inputs import read_examples  # noqa: F401
from keras_musicvae.cli.inputs import pick_examples  # noqa: F401
from keras_musicvae.cli.inputs import raise_together  # noqa: F401
from keras_musicvae.cli.inputs import Example  # noqa: F401
from keras_musicvae.cli.inputs import MAX_CANDIDATES  # noqa: F401
from keras_musicvae.cli.inputs import sequences_from_outputs  # noqa: F401
from keras_musicvae.cli.inputs import describe_path  # noqa: F401
from keras_musicvae.cli.inputs import sequence_duration  # noqa: F401
from keras_musicvae.cli.inputs import concatenate  # noqa: F401
from keras_musicvae.cli.model_loading import ModelSpec  # noqa: F401
from keras_musicvae.cli.model_loading import model_folder  # noqa: F401
from keras_musicvae.cli.model_loading import load_model  # noqa: F401
from keras_musicvae.cli.model_loading import resolve_preset  # noqa: F401
from keras_musicvae.cli.model_loading import converter_for_inputs  # noqa: F401
from keras_musicvae.cli.model_loading import piano_roll_kind  # noqa: F401
from keras_musicvae.cli.model_loading import example_bars  # noqa: F401
from keras_musicvae.cli.model_loading import chord_progression  # noqa: F401
from keras_musicvae.cli.model_loading import chord_controls  # noqa: F401
from keras_musicvae.cli.model_loading import decode_length  # noqa: F401
from keras_musicvae.cli.options import existing_file  # noqa: F401
from keras_musicvae.cli.options import existing_path  # noqa: F401
from keras_musicvae.cli.options import MAX_COUNT  # noqa: F401
from keras_musicvae.cli.options import MAX_SEED  # noqa: F401
from keras_musicvae.cli.options import temperature  # noqa: F401
from keras_musicvae.cli.options import seed  # noqa: F401
from keras_musicvae.cli.options import count  # noqa: F401
from keras_musicvae.cli.options import parse_hparams  # noqa: F401
from keras_musicvae.cli.options import MODEL_HELP  # noqa: F401
from keras_musicvae.cli.options import CONFIG_HELP  # noqa: F401
from keras_musicvae.cli.options import add_model_option  # noqa: F401
from keras_musicvae.cli.options import INFERENCE_PRECISIONS  # noqa: F401
from keras_musicvae.cli.options import PRECISION_HELP  # noqa: F401
from keras_musicvae.cli.options import precision  # noqa: F401
from keras_musicvae.cli.options import add_precision_option  # noqa: F401
from keras_musicvae.cli.options import add_decode_quantization_option  # noqa: F401
from keras_musicvae.cli.options import decode_quantization_of  # noqa: F401
from keras_musicvae.cli.options import CHORDS_HELP  # noqa: F401
from keras_musicvae.cli.options import add_chords_option  # noqa: F401
from keras_musicvae.cli.options import add_audio_option  # noqa: F401
from keras_musicvae.cli.options import add_output_options  # noqa: F401
from keras_musicvae.cli.options import add_seed_option  # noqa: F401
from keras_musicvae.cli.options import add_temperature_option  # noqa: F401
from keras_musicvae.cli.output_files import OutputPlan  # noqa: F401
from keras_musicvae.cli.output_files import check_output_folder  # noqa: F401
from keras_musicvae.cli.output_files import check_can_write  # noqa: F401
from keras_musicvae.cli.output_files import atomic_write  # noqa: F401
from keras_musicvae.cli.output_files import write_midi  # noqa: F401
from keras_musicvae.cli.output_files import chord_symbols  # noqa: F401
from keras_musicvae.cli.output_files import write_npy  # noqa: F401
from keras_musicvae.cli.output_files import write_text  # noqa: F401
from keras_musicvae.cli.output_files import MusicWriter  # noqa: F401
from keras_musicvae.cli.output_files import numbered_stems  # noqa: F401
