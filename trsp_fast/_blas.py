"""Run a block of code with single-threaded OpenBLAS (best effort, restored afterwards).

The model build does many small dense factorizations (the symmetry blocks are a few hundred
rows at most).  Multi-threaded OpenBLAS gains nothing there and, on a machine whose cores
are busy, loses up to 100x to thread contention (measured: a 348 x 348 eigh took 3 s with
2 threads on a loaded 2-core box, 17 ms with one).  This is the small part of what
threadpoolctl does, without the dependency: find the loaded OpenBLAS libraries and call
their ``*_set_num_threads``.  Where none is found it does nothing.
"""

from __future__ import annotations

import ctypes
from contextlib import contextmanager
from typing import Iterator

__all__ = ["single_threaded_blas"]

_SYMBOLS = (
    ("scipy_openblas_set_num_threads64_", "scipy_openblas_get_num_threads64_"),
    ("scipy_openblas_set_num_threads", "scipy_openblas_get_num_threads"),
    ("openblas_set_num_threads64_", "openblas_get_num_threads64_"),
    ("openblas_set_num_threads", "openblas_get_num_threads"),
)
_controls: list | None = None


def _find() -> list:
    global _controls
    if _controls is not None:
        return _controls
    found, seen = [], set()
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "openblas" in line.lower() and ".so" in line}
    except OSError:  # not Linux
        paths = set()
    for path in sorted(paths):
        if not path.startswith("/"):
            continue
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for set_name, get_name in _SYMBOLS:
            if hasattr(lib, set_name) and hasattr(lib, get_name):
                setter, getter = getattr(lib, set_name), getattr(lib, get_name)
                key = ctypes.cast(setter, ctypes.c_void_p).value
                if key not in seen:
                    seen.add(key)
                    setter.argtypes, getter.restype = [ctypes.c_int], ctypes.c_int
                    found.append((setter, getter))
                break
    _controls = found
    return found


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    controls = _find()
    previous = []
    for setter, getter in controls:
        try:
            previous.append((setter, int(getter())))
            setter(1)
        except Exception:  # pragma: no cover - a library that refuses: leave it
            pass
    try:
        yield
    finally:
        for setter, n in previous:
            setter(n)
