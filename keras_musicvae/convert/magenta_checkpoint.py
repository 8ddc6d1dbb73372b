"""Magenta MusicVAE checkpoint (TF1) -> keras_musicvae preset.

TENSORFLOW-ONLY CODE (reading TF1 checkpoints); the converted weights are
plain arrays, so the resulting preset loads on every backend.

Mapping facts (see the fixtures README, section 3):
- Magenta's `LSTMBlockCell` stores one kernel `[input + units, 4 units]` over
  `[x, h]` with gate blocks `(i, j, f, o)` and adds a forget bias of 1.0 at
  run time. Our LSTMs keep Keras' layout: `kernel` `[input, 4 units]`,
  `recurrent_kernel` `[units, 4 units]`, gates `(i, f, c, o)`, forget bias
  stored in `bias`.
- `tanh(Dense(z))` initial states keep Magenta's `[c_0, h_0, c_1, h_1, ...]`
  column layout, so those kernels copy as they are.
"""

import logging
import os
import pathlib
import re
import tarfile
import tempfile

import numpy as np

logger = logging.getLogger(__name__)

# Variables a training run writes that a model does not need.
_TRAINING_ONLY = re.compile(r"(^global_step$|beta[12]_power|/Adam(_\d+)?$|^OptimizeLoss/)")


class CheckpointMismatchError(ValueError):
    """The checkpoint does not fit the preset (names the offending variables)."""


# --------------------------------------------------------------- locating
class UnsafeBundleError(ValueError):
    """A checkpoint bundle holds a member that could write outside its folder."""


def _find_prefix(path, tmp_dir):
    """Checkpoint prefix of a prefix, a folder, or a .tar/.tar.gz bundle."""
    path = pathlib.Path(os.path.expanduser(str(path)))
    if path.is_file() and tarfile.is_tarfile(path):
        extract_bundle(path, tmp_dir)
        return _find_prefix(tmp_dir, tmp_dir)
    if path.is_dir():
        import tensorflow as tf

        latest = tf.train.latest_checkpoint(str(path))
        if latest:
            return latest
        indexes = sorted(path.rglob("*.index"))
        if not indexes:
            raise FileNotFoundError(f"No TensorFlow checkpoint (*.index) under {path}.")
        if len(indexes) > 1:
            names = ", ".join(str(i) for i in indexes[:5])
            raise ValueError(
                f"{path} holds several checkpoints ({names}); pass the prefix of one."
            )
        return str(indexes[0])[: -len(".index")]
    if pathlib.Path(str(path) + ".index").exists():
        return str(path)
    raise FileNotFoundError(
        f"{path}: not a checkpoint prefix (no {path}.index), a folder, or a .tar bundle."
    )


def extract_bundle(path, target_dir):
    """Extracts a `.tar` / `.tar.gz` checkpoint bundle into `target_dir`.

    Every member is checked first (nothing is written when one is refused):
    a bundle may hold only regular files and folders at relative paths that
    stay inside `target_dir`. Links (symbolic and hard), devices, FIFOs,
    absolute paths and `..` are refused, since they could write or overwrite
    files elsewhere. Python's `data` extraction filter (Python 3.11.4+)
    applies on top of these checks.

    Args:
        path: the bundle.
        target_dir: an existing, empty folder.

    Raises:
        UnsafeBundleError: a member is not allowed (names the bundle, the
            member and the reason).
        ValueError: the bundle cannot be read (truncated or corrupt).
    """
    root = os.path.realpath(target_dir)
    try:
        with tarfile.open(path) as bundle:
            members = bundle.getmembers()
            for member in members:
                problem = _member_problem(member, root)
                if problem:
                    raise UnsafeBundleError(
                        f"{path}: member {member.name!r} {problem}; checkpoint bundles may hold only "
                        "regular files and folders, at relative paths inside the bundle."
                    )
            _extract_members(bundle, members, root, path)
    except (tarfile.TarError, EOFError, OSError) as e:  # truncated or corrupt archives
        raise ValueError(f"{path}: cannot read the checkpoint bundle ({e}).") from e


def _member_problem(member, root):
    """Why `member` of a bundle may not be extracted into `root`; None when it may."""
    if member.issym():
        return f"is a symbolic link (to {member.linkname!r})"
    if member.islnk():
        return f"is a hard link (to {member.linkname!r})"
    if member.ischr() or member.isblk():
        return "is a device file"
    if member.isfifo():
        return "is a FIFO (named pipe)"
    if not (member.isfile() or member.isdir()):
        return "is neither a regular file nor a folder"
    name = member.name
    if not name:
        return "has an empty name"
    if name.startswith(("/", "\\")) or pathlib.PureWindowsPath(name).drive:
        return "has an absolute path"
    if ".." in re.split(r"[/\\]", name):
        return "has a '..' path component"
    target = os.path.realpath(os.path.join(root, name))
    if os.path.commonpath([root, target]) != root:
        return "resolves outside the folder it is extracted to"
    return None


