"""Hypothesis strategies for TRSP parameter sets, shared by the test modules.

- :func:`valid_params` draws parameter sets that pass every check, on small lattices.
  Validity is made likely by construction (ranges below) and the rare leftover is
  discarded with ``assume``; the model built during that check is kept in a small cache,
  so ``reference_model(p)`` in the test body costs nothing.
- :func:`invalid_params` draws ``(parameter-file dict, expected ParameterError.parameter)``
  pairs, one family per violated condition.

Why the ranges make validity likely:

- ``K = C1 E + (variance - C1) 1`` with ``E_ij = exp(-r_ij/xi)``; the Laplace kernel E is
  positive definite in R^d (and, in practice, on these small tori), so ``C1 <= 0.8 variance``
  leaves a nugget of at least ``0.2 variance``.  Same for rho with ``rho1 <= 0.6``.
- the renormalization needs ``delta variance < c / (2 (1-c))``, and ``c >= 1/4`` for every
  shape when correlations are positive, so ``delta variance <= 0.15`` is always solvable;
  ``delta variance >= -0.1`` keeps ``1 + 2 delta variance > 0``.
- the largest eigenvalue of ``K_Delta K'^-1`` is roughly ``sigma0^2`` over the conditional
  variance of a cluster site, which is at least the nugget ``variance - C1``; drawing
  ``sigma0 <= 0.75 sqrt(variance - C1)`` keeps it below 1 nearly always.
"""

from __future__ import annotations

import functools
import math

from hypothesis import assume, strategies as st

from trsp_ref.model import ReferenceModel
from trsp_ref.params import CLUSTER_SHAPES, ParameterError, Params, params_from_dict, params_to_dict

__all__ = ["valid_params", "invalid_params", "reference_model", "params_dict"]


@functools.lru_cache(maxsize=16)
def reference_model(p: Params) -> ReferenceModel:
    """The ReferenceModel of ``p``, cached (Params is frozen and hashable; the model is pure)."""
    return ReferenceModel(p)


def params_dict(**sections) -> dict:
    """The built-in default parameter file as a dict, with ``section={key: value}`` updates."""
    d = params_to_dict(Params())
    for name, updates in sections.items():
        d.setdefault(name, {}).update(updates)
    return d


def _max_L(dim: int, max_N: int) -> int:
    L = int(round(max_N ** (1.0 / dim)))
    while L**dim > max_N:
        L -= 1
    return L


