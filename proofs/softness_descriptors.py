"""The identities behind trsp_softness (Appendix A, p_hop, Eq. 1) and the corrections of A1/A2.

(a) :func:`law_of_cosines_check`: r_ij^2 + r_ik^2 + r_jk^2 = 2 (r_ij^2 + r_ik^2 - u . w) for the
    neighbour vectors u = r_j - r_i, w = r_k - r_i (the kernels' one exponent per pair).
(b) :func:`one_plus_minus_cos_check`: 1 + lambda cos theta_jik = |u/|u| + lambda w/|w||^2 / 2 for
    lambda = +-1 (the kernels' and the oracle's cancellation-free form).
(c) :func:`p_hop_single_jump_check`: a particle still except for one jump d between frames k-1 and
    k has p_hop(k) = |d|^2 for any half-window h (windows A = k-h..k-1, B = k..k+h-1).
(d) :func:`softness_raw_weights_check`: S = b + v . (g - m) / s equals w0 + w . g with
    w = v / s, w0 = b - sum v m / s (Eq. 1 in raw units).
(e) :func:`standardisation_invariance_check`: standardised features, hence the SVM and S, do not
    change when a structure function is multiplied by c > 0 (why summing A2 over ordered pairs,
    twice the unordered sum, makes no difference to softness).
(f) :func:`isotropic_average_check`: the direction average of cos(q . r) is sin(q r)/(q r) in 3D
    (F_s of trsp_softness.relaxation).
(g) Errata E15, E16 (proofs/ERRATA.md): :func:`a1_reading_check` (the only well-formed reading of
    the printed A1 is a Gaussian in r_ij centred on mu) and :func:`a2_printed_domain_check` (the
    printed condition r_ij, r_jk < sigma_max is not symmetric in j <-> k although the summand is,
    and lets k lie up to 2 sigma_max from i; r_ij, r_ik < sigma_max is symmetric and local).
(h) :func:`radial_recurrence_check`: on centres mu_m = mu0 + m h, g_m = exp(-(r - mu_m)^2 / sigma^2)
    has g_{m+1} / g_m = R_m = exp((2 (r - mu_m) h - h^2) / sigma^2) and R_{m+1} / R_m =
    exp(-2 h^2 / sigma^2), a constant (radial_kernel_uniform's two exponentials per neighbour);
    downwards the same with h -> -h.
"""

from __future__ import annotations

import sympy as sp

__all__ = [
    "law_of_cosines_check",
    "one_plus_minus_cos_check",
    "p_hop_single_jump_check",
    "softness_raw_weights_check",
    "standardisation_invariance_check",
    "isotropic_average_check",
    "a1_reading_check",
    "a2_printed_domain_check",
    "feature_count_check",
    "radial_recurrence_check",
]


def _vec(name, dim=3):
    return sp.Matrix(sp.symbols(f"{name}0:{dim}", real=True))


def law_of_cosines_check():
    """(r_ij^2 + r_ik^2 + r_jk^2) - 2 (r_ij^2 + r_ik^2 - u . w): 0."""
    u, w = _vec("u"), _vec("w")
    return sp.expand(u.dot(u) + w.dot(w) + (u - w).dot(u - w) - 2 * (u.dot(u) + w.dot(w) - u.dot(w)))


def one_plus_minus_cos_check():
    """(|e_u + lambda e_w|^2 / 2 - (1 + lambda cos)) for lambda = +1 and -1, e = unit vectors: (0, 0)."""
    u, w = _vec("u"), _vec("w")
    ru, rw = sp.sqrt(u.dot(u)), sp.sqrt(w.dot(w))
    cos = u.dot(w) / (ru * rw)
    out = []
    for lam in (1, -1):
        e = u / ru + lam * w / rw
        out.append(sp.simplify(e.dot(e) / 2 - (1 + lam * cos)))
    return tuple(out)


def p_hop_single_jump_check(h: int = 4):
    """p_hop(k)^2 - |d|^4 for x = x0 on frames k-h..k-1 and x0 + d on k..k+h-1: 0 (any x0, d)."""
    x0, d = _vec("x"), _vec("d")
    A = [x0] * h
    B = [x0 + d] * h
    mean_a = sum(A, sp.zeros(3, 1)) / h
    mean_b = sum(B, sp.zeros(3, 1)) / h
    var_a = sum(((a - mean_b).dot(a - mean_b) for a in A), 0) / h
    var_b = sum(((b - mean_a).dot(b - mean_a) for b in B), 0) / h
    return sp.expand(var_a * var_b - d.dot(d) ** 2)


def softness_raw_weights_check(M: int = 4):
    """(b + sum v (g - m) / s) - (w0 + sum w g) with w = v / s, w0 = b - sum v m / s: 0."""
    g, m, v = _vec("g", M), _vec("m", M), _vec("v", M)
    s = sp.Matrix(sp.symbols(f"s0:{M}", positive=True))
    b = sp.Symbol("b", real=True)
    standard = b + sum(v[a] * (g[a] - m[a]) / s[a] for a in range(M))
    w0 = b - sum(v[a] * m[a] / s[a] for a in range(M))
    raw = w0 + sum(v[a] / s[a] * g[a] for a in range(M))
    return sp.simplify(standard - raw)


def standardisation_invariance_check(n: int = 4):
    """z_i(c g) - z_i(g) for the standardised feature of n examples g_1..g_n, c > 0: all 0."""
    g = sp.symbols(f"g0:{n}", real=True)
    c = sp.Symbol("c", positive=True)

    def z(values):
        mean = sum(values) / n
        sd = sp.sqrt(sum((x - mean) ** 2 for x in values) / n)
        return [(x - mean) / sd for x in values]

    return [sp.simplify(a - b) for a, b in zip(z([c * x for x in g]), z(list(g)))]


