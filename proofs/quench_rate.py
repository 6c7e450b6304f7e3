"""The closed form of d<S>/dt at t = 0+ after a quench (trsp_obs.quench_rate).

(a) :func:`tilt_normalisation_check`: E[exp(g s - d s^2)] for s ~ N(mu, v) written as
    sqrt(vt / v) exp(mt^2 / (2 vt) - mu^2 / (2 v)), 1/vt = 1/v + 2 d, mt = vt (mu / v + g),
    equals proofs.gaussian.log_gaussian_average (itself checked against SymPy's integral).
(b) :func:`tilt_mean_check`: E[s exp(g s - d s^2)] / E[exp(g s - d s^2)] = d/dg log E[...] = mt
    (differentiating under the integral), so E[(s - mu) P0(s)] = E[P0(s)] (mt - mu).
(c) :func:`linear_regression_check`: for jointly Gaussian (x, u) with zero means,
    E[x | u] = Cov(x, u) / Var(u) u (proofs.gaussian.decorrelate); with u = w^T dS,
    Cov(dS, u) = K w = k, Var u = w^T K w = v: E[dS | u] = k u / v.
"""

from __future__ import annotations

import sympy as sp

from .gaussian import decorrelate, log_gaussian_average_closed_form

__all__ = ["tilt_normalisation_check", "tilt_mean_check", "linear_regression_check"]


def _symbols():
    g, mu = sp.symbols("g mu", real=True)
    v, q = sp.symbols("v q", positive=True)
    d = (q - 1) / (2 * v)  # q = 1 + 2 d v > 0, so every root's argument is positive
    vt = 1 / (1 / v + 2 * d)
    mt = vt * (mu / v + g)
    return g, mu, v, d, vt, mt


def tilt_normalisation_check():
    """log of the module's form minus the checked closed form: simplifies to 0."""
    g, mu, v, d, vt, mt = _symbols()
    ours = sp.log(sp.sqrt(vt / v)) + mt**2 / (2 * vt) - mu**2 / (2 * v)
    return sp.simplify(sp.expand_log(ours - log_gaussian_average_closed_form(g, d, mu, v), force=True))


def tilt_mean_check():
    """d/dg log E[exp(g s - d s^2)] minus mt: simplifies to 0."""
    g, mu, v, d, vt, mt = _symbols()
    return sp.simplify(sp.diff(log_gaussian_average_closed_form(g, d, mu, v), g) - mt)


def linear_regression_check():
    """Conditioning x (1-d) on u (1-d) with covariance [[Vu, c], [c, Vx]]: the gain that
    decorrelate() derives (Cov(x, u) / Var(u)) minus c / Vu, and the cross covariance of the
    residual with u; both 0."""
    Vu, Vx = sp.symbols("Vu Vx", positive=True)
    c = sp.Symbol("c", real=True)
    cross, gain, _ = decorrelate(sp.Matrix([[Vu]]), sp.Matrix([[c]]), sp.Matrix([[c]]), sp.Matrix([[Vx]]))
    return sp.simplify(gain[0, 0] - c / Vu), sp.simplify(cross[0, 0])
