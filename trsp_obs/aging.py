"""Aging after a quench (Sec. VII.C, Fig. 8) and the independent-site trap model it is compared with.

Protocol (Sec. VII.C): the softness field starts as an equilibrium sample at the initial
temperature T_I (mean <S>(T_I), covariance K, which does not depend on T: Sec. V) and evolves
with the dynamics at the final temperature T_F; <S>(t) is the site- and replica-averaged
softness at time t after the quench.  In equilibrium at T_F it returns to <S>(T_F).

The trap model (Fig. 8(b), after Ref. [28]): independent sites; site i rearranges at rate
r(S_i) = P(R|S_i) / duration with the per-particle law P(R|S) = A exp(gamma S - delta S^2) at
T_F, and a rearranging site draws a fresh S from

    rho(S)  proportional to  N(S; <S>(T_F), sigma^2) r(S)  =  N(S; mu_R, s_R^2),
    1/s_R^2 = 1/sigma^2 + 2 delta,  mu_R = s_R^2 (<S>(T_F)/sigma^2 + gamma),

so its stationary density, proportional to rho(S) / r(S), is exactly N(<S>(T_F), sigma^2) (the
"T-dependent density of traps" that gives the right distribution of S at every T).
"""

from __future__ import annotations

import math

import numpy as np

from trsp_ref.params import ParameterError, Params

from .runs import mean_softness

__all__ = ["observed_rate_law", "trap_redraw_law", "trap_quench_mean_softness", "aging_summary"]


def observed_rate_law(p: Params) -> tuple[float, float, float]:
    """(A, gamma, delta) of the per-particle law P(R|S) at the parameters' temperature
    (docs/model.md "Temperature": A = exp(Sigma0 - eps0/T), gamma = eps1 (1/T0 - 1/T),
    delta = eps2 (1/T - 1/T0)); without [temperature], rates.A/gamma/delta.  For the trap
    model (m = 1) the bare and observed laws coincide (c = z = 1), so rates.level does not matter."""
    t = p.temperature
    if t is None:
        return float(p.rates.A), float(p.rates.gamma), float(p.rates.delta)
    return (
        math.exp(t.Sigma0 - t.eps0 / t.T),
        t.eps1 * (1.0 / t.T0 - 1.0 / t.T),
        t.eps2 * (1.0 / t.T - 1.0 / t.T0),
    )


def trap_redraw_law(p: Params) -> tuple[float, float]:
    """(mu_R, s_R) of the trap model's redraw density (module docstring)."""
    _, gamma, delta = observed_rate_law(p)
    var = p.softness.variance
    prec = 1.0 / var + 2.0 * delta
    if not prec > 0:
        raise ParameterError("temperature.eps2", "the trap model needs 1/variance + 2 delta > 0 (normalizable redraw law)", delta)
    s2 = 1.0 / prec
    return s2 * (mean_softness(p) / var + gamma), math.sqrt(s2)


def trap_quench_mean_softness(
    p: Params, rng: np.random.Generator, mean_initial: float, sample_times: np.ndarray, n_sites: int
) -> np.ndarray:
    """<S>(t) of ``n_sites`` independent trap-model sites (module docstring) started from
    N(mean_initial, variance), at ``sample_times`` (increasing, >= 0)."""
    sample_times = np.asarray(sample_times, dtype=np.float64)
    if sample_times.ndim != 1 or sample_times.size == 0 or np.any(np.diff(sample_times) <= 0) or sample_times[0] < 0:
        raise ParameterError("aging.times", "must be increasing times >= 0")
    A, gamma, delta = observed_rate_law(p)
    mu_R, s_R = trap_redraw_law(p)
    duration = p.rates.duration
    sd = math.sqrt(p.softness.variance)

    def rate(S):
        return A * np.exp(gamma * S - delta * S * S) / duration

    S = mean_initial + sd * rng.standard_normal(n_sites)
    nxt = rng.exponential(size=n_sites) / rate(S)  # absolute time of each site's next event
    out = np.empty(sample_times.size)
    for k, t in enumerate(sample_times):
        due = np.flatnonzero(nxt <= t)
        while due.size:  # process every site's events up to t (each site independently)
            S[due] = mu_R + s_R * rng.standard_normal(due.size)
            nxt[due] += rng.exponential(size=due.size) / rate(S[due])
            due = due[nxt[due] <= t]
        out[k] = S.mean()
    return out


def aging_summary(curves: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean, standard error) over replicas (axis 0) of <S>(t) curves; NaN rows (missing) ignored."""
    curves = np.asarray(curves, dtype=np.float64)
    ok = np.all(np.isfinite(curves), axis=-1)
    c = curves[ok]
    if c.shape[0] == 0:
        return np.full(curves.shape[-1], np.nan), np.full(curves.shape[-1], np.nan)
    err = c.std(axis=0, ddof=1) / math.sqrt(c.shape[0]) if c.shape[0] > 1 else np.full(c.shape[-1], np.nan)
    return c.mean(axis=0), err
