"""Equilibrium softness covariance K (Eq. 29) and kick correlation rho (Eq. 30), dense.

Both are functions of the minimum-image distance with a value at r = 0 and an
exponential tail for r > 0.  Both must be positive definite on the lattice; that is a
lattice-level condition (an exponential tail with a large prefactor, or a periodic
box comparable to the decay length, breaks it), checked here with the smallest
eigenvalue reported in the error.
"""

from __future__ import annotations

import numpy as np

from .lattice import distance_matrix
from .params import ParameterError, Params

__all__ = [
    "softness_covariance",
    "kick_correlation",
    "exponential_tail",
    "check_positive_definite",
    "PD_RTOL",
]

#: a symmetric matrix counts as positive definite when its smallest eigenvalue exceeds
#: PD_RTOL times its largest: below that, Cholesky factors and inverses lose all digits.
PD_RTOL = 1e-12


def exponential_tail(dist: np.ndarray, at_zero: float, amplitude: float, length: float) -> np.ndarray:
    """``at_zero`` where dist == 0, ``amplitude * exp(-dist/length)`` elsewhere (the form of Eq. 29)."""
    return np.where(dist == 0.0, at_zero, amplitude * np.exp(-dist / length))


def check_positive_definite(matrix: np.ndarray, parameter: str, what: str, hint: str) -> None:
    """Raise ParameterError(parameter, ...) unless the symmetric ``matrix`` is positive definite."""
    eig = np.linalg.eigvalsh(matrix)
    lo, hi = float(eig[0]), float(eig[-1])
    if not (lo > PD_RTOL * max(hi, 0.0) and lo > 0.0):
        raise ParameterError(
            parameter,
            f"{what} is not positive definite on the lattice: smallest eigenvalue {lo:.6g} "
            f"(largest {hi:.6g}); {hint}",
        )


def softness_covariance(p: Params, dist: np.ndarray | None = None) -> np.ndarray:
    """K, the equilibrium covariance of S (Eq. 29): K_ij = C(r_ij), C(0) = variance, C(r>0) = C1 exp(-r/xi).

    ``dist`` (the distance matrix) may be passed to avoid recomputing it.
    Raises ParameterError('softness.C1') when K is not positive definite.
    """
    if dist is None:
        dist = distance_matrix(p.lattice)
    s = p.softness
    K = exponential_tail(dist, s.variance, s.C1, s.xi)
    check_positive_definite(
        K,
        "softness.C1",
        "K (Eq. 29)",
        f"reduce |softness.C1| (= {s.C1}) relative to softness.variance (= {s.variance}), "
        f"or reduce softness.xi (= {s.xi}) relative to the box (L = {p.lattice.L})",
    )
    return K


def kick_correlation(p: Params, dist: np.ndarray | None = None) -> np.ndarray:
    """rho, the correlation of the kick (Eq. 30): rho(0) = 1, rho(r>0) = rho1 exp(-r/xi_rho).

    Raises ParameterError('kick.rho1') when rho is not positive definite.
    """
    if dist is None:
        dist = distance_matrix(p.lattice)
    k = p.kick
    rho = exponential_tail(dist, 1.0, k.rho1, k.xi_rho)
    check_positive_definite(
        rho,
        "kick.rho1",
        "the kick correlation rho (Eq. 30)",
        f"reduce |kick.rho1| (= {k.rho1}) below 1 or reduce kick.xi_rho (= {k.xi_rho})",
    )
    return rho