def isotropic_average_check():
    """(1/2) int_0^pi cos(q r cos t) sin t dt - sin(q r) / (q r): 0 (3D F_s)."""
    x, t = sp.symbols("x t", positive=True)  # x = q r
    avg = sp.integrate(sp.cos(x * sp.cos(t)) * sp.sin(t), (t, 0, sp.pi)) / 2
    return sp.simplify(avg - sp.sin(x) / x)


def a1_reading_check():
    """E15.  The printed exp(-(r_ij - mu))^2 / sigma^2) has one ')' too many.  The reading
    exp(-(r - mu)^2 / sigma^2) is a Gaussian bump: maximum 1 at r = mu, falling to 1/e at
    |r - mu| = sigma (what 'mu = 0.05 ... 5, sigma = 0.05' asks of a radial density probe).  The
    other bracketings, exp(-(r - mu)) ^ (2 / sigma^2) and exp(-(r - mu))^2 / sigma^2, are
    monotonic in r (no bump, unbounded as r -> 0 for mu > 0): returns (derivative at mu,
    value at mu, value at mu + sigma minus 1/e, derivative of the two other readings at mu)."""
    r, mu = sp.symbols("r mu", real=True)
    sigma = sp.Symbol("sigma", positive=True)
    G = sp.exp(-((r - mu) ** 2) / sigma**2)
    other1 = sp.exp(-(r - mu)) ** (2 / sigma**2)
    other2 = sp.exp(-(r - mu)) ** 2 / sigma**2
    return (sp.simplify(sp.diff(G, r).subs(r, mu)), sp.simplify(G.subs(r, mu)),
            sp.simplify(G.subs(r, mu + sigma) - sp.exp(-1)),
            sp.simplify(sp.diff(other1, r).subs(r, mu)), sp.simplify(sp.diff(other2, r).subs(r, mu)))


def a2_printed_domain_check():
    """E16.  At exact points i = (0,0,0), j = (1,0,0), k = (19/10, 0, 0) with sigma_max = 1.2:
    r_ij = 1, r_jk = 9/10, r_ik = 19/10.  The printed condition admits the ordered pair (j, k)
    (r_ij, r_jk < sigma_max) but not (k, j) (r_ik > sigma_max), while the summand
    exp(-(r_ij^2 + r_jk^2 + r_ik^2)/xi^2)(1 + lambda cos theta_ijk)^zeta is the same for both:
    the printed domain is not symmetric and reaches k at r_ik = 19/10 > sigma_max.  The corrected
    condition r_ij, r_ik < sigma_max treats (j, k) and (k, j) alike.  Returns
    (printed admits (j,k), printed admits (k,j), corrected admits (j,k), corrected admits (k,j),
    summand(j,k) - summand(k,j))."""
    smax = sp.Rational(12, 10)
    i = sp.Matrix([0, 0, 0])
    j = sp.Matrix([1, 0, 0])
    k = sp.Matrix([sp.Rational(19, 10), 0, 0])

    def dist(a, b):
        return sp.sqrt((a - b).dot(a - b))

    def printed(a, b):  # r_ia < smax and r_ab < smax (the printed "r_ij, r_jk < sigma_max")
        return bool(dist(i, a) < smax and dist(a, b) < smax)

    def corrected(a, b):  # r_ia < smax and r_ib < smax
        return bool(dist(i, a) < smax and dist(i, b) < smax)

    xi, lam, zeta = sp.symbols("xi lambda zeta", positive=True)

    def summand(a, b):
        u, w = a - i, b - i
        cos = u.dot(w) / (dist(i, a) * dist(i, b))
        return sp.exp(-(dist(i, a) ** 2 + dist(a, b) ** 2 + dist(i, b) ** 2) / xi**2) * (1 + lam * cos) ** zeta

    return printed(j, k), printed(k, j), corrected(j, k), corrected(k, j), sp.simplify(summand(j, k) - summand(k, j))


def feature_count_check(n_types: int = 2, n_mu: int = 100, n_triples: int = 22):
    """M of Sec. II: radial per neighbour type (n_types x n_mu) plus angular per unordered type
    pair (n_types (n_types + 1) / 2 x n_triples): 266 for Kob-Andersen and the paper's grids."""
    return n_types * n_mu + n_types * (n_types + 1) // 2 * n_triples


def radial_recurrence_check():
    """(log g_{m+1} - log g_m - log R_m, log R_{m+1} - log R_m + 2 h^2 / sigma^2) for steps h and -h:
    all 0 (exponents compared, so the identities hold for every real r, mu0, h, sigma > 0)."""
    r, mu0, m = sp.symbols("r mu0 m", real=True)
    sigma = sp.symbols("sigma", positive=True)
    out = []
    for h in (sp.Symbol("h", real=True), -sp.Symbol("h", real=True)):
        mu = lambda k: mu0 + k * h  # noqa: E731  (the grid, walked in the direction of h)
        log_g = lambda k: -(r - mu(k)) ** 2 / sigma**2  # noqa: E731
        log_R = lambda k: (2 * (r - mu(k)) * h - h**2) / sigma**2  # noqa: E731
        out.append(sp.expand(log_g(m + 1) - log_g(m) - log_R(m)))
        out.append(sp.expand(log_R(m + 1) - log_R(m) + 2 * h**2 / sigma**2))
    return tuple(out)
