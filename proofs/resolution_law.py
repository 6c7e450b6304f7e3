"""The algebra behind the battery's resolution law (trsp_verify.resolution; docs/verification.md,
"Resolution").  Each function returns expressions that must vanish (tests/test_resolution.py).

Notation as in proofs/targeted_statistics.py: a kick dS = D y + xi on the checked sites with
y = mu' - S, xi ~ N(0, K_Delta), K_Delta = L L^T, W = L^-1; the battery whitens the residual
with the model's H: z = W (dS - H y).  u = W H y (the whitened predicted drift).

1. **Drift scale** (H_scale): with D = (1 + e) H the residual's mean given the past is e u, so the
   normalized projection a = u.z/|u| has mean e |u| (row 6d's noncentrality per event).
2. **Noise scale** (kick_noise_scale): xi = (1 + e) L zeta gives z = (1 + e) zeta exactly, so the sum
   of squares over E events and C components is (1 + e)^2 chi2(E C).
3. **Shifted target** (mu_prime_shift): mu' -> mu' + e sigma 1 adds the constant e sigma W H 1 to the
   residual's mean, whatever the state.
4. **gamma0 and delta0 move mu' along mu' - mean.**  mu' - mean = c K' w with c = gamma0 - 2 delta0 mean and
   K' w = K w / (1 + 2 delta0 q), q = w^T K w (Sherman-Morrison on K'^-1 = K^-1 + 2 delta0 w w^T).
   gamma0 -> (1 + e) gamma0: mu'' - mu' = e gamma0 / c (mu' - mean); delta0 -> (1 + e) delta0:
   mu'' - mu' = rho(e) (mu' - mean), rho(e) = c'' (1 + 2 delta0 q) / (c (1 + 2 delta0'' q)) - 1.
5. **The residual's mean under an erroneous correct model** is the same affine map at the state's
   mean: with the model's H and the erroneous H'', mu'' (a correct model of other parameters, whose
   state before R fires is N(mu'', K'')), E[W (H''(mu'' - S) - H (mu' - S))] = W H (mu'' - mu').
6. **Rate scale**: dt ~ Exp((1 + e) R) gives R dt ~ Exp(1 + e): the sum of E of them is Gamma(E, 1/(1 + e)).
7. **Tilted Gaussian moments**: N(mean, q) times exp(g s - d s^2), normalized, is
   N((mean + g q)/(1 + 2 d q), q/(1 + 2 d q)) (the law of a firing cluster's mean softness).
8. **Rate-law score noncentrality**: with f = (1, s, s^2) and any g = a^T f,
   E[f g]^T E[f f^T]^-1 E[f g] = E[g^2]: rate_scale (g = 1) gives e^2 per event, gamma0 (g = gamma0 s)
   gamma0^2 E s^2, delta0 (g = delta0 s^2) delta0^2 E s^4 (to first order in e).
9. **Kick range**: K_Delta(e) = D K_Delta D with D = diag(exp(g_i e / (1 + e))), g_i = rt_i / xi_sigma,
   so d/de tr(K_Delta^-1 K_Delta(e)) at e = 0 is 2 sum_i g_i (the mean of the sum of squares moves).
10. **E|u| by one integral**: sqrt(q) = (1 / (2 sqrt(pi))) integral_0^inf (1 - exp(-t q)) t^(-3/2) dt.
11. **The score row's lower bound**: for x ~ N(m, S1), x^T V^-1 x >= beta_min |S1^(-1/2) x|^2 with
    beta_min the smallest eigenvalue of V^-1 S1 (the eigenvalues of S1^(1/2) V^-1 S1^(1/2)), and
    |S1^(-1/2) x|^2 ~ chi2(dim, m^T S1^-1 m).
12. **The drift-scale mutant narrows its own state law** (why 6d's statistic falls below the
    first-order law for e > 0): the kick with (1 + e) H maps a state ~ N(mu', K') to covariance
    K' - e (H K' + K' H^T) + (2 e + e^2) H K' H^T (the correct kick keeps K':
    (I - H) K' (I - H)^T + K_Delta = K'); with P = H K' = K'^(1/2) B K'^(1/2) symmetric,
    B = I - (I - Y)^(1/2), Y = K'^(-1/2) K_Delta K'^(-1/2), the first-order change is
    -2 e K'^(1/2) (B - B^2) K'^(1/2), and b - b^2 = (1 - sqrt(1 - y)) sqrt(1 - y) >= 0 for y in [0, 1]:
    for e > 0 every kick contracts the state, so E|u| under the mutant is below the model's.
"""

