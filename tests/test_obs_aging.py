"""Aging (Sec. VII.C): the quench protocol on trsp_fast and the independent-site trap model.

Statistics: z-scores against exact values, |z| < 4.5 required at every sampled time (about
7e-6 false-alarm rate per comparison under normality, below 1e-4 per test); fixed seeds.
Each test names the mutant it catches, run on the same data.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from trsp_fast import FastModel
from trsp_obs import aging
from trsp_obs.presets import preset_params
from trsp_obs.runs import mean_softness, quench_mean_softness

from zscore import Z_MAX  # noqa: E402  (the shared threshold and its false-alarm rate)


def test_trap_model_is_stationary_at_the_final_temperature():
    # Started in equilibrium at T_F, the site-averaged S must stay at <S>(T_F): the redraw
    # law N(S; <S>, sigma^2) r(S) makes N(<S>, sigma^2) stationary.  Sites are independent, so
    # the SE of the mean of n sites is sigma / sqrt(n).  Measured max |z| 1.2.
    # Mutant caught: redrawing from N(<S>(T_F), sigma^2) itself (no r(S) weight): hard sites
    # then hold their S longer and <S> drifts down (measured z from -29 to -185).
    p = preset_params("ka_illustrative", 0.55)
    n = 40_000
    times = np.array([10.0, 100.0, 1000.0])
    mu = mean_softness(p)
    se = math.sqrt(p.softness.variance / n)
    curve = aging.trap_quench_mean_softness(p, np.random.default_rng(8), mu, times, n)
    assert np.max(np.abs((curve - mu) / se)) < Z_MAX

    original = aging.trap_redraw_law
    try:
        aging.trap_redraw_law = lambda p: (mean_softness(p), math.sqrt(p.softness.variance))
        mutant = aging.trap_quench_mean_softness(p, np.random.default_rng(8), mu, times, n)
    finally:
        aging.trap_redraw_law = original
    assert np.max(np.abs((mutant - mu) / se)) > Z_MAX


def test_trap_model_returns_to_equilibrium_after_a_quench():
    # From <S>(T_I = 0.8) to T_F = 0.70: after t = 2000 (hundreds of mean waiting times at T_F)
    # the mean is <S>(T_F) (measured z 0.3); at t = 0.01 it is still <S>(T_I) (z 1.2).
    p = preset_params("ka_illustrative", 0.70)
    n = 40_000
    s_i = mean_softness(p, 0.8)
    curve = aging.trap_quench_mean_softness(p, np.random.default_rng(9), s_i, np.array([0.01, 2000.0]), n)
    se = math.sqrt(p.softness.variance / n)
    assert abs(curve[0] - s_i) / se < Z_MAX
    assert abs(curve[1] - mean_softness(p)) / se < Z_MAX


def test_trap_redraw_law_completes_the_square():
    p = preset_params("ka_illustrative", 0.47)
    A, g, d = aging.observed_rate_law(p)
    mu_r, s_r = aging.trap_redraw_law(p)
    # log N(S; mean, var) + log r(S) = -(S - mu_r)^2 / (2 s_r^2) + const: check at three points
    S = np.array([-2.0, 0.3, 1.7])
    f = -((S - mean_softness(p)) ** 2) / (2 * p.softness.variance) + g * S - d * S * S
    h = -((S - mu_r) ** 2) / (2 * s_r**2)
    assert np.allclose(np.diff(f - h), 0.0, atol=1e-12)


@pytest.fixture(scope="module")
def small_preset():
    return preset_params("ka_illustrative", 0.55).replace(lattice={"L": 6})


def test_quench_to_the_same_temperature_stays_in_equilibrium(small_preset):
    # T_I = T_F: <S>(t) is <S>(T_F) at every t (SE over 24 replicas of 216 sites).
    # Measured max |z| 1.0.
    p = small_preset
    model = FastModel(p, tolerance=1e-3)
    rng = np.random.default_rng(10)
    times = np.array([1.0, 30.0, 300.0])
    curves = np.array([quench_mean_softness(model, rng, mean_softness(p), times)[0] for _ in range(24)])
    z = (curves.mean(axis=0) - mean_softness(p)) / (curves.std(axis=0, ddof=1) / math.sqrt(24))
    assert np.max(np.abs(z)) < Z_MAX


def test_quench_starts_at_the_initial_temperatures_mean_and_relaxes(small_preset):
    # From T_I = 2.0: at t = 0.01 (almost no event yet) <S> is <S>(T_I) (measured z -2.0);
    # by t = 300 (3 tau_chi at T_F) it has moved toward <S>(T_F) (aging is slow: by only a
    # fraction of the gap; measured z of the move -9.3).
    # Mutant caught: adding <S>(T_I) to the equilibrium sample without removing <S>(T_F)
    # (measured z -24 at t = 0.01).
    p = small_preset
    model = FastModel(p, tolerance=1e-3)
    rng = np.random.default_rng(11)
    s_i, s_f = mean_softness(p, 2.0), mean_softness(p)
    times = np.array([0.01, 300.0])
    R = 24
    curves = np.array([quench_mean_softness(model, rng, s_i, times)[0] for _ in range(R)])
    se = curves.std(axis=0, ddof=1) / math.sqrt(R)
    assert abs(curves[:, 0].mean() - s_i) / se[0] < Z_MAX
    move = curves[:, 1] - curves[:, 0]
    assert move.mean() / (move.std(ddof=1) / math.sqrt(R)) < -Z_MAX
    # the mutant's start: S0 + <S>(T_I) (the equilibrium sample keeps its own mean <S>(T_F))
    mutant_start = curves[:, 0].mean() + s_f
    assert abs(mutant_start - s_i) / se[0] > Z_MAX


def test_mean_softness_from_a_run_file_replay_equals_its_snapshots(tmp_path):
    # exact (to rounding): the vectorized replay of sum(S) against the stored snapshots.
    # Mutant caught: an off-by-one in the number of events applied (cum[k - 1] for cum[k]).
    from pathlib import Path

    from trsp_fast.run_job import simulate_to_file
    from trsp_runfile.runfile import RunFile
    from trsp_obs.runfiles import event_log, mean_softness_replayed, mean_softness_snapshots

    out = tmp_path / "run.h5"
    root = Path(__file__).resolve().parents[1]
    simulate_to_file(root / "examples" / "2d_dimer.toml", out, time=200.0, seed=3, mode="full", snapshot_every=20.0, progress=False, tolerance=1e-3)
    run = RunFile.open(out)
    t, m = mean_softness_snapshots(run)
    assert t.size == 11
    assert np.allclose(mean_softness_replayed(run, t), m, rtol=0, atol=1e-12)
    log = event_log(run)
    assert log.t_end == pytest.approx(200.0) and log.times.size == run.n_events