@st.composite
def valid_params(
    draw,
    dims=(2, 3),
    shapes=CLUSTER_SHAPES,
    max_N: int = 216,
    levels=("observed", "bare"),
    temperature: bool = True,
    well_conditioned_kick: bool = False,
    check: bool = True,
) -> Params:
    """A valid Params on a lattice of at most ``max_N`` sites (L >= 3).

    ``well_conditioned_kick`` narrows the kick to sigma1 >= 0.4 sigma0, xi_sigma >= 1,
    facilitation >= 0.3, rho1 <= 0.4, so that K_Delta is positive definite with a moderate
    condition number (needed where a test inverts K_Delta, e.g. Eq. B26).
    ``check`` builds the model and discards the draw on ParameterError (cached for the test).
    """
    dim = draw(st.sampled_from(dims))
    shape = draw(st.sampled_from(shapes))
    L_hi = _max_L(dim, max_N)
    if L_hi < 3:
        raise ValueError(f"max_N = {max_N} leaves no lattice with L >= 3 in {dim}D")
    L = draw(st.integers(3, L_hi))
    spacing = draw(st.floats(0.8, 1.5))
    variance = draw(st.floats(0.3, 3.0))
    C1 = variance * draw(st.floats(0.0, 0.8))
    xi = draw(st.floats(0.3, 1.5))
    mean = draw(st.floats(-2.0, 1.0))
    level = draw(st.sampled_from(levels))
    A = math.exp(draw(st.floats(math.log(1e-3), 0.0)))
    if level == "observed":
        gamma = draw(st.floats(-1.0, 2.5))
        delta = draw(st.floats(-0.1, 0.15)) / variance
    else:
        gamma = draw(st.floats(-1.0, 4.0))
        delta = draw(st.floats(-0.2, 0.6)) / variance
    duration = draw(st.floats(0.5, 10.0))
    nugget_sd = math.sqrt(variance - C1)
    if well_conditioned_kick:
        sigma0 = nugget_sd * draw(st.floats(0.2, 0.7))
        sigma1 = sigma0 * draw(st.floats(0.4, 1.0))
        xi_sigma = draw(st.floats(1.0, 2.0))
        rho1 = draw(st.floats(0.0, 0.4))
        facilitation = draw(st.one_of(st.just(1.0), st.floats(0.3, 1.0)))
    else:
        sigma0 = nugget_sd * draw(st.floats(0.0, 0.75))
        sigma1 = sigma0 * draw(st.floats(0.0, 1.2))
        xi_sigma = draw(st.floats(0.5, 2.0))
        rho1 = draw(st.floats(0.0, 0.6))
        facilitation = draw(st.one_of(st.just(1.0), st.floats(0.0, 1.0)))
    xi_rho = draw(st.floats(0.3, 1.5))
    d = {
        "lattice": {"dim": dim, "L": L, "spacing": spacing},
        "softness": {"variance": variance, "C1": C1, "xi": xi},
        "rates": {"level": level, "duration": duration},
        "kick": {
            "sigma0": sigma0,
            "sigma1": sigma1,
            "xi_sigma": xi_sigma,
            "rho1": rho1,
            "xi_rho": xi_rho,
            "facilitation": facilitation,
        },
        "cluster": {"shape": shape},
    }
    if temperature and draw(st.booleans()):
        # the same (A, gamma, delta, mean), supplied through Eqs. 27-28 instead
        T0 = draw(st.floats(0.5, 1.0))
        T = draw(st.floats(0.3, 1.5).filter(lambda t: abs(1.0 / t - 1.0 / T0) > 0.05))
        eps0 = draw(st.floats(0.0, 3.0))
        mean_b = draw(st.floats(-1.0, 1.0))
        d["temperature"] = {
            "T": T,
            "T0": T0,
            "eps0": eps0,
            "Sigma0": math.log(A) + eps0 / T,
            "eps1": gamma / (1.0 / T0 - 1.0 / T),
            "eps2": delta / (1.0 / T - 1.0 / T0),
            "mean_a": mean - mean_b / T,
            "mean_b": mean_b,
        }
    else:
        d["softness"]["mean"] = mean
        d["rates"].update(A=A, gamma=gamma, delta=delta)
    p = params_from_dict(d)
    if check:
        try:
            reference_model(p)
        except ParameterError:
            assume(False)
    return p


# ----------------------------------------------------------------------------------------
# invalid parameter sets: (dict, expected parameter name)
# ----------------------------------------------------------------------------------------

_POSITIVE = [
    ("lattice", "spacing"),
    ("softness", "variance"),
    ("softness", "xi"),
    ("rates", "duration"),
    ("rates", "A"),
    ("kick", "xi_sigma"),
    ("kick", "xi_rho"),
]
_NON_NEGATIVE = [("kick", "sigma0"), ("kick", "sigma1"), ("kick", "facilitation")]
_NUMERIC = [
    ("lattice", "spacing"),
    ("softness", "mean"),
    ("softness", "variance"),
    ("softness", "C1"),
    ("softness", "xi"),
    ("rates", "A"),
    ("rates", "gamma"),
    ("rates", "delta"),
    ("rates", "duration"),
    ("kick", "sigma0"),
    ("kick", "sigma1"),
    ("kick", "xi_sigma"),
    ("kick", "rho1"),
    ("kick", "xi_rho"),
    ("kick", "facilitation"),
]


def _small_lattice(draw) -> dict:
    dim = draw(st.sampled_from([2, 3]))
    return {"dim": dim, "L": draw(st.integers(3, 6 if dim == 2 else 4))}


@st.composite
def _non_positive(draw):
    section, key = draw(st.sampled_from(_POSITIVE))
    value = draw(st.one_of(st.just(0.0), st.floats(-10.0, 0.0)))
    return params_dict(**{section: {key: value}}), f"{section}.{key}"


@st.composite
def _negative(draw):
    section, key = draw(st.sampled_from(_NON_NEGATIVE))
    return params_dict(**{section: {key: draw(st.floats(-10.0, -1e-6))}}), f"{section}.{key}"


