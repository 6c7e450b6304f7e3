"""What ``trsp fit`` measures about the kick, and how it relates to K_Delta (Sec. V, Eq. 30, App. E).

One rearrangement of cluster R.  Just before it, S ~ N(mu', K') (the softness conditioned on R
firing, Eqs. 24-26); the kick is dS = H (mu' - S) + xi with xi ~ N(0, K_Delta) independent of S
(Eqs. 15-19).  Then, for any H:

- Cov(dS, S) = -H K' and Var(dS) = K_Delta + H K' H^T: the variance of dS at distance r from the
  rearrangement -- what Sec. V measures as sigma_Delta(r)^2 -- is K_Delta(r, r) *plus* the variance
  of the drift over the conditional distribution of S (:func:`kick_moments`).
- Regressing dS on S (all of it) gives the coefficient -H and the residual covariance K_Delta
  exactly (:func:`regression_on_state`).  ``trsp fit`` regresses dS_j on a few summaries of the
  softness near j and near the rearrangement (trsp_fit.statistics.FEATURES): the residual is
  K_Delta(j, j) plus the part of the drift those summaries miss (tests/test_proofs_fit.py
  measures it with the oracle's K', H: below 0.2% of K_Delta for the round-trip sets).
- Regressing on S_j alone (the paper's Var[dS] at fixed S, Fig. 3a) leaves
  (H K' H^T)_jj - (H K')_jj^2 / K'_jj >= 0 (Cauchy-Schwarz) in the residual
  (:func:`own_site_excess`); not regressing at all leaves (H K' H^T)_jj.
- With time reversibility, (1 - H) K' (1 - H)^T + K_Delta = K' (Eq. 17), Var(dS) = H K' + K' H^T.
  One site (N = 1) with H = eta: K_Delta = K' eta (2 - eta), Eq. 18 with sigma^2 = K'
  (:func:`one_site_eq18`).

Background (Appendix E, generalised to covariances): a rearrangement's residual noise (covariance
C1) followed by a background kick with a local drift eta2 (the uncorrelated picture, H2 = eta2 1)
and noise covariance C2 leaves the residual covariance (1 - eta2)^2 C1 + C2.  With Eq. 18 for the
background, sigma_R2^2 = sigma^2 eta2 (2 - eta2), (1 - eta2)^2 = 1 - sigma_R2^2 / sigma^2, so

    C1 = (C_measured - C2) / (1 - sigma_R2^2 / sigma^2),

which on the diagonal is Eq. E2 solved for sigma_R1^2 (background_subtraction.subtract_background)
and off it gives the same rule for the covariances behind rho(r) (:func:`background_covariance`).
"""

from __future__ import annotations

import sympy as sp

__all__ = ["kick_moments", "regression_on_state", "own_site_excess", "one_site_eq18", "background_covariance"]


def _sym(name: str, n: int = 2) -> sp.Matrix:
    return sp.Matrix(n, n, lambda i, j: sp.Symbol(f"{name}_{min(i, j)}{max(i, j)}", real=True))


def _general(name: str, n: int = 2) -> sp.Matrix:
    return sp.Matrix(n, n, lambda i, j: sp.Symbol(f"{name}_{i}{j}", real=True))


def kick_moments(n: int = 2) -> dict:
    """Cov(dS, S) and Var(dS) for S ~ N(mu', K'), dS = H (mu' - S) + xi; differences from -H K' and
    K_Delta + H K' H^T (must vanish), computed from the joint linear map (S, xi) -> dS."""
    Kp, KD, H = _sym("Kp", n), _sym("KD", n), _general("H", n)
    # dS - E dS = -H (S - mu') + xi: a linear map of the independent (S - mu', xi)
    M = sp.Matrix.hstack(-H, sp.eye(n))
    joint = sp.diag(Kp, KD)
    var_dS = M * joint * M.T
    cov_dS_S = M * joint * sp.Matrix.vstack(sp.eye(n), sp.zeros(n, n))
    eq17 = Kp - (sp.eye(n) - H) * Kp * (sp.eye(n) - H).T  # K_Delta from Eq. 17
    return {
        "cov_residual": sp.simplify(cov_dS_S + H * Kp),
        "var_residual": sp.simplify(var_dS - (KD + H * Kp * H.T)),
        "var_with_eq17": sp.simplify(var_dS.subs(dict(zip(KD, eq17))) - (H * Kp + Kp * H.T)),
        "var_dS": var_dS,
    }


