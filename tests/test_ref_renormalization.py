"""Renormalization of the rate law (Eqs. 20-23, App. D, corrected) and the temperature layer (Eqs. 27-28).

The decisive check is ``test_observed_law_is_z_times_conditional_average``: it integrates
the bare cluster rate over the exact conditional Gaussian of the other m-1 sites of every
cluster containing a site (taken from the dense K, by Gauss-Hermite quadrature) and sums
over those clusters, without using c, z or any closed form, and compares with the observed
law.  Its mutant tests show it rejects the printed Eq. 22 (sigma^2 for c sigma^2), the
printed z = N_m/N, and App. D's conditional mean without 1/sigma^2.
"""

import math

import numpy as np
import pytest
import scipy.linalg
from hypothesis import assume, given, strategies as st

from strategies import reference_model, valid_params
from trsp_ref.lattice import n_orientations
from trsp_ref.params import ParameterError, Params, params_from_dict, params_to_dict
from trsp_ref.renormalization import (
    bare_from_observed,
    cluster_correlation,
    observed_from_bare,
    rate_parameters,
)
from trsp_ref.temperature import mean_at_temperature, rates_at_temperature


def _close(a, b, rel=1e-10, abs_=1e-12):
    return all(math.isclose(x, y, rel_tol=rel, abs_tol=abs_) for x, y in zip(a, b))


# --------------------------------------------------------------------------------------
# closed forms: both round trips
# --------------------------------------------------------------------------------------


@st.composite
def _setting(draw):
    c = draw(st.one_of(st.just(1.0), st.floats(0.05, 1.0)))
    return dict(
        c=c,
        variance=draw(st.floats(0.1, 5.0)),
        mean=draw(st.floats(-3.0, 3.0)),
        z=draw(st.sampled_from([1, 4, 6, 12])),
    )


def _or_reject(fn, *args, **kw):
    """fn(*args, **kw), discarding the draw when the prefactor leaves floating-point range
    (near the solvability edge with small c, gamma0 ~ gamma/c^2 makes exp(...) overflow);
    that refusal is itself tested in test_bad_input.py."""
    try:
        return fn(*args, **kw)
    except ParameterError as err:
        assert err.parameter == "rates.A", str(err)
        assume(False)


@given(
    kw=_setting(),
    log_A=st.floats(-8.0, 2.0),
    gamma=st.floats(-3.0, 3.0),
    frac=st.floats(-0.95, 0.95),
)
def test_bare_from_observed_then_back_is_identity(kw, log_A, gamma, frac):
    c, s2 = kw["c"], kw["variance"]
    # the solvable range: -1/(2 s2) < delta < c / (2 (1-c) s2)
    upper = c / (2 * (1 - c) * s2) if c < 1 else 1.0 / s2
    delta = frac * (upper if frac > 0 else 1.0 / (2 * s2))
    observed = (math.exp(log_A), gamma, delta)
    bare = _or_reject(bare_from_observed, *observed, **kw)
    assert all(math.isfinite(x) for x in bare)
    assert _close(observed_from_bare(*bare, **kw), observed)


@given(
    kw=_setting(),
    log_A0=st.floats(-8.0, 2.0),
    gamma0=st.floats(-5.0, 5.0),
    frac=st.floats(-0.95, 0.95),
)
def test_observed_from_bare_then_back_is_identity(kw, log_A0, gamma0, frac):
    c, s2 = kw["c"], kw["variance"]
    # 1 + 2 delta0 c s2 > 0 (conditioning, and the backward map) and any delta0 > 0
    delta0 = frac * (2.0 / s2 if frac > 0 else 1.0 / (2 * c * s2))
    bare = (math.exp(log_A0), gamma0, delta0)
    observed = _or_reject(observed_from_bare, *bare, **kw)
    assert _close(bare_from_observed(*observed, **kw), bare)


def test_site_clusters_need_no_renormalization():
    kw = dict(c=1.0, variance=1.3, mean=-0.4, z=1)
    assert bare_from_observed(0.2, 1.1, 0.07, **kw) == pytest.approx((0.2, 1.1, 0.07), rel=1e-14)