@st.composite
def _not_finite(draw):
    section, key = draw(st.sampled_from(_NUMERIC))
    return params_dict(**{section: {key: draw(st.sampled_from([math.nan, math.inf, -math.inf]))}}), f"{section}.{key}"


@st.composite
def _wrong_type(draw):
    section, key = draw(st.sampled_from(_NUMERIC + [("lattice", "L"), ("lattice", "dim")]))
    value = draw(st.sampled_from(["1.0", [1.0], {"x": 1}, True]))
    return params_dict(**{section: {key: value}}), f"{section}.{key}"


@st.composite
def _unknown_key(draw):
    section = draw(st.sampled_from(["lattice", "softness", "rates", "kick", "cluster"]))
    key = draw(st.sampled_from(["sigma", "colour", "Xi", "temperature", "m"]))
    return params_dict(**{section: {key: 1.0}}), f"{section}.{key}"


@st.composite
def _small_L(draw):
    shape = draw(st.sampled_from(["dimer", "plaquette"]))
    return params_dict(lattice={"L": draw(st.sampled_from([1, 2]))}, cluster={"shape": shape}), "lattice.L"


@st.composite
def _K_not_pd(draw):
    # C1 several times the variance with xi >= 1: the smallest eigenvalue of E is well below
    # 1 - variance/C1, so K = C1 E - (C1 - variance) 1 has a negative eigenvalue.
    variance = draw(st.floats(0.5, 2.0))
    softness = {"variance": variance, "C1": variance * draw(st.floats(4.0, 10.0)), "xi": draw(st.floats(1.0, 2.0))}
    return params_dict(lattice=_small_lattice(draw), softness=softness), "softness.C1"


@st.composite
def _rho_not_pd(draw):
    kick = {"rho1": draw(st.floats(4.0, 10.0)), "xi_rho": draw(st.floats(1.0, 2.0))}
    return params_dict(lattice=_small_lattice(draw), kick=kick), "kick.rho1"


@st.composite
def _kick_too_large(draw):
    # sigma0^2 > variance: e_i^T K_Delta e_i / e_i^T K' e_i > 1 for a cluster site i, and the
    # largest eigenvalue of K_Delta K'^-1 is at least that Rayleigh quotient (K' <= K here).
    kick = {"sigma0": draw(st.floats(1.05, 3.0)), "facilitation": 1.0}
    shape = draw(st.sampled_from(CLUSTER_SHAPES))
    return params_dict(lattice=_small_lattice(draw), kick=kick, cluster={"shape": shape}), "kick"


@st.composite
def _renormalization_unsolvable(draw):
    # default softness: c ~ 0.4 (plaquette), 0.6 (dimer); delta above c / (2 (1-c) variance)
    shape = draw(st.sampled_from(["dimer", "plaquette"]))
    delta = draw(st.floats(1.0, 50.0))
    return params_dict(lattice=_small_lattice(draw), rates={"delta": delta}, cluster={"shape": shape}), "rates.delta"


@st.composite
def _temperature_and_supplied_key(draw):
    section, key = draw(st.sampled_from([("softness", "mean"), ("rates", "A"), ("rates", "gamma"), ("rates", "delta")]))
    d = params_dict()
    d["temperature"] = {
        "T": 0.5, "T0": 0.74, "eps0": 1.5, "eps1": -0.8, "eps2": 0.05, "Sigma0": 0.0, "mean_a": 0.5, "mean_b": -0.75,
    }  # fmt: skip
    for s, k in (("softness", "mean"), ("rates", "A"), ("rates", "gamma"), ("rates", "delta")):
        if (s, k) != (section, key):
            d[s].pop(k)
    return d, f"{section}.{key}"


def invalid_params():
    """Strategy for ``(parameter dict, expected ParameterError.parameter)``, one family per condition.

    Build with ``p = params_from_dict(d)`` then ``trsp_ref.model.validate(p)``: one of the two
    must raise ParameterError with ``.parameter`` equal to the expected name.
    """
    return st.one_of(
        _non_positive(),
        _negative(),
        _not_finite(),
        _wrong_type(),
        _unknown_key(),
        _small_L(),
        _K_not_pd(),
        _rho_not_pd(),
        _kick_too_large(),
        _renormalization_unsolvable(),
        _temperature_and_supplied_key(),
    )
