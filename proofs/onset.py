"""The temperature dependence of the rate law (Eqs. 3-4, 27-28).

log P(R | S) = Sigma(S) - Delta E(S) / T (Eq. 3) with Delta E(S) = eps0 + eps1 S + eps2 S^2
(Eq. 27).  T0 is defined (Sec. V) as the onset temperature "above which dynamics no longer
depend on the structure", i.e. the S-dependence of log P(R|S) vanishes at T = T0.

- Eq. 28 as printed, Sigma = Sigma0 - (eps1 S + eps2 S^2)/T0, gives at T = T0 the
  S-dependence -2 (eps1 S + eps2 S^2)/T0, not zero (ERRATA E10).
- Sigma = Sigma0 + (eps1 S + eps2 S^2)/T0 makes it vanish, and then, matching the
  coefficients of S^0, S^1, S^2 with log A, gamma, -delta (Eq. 4):

      A(T) = exp(Sigma0 - eps0/T),  gamma(T) = eps1 (1/T0 - 1/T),  delta(T) = eps2 (1/T - 1/T0),

  so gamma(T) is proportional to 1/T - 1/T0, as the text says (the sign of Eq. 28 is the
  only one for which this holds).

:func:`derived_temperature_rates` exports the result for cross-checks of the oracle.
"""

from __future__ import annotations

import functools

import sympy as sp

from .gaussian import quadratic_coefficients

__all__ = ["SYMBOLS", "log_rate", "onset_sign", "rates_from_coefficients", "derived_temperature_rates"]

SYMBOLS = {
    name: sp.Symbol(name, real=True) for name in ("Sigma0", "eps0", "eps1", "eps2", "S")
} | {name: sp.Symbol(name, positive=True) for name in ("T", "T0")}


def _sigma(printed: bool):
    Sg0, e1, e2, S, T0 = (SYMBOLS[k] for k in ("Sigma0", "eps1", "eps2", "S", "T0"))
    sign = -1 if printed else 1
    return Sg0 + sign * (e1 * S + e2 * S**2) / T0


def log_rate(printed: bool = False):
    """log P(R|S) = Sigma(S) - Delta E(S)/T with Eq. 28 as printed or with the derived sign."""
    e0, e1, e2, S, T = (SYMBOLS[k] for k in ("eps0", "eps1", "eps2", "S", "T"))
    delta_E = e0 + e1 * S + e2 * S**2  # Eq. 27
    return _sigma(printed) - delta_E / T


def onset_sign() -> dict:
    """The S-dependence of log P(R|S) at T = T0: ``printed`` (non-zero: -2 (eps1 S + eps2 S^2)/T0)
    and ``derived`` (zero)."""
    S, T, T0 = SYMBOLS["S"], SYMBOLS["T"], SYMBOLS["T0"]

    def s_dependence(expr):
        at_onset = expr.subs(T, T0)
        return sp.simplify(at_onset - at_onset.subs(S, 0))

    return {"printed": s_dependence(log_rate(True)), "derived": s_dependence(log_rate(False))}


@functools.lru_cache(maxsize=None)
def rates_from_coefficients() -> dict:
    """(A, gamma, delta) by matching log P(R|S) (derived sign) with log A + gamma S - delta S^2,
    and their differences from the closed forms in the module docstring (must vanish).
    ``gamma_over_onset_factor``: gamma / (1/T - 1/T0) = -eps1, independent of T."""
    Sg0, e0, e1, e2, S, T, T0 = (SYMBOLS[k] for k in ("Sigma0", "eps0", "eps1", "eps2", "S", "T", "T0"))
    c0, c1, c2 = quadratic_coefficients(log_rate(False), S)
    A, gamma, delta = sp.exp(c0), c1, -c2
    return {
        "A": A,
        "gamma": gamma,
        "delta": delta,
        "A_difference": sp.simplify(A - sp.exp(Sg0 - e0 / T)),
        "gamma_difference": sp.simplify(gamma - e1 * (1 / T0 - 1 / T)),
        "delta_difference": sp.simplify(delta - e2 * (1 / T - 1 / T0)),
        "gamma_over_onset_factor": sp.simplify(gamma / (1 / T - 1 / T0)),
    }


@functools.lru_cache(maxsize=None)
def _lambdified():
    d = rates_from_coefficients()
    args = [SYMBOLS[k] for k in ("Sigma0", "eps0", "eps1", "eps2", "T", "T0")]
    return sp.lambdify(args, (d["A"], d["gamma"], d["delta"]), "math")


def derived_temperature_rates() -> dict:
    """The temperature law as derived here, for cross-checking the oracle.

    Keys: ``"A"``, ``"gamma"``, ``"delta"`` (SymPy expressions in Sigma0, eps0, eps1, eps2, T, T0)
    and ``"rates_at_temperature"``: callable (*, Sigma0, eps0, eps1, eps2, T, T0) -> (A, gamma, delta)
    (floats; ``sympy.lambdify`` of the expressions).
    """
    d = rates_from_coefficients()
    f = _lambdified()

    def rates_at_temperature(*, Sigma0, eps0, eps1, eps2, T, T0):
        return tuple(float(v) for v in f(Sigma0, eps0, eps1, eps2, T, T0))

    return {"A": d["A"], "gamma": d["gamma"], "delta": d["delta"], "rates_at_temperature": rates_at_temperature}
