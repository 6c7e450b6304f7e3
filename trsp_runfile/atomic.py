"""One atomic-write helper for every output the project writes (run files excepted, whose
checkpoint protocol in :mod:`trsp_runfile.runfile` does the same thing by hard links).

A user's file is never left half-written: the content goes to a temporary file in the same
folder, is fsync'ed, and replaces the target with ``os.replace`` (atomic on POSIX); the
folder is then fsync'ed so the rename itself survives a crash.  On any failure the temporary
file is removed and the target keeps its previous content.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

__all__ = ["fsync_file", "atomic_path", "write_text_atomic", "current_umask", "fsync_dir", "unwritable_reason", "temp_beside", "replace_from_temp"]


def current_umask() -> int:
    """The process umask (the only portable way to read it is to set it and set it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def fsync_file(path: str | os.PathLike) -> None:
    """Flush a closed file's content to disk (before renaming it over its target)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX); silently impossible on some platforms."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def temp_beside(path: str | os.PathLike, suffix: str = "") -> Path:
    """A new empty temporary file in ``path``'s folder (``.NAME.xxxx.tmp<suffix>``), with the mode a
    plain ``open()`` would give: where an output is written before it replaces ``path``."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{suffix}", dir=folder)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        # mkstemp makes the file private (0600); give it the mode a plain open() would
        os.chmod(tmp, 0o666 & ~current_umask())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def replace_from_temp(tmp: Path, path: str | os.PathLike) -> None:
    """Make the complete temporary file ``tmp`` (from :func:`temp_beside`) the file ``path``:
    fsync it, rename it over ``path`` (atomic on POSIX), fsync the folder."""
    path = Path(path)
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent if str(path.parent) else Path("."))


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on normal exit it replaces ``path`` atomically.

    The caller writes the whole output to the yielded path (any library: h5py, matplotlib,
    plain ``open``).  ``suffix`` keeps an extension for libraries that infer the format
    from it (matplotlib).  Raises ``FileNotFoundError`` / ``NotADirectoryError`` /
    ``PermissionError`` (plain ``OSError`` subclasses) when the folder cannot take the file;
    callers turn these into their own one-line errors.  A command's outputs go through
    :class:`trsp_runfile.outputs.OutputSet`, which checks them first and writes them as a set.
    """
    tmp = temp_beside(path, suffix)
    try:
        yield tmp
        replace_from_temp(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.filename is not None and Path(exc.filename) == tmp:  # a user knows the target, not our temporary name
            exc.filename = str(path)
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8, ``\\n`` line ends) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)


def unwritable_reason(path: str | os.PathLike, *, folder: bool = False) -> str | None:
    """Why ``path`` cannot be written, in words, or None if it can: checked before any work.

    ``folder=False``: ``path`` is a file to write (atomically) in an existing folder.
    ``folder=True``: ``path`` is a folder to write files in, created (with its parents)
    if missing.  Callers turn the reason into their own one-line error naming the option.
    """
    path = Path(path)
    if folder:
        if path.exists():
            if not path.is_dir():
                return f"{path} exists and is not a folder"
            target = path
        else:
            target = path.parent
            while not target.exists() and target != target.parent:
                target = target.parent
            if not target.is_dir():
                return f"cannot create the folder {path}: {target} is not a folder"
    else:
        target = path.parent if str(path.parent) else Path(".")
        if path.is_dir():
            return f"{path} is a folder, not a file"
        if not target.exists():
            return f"the folder {target} does not exist"
        if not target.is_dir():
            return f"{target} is not a folder"
    if not os.access(target, os.W_OK | os.X_OK):
        return f"cannot write in the folder {target} (permission denied)"
    return None
