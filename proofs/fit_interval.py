"""P(R|S) from frames: why the one-interval estimator drifts with the frame interval, and the fix.

Setting (instantaneous rearrangements seen in frames dt apart, Sec. V, Eq. 4).  Site i's
rearrangements form a counting process with a random intensity lambda(u) (a function of the
softness near i, which the other sites' kicks change between frames).  Given S_i = s at the
start of an interval, the observed law is the intensity's conditional mean ell(s) = E[lambda(0) | s]
(what Eq. 4 calls P(R|S) / duration).  A frame records whether i rearranged in the interval:

    Q(t) = P(N(t) >= 1 | s) = 1 - E[exp(-int_0^t lambda(u) du) | s]

(the survival of a process whose intensity moves with the state: the first event's law).
Write lambda(u) = a + b u + c u^2 + O(u^3) along a path (a = lambda(0); b, c random: the
kicks of other sites' events in (0, u)).  Expanding the exponential and taking expectations term
by term (:func:`survival_expansion`):

    Q(t) = E[a] t + (E[b] - E[a^2]) t^2 / 2 + O(t^3).

- The one-interval estimator of trsp fit before issue 18 (complementary log-log, S at the start
  of the interval): -log(1 - Q(dt)) / dt = ell + (E[b] - Var(a)) dt / 2 + O(dt^2)
  (:func:`one_interval_bias`).  The O(dt) term is the mean drift of the site's intensity within
  the interval (kicks of neighbouring events pull a soft site's softness back) minus the spread of
  the site's intensity at fixed S_i (it also depends on the neighbours' softness).  Neither
  vanishes in the model, so the estimated law depends on the frame interval: the bias that grows
  with --frame-interval (issue 18's table).
- The interval estimator of trsp_fit.statistics: with Q1 = Q(dt) (a rearrangement in the next
  interval) and Q2 = Q(2 dt) (in one of the next two), the combination

      (3 Q1 - (Q2 - Q1)) / 2 = (4 Q1 - Q2) / 2 = ell dt + O(dt^3)

  for *every* Q(t) that has a Taylor expansion at 0 (:func:`interval_weights` derives the weights
  as the unique combination of Q(dt), Q(2 dt) that cancels the t^2 term).  Per softness bin it is a
  pseudo-count, 3/2 k1 - 1/2 k2 with k1 the rearrangements in the first interval and k2 those in the
  second only, with expectation (exposure x ell) to O(dt^3): the bias no longer grows with dt,
  whatever moves the intensity.  It needs frames only (MD data), not event times.
- Run files have exact event times: the Poisson-process likelihood with each site's exact time at
  each softness has no interval at all (trsp_fit.events).

:func:`interval_weights` also gives the three-interval combination (cancelling t^2 and t^3) for
reference; trsp fit uses the two-interval one (its variance is smaller; the measured remainder at
dt = 0.4 is in docs/fit.md).
"""

from __future__ import annotations

import sympy as sp

__all__ = ["survival_expansion", "one_interval_bias", "interval_weights", "interval_estimator_remainder"]

t, dt = sp.symbols("t dt", positive=True)


def survival_expansion(order: int = 3) -> dict:
    """Q(t) = 1 - E[exp(-int_0^t (a + b u + c u^2) du)] to O(t^order), with the moments of (a, b, c)
    as symbols; ``residual`` = Q - (E[a] t + (E[b] - E[a^2]) t^2 / 2) to O(t^3) (must vanish)."""
    a, b, c, u = sp.symbols("a b c u", real=True)
    integral = sp.integrate(a + b * u + c * u**2, (u, 0, t))
    series = sp.series(1 - sp.exp(-integral), t, 0, order + 1).removeO()
    poly = sp.Poly(sp.expand(series), a, b, c)
    # E[.] of each monomial a^i b^j c^k is a moment symbol m_ijk
    moments = {}
    Q = 0
    for (i, j, k), coeff in poly.terms():
        m = sp.Symbol(f"m_{i}{j}{k}")
        moments[(i, j, k)] = m
        Q += coeff * m
    Q = sp.expand(Q)
    Ea, Eb, Ea2 = (moments.get(key, 0) for key in ((1, 0, 0), (0, 1, 0), (2, 0, 0)))
    low = sp.expand(sp.series(Q, t, 0, 3).removeO())
    return {"Q": Q, "residual": sp.simplify(low - (Ea * t + (Eb - Ea2) * t**2 / 2)), "Ea": Ea, "Eb": Eb, "Ea2": Ea2}


def one_interval_bias() -> dict:
    """-log(1 - Q(dt)) / dt - E[a] to first order in dt; ``residual`` = that minus (E[b] - Var(a)) dt / 2 (must vanish)."""
    s = survival_expansion()
    Q = s["Q"].subs(t, dt)
    est = sp.series(-sp.log(1 - Q) / dt, dt, 0, 2).removeO()
    bias = sp.expand(est - s["Ea"])
    var_a = s["Ea2"] - s["Ea"] ** 2
    return {"bias": bias, "residual": sp.simplify(bias - (s["Eb"] - var_a) * dt / 2)}


def interval_weights(n: int = 2) -> list:
    """The weights w_1..w_n of Q(dt), ..., Q(n dt) with sum_m w_m Q(m dt) = ell dt + O(dt^(n+1)) for
    Q(t) = ell t + q2 t^2 + ... + q_n t^n + ...: solved from the Taylor coefficients."""
    w = sp.symbols(f"w1:{n + 1}")
    q = sp.symbols(f"q1:{n + 1}")
    Q = lambda x: sum(q[p - 1] * x**p for p in range(1, n + 1))  # noqa: E731
    combo = sp.expand(sum(w[m - 1] * Q((m) * dt) for m in range(1, n + 1)))
    eqs = [sp.Eq(combo.coeff(dt, 1), q[0])] + [sp.Eq(combo.coeff(dt, p), 0) for p in range(2, n + 1)]
    sol = sp.solve([e.subs({qq: 1 for qq in q}) for e in eqs], w, dict=True)[0]
    return [sol[x] for x in w]


def interval_estimator_remainder() -> dict:
    """The two-interval pseudo-count in trsp_fit's form, 3/2 k1 - 1/2 k2 with k2 = k(Q2) - k1 (rearranged
    in the second interval only): its expectation per exposure dt is ell + remainder, remainder = O(dt^2).
    ``weights_match``: (3/2 Q1 - 1/2 (Q2 - Q1)) - (w1 Q1 + w2 Q2) with the derived weights (must vanish)."""
    ell, q2, q3 = sp.symbols("ell q2 q3", real=True)
    Q = lambda x: ell * x + q2 * x**2 + q3 * x**3  # noqa: E731
    Q1, Q2 = Q(dt), Q(2 * dt)
    pseudo = sp.Rational(3, 2) * Q1 - sp.Rational(1, 2) * (Q2 - Q1)
    w1, w2 = interval_weights(2)
    return {
        "weights_match": sp.simplify(pseudo - (w1 * Q1 + w2 * Q2)),
        "remainder": sp.simplify(sp.expand(pseudo / dt - ell)),
    }
