"""trsp fit at scale (issue 18): the event route against a brute-force replay, streaming that does not
change the statistics, local isolation, the interval estimator, type selection, the chosen units."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

import trsp_fit.sources as sources
from trsp_fit import FitInputError, FitOptions, ParticleData, fit, runfile_to_particles, write_particles
from trsp_fit.events import run_event_statistics
from trsp_fit.pipeline import EventRun, _settings, collect
from trsp_fit.statistics import N_FEATURES, rate_bin
from trsp_fit.units import integrated_time, merge_units, units_per_file
from trsp_ref.lattice import cluster_sites, distance_matrix
from trsp_runfile import RunFile
from test_fit_roundtrip import ci_set
from trsp_fit.roundtrip import simulate_set


@pytest.fixture(scope="module")
def run_path():
    return ci_set("plaquette")[0]


def _brute_force(path, st) -> dict:
    """The event route's sums, event by event from RunFile.replay with dense distances (no Numba)."""
    run = RunFile.open(path)
    p = run.params
    D = distance_matrix(p.lattice)
    members = cluster_sites(p.lattice.dim, p.lattice.L, p.cluster.shape)
    kr = run.truncation.kick_radius
    nb = st.rate_edges.size - 1
    nrt = st.rt_bins.n
    out = {"rate_T": np.zeros(nb), "rate_k1": np.zeros(nb), "XtX": np.zeros((nrt + 2, 4, 4)), "yty": np.zeros(nrt + 2),
           "kick_n": np.zeros(nrt + 2), "pyy": np.zeros((st.pair_bins.n, nrt)), "pn": np.zeros((st.pair_bins.n, nrt))}
    S = run.S0.copy()
    last = np.full(run.N, run.t0)
    nbr = (D > 0) & (D <= st.neighbour_radius * (1 + 1e-9))
    for ev in run.replay():
        cl = members[ev.cluster]
        rt = D[:, cl].min(axis=1)
        dS = np.zeros(run.N)
        dS[ev.sites] = ev.after - ev.before
        np.add.at(out["rate_T"], rate_bin(st, S[ev.sites]), ev.time - last[ev.sites])
        last[ev.sites] = ev.time
        np.add.at(out["rate_k1"], rate_bin(st, S[cl]), 1.0)
        use = np.flatnonzero((rt <= st.r_background * (1 + 1e-9)) & (rt <= kr * (1 + 1e-9)))
        X = np.zeros((run.N, N_FEATURES))
        for j in use:
            g = [k for k in cl if D[j, k] <= rt[j] + st.neighbour_radius * (1 + 1e-9)]
            X[j] = [1.0, S[j], S[nbr[j]].mean(), S[g].mean()]
            b = st.rt_bins.index(np.array([rt[j]]))[0]
            out["XtX"][b] += np.outer(X[j], X[j])
            out["yty"][b] += dS[j] ** 2
            out["kick_n"][b] += 1
        for i in cl:
            for j in use:
                pb = st.pair_bins.index(np.array([D[i, j]]))[0]
                if pb >= 1:
                    jb = st.rt_bins.index(np.array([rt[j]]))[0]
                    out["pyy"][pb, jb] += dS[i] * dS[j]
                    out["pn"][pb, jb] += 1
        S[ev.sites] = ev.after
    end = run.checkpoint.observed_until
    np.add.at(out["rate_T"], rate_bin(st, S), end - last)
    return out


@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    """150 events of the round trip's plaquette set (2D L = 8), with a kick window smaller than the
    background radius (tolerance 1e-3), so that the window cut is exercised."""
    return simulate_set("plaquette", tmp_path_factory.mktemp("short"), L=8, replicas=1, events=150, seed=3, tolerance=1e-3)[0]


def test_event_route_matches_a_brute_force_replay(short_run):
    """The Numba kernel's exposures, rearrangement counts, regression and pair sums equal a plain replay's."""
    run_path = short_run
    assert RunFile.open(run_path).truncation.kick_radius < 3.99
    opts = FitOptions()
    d = EventRun(run_path, 4.0)
    st = _settings([d], opts, True)
    units = run_event_statistics(d.run, st, 3, 5.0)
    got = sum(units[1:], units[0]).arrays
    want = _brute_force(run_path, st)
    for key, v in want.items():
        assert np.allclose(got[key], v, rtol=1e-9, atol=1e-9), key
    run = RunFile.open(run_path)
    assert got["rate_T"].sum() == pytest.approx(run.N * (run.checkpoint.observed_until - run.t0), rel=1e-12)
    assert got["rate_k1"].sum() == 4 * run.n_events  # every plaquette site of every event, once


def test_streaming_does_not_change_the_statistics(run_path, monkeypatch):
    """Frames read in blocks of 8 frames (padding re-read, units split) give the statistics of one block per unit."""
    opts = FitOptions(frame_interval=1.0, bootstrap=20)
    a = collect([run_path], opts).total
    monkeypatch.setattr(sources, "ROWS_BUDGET", 8 * 64)
    b = collect([run_path], opts).total
    for key in a:
        assert np.allclose(a[key], b[key], rtol=1e-10, atol=1e-9), key


