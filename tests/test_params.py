"""The parameter file format: TOML round trip, section/key rules, CLI error path."""

import math
import subprocess
import sys

import pytest
from hypothesis import given, strategies as st

from trsp_ref.params import (
    ParameterError,
    Params,
    dumps_toml,
    load_params,
    params_from_dict,
    params_to_dict,
)


def test_defaults_round_trip_through_toml(tmp_path):
    p = Params()
    path = tmp_path / "p.toml"
    path.write_text(dumps_toml(p))
    assert load_params(path) == p


@given(
    L=st.integers(3, 9),
    dim=st.sampled_from([2, 3]),
    shape=st.sampled_from(["site", "dimer", "plaquette"]),
    variance=st.floats(0.1, 10.0),
    gamma=st.floats(-3.0, 3.0),
    level=st.sampled_from(["observed", "bare"]),
)
def test_toml_round_trip_is_exact(tmp_path_factory, L, dim, shape, variance, gamma, level):
    d = params_to_dict(Params())
    d["lattice"].update(L=L, dim=dim)
    d["cluster"]["shape"] = shape
    d["softness"]["variance"] = variance
    d["rates"].update(gamma=gamma, level=level)
    p = params_from_dict(d)
    path = tmp_path_factory.mktemp("rt") / "p.toml"
    path.write_text(dumps_toml(p))
    assert load_params(path) == p  # floats survive repr() exactly


def test_temperature_supplies_mean_and_rates():
    d = params_to_dict(Params())
    del d["softness"]["mean"]
    for k in ("A", "gamma", "delta"):
        del d["rates"][k]
    d["temperature"] = dict(T=0.5, T0=0.74, eps0=1.0, eps1=-0.5, eps2=0.05, Sigma0=0.0, mean_a=-2.0, mean_b=0.5)
    p = params_from_dict(d)
    assert p.softness.mean is None and p.rates.A is None
    assert p.temperature.T == 0.5


@pytest.mark.parametrize(
    "section,key,value,parameter,words",
    [
        ("lattice", "L", 2.5, "lattice.L", "integer"),
        ("lattice", "dim", True, "lattice.dim", "integer"),
        ("softness", "xi", "long", "softness.xi", "number"),
        ("softness", "variance", math.nan, "softness.variance", "finite"),
        ("kick", "sigma1", math.inf, "kick.sigma1", "finite"),
        ("kick", "colour", 1.0, "kick.colour", "unknown key"),
        ("rates", "level", "fitted", "rates.level", "observed"),
    ],
    ids=["L fraction", "dim bool", "xi string", "variance nan", "sigma1 inf", "unknown key", "unknown level"],
)
def test_type_and_key_errors_name_the_parameter(section, key, value, parameter, words):
    d = params_to_dict(Params())
    d[section][key] = value
    with pytest.raises(ParameterError) as err:
        params_from_dict(d)
    assert err.value.parameter == parameter
    assert words in str(err.value)


def test_unknown_section_and_missing_temperature_keys():
    with pytest.raises(ParameterError, match="unknown section"):
        params_from_dict({"latice": {"L": 4}})
    d = params_to_dict(Params())
    del d["softness"]["mean"]
    for k in ("A", "gamma", "delta"):
        del d["rates"][k]
    d["temperature"] = {"T": 0.5}
    with pytest.raises(ParameterError, match="required when"):
        params_from_dict(d)


def test_unreadable_and_malformed_files(tmp_path):
    with pytest.raises(ParameterError, match="cannot read"):
        load_params(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[lattice\nL = 3")
    with pytest.raises(ParameterError, match="not valid TOML"):
        load_params(bad)


def test_cli_reports_bad_parameters_in_one_line_without_traceback(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[softness]\nvariance = -1.0\n")
    proc = subprocess.run(
        [sys.executable, "-m", "trsp_cli.main", "reference", str(bad), "--out", str(tmp_path / "x.json")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "softness.variance" in proc.stderr and "> 0" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert not (tmp_path / "x.json").exists()
