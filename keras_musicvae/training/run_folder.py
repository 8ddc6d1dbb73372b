"""A run folder: `run.json`, checkpoints (weights, optimizer state, step), stale files.

    RUN_DIR/run.json                     what is trained (model config, data, options)
    RUN_DIR/checkpoints/step-00001000/   the latest checkpoint, one folder:
        model.weights.h5                 model weights + optimizer state
        state.json                       the run's step (and optimizer iterations)
    RUN_DIR/training_log.csv             one row per evaluation period
    RUN_DIR/logs/                        TensorBoard logs
    RUN_DIR/eval.json                    the last evaluation
    RUN_DIR/preset/                      the trained model, as a preset folder

A checkpoint is one folder, written under a temporary name, flushed to disk
and renamed into place (`save_checkpoint`): whenever the process dies, the
latest checkpoint's weights, optimizer state and step belong together. A
resumed run first deletes the temporary files a killed one left
(`remove_stale_files`).
"""

import dataclasses
import json
import os
import pathlib
import re
import time

import keras

from keras_musicvae.utils import atomic_files

RUN_CONFIG = "run.json"
CHECKPOINT_DIR = "checkpoints"
CHECKPOINT_PREFIX = "step-"
CHECKPOINT_WEIGHTS = "model.weights.h5"
CHECKPOINT_STATE = "state.json"
LEGACY_WEIGHTS = "latest.weights.h5"  # checkpoints/ of versions before checkpoint folders
CSV_LOG = "training_log.csv"
TENSORBOARD_DIR = "logs"
PRESET_DIR = "preset"
EVAL_FILE = "eval.json"
RUN_FILES = (RUN_CONFIG, CHECKPOINT_DIR, CSV_LOG, TENSORBOARD_DIR, PRESET_DIR, EVAL_FILE)
_CHECKPOINT_NAME = re.compile(rf"^{CHECKPOINT_PREFIX}(\d+)$")
# Temporary files of versions before `atomic_files`: weights, JSON files, preset staging.
_LEGACY_TEMPORARY = re.compile(r"^(\.tmp-\d+\.weights\.h5|\.\w+\.json\.\d+\.tmp|\.preset-\w{8}|preset\.old-\w{6})$")


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    """One checkpoint of a run.

    Attributes:
        step: the run's step it was written at.
        weights: its weights file (model weights + optimizer state).
        state: its `state.json`.
        legacy: written by an older version as two loose files
            (`checkpoints/latest.weights.h5` + `checkpoints/state.json`).
    """

    step: int
    weights: pathlib.Path
    state: pathlib.Path
    legacy: bool = False

    @property
    def folder(self):
        """The checkpoint's folder (for a legacy checkpoint, `checkpoints/`)."""
        return self.weights.parent


def checkpoints_folder(run_dir):
    """`RUN_DIR/checkpoints`, the folder of a run's checkpoints."""
    return pathlib.Path(run_dir) / CHECKPOINT_DIR


def checkpoint_name(step):
    """The folder name of the checkpoint at `step`: `step-00000123`."""
    return f"{CHECKPOINT_PREFIX}{int(step):08d}"


def list_checkpoints(run_dir):
    """The complete checkpoint folders of a run, oldest first (legacy files excluded)."""
    folder = checkpoints_folder(run_dir)
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        match = _CHECKPOINT_NAME.match(path.name)
        weights, state = path / CHECKPOINT_WEIGHTS, path / CHECKPOINT_STATE
        if match and weights.is_file() and state.is_file():
            found.append(Checkpoint(int(match.group(1)), weights, state))
    return sorted(found, key=lambda c: c.step)


def latest_checkpoint(run_dir):
    """The checkpoint a run resumes from (the newest folder, else legacy files), or None.

    Raises:
        ValueError: a legacy `state.json` is damaged.
    """
    checkpoints = list_checkpoints(run_dir)
    if checkpoints:
        return checkpoints[-1]
    folder = checkpoints_folder(run_dir)
    weights, state = folder / LEGACY_WEIGHTS, folder / CHECKPOINT_STATE
    if weights.is_file() and state.is_file():
        return Checkpoint(int(_read_state(state)["step"]), weights, state, legacy=True)
    return None


def read_checkpoint_state(run_dir):
    """The `state.json` dict (with `step`) of the checkpoint a run resumes from, or None."""
    checkpoint = latest_checkpoint(run_dir)
    return None if checkpoint is None else _read_state(checkpoint.state)