def _extract_members(bundle, members, root, path):
    """Extracts checked `members` with Python's `data` filter where Python has it."""
    if not hasattr(tarfile, "data_filter"):  # Python < 3.11.4: the checks above suffice
        bundle.extractall(root, members=members)  # noqa: S202 - every member checked above
        return
    try:
        bundle.extractall(root, members=members, filter="data")
    except tarfile.FilterError as e:
        member = getattr(e, "tarinfo", None)
        name = member.name if member is not None else "?"
        raise UnsafeBundleError(
            f"{path}: member {name!r} is refused by Python's tar safety filter ({e}); checkpoint "
            "bundles may hold only regular files and folders, at relative paths inside the bundle."
        ) from e


def read_checkpoint(path, with_step=False):
    """`{name: np.ndarray}` of a Magenta checkpoint's model variables (a TF1
    checkpoint, or a magenta.js folder: `config.json` + `weights_manifest.json`).

    Args:
        path: see `convert_magenta_checkpoint`.
        with_step: also return the checkpoint's `global_step`.

    Returns:
        the variables, or `(variables, global_step)` with `with_step`
        (`global_step` an int, None when the checkpoint has none, as
        magenta.js folders).
    """
    from keras_musicvae.convert import magentajs

    if magentajs.is_magentajs_folder(path):
        variables = magentajs.read_weights(path)
        return (variables, None) if with_step else variables
    import tensorflow as tf

    with tempfile.TemporaryDirectory() as tmp:
        prefix = _find_prefix(path, tmp)
        try:
            reader = tf.train.load_checkpoint(prefix)
        except Exception as e:  # noqa: BLE001 - re-raised with the path
            raise ValueError(f"Cannot read the checkpoint {prefix}: {e}") from e
        names = reader.get_variable_to_shape_map()
        variables = {
            name: reader.get_tensor(name)
            for name in sorted(names)
            if not _TRAINING_ONLY.search(name)
        }
        if not with_step:
            return variables
        step = int(reader.get_tensor("global_step")) if "global_step" in names else None
        return variables, step


# -------------------------------------------------------- size inference
def _lstm_units(variables, pattern):
    found = {}
    for name, value in variables.items():
        m = re.fullmatch(pattern, name)
        if m:
            found[int(m.group(1))] = value.shape[1] // 4
    return [found[i] for i in sorted(found)]


def infer_hparams(variables):
    """Layer sizes read off the checkpoint's shapes (for user checkpoints
    trained with other sizes, e.g. magenta.js ones)."""
    hparams = {}
    if "encoder/mu/kernel" in variables:
        hparams["z_size"] = int(variables["encoder/mu/kernel"].shape[1])
    enc = _lstm_units(
        variables,
        r"encoder/(?:hierarchical_level_0/)?cell_(\d+)/bidirectional_rnn/fw/multi_rnn_cell/cell_0/lstm_cell/kernel",
    )
    if enc:
        hparams["enc_rnn_size"] = enc
    dec = _lstm_units(variables, r"decoder/multi_rnn_cell/cell_(\d+)/lstm_cell/kernel")
    dec = dec or _lstm_units(variables, r"decoder/hierarchical_level_0/cell_(\d+)/lstm_cell/kernel")
    if dec:
        hparams["dec_rnn_size"] = dec
    if "decoder/nade/w_enc" in variables:
        hparams["nade_num_hidden"] = int(variables["decoder/nade/w_enc"].shape[2])
    return hparams


# ------------------------------------------------------------- transforms
def _reorder_gates(x, axis=-1):
    """Magenta (i, j, f, o) -> Keras (i, f, c=j, o) along `axis`."""
    i, j, f, o = np.split(x, 4, axis=axis)
    return np.concatenate([i, f, j, o], axis=axis)


def lstm_to_keras(kernel, bias, input_dim):
    """`(kernel, recurrent_kernel, bias)` in Keras layout from a Magenta cell."""
    units = kernel.shape[1] // 4
    if kernel.shape[0] != input_dim + units:
        raise CheckpointMismatchError(
            f"LSTM kernel of shape {kernel.shape} does not fit input {input_dim} + units {units}."
        )
    keras_kernel = _reorder_gates(kernel[:input_dim])
    recurrent = _reorder_gates(kernel[input_dim:])
    keras_bias = _reorder_gates(bias).copy()
    keras_bias[units : 2 * units] += 1.0
    return keras_kernel, recurrent, keras_bias