def regression_on_state(n: int = 2) -> dict:
    """Least squares of dS on S (population): coefficient B = Cov(dS, S) K'^-1 and residual
    covariance Var(dS) - B K' B^T; differences from -H and K_Delta (must vanish)."""
    Kp, KD, H = _sym("Kp", n), _sym("KD", n), _general("H", n)
    var_dS = KD + H * Kp * H.T
    cov = -H * Kp
    B = cov * Kp.inv()
    residual = var_dS - B * Kp * B.T
    return {"coefficient_residual": sp.simplify(B + H), "residual_minus_K_Delta": sp.simplify(residual - KD)}


def own_site_excess(n: int = 2) -> dict:
    """Regressing dS_0 on S_0 only: residual variance minus K_Delta_00 equals
    (H K' H^T)_00 - (H K')_00^2 / K'_00 (``excess``); ``check`` must vanish.  ``no_regression``:
    Var(dS_0) - K_Delta_00 = (H K' H^T)_00."""
    Kp, KD, H = _sym("Kp", n), _sym("KD", n), _general("H", n)
    var_dS = KD + H * Kp * H.T
    cov = -H * Kp
    resid = var_dS[0, 0] - cov[0, 0] ** 2 / Kp[0, 0]
    excess = (H * Kp * H.T)[0, 0] - (H * Kp)[0, 0] ** 2 / Kp[0, 0]
    return {"excess": excess, "check": sp.simplify(resid - KD[0, 0] - excess),
            "no_regression": sp.simplify(var_dS[0, 0] - KD[0, 0] - (H * Kp * H.T)[0, 0])}


def one_site_eq18() -> dict:
    """N = 1: reversibility (1 - eta)^2 K' + K_Delta = K' gives K_Delta = K' eta (2 - eta) (Eq. 18),
    and Var(dS) = 2 eta K' (= H K' + K' H^T)."""
    eta, Kp = sp.symbols("eta Kp", positive=True)
    KD = sp.solve(sp.Eq((1 - eta) ** 2 * Kp + sp.Symbol("KD"), Kp), sp.Symbol("KD"))[0]
    return {"K_Delta_minus_eq18": sp.simplify(KD - Kp * eta * (2 - eta)),
            "var_dS_minus_2etaK": sp.simplify(KD + eta**2 * Kp - 2 * eta * Kp)}


def background_covariance(n: int = 2) -> dict:
    """Rearrangement noise (covariance C1) then a background kick dS2 = eta2 (a - S1) + xi2 (cov C2):
    the residual covariance of the total change given S is (1 - eta2)^2 C1 + C2 (``composite_residual``
    must vanish); with Eq. 18 for the background the subtraction rule recovers C1 (``recovered_residual``)
    and its diagonal is E2 solved for sigma_R1^2 (``diagonal_is_E2``)."""
    C1, C2 = _sym("C1", n), _sym("C2", n)
    eta2, sigma2 = sp.symbols("eta2 sigma2", positive=True)
    # given S, the noise part of S2 - S: (1 - eta2) xi1 + xi2
    composite = (1 - eta2) ** 2 * C1 + C2
    direct = sp.diag(*([1 - eta2] * n)) * C1 * sp.diag(*([1 - eta2] * n)) + C2
    on18 = {C2[0, 0]: sigma2 * eta2 * (2 - eta2)}
    vR2 = C2[0, 0]
    recovered = (composite - C2) / (1 - vR2 / sigma2)
    from .background_subtraction import subtract_background

    e2 = subtract_background()["sigma_R1sq"]
    sd2, v2, s2 = sp.symbols("sigma_Delta_sq sigma_R2sq sigma2", positive=True)
    diag_rule = ((composite[0, 0] - C2[0, 0]) / (1 - vR2 / sigma2))
    return {
        "composite_residual": sp.simplify(direct - composite),
        "recovered_residual": sp.simplify((recovered - C1).subs(on18)),
        "diagonal_is_E2": sp.simplify(diag_rule - e2.subs({sd2: composite[0, 0], v2: vR2, s2: sigma2})),
    }
