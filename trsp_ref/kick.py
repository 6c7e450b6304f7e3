"""The kick: covariance K_Delta (Eq. 30) and a factor of it, drift matrix H (Eq. 19), noise factor K_Delta^(1/2).

When a cluster fires, dS ~ N(H (mu' - S), K_Delta) with H the principal solution of
K_Delta = (2 - H) H K' (Eq. 17), i.e. H = 1 - sqrt(1 - K_Delta K'^-1) (Eq. 19).
K_Delta K'^-1 is not symmetric; it is similar to the symmetric M = L^-1 K_Delta L^-T
(K' = L L^T) through K_Delta K'^-1 = L M L^-1, so any matrix function of it is
L f(M) L^-1 with f(M) from the eigendecomposition of M (docs/model.md).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.linalg

from .covariance import exponential_tail, kick_correlation
from .params import ParameterError, Params

__all__ = [
    "nearest_cluster_distance",
    "kick_amplitude",
    "kick_covariance",
    "kick_covariance_factor",
    "drift_matrix",
    "kick_noise_factor",
    "residual_eq17",
    "residual_B26",
    "largest_kick_eigenvalue",
]


def nearest_cluster_distance(dist: np.ndarray, sites: np.ndarray) -> np.ndarray:
    """rt_i: distance from each site i to the nearest site of the cluster (0 on the cluster) (Eq. 30's r-tilde)."""
    return dist[:, np.asarray(sites)].min(axis=1)


def kick_amplitude(p: Params, dist: np.ndarray, sites: np.ndarray, kick_radius: float = math.inf) -> np.ndarray:
    """sD(rt_i) for every site i (Eq. 30), 0 where rt_i > kick_radius.

    sD(0) = sigma0, sD(r>0) = sigma1 exp(-r/xi_sigma).
    """
    k = p.kick
    rt = nearest_cluster_distance(dist, sites)
    sigma = exponential_tail(rt, k.sigma0, k.sigma1, k.xi_sigma)
    return np.where(rt <= kick_radius, sigma, 0.0)


def kick_covariance(
    p: Params,
    dist: np.ndarray,
    sites: np.ndarray,
    kick_radius: float = math.inf,
    *,
    rho: np.ndarray | None = None,
) -> np.ndarray:
    """K_Delta(i, j) = f sD(rt_i) sD(rt_j) rho(r_ij) (Eq. 30), zero in every row and column of a site with rt > kick_radius.

    sD(0) = sigma0, sD(r>0) = sigma1 exp(-r/xi_sigma); rho(0) = 1, rho(r>0) = rho1 exp(-r/xi_rho);
    f = kick.facilitation.  A finite ``kick_radius`` gives the truncated kick of trsp_fast
    (docs/model.md, "Local kicks").  ``rho`` (kick_correlation(p)) may be passed.
    """
    if rho is None:
        rho = kick_correlation(p, dist)
    sigma = kick_amplitude(p, dist, sites, kick_radius)
    return p.kick.facilitation * np.outer(sigma, sigma) * rho


def kick_covariance_factor(
    p: Params,
    dist: np.ndarray,
    sites: np.ndarray,
    kick_radius: float = math.inf,
    *,
    rho_cholesky: np.ndarray | None = None,
) -> np.ndarray:
    """C with K_Delta = C C^T (Eq. 30): C = sqrt(f) diag(sD(rt)) chol(rho).

    K_Delta's noise factor is computed from C rather than from K_Delta itself
    (kick_noise_factor says why).  ``rho_cholesky`` (the lower Cholesky factor of rho) may be passed.
    """
    if rho_cholesky is None:
        rho_cholesky = np.linalg.cholesky(kick_correlation(p, dist))
    sigma = kick_amplitude(p, dist, sites, kick_radius)
    return math.sqrt(p.kick.facilitation) * sigma[:, None] * rho_cholesky


def _whitened(K_Delta: np.ndarray, K_prime: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(L, M): K' = L L^T (Cholesky) and the symmetric M = L^-1 K_Delta L^-T."""
    L = scipy.linalg.cholesky(K_prime, lower=True)
    X = scipy.linalg.solve_triangular(L, K_Delta, lower=True)  # L^-1 K_Delta
    M = scipy.linalg.solve_triangular(L, X.T, lower=True)  # L^-1 (L^-1 K_Delta)^T = L^-1 K_Delta L^-T
    return L, 0.5 * (M + M.T)


def largest_kick_eigenvalue(K_Delta: np.ndarray, K_prime: np.ndarray) -> float:
    """The largest eigenvalue of K_Delta K'^-1 (it must be < 1 for Eq. 19)."""
    return float(np.linalg.eigvalsh(_whitened(K_Delta, K_prime)[1])[-1])


def drift_matrix(K_Delta: np.ndarray, K_prime: np.ndarray) -> np.ndarray:
    """H = 1 - sqrt(1 - K_Delta K'^-1), principal root (Eq. 19), via the symmetric route.

    With K' = L L^T and M = L^-1 K_Delta L^-T = V diag(lam) V^T:
    H = L V diag(1 - sqrt(1 - lam)) V^T L^-1.

    Raises ParameterError('kick') when an eigenvalue of K_Delta K'^-1 is >= 1 (then no real
    H satisfies Eq. 17 with a principal root: the kick is larger than detailed balance allows).
    """
    L, M = _whitened(K_Delta, K_prime)
    lam, V = np.linalg.eigh(M)
    if not lam[-1] < 1.0:
        raise ParameterError(
            "kick",
            f"an eigenvalue of K_Delta K'^-1 is >= 1 (largest {lam[-1]:.6g}): the kick is larger than "
            "detailed balance allows (Eq. 19 needs all eigenvalues < 1); reduce kick.sigma0, "
            "kick.sigma1 or kick.facilitation",
        )
    # 1 - sqrt(1 - lam) written without cancellation for small lam (lam may be ~ -eps for a
    # singular K_Delta; the formula is smooth there)
    g = lam / (1.0 + np.sqrt(1.0 - lam))
    G = (V * g) @ V.T
    LG = L @ G
    # H = LG L^-1  <=>  H^T = L^-T (LG)^T: one triangular solve with the transpose of L
    H = scipy.linalg.solve_triangular(L, LG.T, lower=True, trans="T").T
    # A site whose K_Delta row vanishes (outside the kick window, or sD = 0) has a zero row
    # in K_Delta K'^-1 and so in every power series of it without constant term, H included;
    # set it exactly, so that such sites are exactly untouched by the kick.
    H[~K_Delta.any(axis=1), :] = 0.0
    return H


def kick_noise_factor(C: np.ndarray) -> np.ndarray:
    """K_Delta^(1/2), the symmetric positive semi-definite square root of K_Delta = C C^T
    (canonical draw, docs/model.md), given a factor C (kick_covariance_factor).

    It is the positive factor P of the left polar decomposition C = P U (P = (C C^T)^(1/2)).
    Why not eigh(K_Delta): the root is only Holder-1/2 continuous in K_Delta, so eigenvalues of
    K_Delta that rounding gets wrong by eps ||K_Delta|| put errors of sqrt(eps ||K_Delta||) ~ 1e-8
    into the root whenever K_Delta is near singular (sD spanning decades, a truncated kick).
    The polar factor is Lipschitz in C, so the root is as accurate as C: ~eps.
    Rows and columns where C vanishes are exactly 0.
    """
    _, root = scipy.linalg.polar(C, side="left")
    root = 0.5 * (root + root.T)
    # a zero row of C is a null vector of C C^T, hence a zero row/column of its root
    idle = ~C.any(axis=1)
    root[idle, :] = 0.0
    root[:, idle] = 0.0
    return root


def _frobenius(a: np.ndarray) -> float:
    return float(np.linalg.norm(a))


def residual_eq17(H: np.ndarray, K_Delta: np.ndarray, K_prime: np.ndarray) -> float:
    """||K_Delta - (2 - H) H K'||_F / ||K_Delta||_F, the relative residual of Eq. 17 (= B25)."""
    N = H.shape[0]
    residual = K_Delta - (2.0 * np.eye(N) - H) @ H @ K_prime
    scale = _frobenius(K_Delta)
    return _frobenius(residual) / scale if scale > 0 else _frobenius(residual)


def residual_B26(H: np.ndarray, K_Delta: np.ndarray, K_prime: np.ndarray) -> float:
    """Relative residual of Eq. B26, K_Delta^-1 - K'^-1 = (1 - H^T) K_Delta^-1 (1 - H), in Frobenius norm
    relative to ||K_Delta^-1||_F.  Needs K_Delta positive definite (B26 uses its inverse).
    """
    N = H.shape[0]
    I = np.eye(N)
    D_inv = np.linalg.inv(K_Delta)
    lhs = D_inv - np.linalg.inv(K_prime)
    rhs = (I - H.T) @ D_inv @ (I - H)
    return _frobenius(lhs - rhs) / _frobenius(D_inv)