def test_leading_orders_of_eqs_20_21():
    """delta0 = delta/c^2 + O(delta^2), gamma0 = gamma/c + O(delta) (the right-hand forms of Eqs. 20-21)."""
    kw = dict(c=0.4, variance=1.0, mean=-1.0, z=12)
    _, gamma0, delta0 = bare_from_observed(0.05, 1.2, 1e-7, **kw)
    assert delta0 == pytest.approx(1e-7 / 0.16, rel=1e-6)
    assert gamma0 == pytest.approx(1.2 / 0.4, rel=1e-5)


def test_no_solution_raises_on_rates_delta():
    kw = dict(c=0.4, variance=1.0, mean=-1.0, z=12)
    limit = 0.4 / (2 * 0.6 * 1.0)
    bare_from_observed(0.05, 1.0, 0.999 * limit, **kw)
    with pytest.raises(ParameterError) as err:
        bare_from_observed(0.05, 1.0, 1.001 * limit, **kw)
    assert err.value.parameter == "rates.delta" and "no solution" in str(err.value)
    with pytest.raises(ParameterError) as err:
        observed_from_bare(0.05, 1.0, -1.0 / (2 * 0.24) * 1.0001, **kw)
    assert err.value.parameter == "rates.delta"


# --------------------------------------------------------------------------------------
# the observed law from first principles (Eq. D2), by quadrature over the dense K
# --------------------------------------------------------------------------------------

_GH_POINTS = 24


def conditional_average(K, mean, cluster, site, S, bare, *, unit_mean_bug=False):
    """E[P0(<S>_cluster) | S_site = S] over the exact conditional Gaussian of the other sites.

    Tensor Gauss-Hermite quadrature in m-1 dimensions.  ``unit_mean_bug`` reproduces
    App. D's printed conditional mean, K_ij (S - mu) without the 1/sigma^2 (a mutant).
    """
    A0, g0, d0 = bare
    cluster = list(cluster)
    others = [j for j in cluster if j != site]
    m = len(cluster)
    if not others:
        return A0 * math.exp(g0 * S - d0 * S * S)
    k = K[others, site]
    var = K[site, site]
    cond_mean = mean + (k if unit_mean_bug else k / var) * (S - mean)
    cond_cov = K[np.ix_(others, others)] - np.outer(k, k) / var
    chol = scipy.linalg.cholesky(cond_cov, lower=True)
    x, w = np.polynomial.hermite.hermgauss(_GH_POINTS)  # weight exp(-x^2)
    d = len(others)
    nodes = np.stack(np.meshgrid(*([x] * d), indexing="ij"), axis=-1).reshape(-1, d) * math.sqrt(2.0)
    weights = np.prod(np.stack(np.meshgrid(*([w] * d), indexing="ij"), axis=-1).reshape(-1, d), axis=1)
    weights = weights / math.pi ** (d / 2)
    X = cond_mean + nodes @ chol.T
    sbar = (S + X.sum(axis=1)) / m
    return float(np.sum(weights * A0 * np.exp(g0 * sbar - d0 * sbar * sbar)))


def observed_by_quadrature(model, S, site=0, bare=None, **kw):
    """Eq. D2 summed over the clusters that contain ``site``: no c, no z, no closed form."""
    bare = model.rates.bare if bare is None else bare
    containing = [row for row in model.clusters if site in row]
    return sum(conditional_average(model.K, model.mean, row, site, S, bare, **kw) for row in containing)


_CASES = [(dim, shape) for dim in (2, 3) for shape in ("site", "dimer", "plaquette")]


def _model(dim, shape, level="observed", variance=1.7):
    d = params_to_dict(Params())
    d["lattice"].update(dim=dim, L=4 if dim == 3 else 5)
    d["cluster"]["shape"] = shape
    # variance != 1 so that a missing 1/sigma^2 shows
    d["softness"].update(variance=variance, C1=0.6 * variance, mean=-0.7)
    d["rates"].update(level=level, A=0.08, gamma=1.3, delta=0.06)
    return reference_model(params_from_dict(d))


