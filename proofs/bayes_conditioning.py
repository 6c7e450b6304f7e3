"""Conditioning the softness field on a rearrangement (Eqs. 2, 5-9, 24-26; Appendix B, Eqs. B1-B10).

Bayes (Eq. 5 / B3): P(S | R) is proportional to P(R | S) P(S).  With the corrected Eq. 2 / B1
(ERRATA E1: K is a covariance, so the exponent carries 1/2),

    log P(S | R) = -1/2 (S - mu)^T K^-1 (S - mu) + gamma w^T S - delta (w^T S)^2 + const,

where w = e0 (the paper's 0-hat) for one rearranging site and w = 1/m on the m sites of a
cluster (Eqs. 24-26; there the law is the *bare* cluster law gamma0, delta0: ERRATA E9).
Completing the square term by term (the Hessian gives the precision, the stationary point
the mean):

    K'^-1 = K^-1 + 2 delta w w^T                       (B6, B7)
    K'    = K - 2 delta (K w)(K w)^T / (1 + 2 delta w^T K w)   (Sherman-Morrison; Eq. 6/B10, 24)
    mu'   = mu + (gamma - 2 delta mu) K' w             (Eq. 8/B9, 25; uniform mean mu)
          = mu + (gamma - 2 delta mu) K w / (1 + 2 delta w^T K w)   (Eq. 9, 26)

Every function builds SymPy objects and returns the expressions whose vanishing (or, for
an erratum, non-vanishing) the tests assert.
"""

from __future__ import annotations

import sympy as sp

from .gaussian import symmetric_matrix, unit_vector

__all__ = [
    "log_conditioned_density",
    "complete_the_square",
    "mean_residual",
    "sherman_morrison",
    "sherman_morrison_general",
    "single_site_conditioning",
    "appendix_b_steps",
    "missing_half_erratum",
    "multi_site_conditioning",
    "multi_site_rate_law_erratum",
    "differs_by_constant",
]


def _scalar(M) -> sp.Expr:
    """The entry of a 1 x 1 matrix."""
    M = sp.Matrix(M)
    assert M.shape == (1, 1), M.shape
    return M[0, 0]


def log_conditioned_density(K: sp.Matrix, mu, w: sp.Matrix, gamma, delta, S: sp.Matrix, *, half: bool = True):
    """log P(S) + log P(R | S), constants dropped (Eq. 5 / B3).

    ``half=True``: P(S) with the 1/2 that makes K the covariance (corrected Eq. 2 / B1);
    ``half=False``: Eq. 2 / B1 as printed.  The rate law is A exp(gamma s - delta s^2) at
    s = w^T S (Eq. 4 / B2 for w = e0; Eq. D1 for a cluster, w = 1/m on its sites).
    """
    n = K.shape[0]
    x = S - mu * sp.ones(n, 1)
    quad = _scalar(x.T * K.inv() * x)
    s = _scalar(w.T * S)
    return -(sp.Rational(1, 2) if half else 1) * quad + gamma * s - delta * s**2


def complete_the_square(log_density, S: sp.Matrix):
    """(precision, linear) of the Gaussian exp(log_density): precision = minus the Hessian in S,
    linear = the gradient at S = 0.  The gradient is linear - precision S, so the mean is the
    unique solution of precision mean = linear (see :func:`mean_residual`)."""
    variables = list(S)
    precision = -sp.hessian(log_density, variables)
    linear = sp.Matrix([sp.diff(log_density, v) for v in variables]).subs({v: 0 for v in variables})
    return precision, linear


def mean_residual(K: sp.Matrix, precision: sp.Matrix, linear: sp.Matrix, claimed_mean: sp.Matrix) -> sp.Matrix:
    """K (precision claimed_mean - linear): zero exactly when ``claimed_mean`` is the stationary
    point (K is invertible; multiplying by it clears the K^-1 that the log density brings in,
    which keeps the simplification fast)."""
    return K * (precision * claimed_mean - linear)


def sherman_morrison(K: sp.Matrix, u: sp.Matrix, s) -> sp.Matrix:
    """(K^-1 + s u u^T)^-1 = K - s (K u)(K u)^T / (1 + s u^T K u) (Sherman-Morrison, rank one)."""
    Ku = K * u
    return K - s * Ku * Ku.T / (1 + s * _scalar(u.T * K * u))


