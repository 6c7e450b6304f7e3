"""Renormalization of the rate law for m-site clusters (Eqs. 20-23; Appendix D, Eqs. D1-D3).

A cluster R fires at rate P0(<S>_R), P0(s) = A0 exp(gamma0 s - delta0 s^2) (Eq. D1).  The
rate at which a given particle is seen to rearrange is the sum over the z clusters that
contain it (Eq. D2):

    P(R | S_1 = S) = z E[ P0(sbar) | S_1 = S ],    sbar = <S>_R = w^T S.

Steps, each a function here:

1. :func:`cluster_conditional`: given S_1 = S, sbar is Gaussian with mean (1 - c) mu + c S and
   variance sigma^2 c (1 - c), c = Kbar_RR' / sigma^2 (Eq. 23), for clusters in which every
   site sees the same multiset of correlations (sites, dimers, plaquettes); c is then also
   the average of K_1j / sigma^2 over the cluster's sites j.  The conditional mean of S_j is
   mu + K_1j (S - mu) / sigma^2 (Appendix D prints it without the 1/sigma^2: ERRATA E14).
2. :func:`dimer_direct_integral`: D2 done literally for a dimer (the integral over S_2),
   agreeing with step 1 plus the one-dimensional Gaussian integral.
3. :func:`observed_from_bare_derivation`: the Gaussian integral (proofs.gaussian) and matching
   the coefficients of S^0, S^1, S^2 with log(A), gamma, -delta (Eq. D3).
4. :func:`bare_from_observed_derivation`: solving those equations: delta0 (Eq. 20, as printed),
   gamma0 (Eq. 21, as printed), A0 (coefficient-matched), and the printed Eq. 22 against
   the corrected form (c sigma^2 for sigma^2 in the second exponent, twice; ERRATA E6),
   which follows from equating equilibrium mean rates z E[P0(sbar)] = E_S[P(R|S)].
5. :func:`solvability`: c^2 - 2 c (1 - c) delta sigma^2 > 0 is exactly the convergence
   condition 1 + 2 delta0 c (1 - c) sigma^2 > 0 of the cluster average.
6. :func:`clusters_per_site`: z is the number of clusters containing a site (D2's z_m),
   m N_m / N, not N_m / N (ERRATA E7), by enumeration on a periodic lattice.

:func:`derived_renormalization` exports the result for cross-checks of the oracle.
"""

from __future__ import annotations

import functools
import itertools

import sympy as sp

from .gaussian import (
    decorrelate,
    exp_quadratic_integral,
    log_gaussian_average_closed_form,
    quadratic_coefficients,
    split_logs,
)

__all__ = [
    "SYMBOLS",
    "cluster_conditional",
    "dimer_direct_integral",
    "observed_from_bare_derivation",
    "bare_from_observed_derivation",
    "eq22_numeric",
    "solvability",
    "order_estimates",
    "cluster_sites",
    "clusters_per_site",
    "derived_renormalization",
]

#: the symbols of this module, by name (names chosen to match the oracle's keywords)
SYMBOLS = {
    "A": sp.Symbol("A", positive=True),
    "gamma": sp.Symbol("gamma", real=True),
    "delta": sp.Symbol("delta", real=True),
    "A0": sp.Symbol("A0", positive=True),
    "gamma0": sp.Symbol("gamma0", real=True),
    "delta0": sp.Symbol("delta0", real=True),
    "mu": sp.Symbol("mu", real=True),
    "sigma2": sp.Symbol("sigma2", positive=True),
    "c": sp.Symbol("c", positive=True),
    "z": sp.Symbol("z", positive=True),
    "S": sp.Symbol("S", real=True),
}


# --------------------------------------------------------------------------------------
# 1. the conditional law of the cluster mean
# --------------------------------------------------------------------------------------


