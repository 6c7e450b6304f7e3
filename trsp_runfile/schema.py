"""HDF5 schemas checked at the door: every item a reader uses, by type, shape and dtype, from
the file's metadata alone (no dataset is read), with the file and the item named.

Each format family declares its items once (``trsp_fit.schema`` for particle-data files,
``trsp_obs.sweep.schema`` for sweep and summary files; run files check themselves in
``trsp_runfile.runfile``) and calls :func:`open_hdf5` and :func:`check_items` before reading
anything, so a wrong-typed, wrong-shaped, complex or missing item is one error naming it,
never a traceback or a silent cast (complex softness cast to its real part, a string where a
number belongs) deep inside a computation.

An :class:`Item` names a root attribute ``"/@temperature"``, a group's attribute
``"/aging/@T_initial"`` or a dataset ``"/frames/softness"``.  Its shape is a tuple of
dimensions: an ``int`` (exact), a ``str`` (a named dimension, bound by the first item that
has it and equal in every other: ``("K", "N")``) or ``None`` (any length); ``shape=None``
accepts any shape.  A scalar (``()``) also accepts a one-element array, as some writers store
scalars that way.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import h5py
import numpy as np

__all__ = ["Item", "KINDS", "Dims", "check_items", "item_meta", "hdf5_file_problem", "open_hdf5"]

#: what each kind of item holds, in words: (one value, an array)
KINDS = {
    "real": ("a real number (float or integer; not complex, not boolean)", "real numbers (float or integer; not complex, not boolean)"),
    "integer": ("an integer", "integers"),
    "flag": ("a boolean or an integer 0/1", "booleans or integers 0/1"),
    "string": ("a string", "a string"),
    "strings": ("a string", "strings"),
}


@dataclass(frozen=True)
class Item:
    """One item a reader uses: where it is, what it holds, its shape, whether it must be there."""

    where: str
    kind: str
    shape: tuple | None = ()
    required: bool = True

    @property
    def is_attribute(self) -> bool:
        return "/@" in self.where


def hdf5_file_problem(path: Path, what: str) -> str | None:
    """Why ``path`` cannot be opened as an HDF5 file (``what`` names the expected kind of file),
    or None.  Every reader of the project's HDF5 formats asks this before h5py does, so a wrong
    path gets words instead of h5py's traceback."""
    if not path.exists():
        return "no such file"
    if path.is_dir():
        return f"is a folder, not {what}"
    try:
        is_hdf5 = h5py.is_hdf5(path)
    except Exception:  # unreadable (permissions, a special file)
        is_hdf5 = False
    return None if is_hdf5 else f"is not an HDF5 file (or is truncated): not {what}"


def open_hdf5(path: str | os.PathLike, what: str, fail: Callable[[str, str | None], Exception]) -> h5py.File:
    """Open ``path`` read-only as an HDF5 file, or raise ``fail(problem, None)``: a missing file, a
    folder, a file that is not HDF5, a truncated or otherwise unreadable one, each in words
    (``what`` names the expected kind of file: "a particle-data file")."""
    problem = hdf5_file_problem(Path(path), what)
    if problem is not None:
        raise fail(problem, None)
    try:
        return h5py.File(path, "r")
    except (OSError, ValueError) as exc:  # a signature but no readable structure: truncated, or being written
        reason = " ".join(str(exc).split("(")[0].split()) or "unreadable"
        raise fail(f"cannot be read as HDF5 ({reason}): truncated, or still being written", None) from None


def item_meta(h5: h5py.File, where: str) -> tuple[np.dtype, tuple] | None:
    """(dtype, shape) of the item at ``where`` from metadata only; None when it is absent.
    Raises ValueError with words when something else is there (a group where a dataset belongs)."""
    if "/@" in where:
        owner, name = where.split("/@", 1)
        obj = _get(h5, owner or "/")
        if obj is None:
            return None
        if name not in obj.attrs:
            return None
        aid = obj.attrs.get_id(name)
        return aid.dtype, tuple(aid.shape) if aid.shape is not None else ()
    obj = _get(h5, where)
    if obj is None:
        return None
    if not isinstance(obj, h5py.Dataset):
        raise ValueError(f"must be a dataset, not a {type(obj).__name__.lower()}")
    return obj.dtype, tuple(obj.shape) if obj.shape is not None else ()


