"""Broken variants of ``trsp fit`` that the round trip must reject (tests/test_fit_roundtrip.py).

Each mutation replaces one function of :mod:`trsp_fit.estimate` (the pipeline reaches them
through the module, so patching the module attribute changes the fit) by a mistake a careful
reader of the paper could make.  ``SETS_TO_CATCH`` names the round-trip set whose data expose it.
"""

from __future__ import annotations

import contextlib

import numpy as np

import trsp_fit.estimate as est

#: name -> what is wrong (docs/fit.md, "Mutants")
FIT_MUTATIONS: dict[str, str] = {
    "no_background_subtraction": "Appendix E skipped: the measured residual (co)variances taken as K_Delta, background included",
    "raw_variance_as_K_Delta": "Var(dS | r) used as K_Delta(r, r): the drift H (mu' - S) not regressed out (its variance H K' H^T stays in)",
    "eq28_printed_sign": "Eq. 28 with the printed sign, Sigma(S) = Sigma0 - (eps1 S + eps2 S^2)/T0, in the temperature fit",
    "no_nugget": "C_S(r) fitted without the r = 0 nugget: C(r) = C1 exp(-r/xi) for every r, variance = C1",
}
SETS_TO_CATCH = {
    "no_background_subtraction": "background",
    "raw_variance_as_K_Delta": "plaquette",
    "eq28_printed_sign": "temperature",
    "no_nugget": "plaquette",
}


def _printed_rates(T, Sigma0, eps0, eps1, eps2, T0):
    # log P = Sigma0 - eps0/T - (eps1 S + eps2 S^2)(1/T0 + 1/T)
    return Sigma0 - eps0 / T, -eps1 * (1 / T0 + 1 / T), eps2 * (1 / T + 1 / T0)


def _no_nugget(r, variance, C1, xi):
    return C1 * np.exp(-np.asarray(r, dtype=np.float64) / xi)


_PATCHES = {
    "no_background_subtraction": ("subtract_background", lambda measured, background, background_var, variance: np.asarray(measured)),
    "raw_variance_as_K_Delta": ("kick_regressors", lambda: [0]),
    "eq28_printed_sign": ("temperature_rates", _printed_rates),
    "no_nugget": ("correlation_model", _no_nugget),
}


@contextlib.contextmanager
def mutated(name: str):
    """Within the block, trsp_fit.estimate carries mutation ``name``."""
    attr, fn = _PATCHES[name]
    original = getattr(est, attr)
    setattr(est, attr, fn)
    try:
        yield
    finally:
        setattr(est, attr, original)


assert set(_PATCHES) == set(FIT_MUTATIONS) == set(SETS_TO_CATCH)
