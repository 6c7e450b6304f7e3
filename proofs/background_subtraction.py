"""Appendix E, Eqs. E1-E2: composing two uncorrelated kicks (background subtraction).

One site, target a (= mu' away from the rearrangement), two successive kicks, each of the
uncorrelated form of Eq. 10 with Eq. 18's variance:

    S1 = S + eta1 (a - S) + sigma_R1 xi1,     S2 = S1 + eta2 (a - S1) + sigma_R2 xi2.

Doing the integral over S1 (as Appendix E says) gives S2 | S Gaussian with

    mean  S + eta (a - S),  eta = 1 - (1 - eta1)(1 - eta2) = eta1 + eta2 - eta1 eta2      (E1)
    variance (1 - eta2)^2 sigma_R1^2 + sigma_R2^2,

which equals sigma_R1^2 + sigma_R2^2 - sigma_R1^2 sigma_R2^2 / sigma^2 (E2) exactly when the
*second* kick obeys Eq. 18 (sigma_R2^2 = sigma^2 eta2 (2 - eta2)); if both obey Eq. 18 the
composite obeys Eq. 18 with the composite eta, and E2 is symmetric in 1 <-> 2.  Without
Eq. 18 the composite variance depends on the order of the kicks (Appendix C's remark).
The naive sums eta1 + eta2, sigma_R1^2 + sigma_R2^2 (first paragraph of Appendix E) are wrong.
"""

from __future__ import annotations

import sympy as sp

from .gaussian import exp_quadratic_integral, quadratic_coefficients

__all__ = ["composite_kick", "background_identities", "subtract_background"]


def _symbols():
    S, S1, S2, a = sp.symbols("S S1 S2 a", real=True)
    eta1, eta2 = sp.symbols("eta1 eta2", real=True)
    v1, v2, sigma2 = sp.symbols("sigma_R1sq sigma_R2sq sigma2", positive=True)
    return S, S1, S2, a, eta1, eta2, v1, v2, sigma2


def composite_kick() -> dict:
    """P(S2 | S) = integral over S1 of N(S1; S + eta1 (a - S), v1) N(S2; S1 + eta2 (a - S1), v2).

    Returns the composite ``eta`` (from the mean's S-coefficient: mean = (1 - eta) S + eta a),
    ``variance`` (from the S2^2 coefficient of the log density), and ``mean_residual`` =
    mean - (S + eta (a - S)), which must vanish (the target stays a)."""
    S, S1, S2, a, eta1, eta2, v1, v2, _ = _symbols()
    exponent = -((S1 - S - eta1 * (a - S)) ** 2) / (2 * v1) - ((S2 - S1 - eta2 * (a - S1)) ** 2) / (2 * v2)
    density = exp_quadratic_integral(exponent, S1) / (2 * sp.pi * sp.sqrt(v1 * v2))
    log_density = sp.expand_log(sp.log(density), force=True)
    c0, c1, c2 = quadratic_coefficients(log_density, S2)
    variance = sp.simplify(-1 / (2 * c2))
    mean = sp.simplify(c1 * variance)
    eta = sp.simplify(1 - sp.diff(mean, S))
    return {
        "eta": eta,
        "variance": variance,
        "mean_residual": sp.simplify(mean - (S + eta * (a - S))),
    }


def background_identities() -> dict:
    """E1 and E2 from :func:`composite_kick` (differences that must vanish unless named ``naive``
    or ``without_eq18``):

    - ``E1``: eta - (eta1 + eta2 - eta1 eta2)
    - ``E2_given_eq18_second``: variance - (v1 + v2 - v1 v2 / sigma^2) with v2 = sigma^2 eta2 (2 - eta2), v1 free
    - ``composite_eq18``: with both pieces on Eq. 18, variance - sigma^2 eta (2 - eta)
    - ``order_symmetry_given_eq18``: composite variance minus the one with the kicks swapped
      (both on Eq. 18): 0
    - ``E2_without_eq18``: variance - E2 with v1, v2 free: non-zero
    - ``order_dependence_without_eq18``: the swap difference with v1, v2 free: non-zero
    - ``naive_eta``: eta - (eta1 + eta2): non-zero
    """
    S, S1, S2, a, eta1, eta2, v1, v2, sigma2 = _symbols()
    comp = composite_kick()
    eta, variance = comp["eta"], comp["variance"]
    on18 = {v1: sigma2 * eta1 * (2 - eta1), v2: sigma2 * eta2 * (2 - eta2)}
    e2 = v1 + v2 - v1 * v2 / sigma2
    swapped = variance.subs({eta1: eta2, eta2: eta1, v1: v2, v2: v1}, simultaneous=True)
    return {
        "E1": sp.expand(eta - (eta1 + eta2 - eta1 * eta2)),
        "E2_given_eq18_second": sp.simplify((variance - e2).subs(v2, on18[v2])),
        "composite_eq18": sp.simplify(variance.subs(on18) - sigma2 * eta * (2 - eta)),
        "order_symmetry_given_eq18": sp.simplify((variance - swapped).subs(on18)),
        "E2_without_eq18": sp.simplify(variance - e2),
        "order_dependence_without_eq18": sp.simplify(variance - swapped),
        "naive_eta": sp.expand(eta - (eta1 + eta2)),
    }


def subtract_background() -> dict:
    """The subtraction itself: given the measured eta and the background eta2, E1 gives
    eta1 = (eta - eta2) / (1 - eta2); given sigma_Delta^2 and the background sigma_R2^2, E2 gives
    sigma_R1^2 = (sigma_Delta^2 - sigma_R2^2) / (1 - sigma_R2^2 / sigma^2).  Returns the solved
    forms and the residuals of plugging them back (must vanish)."""
    eta, eta1, eta2 = sp.symbols("eta eta1 eta2", real=True)
    sd2, v1, v2, sigma2 = sp.symbols("sigma_Delta_sq sigma_R1sq sigma_R2sq sigma2", positive=True)
    (eta1_solved,) = sp.solve(sp.Eq(eta, eta1 + eta2 - eta1 * eta2), eta1)
    (v1_solved,) = sp.solve(sp.Eq(sd2, v1 + v2 - v1 * v2 / sigma2), v1)
    return {
        "eta1": eta1_solved,
        "sigma_R1sq": v1_solved,
        "eta1_residual": sp.simplify(eta1_solved - (eta - eta2) / (1 - eta2)),
        "sigma_R1sq_residual": sp.simplify(v1_solved - (sd2 - v2) / (1 - v2 / sigma2)),
    }