def sherman_morrison_general():
    """The general rank-one identity (A + u v^T)^-1 = A^-1 - A^-1 u v^T A^-1 / (1 + v^T A^-1 u).

    Proved with non-commuting symbols: expand (A + u v^T) times the claimed inverse and
    apply only A A^-1 = 1 and v^T A^-1 u = lambda (a scalar, so it commutes).  Returns the
    product minus 1, which must vanish for any dimension.  With A = K^-1, u = v = w and the
    factor s = 2 delta folded into u, this is the K' of Eqs. 6 / B10 / 24.
    """
    A, A_inv, u, vT = sp.symbols("A A_inv u v_T", commutative=False)
    lam = sp.Symbol("lambda")
    claimed_inverse = A_inv - A_inv * u * vT * A_inv / (1 + lam)
    product = sp.expand((A + u * vT) * claimed_inverse)
    product = sp.expand(product.subs(A * A_inv, 1))
    product = sp.expand(product.subs(vT * A_inv * u, lam))
    return sp.simplify(sp.together(product - 1))


def differs_by_constant(expr, S: sp.Matrix) -> bool:
    """True when ``expr`` does not depend on S (all first derivatives simplify to 0)."""
    return all(sp.cancel(sp.together(sp.diff(expr, v))) == 0 for v in S)


def single_site_conditioning(n: int = 3) -> dict:
    """Eqs. 6-9 / B9-B10 re-derived for one rearranging site (site 0) and an explicit
    symmetric n x n K of symbols, uniform mean mu.

    Returns differences that must all vanish (matrices or scalars) under the key names
    below, plus ``eq7_printed_minus_derived`` which must NOT vanish (ERRATA E2):

    - ``precision``: derived precision - (K^-1 + 2 delta e0 e0^T)        (B6-B7)
    - ``sherman_morrison``: K'_SM (K^-1 + 2 delta e0 e0^T) - 1            (Eq. 6 / B10 is K'_SM)
    - ``eq6``: derived covariance - Eq. 6 entrywise
    - ``eq8``: :func:`mean_residual` of mu + (gamma - 2 delta mu) K' e0     (Eq. 8 / B9)
    - ``eq9``: :func:`mean_residual` of mu + (gamma - 2 delta mu) K e0 / (1 + 2 delta K00)  (Eq. 9)
    - ``eq7_corrected``: derived covariance - sigma^2 (C_ij - 2 delta sigma^2 C_i C_j / (1 + 2 sigma^2 delta)),
      with K_ij = sigma^2 C_S(r_ij), C_S(0) = 1 (the convention stated after Eq. 2).
    """
    K = symmetric_matrix("K", n)
    mu, gamma = sp.symbols("mu gamma", real=True)
    delta = sp.Symbol("delta", real=True)
    S = sp.Matrix(sp.symbols(f"S0:{n}", real=True))
    e0 = unit_vector(n, 0)

    precision, linear = complete_the_square(log_conditioned_density(K, mu, e0, gamma, delta, S), S)
    K_prime_sm = sherman_morrison(K, e0, 2 * delta)
    covariance = precision.inv()
    eq6 = sp.Matrix(n, n, lambda i, j: K[i, j] - 2 * delta * K[0, i] * K[0, j] / (1 + 2 * delta * K[0, 0]))
    eq8 = mu * sp.ones(n, 1) + (gamma - 2 * delta * mu) * K_prime_sm * e0
    eq9 = mu * sp.ones(n, 1) + (gamma - 2 * delta * mu) / (1 + 2 * delta * K[0, 0]) * K * e0

    # Eq. 7: K_ij = sigma^2 C_S(r_ij) with C_S(r_00) = 1, i.e. C_ij = K_ij / K_00 and sigma^2 = K_00
    sigma2 = K[0, 0]
    C = K / sigma2
    eq7_printed = sp.Matrix(n, n, lambda i, j: sigma2 * (C[i, j] - 2 * delta * C[0, i] * C[0, j] / (1 + 2 * sigma2 * delta)))
    eq7_corrected = sp.Matrix(
        n, n, lambda i, j: sigma2 * (C[i, j] - 2 * delta * sigma2 * C[0, i] * C[0, j] / (1 + 2 * sigma2 * delta))
    )
    return {
        "precision": precision - (K.inv() + 2 * delta * e0 * e0.T),
        "sherman_morrison": K_prime_sm * (K.inv() + 2 * delta * e0 * e0.T) - sp.eye(n),
        "eq6": covariance - eq6,
        "eq8": mean_residual(K, precision, linear, eq8),
        "eq9": mean_residual(K, precision, linear, eq9),
        "eq7_corrected": covariance - eq7_corrected,
        "eq7_printed_minus_derived": eq7_printed - covariance,
    }