def keras_to_lstm(kernel, recurrent_kernel, bias):
    """Inverse of `lstm_to_keras` (for tests and export to Magenta)."""
    units = recurrent_kernel.shape[0]
    b = bias.copy()
    b[units : 2 * units] -= 1.0

    def back(x):
        i, f, j, o = np.split(x, 4, axis=-1)
        return np.concatenate([i, j, f, o], axis=-1)

    return np.concatenate([back(kernel), back(recurrent_kernel)], axis=0), back(b)


# ------------------------------------------------------------- the mapping
class _Assignments:
    """Collects (variable, value, magenta names) and checks them."""

    def __init__(self, variables):
        self.variables = variables
        self.used = set()
        self.missing = []
        self.mismatched = []
        self.pending = []

    def get(self, name):
        if name not in self.variables:
            self.missing.append(name)
            return None
        self.used.add(name)
        return self.variables[name]

    def assign(self, target, value, source):
        if value is None:
            return
        if tuple(target.shape) != tuple(value.shape):
            self.mismatched.append(f"{source}: checkpoint {tuple(value.shape)}, model {tuple(target.shape)}")
            return
        self.pending.append((target, value))

    def dense(self, kernel_var, bias_var, prefix):
        self.assign(kernel_var, self.get(f"{prefix}/kernel"), f"{prefix}/kernel")
        self.assign(bias_var, self.get(f"{prefix}/bias"), f"{prefix}/bias")

    def lstm(self, kernel_var, recurrent_var, bias_var, prefix):
        kernel = self.get(f"{prefix}/kernel")
        bias = self.get(f"{prefix}/bias")
        if kernel is None or bias is None:
            return
        input_dim = int(kernel_var.shape[0])
        if kernel.shape[0] != input_dim + int(recurrent_var.shape[0]) or kernel.shape[1] != int(
            kernel_var.shape[1]
        ):
            self.mismatched.append(
                f"{prefix}/kernel: checkpoint {tuple(kernel.shape)}, model expects "
                f"({input_dim + int(recurrent_var.shape[0])}, {int(kernel_var.shape[1])})"
            )
            return
        k, r, b = lstm_to_keras(kernel, bias, input_dim)
        self.assign(kernel_var, k, f"{prefix}/kernel")
        self.assign(recurrent_var, r, f"{prefix}/kernel")
        self.assign(bias_var, b, f"{prefix}/bias")


def _map_bidirectional(a, encoder, prefix):
    for i, weights in enumerate(encoder.direction_weights):
        for direction in ("fw", "bw"):
            kernel, recurrent, bias = weights[direction]
            a.lstm(
                kernel,
                recurrent,
                bias,
                f"{prefix}/cell_{i}/bidirectional_rnn/{direction}/multi_rnn_cell/cell_0/lstm_cell",
            )


def _map_bar_decoder(a, bar_decoder, prefix):
    a.dense(bar_decoder.initial_state.kernel, bar_decoder.initial_state.bias, f"{prefix}/z_to_initial_state")
    lstm = bar_decoder.lstm
    for k in range(len(lstm.units)):
        a.lstm(
            lstm.kernels[k],
            lstm.recurrent_kernels[k],
            lstm.biases[k],
            f"{prefix}/multi_rnn_cell/cell_{k}/lstm_cell",
        )
    head = bar_decoder.head
    a.dense(head.kernel, head.bias, f"{prefix}/output_projection")
    if hasattr(head, "w_enc"):
        a.assign(head.w_enc, a.get(f"{prefix}/nade/w_enc"), f"{prefix}/nade/w_enc")
        a.assign(head.w_dec_t, a.get(f"{prefix}/nade/w_dec_t"), f"{prefix}/nade/w_dec_t")


