"""Atomic writing of export artifacts (a folder or a file)."""

import contextlib
import os
import pathlib
import shutil

from keras_musicvae.utils import atomic_files


@contextlib.contextmanager
def atomic_destination(path, overwrite=False):
    """Yields a temporary path next to `path`; moves it into place on success.

    The artifact is written to a temporary sibling and renamed to `path` only
    when the block finishes without an error, so a failed export never
    leaves a half-written SavedModel (TF Serving would try to load it).

    Args:
        path: the final folder or file.
        overwrite: replace an existing `path`; otherwise refuse.

    Raises:
        FileExistsError: `path` exists and `overwrite` is False.
    """
    path = pathlib.Path(os.path.expanduser(str(path))).absolute()
    if path.exists() and not overwrite:
        raise FileExistsError(
            f"{path} already exists; pass overwrite=True to replace it (or export a new "
            "version folder, e.g. <model>/2, for TF Serving)."
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = atomic_files.create_temporary_folder(path)
    target = staging / path.name
    try:
        yield target
        if not target.exists():
            raise RuntimeError(f"The export wrote nothing to {target}.")
        backup = None
        if path.exists():
            backup = atomic_files.temporary_path(path)
            os.replace(path, backup)
        try:
            os.replace(target, path)
        except BaseException:
            if backup is not None:
                os.replace(backup, path)
            raise
        if backup is not None:
            if backup.is_dir():
                shutil.rmtree(backup, ignore_errors=True)
            else:
                backup.unlink(missing_ok=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