def _cluster_covariance(shape: str):
    """The covariance of a cluster's softness values, with symbols: variance sigma2, and
    k (dimer), k1 nearest / k2 diagonal (plaquette, sites x, x+e_a, x+e_b, x+e_a+e_b),
    or a general symmetric 3 x 3 (``general3``: rows with different sums)."""
    s2 = SYMBOLS["sigma2"]
    if shape == "dimer":
        k = sp.Symbol("k", real=True)
        return sp.Matrix([[s2, k], [k, s2]])
    if shape == "plaquette":
        k1, k2 = sp.symbols("k1 k2", real=True)
        return sp.Matrix([[s2, k1, k1, k2], [k1, s2, k2, k1], [k1, k2, s2, k1], [k2, k1, k1, s2]])
    if shape == "general3":
        a, b, d = sp.symbols("k01 k02 k12", real=True)
        return sp.Matrix([[s2, a, b], [a, s2, d], [b, d, s2]])
    raise ValueError(shape)


def cluster_conditional(shape: str) -> dict:
    """Law of sbar = <S>_R given S_1 (site index 0 here) for a dimer, a plaquette or a
    general 3-site cluster (``general3``), by conditioning (proofs.gaussian.decorrelate).

    Returns:
    - ``slope``, ``variance``: E[sbar | S_1] = mu + slope (S_1 - mu), Var[sbar | S_1];
    - ``c``: Kbar_RR' / sigma^2 = w^T K w / sigma^2 (Eq. 23);
    - ``row_average``: c_1 = average over j of K_1j / sigma^2 (j over the cluster, 1 included);
    - ``slope_minus_row_average``: 0 for every shape;
    - ``variance_minus_general``: Var - sigma^2 (c - c_1^2): 0 for every shape;
    - ``slope_minus_c``, ``variance_minus_eq``: slope - c and Var - sigma^2 c (1 - c): 0 for
      dimer and plaquette (equal row sums), not for ``general3``;
    - ``gain_minus_corrected_D``: gain_j - K_1j / sigma^2 (E[S_j | S_1] = mu + gain_j (S_1 - mu)): 0;
    - ``gain_minus_printed_D``: gain_j - K_1j (Appendix D as printed): non-zero;
    - ``conditional_cov_minus_D``: Cov - (K_jk - K_j1 K_k1 / sigma^2) (Appendix D): 0.
    """
    K = _cluster_covariance(shape)
    s2 = SYMBOLS["sigma2"]
    m = K.shape[0]
    cross, gain, conditional_cov = decorrelate(K[:1, :1], K[:1, 1:], K[1:, :1], K[1:, 1:])
    assert all(sp.simplify(e) == 0 for e in cross)
    # sbar = (S_1 + sum_j S_j) / m; E[S_j | S_1] - mu = gain_j (S_1 - mu)
    slope = sp.simplify((1 + sum(gain)) / m)
    ones = sp.ones(m - 1, 1) / m
    variance = sp.simplify((ones.T * conditional_cov * ones)[0, 0])
    w = sp.ones(m, 1) / m
    c = sp.simplify((w.T * K * w)[0, 0] / s2)
    row_average = sp.simplify(sum(K[0, j] for j in range(m)) / (m * s2))
    K1 = K[1:, :1]
    return {
        "slope": slope,
        "variance": variance,
        "c": c,
        "row_average": row_average,
        "slope_minus_row_average": sp.simplify(slope - row_average),
        "variance_minus_general": sp.simplify(variance - s2 * (c - row_average**2)),
        "slope_minus_c": sp.simplify(slope - c),
        "variance_minus_eq": sp.simplify(variance - s2 * c * (1 - c)),
        "gain_minus_corrected_D": sp.simplify(gain - K1 / s2),
        "gain_minus_printed_D": sp.simplify(gain - K1),
        "conditional_cov_minus_D": sp.simplify(conditional_cov - (K[1:, 1:] - K1 * K1.T / s2)),
    }


# --------------------------------------------------------------------------------------
# 2. Eq. D2 done literally for a dimer
# --------------------------------------------------------------------------------------


