"""``trsp reference PARAMS.toml --out FILE.json``: write the oracle's conformance vectors.

The vectors (docs/formats-conformance.md) come from :func:`trsp_ref.conformance.reference_vectors`;
the file is written atomically (a temporary file in the same folder, flushed and fsync'ed,
then renamed over the target), so a reader never sees a half-written file and an
existing file is replaced only by a complete one.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from trsp_ref.conformance import dumps_vectors, reference_vectors
from trsp_ref.params import ParameterError, Params, load_params

__all__ = ["run_reference", "write_text_atomic"]


def _current_umask() -> int:
    mask = os.umask(0o022)  # the only portable way to read it is to set it
    os.umask(mask)
    return mask


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically: temp file in the same folder, fsync, os.replace.

    Raises ParameterError('out') when the folder does not exist or is not writable (a
    user-fixable problem the CLI reports in one line).
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ParameterError("out", f"the folder of the output file does not exist: {folder}")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise ParameterError("out", f"cannot write in {folder}: {exc.strerror}") from None
    try:
        # mkstemp makes the file private (0600); give it the mode a plain open() would
        os.fchmod(fd, 0o666 & ~_current_umask())
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_name, path)
    except BaseException as exc:
        # leave no temporary file behind, whatever went wrong
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError):  # e.g. the target is a folder, or the disk is full
            raise ParameterError("out", f"cannot write {path}: {exc.strerror or exc}") from None
        raise
    # make the rename itself durable (POSIX: fsync the directory); not possible everywhere
    try:
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows
        return
    try:
        os.fsync(dir_fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(dir_fd)


def run_reference(params_path: Path | None, out: Path) -> None:
    """Load the parameter file (None: the built-in defaults, ``Params()``), compute the vectors, write ``out`` atomically.

    Raises ParameterError for an invalid parameter set or an unwritable output path
    (nothing is written then).
    """
    p = Params() if params_path is None else load_params(params_path)
    text = dumps_vectors(reference_vectors(p))
    write_text_atomic(Path(out), text)
