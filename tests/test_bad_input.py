"""Bad input: every violated condition raises ParameterError naming the parameter and the condition.

One test per condition (docs/model.md), the Hypothesis families of ``strategies.invalid_params``,
a fuzz test that no parameter set produces a NaN instead of an error, and every example file.
"""

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, strategies as st

from strategies import invalid_params, params_dict
from trsp_ref.model import MAX_DENSE_SITES, ReferenceModel, validate
from trsp_ref.params import Params, ParameterError, Rates, Softness, load_params, params_from_dict

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.toml"))


def error_of(d) -> ParameterError:
    """The ParameterError that building and validating the parameter dict ``d`` raises."""
    with pytest.raises(ParameterError) as err:
        validate(params_from_dict(d))
    return err.value


def assert_error(d, parameter, *words):
    err = error_of(d)
    assert err.parameter == parameter, str(err)
    for w in words:
        assert w in str(err), f"{w!r} not in {err}"
    assert "Traceback" not in str(err)
    return err


# -------------------------------------------------------------------- lattice-level


def test_K_not_positive_definite():
    err = assert_error(params_dict(softness={"C1": 5.0, "xi": 1.5}), "softness.C1", "not positive definite", "smallest eigenvalue")
    assert "reduce" in err.condition


def test_rho_not_positive_definite():
    err = assert_error(params_dict(kick={"rho1": 5.0, "xi_rho": 1.5}), "kick.rho1", "not positive definite", "rho")
    assert "reduce" in err.condition


@pytest.mark.parametrize("shape", ["site", "dimer", "plaquette"])
def test_kick_eigenvalue_at_least_one(shape):
    err = assert_error(params_dict(kick={"sigma0": 1.2}, cluster={"shape": shape}), "kick", "eigenvalue", ">= 1")
    assert "kick.sigma0" in err.condition and "kick.facilitation" in err.condition
    largest = float(err.condition.split("largest ")[1].split(")")[0])
    assert largest >= 1.0


def test_facilitation_rescues_a_too_large_kick():
    d = params_dict(kick={"sigma0": 1.2})
    error_of(d)
    d["kick"]["facilitation"] = 0.3
    validate(params_from_dict(d))


@pytest.mark.parametrize("shape", ["dimer", "plaquette"])
def test_renormalization_without_solution(shape):
    assert_error(params_dict(rates={"delta": 2.0}, cluster={"shape": shape}), "rates.delta", "no solution", "c^2 - 2c(1-c)")


def test_observed_rate_growing_faster_than_the_gaussian():
    assert_error(params_dict(rates={"delta": -0.6}), "rates.delta", "1 + 2 delta variance")


def test_bare_law_with_no_observed_counterpart():
    # c ~ 0.40, v = c(1-c) ~ 0.24: 1 + 2 delta0 v <= 0 for delta0 < -2.1
    assert_error(params_dict(rates={"level": "bare", "delta": -3.0, "gamma": 0.0}), "rates.delta", "no solution")


def test_conditioning_not_normalizable():
    # bare level, dimer (c ~ 0.61): 1 + 2 delta0 c(1-c) > 0 but 1 + 2 delta0 w^T K w <= 0
    err = assert_error(
        params_dict(rates={"level": "bare", "delta": -1.0, "gamma": 0.0}, cluster={"shape": "dimer"}),
        "rates.delta",
        "1 + 2 delta0 w^T K w",
    )
    assert "increase rates.delta" in err.condition


def test_rates_overflow():
    assert_error(params_dict(rates={"gamma": 80.0, "delta": 0.0}, cluster={"shape": "site"}), "rates.gamma", "overflow")
    assert_error(
        # far from the origin a negative delta0 dominates: 0.2 * (50 + 10)^2 = 720
        params_dict(rates={"level": "bare", "gamma": 0.0, "delta": -0.2}, softness={"mean": -50.0}, cluster={"shape": "site"}),
        "rates.delta",
        "overflow",
    )


def test_rates_underflow():
    assert_error(params_dict(rates={"A": 1e-305}), "rates.A", "out of floating-point range")