def _read_state(path):
    try:
        state = json.loads(pathlib.Path(path).read_text())
        int(state["step"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise ValueError(
            f"{path} is damaged ({type(e).__name__}: {e}); delete its checkpoint folder to resume from "
            "an older one, or the checkpoints folder to start over."
        ) from None
    return state


def save_checkpoint(model, run_dir, step, keep=1):
    """Writes the checkpoint at `step` as one unit: a folder renamed into place.

    The folder `checkpoints/step-NNNNNNNN/` (weights + optimizer state, and
    `state.json`) is written under a temporary name, flushed to disk and
    renamed: a crash at any moment leaves the previous checkpoint or the new
    one, whole. Then all but the `keep` newest checkpoints are deleted.

    Args:
        model: the model (anything with `save_weights`).
        run_dir: the run folder.
        step: the run's step.
        keep: how many checkpoints to keep (at least 1).

    Returns:
        The checkpoint's folder.
    """
    target = checkpoints_folder(run_dir) / checkpoint_name(step)
    if not target.is_dir():  # an existing one holds this very step
        state = {"step": int(step), "time": time.strftime("%Y-%m-%d %H:%M:%S")}
        iterations = optimizer_iterations(model)
        if iterations is not None:
            state["optimizer_iterations"] = iterations
        with atomic_files.atomic_folder(target) as staging:
            model.save_weights(str(staging / CHECKPOINT_WEIGHTS))
            (staging / CHECKPOINT_STATE).write_text(json.dumps(state, indent=2) + "\n")
    prune_checkpoints(run_dir, keep)
    return target


def prune_checkpoints(run_dir, keep=1):
    """Deletes all but the `keep` newest checkpoint folders, and legacy checkpoint files.

    A folder is renamed to a temporary name before it is deleted, so that a
    half-deleted one never looks like a checkpoint.
    """
    checkpoints = list_checkpoints(run_dir)
    if not checkpoints:
        return
    for checkpoint in checkpoints[: -max(1, int(keep))]:
        doomed = atomic_files.temporary_path(checkpoint.folder)
        os.rename(checkpoint.folder, doomed)
        atomic_files.remove(doomed)
    folder = checkpoints_folder(run_dir)
    for name in (LEGACY_WEIGHTS, CHECKPOINT_STATE):
        atomic_files.remove(folder / name)


def stale_files(run_dir):
    """The temporary files and folders that interrupted writers left in a run folder.

    Returns:
        Sorted paths: those of `atomic_files` (`.NAME.tmp-XXXXXXXX`) and of
        versions before it, in `run_dir` and its `checkpoints/`.
    """
    run_dir = pathlib.Path(run_dir)
    found = []
    for folder in (run_dir, checkpoints_folder(run_dir)):
        if folder.is_dir():
            found += [
                p for p in folder.iterdir() if atomic_files.is_temporary(p.name) or _LEGACY_TEMPORARY.match(p.name)
            ]
    return sorted(found)


def remove_stale_files(run_dir):
    """Deletes `stale_files(run_dir)`; call it only while no other process trains there.

    Returns:
        The sorted paths removed, relative to `run_dir`.
    """
    removed = stale_files(run_dir)
    for path in removed:
        atomic_files.remove(path)
    return [os.path.relpath(path, run_dir) for path in removed]


def restore_checkpoint(model, run_dir):
    """Loads a run's latest checkpoint into a compiled model.

    Weights and optimizer state (its iteration count included) come from
    the checkpoint's weights file; the step from its `state.json`, written
    with it.

    Returns:
        The run's step at the checkpoint (0 without a checkpoint).

    Raises:
        ValueError: the checkpoint does not fit the model, or its weights
            and state disagree.
    """
    checkpoint = latest_checkpoint(run_dir)
    if checkpoint is None:
        return 0
    state = _read_state(checkpoint.state)
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    try:
        model.load_weights(str(checkpoint.weights))
    except Exception as e:  # noqa: BLE001 - re-raised naming the file
        raise ValueError(
            f"Cannot resume from {checkpoint.weights} ({type(e).__name__}: {e}); it does not fit this model."
        ) from None
    iterations = optimizer_iterations(model)
    if checkpoint.legacy:
        # The old layout replaced the weights before state.json: a crash in
        # between left the weights (and optimizer) a step ahead of the state.
        return max(int(state["step"]), iterations or 0)
    if "optimizer_iterations" in state and iterations != state["optimizer_iterations"]:
        raise ValueError(
            f"{checkpoint.folder} is inconsistent: the optimizer state is at iteration {iterations}, "
            f"{checkpoint.state.name} says {state['optimizer_iterations']}; delete that folder to resume "
            "from an older checkpoint."
        )
    return int(state["step"])


def weights_file_iterations(path):
    """The optimizer's iteration count stored in a `.weights.h5` file, or None.

    Keras stores the optimizer's variables under `optimizer/vars/`, its
    iteration count first; a `LossScaleOptimizer` (mixed_float16) counts the
    iterations of its inner optimizer, under `optimizer/inner_optimizer/`.
    Read without building a model (for checks).
    """
    import h5py

    with h5py.File(path, "r") as f:
        stored = f.get("optimizer/inner_optimizer/vars/0")
        if stored is None:
            stored = f.get("optimizer/vars/0")
        if stored is None or stored.shape != () or stored.dtype.kind not in "iu":
            return None
        return int(stored[()])


def optimizer_iterations(model):
    """The iteration count of a model's optimizer as an int (None without one)."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        return None
    return int(keras.ops.convert_to_numpy(optimizer.iterations))


def model_step(model):
    """The model's `global_step` as an int."""
    return int(keras.ops.convert_to_numpy(model.global_step))


def write_json(path, data):
    """Writes `data` as indented JSON, atomically."""
    atomic_files.write_text(path, json.dumps(data, indent=2) + "\n")


def write_run_config(run_dir, config):
    """Writes `run.json` atomically."""
    pathlib.Path(run_dir).mkdir(parents=True, exist_ok=True)
    write_json(pathlib.Path(run_dir) / RUN_CONFIG, config)


def read_run_config(run_dir):
    """The `run.json` dict of a run folder, or None without one.

    Raises:
        ValueError: `run.json` is damaged.
    """
    path = pathlib.Path(run_dir) / RUN_CONFIG
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is damaged ({e}).") from None
