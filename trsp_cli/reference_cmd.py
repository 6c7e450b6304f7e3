"""``trsp reference PARAMS.toml --out FILE.json``: write the oracle's conformance vectors.

The vectors (docs/formats-conformance.md) come from :func:`trsp_ref.conformance.reference_vectors`.
The output follows the one output policy (:mod:`trsp_runfile.outputs`): checked before any
computing (a folder that is missing, not a folder or not writable; the parameter file itself;
an existing file, replaced only with ``force``) and written atomically, so a reader never sees
a half-written file.
"""

from __future__ import annotations

from pathlib import Path

from trsp_ref.conformance import dumps_vectors, reference_vectors
from trsp_ref.params import Params, load_params
from trsp_runfile.outputs import Output, OutputSet

__all__ = ["run_reference"]


def run_reference(params_path: Path | None, out: Path, force: bool = False) -> None:
    """Load the parameter file (None: the built-in defaults, ``Params()``), compute the vectors, write ``out`` atomically.

    Raises ParameterError for an invalid parameter set, an unwritable output path or an
    existing ``out`` without ``force`` (nothing is written then, and nothing is computed).
    """
    p = Params() if params_path is None else load_params(params_path)
    outputs = OutputSet([Output("--out", out)], inputs=[params_path], force=force)
    text = dumps_vectors(reference_vectors(p))
    with outputs.writing() as w:  # e.g. the disk filled: the previous file, if any, is untouched
        w.path("--out").write_text(text, encoding="utf-8", newline="\n")
