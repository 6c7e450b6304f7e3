"""The truncated precision of a declared truncated model (docs/fast.md), as one pure rule.

K is translation invariant on the periodic lattice, so its precision Lambda = K^-1 is a
circulant: one row ``lam_row`` (Lambda_{0j}) indexed like ``dist_row`` (|r_0 - r_j|, minimum
image) determines it.  A truncation *scheme* maps that row to the row of the truncated
precision Lambda_t; K_t = Lambda_t^-1 is the truncated model's equilibrium covariance.

Every consumer that needs the truncated model calls :func:`truncated_precision_row`: the
dense oracle (``ReferenceModel(precision_radius=...)``, which reads ``lam_row`` off its dense
inverse) and the verifier's large-lattice model side (which gets ``lam_row`` from an FFT).
``trsp_fast`` implements its schemes on its own (independence rule) and is checked against
the oracle.

Schemes
-------
``"cut"``  (run-file format 1.0): Lambda_t,0j = Lambda_0j for |r_0 - r_j| <= radius, else 0.
"""

from __future__ import annotations

import numpy as np

from .params import ParameterError

__all__ = ["SCHEMES", "truncated_precision_row"]

#: the truncation schemes a run file may declare (``/truncation`` attribute ``scheme``)
SCHEMES = ("cut",)


def truncated_precision_row(lam_row: np.ndarray, dist_row: np.ndarray, radius: float, scheme: str = "cut") -> np.ndarray:
    """Row 0 of the truncated precision Lambda_t for ``scheme`` at ``radius``.

    Positive definiteness of the result is the caller's check (it needs the whole spectrum:
    dense eigvalsh in the oracle, the FFT of the row on large lattices).
    """
    lam_row = np.asarray(lam_row, dtype=float)
    dist_row = np.asarray(dist_row, dtype=float)
    if scheme == "cut":
        return np.where(dist_row <= radius, lam_row, 0.0)
    raise ParameterError("truncation.scheme", f"must be one of {', '.join(SCHEMES)}", scheme)