def test_temperature_rate_errors_name_the_temperature_key():
    d = params_dict()
    del d["softness"]["mean"]
    for k in ("A", "gamma", "delta"):
        del d["rates"][k]
    d["temperature"] = dict(T=0.2, T0=0.74, eps0=1.5, eps1=-0.8, eps2=1.0, Sigma0=0.0, mean_a=0.5, mean_b=-0.3)
    err = assert_error(d, "temperature.eps2", "no solution", "supplied by [temperature]")
    d["temperature"].update(eps2=0.0, eps0=200.0)
    assert_error(d, "temperature.eps0", "out of floating-point range")


def test_lattice_too_large_for_the_dense_oracle():
    assert_error(params_dict(lattice={"dim": 3, "L": 17}), "lattice.L", str(MAX_DENSE_SITES))


def test_radii_of_the_truncated_model():
    p = Params().replace(lattice={"dim": 2, "L": 4})
    for name, kw in (("kick_radius", {"kick_radius": -1.0}), ("precision_radius", {"precision_radius": 0.0}),
                     ("kick_radius", {"kick_radius": math.nan})):  # fmt: skip
        with pytest.raises(ParameterError) as err:
            ReferenceModel(p, **kw)
        assert err.value.parameter == name


# ------------------------------------------------------------------------ scalar


@pytest.mark.parametrize(
    "section,key,value",
    [
        ("lattice", "spacing", 0.0),
        ("lattice", "spacing", -1.0),
        ("softness", "xi", 0.0),
        ("softness", "variance", 0.0),
        ("softness", "variance", -2.0),
        ("rates", "duration", 0.0),
        ("rates", "A", 0.0),
        ("kick", "xi_sigma", 0.0),
        ("kick", "xi_rho", -1.0),
    ],
)
def test_non_positive_lengths_variance_duration(section, key, value):
    assert_error(params_dict(**{section: {key: value}}), f"{section}.{key}", "> 0")


@pytest.mark.parametrize("key", ["sigma0", "sigma1", "facilitation"])
def test_negative_kick_amplitudes(key):
    assert_error(params_dict(kick={key: -0.1}), f"kick.{key}", ">= 0")


@pytest.mark.parametrize("L", [0, 1, -3])
def test_non_positive_L(L):
    assert_error(params_dict(lattice={"L": L}, cluster={"shape": "site"}), "lattice.L", ">= 2")


@pytest.mark.parametrize("shape", ["dimer", "plaquette"])
def test_cluster_that_does_not_fit(shape):
    assert_error(params_dict(lattice={"L": 2}, cluster={"shape": shape}), "lattice.L", "does not fit", "L >= 3")


def test_bad_dim_and_shape():
    assert_error(params_dict(lattice={"dim": 4}), "lattice.dim", "2 or 3")
    assert_error(params_dict(cluster={"shape": "triangle"}), "cluster.shape", "plaquette")


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("section,key", [("softness", "mean"), ("rates", "gamma"), ("kick", "rho1"), ("softness", "C1")])
def test_nan_and_inf(section, key, value):
    assert_error(params_dict(**{section: {key: value}}), f"{section}.{key}", "finite")


def test_nan_in_a_directly_built_params_is_caught_by_the_model():
    for p, name in (
        (Params(softness=Softness(mean=math.nan)), "softness.mean"),
        (Params(rates=Rates(gamma=math.inf)), "rates.gamma"),
        (Params(softness=Softness(mean=None)), "softness.mean"),
    ):
        with pytest.raises(ParameterError) as err:
            ReferenceModel(p)
        assert err.value.parameter == name


def test_unknown_keys_and_sections():
    assert_error(params_dict(kick={"sigma2": 0.1}), "kick.sigma2", "unknown key")
    with pytest.raises(ParameterError) as err:
        params_from_dict({**params_dict(), "kicks": {"sigma0": 0.1}})
    assert err.value.parameter == "kicks" and "unknown section" in str(err.value)


@pytest.mark.parametrize(
    "section,key,value,words",
    [
        ("lattice", "L", "6", "integer"),
        ("lattice", "L", 6.5, "integer"),
        ("softness", "variance", "1.0", "number"),
        ("rates", "gamma", [1.0], "number"),
        ("kick", "facilitation", True, "number"),
        ("cluster", "shape", 4, "string"),
    ],
    ids=["L string", "L fraction", "variance string", "gamma list", "facilitation bool", "shape number"],
)
def test_wrong_types(section, key, value, words):
    assert_error(params_dict(**{section: {key: value}}), f"{section}.{key}", words)