from __future__ import annotations

import sympy as sp

from .gaussian import exp_quadratic_integral, log_gaussian_average_closed_form, lower_triangular, symmetric_matrix

__all__ = [
    "drift_scale_mean",
    "noise_scale_residual",
    "shifted_target_mean",
    "offset_moves",
    "erroneous_model_mean",
    "rate_scale_waiting_time",
    "tilted_moments",
    "score_noncentrality",
    "kick_range_trace",
    "sqrt_integral",
    "score_bound",
    "drift_scale_contraction",
]

N = 3  # a generic 3-site window


def _vec(name: str, n: int = N) -> sp.Matrix:
    return sp.Matrix(n, 1, lambda i, _: sp.Symbol(f"{name}_{i}", real=True))


def _mat(name: str, n: int = N) -> sp.Matrix:
    return sp.Matrix(n, n, lambda i, j: sp.Symbol(f"{name}_{i}{j}", real=True))


def drift_scale_mean() -> sp.Expr:
    """1: E[u.z] - e u.u with dS = (1 + e) H y + xi (xi has mean 0): must be 0."""
    W, H, y = lower_triangular("W", N), _mat("H"), _vec("y")
    e = sp.Symbol("e", real=True)
    mean_z = W * ((1 + e) * H * y - H * y)  # the mean of z = W (dS - H y)
    u = W * H * y
    return sp.expand((u.T * mean_z)[0, 0] - e * (u.T * u)[0, 0])


def noise_scale_residual() -> sp.Matrix:
    """2: z - (1 + e) zeta for dS = H y + (1 + e) L zeta (must be the zero vector)."""
    L = lower_triangular("L", N)
    H, y, zeta = _mat("H"), _vec("y"), _vec("zeta")
    e = sp.Symbol("e", real=True)
    dS = H * y + (1 + e) * L * zeta
    return sp.simplify(L.inv() * (dS - H * y) - (1 + e) * zeta)


def shifted_target_mean() -> sp.Matrix:
    """3: the residual's mean for mu' -> mu' + e sigma 1, minus e sigma W H 1 (must be 0, for every S)."""
    W, H, mu, S = lower_triangular("W", N), _mat("H"), _vec("mu"), _vec("S")
    e, sigma = sp.symbols("e sigma", real=True)
    one = sp.ones(N, 1)
    mean_z = W * (H * (mu + e * sigma * one - S) - H * (mu - S))
    return sp.expand(mean_z - e * sigma * W * H * one)


def offset_moves() -> dict:
    """4: Sherman-Morrison K' w = K w / (1 + 2 delta0 q), and mu'' - mu' along mu' - mean for the
    gamma0 and delta0 errors (each entry must be 0).  K is a generic symmetric 2 x 2 matrix
    (the identities hold for any size; 2 keeps the inverse small)."""
    n = 2
    K = symmetric_matrix("K", n)
    w = sp.Matrix([sp.Rational(1, 2), sp.Rational(1, 2)])
    g0, d0, mean, e = sp.symbols("gamma0 delta0 mean e", real=True)
    q = (w.T * K * w)[0, 0]

    def mu_minus_mean(g, d):  # Eqs. 24-26: mu' - mean = (g - 2 d mean) K' w, K' = (K^-1 + 2 d w w^T)^-1
        Kp = (K.inv() + 2 * d * w * w.T).inv()
        return (g - 2 * d * mean) * Kp * w

    def zero(M):  # rational functions of the symbols: cancel decides zero exactly
        return M.applyfunc(lambda x: sp.cancel(sp.together(x)))

    c = g0 - 2 * d0 * mean
    base = mu_minus_mean(g0, d0)
    sherman = zero(base - c * K * w / (1 + 2 * d0 * q))
    gamma = zero(mu_minus_mean((1 + e) * g0, d0) - base - e * g0 / c * base)
    d1 = (1 + e) * d0
    rho = (g0 - 2 * d1 * mean) * (1 + 2 * d0 * q) / (c * (1 + 2 * d1 * q)) - 1
    delta = zero(mu_minus_mean(g0, d1) - base - rho * base)
    return {"sherman_morrison": sherman, "gamma0": gamma, "delta0": delta}