def appendix_b_steps(n: int = 3) -> dict:
    """Appendix B, Eqs. B4-B8, line by line, for one site and an explicit n x n K.

    All lines are "2 log P(S|R)" (B4 is twice the log of B3 with the corrected B1).
    Keys ending in ``_ok`` map to booleans that must be True; keys ending in ``_printed``
    hold the evidence for an erratum (must be False / non-zero):

    - ``B4_ok``: -(S-mu')^T K'^-1 (S-mu') - [2 gamma S0 - 2 delta S0^2 - (S-mu)^T K^-1 (S-mu)]
      is a constant, with the derived mu', K'.  (With B1 as printed, log P(S|R) would be
      gamma S0 - delta S0^2 - (S-mu)^T K^-1 (S-mu): B4 is consistent only with the 1/2.)
    - ``B4_with_printed_B1_printed``: B4 with the right side built from the printed B1
      differs from the left by a non-constant: False.
    - ``B5_printed``: B5 as printed (gamma S0, not 2 gamma S0) equals B4's right side up to a
      constant: False (ERRATA E11).  ``B5_corrected_ok``: with 2 gamma S0: True.
    - ``B6_ok``: B6 equals B4's right side exactly (the 2 delta mu^2 is right).
    - ``B7_printed_shape``: the shape of the printed term S^T 0-hat K' K'^-1, read with
      S^T 0-hat = S0: an n x n matrix, not a scalar (ERRATA E12).  ``B7_corrected_ok``:
      2 (gamma - 2 delta mu) (S - mu)^T K'^-1 K' 0-hat + 2 delta mu^2 - (S-mu)^T K'^-1 (S-mu)
      equals B6 up to a constant.
    - ``B8_printed``: C + (S - mu - b)^T K'^-1 (S - mu - b), b = (gamma - 2 delta mu) K' 0-hat,
      equals B7 up to a constant: False (the quadratic form needs a minus sign; ERRATA E13).
      ``B8_corrected_ok``: with the minus sign: True.
    """
    K = symmetric_matrix("K", n)
    mu, gamma, delta = sp.symbols("mu gamma delta", real=True)
    S = sp.Matrix(sp.symbols(f"S0:{n}", real=True))
    e0 = unit_vector(n, 0)
    one = sp.ones(n, 1)
    x = S - mu * one
    K_inv = K.inv()
    K_prime = sherman_morrison(K, e0, 2 * delta)
    K_prime_inv = K_inv + 2 * delta * e0 * e0.T  # exact inverse of K_prime (checked in single_site_conditioning)
    b = (gamma - 2 * delta * mu) * K_prime * e0
    mu_prime = mu * one + b
    S0 = S[0]

    b4_left = -_scalar((S - mu_prime).T * K_prime_inv * (S - mu_prime))
    b4_right = 2 * gamma * S0 - 2 * delta * S0**2 - _scalar(x.T * K_inv * x)
    # B1 as printed: log P(S|R) = gamma S0 - delta S0^2 - (S-mu)^T K^-1 (S-mu) + C, and B4's left
    # side is then log P(S|R) itself (no factor 2 anywhere)
    b4_right_printed_b1 = gamma * S0 - delta * S0**2 - _scalar(x.T * K_inv * x)
    b5_printed = gamma * S0 - 2 * delta * _scalar(S.T * e0 * e0.T * S) - _scalar(x.T * K_inv * x)
    b5_corrected = 2 * gamma * S0 - 2 * delta * _scalar(S.T * e0 * e0.T * S) - _scalar(x.T * K_inv * x)
    b6 = 2 * (gamma - 2 * delta * mu) * S0 + 2 * delta * mu**2 - _scalar(x.T * (K_inv + 2 * delta * e0 * e0.T) * x)
    b7_printed_term = S0 * K_prime * K_prime_inv  # "S^T 0-hat K' K'^-1" with S^T 0-hat = S(0)
    b7_corrected = (
        2 * (gamma - 2 * delta * mu) * _scalar(x.T * K_prime_inv * K_prime * e0)
        + 2 * delta * mu**2
        - _scalar(x.T * K_prime_inv * x)
    )
    b8_printed = _scalar((x - b).T * K_prime_inv * (x - b))
    b8_corrected = -_scalar((x - b).T * K_prime_inv * (x - b))
    return {
        "B4_ok": differs_by_constant(b4_left - b4_right, S),
        "B4_with_printed_B1_printed": differs_by_constant(b4_left - b4_right_printed_b1, S),
        "B5_printed": differs_by_constant(b5_printed - b4_right, S),
        "B5_corrected_ok": differs_by_constant(b5_corrected - b4_right, S),
        "B6_ok": sp.cancel(sp.together(sp.expand(b6 - b4_right))) == 0,
        "B7_printed_shape": b7_printed_term.shape,
        "B7_corrected_ok": differs_by_constant(b7_corrected - b6, S),
        "B8_printed": differs_by_constant(b8_printed - b7_corrected, S),
        "B8_corrected_ok": differs_by_constant(b8_corrected - b7_corrected, S),
    }