@pytest.mark.parametrize("section,key", [("softness", "mean"), ("rates", "A"), ("rates", "gamma"), ("rates", "delta")])
def test_temperature_plus_supplied_key(section, key):
    d = params_dict()
    d["temperature"] = dict(T=0.5, T0=0.74, eps0=1.5, eps1=-0.8, eps2=0.05, Sigma0=0.0, mean_a=0.5, mean_b=-0.75)
    for s, k in (("softness", "mean"), ("rates", "A"), ("rates", "gamma"), ("rates", "delta")):
        if (s, k) != (section, key):
            d[s].pop(k)
    assert_error(d, f"{section}.{key}", "supplied by [temperature]")


def test_non_positive_temperature():
    d = params_dict()
    del d["softness"]["mean"]
    for k in ("A", "gamma", "delta"):
        del d["rates"][k]
    d["temperature"] = dict(T=0.0, T0=0.74, eps0=1.5, eps1=-0.8, eps2=0.05, Sigma0=0.0, mean_a=0.5, mean_b=-0.75)
    assert_error(d, "temperature.T", "> 0")


# --------------------------------------------------------------------- families


@given(case=invalid_params())
def test_invalid_parameter_families(case):
    d, expected = case
    assert error_of(d).parameter == expected


@st.composite
def wild_params(draw):
    """Parameter files well outside sensible ranges (but finite, and passing the scalar checks):
    each must either build a model with finite operators or raise ParameterError -- never a
    NaN, never another exception.  Ranges are wide but centred so that both outcomes occur."""
    pos = st.floats(1e-3, 1e2)
    dim = draw(st.sampled_from([2, 3]))
    variance = draw(pos)
    sd = math.sqrt(variance)
    return params_dict(
        lattice={"dim": dim, "L": draw(st.integers(3, 5 if dim == 2 else 4)), "spacing": draw(pos)},
        softness={"mean": draw(st.floats(-100, 100)), "variance": variance,
                  "C1": variance * draw(st.floats(-2, 2)), "xi": draw(pos)},  # fmt: skip
        rates={"level": draw(st.sampled_from(["observed", "bare"])), "A": draw(st.floats(1e-300, 1e300)),
               "gamma": draw(st.floats(-50, 50)) / sd, "delta": draw(st.floats(-3, 3)) / variance,
               "duration": draw(pos)},  # fmt: skip
        kick={"sigma0": sd * draw(st.floats(0, 3)), "sigma1": sd * draw(st.floats(0, 3)), "xi_sigma": draw(pos),
              "rho1": draw(st.floats(-1.5, 1.5)), "xi_rho": draw(pos), "facilitation": draw(st.floats(0, 10))},  # fmt: skip
        cluster={"shape": draw(st.sampled_from(["site", "dimer", "plaquette"]))},
    )


@given(d=wild_params(), seed=st.integers(0, 2**32 - 1))
def test_no_nan_ever_escapes(d, seed):
    try:
        model = ReferenceModel(params_from_dict(d))
    except ParameterError as err:
        assert err.parameter and err.condition
        return
    assert all(math.isfinite(x) for x in (*model.rates.observed, *model.rates.bare, model.c))
    ops = model.kick_operators(0)
    for a in ops:
        assert np.all(np.isfinite(a))
    rng = np.random.default_rng(seed)
    S = model.sample_equilibrium(rng)
    cluster, dt = model.choose_event(S, rng.random(), rng.random())
    assert np.all(np.isfinite(model.apply_kick(S, cluster, rng.standard_normal(model.N))))
    assert dt > 0


# ---------------------------------------------------------------------- examples


def test_there_are_examples():
    names = {p.name for p in EXAMPLES}
    for required in ("default_3d_plaquette.toml", "2d_site.toml", "2d_dimer.toml", "3d_dimer.toml",
                     "temperature_3d.toml", "facilitation_0.6.toml"):  # fmt: skip
        assert required in names


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_builds_a_reference_model(path):
    p = load_params(path)
    assert p.lattice.L <= 8
    model = ReferenceModel(p)
    assert np.all(np.isfinite(model.kick_operators(0).H))


def test_default_example_is_the_built_in_default():
    assert load_params(EXAMPLES[0].parent / "default_3d_plaquette.toml") == Params()
