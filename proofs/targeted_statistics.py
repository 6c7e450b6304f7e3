"""The algebra behind the battery's targeted statistics (trsp_verify.targeted; docs/verification.md,
"Targeted statistics").

Kick (Eqs. 16-19): dS = H y + xi, y = mu' - S, xi ~ N(0, K_Delta) with K_Delta = L L^T on the
checked sites; z = L^-1 (dS - H y) and u = L^-1 H y (whitened residual and predicted drift).

1. **Drift scale is a score test.**  For the family dS ~ N(c H y, K_Delta) the log-likelihood's
   derivative in c at c = 1 is u . z and the Fisher information is u . u: the statistic
   a = u . z / |u| is the score normalized by its information, and under dS ~ N(c H y, K_Delta)
   its mean is (c - 1) |u| (the power formula).
2. **Drift parts.**  H(mu' - S) = H(mu' - mean 1) - H(S - mean 1), so
   u_dev = u_off - u_drift, |u_dev|^2 = |u_off|^2 - 2 u_off.u_drift + |u_drift|^2 and
   u_dev.z = u_off.z - u_drift.z (what TargetedStats.kick computes from five row-wise products).
3. **Noise scale is a score test.**  For a ~ N(0, s) the score in s at s = 1 is (a^2 - 1)/2, so
   sum a^2 is the score statistic of the noise variance along a direction.
4. **Antisymmetric moments.**  The Hermite polynomials He_1..He_3 have mean 0 under N(0, 1) and are
   orthogonal (E He_j He_k = k! delta_jk): the three antisymmetric moments are
   non-redundant, and an exchangeable pair (X, X') has E[He_k(X') - He_k(X)] = 0 for every k.
5. **Rate-law score.**  log r = log(A0/duration) + gamma0 s - delta0 s^2 with s = loc + scale x:
   the gradient in (log A0, gamma0, delta0) is T (1, x, x^2) for an invertible T, so the score
   test in the basis (1, x, x^2) is the score test in the parameters (the quadratic form
   M^T V^-1 M is invariant under M -> T M, V -> T V T^T), and the covariation's entries
   sum r f_k f_l = sum r x^(k + l) are power sums.
"""

from __future__ import annotations

import sympy as sp

from .gaussian import is_zero, is_zero_matrix, lower_triangular

__all__ = [
    "drift_scale_score",
    "drift_parts",
    "noise_scale_score",
    "hermite_moments",
    "standard_normal_expectation",
    "rate_score_basis",
    "quadratic_form_invariance",
]

N_SITES = 3  # a generic 3-site window is enough to check matrix identities symbolically


def _vector(name: str, n: int = N_SITES) -> sp.Matrix:
    return sp.Matrix(n, 1, lambda i, _: sp.Symbol(f"{name}_{i}", real=True))


def drift_scale_score() -> dict:
    """1: score and information of c in dS ~ N(c H y, L L^T), and the mean of the normalized score.

    Returns the differences (each must be 0) ``score - u.z``, ``information - u.u`` and
    ``mean - (c - 1)|u|^2`` (mean of u.z when dS = c H y + xi: u.z = (c - 1) u.u + u.L^-1 xi)."""
    # W = L^-1 is itself a generic lower-triangular matrix, and K_Delta^-1 = (L L^T)^-1 = W^T W:
    # with W as the symbols every expression is a polynomial (exact zero test by expansion)
    Linv = lower_triangular("W", N_SITES)
    Hy, dS = _vector("m"), _vector("d")
    c = sp.Symbol("c", real=True)
    resid = dS - c * Hy
    loglik = -sp.Rational(1, 2) * (resid.T * Linv.T * Linv * resid)[0, 0]
    u, z = Linv * Hy, Linv * (dS - Hy)
    score = sp.diff(loglik, c).subs(c, 1)
    info = -sp.diff(loglik, c, 2)
    # under the alternative with no noise (xi = 0: the mean of a linear statistic), dS = c H y
    mean_uz = (u.T * (Linv * (c * Hy - Hy)))[0, 0]
    return {
        "score_minus_uz": sp.expand(score - (u.T * z)[0, 0]),
        "information_minus_uu": sp.expand(info - (u.T * u)[0, 0]),
        "mean_minus_power_formula": sp.expand(mean_uz - (c - 1) * (u.T * u)[0, 0]),
    }


