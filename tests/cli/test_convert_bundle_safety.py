"""Checkpoint bundles (.tar, .tar.gz) cannot write outside the folder they are extracted to.

Each malicious bundle is refused with a message naming the bundle, the member
and the reason, nothing is extracted, and a sentinel file outside stays as it was.
"""

import io
import tarfile

import pytest

from cli_support import error_lines
from cli_support import run_cli
from keras_musicvae.convert import UnsafeBundleError
from keras_musicvae.convert import extract_bundle
from support import magenta_fixtures

SENTINEL_TEXT = b"the original sentinel\n"
RULE = "checkpoint bundles may hold only regular files and folders, at relative paths inside the bundle."


@pytest.fixture
def sentinel(tmp_path):
    """A file outside every extraction folder: no bundle may change it."""
    folder = tmp_path / "outside"
    folder.mkdir()
    path = folder / "sentinel.txt"
    path.write_bytes(SENTINEL_TEXT)
    return path


def _member(name, kind=tarfile.REGTYPE, data=b"", linkname=""):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    return info, (io.BytesIO(data) if kind == tarfile.REGTYPE else None)


def _bundle(path, members, compression=""):
    """Writes a tar (`compression` "gz": a .tar.gz) holding `members` (`_member` tuples)."""
    with tarfile.open(path, f"w:{compression}" if compression else "w") as bundle:
        for info, data in members:
            bundle.addfile(info, data)
    return path


def _malicious(sentinel):
    """`{case: (members, refused member, reason)}`: every way out of the folder."""
    outside = sentinel.parent
    return {
        "symlink then a file through it": (
            [_member("link", tarfile.SYMTYPE, linkname=str(outside)), _member("link/sentinel.txt", data=b"pwned")],
            "link",
            f"is a symbolic link (to {str(outside)!r})",
        ),
        "hard link to an outside file": (
            [_member("hard", tarfile.LNKTYPE, linkname=str(sentinel)), _member("hard", data=b"pwned")],
            "hard",
            f"is a hard link (to {str(sentinel)!r})",
        ),
        "absolute path": (
            [_member(str(sentinel), data=b"pwned")],
            str(sentinel),
            "has an absolute path",
        ),
        "dot-dot path": (
            [_member("../outside/sentinel.txt", data=b"pwned")],
            "../outside/sentinel.txt",
            "has a '..' path component",
        ),
        "dot-dot inside a path": (
            [_member("model/../../outside/sentinel.txt", data=b"pwned")],
            "model/../../outside/sentinel.txt",
            "has a '..' path component",
        ),
        "character device": (
            [_member("dev", tarfile.CHRTYPE)],
            "dev",
            "is a device file",
        ),
        "block device": (
            [_member("disk", tarfile.BLKTYPE)],
            "disk",
            "is a device file",
        ),
        "fifo": (
            [_member("pipe", tarfile.FIFOTYPE)],
            "pipe",
            "is a FIFO (named pipe)",
        ),
    }


CASES = [
    "symlink then a file through it",
    "hard link to an outside file",
    "absolute path",
    "dot-dot path",
    "dot-dot inside a path",
    "character device",
    "block device",
    "fifo",
]


@pytest.mark.parametrize("compression", ["", "gz"])
@pytest.mark.parametrize("case", CASES)
def test_malicious_bundle_is_refused(tmp_path, sentinel, case, compression):
    members, name, reason = _malicious(sentinel)[case]
    # A regular file first: nothing at all is extracted when a later member is refused.
    members = [_member("model.ckpt-1.index", data=b"index")] + members
    bundle = _bundle(tmp_path / ("model.tar.gz" if compression else "model.tar"), members, compression)
    target = tmp_path / "extract"
    target.mkdir()
    with pytest.raises(UnsafeBundleError) as error:
        extract_bundle(bundle, target)
    assert str(error.value) == f"{bundle}: member {name!r} {reason}; {RULE}"
    assert sentinel.read_bytes() == SENTINEL_TEXT
    assert sorted(sentinel.parent.iterdir()) == [sentinel]
    assert list(target.iterdir()) == []


def test_regular_bundle_extracts(tmp_path):
    for compression in ("", "gz"):
        members = [
            _member("cat-mel_2bar_small", tarfile.DIRTYPE),
            _member("cat-mel_2bar_small/model.ckpt-1.index", data=b"index"),
            _member("./cat-mel_2bar_small/model.ckpt-1.data-00000-of-00001", data=b"data"),
        ]
        bundle = _bundle(tmp_path / f"ok{compression}.tar", members, compression)
        target = tmp_path / f"extract{compression}"
        target.mkdir()
        extract_bundle(bundle, target)
        assert (target / "cat-mel_2bar_small" / "model.ckpt-1.index").read_bytes() == b"index"
        assert (target / "cat-mel_2bar_small" / "model.ckpt-1.data-00000-of-00001").read_bytes() == b"data"


@pytest.mark.parametrize("compression", ["", "gz"])
def test_truncated_bundle_is_a_clear_error(tmp_path, compression):
    data = bytes(range(256)) * 40
    bundle = _bundle(tmp_path / "ok.tar", [_member("a.index", data=data)], compression)
    broken = tmp_path / "broken.tar"
    broken.write_bytes(bundle.read_bytes()[: len(bundle.read_bytes()) // 2])
    target = tmp_path / "extract"
    target.mkdir()
    with pytest.raises(ValueError, match=r"broken\.tar: cannot read the checkpoint bundle"):
        extract_bundle(broken, target)


def test_read_checkpoint_refuses_a_malicious_bundle(tmp_path, sentinel):
    from keras_musicvae.convert import read_checkpoint

    members, _, _ = _malicious(sentinel)["symlink then a file through it"]
    bundle = _bundle(tmp_path / "model.tar", members)
    with pytest.raises(UnsafeBundleError, match="member 'link' is a symbolic link"):
        read_checkpoint(bundle)
    assert sentinel.read_bytes() == SENTINEL_TEXT


@pytest.mark.parametrize("case", ["symlink then a file through it", "hard link to an outside file", "dot-dot path"])
def test_convert_command_refuses_a_malicious_bundle(tmp_path, sentinel, case):
    members, name, reason = _malicious(sentinel)[case]
    bundle = _bundle(tmp_path / "model.tar.gz", members, "gz")
    output = tmp_path / "converted"
    result = run_cli("convert", "--checkpoint", bundle, "--preset", "cat-mel_2bar_small", "--output", output)
    assert result.returncode == 1, result.stderr
    assert error_lines(result) == [f"keras-musicvae convert: error: {bundle}: member {name!r} {reason}; {RULE}"]
    assert sentinel.read_bytes() == SENTINEL_TEXT
    assert sorted(sentinel.parent.iterdir()) == [sentinel]
    assert not output.exists()


def test_convert_command_reads_a_tar_gz_bundle(tmp_path):
    checkpoint = magenta_fixtures() / "cat-mel_2bar_small" / "checkpoint"
    bundle = tmp_path / "cat-mel_2bar_small.tar.gz"
    with tarfile.open(bundle, "w:gz") as archive:
        archive.add(checkpoint, arcname="cat-mel_2bar_small")
    output = tmp_path / "converted"
    result = run_cli("convert", "--checkpoint", bundle, "--preset", "cat-mel_2bar_small", "--output", output)
    assert result.returncode == 0, result.stderr
    assert (output / "model.weights.h5").exists() and (output / "config.json").exists()