def dimer_direct_integral() -> dict:
    """Eq. D2 for m = 2: integrate P(S_2 | S_1 = S) P0((S + S_2)/2) over S_2 directly and compare
    with log A0 + log E[exp(gamma0 X - delta0 X^2)], X ~ N((1-c) mu + c S, sigma^2 c (1-c)).

    Parametrized so that SymPy knows every square root's argument is positive: the dimer
    correlation is k = sigma2 (1 - u^2)/(1 + u^2) (u > 0, so |k| < sigma2) and delta0 is
    written through q = 1 + 2 delta0 Var(sbar | S) > 0.  Returns ``difference`` (must vanish).
    """
    A0, gamma0, mu, S, s2 = (SYMBOLS[k] for k in ("A0", "gamma0", "mu", "S", "sigma2"))
    u, q = sp.symbols("u q", positive=True)
    k = s2 * (1 - u**2) / (1 + u**2)
    c = (s2 + k) / (2 * s2)
    v_sbar = s2 * c * (1 - c)
    delta0 = (q - 1) / (2 * v_sbar)
    S2 = sp.Symbol("S2", real=True)
    mean2 = mu + k / s2 * (S - mu)
    var2 = s2 - k**2 / s2
    sbar = (S + S2) / 2
    exponent = -((S2 - mean2) ** 2) / (2 * var2) + sp.log(A0) + gamma0 * sbar - delta0 * sbar**2
    direct = exp_quadratic_integral(exponent, S2) / sp.sqrt(2 * sp.pi * var2)
    via_sbar = sp.log(A0) + log_gaussian_average_closed_form(gamma0, delta0, (1 - c) * mu + c * S, v_sbar)
    difference = sp.expand_log(sp.log(direct), force=True) - sp.expand_log(via_sbar, force=True)
    return {"difference": sp.simplify(difference)}


# --------------------------------------------------------------------------------------
# 3-5. coefficient matching, inversion, solvability
# --------------------------------------------------------------------------------------


def _q():
    c, s2, delta0 = SYMBOLS["c"], SYMBOLS["sigma2"], SYMBOLS["delta0"]
    return 1 + 2 * delta0 * c * (1 - c) * s2


@functools.lru_cache(maxsize=None)
def observed_from_bare_derivation() -> dict:
    """(log A, gamma, delta) as functions of the bare parameters, by coefficient matching.

    log P(R | S) = log z + log A0 + log E[exp(gamma0 X - delta0 X^2)], X | S ~ N((1-c) mu + c S,
    sigma^2 c (1-c)); the right side is quadratic in S; its S^0, S^1, S^2 coefficients are
    log A, gamma, -delta (Eq. D3).  With q = 1 + 2 delta0 c (1-c) sigma^2:

        delta = delta0 c^2 / q,   gamma = c (gamma0 - 2 delta0 (1-c) mu) / q,
        log A = log(z A0) - log(q)/2 + (gamma0 (1-c) mu - delta0 (1-c)^2 mu^2 + gamma0^2 c (1-c) sigma^2 / 2) / q.

    Returns ``log_A``, ``gamma``, ``delta`` (derived) and ``*_minus_closed_form`` for the
    closed forms above (must vanish; these are the forms the oracle's observed_from_bare uses).
    """
    A0, gamma0, delta0, mu, s2, c, z, S = (SYMBOLS[k] for k in ("A0", "gamma0", "delta0", "mu", "sigma2", "c", "z", "S"))
    log_rate = sp.log(z) + sp.log(A0) + log_gaussian_average_closed_form(gamma0, delta0, (1 - c) * mu + c * S, s2 * c * (1 - c))
    c0, c1, c2 = quadratic_coefficients(log_rate, S)
    q = _q()
    closed = {
        "delta": delta0 * c**2 / q,
        "gamma": c * (gamma0 - 2 * delta0 * (1 - c) * mu) / q,
        "log_A": sp.log(z * A0)
        - sp.log(q) / 2
        + (gamma0 * (1 - c) * mu - delta0 * (1 - c) ** 2 * mu**2 + gamma0**2 * c * (1 - c) * s2 / 2) / q,
    }
    derived = {"log_A": c0, "gamma": c1, "delta": -c2}
    out = dict(derived)
    for key in derived:
        out[f"{key}_minus_closed_form"] = sp.simplify(sp.expand_log(derived[key] - closed[key], force=True))
    out["closed"] = closed
    return out