@pytest.mark.parametrize("dim,shape", _CASES)
@pytest.mark.parametrize("level", ["observed", "bare"])
def test_observed_law_is_z_times_conditional_average(dim, shape, level):
    model = _model(dim, shape, level)
    A, gamma, delta = model.rates.observed
    sd = math.sqrt(model.params.softness.variance)
    for S in model.mean + sd * np.array([-2.5, -1.0, 0.0, 0.7, 2.0]):
        expected = A * math.exp(gamma * S - delta * S * S)
        assert observed_by_quadrature(model, S) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("dim,shape", [(2, "dimer"), (3, "plaquette")])
def test_quadrature_check_rejects_the_printed_formulas(dim, shape):
    """The check above is able to fail: the printed Eq. 22, z = N_m/N and App. D's mean are caught."""
    model = _model(dim, shape)
    A, gamma, delta = model.rates.observed
    A0, gamma0, delta0 = model.rates.bare
    c, s2, mu = model.c, model.params.softness.variance, model.mean
    S = mu + 1.0
    target = A * math.exp(gamma * S - delta * S * S)

    def rel_error(value):
        return abs(value / target - 1.0)

    assert rel_error(observed_by_quadrature(model, S)) < 1e-9
    # printed Eq. 22: sigma^2 where c sigma^2 belongs (twice)
    printed = (
        A
        / model.z
        * math.sqrt((1 + 2 * c * delta0 * s2) / (1 + 2 * delta * s2))
        * math.exp(
            (gamma * mu - delta * mu**2 + gamma**2 * s2 / 2) / (1 + 2 * delta * s2)
            - (gamma0 * mu - delta0 * mu**2 + gamma0**2 * s2 / 2) / (1 + 2 * delta0 * s2)
        )
    )
    assert rel_error(observed_by_quadrature(model, S, bare=(printed, gamma0, delta0))) > 1e-2
    # z = N_m / N = n_orientations (the text after Eq. 23) instead of m * n_orientations
    n_or = n_orientations(dim, shape)
    assert rel_error(observed_by_quadrature(model, S, bare=(A0 * model.z / n_or, gamma0, delta0))) > 0.5
    # App. D's conditional mean without 1/sigma^2
    assert rel_error(observed_by_quadrature(model, S, unit_mean_bug=True)) > 1e-3


@pytest.mark.parametrize("dim,shape", _CASES)
def test_cluster_correlation_is_the_same_for_every_cluster_and_site(dim, shape):
    """Eq. 23's c and the derivation's premise: every cluster site has the same in-cluster row sum of K."""
    model = _model(dim, shape)
    s2 = model.params.softness.variance
    for row in model.clusters:
        block = model.K[np.ix_(row, row)]
        assert block.mean() / s2 == pytest.approx(model.c, rel=1e-13)
        np.testing.assert_allclose(block.sum(axis=1), block.sum(axis=1)[0], rtol=1e-13)
    assert cluster_correlation(model.params) == pytest.approx(model.c, rel=1e-15)
    assert 0 < model.c <= 1


@given(p=valid_params(max_N=64))
def test_rate_parameters_are_consistent_for_random_parameter_sets(p):
    """The two forms of the law returned by rate_parameters map onto each other."""
    r = reference_model(p).rates
    kw = dict(mean=r.mean, variance=p.softness.variance, c=r.c, z=r.z)
    assert _close(observed_from_bare(*r.bare, **kw), r.observed, rel=1e-9)
    assert _close(bare_from_observed(*r.observed, **kw), r.bare, rel=1e-9)


# --------------------------------------------------------------------------------------
# temperature layer
# --------------------------------------------------------------------------------------

_KA_LIKE = dict(T=0.5, T0=0.74, eps0=1.5, eps1=-0.8, eps2=0.05, Sigma0=0.0, mean_a=0.5, mean_b=-0.75)


