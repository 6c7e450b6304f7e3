"""Eq. 18, sigma_Delta^2 = sigma^2 eta (2 - eta): Eq. 17 without spatial correlations.

With H = diag(eta_i), K_Delta = diag(sigma_Delta,i^2) and K' diagonal, Eq. 17 reads
sigma_Delta,i^2 = (2 - eta_i) eta_i K'_ii entry by entry (:func:`diagonal_eq17`).  So the
paper's sigma^2 in Eq. 18 is K'_ii, the variance of S_i *given that the rearrangement
happened*, not the equilibrium variance K_ii.

For an uncorrelated field K = sigma^2 1 (:func:`conditioned_variances`), Sherman-Morrison
(proofs.bayes_conditioning) gives K'_ii = sigma^2 away from the rearranging site(s), so
Eq. 18 holds there with the equilibrium sigma^2; at a single rearranging site
K'_00 = sigma^2 / (1 + 2 delta sigma^2) (smaller for delta > 0), and for an m-site cluster
K' is not even diagonal on the cluster (the sites are coupled through <S>_R).  The bound
"the variance of dS for the rearranging particle must not exceed sigma^2" (end of Sec. III)
is therefore sigma_Delta(0)^2 <= sigma^2 / (1 + 2 delta sigma^2) (ERRATA E4, a clarification).
"""

from __future__ import annotations

import sympy as sp

from .bayes_conditioning import sherman_morrison

__all__ = ["diagonal_eq17", "conditioned_variances", "eq18_inverse"]


def diagonal_eq17(n: int = 3) -> dict:
    """Eq. 17 with diagonal H, K' (n sites): returns ``residual`` = (2 - H) H K' - diag(K'_ii eta_i (2 - eta_i)),
    which must vanish, and ``offdiagonal`` = the off-diagonal part of (2 - H) H K' (zero: K_Delta
    is diagonal too, consistent with the uncorrelated model)."""
    eta = sp.symbols(f"eta0:{n}", real=True)
    kp = sp.symbols(f"Kp0:{n}", positive=True)
    H = sp.diag(*eta)
    K_prime = sp.diag(*kp)
    K_delta = (2 * sp.eye(n) - H) * H * K_prime
    eq18 = sp.diag(*[kp[i] * eta[i] * (2 - eta[i]) for i in range(n)])
    offdiagonal = K_delta - sp.diag(*[K_delta[i, i] for i in range(n)])
    return {"residual": sp.expand(K_delta - eq18), "offdiagonal": offdiagonal}


def conditioned_variances(n: int = 4, m: int = 1) -> dict:
    """K' for K = sigma^2 1 and a cluster of the first m sites with the bare delta0 (m = 1: the
    single site of Eqs. 6-9, delta0 = delta).

    - ``away``: K'_ii - sigma^2 for a site off the cluster: 0.
    - ``on_cluster``: K'_00 - sigma^2 (1 - 2 delta0 sigma^2 / (m (m + 2 delta0 sigma^2))): 0
      (for m = 1: K'_00 = sigma^2 / (1 + 2 delta0 sigma^2)).
    - ``on_cluster_minus_sigma2``: K'_00 - sigma^2: non-zero for delta0 != 0.
    - ``offdiagonal_on_cluster``: K'_01 (m >= 2): -2 delta0 sigma^4 / (m (m + 2 delta0 sigma^2)), non-zero.
    - ``offdiagonal_off_cluster``: K'_{i j} for i off the cluster, j != i: 0.
    """
    sigma2 = sp.Symbol("sigma2", positive=True)
    delta0 = sp.Symbol("delta0", positive=True)
    K = sigma2 * sp.eye(n)
    w = sp.Matrix(n, 1, lambda i, _: sp.Rational(1, m) if i < m else 0)
    K_prime = sherman_morrison(K, w, 2 * delta0)
    off = n - 1
    assert off >= m, "need a site off the cluster"
    out = {
        "away": sp.simplify(K_prime[off, off] - sigma2),
        "on_cluster": sp.simplify(K_prime[0, 0] - sigma2 * (1 - 2 * delta0 * sigma2 / (m * (m + 2 * delta0 * sigma2)))),
        "on_cluster_minus_sigma2": sp.simplify(K_prime[0, 0] - sigma2),
        "offdiagonal_off_cluster": [sp.simplify(K_prime[off, j]) for j in range(n) if j != off],
    }
    if m == 1:
        out["single_site"] = sp.simplify(K_prime[0, 0] - sigma2 / (1 + 2 * delta0 * sigma2))
    if m >= 2:
        out["offdiagonal_on_cluster"] = sp.simplify(K_prime[0, 1])
        out["offdiagonal_on_cluster_expected"] = -2 * delta0 * sigma2**2 / (m * (m + 2 * delta0 * sigma2))
    return out


def eq18_inverse() -> dict:
    """eta = 1 - sqrt(1 - sigma_Delta^2 / sigma^2) (Eq. 19 in one dimension) solves Eq. 18, and
    lies in [0, 1) for 0 <= sigma_Delta^2 < sigma^2.  With sigma_Delta^2 = sigma^2 (1 - s^2),
    s in (0, 1]: ``residual`` (must vanish) and ``eta`` = 1 - s."""
    sigma2 = sp.Symbol("sigma2", positive=True)
    s = sp.Symbol("s", positive=True)
    sigma_delta2 = sigma2 * (1 - s**2)
    eta = 1 - sp.sqrt(1 - sigma_delta2 / sigma2)
    return {"residual": sp.simplify(sigma2 * eta * (2 - eta) - sigma_delta2), "eta": sp.simplify(eta), "s": s}
