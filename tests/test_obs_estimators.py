"""Deterministic checks of the overlap / chi_4 / S_4 / block estimators (trsp_obs) on
hand-made event logs with known answers.  No randomness that could fail: every assertion is
exact (or to rounding), so the false-alarm rate is 0; each test names the mutant it catches.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from trsp_obs.heterogeneity import (
    StackedStats,
    block_chi4,
    block_fit,
    block_profile,
    chi4_peak,
    oz_fit,
    overlap_and_chi4,
    s4_shells,
    stack,
)
from trsp_obs.lattice import block_filter_power, cluster_table, wavevector_shells
from trsp_obs.overlap import (
    EventLog,
    overlap_matrix,
    origin_grid,
    replica_stats,
    site_events,
    waiting_times,
)
from trsp_ref.lattice import cluster_sites
from trsp_ref.params import ParameterError


@pytest.mark.parametrize("dim", [2, 3])
@pytest.mark.parametrize("shape", ["site", "dimer", "plaquette"])
def test_cluster_table_is_the_models_cluster_id_rule(dim, shape):
    # trsp_obs reads cluster ids with its own code; it must agree with the oracle's list
    # (mutant caught: orientation-major vs anchor-major id order, or a plaquette's site order)
    for L in (3, 4):
        assert np.array_equal(cluster_table(dim, L, shape), cluster_sites(dim, L, shape))


def _brute_waits(times, clusters, table, N, origins):
    out = np.full((N, origins.size), np.inf)
    for k, t0 in enumerate(origins):
        for i in range(N):
            for e in range(times.size):
                if times[e] > t0 and i in table[clusters[e]]:
                    out[i, k] = times[e] - t0
                    break
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_waiting_times_match_brute_force_including_ties(seed):
    # mutant caught: searchsorted side='left' (an event exactly at t0 counted as after it)
    rng = np.random.default_rng(seed)
    dim, L, shape = 2, 4, "plaquette"
    table = cluster_table(dim, L, shape)
    N = L**dim
    times = np.sort(rng.uniform(0, 30, 120))
    times[20:23] = times[20]  # simultaneous events
    clusters = rng.integers(0, table.shape[0], times.size)
    log = EventLog(times, clusters, 0.0, 30.0)
    origins = np.concatenate([[0.0, times[20], times[5], 29.99, 30.0], rng.uniform(0, 30, 5)])
    got = waiting_times(site_events(log, table, N), origins)
    assert np.array_equal(got, _brute_waits(times, clusters, table, N, origins))


def _periodic_log(N, tau, t_end, phases):
    """Site i (single-site clusters) fires at phases[i] + n tau: every origin sees a waiting time
    uniform over a period, so the time-averaged Q(t) = 1 - t/tau for t <= tau."""
    t, c = [], []
    for i in range(N):
        ts = np.arange(phases[i], t_end, tau)
        t.append(ts)
        c.append(np.full(ts.size, i))
    t, c = np.concatenate(t), np.concatenate(c)
    order = np.argsort(t, kind="stable")
    return EventLog(t[order], c[order], 0.0, t_end)


def test_overlap_of_a_periodic_process_and_the_event_origin_mutant():
    # K0 origins per period: the estimate is 1 - t/tau up to 1/K0.  Mutant caught: taking the
    # time origins at event times (weighting origins by events, not by time), which is biased
    # by + t / (tau N) here (the site that just fired is sure to survive a lag < tau).
    N, tau, K0 = 4, 10.0, 50
    phases = np.array([0.123, 3.71, 5.55, 8.02])
    log = _periodic_log(N, tau, 20 * tau, phases)
    lags = np.array([1.0, 2.5, 5.0, 7.5, 9.0])
    st = replica_stats(log, dim=2, L=2, shape="site", lags=lags, origin_spacing=tau / K0, spatial_origins=0)
    exact = 1.0 - lags / tau
    assert np.all(np.abs(st.q_mean - exact) <= 1.0 / K0 + 1e-12)
    # the mutant: origins at events
    table = cluster_table(2, 2, "site")
    origins = log.times[log.times <= log.t_end - lags[-1]]
    q_mut = overlap_matrix(waiting_times(site_events(log, table, N), origins), lags).mean(axis=0)
    assert np.max(np.abs(q_mut - exact)) > 5.0 / K0


def test_censored_windows_are_not_counted_as_survival():
    # site 3 never fires; sites 0..2 fire at 0.5, 20.5, ..., 80.5 and the run is observed to
    # t_end = 100: every window (t0, t0 + t] with t >= 20 that lies inside [0, 100] sees them
    # fire, so Q = 1/4.  Mutant caught: using origins whose window runs past t_end (no event
    # can be seen there, so sites 0..2 look untouched): Q about 0.40 instead.
    N = 4
    t = np.arange(0.5, 100.0, 20.0)
    log = EventLog(np.repeat(t, 3), np.tile([0, 1, 2], t.size), 0.0, 100.0)
    lags = np.array([20.0, 50.0, 100.0])
    st = replica_stats(log, dim=2, L=2, shape="site", lags=lags, origin_spacing=0.25, spatial_origins=0)
    assert np.allclose(st.q_mean, 0.25)
    assert np.all(st.n_origins == np.floor((100.0 - lags) / 0.25 + 1e-9) + 1)
    table = cluster_table(2, 2, "site")
    origins = origin_grid(0.0, 100.0, 0.25)
    q_mut = overlap_matrix(waiting_times(site_events(log, table, N), origins), lags).mean(axis=0)
    assert np.all(q_mut > 0.35)


@pytest.mark.parametrize("dim,L", [(2, 5), (2, 6), (3, 4)])
def test_block_variance_by_parseval_equals_direct_box_sums(dim, L):
    # mutant caught: a block filter without the 1/N_b normalization or with q = 0 included
    rng = np.random.default_rng(dim * 10 + L)
    I = (rng.random((L,) * dim) < 0.37).astype(float)
    F = np.fft.fftn(I)
    P = (np.abs(F) ** 2).ravel() / I.size**2
    for b in range(1, L + 1):
        f = block_filter_power(dim, L, b).ravel().copy()
        f[0] = 0.0
        direct = []
        for pos in np.ndindex(*(L,) * dim):
            idx = np.ix_(*[[(p + k) % L for k in range(b)] for p in pos])
            direct.append(I[idx].mean())
        assert f @ P == pytest.approx(np.var(direct), abs=1e-12)


def test_s4_shells_and_blocks_from_replica_stats_match_direct_sums():
    # replica_stats' FFT statistics against explicit sums over sites of exp(i q.r) I_i
    # (mutant caught: a wave-vector grid with q = 2 pi n / L instead of 2 pi n / (L a))
    rng = np.random.default_rng(7)
    dim, L, a = 2, 6, 1.3
    N = L**dim
    table = cluster_table(dim, L, "dimer")
    times = np.sort(rng.uniform(0, 50, 150))
    log = EventLog(times, rng.integers(0, table.shape[0], times.size), 0.0, 50.0)
    lags = np.array([3.0, 8.0])
    st = replica_stats(log, dim=dim, L=L, shape="dimer", spacing=a, lags=lags, origin_spacing=1.0, spatial_origins=1000)
    origins = origin_grid(0.0, 50.0, 1.0)
    waits = waiting_times(site_events(log, table, N), origins)
    coords = np.indices((L,) * dim).reshape(dim, -1).T * a
    q, shell_of_mode, counts = wavevector_shells(dim, L, a)
    modes = np.stack(np.meshgrid(*[np.fft.fftfreq(L, 1.0 / L)] * dim, indexing="ij"), -1).reshape(-1, dim)
    qvec = 2 * np.pi * modes / (L * a)
    for j, t in enumerate(lags):
        ks = np.flatnonzero(origins + t <= 50.0)
        I = (waits[:, ks] > t).astype(float)  # (N, K)
        Qt = np.exp(1j * qvec @ coords.T) @ I / N  # (modes, K)
        P = (np.abs(Qt) ** 2).mean(axis=1)
        shell = np.bincount(shell_of_mode.ravel(), weights=P) / counts
        assert np.allclose(st.shell_power[j], shell, atol=1e-13)
        assert np.allclose(q[1], 2 * np.pi / (L * a))


def _stats(q_mean, q_sq_mean, N=16):
    R, J = q_mean.shape
    return StackedStats(
        np.arange(1.0, J + 1), np.full(J, 10), q_mean, q_sq_mean, np.zeros((R, J, 2)), np.zeros((R, J, 1)),
        np.array([1]), N, 2, 4, 1.0,
    )  # fmt: skip


def test_chi4_is_n_times_within_plus_between_variance():
    # Var Q = mean_r (qsq_r - qbar_r^2) + var_r(qbar_r, ddof=1): the unbiased law of total variance.
    # mutants caught: ddof = 0, dropping either term, a factor N - 1.
    qbar = np.array([[0.5], [0.7], [0.6]])
    qsq = qbar**2 + np.array([[0.01], [0.02], [0.03]])
    Q, chi4 = overlap_and_chi4(_stats(qbar, qsq))
    assert Q[0] == pytest.approx(0.6)
    assert chi4[0] == pytest.approx(16 * (0.02 + 0.01))  # between: var([.5,.7,.6], ddof=1) = 0.01
    with pytest.raises(ParameterError, match="replicas"):
        overlap_and_chi4(_stats(qbar[:1], qsq[:1]))


def test_chi4_peak_refines_a_parabola_in_log_time_exactly():
    lags = np.geomspace(1, 1000, 13)
    t_star = 37.0
    chi4 = 5.0 - 0.8 * (np.log(lags) - math.log(t_star)) ** 2
    tau, star, resolved, j = chi4_peak(lags, chi4)
    assert resolved and tau == pytest.approx(t_star, rel=1e-12) and star == pytest.approx(5.0, rel=1e-12)
    tau, star, resolved, j = chi4_peak(lags, np.linspace(0, 1, 13))  # monotone: peak at the end
    assert not resolved and tau == lags[-1]


def test_oz_fit_recovers_a_known_correlation_length():
    q, _, _ = wavevector_shells(3, 20, 1.1)
    s4 = 7.0 / (1.0 + (q * 2.3) ** 2)
    s0, xi = oz_fit(q, s4, qmax=1.6)
    assert s0 == pytest.approx(7.0, rel=1e-6) and xi == pytest.approx(2.3, rel=1e-6)
    s0, xi = oz_fit(q, np.full(q.size, 0.25), qmax=1.6)  # flat: no correlation
    assert xi == pytest.approx(0.0, abs=1e-3) and s0 == pytest.approx(0.25, rel=1e-6)


def test_block_fit_recovers_a_known_correlation_length():
    blocks = np.arange(1, 21)
    for xi in (0.7, 1.9, 4.0):
        chi = 0.2 + 1.5 * block_profile(blocks, xi, 3, 1.1)
        fxi, A0, A1 = block_fit(blocks, chi, 3, 1.1, 10)
        assert fxi == pytest.approx(xi, rel=1e-5) and A0 == pytest.approx(0.2, abs=1e-5) and A1 == pytest.approx(1.5, rel=1e-5)
    assert np.allclose(block_profile(blocks[:1], 2.0, 3, 1.0), 1.0)


def test_block_chi4_of_the_whole_box_is_chi4():
    # chi_4^B(L) = chi_4 exactly (every q != 0 mode is filtered out); mutant caught: forgetting Var Q
    rng = np.random.default_rng(3)
    dim, L = 2, 4
    table = cluster_table(dim, L, "site")
    stats = []
    for r in range(3):
        times = np.sort(rng.uniform(0, 40, 60))
        log = EventLog(times, rng.integers(0, table.shape[0], 60), 0.0, 40.0)
        stats.append(replica_stats(log, dim=dim, L=L, shape="site", lags=np.array([2.0, 5.0]), origin_spacing=1.0))
    st = stack(stats)
    _, chi4 = overlap_and_chi4(st)
    cb = block_chi4(st)
    assert np.allclose(cb[:, -1], chi4, rtol=1e-12)
    q, s4 = s4_shells(st, 1)
    assert s4[0] == pytest.approx(chi4[1])


def test_bad_event_logs_and_lags_raise_parameter_errors():
    with pytest.raises(ParameterError, match="events.time"):
        EventLog(np.array([1.0, 0.5]), np.array([0, 0]), 0.0, 2.0)
    with pytest.raises(ParameterError, match="events.time"):
        EventLog(np.array([1.0, 3.0]), np.array([0, 0]), 0.0, 2.0)
    with pytest.raises(ParameterError, match="t_end"):
        EventLog(np.array([]), np.array([], dtype=int), 0.0, 0.0)
    log = EventLog(np.array([1.0]), np.array([0]), 0.0, 2.0)
    with pytest.raises(ParameterError, match="lags"):
        replica_stats(log, dim=2, L=2, shape="site", lags=np.array([1.0, 3.0]), origin_spacing=0.1)
    with pytest.raises(ParameterError, match="clusters"):
        replica_stats(EventLog(np.array([1.0]), np.array([99]), 0.0, 2.0), dim=2, L=2, shape="site", lags=np.array([1.0]), origin_spacing=0.1)
    with pytest.raises(ParameterError, match="replicas"):
        stack([])
