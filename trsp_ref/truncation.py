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

``"row_sum"`` (format 1.1, trsp_fast's default): the cut, then the sum of the neglected entries
    added uniformly to every entry of the outermost kept distance shell (the sites at the
    largest kept distance d_max, within a relative 1e-9 of it).  The row sum, i.e. the q = 0
    eigenvalue of the circulant, is then exactly Lambda's, so K_t(q = 0) = K(q = 0): the
    variance of the box-averaged softness is exact, which a plain cut changes by about
    K(0)/variance times the neglected sum (proofs/truncation_row_sum.py; docs/fast.md has the
    error table).  The correction sits where the cut already changed Lambda (at distance
    ~radius), so the entrywise error of K_t stays of the cut's size.
"""

from __future__ import annotations

import numpy as np

from .params import ParameterError

__all__ = ["SCHEMES", "check_scheme", "truncated_precision_row"]

#: the truncation schemes a run file may declare (``/truncation`` attribute ``scheme``)
SCHEMES = ("cut", "row_sum")

#: sites whose distance is within this relative amount of the outermost kept distance form its shell
SHELL_RTOL = 1e-9


def check_scheme(scheme) -> str:
    """``scheme`` if it names a truncation scheme, else ParameterError('truncation.scheme')."""
    if not isinstance(scheme, str) or scheme not in SCHEMES:
        raise ParameterError("truncation.scheme", f"must be one of {', '.join(SCHEMES)}", scheme)
    return scheme


def truncated_precision_row(lam_row: np.ndarray, dist_row: np.ndarray, radius: float, scheme: str = "cut") -> np.ndarray:
    """Row 0 of the truncated precision Lambda_t for ``scheme`` at ``radius``.

    Positive definiteness of the result is the caller's check (it needs the whole spectrum:
    dense eigvalsh in the oracle, the FFT of the row on large lattices).
    """
    check_scheme(scheme)
    lam_row = np.asarray(lam_row, dtype=float)
    dist_row = np.asarray(dist_row, dtype=float)
    kept = dist_row <= radius
    if scheme == "cut":
        return np.where(kept, lam_row, 0.0)
    if scheme == "row_sum":
        out = np.where(kept, lam_row, 0.0)
        if kept.all():
            return out
        d_max = float(dist_row[kept].max())
        shell = kept & (dist_row >= d_max * (1.0 - SHELL_RTOL))
        out[shell] += lam_row[~kept].sum() / np.count_nonzero(shell)
        return out
    raise AssertionError(scheme)  # pragma: no cover (check_scheme lists every scheme)