def erroneous_model_mean() -> sp.Matrix:
    """5: E[W (H2 (mu2 - S) - H (mu - S))] over S with mean mu2, minus W H (mu2 - mu) (must be 0).

    Affine in S, so the expectation is the map at E S = mu2 (the erroneous model's mean state
    before the cluster fires)."""
    W, H, H2 = lower_triangular("W", N), _mat("H"), _mat("G")
    mu, mu2 = _vec("mu"), _vec("nu")
    at_mean = W * (H2 * (mu2 - mu2) - H * (mu - mu2))
    return sp.expand(at_mean - W * H * (mu2 - mu))


def rate_scale_waiting_time() -> sp.Expr:
    """6: P(R dt <= x) for dt ~ Exp((1 + e) R) minus the Exp(1 + e) CDF (must be 0)."""
    R, e, x, t = sp.symbols("R e x t", positive=True)
    density = (1 + e) * R * sp.exp(-(1 + e) * R * t)
    cdf = sp.integrate(density, (t, 0, x / R))
    return sp.simplify(cdf - (1 - sp.exp(-(1 + e) * x)))


def tilted_moments() -> dict:
    """7: the tilted law's normalizer, mean and variance minus the closed forms (each must be 0)."""
    s = sp.Symbol("s", real=True)
    mean = sp.Symbol("mean", real=True)
    q, d = sp.symbols("q d", positive=True)
    g = sp.Symbol("g", real=True)
    exponent = -((s - mean) ** 2) / (2 * q) + g * s - d * s**2
    Z = exp_quadratic_integral(exponent, s)
    m_closed = (mean + g * q) / (1 + 2 * d * q)
    v_closed = q / (1 + 2 * d * q)
    # moments by differentiating the normalizer in the linear coefficient g: E s = d log Z / dg, Var s = d^2 log Z / dg^2
    logZ = sp.log(Z)
    return {
        "mean": sp.simplify(sp.diff(logZ, g) - m_closed),
        "variance": sp.simplify(sp.diff(logZ, g, 2) - v_closed),
        # the mean rate's tilt E[exp(g s - d s^2)] = Z / sqrt(2 pi q) (what _tilted_moments takes the log of)
        "normalizer": sp.simplify(sp.log(Z / sp.sqrt(2 * sp.pi * q)) - log_gaussian_average_closed_form(g, d, mean, q)),
    }


def score_noncentrality() -> dict:
    """8: E[f g]^T E[f f^T]^-1 E[f g] - E[g^2] for g in the span of f = (1, s, s^2), with the moments of a
    generic law written as symbols m1..m4 (must be 0); and the first-order mean of the score under
    gamma0 -> (1 + e) gamma0: E_1[f] - (Z0/Z1) E_0[f] = e gamma0 E_0[f s] + O(e^2)."""
    m = [sp.Integer(1)] + list(sp.symbols("m1:5", real=True))  # E s^k, k = 0..4
    F = sp.Matrix(3, 3, lambda i, j: m[i + j])  # E f f^T
    a = _vec("a")
    Efg = F * a  # E[f (a . f)]
    Eg2 = (a.T * F * a)[0, 0]
    span = sp.simplify((Efg.T * F.inv() * Efg)[0, 0] - Eg2)
    # first order: E_1[f] = E[f exp(e g0 s)] / E[exp(e g0 s)], Z1/Z0 = E[exp(e g0 s)] (rates tilted by exp(e g0 s))
    e, g0 = sp.symbols("e gamma0", real=True)
    tilt = 1 + e * g0 * sp.Symbol("s")  # exp(e g0 s) to first order
    E = lambda poly: sum(sp.Poly(sp.expand(poly), sp.Symbol("s")).coeff_monomial(sp.Symbol("s") ** k) * m[k] for k in range(5))  # noqa: E731
    s = sp.Symbol("s")
    Z1 = E(tilt)
    f = [sp.Integer(1), s, s**2]
    first = [sp.series(E(fi * tilt) / Z1 - E(fi) / Z1, e, 0, 2).removeO() - e * g0 * E(fi * s) for fi in f]
    return {"span": span, "first_order_mean": [sp.simplify(x) for x in first]}