def _eq22(A, gamma, delta, gamma0, delta0, mu, s2, c, z, *, corrected: bool):
    """Eq. 22 as printed (corrected=False) or with c sigma^2 for sigma^2 twice in the second exponent."""
    v0 = c * s2 if corrected else s2
    first = (gamma * mu - delta * mu**2 + gamma**2 * s2 / 2) / (1 + 2 * delta * s2)
    second = (gamma0 * mu - delta0 * mu**2 + gamma0**2 * v0 / 2) / (1 + 2 * delta0 * v0)
    return A / z * sp.sqrt((1 + 2 * c * delta0 * s2) / (1 + 2 * delta * s2)) * sp.exp(first - second)


@functools.lru_cache(maxsize=None)
def bare_from_observed_derivation() -> dict:
    """Invert :func:`observed_from_bare_derivation`: Eqs. 20-22.

    Returns:
    - ``delta0``, ``gamma0``: solved with SymPy from the delta and gamma equations;
    - ``eq20_difference``, ``eq21_difference``: minus Eqs. 20, 21 as printed: zero;
    - ``A0``: from the log A equation, fully explicit in (A, gamma, delta, mu, sigma2, c, z);
    - ``mean_rate_A0``: the A0 that equates the equilibrium mean rates,
      z A0 E[exp(gamma0 X - delta0 X^2)] (X ~ N(mu, c sigma^2), the law of sbar) =
      A E[exp(gamma S - delta S^2)] (S ~ N(mu, sigma^2)) -- the corrected Eq. 22;
    - ``eq22_corrected_log_ratio_args``, ``eq22_corrected_exponent``: the corrected Eq. 22 with
      the observed law written in bare terms: its sqrt argument minus q, and its exponent
      minus the matched one: both zero (so corrected Eq. 22 = the coefficient-matched A0);
    - ``eq22_printed_exponent``: the same for the printed Eq. 22: non-zero (ERRATA E6);
      zero at c = 1;
    - ``mean_rate_identity``: the tower property behind the corrected form: log of
      E_S[z E[P0(sbar) | S]] minus log z E[P0(sbar)], sbar ~ N(mu, c sigma^2): zero
      (a sum of logarithms and a rational part; check with proofs.gaussian.is_zero_log).
    """
    A, gamma, delta = SYMBOLS["A"], SYMBOLS["gamma"], SYMBOLS["delta"]
    A0, gamma0, delta0 = SYMBOLS["A0"], SYMBOLS["gamma0"], SYMBOLS["delta0"]
    mu, s2, c, z = SYMBOLS["mu"], SYMBOLS["sigma2"], SYMBOLS["c"], SYMBOLS["z"]
    fwd = observed_from_bare_derivation()
    (delta0_solved,) = sp.solve(sp.Eq(delta, fwd["delta"]), delta0)
    (gamma0_solved,) = sp.solve(sp.Eq(gamma, fwd["gamma"].subs(delta0, delta0_solved)), gamma0)
    delta0_solved = sp.simplify(delta0_solved)
    gamma0_solved = sp.simplify(gamma0_solved)
    eq20 = delta / (c**2 - 2 * c * (1 - c) * delta * s2)
    eq21 = (gamma + 2 * c * (1 - c) * delta0 * (mu + gamma * s2)) / c
    # log A = log z + log A0 + rest(gamma0, delta0)  =>  log A0 = log A - log z - rest
    rest = sp.expand(sp.expand_log(fwd["log_A"], force=True)) - sp.log(z) - sp.log(A0)
    assert not rest.has(A0)
    subs_bare = {delta0: delta0_solved, gamma0: gamma0_solved}
    # rest = log(R) + Q: A0 = (A/z) R^-1 exp(-Q), each piece simplified on its own
    R, Q = split_logs(rest)
    R = sp.factor(sp.cancel(R.subs(subs_bare, simultaneous=True)))
    Q = sp.factor(sp.cancel(Q.subs(subs_bare, simultaneous=True)))
    A0_explicit = A / z / R * sp.exp(-Q)

    # equilibrium mean rates (the corrected Eq. 22), derived with the Gaussian average
    log_mean_observed = sp.log(A) + log_gaussian_average_closed_form(gamma, delta, mu, s2)
    log_mean_bare = sp.log(z * A0) + log_gaussian_average_closed_form(gamma0, delta0, mu, c * s2)
    # log_mean_bare = log A0 + (terms without A0): solve log_mean_bare = log_mean_observed for A0
    mean_rate_A0 = sp.exp(sp.expand_log(sp.log(A0) + log_mean_observed - log_mean_bare, force=True))

    # tower property: E_S[ z E[P0(sbar)|S] ] with log z E[P0|S] = log A + gamma S - delta S^2 (bare terms)
    obs_in_bare = {A: sp.exp(fwd["closed"]["log_A"]), gamma: fwd["closed"]["gamma"], delta: fwd["closed"]["delta"]}
    tower = (
        fwd["closed"]["log_A"]
        + log_gaussian_average_closed_form(fwd["closed"]["gamma"], fwd["closed"]["delta"], mu, s2)
        - log_mean_bare
    )

    def exponent_of(corrected):
        # log Eq. 22 - log A0 with the observed law in bare terms, less its sqrt part (checked
        # separately): -log(q)/2 + X/q + first - second, and 1/2 log(sqrt_arg) cancels -log(q)/2
        v0 = c * s2 if corrected else s2
        gam, dlt = obs_in_bare[gamma], obs_in_bare[delta]
        first = (gam * mu - dlt * mu**2 + gam**2 * s2 / 2) / (1 + 2 * dlt * s2)
        second = (gamma0 * mu - delta0 * mu**2 + gamma0**2 * v0 / 2) / (1 + 2 * delta0 * v0)
        q = _q()
        X_over_q = fwd["closed"]["log_A"] - sp.log(z * A0) + sp.log(q) / 2
        return sp.simplify(X_over_q + first - second)

    q = _q()
    sqrt_arg = (1 + 2 * c * delta0 * s2) / (1 + 2 * obs_in_bare[delta] * s2)
    return {
        "delta0": delta0_solved,
        "gamma0": gamma0_solved,
        "eq20_difference": sp.simplify(delta0_solved - eq20),
        "eq21_difference": sp.simplify(gamma0_solved - eq21.subs(delta0, delta0_solved)),
        "A0": A0_explicit,
        "mean_rate_A0": mean_rate_A0,
        "eq22_corrected_sqrt_argument_minus_q": sp.simplify(sqrt_arg - q),
        "eq22_corrected_exponent": exponent_of(True),
        "eq22_printed_exponent": sp.factor(exponent_of(False)),
        "mean_rate_identity": tower,
    }


