"""The temperature layer (Eqs. 27-28, optional ``[temperature]`` section).

Delta E(S) = eps0 + eps1 S + eps2 S^2 (Eq. 27) and, with the sign derived in proofs/
(ERRATA: the printed Eq. 28 has the wrong sign for P(R|S) to be S-independent at the
onset T0), Sigma(S) = Sigma0 + (eps1 S + eps2 S^2) / T0.  Then
P(R|S) = exp(Sigma(S) - Delta E(S)/T) = A exp(gamma S - delta S^2) with

    A = exp(Sigma0 - eps0/T),  gamma = eps1 (1/T0 - 1/T),  delta = eps2 (1/T - 1/T0),

and the mean softness <S>(T) = mean_a + mean_b / T (Sec. V).
"""

from __future__ import annotations

import math

from .params import LOG_HUGE, ParameterError, Temperature

__all__ = ["rates_at_temperature", "mean_at_temperature", "log_rate_prefactor"]


def log_rate_prefactor(t: Temperature) -> float:
    """log A = Sigma0 - eps0/T (Eqs. 27-28 at S = 0)."""
    return t.Sigma0 - t.eps0 / t.T


def rates_at_temperature(t: Temperature) -> tuple[float, float, float]:
    """(A, gamma, delta) of P(R|S) = A exp(gamma S - delta S^2) at temperature t.T (Eqs. 27-28, sign derived).

    Raises ParameterError('temperature.eps0') when A = exp(Sigma0 - eps0/T) over- or underflows.
    """
    log_A = log_rate_prefactor(t)
    if not -LOG_HUGE < log_A < LOG_HUGE:
        raise ParameterError(
            "temperature.eps0",
            f"the rate prefactor A = exp(Sigma0 - eps0/T) = exp({log_A:.6g}) is out of floating-point range; "
            "bring temperature.Sigma0 - temperature.eps0/temperature.T within +-700",
        )
    A = math.exp(log_A)
    gamma = t.eps1 * (1.0 / t.T0 - 1.0 / t.T)
    delta = t.eps2 * (1.0 / t.T - 1.0 / t.T0)
    return A, gamma, delta


def mean_at_temperature(t: Temperature) -> float:
    """<S>(T) = mean_a + mean_b / T (the Arrhenius-like fit of Sec. V)."""
    return t.mean_a + t.mean_b / t.T