def drift_parts() -> dict:
    """2: u_dev = u_off - u_drift and the norm and projection identities TargetedStats.kick uses."""
    Linv = lower_triangular("W", N_SITES)  # L^-1, as in drift_scale_score
    H = sp.Matrix(N_SITES, N_SITES, lambda i, j: sp.Symbol(f"H_{i}{j}", real=True))
    mu_p, S, z = _vector("mup"), _vector("S"), _vector("z")
    mean = sp.Symbol("mean", real=True)
    one = sp.ones(N_SITES, 1)
    u_drift = Linv * H * (mu_p - S)
    u_off = Linv * H * (mu_p - mean * one)
    u_dev = Linv * H * (S - mean * one)
    dot = lambda a, b: (a.T * b)[0, 0]  # noqa: E731
    # given the decomposition, the norm and projection identities are those of generic vectors
    a, b = _vector("a"), _vector("b")  # a = u_drift, b = u_off, b - a = u_dev
    return {
        "decomposition": sp.expand(u_dev - (u_off - u_drift)),
        "norm": sp.expand(dot(b - a, b - a) - (dot(b, b) - 2 * dot(b, a) + dot(a, a))),
        "projection": sp.expand(dot(b - a, z) - (dot(b, z) - dot(a, z))),
    }


def noise_scale_score():
    """3: d/ds log N(a; 0, s) at s = 1 minus (a^2 - 1)/2 (must be 0)."""
    a = sp.Symbol("a", real=True)
    s = sp.Symbol("s", positive=True)
    logpdf = -sp.log(2 * sp.pi * s) / 2 - a**2 / (2 * s)
    return sp.simplify(sp.diff(logpdf, s).subs(s, 1) - (a**2 - 1) / 2)


def standard_normal_expectation(f, x: sp.Symbol):
    """E f(X) for a polynomial f in ``x`` and X ~ N(0, 1): E X^k = (k - 1)!! for even k, 0 for odd k."""
    poly = sp.Poly(sp.expand(f), x)
    return sum(c * (sp.factorial2(k - 1) if k % 2 == 0 else 0) for (k,), c in poly.terms())


def hermite_moments() -> dict:
    """4: E He_k(X) for X ~ N(0, 1), k = 1..3 (must be 0), and the Gram matrix E He_j He_k (must be diag(1, 2, 6))."""
    x = sp.Symbol("x", real=True)
    he = [x, x**2 - 1, x**3 - 3 * x]  # what trsp_verify.targeted._HERMITE evaluates
    E = lambda f: standard_normal_expectation(f, x)  # noqa: E731

    gram = sp.Matrix(3, 3, lambda j, k: E(he[j] * he[k]))
    probabilists = [sp.expand(sp.hermite_prob(k, x)) for k in (1, 2, 3)]
    return {
        "means": [E(h) for h in he],
        "gram": gram,
        "are_hermite": [sp.expand(h - p) for h, p in zip(he, probabilists)],
    }


def rate_score_basis() -> dict:
    """5: the gradient of log r in (log A0, gamma0, delta0) as T (1, x, x^2): returns T, its
    determinant (must be non-zero), and the residual gradient - T f (must be 0)."""
    x, loc = sp.Symbol("x", real=True), sp.Symbol("loc", real=True)
    scale = sp.Symbol("scale", positive=True)
    logA0, g0, d0, dur = sp.symbols("logA0 gamma0 delta0 duration", real=True)
    s = loc + scale * x
    log_rate = logA0 - sp.log(dur) + g0 * s - d0 * s**2
    grad = sp.Matrix([sp.diff(log_rate, v) for v in (logA0, g0, d0)])
    f = sp.Matrix([1, x, x**2])
    T = sp.Matrix(3, 3, lambda i, k: sp.expand(grad[i]).coeff(x, k) if k else sp.expand(grad[i]).subs(x, 0))
    return {"T": T, "det": sp.factor(T.det()), "residual": sp.simplify(grad - T * f)}


def quadratic_form_invariance(n: int = 2) -> sp.Expr:
    """5: (T M)^T (T V T^T)^-1 (T M) - M^T V^-1 M for symbolic M, symmetric V, invertible T (must be 0)."""
    M = _vector("M", n)
    V = sp.Matrix(n, n, lambda i, j: sp.Symbol(f"V_{min(i, j)}{max(i, j)}", real=True))
    T = sp.Matrix(n, n, lambda i, j: sp.Symbol(f"T_{i}{j}", real=True))
    lhs = ((T * M).T * (T * V * T.T).inv() * (T * M))[0, 0]
    rhs = (M.T * V.inv() * M)[0, 0]
    return sp.cancel(sp.together(lhs - rhs))


def all_identities_hold() -> bool:
    """Every identity above (for the tests and a quick manual check)."""
    d = drift_scale_score()
    p = drift_parts()
    h = hermite_moments()
    r = rate_score_basis()
    return (
        all(is_zero(v) for v in d.values())
        and is_zero_matrix(p["decomposition"])
        and is_zero(p["norm"])
        and is_zero(p["projection"])
        and is_zero(noise_scale_score())
        and all(m == 0 for m in h["means"])
        and h["gram"] == sp.diag(1, 2, 6)
        and all(e == 0 for e in h["are_hermite"])
        and r["det"] != 0
        and is_zero_matrix(r["residual"])
        and is_zero(quadratic_form_invariance())
    )
