"""The rate law of the fast simulator: bare <-> observed renormalization by quadrature (Appendix D).

A cluster R fires at rate P0(<S>_R)/duration, P0(s) = A0 exp(gamma0 s - delta0 s^2) (Eq. D1).
The observed per-particle law is P(R|S) = z E[P0(<S>_R) | S_1 = S] (Eq. D2), z = m * n_orient.

This module evaluates that definition *numerically* and never uses the closed forms of
Eqs. 20-22 (the oracle, trsp_ref.renormalization, does; the two routes check each other):

* given S_1 = S, the other m - 1 sites of a cluster are Gaussian (conditioning the m x m
  block of K), so <S>_R | S is Gaussian with a mean and variance computed from that block;
* E[P0(<S>_R) | S] is a Gauss-Hermite quadrature (centred on the integrand's peak, so it is
  accurate for any gamma0);
* log P(R|S) is exactly quadratic in S, so three values of S determine (log A, gamma, delta):
  that is :func:`observed_from_bare`;
* :func:`bare_from_observed` inverts that map by Newton's method on (log A0, gamma0, delta0).

The temperature layer (Eqs. 27-28 with the sign of ERRATA, docs/model.md) is resolved by
:func:`given_rate_law`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from trsp_ref.params import LOG_HUGE, ParameterError, Params, reported_rate_error

__all__ = ["RateLaw", "given_rate_law", "observed_from_bare", "bare_from_observed", "rate_law"]


#: Gauss-Hermite nodes; the peak-centred rule integrates a Gaussian times a smooth factor
_NODES, _WEIGHTS = np.polynomial.hermite.hermgauss(80)


@dataclass(frozen=True)
class RateLaw:
    """observed (A, gamma, delta) of P(R|S) (Eq. 4), bare (A0, gamma0, delta0) of P0 (Eq. D1),
    c (Eq. 23), z (clusters per site), mean <S>."""

    observed: tuple[float, float, float]
    bare: tuple[float, float, float]
    c: float
    z: int
    mean: float


def given_rate_law(p: Params) -> tuple[tuple[float, float, float], float]:
    """((A, gamma, delta) at level rates.level, mean softness), from [rates]/[softness] or [temperature].

    Temperature (Eqs. 27-28 with the onset sign of ERRATA): Delta E = eps0 + eps1 S + eps2 S^2,
    Sigma = Sigma0 + (eps1 S + eps2 S^2)/T0, P = exp(Sigma - Delta E/T), <S> = mean_a + mean_b/T.
    """
    t = p.temperature
    if t is None:
        return (float(p.rates.A), float(p.rates.gamma), float(p.rates.delta)), float(p.softness.mean)
    log_A = t.Sigma0 - t.eps0 / t.T
    if not -LOG_HUGE < log_A < LOG_HUGE:
        raise ParameterError(
            "temperature.eps0",
            f"the rate prefactor exp(Sigma0 - eps0/T) = exp({log_A:.6g}) is outside the floating-point range",
        )
    inv = 1.0 / t.T
    inv0 = 1.0 / t.T0
    # P(R|S) = exp(Sigma0 - eps0/T + eps1 S (1/T0 - 1/T) + eps2 S^2 (1/T0 - 1/T))
    return (math.exp(log_A), t.eps1 * (inv0 - inv), t.eps2 * (inv - inv0)), t.mean_a + t.mean_b * inv


class _ClusterConditional:
    """<S>_R given S_1 = S: Gaussian with mean slope * (S - mean) + mean and variance ``var``.

    Built from the m x m covariance block of one cluster (site 0 is the conditioning site).
    """

    def __init__(self, block: np.ndarray, mean: float):
        m = block.shape[0]
        self.m = m
        self.mean = mean
        if m == 1:
            self.slope, self.var = 1.0, 0.0
            return
        k00 = block[0, 0]
        k_o0 = block[1:, 0]
        cond_cov = block[1:, 1:] - np.outer(k_o0, k_o0) / k00
        # <S>_R = (S_1 + sum of the others) / m; E[others | S_1] = mean + k_o0/k00 (S_1 - mean)
        self.slope = (1.0 + k_o0.sum() / k00) / m
        self.var = max(float(cond_cov.sum()) / (m * m), 0.0)

    def log_average(self, S: float, log_A0: float, g0: float, d0: float) -> float:
        """log E[A0 exp(g0 x - d0 x^2)], x ~ <S>_R | S_1 = S, by peak-centred Gauss-Hermite quadrature."""
        mu = self.mean + self.slope * (S - self.mean)
        v = self.var
        if v == 0.0:
            return log_A0 + g0 * mu - d0 * mu * mu
        curvature = 1.0 + 2.0 * d0 * v
        if not curvature > 0.0:
            raise ParameterError(
                "rates.delta",
                f"the bare rate grows faster than the cluster average's distribution decays "
                f"(1 + 2 delta0 var(<S>_R | S) = {curvature:.6g} <= 0): the observed law does not exist",
            )
        # nodes around the integrand's peak x*; the Gaussian weight re-expressed around it
        peak = (mu + g0 * v) / curvature
        scale = math.sqrt(2.0 * v / curvature)
        x = peak + scale * _NODES
        log_terms = (
            np.log(_WEIGHTS)
            + _NODES**2
            - (x - mu) ** 2 / (2.0 * v)
            + g0 * x
            - d0 * x * x
        )
        top = log_terms.max()
        log_integral = top + math.log(np.exp(log_terms - top).sum())
        return log_A0 + log_integral + math.log(scale / math.sqrt(2.0 * math.pi * v))


def _fit_quadratic(cond: _ClusterConditional, z: int, log_A0: float, g0: float, d0: float, width: float):
    """(log A, gamma, delta) of the exactly quadratic log P(R|S) = log z + log E[P0 | S], from 3 points."""
    mean = cond.mean
    h = width
    lm, l0, lp = (math.log(z) + cond.log_average(mean + u * h, log_A0, g0, d0) for u in (-1.0, 0.0, 1.0))
    b = 0.5 * (lp - lm)  # coefficients in u = (S - mean)/h
    q = 0.5 * (lp + lm) - l0
    delta = -q / (h * h)
    gamma = b / h - 2.0 * q * mean / (h * h)
    log_A = l0 - b * mean / h + q * mean * mean / (h * h)
    return log_A, gamma, delta


def observed_from_bare(bare, *, block: np.ndarray, mean: float, z: int) -> tuple[float, float, float]:
    """(A, gamma, delta) of P(R|S) = z E[P0(<S>_R) | S] (Eq. D2), computed by quadrature."""
    A0, g0, d0 = bare
    cond = _ClusterConditional(block, mean)
    log_A, gamma, delta = _fit_quadratic(cond, z, math.log(A0), g0, d0, math.sqrt(block[0, 0]))
    if not -LOG_HUGE < log_A < LOG_HUGE:
        raise ParameterError("rates.A", f"the observed prefactor A = exp({log_A:.6g}) is out of floating-point range")
    return math.exp(log_A), gamma, delta


def _not_converged(A: float, gamma: float, delta: float) -> ParameterError:
    # Names the whole observed law: the search fails for large |log A| or |gamma| as well
    # as for delta, so blaming one key would send the user to the wrong one.
    return ParameterError(
        "rates",
        f"no bare law found for the observed law A = {A:.6g}, gamma = {gamma:.6g}, delta = {delta:.6g} "
        "(the renormalization's Newton search did not converge); bring rates.A, rates.gamma and rates.delta "
        "to moderate values",
    )


def bare_from_observed(observed, *, block: np.ndarray, mean: float, z: int) -> tuple[float, float, float]:
    """(A0, gamma0, delta0) whose renormalized law is ``observed``: Newton's method on the
    quadrature map of :func:`observed_from_bare` (started from the leading order of Eqs. 20-21).

    Raises ParameterError('rates.delta') when no bare law exists: the observed delta must stay
    below the supremum c / (2 (1 - c) variance) of the map delta0 -> delta, and
    1 + 2 delta variance > 0 (the equilibrium average of the observed law must exist).
    """
    A, gamma, delta = observed
    variance = float(block[0, 0])
    m = block.shape[0]
    c = float(block.sum()) / (m * m * variance)
    cond = _ClusterConditional(block, mean)
    if not 1.0 + 2.0 * delta * variance > 0.0:
        raise ParameterError(
            "rates.delta",
            f"1 + 2 delta variance = {1.0 + 2.0 * delta * variance:.6g} <= 0: the observed rate grows faster "
            "than the softness distribution decays; increase rates.delta above -1/(2 variance)",
        )
    # delta0 -> delta increases monotonically towards c^2 / (2 var(<S>_R | S)) = c / (2 (1-c) variance)
    if cond.var > 0.0 and not c * c - 2.0 * c * (1.0 - c) * delta * variance > 0.0:
        raise ParameterError(
            "rates.delta",
            f"renormalization has no solution: c^2 - 2c(1-c) delta variance = "
            f"{c * c - 2.0 * c * (1.0 - c) * delta * variance:.6g} <= 0 (c = {c:.6g}); need "
            f"delta < {c / (2.0 * (1.0 - c) * variance):.6g}: reduce rates.delta or softness.variance",
        )
    target = np.array([math.log(A), gamma, delta])
    h = math.sqrt(variance)

    def F(x):
        return np.array(_fit_quadratic(cond, z, x[0], x[1], x[2], h)) - target

    def admissible(x):
        return cond.var == 0.0 or 1.0 + 2.0 * x[2] * cond.var > 0.0

    x = np.array([math.log(A / z), gamma / c, delta / (c * c)])
    if not admissible(x):
        x[2] = 0.0
    r = F(x)
    scale = np.maximum(np.abs(target), 1.0)
    for _ in range(100):
        if np.all(np.abs(r) <= 4e-15 * scale):
            break
        J = np.empty((3, 3))
        for j in range(3):
            e = 1e-6 * max(1.0, abs(x[j]))
            xp, xm = x.copy(), x.copy()
            xp[j] += e
            xm[j] -= e
            if not (admissible(xp) and admissible(xm)):
                xm = x.copy()
                J[:, j] = (F(xp) - r) / e
            else:
                J[:, j] = (F(xp) - F(xm)) / (2.0 * e)
        step = np.linalg.solve(J, -r)
        t = 1.0
        while True:  # damped: stay where the average exists and do not increase the residual much
            xn = x + t * step
            if admissible(xn):
                rn = F(xn)
                if np.max(np.abs(rn) / scale) <= max(np.max(np.abs(r) / scale), 1e-300) * (1.0 + 1e-9) or t < 1e-6:
                    break
            t *= 0.5
            if t < 1e-12:
                raise _not_converged(A, gamma, delta)
        x, r = xn, rn
    else:  # pragma: no cover - the map is smooth and nearly triangular
        raise _not_converged(A, gamma, delta)
    if not -LOG_HUGE < x[0] < LOG_HUGE:
        raise ParameterError("rates.A", f"the bare prefactor A0 = exp({x[0]:.6g}) is out of floating-point range")
    return math.exp(x[0]), float(x[1]), float(x[2])


def rate_law(p: Params, block: np.ndarray, z: int) -> RateLaw:
    """Both forms of the rate law for ``p`` (``block``: the covariance of one cluster's m sites)."""
    given, mean = given_rate_law(p)
    m = block.shape[0]
    c = float(block.sum()) / (m * m * float(block[0, 0]))
    try:
        if p.rates.level == "observed":
            observed, bare = given, bare_from_observed(given, block=block, mean=mean, z=z)
        else:
            observed, bare = observed_from_bare(given, block=block, mean=mean, z=z), given
    except ParameterError as err:
        raise reported_rate_error(p, err) from None
    return RateLaw(
        observed=tuple(float(v) for v in observed), bare=tuple(float(v) for v in bare), c=c, z=z, mean=float(mean)
    )
