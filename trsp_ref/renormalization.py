"""Renormalization of the rate law for m-site clusters (Eqs. 20-23, Appendix D; corrected).

A cluster R fires at rate P0(<S>_R) with the bare law P0(s) = A0 exp(gamma0 s - delta0 s^2)
(Eq. D1).  The observed per-particle law is (Eq. D2)

    P(R|S) = z * E[ P0(<S>_R) | S_1 = S ],

the expectation over the other m - 1 sites of one cluster containing site 1, given S_1,
and z = m * n_orientations the number of clusters containing a site.  Given S_1 = S,
<S>_R is Gaussian with mean mu + c (S - mu) and variance c (1 - c) sigma^2, where
c = Kbar_RR' / sigma^2 (Eq. 23: mean of K_RR' over ordered pairs, R = R' included).
(Every site of a site/dimer/plaquette cluster has the same row sum of K inside the
cluster, so c is the same whichever site is "site 1".)

The two directions are computed by two different routes on purpose, so that the
round trip ``bare_from_observed(observed_from_bare(...))`` checks one against the other:

- :func:`observed_from_bare` does the Gaussian integral over <S>_R | S directly;
- :func:`bare_from_observed` uses Eqs. 20-21 as printed and the corrected Eq. 22, which
  follows from matching the equilibrium averages E_S[P(R|S)] = z E[P0(<S>_R)] with
  S ~ N(mu, sigma^2) and <S>_R ~ N(mu, c sigma^2); hence c sigma^2 (not sigma^2) in the
  second exponent, twice (ERRATA).

Both use the Gaussian integral
E[exp(g X - d X^2)] = (1 + 2 d v)^(-1/2) exp((g m - d m^2 + g^2 v / 2) / (1 + 2 d v)) for
X ~ N(m, v), valid when 1 + 2 d v > 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .covariance import softness_covariance
from .lattice import cluster_sites, clusters_per_site
from .params import LOG_HUGE, ParameterError, Params, reported_rate_error
from .temperature import mean_at_temperature, rates_at_temperature

__all__ = [
    "RateParameters",
    "cluster_correlation",
    "bare_from_observed",
    "observed_from_bare",
    "rate_parameters",
    "log_gaussian_average",
]


@dataclass(frozen=True)
class RateParameters:
    """Both forms of the rate law and what links them.

    observed : (A, gamma, delta) of the per-particle law P(R|S) = A exp(gamma S - delta S^2) (Eq. 4).
    bare     : (A0, gamma0, delta0) of the per-cluster law P0(s) = A0 exp(gamma0 s - delta0 s^2) (Eq. D1);
               this is the law the dynamics uses.
    c        : the cluster correlation Kbar_RR' / variance (Eq. 23).
    z        : clusters containing a site, m * n_orientations (Eq. D2).
    mean     : the mean softness <S> (resolved from [temperature] when present).
    """

    observed: tuple[float, float, float]
    bare: tuple[float, float, float]
    c: float
    z: int
    mean: float


def log_gaussian_average(g: float, d: float, m: float, v: float) -> float:
    """log E[exp(g X - d X^2)] for X ~ N(m, v) (requires 1 + 2 d v > 0)."""
    q = 1.0 + 2.0 * d * v
    return -0.5 * math.log(q) + (g * m - d * m * m + 0.5 * g * g * v) / q


def cluster_correlation(p: Params, K: np.ndarray | None = None) -> float:
    """c = Kbar_RR' / variance (Eq. 23): mean of K_RR' over all ordered pairs of sites of cluster 0,
    R = R' included, divided by the variance.  ``K`` (the dense covariance) may be passed.

    Every cluster has the same c: K depends on distances only and all orientations are
    related by lattice symmetries.
    """
    if K is None:
        K = softness_covariance(p)
    sites = cluster_sites(p.lattice.dim, p.lattice.L, p.cluster.shape)[0]
    return float(K[np.ix_(sites, sites)].mean() / p.softness.variance)


def _log_prefactor_to_value(log_value: float, parameter: str, what: str) -> float:
    if not -LOG_HUGE < log_value < LOG_HUGE:
        raise ParameterError(
            parameter,
            f"{what} = exp({log_value:.6g}) is out of floating-point range; the rates would "
            "over- or underflow: bring rates.A, rates.gamma and softness.mean to moderate values",
        )
    return math.exp(log_value)


def bare_from_observed(
    A: float, gamma: float, delta: float, *, mean: float, variance: float, c: float, z: int
) -> tuple[float, float, float]:
    """(A0, gamma0, delta0) from the observed (A, gamma, delta): Eqs. 20, 21 and corrected Eq. 22.

    delta0 = delta / (c^2 - 2c(1-c) delta sigma^2)                                 (Eq. 20)
    gamma0 = (gamma + 2c(1-c) delta0 (mu + gamma sigma^2)) / c                      (Eq. 21)
    A0 = (A/z) sqrt((1 + 2 c delta0 sigma^2)/(1 + 2 delta sigma^2))
         exp((gamma mu - delta mu^2 + gamma^2 sigma^2/2)/(1 + 2 delta sigma^2)
             - (gamma0 mu - delta0 mu^2 + gamma0^2 c sigma^2/2)/(1 + 2 delta0 c sigma^2))  (Eq. 22, corrected)

    Raises ParameterError('rates.delta') when c^2 - 2c(1-c) delta sigma^2 <= 0 (no bare law
    reproduces the observed one) or 1 + 2 delta sigma^2 <= 0 (the equilibrium rate diverges).
    """
    s2 = variance
    denominator = c * c - 2.0 * c * (1.0 - c) * delta * s2
    if not denominator > 0.0:
        limit = c / (2.0 * (1.0 - c) * s2)
        raise ParameterError(
            "rates.delta",
            f"renormalization has no solution: c^2 - 2c(1-c) delta variance = {denominator:.6g} <= 0 "
            f"(c = {c:.6g}, delta = {delta:.6g}, variance = {variance:.6g}); need delta < "
            f"c / (2 (1-c) variance) = {limit:.6g}: reduce rates.delta or softness.variance",
        )
    if not 1.0 + 2.0 * delta * s2 > 0.0:
        raise ParameterError(
            "rates.delta",
            f"1 + 2 delta variance = {1.0 + 2.0 * delta * s2:.6g} <= 0: the observed rate "
            "A exp(gamma S - delta S^2) grows faster than the softness distribution decays, so no "
            "equilibrium (and no bare law) exists; increase rates.delta above -1/(2 variance)",
        )
    delta0 = delta / denominator  # Eq. 20
    gamma0 = (gamma + 2.0 * c * (1.0 - c) * delta0 * (mean + gamma * s2)) / c  # Eq. 21
    # Eq. 22 corrected: log of z A0 E[exp(gamma0 sbar - delta0 sbar^2)], sbar ~ N(mu, c s2),
    # equals log of A E[exp(gamma S - delta S^2)], S ~ N(mu, s2).
    log_A0 = (
        math.log(A / z)
        + log_gaussian_average(gamma, delta, mean, s2)
        - log_gaussian_average(gamma0, delta0, mean, c * s2)
    )
    A0 = _log_prefactor_to_value(log_A0, "rates.A", "the bare prefactor A0 (Eq. 22)")
    return A0, gamma0, delta0


def observed_from_bare(
    A0: float, gamma0: float, delta0: float, *, mean: float, variance: float, c: float, z: int
) -> tuple[float, float, float]:
    """(A, gamma, delta) of the observed law from the bare (A0, gamma0, delta0) (Eq. D2 integrated).

    With sbar | S ~ N(c S + (1-c) mu, v), v = c(1-c) sigma^2, and q = 1 + 2 delta0 v:
    delta = delta0 c^2 / q,  gamma = c (gamma0 - 2 delta0 (1-c) mu) / q,
    A = z A0 q^(-1/2) exp((gamma0 (1-c) mu - delta0 (1-c)^2 mu^2 + gamma0^2 v / 2) / q).

    Raises ParameterError('rates.delta') when q <= 0 (the average over the cluster diverges).
    """
    v = c * (1.0 - c) * variance
    q = 1.0 + 2.0 * delta0 * v
    if not q > 0.0:
        raise ParameterError(
            "rates.delta",
            f"renormalization has no solution: 1 + 2 delta0 c(1-c) variance = {q:.6g} <= 0 "
            f"(c = {c:.6g}, delta0 = {delta0:.6g}); the bare rate grows faster than the "
            f"cluster average's distribution decays: increase rates.delta above {-1.0 / (2.0 * v):.6g}",
        )
    delta = delta0 * c * c / q
    gamma = c * (gamma0 - 2.0 * delta0 * (1.0 - c) * mean) / q
    # the S-independent part of log z E[P0(sbar) | S]: the Gaussian average at S = 0
    log_A = math.log(z * A0) + log_gaussian_average(gamma0, delta0, (1.0 - c) * mean, v)
    A = _log_prefactor_to_value(log_A, "rates.A", "the observed prefactor A")
    return A, gamma, delta


def rate_parameters(p: Params, K: np.ndarray | None = None, c: float | None = None) -> RateParameters:
    """Both forms of the rate law for ``p``, resolving [temperature] (Eqs. 27-28) when present.

    The law given in the file is at level ``rates.level``; the other one follows from
    :func:`bare_from_observed` / :func:`observed_from_bare`.  ``K`` may be passed to avoid
    rebuilding the covariance, or ``c`` (Eq. 23, :func:`cluster_correlation`) where it is known
    without the dense K (a large lattice: trsp_fit.validity).
    """
    if p.temperature is not None:
        given = rates_at_temperature(p.temperature)
        mean = mean_at_temperature(p.temperature)
    else:
        given = (p.rates.A, p.rates.gamma, p.rates.delta)
        mean = p.softness.mean
    c = cluster_correlation(p, K) if c is None else float(c)
    z = clusters_per_site(p.lattice.dim, p.cluster.shape)
    kw = dict(mean=mean, variance=p.softness.variance, c=c, z=z)
    try:
        if p.rates.level == "observed":
            observed, bare = given, bare_from_observed(*given, **kw)
        else:
            observed, bare = observed_from_bare(*given, **kw), given
    except ParameterError as err:
        raise reported_rate_error(p, err) from None
    return RateParameters(
        observed=tuple(float(x) for x in observed),
        bare=tuple(float(x) for x in bare),
        c=c,
        z=z,
        mean=float(mean),
    )