def eq22_numeric(values: dict | None = None) -> dict:
    """A0 from the printed Eq. 22, the corrected Eq. 22 and coefficient matching, at one exact
    rational parameter point (default: the test point of tests/test_ref_renormalization.py).
    Corrected and matched agree; the printed form differs (ERRATA E6)."""
    S = SYMBOLS
    values = values or {
        "A": sp.Rational(7, 100), "gamma": sp.Rational(11, 10), "delta": sp.Rational(1, 25),
        "mu": sp.Rational(-4, 5), "sigma2": sp.Rational(13, 10), "c": sp.Rational(37, 100), "z": 12,
    }  # fmt: skip
    inv = bare_from_observed_derivation()
    subs = {S[k]: v for k, v in values.items()}
    delta0 = inv["delta0"].subs(subs)
    gamma0 = inv["gamma0"].subs(subs)
    args = [subs[S[k]] for k in ("A", "gamma", "delta")] + [gamma0, delta0] + [subs[S[k]] for k in ("mu", "sigma2", "c", "z")]
    matched = inv["A0"].subs(subs)
    return {
        "matched": sp.N(matched, 30),
        "corrected": sp.N(_eq22(*args, corrected=True), 30),
        "printed": sp.N(_eq22(*args, corrected=False), 30),
        "mean_rate": sp.N(inv["mean_rate_A0"].subs({S["gamma0"]: gamma0, S["delta0"]: delta0}).subs(subs), 30),
    }


