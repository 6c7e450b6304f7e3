"""FastModel rejects what the oracle rejects, naming the same parameter (house rule 4), and its own
arguments (tolerance, radii) with ParameterError naming them."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from strategies import invalid_params

from trsp_fast import FastModel
from trsp_fast._blas import single_threaded_blas
from trsp_ref.model import validate
from trsp_ref.params import ParameterError, Params, params_from_dict


@pytest.fixture(scope="module", autouse=True)
def _one_blas_thread():
    with single_threaded_blas():
        yield


@given(invalid_params())
def test_lattice_level_conditions_name_the_same_parameter_as_the_oracle(case):
    doc, expected = case
    try:
        p = params_from_dict(doc)
    except ParameterError as err:
        assert err.parameter == expected  # scalar checks are shared (trsp_ref.params)
        return
    with pytest.raises(ParameterError) as ref:
        validate(p)
    with pytest.raises(ParameterError) as fast:
        FastModel(p, tolerance=None)
    assert fast.value.parameter == ref.value.parameter == expected


@pytest.mark.parametrize(
    "kw,name",
    [
        ({"tolerance": -1e-3}, "tolerance"),
        ({"tolerance": math.nan}, "tolerance"),
        ({"tolerance": math.inf}, "tolerance"),
        ({"tolerance": "small"}, "tolerance"),
        ({"tolerance": (3e-5, -1.0)}, "tolerance.precision"),
        ({"tolerance": (math.nan, 1e-3)}, "tolerance.kick"),
        ({"tolerance": (1e-3, 1e-3, 1e-3)}, "tolerance"),
        ({"kick_radius": -1.0}, "kick_radius"),
        ({"kick_radius": math.nan}, "kick_radius"),
        ({"precision_radius": 0.0}, "precision_radius"),
        ({"precision_radius": "far"}, "precision_radius"),
    ],
)
def test_bad_truncation_arguments(kw, name):
    with pytest.raises(ParameterError) as err:
        FastModel(params_from_dict({"lattice": {"dim": 2, "L": 4}}), **kw)
    assert err.value.parameter == name


def test_exact_model_too_large_for_memory():
    """No truncation on a big 3D lattice: the window is the lattice; refused up front, naming tolerance."""
    with pytest.raises(ParameterError) as err:
        FastModel(params_from_dict({"lattice": {"dim": 3, "L": 64}}), tolerance=None)
    assert err.value.parameter == "tolerance" and "GB" in err.value.condition


def test_not_params():
    with pytest.raises(ParameterError):
        FastModel({"lattice": {}})  # type: ignore[arg-type]
    with pytest.raises(ParameterError):
        FastModel(Params(rates=Params().rates.__class__(A=-1.0)))  # skipped params_from_dict: still validated


def test_temperature_errors_name_the_supplying_key():
    doc = {
        "lattice": {"dim": 2, "L": 4},
        "cluster": {"shape": "dimer"},
        # eps2 large and T far below T0: delta beyond the renormalization's limit
        "temperature": {"T": 0.3, "T0": 0.74, "eps0": 1.5, "eps1": -0.8, "eps2": 5.0, "Sigma0": 0.0, "mean_a": 0.5, "mean_b": -0.75},
    }
    p = params_from_dict(doc)
    with pytest.raises(ParameterError) as ref:
        validate(p)
    with pytest.raises(ParameterError) as fast:
        FastModel(p)
    assert fast.value.parameter == ref.value.parameter == "temperature.eps2"
