"""Exactly solvable limits used by the oracle's closed forms for Q(t) and chi_4(t) (Eqs. 31-32).

I_i(t) = 1 while site i has taken part in no event in (0, t]; Q = (1/N) sum_i I_i (Eq. 31);
chi_4 = N Var Q (Eq. 32).

(a) The onset T = T0 (:func:`onset_limit`).  There gamma = delta = 0 (proofs.onset), so the
    renormalization gives gamma0 = delta0 = 0 and A0 = A / z (proofs.renormalization): every
    cluster fires at the same S-independent rate r0 = A0 / duration (Sec. V: rate = P/duration),
    i.e. the clusters are independent Poisson processes and the kicks are irrelevant to which
    clusters fire.  A set of k clusters stays silent with probability exp(-k r0 t) (the
    survival ODE P' = -k r0 P).  Site i is untouched while its z clusters are silent:
    Q(t) = E I_i = exp(-z r0 t).  Sites i, j are both untouched while the 2z - n_ij clusters
    containing either are silent (inclusion-exclusion; n_ij clusters contain both), so

        Cov(I_i, I_j) = exp(-(2z - n_ij) r0 t) - exp(-2 z r0 t) = exp(-2 z r0 t)(exp(n_ij r0 t) - 1),

    and N Var Q = (1/N) sum_ij Cov(I_i, I_j) = sum_j Cov(I_0, I_j) by translation invariance.
    For m = 1, chi_4 = e^-x (1 - e^-x) (x = r0 t), maximal, 1/4, at x = ln 2.

(b) Frozen single sites (:func:`frozen_site_limit`): m = 1 (c = 1, z = 1, so bare = observed),
    no kicks (K_Delta = 0 gives H = g(0) = 0, proofs.drift_solution), uncorrelated S.  Site i
    fires as a Poisson process of constant rate r(S_i) = A exp(gamma S_i - delta S_i^2) / duration;
    given S_i it survives with probability exp(-r(S_i) t), so Q(t) = E_S[exp(-t r(S))] with
    S ~ N(mu, sigma^2), and (independent Bernoulli I_i) chi_4 = Var I = Q (1 - Q).
"""

from __future__ import annotations

import sympy as sp

from .gaussian import exp_quadratic_integral, log_gaussian_average_closed_form
from .renormalization import SYMBOLS as RSYM
from .renormalization import cluster_sites, derived_renormalization

__all__ = [
    "survival_probability",
    "shared_cluster_counts",
    "onset_limit",
    "onset_bare_law",
    "frozen_site_limit",
]


def survival_probability():
    """P(no event by t) for a Poisson process of constant total rate R: the solution of
    P' = -R P, P(0) = 1 (SymPy dsolve): exp(-R t)."""
    t, R = sp.symbols("t R", positive=True)
    P = sp.Function("P")
    solution = sp.dsolve(sp.Eq(P(t).diff(t), -R * P(t)), P(t), ics={P(0): 1})
    return solution.rhs, R, t


def shared_cluster_counts(dim: int, shape: str, L: int = 5) -> dict:
    """n_0j = number of clusters containing both site 0 and site j, on a periodic L^dim lattice
    (z = n_00).  Also ``union_check``: for every j, the clusters containing 0 or j number
    2 z - n_0j (inclusion-exclusion, counted directly)."""
    clusters = [set(cl) for cl in cluster_sites(dim, L, shape)]
    N = L**dim
    n = [sum(1 for cl in clusters if 0 in cl and j in cl) for j in range(N)]
    z = n[0]
    union_ok = all(sum(1 for cl in clusters if 0 in cl or j in cl) == 2 * z - n[j] for j in range(N))
    m = len(clusters[0])
    return {"n": n, "z": z, "m": m, "union_check": union_ok}


def onset_bare_law() -> dict:
    """At T = T0 (gamma = delta = 0) the derived renormalization gives gamma0 = delta0 = 0 and
    A0 = A / z: returns the three differences (must vanish)."""
    d = derived_renormalization()
    at_onset = {RSYM["gamma"]: 0, RSYM["delta"]: 0}
    return {
        "gamma0": sp.simplify(d["gamma0"].subs(at_onset)),
        "delta0": sp.simplify(d["delta0"].subs(at_onset)),
        "A0_minus_A_over_z": sp.simplify(d["A0"].subs(at_onset) - RSYM["A"] / RSYM["z"]),
    }