def missing_half_erratum() -> dict:
    """Eq. 2 / B1 as printed, P(S) proportional to exp(-(S-mu)^T K^-1 (S-mu)), makes K/2 the
    covariance, not K (ERRATA E1).

    - ``variance_1d_printed``: Var of exp(-(s-mu)^2 / sigma2) by direct integration: sigma2/2.
    - ``variance_1d_corrected``: Var of exp(-(s-mu)^2 / (2 sigma2)): sigma2.
    - ``covariance_printed_minus_K_over_2``: for a 3 x 3 K, the covariance implied by the
      printed exponent (inverse of minus its Hessian) minus K/2: zero matrix.
    - ``covariance_corrected_minus_K``: same with the 1/2: zero matrix.
    """
    s = sp.Symbol("s", real=True)
    mu = sp.Symbol("mu", real=True)
    sigma2 = sp.Symbol("sigma2", positive=True)

    def variance(weight):
        norm = sp.integrate(weight, (s, -sp.oo, sp.oo))
        mean = sp.integrate(s * weight, (s, -sp.oo, sp.oo)) / norm
        return sp.simplify(sp.integrate((s - mean) ** 2 * weight, (s, -sp.oo, sp.oo)) / norm)

    n = 3
    K = symmetric_matrix("K", n)
    S = sp.Matrix(sp.symbols(f"S0:{n}", real=True))
    zero = sp.zeros(n, 1)
    printed, _ = complete_the_square(log_conditioned_density(K, mu, zero, 0, 0, S, half=False), S)
    corrected, _ = complete_the_square(log_conditioned_density(K, mu, zero, 0, 0, S, half=True), S)
    return {
        "variance_1d_printed": variance(sp.exp(-((s - mu) ** 2) / sigma2)),
        "variance_1d_corrected": variance(sp.exp(-((s - mu) ** 2) / (2 * sigma2))),
        "sigma2": sigma2,
        "covariance_printed_minus_K_over_2": printed.inv() - K / 2,
        "covariance_corrected_minus_K": corrected.inv() - K,
    }


def _cluster_weights(n: int, cluster) -> sp.Matrix:
    m = len(cluster)
    return sp.Matrix(n, 1, lambda i, _: sp.Rational(1, m) if i in cluster else sp.Integer(0))


