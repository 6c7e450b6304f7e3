"""The initial rate of change of <S> after a quench T_I -> T_F, in closed form (docs/reproduction.md, "Aging").

At t = 0+ the field is S ~ N(mu_I, K) (mu_I = <S>(T_I)) and the dynamics is the model at
T_F.  The generator applied to <S> = (1/N) sum_i S_i gives

    d<S>/dt |_0 = (1/N) sum_c E[ r_c(S) 1^T H_c (mu'_c - S) ],

r_c(S) = P0(s_c) / duration, P0(s) = A0 exp(gamma0 s - delta0 s^2) the bare law at T_F,
s_c = w_c^T S the cluster mean (w_c = 1/m on its sites), mu'_c and H_c the conditioning and
drift of docs/model.md at T_F.  With u = s_c - mu_I ~ N(0, v), v = w^T K w, and
E[S - mu_I | u] = k u / v (k = K w, Gaussian conditioning):

    E[r_c 1^T H_c (mu'_c - S)] = E[r] h^T (mu'_c - mu_I) - (E[r u] / v) h^T k,   h^T = 1^T H_c,

and, completing the square (proofs/quench_rate.py), with 1/vt = 1/v + 2 delta0 and
mt = vt (mu_I / v + gamma0) (the mean of s_c weighted by the rate):

    E[P0(s)] = A0 sqrt(vt / v) exp(mt^2 / (2 vt) - mu_I^2 / (2 v)),   E[P0(s) u] = E[P0(s)] (mt - mu_I).

So d<S>/dt|_0 = sum over orientations o (translation invariance) of  nu_o * Delta_o  with
nu_o = E[r_o] the rate of one cluster of orientation o on the quenched field and
Delta_o = h^T (mu'_o - mu_I) - ((mt - mu_I) / v) h^T k the mean change of sum_i S_i per firing.

The independent-site trap model (trsp_obs.aging) is the same computation with m = 1, K = sigma^2
and the redraw S -> N(mu_R, s_R^2): d<S>/dt|_0 = E[r] (mu_R - mt).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from trsp_ref.params import ParameterError, Params

__all__ = ["gaussian_rate_moments", "QuenchRate", "trsp_quench_rate", "trap_quench_rate"]


def gaussian_rate_moments(mu: float, v: float, gamma: float, delta: float) -> tuple[float, float]:
    """(E[exp(gamma s - delta s^2)], mt) for s ~ N(mu, v): the normalisation and the mean of the
    rate-weighted density (module docstring; needs 1/v + 2 delta > 0)."""
    prec = 1.0 / v + 2.0 * delta
    if not prec > 0:
        raise ParameterError("delta", "the rate-weighted density needs 1/v + 2 delta > 0", delta)
    vt = 1.0 / prec
    mt = vt * (mu / v + gamma)
    return math.sqrt(vt / v) * math.exp(mt * mt / (2.0 * vt) - mu * mu / (2.0 * v)), mt


@dataclass(frozen=True)
class QuenchRate:
    """d<S>/dt at t = 0+ (``rate``) = sum over orientations of ``event_rate`` (per orientation:
    rate of one cluster on the quenched field) times ``per_event`` (mean change of sum_i S_i per
    firing); ``drive`` = mu_I - mu_F."""

    rate: float
    event_rate: tuple
    per_event: tuple
    mu_initial: float
    mu_final: float

    @property
    def drive(self) -> float:
        return self.mu_initial - self.mu_final


def trsp_quench_rate(p: Params, mu_initial: float) -> QuenchRate:
    """The TRSP model's d<S>/dt|_0 after a quench from <S> = ``mu_initial`` into the dynamics of
    ``p`` (at its own temperature), from the dense oracle (so the lattice must fit it: a small L
    suffices, the kick being local)."""
    from trsp_ref.lattice import n_orientations
    from trsp_ref.model import ReferenceModel

    ref = ReferenceModel(p)
    A0, g0, d0 = ref.rates.bare
    rates, changes = [], []
    for o in range(n_orientations(p.lattice.dim, p.cluster.shape)):
        ops = ref.kick_operators(o * ref.N)
        w = np.zeros(ref.N)
        w[ops.sites] = 1.0 / len(ops.sites)
        k = ref.K @ w
        v = float(w @ k)
        Z, mt = gaussian_rate_moments(mu_initial, v, g0, d0)
        h = ops.H.sum(axis=0)
        rates.append(A0 * Z / p.rates.duration)
        changes.append(float(h @ (ops.mu_prime - mu_initial) - (mt - mu_initial) / v * (h @ k)))
    rate = float(np.dot(rates, changes))
    return QuenchRate(rate, tuple(rates), tuple(changes), float(mu_initial), float(ref.mean))


def trap_quench_rate(p: Params, mu_initial: float) -> QuenchRate:
    """The independent-site trap model's d<S>/dt|_0 (trsp_obs.aging): E[r] (mu_R - mt)."""
    from .aging import observed_rate_law, trap_redraw_law
    from .runs import mean_softness

    A, g, d = observed_rate_law(p)
    mu_R, _ = trap_redraw_law(p)
    Z, mt = gaussian_rate_moments(mu_initial, p.softness.variance, g, d)
    r = A * Z / p.rates.duration
    return QuenchRate(r * (mu_R - mt), (r,), (mu_R - mt,), float(mu_initial), float(mean_softness(p)))
