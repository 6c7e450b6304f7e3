"""The truncated model of trsp_fast against the untruncated oracle: the documented error bounds (docs/fast.md).

For a finite tolerance FastModel simulates a TRSP model with equilibrium covariance
K_t = Lambda_t^-1 and kick covariance K_Delta^W (test_fast_exactness.py checks that it is
exactly that model).  Here: how far that model is from the untruncated one.

* rigorous, by construction: every entry of K_t within tolerance * variance of K's, and every
  neglected entry of K_Delta below the bound FastModel.truncation_bounds()['kick_covariance']
  <= tolerance * variance;
* empirical (documented in docs/fast.md as observed, not proven): the mean map's matrix H within
  tolerance of the untruncated one, its constant part H mu' within 5 tolerance max(1, |mean|).
A mutant with one distance shell less in the kick window breaks the kick bound (the test can fail).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from trsp_fast import FastModel
from trsp_fast import geometry as geo
from trsp_fast._blas import single_threaded_blas
from trsp_ref.model import ReferenceModel
from trsp_ref.params import ParameterError, dumps_toml, params_from_dict


@pytest.fixture(scope="module", autouse=True)
def _one_blas_thread():
    with single_threaded_blas():
        yield


CASES = {
    "3d_plaquette": {"lattice": {"dim": 3, "L": 9}, "cluster": {"shape": "plaquette"}},
    "2d_dimer": {"lattice": {"dim": 2, "L": 20}, "cluster": {"shape": "dimer"}, "softness": {"xi": 1.3}},
    "3d_site_f06": {"lattice": {"dim": 3, "L": 8}, "cluster": {"shape": "site"}, "kick": {"facilitation": 0.6, "xi_rho": 1.4}},
}
_FULL: dict = {}


def _full(name):
    if name not in _FULL:
        _FULL[name] = ReferenceModel(params_from_dict(CASES[name]))
    return _FULL[name]


def _circulant(fm: FastModel, row: np.ndarray) -> np.ndarray:
    """The dense N x N translation-invariant matrix with first row ``row`` (site order)."""
    c = geo.coords_of(np.arange(fm.N), fm.grid)
    return row[geo.index_of(c[None, :, :] - c[:, None, :], fm.grid)]


@pytest.mark.parametrize("tol", [1e-2, 1e-3, 1e-4])
@pytest.mark.parametrize("name", sorted(CASES))
def test_truncation_error_bounds(name, tol):
    full = _full(name)
    p = full.params
    var = p.softness.variance
    fm = FastModel(p, tolerance=tol)
    b = fm.truncation_bounds()
    # equilibrium covariance: exact error, within tolerance * variance (rule of the precision radius)
    err_K = float(np.abs(fm.covariance_row - full.K[0]).max())
    assert err_K <= tol * var
    assert math.isclose(err_K, b["covariance"], rel_tol=1e-6, abs_tol=1e-15)
    # and in the spectral norm (the longest wavelengths): ||K_t - K||_2 <= tolerance ||K||_2, exact
    ev_t, ev = np.linalg.eigvalsh(_circulant(fm, fm.covariance_row)), np.linalg.eigvalsh(full.K)
    spectral = np.abs(np.linalg.eigvalsh(_circulant(fm, fm.covariance_row) - full.K)).max() / ev.max()
    assert spectral <= tol and math.isclose(spectral, b["equilibrium"], rel_tol=1e-6, abs_tol=1e-15)
    assert ev_t.min() > 0
    # kick covariance: every neglected entry below the rigorous bound, itself <= tolerance * variance
    assert b["kick_covariance"] <= tol * var and b["kick_variance"] <= b["kick_covariance"] * (1 + 1e-12)
    for cid in (0, fm.n_clusters - 1, fm.n_clusters // 2 + 1):
        dk, ops = fm.dense_kick(cid), full.kick_operators(cid)
        assert np.abs(dk.K_Delta - ops.K_Delta).max() <= b["kick_covariance"] * (1 + 1e-12)
        # the mean map S -> S + H (mu' - S): empirical bounds (docs/fast.md)
        assert np.abs(dk.H - ops.H).max() <= tol
        assert np.abs(dk.H @ dk.mu_prime - ops.H @ ops.mu_prime).max() <= 5 * tol * max(1.0, abs(fm.mean))


@pytest.mark.parametrize("name", sorted(CASES))
def test_one_shell_less_breaks_the_kick_bound(name):
    """Mutant: the window one distance shell smaller than the rule gives neglects an entry > tolerance * variance."""
    full = _full(name)
    p, tol = full.params, 1e-3
    fm = FastModel(p, tolerance=tol)
    d = geo.lattice_distance_values(fm.grid, p.lattice.spacing)
    inner = d[d < fm.kick_radius]
    smaller = 0.5 * (inner[-2] + inner[-1])
    mutant = FastModel(p, tolerance=tol, kick_radius=smaller, precision_radius=fm.precision_radius)
    err = max(np.abs(mutant.dense_kick(c).K_Delta - full.kick_operators(c).K_Delta).max() for c in (0, 1))
    assert err > tol * p.softness.variance


def test_radii_are_lattice_properties_not_size_properties():
    """Translation invariance: on lattices larger than the windows the kick radius and window do not
    depend on L.  The precision radius may (its spectral criterion is a maximum over the lattice's
    wave vectors, which L samples), but every lattice meets both of its bounds."""
    base = {"lattice": {"dim": 2, "L": 24}, "cluster": {"shape": "plaquette"}}
    models = [FastModel(params_from_dict({**base, "lattice": {"dim": 2, "L": L}}), tolerance=1e-5) for L in (24, 31, 40)]
    for m in models[1:]:
        assert (m.kick_radius, m.window_size, m.active_size) == (
            models[0].kick_radius,
            models[0].window_size,
            models[0].active_size,
        )
    for m in models:
        b = m.truncation_bounds()
        assert b["covariance"] <= 1e-5 and b["equilibrium"] <= 1e-5


def test_radii_sit_between_lattice_distances():
    """Derived radii are halfway between consecutive lattice distances: no site is within rounding of a
    boundary, so another implementation computing distances slightly differently keeps the same sites."""
    for tol in (1e-2, 1e-4, 1e-6):
        fm = FastModel(params_from_dict({"lattice": {"dim": 3, "L": 12}}), tolerance=tol)
        d = geo.lattice_distance_values(fm.grid, 1.0)
        for r in (fm.kick_radius, fm.precision_radius):
            if math.isfinite(r):
                assert np.abs(d - r).min() > 0.01


def test_exact_when_windows_cover_the_lattice():
    p = params_from_dict({"lattice": {"dim": 2, "L": 5}})
    for kw in ({"tolerance": None}, {"tolerance": 0.0}, {"tolerance": 1e-3, "kick_radius": math.inf, "precision_radius": math.inf}):
        fm = FastModel(p, **kw)
        assert math.isinf(fm.kick_radius) and math.isinf(fm.precision_radius) and fm.window_size == p.N
        assert fm.truncation_bounds()["kick_covariance"] == 0.0 and fm.truncation_bounds()["covariance"] < 1e-14


def test_given_precision_radius_must_keep_lambda_positive_definite():
    p = params_from_dict({"lattice": {"dim": 3, "L": 8}})
    with pytest.raises(ParameterError) as err:
        FastModel(p, tolerance=1e-3, precision_radius=2.5, precision_scheme="cut")
    assert err.value.parameter == "precision_radius"


# --------------------------------------------------------------------------- the precision schemes


@pytest.mark.parametrize("scheme", ["cut", "row_sum"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_precision_scheme_agrees_with_the_shared_rule(name, scheme):
    """trsp_fast's own implementation of each scheme equals trsp_ref.truncation's rule (which the
    oracle and the verifier's FFT-fed large-lattice model call) to 1e-10, fed both the dense
    oracle's row of inv(K) and an FFT-computed one."""
    from trsp_ref.truncation import SCHEMES, truncated_precision_row

    from trsp_fast.model import SCHEMES as FAST_SCHEMES

    assert FAST_SCHEMES == SCHEMES
    full = _full(name)
    p = full.params
    for tol in (1e-2, 1e-3):
        fm = FastModel(p, tolerance=tol, precision_scheme=scheme)
        lam_dense = np.linalg.inv(full.K)[0]
        grid = fm.grid
        lam_fft = np.fft.irfftn(1.0 / np.fft.rfftn(full.K[0].reshape(grid)).real, s=grid, axes=(0, 1, 2)).ravel()
        for lam in (lam_dense, lam_fft):
            ref = truncated_precision_row(lam, full.dist[0], fm.precision_radius, scheme)
            np.testing.assert_allclose(fm.precision_row, ref, rtol=0, atol=1e-10)


def test_row_sum_keeps_the_long_wavelength_variance():
    """"row_sum" keeps sum_j Lambda_t,0j, hence K_t(q = 0) = K(q = 0) exactly (the variance of the
    box-averaged softness); the plain cut at the same radius does not (docs/fast.md)."""
    p = params_from_dict({"lattice": {"dim": 3, "L": 16}})
    rs = FastModel(p, tolerance=1e-3)
    cut = FastModel(p, tolerance=1e-3, precision_radius=rs.precision_radius, kick_radius=rs.kick_radius, precision_scheme="cut")
    K0 = rs._K_row.sum()
    assert rs.precision_scheme == "row_sum"
    assert math.isclose(rs.covariance_row.sum(), K0, rel_tol=1e-12)
    assert abs(cut.covariance_row.sum() / K0 - 1) > 10 * abs(rs.covariance_row.sum() / K0 - 1) + 1e-3
    assert rs.equilibrium_error < cut.equilibrium_error / 5


def test_unknown_precision_scheme_is_refused():
    from trsp_ref.truncation import truncated_precision_row

    p = params_from_dict({"lattice": {"dim": 2, "L": 6}})
    with pytest.raises(ParameterError) as err:
        FastModel(p, tolerance=1e-3, precision_scheme="taper")
    assert err.value.parameter == "truncation.scheme"
    with pytest.raises(ParameterError) as err:
        ReferenceModel(p, precision_radius=2.5, scheme="taper")
    assert err.value.parameter == "truncation.scheme"
    with pytest.raises(ParameterError):
        truncated_precision_row(np.ones(3), np.arange(3.0), 1.5, "taper")


def test_run_file_declares_the_scheme(tmp_path):
    """Run-file format 1.1: /truncation@scheme is written and read back; a file without it (1.0) reads as "cut";
    an unknown scheme is refused naming the attribute."""
    import h5py

    from trsp_runfile.runfile import Implementation, RunFile, RunWriter, Truncation, TrspFileError

    p = params_from_dict({"lattice": {"dim": 2, "L": 4}})
    path = tmp_path / "run.h5"
    w = RunWriter.create(path, params=p, truncation=Truncation(2.5, 3.5, 1e-3, "row_sum"), S0=np.zeros(p.N),
                         implementation=Implementation("toy", "1"), rng_state=None, target_events=1)  # fmt: skip
    w.commit(np.zeros(p.N), 0.0, 0, 0.0, None)
    w.close()
    assert RunFile.open(path).truncation == Truncation(2.5, 3.5, 1e-3, "row_sum")
    with h5py.File(path, "r+") as f:
        del f["truncation"].attrs["scheme"]
    assert RunFile.open(path).truncation.scheme == "cut"
    with h5py.File(path, "r+") as f:
        f["truncation"].attrs["scheme"] = "taper"
    with pytest.raises(TrspFileError) as err:
        RunFile.open(path)
    assert "/truncation/@scheme" in str(err.value)


def test_default_tolerances_are_stated_once_per_package_and_the_window_covers_the_replay_check():
    """trsp_verify keeps its own copies of the default tolerances (it must not import trsp_fast): the
    copies agree.  And the reason the kick tolerance is what it is (docs/fast.md, "The default
    tolerances"): for the default parameters (L = 10, 20) and the illustrative preset (L = 20) the
    default kick window holds every site the battery's replay check whitens (whole distance shells of
    up to DEFAULT_MAX_CHECK_SITES sites nearest the cluster, on the untruncated model's support), so
    a run cannot be told from the untruncated model by the window's edge; 1e-4's window is smaller
    than that set."""
    from trsp_fast.model import DEFAULT_KICK_TOLERANCE, DEFAULT_PRECISION_TOLERANCE, DEFAULT_TOLERANCE
    from trsp_obs.presets import preset_params
    from trsp_verify import simulate as vs
    from trsp_verify.model_side import DEFAULT_MAX_CHECK_SITES, checked_sites

    assert (vs.DEFAULT_KICK_TOLERANCE, vs.DEFAULT_PRECISION_TOLERANCE) == (DEFAULT_KICK_TOLERANCE, DEFAULT_PRECISION_TOLERANCE)
    assert tuple(vs.DEFAULT_TOLERANCE) == tuple(DEFAULT_TOLERANCE) == (DEFAULT_KICK_TOLERANCE, DEFAULT_PRECISION_TOLERANCE)
    for p in (params_from_dict({"lattice": {"dim": 3, "L": 10}}), params_from_dict({"lattice": {"dim": 3, "L": 20}}),
              preset_params("ka_illustrative")):  # fmt: skip
        # the sites the replay checks against the untruncated model: nearest shells of its support (every site)
        op = FastModel(p, tolerance=(1e-7, 1e-2)).operators[0]  # a window well beyond the checked set
        rt = np.full(p.N, np.inf)
        rt[op.window] = op.window_rt
        check, _ = checked_sites(op.window, rt, p.lattice.spacing, DEFAULT_MAX_CHECK_SITES)
        assert np.isin(check, FastModel(p, tolerance=(DEFAULT_KICK_TOLERANCE, 1e-2)).operators[0].active).all()
        assert not np.isin(check, FastModel(p, tolerance=(1e-4, 1e-2)).operators[0].active).all()


@pytest.mark.parametrize("case", ["3d_plaquette", "2d_dimer"])
def test_two_tolerances_set_the_two_radii_separately(case):
    """tolerance=(kick, precision): the kick radius is the one of the kick tolerance alone and the
    precision radius the one of the precision tolerance alone; each bound holds for its own
    tolerance; one number sets both."""
    p = params_from_dict(CASES[case])
    kick, precision = 3e-5, 1e-2
    both = FastModel(p, tolerance=(kick, precision))
    assert both.tolerance == (kick, precision)
    assert both.kick_radius == FastModel(p, tolerance=kick).kick_radius
    assert both.precision_radius == FastModel(p, tolerance=precision).precision_radius
    b, var = both.truncation_bounds(), p.softness.variance
    assert b["kick_covariance"] <= kick * var and b["covariance"] <= precision * var and b["equilibrium"] <= precision
    one = FastModel(p, tolerance=1e-3)
    assert one.tolerance == (1e-3, 1e-3)
    untruncated_kick = FastModel(p, tolerance=(0, precision))
    assert math.isinf(untruncated_kick.kick_radius) and untruncated_kick.precision_radius == both.precision_radius


def test_simulate_to_file_takes_a_tolerance_pair(tmp_path):
    """simulate_to_file(tolerance=(kick, precision)) is the same run as kick_tolerance= / precision_tolerance=
    (one call for every library caller holding a FastModel-style pair), and (x, None) keeps the default part."""
    from trsp_fast.model import DEFAULT_TOLERANCE
    from trsp_fast.run_job import simulate_to_file
    from trsp_runfile import RunFile

    cfg = tmp_path / "p.toml"
    cfg.write_text(dumps_toml(params_from_dict({"lattice": {"dim": 2, "L": 8}})))
    simulate_to_file(cfg, tmp_path / "pair.h5", events=20, seed=1, progress=False, tolerance=(1e-3, 1e-2))
    simulate_to_file(cfg, tmp_path / "parts.h5", events=20, seed=1, progress=False, kick_tolerance=1e-3, precision_tolerance=1e-2)
    simulate_to_file(cfg, tmp_path / "half.h5", events=20, seed=1, progress=False, tolerance=(1e-3, None))
    pair, parts, half = (RunFile.open(tmp_path / f"{n}.h5") for n in ("pair", "parts", "half"))
    assert pair.truncation == parts.truncation and (pair.truncation.kick_tolerance, pair.truncation.precision_tolerance) == (1e-3, 1e-2)
    assert np.array_equal(pair.state_at(pair.n_events), parts.state_at(parts.n_events))
    assert (half.truncation.kick_tolerance, half.truncation.precision_tolerance) == (1e-3, DEFAULT_TOLERANCE[1])


def test_run_file_records_both_tolerances(tmp_path):
    """Run-file format 1.2: /truncation@kick_tolerance and @precision_tolerance are written and read back
    (@tolerance holds their max); a file without them (1.0, 1.1) reads both as @tolerance; a negative one
    is refused naming the attribute."""
    import h5py

    from trsp_runfile.runfile import Implementation, RunFile, RunWriter, Truncation, TrspFileError

    p = params_from_dict({"lattice": {"dim": 2, "L": 4}})
    path = tmp_path / "run.h5"
    tr = Truncation.of(2.5, 3.5, 3e-5, 1e-2, "row_sum")
    assert tr.tolerance == 1e-2 and (tr.kick_tolerance, tr.precision_tolerance) == (3e-5, 1e-2)
    w = RunWriter.create(path, params=p, truncation=tr, S0=np.zeros(p.N), implementation=Implementation("toy", "1"),
                         rng_state=None, target_events=1)  # fmt: skip
    w.commit(np.zeros(p.N), 0.0, 0, 0.0, None)
    w.close()
    run = RunFile.open(path)
    assert run.truncation == tr and run.format_version == "1.2"
    with h5py.File(path, "r+") as f:
        for key in ("kick_tolerance", "precision_tolerance"):
            del f["truncation"].attrs[key]
    old = RunFile.open(path).truncation
    assert (old.kick_tolerance, old.precision_tolerance, old.tolerance) == (1e-2, 1e-2, 1e-2)
    with h5py.File(path, "r+") as f:
        f["truncation"].attrs["kick_tolerance"] = -1.0
    with pytest.raises(TrspFileError) as err:
        RunFile.open(path)
    assert "/truncation/@kick_tolerance" in str(err.value)