def multi_site_conditioning(n: int = 3, cluster=(0, 1), K: sp.Matrix | None = None) -> dict:
    """Eqs. 24-26 re-derived: P(S | cluster R fires) with the bare law
    P0(<S>_R) = A0 exp(gamma0 w^T S - delta0 (w^T S)^2), w = 1/m on the cluster (Eq. D1).

    With Kbar_Ri = (K w)_i (the average of K_Ri over the cluster's sites R) and
    Kbar_RR' = w^T K w (the average over ordered pairs, R = R' included), returns:

    - ``precision``: derived precision - (K^-1 + 2 delta0 w w^T)            (must vanish)
    - ``eq24``: derived covariance - [K_ij - 2 delta0 Kbar_Ri Kbar_Rj / (1 + 2 delta0 Kbar_RR')]  (must vanish)
    - ``eq25``: :func:`mean_residual` of mu + (gamma0 - 2 delta0 mu) K' w   (must vanish)
    - ``eq26``: :func:`mean_residual` of mu + (gamma0 - 2 delta0 mu) Kbar_Ri / (1 + 2 delta0 Kbar_RR')  (must vanish)
    - ``eq24_printed_minus_derived``: with the printed numerator Kbar_Ri Kbar_Ri (ERRATA E8): non-zero
    - ``eq24_printed_asymmetry``: printed matrix minus its transpose: non-zero (a covariance is symmetric)

    ``K`` defaults to a symmetric matrix of symbols; pass an explicit (e.g. rational,
    positive definite) matrix for larger n, where the symbolic inverse would be slow.
    """
    if K is None:
        K = symmetric_matrix("K", n)
    n = K.shape[0]
    mu, gamma0, delta0 = sp.symbols("mu gamma0 delta0", real=True)
    S = sp.Matrix(sp.symbols(f"S0:{n}", real=True))
    w = _cluster_weights(n, cluster)
    precision, linear = complete_the_square(log_conditioned_density(K, mu, w, gamma0, delta0, S), S)
    covariance = precision.inv()
    Kbar_R = K * w  # Kbar_Ri, a column over i
    Kbar_RR = _scalar(w.T * K * w)
    q = 1 + 2 * delta0 * Kbar_RR
    eq24 = sp.Matrix(n, n, lambda i, j: K[i, j] - 2 * delta0 * Kbar_R[i] * Kbar_R[j] / q)
    eq24_printed = sp.Matrix(n, n, lambda i, j: K[i, j] - 2 * delta0 * Kbar_R[i] * Kbar_R[i] / q)
    one = sp.ones(n, 1)
    eq25 = mu * one + (gamma0 - 2 * delta0 * mu) * sherman_morrison(K, w, 2 * delta0) * w
    eq26 = mu * one + (gamma0 - 2 * delta0 * mu) / q * Kbar_R
    return {
        "precision": precision - (K.inv() + 2 * delta0 * w * w.T),
        "eq24": covariance - eq24,
        "eq25": mean_residual(K, precision, linear, eq25),
        "eq26": mean_residual(K, precision, linear, eq26),
        "eq24_printed_minus_derived": eq24_printed - eq24,
        "eq24_printed_asymmetry": eq24_printed - eq24_printed.T,
    }


def multi_site_rate_law_erratum() -> dict:
    """Eqs. 24-26 are printed with the observed (gamma, delta); the conditioning factor is the
    rate at which *cluster R* fires, P0(<S>_R), whose parameters are the bare gamma0, delta0
    (Eq. D1; ERRATA E9).  (Conditioning on "particle i rearranged" instead would give a
    mixture over the z clusters containing i, not a Gaussian.)

    The two differ whenever m > 1: the renormalized delta = delta0 c^2 / (1 + 2 delta0 c(1-c) sigma^2)
    (Eq. D2 integrated, see proofs.renormalization) equals delta0 only for c = 1.

    Returns ``delta_minus_delta0`` (non-zero as a function; zero at c = 1) and
    ``K_prime_with_observed_minus_bare`` for a 2 x 2 K (non-zero).
    """
    c, sigma2 = sp.symbols("c sigma2", positive=True)
    delta0 = sp.Symbol("delta0", real=True)
    delta = delta0 * c**2 / (1 + 2 * delta0 * c * (1 - c) * sigma2)
    K = symmetric_matrix("K", 2)
    w = _cluster_weights(2, (0, 1))
    return {
        "delta_minus_delta0": sp.simplify(delta - delta0),
        "c": c,
        "K_prime_with_observed_minus_bare": sherman_morrison(K, w, 2 * delta) - sherman_morrison(K, w, 2 * delta0),
    }
