"""Closed forms for Q(t) and chi_4(t) (Eqs. 31-32) in two limits where the TRSP dynamics is exactly solvable.

Definitions (Sec. VII.A): ``I_i(t) = 1`` while site ``i`` has taken part in no event in
``(0, t]``; ``Q(t) = (1/N) sum_i I_i(t)`` (Eq. 31); ``chi_4(t) = N Var Q(t)`` (Eq. 32), the
variance over replicas that each start from ``S ~ N(mean, K)`` and run their own dynamics
(the paper averages over independent equilibrium initial conditions).  ``tau_chi`` is
where ``chi_4`` peaks and ``chi_4*`` its value there.

1. The onset, T = T0 (:func:`onset_overlap`, :func:`onset_chi4`, :func:`onset_chi4_peak`).
   The observed law has gamma = delta = 0, hence (Eqs. 20-22, corrected) gamma0 = delta0 = 0
   and A0 = A / z: every cluster fires at the same rate r0 = A0 / duration whatever S is,
   so the clusters are independent Poisson processes and the kicks do not matter.  Site 0
   is untouched while none of its z clusters fired, so ``Q(t) = exp(-z r0 t)`` (exact for
   any N; since z r0 = A / duration, Q does not depend on the cluster shape, chi_4 does).  Sites 0 and j are both untouched while none of the ``2z - n_0j`` clusters that
   contain either fired (``n_0j`` = number of clusters containing both), so
   ``Cov(I_0, I_j) = exp(-2 z r0 t) (exp(n_0j r0 t) - 1)`` and, every site being equivalent,
   ``chi_4(t) = sum_j exp(-2 z r0 t) (exp(n_0j r0 t) - 1)`` (the j = 0 term is Q - Q^2).
   For m = 1 (n_00 = 1, all others 0): ``chi_4 = e^-x (1 - e^-x)``, x = r0 t, maximal
   (= 1/4) at x = ln 2.

2. Frozen single sites (:func:`frozen_site_overlap`, :func:`frozen_site_chi4`,
   :func:`frozen_site_chi4_peak`): no kicks (facilitation = 0, so K_Delta = 0 and H = 0 and S
   never changes), m = 1 (each site its own cluster; c = 1, z = 1, so the bare and
   observed laws coincide) and an uncorrelated field (C1 = 0, K = variance * 1).  Site i
   then fires as a Poisson process of the frozen rate ``r(S_i) = A0 exp(gamma0 S_i -
   delta0 S_i^2) / duration`` with i.i.d. ``S_i ~ N(mean, variance)``, so the I_i are
   independent Bernoulli variables with mean ``Q(t) = E_S[exp(-r(S) t)]``, and
   ``chi_4 = N Var Q = Var I_i = Q (1 - Q)`` (variance over disorder *and* dynamics; this
   is what the replica estimator N * sample-variance of Q measures when each replica
   draws its own S).  The variance over the dynamics only, averaged over the disorder,
   is ``E_S[p (1 - p)] = Q - E_S[exp(-2 r(S) t)]`` with ``p = exp(-r(S) t)``; the difference
   ``E_S[p^2] - Q^2`` is the disorder (between-replica) part.  ``Q(1 - Q)`` peaks at
   exactly 1/4 where Q = 1/2.

The expectations over S are one-dimensional integrals done with adaptive Gauss-Kronrod
quadrature (scipy.integrate.quad) over S = mean + sd x, |x| <= 12 (the Gaussian mass left
out is 2e-33), split into 48 panels; the absolute error is below 1e-12 (each call checks
quad's own error estimate against that and raises if it is exceeded).

Every function checks that ``p`` is in its limit and raises :class:`ParameterError`
naming the parameter that is not; ``t`` must be finite and >= 0 (``ParameterError('t')``).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.integrate
import scipy.optimize

from .lattice import cluster_sites
from .params import ParameterError, Params, validate_scalars
from .renormalization import rate_parameters

__all__ = [
    "onset_rate",
    "onset_pair_counts",
    "onset_overlap",
    "onset_chi4",
    "onset_chi4_peak",
    "frozen_site_rate_law",
    "frozen_site_overlap",
    "frozen_site_chi4",
    "frozen_site_chi4_peak",
    "QUADRATURE_ABS_ERROR",
]

#: the largest absolute error the S-averages of the frozen limit may carry
QUADRATURE_ABS_ERROR = 1e-12

# quadrature window in standard deviations, and the number of panels it is split into
_X_MAX = 12.0
_PANELS = 48
#: exp(-y) == 0.0 in double precision for y above this
_EXP_UNDERFLOW = 746.0

_VARIANCE_OVER = ("disorder_and_dynamics", "dynamics")


# ------------------------------------------------------------------ helpers


def _times(t) -> tuple[np.ndarray, bool]:
    """t as a flat float array, and whether it was a scalar; ParameterError('t') unless finite and >= 0."""
    arr = np.asarray(t, dtype=np.float64)
    if arr.size and not (np.all(np.isfinite(arr)) and np.all(arr >= 0.0)):
        raise ParameterError("t", "times must be finite and >= 0", t)
    return arr, arr.ndim == 0


def _shaped(values: np.ndarray, arr: np.ndarray, scalar: bool):
    return float(values.reshape(-1)[0]) if scalar else values.reshape(arr.shape)


# ------------------------------------------------------------------ 1. onset


def onset_rate(p: Params) -> float:
    """r0 = A0 / duration, the S-independent rate of every cluster at the onset (A0 = A / z, Eq. 22 at gamma = delta = 0).

    Raises ParameterError unless the rate law is S-independent (gamma0 = delta0 = 0):
    'temperature.T' (needs T = T0) when the law comes from [temperature], else
    'rates.gamma' / 'rates.delta'.
    """
    validate_scalars(p)
    rates = rate_parameters(p)
    A0, gamma0, delta0 = rates.bare
    # the law as the file gives it (observed or bare): name the key the user wrote
    _, gamma, delta = rates.observed if p.rates.level == "observed" else rates.bare
    if gamma != 0.0 or delta != 0.0 or gamma0 != 0.0 or delta0 != 0.0:
        if p.temperature is not None:
            name = "temperature.T"
            condition = (
                "the onset limit needs a rate law independent of S: T = T0 (or eps1 = eps2 = 0); "
                f"got gamma = {gamma!r}, delta = {delta!r}"
            )
        else:
            name = "rates.gamma" if gamma != 0.0 else "rates.delta"
            condition = (
                f"the onset limit (T = T0) needs rates.gamma = rates.delta = 0; got gamma = {gamma!r}, "
                f"delta = {delta!r} ({p.rates.level} law)"
            )
        raise ParameterError(name, condition)
    return A0 / p.rates.duration


def onset_pair_counts(p: Params) -> np.ndarray:
    """(N,) int: n_0j, the number of clusters that contain both site 0 and site j (n_00 = z), counted from the cluster list."""
    clusters = cluster_sites(p.lattice.dim, p.lattice.L, p.cluster.shape)
    with_site_0 = clusters[(clusters == 0).any(axis=1)]
    # a cluster's sites are distinct (L >= 3 for m > 1), so bincount counts clusters
    return np.bincount(with_site_0.ravel(), minlength=p.N).astype(np.int64)


def onset_overlap(p: Params, t):
    """Q(t) = exp(-z r0 t) at the onset T = T0 (Eq. 31 in the limit of S-independent rates; exact for any N)."""
    r0 = onset_rate(p)
    z = rate_parameters(p).z
    arr, scalar = _times(t)
    return _shaped(np.exp(-z * r0 * arr.ravel()), arr, scalar)


def _onset_chi4_of_x(counts: np.ndarray, z: int, x: np.ndarray) -> np.ndarray:
    """sum_j exp(-2 z x)(exp(n_0j x) - 1) at x = r0 t, written as exp(-(2z - n) x)(1 - exp(-n x)):
    no overflow at large x (2z - n >= z > 0) and no cancellation at small x (expm1)."""
    n_values, multiplicity = np.unique(counts[counts > 0], return_counts=True)
    x = np.asarray(x, dtype=np.float64)[..., None]
    terms = np.exp(-(2 * z - n_values) * x) * -np.expm1(-n_values * x)
    return (terms * multiplicity).sum(axis=-1)


def onset_chi4(p: Params, t):
    """chi_4(t) = sum_j exp(-2 z r0 t) (exp(n_0j r0 t) - 1) at the onset T = T0 (Eq. 32; exact for any N).

    Variance over disorder and dynamics; at the onset the rates do not depend on S, so
    the variance over the dynamics alone is the same.
    """
    r0 = onset_rate(p)
    z = rate_parameters(p).z
    arr, scalar = _times(t)
    chi4 = _onset_chi4_of_x(onset_pair_counts(p), z, r0 * arr.ravel())
    return _shaped(chi4, arr, scalar)


def onset_chi4_peak(p: Params) -> tuple[float, float]:
    """(tau_chi, chi_4*) at the onset: where chi_4 peaks and its value there.

    Each term exp(-(2z-n) x)(1 - exp(-n x)) (x = r0 t) peaks at x_n = ln(2z/(2z-n))/n, so the
    sum increases below min x_n and decreases above max x_n: the peak lies in between.
    It is found on a 2001-point grid refined by bounded Brent (relative accuracy ~1e-10 in
    tau_chi).  For m = 1 it is exact: x = ln 2, chi_4* = 1/4.
    """
    r0 = onset_rate(p)
    z = rate_parameters(p).z
    counts = onset_pair_counts(p)
    n_values = np.unique(counts[counts > 0]).astype(np.float64)
    x_n = np.log(2 * z / (2 * z - n_values)) / n_values
    lo, hi = float(x_n.min()), float(x_n.max())
    if hi - lo <= 1e-12 * hi:
        x_star = hi
    else:
        grid = np.linspace(lo, hi, 2001)
        k = int(np.argmax(_onset_chi4_of_x(counts, z, grid)))
        a, b = grid[max(k - 1, 0)], grid[min(k + 1, grid.size - 1)]
        res = scipy.optimize.minimize_scalar(
            lambda x: -float(_onset_chi4_of_x(counts, z, np.array(x))),
            bounds=(a, b),
            method="bounded",
            options={"xatol": 1e-12 * hi},
        )
        x_star = float(res.x)
    return x_star / r0, float(_onset_chi4_of_x(counts, z, np.array(x_star)))


# ------------------------------------------------------------------ 2. frozen single sites


def frozen_site_rate_law(p: Params) -> tuple[float, float, float, float, float]:
    """(A0, gamma0, delta0, mean, sd) of the frozen single-site limit: r(S) = A0 exp(gamma0 S - delta0 S^2)/duration,
    S ~ N(mean, sd^2).  (With m = 1, c = z = 1 and the bare law equals the observed one, Eqs. 20-22.)

    Raises ParameterError('cluster.shape' / 'kick.facilitation' / 'softness.C1') unless the
    shape is "site", the facilitation is 0 and C1 is 0.
    """
    validate_scalars(p)
    if p.cluster.shape != "site":
        raise ParameterError(
            "cluster.shape", "the frozen single-site limit needs single-site clusters (m = 1)", p.cluster.shape
        )
    if p.kick.facilitation != 0.0:
        raise ParameterError(
            "kick.facilitation",
            "the frozen single-site limit needs no kicks: kick.facilitation = 0",
            p.kick.facilitation,
        )
    if p.softness.C1 != 0.0:
        raise ParameterError(
            "softness.C1", "the frozen single-site limit needs an uncorrelated field: softness.C1 = 0", p.softness.C1
        )
    rates = rate_parameters(p)
    A0, gamma0, delta0 = rates.bare
    return A0, gamma0, delta0, rates.mean, math.sqrt(p.softness.variance)


def _frozen_average(law, t: float, k: float) -> float:
    """E_S[exp(-k r(S) t)] for S ~ N(mean, sd^2), by quadrature (module docstring; abs error < 1e-12)."""
    A0, gamma0, delta0, mean, sd = law
    if t == 0.0:
        return 1.0
    log_scale = math.log(k * A0 * t)  # here A0 is already A0 / duration (_frozen_law_per_time)

    def integrand(x: float) -> float:
        s = mean + sd * x
        y = log_scale + gamma0 * s - delta0 * s * s  # log(k r(S) t)
        weight = math.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)
        return weight * math.exp(-math.exp(y)) if y < math.log(_EXP_UNDERFLOW) else 0.0

    edges = np.linspace(-_X_MAX, _X_MAX, _PANELS + 1)
    total, error = 0.0, 0.0
    for a, b in zip(edges[:-1], edges[1:]):
        value, err = scipy.integrate.quad(integrand, a, b, epsabs=1e-15, epsrel=1e-13, limit=200)
        total += value
        error += err
    if not error < QUADRATURE_ABS_ERROR:  # pragma: no cover - not reached for finite parameters
        raise RuntimeError(f"quadrature error estimate {error:.3g} exceeds {QUADRATURE_ABS_ERROR:g}")
    return min(max(total, 0.0), 1.0)


def _frozen_law_per_time(p: Params):
    A0, gamma0, delta0, mean, sd = frozen_site_rate_law(p)
    return (A0 / p.rates.duration, gamma0, delta0, mean, sd)


def frozen_site_overlap(p: Params, t):
    """Q(t) = E_S[exp(-r(S) t)], r(S) = A0 exp(gamma0 S - delta0 S^2) / duration, S ~ N(mean, variance) (Eq. 31, frozen limit)."""
    law = _frozen_law_per_time(p)
    arr, scalar = _times(t)
    q = np.array([_frozen_average(law, float(ti), 1.0) for ti in arr.ravel()])
    return _shaped(q, arr, scalar)


def frozen_site_chi4(p: Params, t, *, variance_over: str = "disorder_and_dynamics"):
    """chi_4(t) (Eq. 32) in the frozen single-site limit.

    variance_over = "disorder_and_dynamics" (default; what the replica estimator measures
    when every replica draws its own S): Q (1 - Q).
    variance_over = "dynamics": the variance over the dynamics at fixed S, averaged over S:
    Q - E_S[exp(-2 r(S) t)].
    """
    if variance_over not in _VARIANCE_OVER:
        raise ParameterError("variance_over", f"must be one of {list(_VARIANCE_OVER)}", variance_over)
    law = _frozen_law_per_time(p)
    arr, scalar = _times(t)
    out = []
    for ti in arr.ravel():
        q = _frozen_average(law, float(ti), 1.0)
        if variance_over == "disorder_and_dynamics":
            out.append(q * (1.0 - q))
        else:
            out.append(q - _frozen_average(law, float(ti), 2.0))
    return _shaped(np.array(out), arr, scalar)


def frozen_site_chi4_peak(p: Params, *, variance_over: str = "disorder_and_dynamics") -> tuple[float, float]:
    """(tau_chi, chi_4*) in the frozen single-site limit.

    "disorder_and_dynamics": Q (1 - Q) peaks at exactly 1/4 where Q(tau_chi) = 1/2 (Q decreases
    strictly from 1 to 0); tau_chi is found by Brent's method in log t (relative accuracy 1e-12).
    "dynamics": maximized numerically over a log-spaced grid refined by bounded Brent.
    """
    if variance_over not in _VARIANCE_OVER:
        raise ParameterError("variance_over", f"must be one of {list(_VARIANCE_OVER)}", variance_over)
    law = _frozen_law_per_time(p)
    A0, gamma0, delta0, mean, sd = law
    # the typical time scale: 1 / r(mean)
    t_typ = 1.0 / (A0 * math.exp(gamma0 * mean - delta0 * mean * mean))
    lo, hi = math.log(t_typ), math.log(t_typ)
    while _frozen_average(law, math.exp(lo), 1.0) < 0.5:
        lo -= 2.0
    while _frozen_average(law, math.exp(hi), 1.0) > 0.5:
        hi += 2.0
    if variance_over == "disorder_and_dynamics":
        log_tau = scipy.optimize.brentq(
            lambda u: _frozen_average(law, math.exp(u), 1.0) - 0.5, lo, hi, xtol=1e-13, rtol=1e-13
        )
        tau = math.exp(log_tau)
        q = _frozen_average(law, tau, 1.0)
        return tau, q * (1.0 - q)

    def chi4(u: float) -> float:
        t = math.exp(u)
        return _frozen_average(law, t, 1.0) - _frozen_average(law, t, 2.0)

    # every p(1-p) peaks where r t = ln 2; widen the window around Q = 1/2 generously
    grid = np.linspace(lo - 6.0, hi + 6.0, 241)
    values = np.array([chi4(u) for u in grid])
    k = int(np.argmax(values))
    a, b = grid[max(k - 1, 0)], grid[min(k + 1, grid.size - 1)]
    res = scipy.optimize.minimize_scalar(lambda u: -chi4(u), bounds=(a, b), method="bounded", options={"xatol": 1e-10})
    return math.exp(float(res.x)), chi4(float(res.x))