def solvability() -> dict:
    """The inverse exists iff c^2 - 2c(1-c) delta sigma^2 > 0.

    With delta0 from Eq. 20, q = 1 + 2 delta0 c (1-c) sigma^2 = c^2 / D, D = c^2 - 2c(1-c) delta sigma^2,
    so (c > 0) q > 0 -- the convergence of the average over the cluster in Eq. D2 -- is D > 0.
    Also 1 + 2 delta sigma^2 = (1 + 2 c delta0 sigma^2) / q (the finiteness of the equilibrium
    mean rate, same sign on both levels).  Returns both differences (must vanish).
    """
    delta, delta0, s2, c = SYMBOLS["delta"], SYMBOLS["delta0"], SYMBOLS["sigma2"], SYMBOLS["c"]
    D = c**2 - 2 * c * (1 - c) * delta * s2
    q = _q()
    fwd_delta = observed_from_bare_derivation()["closed"]["delta"]
    return {
        "q_minus_c2_over_D": sp.simplify(q.subs(delta0, delta / D) - c**2 / D),
        "one_plus_2_delta_sigma2": sp.simplify(1 + 2 * fwd_delta * s2 - (1 + 2 * c * delta0 * s2) / q),
    }


def order_estimates() -> dict:
    """The O(.) terms of Eqs. 20-21, by series expansion in delta (ERRATA E5, minor).

    - ``delta0_second_order``: the delta^2 coefficient of delta0: 2 (1-c) sigma^2 / c^3, so
      delta0 = delta/c^2 + O(delta^2 sigma^2) (printed: O(delta^2 sigma^4), off by one sigma^2;
      as a relative correction it is O(delta sigma^2));
    - ``gamma0_first_order``: gamma0 - gamma/c to first order in delta: 2 (1-c) delta (mu + gamma sigma^2) / c^2,
      which is O(delta (mu + gamma sigma^2)), not O(delta sigma^2) unless mu is O(gamma sigma^2).
    """
    delta, gamma, mu, s2, c = (SYMBOLS[k] for k in ("delta", "gamma", "mu", "sigma2", "c"))
    inv = bare_from_observed_derivation()
    series_delta0 = sp.series(inv["delta0"], delta, 0, 3).removeO()
    series_gamma0 = sp.series(inv["gamma0"], delta, 0, 2).removeO()
    return {
        "delta0_zeroth": sp.simplify(series_delta0.coeff(delta, 1)),
        "delta0_second_order": sp.simplify(series_delta0.coeff(delta, 2)),
        "gamma0_first_order": sp.factor(sp.simplify(series_gamma0 - gamma / c)),
        "expected_gamma0_first_order": 2 * (1 - c) * delta * (mu + gamma * s2) / c**2,
        "expected_delta0_second_order": 2 * (1 - c) * s2 / c**3,
    }


# --------------------------------------------------------------------------------------
# 6. z by enumeration
# --------------------------------------------------------------------------------------