def kick_range_trace() -> sp.Expr:
    """9: d/de tr(K^-1 D K D) at e = 0 minus 2 sum g_i, D = diag(exp(g_i e / (1 + e))) (must be 0).

    K is a generic symmetric 2 x 2 matrix (as in offset_moves: the trace identity holds for any size)."""
    n = 2
    K = symmetric_matrix("K", n)
    e = sp.Symbol("e", real=True)
    gs = sp.symbols(f"g0:{n}", real=True)
    D = sp.diag(*[sp.exp(g * e / (1 + e)) for g in gs])
    tr = (K.inv() * D * K * D).trace()
    return sp.simplify(sp.diff(tr, e).subs(e, 0) - 2 * sum(gs))


def sqrt_integral() -> dict:
    """10: sqrt(q) = (1 / (2 sqrt(pi))) integral_0^inf (1 - exp(-t q)) t^(-3/2) dt.

    t = x / q scales the integral by sqrt(q), so it is I = integral_0^inf (1 - e^-x) x^(-3/2) dx = 2 sqrt(pi):
    by parts with F(x) = -2 x^(-1/2) (1 - e^-x), F' + 2 x^(-1/2) e^-x is the integrand, F vanishes at
    both ends, and integral_0^inf x^(-1/2) e^-x dx = Gamma(1/2) = sqrt(pi).  Returns the by-parts
    residual, F's two limits and I / (2 sqrt(pi)) - 1 (each must be 0)."""
    x = sp.Symbol("x", positive=True)
    F = -2 * (1 - sp.exp(-x)) / sp.sqrt(x)
    integrand = (1 - sp.exp(-x)) * x ** sp.Rational(-3, 2)
    return {
        "by_parts": sp.simplify(sp.diff(F, x) + 2 * sp.exp(-x) / sp.sqrt(x) - integrand),
        "F_at_0": sp.limit(F, x, 0),
        "F_at_inf": sp.limit(F, x, sp.oo),
        "value": sp.simplify(2 * sp.gamma(sp.Rational(1, 2)) / (2 * sp.sqrt(sp.pi)) - 1),
    }


def score_bound() -> dict:
    """11: at an exact rational point (S1, V symmetric positive definite 2 x 2): the eigenvalues of
    S1^(1/2) V^-1 S1^(1/2) equal those of V^-1 S1 (differences 0), and S1^(1/2) V^-1 S1^(1/2) - beta_min I,
    whose quadratic form is x^T V^-1 x - beta_min |S1^(-1/2) x|^2, has eigenvalues 0 and > 0."""
    root = sp.Matrix([[2, sp.Rational(1, 2)], [sp.Rational(1, 2), 1]])  # S1^(1/2), symmetric positive definite
    S1 = root * root
    V = sp.Matrix([[3, 1], [1, 2]])
    M = root * V.inv() * root
    ev_sym = sorted(M.eigenvals(), key=lambda z: float(z))
    ev_gen = sorted((V.inv() * S1).eigenvals(), key=lambda z: float(z))
    beta = ev_gen[0]
    gap = sp.simplify(M - beta * sp.eye(2))
    return {
        "same_eigenvalues": [sp.simplify(a - b) for a, b in zip(ev_sym, ev_gen)],
        "gap_eigenvalues": sorted((sp.nsimplify(v) for v in gap.eigenvals()), key=lambda z: float(z)),
    }


def drift_scale_contraction() -> dict:
    """12: the post-kick covariance of the (1 + e) H kick from N(mu', K') minus its expansion (must be the
    zero matrix, H generic, K' symmetric), and the eigenvalue b - b^2 of B - B^2 at b = 1 - sqrt(1 - y)
    minus (1 - sqrt(1 - y)) sqrt(1 - y) (must be 0: nonnegative on y in [0, 1])."""
    H, K = _mat("H"), symmetric_matrix("K", N)
    e = sp.Symbol("e", real=True)
    eye = sp.eye(N)
    K_Delta = K - (eye - H) * K * (eye - H).T  # the correct kick keeps K'
    after = (eye - (1 + e) * H) * K * (eye - (1 + e) * H).T + K_Delta
    expansion = K - e * (H * K + K * H.T) + (2 * e + e**2) * H * K * H.T
    y = sp.Symbol("y", nonnegative=True)
    b = 1 - sp.sqrt(1 - y)
    return {"covariance": sp.expand(after - expansion), "eigenvalue": sp.simplify(b - b**2 - (1 - sp.sqrt(1 - y)) * sp.sqrt(1 - y))}