@given(
    T=st.floats(0.3, 2.0),
    T0=st.floats(0.3, 2.0),
    eps=st.tuples(st.floats(-3, 3), st.floats(-3, 3), st.floats(-1, 1)),
    Sigma0=st.floats(-3, 3),
)
def test_temperature_rates_equal_arrhenius_law(T, T0, eps, Sigma0):
    """log P(R|S) = Sigma(S) - Delta E(S)/T (Eqs. 3, 27, 28 with the derived sign), at three S."""
    from trsp_ref.params import Temperature

    t = Temperature(T=T, T0=T0, eps0=eps[0], eps1=eps[1], eps2=eps[2], Sigma0=Sigma0, mean_a=0.0, mean_b=0.0)
    A, gamma, delta = rates_at_temperature(t)
    for S in (-1.5, 0.0, 2.0):
        energy = t.eps0 + t.eps1 * S + t.eps2 * S * S
        entropy = t.Sigma0 + (t.eps1 * S + t.eps2 * S * S) / t.T0
        assert math.log(A) + gamma * S - delta * S * S == pytest.approx(entropy - energy / T, rel=1e-12, abs=1e-12)


def test_rates_do_not_depend_on_softness_at_onset():
    from trsp_ref.params import Temperature

    t = Temperature(**{**_KA_LIKE, "T": _KA_LIKE["T0"]})
    A, gamma, delta = rates_at_temperature(t)
    assert gamma == 0.0 and delta == 0.0
    assert mean_at_temperature(t) == pytest.approx(0.5 - 0.75 / 0.74)


@pytest.mark.parametrize("level", ["observed", "bare"])
def test_temperature_section_equals_explicit_rates(level):
    d = params_to_dict(Params())
    d["rates"]["level"] = level
    explicit = {k: d["rates"].pop(k) for k in ("A", "gamma", "delta")}
    del d["softness"]["mean"]
    d["temperature"] = dict(_KA_LIKE)
    p_t = params_from_dict(d)
    from trsp_ref.params import Temperature

    A, gamma, delta = rates_at_temperature(Temperature(**_KA_LIKE))
    d2 = params_to_dict(Params())
    d2["rates"].update(level=level, A=A, gamma=gamma, delta=delta)
    d2["softness"]["mean"] = mean_at_temperature(Temperature(**_KA_LIKE))
    assert explicit  # the defaults were replaced, not used
    assert rate_parameters(p_t) == rate_parameters(params_from_dict(d2))


# --------------------------------------------------------------------------------------
# optional cross-check with the symbolic derivation in proofs/ (when it exists)
# --------------------------------------------------------------------------------------

_SYMBOL_VALUES = {
    "A": 0.07, "gamma": 1.1, "delta": 0.04, "mu": -0.8, "mean": -0.8, "sigma2": 1.3, "variance": 1.3,
    "sigma": math.sqrt(1.3), "c": 0.37, "z": 12,
}  # fmt: skip


def test_matches_symbolic_derivation():
    from proofs.renormalization import derived_renormalization

    derived = derived_renormalization()
    ours = dict(
        zip(
            ("A0", "gamma0", "delta0"),
            bare_from_observed(
                _SYMBOL_VALUES["A"],
                _SYMBOL_VALUES["gamma"],
                _SYMBOL_VALUES["delta"],
                mean=_SYMBOL_VALUES["mu"],
                variance=_SYMBOL_VALUES["sigma2"],
                c=_SYMBOL_VALUES["c"],
                z=_SYMBOL_VALUES["z"],
            ),
        )
    )
    for key, value in ours.items():
        expr = derived[key]
        subs = {s: _SYMBOL_VALUES.get(s.name, _SYMBOL_VALUES.get(s.name.replace("_", ""))) for s in expr.free_symbols}
        assert all(v is not None for v in subs.values()), f"unrecognized symbols in proofs' {key}: {sorted(map(str, subs))}"
        # expressions for A0 etc. may refer to gamma0/delta0: give them our values
        assert float(expr.subs(subs).subs({"gamma0": ours["gamma0"], "delta0": ours["delta0"]})) == pytest.approx(
            value, rel=1e-10
        )
