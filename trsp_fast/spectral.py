"""Circulant (FFT) linear algebra of translation-invariant fields on the periodic lattice.

K_ij = C(r_ij) depends only on the minimum-image offset between i and j, so K is a
(multilevel) circulant matrix: diagonalized by the d-dimensional DFT, with eigenvalues the
DFT of its first row.  This gives, in O(N log N) and without any N x N matrix:

* the positive-definiteness check (all eigenvalues > 0),
* the precision Lambda = K^-1 (inverse DFT of 1/eigenvalues), and a truncated precision,
* exact equilibrium samples S = mean + K^(1/2) xi, K^(1/2) the symmetric square root
  (circulant embedding, Kroese & Botev; the paper's Sec. VI "FFT-based technique").
"""

from __future__ import annotations

import numpy as np

__all__ = ["PD_RTOL", "eigenvalues", "first_row", "is_positive_definite", "symmetric_root_apply"]

#: a symmetric matrix counts as positive definite when its smallest eigenvalue exceeds
#: PD_RTOL times its largest (below that its inverse and factors carry no digits)
PD_RTOL = 1e-12


def eigenvalues(row: np.ndarray) -> np.ndarray:
    """Eigenvalues of the symmetric circulant with grid-shaped first row ``row``, as the
    half spectrum of a real FFT (each eigenvalue of the full spectrum appears in it, since
    the spectrum is even in the wave vector)."""
    return np.fft.rfftn(row).real


def first_row(eig: np.ndarray, grid) -> np.ndarray:
    """First row (grid-shaped) of the symmetric circulant with half-spectrum ``eig``."""
    return np.fft.irfftn(eig, s=grid, axes=tuple(range(len(grid))))


def is_positive_definite(eig: np.ndarray) -> bool:
    lo, hi = float(eig.min()), float(eig.max())
    return lo > 0.0 and lo > PD_RTOL * hi


def symmetric_root_apply(eig: np.ndarray, xi: np.ndarray) -> np.ndarray:
    """C^(1/2) xi for the PSD circulant C with half-spectrum ``eig``; xi grid-shaped.

    C^(1/2) = F^-1 diag(sqrt(eig)) F is real and symmetric (eig is even in the wave vector),
    so it maps real fields to real fields: a real FFT pair applies it exactly.
    """
    return np.fft.irfftn(np.sqrt(np.clip(eig, 0.0, None)) * np.fft.rfftn(xi), s=xi.shape, axes=tuple(range(xi.ndim)))