def test_frames_of_a_run_equal_the_converted_file(run_path, tmp_path):
    """The fit's streamed run-file frames (--frame-interval) and the particle file of trsp to-particles give one fit."""
    data = runfile_to_particles(run_path, frame_interval=0.5)
    path = tmp_path / "p.h5"
    write_particles(data, path)
    opts = FitOptions(frame_interval=0.5, bootstrap=20)
    a = fit([run_path], opts).report["estimates"]
    b = fit([path], opts).report["estimates"]
    for k in a:
        assert a[k]["value"] == pytest.approx(b[k]["value"], rel=1e-9, abs=1e-12), k


def test_local_isolation_keeps_rearrangements_far_apart(run_path):
    """Two copies of a trajectory side by side in one box (every frame holds two rearrangements far apart):
    with local isolation the kick statistics keep (nearly) all of them; with global isolation none would
    be single.  A copy shifted by 10 spacings on a 20-wide box is > rt + margin away from the other."""
    d = runfile_to_particles(run_path, frame_interval=0.5)
    L = 8
    pos = np.concatenate([d.positions, d.positions + [L + 2.0, 0.0]])
    box = np.array([2 * L + 4.0, float(L)])
    both = ParticleData(time=d.time, box=box, positions=np.mod(pos, box), types=np.zeros(2 * d.n_particles, np.int64),
                        softness=np.concatenate([d.softness, d.softness[::-1]], axis=1),
                        rearranging=np.concatenate([d.rearranging, np.roll(d.rearranging, 7, axis=0)], axis=1),
                        temperature=1.0, kind="instantaneous", duration=4.0, cluster_shape="plaquette", name="two")
    col = collect([both], FitOptions(bootstrap=20, r_background=3.0, isolation_margin=2.0))
    w = col.total["windows"]
    assert w[0] >= 0.9 * w[3]  # used / seen


def test_too_few_rearrangements_names_the_options(run_path):
    d = runfile_to_particles(run_path, frame_interval=200.0)
    with pytest.raises(FitInputError, match="--frame-interval|--isolation-margin"):
        collect([d], FitOptions(bootstrap=20))


def test_type_selection(run_path, tmp_path):
    """--types by name (type_names) or id selects those particles; unknown names are one clear error."""
    d = runfile_to_particles(run_path, frame_interval=0.5, jitter=0.02)
    types = np.zeros(d.n_particles, np.int64)
    types[::2] = 1
    path = tmp_path / "typed.h5"
    write_particles(replace(d, types=types, type_names=("A", "B"), lattice=None), path)
    col = collect([path], FitOptions(bootstrap=20, types=["B"]))
    assert col.meta["n_particles"] == d.n_particles // 2 and col.inputs[0]["types_used"] == ["B"]
    assert collect([path], FitOptions(bootstrap=20, types=["1"])).meta["n_particles"] == d.n_particles // 2
    with pytest.raises(Exception, match="--types"):
        collect([path], FitOptions(bootstrap=20, types=["C"]))


def test_units_follow_the_correlation_time():
    """An AR(1) series with correlation time 20 frames: tau is found, units are >= 10 tau long, and
    fewer files than units are split further (with the caller's warning)."""
    rng = np.random.default_rng(0)
    series = []
    for _ in range(3):
        x = np.zeros(4000)
        for t in range(1, x.size):
            x[t] = math.exp(-1 / 20) * x[t - 1] + rng.normal()
        series.append(np.stack([x, rng.normal(size=x.size)], axis=1))
    tau, resolved = integrated_time(series)
    assert resolved and 15 < tau < 26
    assert units_per_file([4000] * 3, tau, resolved, 32) == [int(4000 // (10 * tau))] * 3
    assert units_per_file([4000] * 3, tau, resolved, 8) == [8] * 3
    assert units_per_file([4000], tau, False, 8, least_total=8) == [8]
    assert len(merge_units(list(range(10)), 3)) == 3


def test_runs_stopped_at_an_event_count_are_warned(tmp_path):
    """Runs stopped at a number of events bias <S> and A low (docs/fit.md, "Coverage"): a warning names
    the remedy; runs stopped at a time give none."""
    by_count = simulate_set("plaquette", tmp_path / "n", L=8, replicas=2, events=150, seed=5, exact_count=True)
    span = max(RunFile.open(p).checkpoint.observed_until - RunFile.open(p).t0 for p in by_count)  # about 150 events
    by_time = simulate_set("plaquette", tmp_path / "t", L=8, replicas=2, events=None, time=span, seed=5)
    assert all(RunFile.open(p).n_events > 50 for p in by_time)
    warned = [w for w in collect(by_count, FitOptions()).warnings if "stopped at a number of events" in w]
    assert warned and "trsp simulate --time" in warned[0]
    assert not any("stopped at a number of events" in w for w in collect(by_time, FitOptions()).warnings)


def test_undetermined_parameter_is_warned(short_run):
    """A parameter whose bootstrap error exceeds |value| is named in a warning (seen on small MD data)."""
    res = fit([short_run], FitOptions(bootstrap=20))
    for k in ("variance", "C1", "xi", "sigma0", "sigma1", "xi_sigma", "xi_rho"):
        e = res.report["estimates"][k]
        said = any(w.startswith(f"{k} is not determined by the data") for w in res.report["warnings"])
        assert said == (not e["error"] <= abs(e["value"])), k
