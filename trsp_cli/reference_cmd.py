"""``trsp reference PARAMS.toml --out FILE.json``: write the oracle's conformance vectors.

The vectors (docs/formats-conformance.md) come from :func:`trsp_ref.conformance.reference_vectors`.
The output is checked before any computing (a folder that is missing, not a folder or not
writable; an existing file, replaced only with ``force``) and written atomically with
:func:`trsp_runfile.atomic.write_text_atomic`, so a reader never sees a half-written file.
"""

from __future__ import annotations

from pathlib import Path

from trsp_ref.conformance import dumps_vectors, reference_vectors
from trsp_ref.params import ParameterError, Params, load_params
from trsp_runfile.atomic import unwritable_reason, write_text_atomic

__all__ = ["run_reference"]


def run_reference(params_path: Path | None, out: Path, force: bool = False) -> None:
    """Load the parameter file (None: the built-in defaults, ``Params()``), compute the vectors, write ``out`` atomically.

    Raises ParameterError for an invalid parameter set, an unwritable output path or an
    existing ``out`` without ``force`` (nothing is written then, and nothing is computed).
    """
    out = Path(out)
    p = Params() if params_path is None else load_params(params_path)
    reason = unwritable_reason(out)
    if reason is not None:
        raise ParameterError("--out", reason)
    if out.exists() and not force:
        raise ParameterError("--out", f"{out} already exists: pass --force to replace it")
    text = dumps_vectors(reference_vectors(p))
    try:
        write_text_atomic(out, text)
    except OSError as exc:  # e.g. the disk filled: the previous file, if any, is untouched
        raise ParameterError("--out", f"cannot write {out}: {exc.strerror or exc}") from None
