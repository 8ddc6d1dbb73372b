"""Magenta checkpoints converted once and kept as preset folders in a cache.

`converted_preset(checkpoint, config)` converts a Magenta MusicVAE
checkpoint (a prefix like `.../model.ckpt-123`, a folder holding one, a
`.tar` bundle, or a magenta.js folder) into a preset folder under
`$XDG_CACHE_HOME/keras_musicvae/converted/` (default
`~/.cache/keras_musicvae/converted/`), and returns that folder; a second
call with the same checkpoint files (same paths, sizes and modification
times), the same configuration and the same keras_musicvae version returns
the cached folder without converting again.

A cache entry is written to a temporary folder beside it and renamed into
place, so it is complete or absent, and two processes converting the same
checkpoint at once both end with the same complete folder. Delete the cache
folder at any time to reclaim the space.

Reading TF1 checkpoints needs TensorFlow (see `magenta_checkpoint`); the
preset folders it writes load on every backend.
"""

import hashlib
import json
import os
import pathlib
import shutil
import tarfile
import tempfile

CACHE_SUBDIR = ("keras_musicvae", "converted")
# Bump when a change of the converter makes older cache entries wrong.
# 2: converted presets keep the checkpoint's global_step.
CACHE_FORMAT = 2
SOURCE_FILE = "source.json"
EXPORTED_CONFIG_FILE = "magenta_config.json"


def cache_root():
    """`$XDG_CACHE_HOME/keras_musicvae/converted` (default `~/.cache/...`), not created."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(base).joinpath(*CACHE_SUBDIR)


def checkpoint_kind(path):
    """What kind of Magenta checkpoint `path` is, or None.

    Returns:
        "magentajs" (a folder with `weights_manifest.json`), "bundle" (a
        `.tar` / `.tar.gz` file), "prefix" (`PATH.index` exists) or "folder"
        (a folder holding a TF checkpoint: a `checkpoint` state file or
        `*.index` files, and no preset `config.json`); None otherwise.
    """
    from keras_musicvae.convert import magentajs

    path = pathlib.Path(os.path.expanduser(str(path)))
    if magentajs.is_magentajs_folder(path):
        return "magentajs"
    if path.is_file():
        return "bundle" if _is_tar(path) else None
    if pathlib.Path(str(path) + ".index").is_file():
        return "prefix"
    if path.is_dir() and not (path / "config.json").exists():
        if (path / "checkpoint").is_file() or next(path.rglob("*.index"), None) is not None:
            return "folder"
    return None


def exported_configuration(checkpoint):
    """The configuration named by `magenta_config.json` beside a checkpoint, or None.

    `keras-musicvae export --format magenta_checkpoint` writes that file, so
    its checkpoints name their own configuration.
    """
    path = pathlib.Path(os.path.expanduser(str(checkpoint)))
    folder = path if path.is_dir() else path.parent
    described = folder / EXPORTED_CONFIG_FILE
    if not described.is_file():
        return None
    try:
        return json.loads(described.read_text())["config"]
    except (ValueError, KeyError, TypeError, OSError) as e:
        raise ValueError(f"{described}: not a configuration file written by the exporter ({e}).") from e


def converted_preset(checkpoint, config=None, cache_dir=None):
    """The preset folder of a Magenta checkpoint, converted on first use and cached.

    Args:
        checkpoint: a checkpoint prefix, a folder holding one, a `.tar`
            bundle, or a magenta.js folder.
        config: the Magenta configuration it was trained with (a built-in
            preset name, a Magenta alias or a preset folder). Optional for
            magenta.js folders and for checkpoints written by our exporter
            (they name their own).
        cache_dir: the cache folder (default `cache_root()`).

    Returns:
        `(folder, converted)`: the preset folder, and whether it was
        converted by this call (False: found in the cache).

    Raises:
        FileNotFoundError: `checkpoint` is not a checkpoint.
        ValueError: no `config` where one is needed, an unknown `config`,
            or a checkpoint that does not fit it (`CheckpointMismatchError`).
    """
    path = pathlib.Path(os.path.expanduser(str(checkpoint))).absolute()
    kind = checkpoint_kind(path)
    if kind is None:
        raise FileNotFoundError(
            f"{path}: not a Magenta checkpoint (a prefix with a .index file, a folder holding one, "
            "a .tar bundle, or a magenta.js folder)."
        )
    if config is None and kind != "magentajs":
        config = exported_configuration(path)
        if config is None:
            raise ValueError(
                f"{path} is a Magenta checkpoint: name the configuration it was trained with "
                "(e.g. cat-mel_2bar_big), as Magenta's music_vae_generate --config."
            )
    root = pathlib.Path(cache_dir) if cache_dir is not None else cache_root()
    folder = root / cache_key(path, kind, config)
    if _is_complete(folder):
        return folder, False
    _convert_into(folder, path, kind, config)
    return folder, True


def cache_key(path, kind, config):
    """A hex digest of the checkpoint files (paths, sizes, mtimes), the configuration and our version."""
    from keras_musicvae.version import __version__

    digest = hashlib.sha256()
    for part in (CACHE_FORMAT, __version__, kind, str(path), *_config_identity(config)):
        digest.update(f"{part}\0".encode())
    for file in _checkpoint_files(path, kind):
        stat = file.stat()
        digest.update(f"{file}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
    return digest.hexdigest()[:24]


def _config_identity(config):
    """What identifies a configuration: its resolved folder and the bytes of its config.json."""
    if config is None:
        return ("magenta.js",)
    from keras_musicvae import presets

    folder = presets.resolve_preset(config)
    config_file = folder / presets.CONFIG_FILE
    content = hashlib.sha256(config_file.read_bytes()).hexdigest() if config_file.is_file() else ""
    return (str(folder.absolute()), content)


def _checkpoint_files(path, kind):
    """The files whose sizes and modification times identify a checkpoint."""
    if kind == "bundle":
        return [path]
    if kind == "prefix":
        return sorted(p for p in path.parent.glob(path.name + ".*") if p.is_file())
    return sorted(p for p in path.rglob("*") if p.is_file())


def _is_tar(path):
    try:
        return tarfile.is_tarfile(path)
    except OSError:
        return False


def _is_complete(folder):
    from keras_musicvae import presets

    return (folder / presets.CONFIG_FILE).is_file() and (folder / presets.WEIGHTS_FILE).is_file()


def _convert_into(folder, path, kind, config):
    """Converts into a temporary sibling of `folder`, then renames it into place."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging_parent = pathlib.Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        staging = staging_parent / "preset"
        _convert(path, kind, config, staging)
        source = {"checkpoint": str(path), "kind": kind, "config": config, "format": CACHE_FORMAT}
        (staging / SOURCE_FILE).write_text(json.dumps(source, indent=2) + "\n")
        _publish(staging, folder)
    finally:
        shutil.rmtree(staging_parent, ignore_errors=True)


def _convert(path, kind, config, output):
    if kind == "magentajs":
        from keras_musicvae.convert.magentajs import convert_magentajs

        convert_magentajs(str(path), config, output=str(output))
    else:
        from keras_musicvae.convert.magenta_checkpoint import convert_magenta_checkpoint

        convert_magenta_checkpoint(str(path), config, output=str(output))


def _publish(staging, folder):
    """Renames `staging` to `folder`; another process's complete `folder` wins a race."""
    try:
        os.rename(staging, folder)
    except OSError:
        if not _is_complete(folder):
            if folder.exists():  # a leftover that is not a complete entry
                shutil.rmtree(folder, ignore_errors=True)
            os.rename(staging, folder)