def cluster_sites(dim: int, L: int, shape: str) -> list[tuple[int, ...]]:
    """All clusters of a periodic L^dim lattice as tuples of site indices (C order), following
    docs/model.md: site {x}; dimer {x, x+e_a} for each axis a; plaquette
    {x, x+e_a, x+e_b, x+e_a+e_b} for each axis pair a < b.  Written here independently of
    the oracle's lattice module."""

    def index(coords):
        i = 0
        for x in coords:
            i = i * L + (x % L)
        return i

    def shifted(x, *axes):
        y = list(x)
        for a in axes:
            y[a] += 1
        return y

    if shape == "site":
        offsets = [[()]]
    elif shape == "dimer":
        offsets = [[(), (a,)] for a in range(dim)]
    elif shape == "plaquette":
        offsets = [[(), (a,), (b,), (a, b)] for a, b in itertools.combinations(range(dim), 2)]
    else:
        raise ValueError(shape)
    clusters = []
    for orientation in offsets:
        for x in itertools.product(range(L), repeat=dim):
            clusters.append(tuple(index(shifted(x, *axes)) for axes in orientation))
    return clusters


def clusters_per_site(dim: int, shape: str, L: int = 4) -> dict:
    """z (clusters containing site 0), N_m / N (the text after Eq. 23), m and the number of
    orientations, by enumeration; every site has the same count (``uniform``)."""
    clusters = cluster_sites(dim, L, shape)
    N = L**dim
    counts = [0] * N
    for cl in clusters:
        for i in set(cl):
            counts[i] += 1
    m = len(clusters[0])
    return {
        "z": counts[0],
        "uniform": len(set(counts)) == 1,
        "N_m_over_N": sp.Rational(len(clusters), N),
        "m": m,
        "n_orientations": len(clusters) // N,
    }


# --------------------------------------------------------------------------------------
# export for cross-checks
# --------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def _derived():
    S = SYMBOLS
    fwd = observed_from_bare_derivation()
    inv = bare_from_observed_derivation()
    exprs = {
        "A0": inv["A0"],
        "gamma0": inv["gamma0"],
        "delta0": inv["delta0"],
        "A": sp.exp(fwd["log_A"]),
        "gamma": fwd["gamma"],
        "delta": fwd["delta"],
    }
    obs_args = [S[k] for k in ("A", "gamma", "delta", "mu", "sigma2", "c", "z")]
    bare_args = [S[k] for k in ("A0", "gamma0", "delta0", "mu", "sigma2", "c", "z")]
    to_bare = sp.lambdify(obs_args, (exprs["A0"], exprs["gamma0"], exprs["delta0"]), "math")
    to_observed = sp.lambdify(bare_args, (exprs["A"], exprs["gamma"], exprs["delta"]), "math")
    return exprs, to_bare, to_observed


def derived_renormalization() -> dict:
    """The renormalization as derived here, for cross-checking the oracle.

    Keys:
    - ``"A0"``, ``"gamma0"``, ``"delta0"``: SymPy expressions of the bare parameters in the
      observed ones, explicit (symbols A, gamma, delta, mu, sigma2, c, z; no gamma0/delta0 inside);
    - ``"A"``, ``"gamma"``, ``"delta"``: the observed ones in the bare ones
      (symbols A0, gamma0, delta0, mu, sigma2, c, z);
    - ``"bare_from_observed"``: callable (A, gamma, delta, *, mean, variance, c, z) -> (A0, gamma0, delta0);
    - ``"observed_from_bare"``: callable (A0, gamma0, delta0, *, mean, variance, c, z) -> (A, gamma, delta).
    The callables are ``sympy.lambdify`` of those expressions (floats in, floats out), with
    the keyword names of trsp_ref.renormalization.
    """
    exprs, to_bare, to_observed = _derived()

    def bare_from_observed(A, gamma, delta, *, mean, variance, c, z):
        return tuple(float(v) for v in to_bare(A, gamma, delta, mean, variance, c, z))

    def observed_from_bare(A0, gamma0, delta0, *, mean, variance, c, z):
        return tuple(float(v) for v in to_observed(A0, gamma0, delta0, mean, variance, c, z))

    return {**exprs, "bare_from_observed": bare_from_observed, "observed_from_bare": observed_from_bare}
