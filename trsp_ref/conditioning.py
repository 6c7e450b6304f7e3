"""P(S | cluster R fires): the tilted Gaussian N(mu', K') (Eqs. 24-26, derived with the bare law).

P(S | R) is proportional to P0(w^T S) P(S) with w = 1/m on the cluster's sites
(Appendix B with the unit vector replaced by w) and the bare law P0 (ERRATA: Eqs. 24-26
must use gamma0, delta0, since that is the law the clusters fire with).  Completing the
square in -1/2 (S-mean)^T K^-1 (S-mean) + gamma0 w^T S - delta0 (w^T S)^2 gives

    K'^-1 = K^-1 + 2 delta0 w w^T,     mu' = mean + (gamma0 - 2 delta0 mean) K' w.

The oracle evaluates K' as the dense inverse of that precision, on purpose *not* with the
Sherman-Morrison form of Eq. 24 that proofs/ derives, so that the two are independent.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

from .params import ParameterError

__all__ = ["cluster_weights", "conditioned_on_cluster", "inverse_spd"]


def cluster_weights(N: int, sites: np.ndarray) -> np.ndarray:
    """w: 1/m on the cluster's m sites, 0 elsewhere, so that w^T S = <S>_R."""
    sites = np.asarray(sites)
    w = np.zeros(N)
    w[sites] = 1.0 / len(sites)
    return w


def inverse_spd(A: np.ndarray) -> np.ndarray:
    """Inverse of a symmetric positive definite matrix (Cholesky), symmetrized."""
    factor = scipy.linalg.cho_factor(A, lower=True)
    inv = scipy.linalg.cho_solve(factor, np.eye(A.shape[0]))
    return 0.5 * (inv + inv.T)


def conditioned_on_cluster(
    K: np.ndarray,
    mean: float,
    sites: np.ndarray,
    gamma0: float,
    delta0: float,
    *,
    K_inv: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(mu', K') of P(S | cluster ``sites`` fires) (Eqs. 24-26 derived; ERRATA).

    K' = inv(inv(K) + 2 delta0 w w^T) by dense inversion; mu' = mean + (gamma0 - 2 delta0 mean) K' w.
    ``K_inv`` (= inv(K)) may be passed to save one inversion.

    Raises ParameterError('rates.delta') when 1 + 2 delta0 w^T K w <= 0, i.e. the tilted
    density is not normalizable (possible for delta0 < 0).
    """
    N = K.shape[0]
    w = cluster_weights(N, sites)
    stiffness = 1.0 + 2.0 * delta0 * float(w @ K @ w)
    if not stiffness > 0.0:
        raise ParameterError(
            "rates.delta",
            f"1 + 2 delta0 w^T K w = {stiffness:.6g} <= 0: P(S | cluster fires) is not normalizable "
            f"(bare delta0 = {delta0:.6g}); increase rates.delta",
        )
    if K_inv is None:
        K_inv = inverse_spd(K)
    precision = K_inv + 2.0 * delta0 * np.outer(w, w)
    try:
        K_prime = inverse_spd(precision)
        scipy.linalg.cholesky(K_prime, lower=True)  # K' itself must factor (the kick needs it)
    except np.linalg.LinAlgError:
        # only when 1 + 2 delta0 w^T K w is positive but lost in rounding
        raise ParameterError(
            "rates.delta",
            f"K' = inv(inv(K) + 2 delta0 w w^T) is not numerically positive definite "
            f"(1 + 2 delta0 w^T K w = {stiffness:.6g}, delta0 = {delta0:.6g}); increase rates.delta",
        ) from None
    mu_prime = mean + (gamma0 - 2.0 * delta0 * mean) * (K_prime @ w)
    return mu_prime, K_prime