def _get(h5: h5py.File, where: str):
    try:
        return h5.get(where)
    except (KeyError, TypeError, ValueError, RuntimeError, OSError):  # a path through a dataset, a dangling link
        return None


def _kind_ok(dtype: np.dtype, kind: str) -> bool:
    if kind in ("string", "strings"):
        return dtype.kind in "SU" or h5py.check_string_dtype(dtype) is not None
    if kind == "real":
        return dtype.kind in "fiu"
    if kind == "integer":
        return dtype.kind in "iu"
    if kind == "flag":
        return dtype.kind in "biu"
    raise ValueError(f"unknown item kind {kind!r}")  # pragma: no cover - a schema bug


def _dtype_words(dtype: np.dtype) -> str:
    if dtype.kind in "SU" or h5py.check_string_dtype(dtype) is not None:
        return "strings"
    if dtype.kind == "V" and dtype.names:
        return "a compound type"
    return str(dtype)


def _shape_words(shape: tuple, dims: dict, origin: dict) -> str:
    """``(K, N) = (100, 64) (K from /frames/time)``: the wanted shape, its known values and where they came from."""
    names = ", ".join("any" if d is None else str(d) for d in shape)
    values = ", ".join(str(dims.get(d, d)) if isinstance(d, str) else ("any" if d is None else str(d)) for d in shape)
    comma = "," if len(shape) == 1 else ""
    known = [d for d in dict.fromkeys(shape) if isinstance(d, str) and d in dims]
    if not known:
        return f"({names}{comma})"
    return f"({names}{comma}) = ({values}{comma}) ({', '.join(f'{d} from {origin[d]}' for d in known)})"


class Dims(dict):
    """Named dimensions bound while checking (``{"K": 100, ...}``), with ``origin``: the item each came from."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.origin: dict[str, str] = {}


def check_items(h5: h5py.File, items, fail: Callable[[str, str | None], Exception], dims: Dims | None = None) -> Dims:
    """Check every item's presence, kind and shape; return the named dimensions (:class:`Dims`).

    ``fail(problem, where)`` builds the family's exception (it names the file).  ``dims``
    continues an earlier call's dimensions."""
    dims = Dims() if dims is None else dims
    origin = dims.origin
    for it in items:
        try:
            meta = item_meta(h5, it.where)
        except ValueError as exc:
            raise fail(str(exc), it.where) from None
        if meta is None:
            if it.required:
                raise fail(f"missing required {'attribute' if it.is_attribute else 'dataset'}", it.where)
            continue
        dtype, shape = meta
        scalar = it.shape == ()
        if scalar and int(np.prod(shape)) == 1:
            shape = ()
        one, many = KINDS[it.kind]
        if not _kind_ok(dtype, it.kind) or (it.kind == "string" and shape != ()):
            got = f"{_dtype_words(dtype)}" + (f" of shape {shape}" if shape != () else "")
            want = one if scalar or it.kind == "string" else many + (f" of shape {_shape_words(it.shape, dims, origin)}" if it.shape is not None else "")
            raise fail(f"must be {want}, got {got}", it.where)
        if it.shape is None:
            continue
        ok = len(shape) == len(it.shape)
        bound = {}
        if ok:
            for want, n in zip(it.shape, shape):
                if isinstance(want, int) and n != want:
                    ok = False
                elif isinstance(want, str):
                    if dims.get(want, bound.get(want, n)) != n:
                        ok = False
                    bound.setdefault(want, n)
        if not ok:
            what = "a single value" if scalar else f"shape {_shape_words(it.shape, dims, origin)}"
            raise fail(f"must have {what}, got shape {shape}", it.where)
        for d, n in bound.items():
            if d not in dims:
                dims[d], origin[d] = n, it.where
    return dims
