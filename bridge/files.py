"""Output files: checked before any training starts, written whole or not at all."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from bridge.errors import InvalidProblem


def writable_file(path, option: str = "--output", suffix: str = "") -> Path:
    """The path, once it is sure a file can be written there; else InvalidProblem saying why, in one line."""
    text = os.fspath(path)
    if not text:
        raise InvalidProblem(f"{option} must name a file, got an empty path")
    if suffix and not text.lower().endswith(suffix):
        raise InvalidProblem(f"{option} must name a {suffix} file, got {text!r}")
    target = Path(text)
    if target.is_dir():
        raise InvalidProblem(f"{option} {text!r} is a folder, not a file")
    _writable_folder(target.parent, option, text)
    return target


def writable_folder(path, option: str) -> Path:
    """A folder that exists or can be made, where files can be written; checked by making it and writing a file."""
    text = os.fspath(path)
    if not text:
        raise InvalidProblem(f"{option} must name a folder, got an empty path")
    folder = Path(text)
    if folder.exists() and not folder.is_dir():
        raise InvalidProblem(f"{option} {text!r} is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InvalidProblem(f"{option} {text!r}: cannot make that folder: {error.strerror or error}") from None
    _writable_folder(folder, option, text)
    return folder


def _writable_folder(folder: Path, option: str, text: str) -> None:
    if not folder.exists():
        raise InvalidProblem(f"{option} {text!r}: the folder {str(folder)!r} does not exist")
    if not folder.is_dir():
        raise InvalidProblem(f"{option} {text!r}: {str(folder)!r} is a file, not a folder")
    try:  # the only sure test of writing is to write: permissions do not bind root, and /proc refuses anyway
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise InvalidProblem(f"{option} {text!r}: cannot write in {str(folder)!r}: {error.strerror or error}") from None


@contextlib.contextmanager
def written_whole(target: Path):
    """Yield a temporary path beside target; move it onto target only if the block succeeds."""
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    os.close(handle)
    try:
        yield temporary
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes it 0600: the file gets the mode any new file would
        os.replace(temporary, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temporary)


def _umask() -> int:
    """The process's umask (reading it means setting it: set it straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