def visit_model(a, model):
    """Walks the model's weights with Magenta's variable names: the one
    table of names, read in both directions.

    `a` is any object with `get(name)`, `assign(keras_variable, value,
    name)`, `dense(kernel, bias, prefix)` and `lstm(kernel, recurrent_kernel,
    bias, prefix)` (see `_Assignments`; the exporters use it the other way).
    """
    model.require_encoder("Magenta's variable layout (a whole checkpoint)")
    encoder = model.encoder
    if model.encoder_level_lengths:
        for level, level_encoder in enumerate(encoder.levels):
            _map_bidirectional(a, level_encoder, f"encoder/hierarchical_level_{level}")
    else:
        _map_bidirectional(a, encoder, "encoder")
    a.dense(model.latent.mu_kernel, model.latent.mu_bias, "encoder/mu")
    a.dense(model.latent.sigma_kernel, model.latent.sigma_bias, "encoder/sigma")
    decoder = model.decoder
    if model.decoder_level_lengths:
        conductor = decoder.conductor
        a.dense(
            conductor.initial_state.kernel,
            conductor.initial_state.bias,
            "decoder/hierarchical_level_0/initial_state",
        )
        for k in range(len(conductor.lstm.units)):
            a.lstm(
                conductor.lstm.kernels[k],
                conductor.lstm.recurrent_kernels[k],
                conductor.lstm.biases[k],
                f"decoder/hierarchical_level_0/cell_{k}/lstm_cell",
            )
        if model.split_streams:
            for j, bar_decoder in enumerate(decoder.bar_decoders):
                _map_bar_decoder(a, bar_decoder, f"core_decoder/core_decoder_{j}/decoder")
        else:
            _map_bar_decoder(a, decoder.bar_decoders[0], "core_decoder/decoder")
    else:
        _map_bar_decoder(a, decoder.bar_decoders[0], "decoder")


def map_variables(model, variables):
    """Plans the assignment of Magenta variables to the model's weights.

    Returns:
        list of `(keras variable, value)`.

    Raises:
        CheckpointMismatchError: listing missing, unused and mis-shaped
            variables.
    """
    a = _Assignments(variables)
    visit_model(a, model)

    unused = sorted(set(variables) - a.used)
    problems = []
    if a.missing:
        problems.append("missing from the checkpoint: " + ", ".join(sorted(a.missing)))
    if unused:
        problems.append("in the checkpoint but not in the model: " + ", ".join(unused))
    if a.mismatched:
        problems.append("wrong shapes: " + "; ".join(a.mismatched))
    if problems:
        raise CheckpointMismatchError(
            "The checkpoint does not match the model. " + " | ".join(problems)
        )
    return a.pending


# ---------------------------------------------------------------- public
def convert_magenta_checkpoint(
    checkpoint,
    preset,
    output=None,
    overrides=None,
    infer_sizes=True,
    overwrite=False,
):
    """Converts a Magenta MusicVAE checkpoint into a `MusicVAE` (and a preset).

    Args:
        checkpoint: a checkpoint prefix (`.../model.ckpt-1234`), a folder
            holding one, or a `.tar` bundle as Magenta publishes them.
        preset: the configuration it was trained with (built-in name, Magenta
            alias, or preset folder).
        output: preset folder to write (nothing is written on failure; an
            existing non-empty folder needs `overwrite=True`).
        overrides: hyperparameters to change from the preset (e.g. sizes).
        infer_sizes: read `z_size`, `enc_rnn_size`, `dec_rnn_size`,
            `nade_num_hidden` from the checkpoint's shapes when they differ
            from the preset's.
        overwrite: replace an existing output folder.

    Returns:
        The converted `MusicVAE`, its `global_step` set to the checkpoint's
        (0 when it has none), so that `compile()` and training continue
        Magenta's schedules (see `MusicVAE.make_optimizer`). The preset
        written to `output` keeps the step in its weights.

    Raises:
        CheckpointMismatchError: the checkpoint does not fit the preset; the
            message lists the offending variable names.
    """
    from keras_musicvae.presets import load_preset_config
    from keras_musicvae.presets import canonical_preset_name
    from keras_musicvae.presets import load_model_from_preset

    if output is not None and pathlib.Path(output).exists() and any(pathlib.Path(output).iterdir()):
        if not overwrite:
            raise FileExistsError(f"{output} exists and is not empty; pass overwrite=True to replace it.")
    variables, global_step = read_checkpoint(checkpoint, with_step=True)
    if not variables:
        raise CheckpointMismatchError(f"{checkpoint}: the checkpoint holds no model variables.")
    base = load_preset_config(preset)
    overrides = dict(overrides or {})
    if infer_sizes:
        for key, value in infer_hparams(variables).items():
            if key not in overrides and base.get(key) != value and key in base:
                logger.info("Checkpoint has %s=%s (preset: %s); using the checkpoint's.", key, value, base.get(key))
                overrides[key] = value
    model = load_model_from_preset(preset, load_weights=False, **overrides)
    for variable, value in map_variables(model, variables):
        variable.assign(value.astype(variable.dtype))
    if global_step is not None:
        # Magenta's `global_step` drives the learning-rate, KL-weight and
        # scheduled-sampling schedules: fine-tuning continues them.
        model.global_step.assign(global_step)
    if output is not None:
        description = (
            f"Converted from the Magenta checkpoint {checkpoint} "
            f"(configuration {canonical_preset_name(preset)})."
        )
        model.save_to_preset(
            output,
            overwrite=overwrite,
            description=description,
        )
    return model