def onset_limit(dim: int = 2, shape: str = "plaquette", L: int = 5) -> dict:
    """Q(t), Cov(I_0, I_j) and chi_4(t) at the onset, derived from the survival probability.

    Returns:
    - ``Q_minus_closed``: Q - exp(-z r0 t): 0;
    - ``cov_minus_closed``: for a symbolic n, Cov - exp(-2 z r0 t)(exp(n r0 t) - 1): 0;
    - ``chi4``: sum_j Cov(I_0, I_j) for the shape's n_0j (symbolic in r0 t);
    - ``chi4_small_t``: the t-linear coefficient of chi4 over r0: sum_j n_0j = z m;
    - ``z``, ``m``, ``union_check`` from :func:`shared_cluster_counts`;
    - ``site_peak``: for m = 1, (x*, chi4(x*)) with chi4'(x*) = 0: (ln 2, 1/4).
    """
    survival, R, t = survival_probability()
    r0 = sp.Symbol("r0", positive=True)
    z_sym, n_sym = sp.symbols("z n", positive=True)
    Q = survival.subs(R, z_sym * r0)
    both = survival.subs(R, (2 * z_sym - n_sym) * r0)
    cov = both - Q**2
    counts = shared_cluster_counts(dim, shape, L)
    z = counts["z"]
    # sites sharing no cluster (n = 0) have independent indicators: Cov = 0
    chi4 = sum(cov.subs({z_sym: z, n_sym: n}) for n in counts["n"])
    x = sp.Symbol("x", positive=True)
    chi4_site = sp.simplify(cov.subs({z_sym: 1, n_sym: 1}).subs(t, x / r0))
    (x_star,) = sp.solve(sp.diff(chi4_site, x), x)
    return {
        "Q_minus_closed": sp.simplify(Q - sp.exp(-z_sym * r0 * t)),
        "cov_minus_closed": sp.simplify(cov - sp.exp(-2 * z_sym * r0 * t) * (sp.exp(n_sym * r0 * t) - 1)),
        "chi4": chi4,
        "chi4_small_t": sp.simplify(sp.diff(chi4, t).subs(t, 0) / r0),
        "z": z,
        "m": counts["m"],
        "union_check": counts["union_check"],
        "n": counts["n"],
        "site_peak": (sp.simplify(x_star), sp.simplify(chi4_site.subs(x, x_star))),
        "r0": r0,
        "t": t,
    }


def frozen_site_limit() -> dict:
    """Frozen m = 1 sites.

    Returns:
    - ``bare_equals_observed``: the derived renormalization at c = 1, z = 1: differences
      A0 - A, gamma0 - gamma, delta0 - delta (all 0);
    - ``H_without_kick``: g(0) = 1 - sqrt(1 - 0) = 0 (no drift when K_Delta = 0);
    - ``Q``: the unevaluated E_S[exp(-t r(S))] (an Integral), S ~ N(mu, sigma2);
    - ``Q_at_zero_slope``: Q with gamma = delta = 0, minus exp(-A t / duration): 0;
    - ``dQdt_at_0_minus_mean_rate``: dQ/dt at t = 0 (-E[r(S)], the integral done with
      proofs.gaussian) minus -(A/duration) exp(log-Gaussian average): 0 (a sum of logs and
      a rational part inside an exp ratio; returned as the log of the ratio);
    - ``chi4``: Var of a Bernoulli(Q) indicator, Q (1 - Q).
    """
    d = derived_renormalization()
    one = {RSYM["c"]: 1, RSYM["z"]: 1}
    s = sp.Symbol("s", real=True)
    t, duration = sp.symbols("t duration", positive=True)
    A, gamma, delta, mu, s2 = (RSYM[k] for k in ("A", "gamma", "delta", "mu", "sigma2"))
    rate = A * sp.exp(gamma * s - delta * s**2) / duration
    density = sp.exp(-((s - mu) ** 2) / (2 * s2)) / sp.sqrt(2 * sp.pi * s2)
    Q = sp.Integral(sp.exp(-t * rate) * density, (s, -sp.oo, sp.oo))
    Q_flat = sp.integrate(sp.exp(-t * A / duration) * density, (s, -sp.oo, sp.oo))
    # dQ/dt at 0 = -E[r(S)]: the integrand -rate * density is exp(quadratic in s).  delta is
    # written as (q - 1) / (2 sigma2), q = 1 + 2 delta sigma2 > 0 (finite mean rate), so that
    # SymPy knows the square roots' arguments are positive.
    q = sp.Symbol("q", positive=True)
    d_q = (q - 1) / (2 * s2)
    mean_rate = exp_quadratic_integral(sp.log(A / duration) + gamma * s - d_q * s**2 - (s - mu) ** 2 / (2 * s2), s) / sp.sqrt(
        2 * sp.pi * s2
    )
    closed = sp.log(A / duration) + log_gaussian_average_closed_form(gamma, d_q, mu, s2)
    p = sp.Symbol("p", positive=True)
    return {
        "bare_equals_observed": [
            sp.simplify(d["A0"].subs(one) - A),
            sp.simplify(d["gamma0"].subs(one) - gamma),
            sp.simplify(d["delta0"].subs(one) - delta),
        ],
        "H_without_kick": 1 - sp.sqrt(1 - sp.Integer(0)),
        "Q": Q,
        "Q_at_zero_slope": sp.simplify(Q_flat - sp.exp(-A * t / duration)),
        "Q_derivative_integrand_at_0": sp.diff(Q.function, t).subs(t, 0),
        "log_mean_rate_minus_closed": sp.log(mean_rate) - closed,
        "chi4_bernoulli": sp.expand(p * (1 - p) ** 2 + (1 - p) * p**2),  # E[(I - p)^2] = p(1-p)
        "p": p,
    }
