"""Atomic writes of files and folders, with the permissions the umask asks for.

A file or folder is written under a temporary name next to its destination
and renamed into place once complete, so that a reader (or a crash) sees the
old version or the new one, never half of one.

Permissions: temporary files are created with mode `0o666` and temporary
folders with `0o777`, as `open()` and `os.mkdir()` create them, so the
kernel applies the process umask (or the folder's default ACL) when it
creates them: under umask 022 an output is `0644` and a folder `0755`, as if
it had been written in place. (`tempfile.mkstemp` and `mkdtemp` create
`0600` / `0700` entries, which then keep those modes after the rename.)
The umask is never read here: `os.umask` can only be read by changing it,
which is process-wide and races with other threads creating files.

Temporary names are `.NAME.tmp-XXXXXXXX[SUFFIX]` (8 hex digits):
`is_temporary` tells those a killed process left behind.
"""

import contextlib
import os
import pathlib
import re
import secrets
import shutil

TEMP_MARK = ".tmp-"
_TEMP_NAME = re.compile(r"^\..+\.tmp-[0-9a-f]{8}(\..+)?$")
_ATTEMPTS = 100


def temporary_path(path, suffix=""):
    """A fresh temporary sibling of `path`: `.NAME.tmp-XXXXXXXX[SUFFIX]`.

    Args:
        path: the destination (file or folder).
        suffix: appended to the name (some writers check the extension).

    Returns:
        A `pathlib.Path` in the folder of `path` (not created).
    """
    path = pathlib.Path(path)
    return path.parent / f".{path.name}{TEMP_MARK}{secrets.token_hex(4)}{suffix}"


def is_temporary(name):
    """Whether a file name is one of `temporary_path`'s names."""
    return bool(_TEMP_NAME.match(str(name)))


def create_temporary_file(path, suffix=""):
    """Creates an empty temporary file next to `path` (mode 0o666 less the umask).

    Returns:
        Its `pathlib.Path`; the caller renames or removes it.
    """
    for _ in range(_ATTEMPTS):
        tmp = temporary_path(path, suffix)
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return tmp
    raise FileExistsError(f"No free temporary name next to {path}.")


def create_temporary_folder(path):
    """Creates an empty temporary folder next to `path` (mode 0o777 less the umask).

    Returns:
        Its `pathlib.Path`; the caller renames or removes it.
    """
    for _ in range(_ATTEMPTS):
        tmp = temporary_path(path)
        try:
            os.mkdir(tmp, 0o777)
        except FileExistsError:
            continue
        return tmp
    raise FileExistsError(f"No free temporary name next to {path}.")


def fsync(path):
    """Flushes a file, or a folder's entries, to disk (folders: where the OS allows)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except (IsADirectoryError, PermissionError):
        return  # Windows cannot open folders; their entries are durable anyway
    try:
        os.fsync(fd)
    except OSError:
        if not os.path.isdir(path):
            raise
    finally:
        os.close(fd)


def fsync_tree(folder):
    """`fsync`s every file and folder under `folder`, then `folder` itself."""
    for root, folders, files in os.walk(folder, topdown=False):
        for name in files:
            fsync(os.path.join(root, name))
        for name in folders:
            fsync(os.path.join(root, name))
    fsync(folder)


def remove(path):
    """Removes a file or a folder tree if it exists."""
    path = pathlib.Path(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


@contextlib.contextmanager
def atomic_file(path, suffix=None, durable=True):
    """Yields a temporary file path; on success it replaces `path` atomically.

    On an error the temporary file is removed and `path` is left as it was.

    Args:
        path: the destination file (its folder is created).
        suffix: the temporary file's suffix (default: that of `path`).
        durable: `fsync` the file and its folder around the rename.

    Yields:
        The temporary file's `pathlib.Path` (created empty; write it in place,
        truncating, so that its mode stays).
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = create_temporary_file(path, path.suffix if suffix is None else suffix)
    try:
        yield tmp
        if durable:
            fsync(tmp)
        os.replace(tmp, path)
        if durable:
            fsync(path.parent)
    finally:
        remove(tmp)


def write_file(path, write_fn, suffix=None, durable=True):
    """Writes a file atomically through `write_fn(temporary_path_str)`.

    Returns:
        `path` as a `pathlib.Path`.
    """
    with atomic_file(path, suffix=suffix, durable=durable) as tmp:
        write_fn(str(tmp))
    return pathlib.Path(path)


def write_text(path, text, durable=True):
    """Writes a UTF-8 text file atomically. Returns `path` as a `pathlib.Path`."""
    with atomic_file(path, durable=durable) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return pathlib.Path(path)


@contextlib.contextmanager
def atomic_folder(path, durable=True):
    """Yields an empty temporary folder; on success it takes the place of `path`.

    An existing `path` is moved aside, the new folder renamed into place and
    the old one deleted; on an error the temporary folder is deleted and
    `path` is left as it was.

    Args:
        path: the destination folder (its parent is created).
        durable: `fsync` the new folder's files and the parent folder.

    Yields:
        The temporary folder's `pathlib.Path`.
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = create_temporary_folder(path)
    try:
        yield staging
        if durable:
            fsync_tree(staging)
        replace_folder(staging, path)
        if durable:
            fsync(path.parent)
    finally:
        remove(staging)


def replace_folder(source, path):
    """Renames folder `source` to `path`, replacing (then deleting) an existing `path`."""
    if not os.path.lexists(path):
        os.rename(source, path)
        return
    backup = temporary_path(path)
    os.rename(path, backup)
    try:
        os.rename(source, path)
    except BaseException:
        os.rename(backup, path)
        raise
    remove(backup)
