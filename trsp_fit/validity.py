"""Is the fitted parameter set a valid model on the lattice it is written for?

``params_from_dict`` checks each value's range, but K (Eq. 29) and rho (Eq. 30) must also be positive
definite on the written lattice, a lattice-level condition (trsp_ref.covariance): a fitted C1 larger
than the variance allows, as MD data can give, makes a set that ``trsp simulate`` and the oracle
refuse.  The fit says so (a warning and ``report.model_check``) instead of leaving it to the next
command.

Both matrices are translation invariant on the periodic lattice (their entries depend on the
minimum-image distance only), so they are circulant: their eigenvalues are the discrete Fourier
transform of one row, exact and O(N log N) at any lattice size (a dense eigensolver would need N^2
memory at L = 20 in 3D).
"""

from __future__ import annotations

import numpy as np

from trsp_ref.params import Params

__all__ = ["circulant_eigenvalues", "model_check"]


def _row_distances(dim: int, L: int, spacing: float) -> np.ndarray:
    """Minimum-image distance of every site from site 0, shaped (L,) * dim."""
    k = np.arange(L)
    d1 = np.minimum(k, L - k) * spacing
    grids = np.meshgrid(*([d1] * dim), indexing="ij")
    return np.sqrt(sum(g**2 for g in grids))


def circulant_eigenvalues(dim: int, L: int, spacing: float, at_zero: float, amplitude: float, length: float) -> np.ndarray:
    """Eigenvalues of the matrix M_ij = at_zero (r_ij = 0), amplitude exp(-r_ij / length) (r_ij > 0) on
    the periodic lattice (the form of Eqs. 29 and 30): the DFT of its first row (real: the row is
    symmetric under k -> -k)."""
    r = _row_distances(dim, L, spacing)
    row = np.where(r == 0.0, at_zero, amplitude * np.exp(-r / length))
    return np.fft.fftn(row).real.ravel()


def model_check(p: Params) -> dict:
    """Smallest and largest eigenvalue of K and of rho on ``p``'s lattice, and whether each is
    positive definite (smallest eigenvalue > 1e-12 x largest, trsp_ref.covariance's rule)."""
    lat, s, k = p.lattice, p.softness, p.kick
    out = {"lattice": {"dim": lat.dim, "L": lat.L, "spacing": lat.spacing}}
    for name, args in (("K", (s.variance, s.C1, s.xi)), ("rho", (1.0, k.rho1, k.xi_rho))):
        eig = circulant_eigenvalues(lat.dim, lat.L, lat.spacing, *args)
        lo, hi = float(eig.min()), float(eig.max())
        out[name] = {"smallest_eigenvalue": lo, "largest_eigenvalue": hi, "positive_definite": bool(lo > 0.0 and lo > 1e-12 * hi)}
    return out
