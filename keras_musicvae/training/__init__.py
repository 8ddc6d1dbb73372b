"""Training MusicVAE models: the recipe of `keras-musicvae train`, usable from Python.

`train_model(...)` is the whole recipe: it splits the data, builds the
datasets and the model (under a precision policy and a distribution
strategy), prepares or resumes a run folder, trains with evaluation and
checkpoints, and saves the trained model as a preset. The pieces:

* `data_split`: the held-out split, the shards of each input pipeline.
* `run_folder`: `run.json`, checkpoints, stale temporary files.
* `accuracy`: teacher-forced and sampled reconstruction accuracy.
* `callbacks`: checkpoints, stopping, progress, sampled accuracy.
* `loop`: `train`, `model.fit` in periods in a run folder, resuming.
* `distribute`: Keras' multi-device / multi-host engines (backend-specific).
* `recipe`: `train_model`, `TrainingConfig`.

A run folder holds everything of one training run, and a run is resumed by
starting it again on the same folder (see `run_folder`).
"""

from keras_musicvae.training.accuracy import collect_examples
from keras_musicvae.training.accuracy import padded_batches
from keras_musicvae.training.accuracy import reconstruct_in_batches
from keras_musicvae.training.accuracy import sampled_accuracy
from keras_musicvae.training.accuracy import step_correct
from keras_musicvae.training.accuracy import stream_accuracies
from keras_musicvae.training.callbacks import ProgressReport
from keras_musicvae.training.callbacks import SampledAccuracy
from keras_musicvae.training.callbacks import StepCheckpoint
from keras_musicvae.training.callbacks import StopTraining
from keras_musicvae.training.data_split import held_out
from keras_musicvae.training.data_split import resolve_training_data
from keras_musicvae.training.data_split import shard_by_example
from keras_musicvae.training.data_split import shard_source
from keras_musicvae.training.data_split import split_names
from keras_musicvae.training.distribute import DISTRIBUTE_CHOICES
from keras_musicvae.training.distribute import Distribution
from keras_musicvae.training.distribute import DistributionError
from keras_musicvae.training.distribute import resolve_distribution
from keras_musicvae.training.loop import TrainingResult
from keras_musicvae.training.loop import evaluate
from keras_musicvae.training.loop import tensorboard_available
from keras_musicvae.training.loop import train
from keras_musicvae.training.recipe import NotEnoughDataError
from keras_musicvae.training.recipe import PRECISIONS
from keras_musicvae.training.recipe import RunFolderError
from keras_musicvae.training.recipe import RunMismatchError
from keras_musicvae.training.recipe import TrainingConfig
from keras_musicvae.training.recipe import prepare_run_dir
from keras_musicvae.training.recipe import run_recipe
from keras_musicvae.training.recipe import train_model
from keras_musicvae.training.run_folder import CHECKPOINT_DIR
from keras_musicvae.training.run_folder import CHECKPOINT_PREFIX
from keras_musicvae.training.run_folder import CHECKPOINT_STATE
from keras_musicvae.training.run_folder import CHECKPOINT_WEIGHTS
from keras_musicvae.training.run_folder import CSV_LOG
from keras_musicvae.training.run_folder import EVAL_FILE
from keras_musicvae.training.run_folder import LEGACY_WEIGHTS
from keras_musicvae.training.run_folder import PRESET_DIR
from keras_musicvae.training.run_folder import RUN_CONFIG
from keras_musicvae.training.run_folder import RUN_FILES
from keras_musicvae.training.run_folder import TENSORBOARD_DIR
from keras_musicvae.training.run_folder import Checkpoint
from keras_musicvae.training.run_folder import checkpoint_name
from keras_musicvae.training.run_folder import checkpoints_folder
from keras_musicvae.training.run_folder import latest_checkpoint
from keras_musicvae.training.run_folder import list_checkpoints
from keras_musicvae.training.run_folder import model_step
from keras_musicvae.training.run_folder import optimizer_iterations
from keras_musicvae.training.run_folder import prune_checkpoints
from keras_musicvae.training.run_folder import read_checkpoint_state
from keras_musicvae.training.run_folder import read_run_config
from keras_musicvae.training.run_folder import remove_stale_files
from keras_musicvae.training.run_folder import restore_checkpoint
from keras_musicvae.training.run_folder import save_checkpoint
from keras_musicvae.training.run_folder import stale_files
from keras_musicvae.training.run_folder import weights_file_iterations
from keras_musicvae.training.run_folder import write_run_config
