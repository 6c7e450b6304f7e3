"""The trsp_obs estimators on trsp_fast runs against exact limits (trsp_ref.limits).

1. Onset, T = T0 (S-independent rates: independent Poisson clusters): Q(t) and chi_4(t) in
   closed form; S_4(q, t) and block chi_4^B(L_B, t) from the exact pair covariance
   Cov(I_0, I_j) = exp(-(2z - n_0j) r0 t) (1 - exp(-n_0j r0 t)) (n_0j = clusters holding
   both sites; trsp_ref.limits docstring).
2. Frozen single sites (m = 1, f = 0, C1 = 0): the I_i are independent, so Q = E_S[exp(-r t)]
   (quadrature), chi_4 = S_4(q != 0) = chi_4^B(L_B) = Q (1 - Q) (variance over disorder and
   dynamics).
3. Unbiasedness with R = 2 replicas per estimate (frozen limit, where the between-replica
   variance is large): the mean of 450 two-replica chi_4 estimates.

Statistics.  Each check is a z-score (estimate - exact) / SE with SE a bootstrap over
replicas (checks 1-2; 300 resamples) or the spread over the 450 independent estimates
(check 3), required |z| < 4.5 at every lag / shell / block tested.  Under the null the
z-scores are close to standard normal (hundreds of independent windows or replicas
enter), so the false-alarm rate is about 7e-6 per comparison, below 2e-4 per test even
counting every comparison as independent.  Seeds are fixed, so CI is deterministic.
Power: each test also runs a mutant estimator on the same data and requires it to fail
the same criterion; the measured mutant z-scores (seeds below) are quoted next to each.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from trsp_fast import FastModel
from trsp_obs.heterogeneity import analyse, block_chi4, overlap_and_chi4, stack
from trsp_obs.lattice import cluster_table, wavevector_shells
from trsp_obs.overlap import origin_grid, overlap_matrix, replica_stats, site_events, waiting_times
from trsp_obs.runs import equilibrium_log
from trsp_ref import limits
from trsp_ref.params import params_from_dict

from zscore import Z_MAX  # noqa: E402  (the shared threshold and its false-alarm rate)


def _z(est, exact, se):
    return (np.asarray(est) - np.asarray(exact)) / np.asarray(se)


def _runs(p, R, t_end, lags, origin_spacing, seed, spatial_origins=0, keep_logs=False):
    model = FastModel(p, tolerance=1e-3)
    rng = np.random.default_rng(seed)
    stats, logs = [], []
    for _ in range(R):
        log, _ = equilibrium_log(model, rng, t_end, n_samples=1)
        stats.append(
            replica_stats(
                log, dim=p.lattice.dim, L=p.lattice.L, shape=p.cluster.shape, spacing=p.lattice.spacing,
                lags=lags, origin_spacing=origin_spacing, spatial_origins=spatial_origins,
            )
        )  # fmt: skip
        if keep_logs:
            logs.append(log)
    return stats, logs


# --------------------------------------------------------------------------- 1. onset

ONSET = params_from_dict(
    {
        "lattice": {"dim": 2, "L": 4, "spacing": 1.0},
        "softness": {"mean": -1.0},
        "rates": {"level": "observed", "A": 0.2, "gamma": 0.0, "delta": 0.0, "duration": 4.0},
        "cluster": {"shape": "plaquette"},
    }
)
ONSET_LAGS = np.geomspace(1.0, 100.0, 11)  # z r0 = A / duration = 0.05: Q from 0.95 to 0.007
ONSET_T_END = 2000.0


@pytest.fixture(scope="module")
def onset_runs():
    stats, logs = _runs(ONSET, 160, ONSET_T_END, ONSET_LAGS, 2.0, seed=20240611, spatial_origins=64, keep_logs=True)
    return stats, logs, analyse(stats, rng=np.random.default_rng(1), n_bootstrap=300)


def _onset_pair_covariance(p, t):
    """Cov(I_0, I_j)(t) for every site j, exact at the onset (module docstring)."""
    counts = limits.onset_pair_counts(p).astype(float)
    x = limits.onset_rate(p) * t
    z = counts[0]
    return np.where(counts > 0, np.exp(-(2 * z - counts) * x) * -np.expm1(-counts * x), 0.0)


def test_onset_overlap_and_chi4_match_the_closed_forms(onset_runs):
    # measured with these seeds: max |z| 2.7 (Q), 2.7 (chi_4) (one fluctuation shared by the lags)
    stats, _, h = onset_runs
    assert np.max(np.abs(_z(h.Q, limits.onset_overlap(ONSET, ONSET_LAGS), h.Q_err))) < Z_MAX
    assert np.max(np.abs(_z(h.chi4, limits.onset_chi4(ONSET, ONSET_LAGS), h.chi4_err))) < Z_MAX


def test_onset_chi4_mutants_fail(onset_runs):
    # (a) (N - 1) Var Q instead of N Var Q: measured max |z| 19;
    # (b) the between-replica variance of time-averaged Q alone (forgets the within-replica
    #     scatter over origins): chi_4 nearly 0, max |z| 280.
    stats, _, h = onset_runs
    exact = limits.onset_chi4(ONSET, ONSET_LAGS)
    N = ONSET.N
    assert np.max(np.abs(_z(h.chi4 * (N - 1) / N, exact, h.chi4_err))) > Z_MAX
    st = stack(stats)
    between_only = N * st.q_mean.var(axis=0, ddof=1)
    assert np.max(np.abs(_z(between_only, exact, h.chi4_err))) > Z_MAX


def test_onset_overlap_censoring_mutant_fails(onset_runs):
    # counting windows that run past t_end as "not rearranged" (no origin cut): Q biased up
    # at the largest lags (measured z +30 at t = 100)
    _, logs, h = onset_runs
    table = cluster_table(2, 4, "plaquette")
    origins = origin_grid(0.0, ONSET_T_END, 2.0)
    q_mut = np.mean(
        [overlap_matrix(waiting_times(site_events(log, table, ONSET.N), origins), ONSET_LAGS).mean(axis=0) for log in logs], axis=0
    )
    assert np.max(np.abs(_z(q_mut, limits.onset_overlap(ONSET, ONSET_LAGS), h.Q_err))) > Z_MAX


def test_onset_s4_and_block_chi4_match_the_exact_pair_covariance(onset_runs):
    # S_4(q, t) = sum_j exp(i q.r_j) Cov(I_0, I_j); chi_4^B = (1/N_B) sum_{i,j in B} Cov.
    # measured with these seeds: max |z| 2.0 (S_4 shells), 1.6 (blocks); the mutant below
    # (no q dependence) has |z| > 1000
    stats, _, h = onset_runs
    st = stack(stats)
    L, N = ONSET.lattice.L, ONSET.N
    q, shell_of_mode, counts = wavevector_shells(2, L, 1.0)
    cb = block_chi4(st)
    rng = np.random.default_rng(2)
    boot_s4, boot_cb = [], []
    for _ in range(300):
        b = st.take(rng.integers(0, st.R, st.R))
        boot_s4.append(N * b.shell_power.mean(axis=0))
        boot_cb.append(block_chi4(b))
    se_s4, se_cb = np.std(boot_s4, axis=0, ddof=1), np.std(boot_cb, axis=0, ddof=1)
    s4_est = N * st.shell_power.mean(axis=0)
    for j in (3, 5, 7):  # Q from 0.8 to 0.4
        cov = _onset_pair_covariance(ONSET, ONSET_LAGS[j]).reshape(L, L)
        exact_modes = np.fft.fftn(cov).real.ravel()  # Cov is even in r: the transform is real
        exact_shell = np.bincount(shell_of_mode.ravel(), weights=exact_modes) / counts
        assert np.max(np.abs(_z(s4_est[j, 1:], exact_shell[1:], se_s4[j, 1:]))) < Z_MAX
        for k, b in enumerate(st.blocks[:-1]):
            coords = np.indices((b, b)).reshape(2, -1).T
            d = (coords[:, None, :] - coords[None, :, :]) % L
            exact_b = cov[d[..., 0], d[..., 1]].sum() / b**2
            assert abs(_z(cb[j, k], exact_b, se_cb[j, k])) < Z_MAX
        # mutant: S_4 with the q = 0 chi_4 put in every shell (no q dependence): fails at q != 0
        assert np.max(np.abs(_z(np.full(q.size - 1, h.chi4[j]), exact_shell[1:], se_s4[j, 1:]))) > Z_MAX


# --------------------------------------------------------------------------- 2. frozen single sites

FROZEN = params_from_dict(
    {
        "lattice": {"dim": 2, "L": 4, "spacing": 1.0},
        "softness": {"mean": -1.0, "variance": 1.0, "C1": 0.0},
        "rates": {"level": "observed", "A": 0.1, "gamma": 1.5, "delta": 0.05, "duration": 4.0},
        "kick": {"facilitation": 0.0},
        "cluster": {"shape": "site"},
    }
)
FROZEN_LAGS = np.geomspace(10.0, 2000.0, 9)  # Q from 0.88 to 0.07


@pytest.fixture(scope="module")
def frozen_runs():
    stats, _ = _runs(FROZEN, 240, 4000.0, FROZEN_LAGS, 20.0, seed=20240612, spatial_origins=16)
    return stats, analyse(stats, rng=np.random.default_rng(3), n_bootstrap=300, oz_qmax=3.2)


def test_frozen_overlap_chi4_s4_and_blocks_match_the_quadrature(frozen_runs):
    # measured with these seeds: max |z| 0.5 (Q), 1.9 (chi_4), 2.2 (S_4), 1.9 (blocks)
    stats, h = frozen_runs
    Q = limits.frozen_site_overlap(FROZEN, FROZEN_LAGS)
    chi4 = limits.frozen_site_chi4(FROZEN, FROZEN_LAGS)
    assert np.allclose(chi4, Q * (1 - Q))
    assert np.max(np.abs(_z(h.Q, Q, h.Q_err))) < Z_MAX
    assert np.max(np.abs(_z(h.chi4, chi4, h.chi4_err))) < Z_MAX
    j = h.s4_index  # independent sites: S_4(q) = Q (1 - Q) at every q (flat)
    assert np.max(np.abs(_z(h.S4[1:], chi4[j], h.S4_err[1:]))) < Z_MAX
    # and chi_4^B(L_B, t) = Q (1 - Q) for every block size and lag
    st = stack(stats)
    rng = np.random.default_rng(4)
    se = np.std([block_chi4(st.take(rng.integers(0, st.R, st.R))) for _ in range(300)], axis=0, ddof=1)
    assert np.max(np.abs(_z(block_chi4(st), chi4[:, None], se))) < Z_MAX
    assert h.xi4_oz < 0.5  # no spatial correlation: the OZ length is (near) zero (measured 0.11)


def test_frozen_dynamics_only_variance_mutant_fails(frozen_runs):
    # chi_4 from the within-replica scatter only (misses the disorder part Var_S(exp(-r t))):
    # measured z from -8.6 to -14
    stats, h = frozen_runs
    st = stack(stats)
    within_only = st.N * np.maximum(st.q_sq_mean - st.q_mean**2, 0).mean(axis=0)
    assert np.max(np.abs(_z(within_only, limits.frozen_site_chi4(FROZEN, FROZEN_LAGS), h.chi4_err))) > Z_MAX


# --------------------------------------------------------------------------- 3. unbiased with two replicas

PAIRS = params_from_dict(
    {
        "lattice": {"dim": 2, "L": 3, "spacing": 1.0},
        "softness": {"mean": -1.0, "variance": 1.0, "C1": 0.0},
        "rates": {"level": "observed", "A": 0.1, "gamma": 2.0, "delta": 0.05, "duration": 4.0},
        "kick": {"facilitation": 0.0},
        "cluster": {"shape": "site"},
    }
)
PAIR_LAGS = np.array([50.0, 200.0, 800.0])


def test_chi4_is_unbiased_with_two_replicas_and_the_ddof_mutant_is_not():
    # 450 estimates from 2 replicas each; the mean must match Q(1 - Q) (measured max |z| 1.4).
    # Mutant: between-replica variance with ddof = 0 (biased low by half the between part;
    # measured z from -6.1 to -7.3).
    stats, _ = _runs(PAIRS, 900, 2000.0, PAIR_LAGS, 20.0, seed=20240613)
    exact = limits.frozen_site_chi4(PAIRS, PAIR_LAGS)
    est, mut = [], []
    for k in range(0, len(stats), 2):
        st = stack(stats[k : k + 2])
        est.append(overlap_and_chi4(st)[1])
        mut.append(st.N * (np.maximum(st.q_sq_mean - st.q_mean**2, 0).mean(axis=0) + st.q_mean.var(axis=0, ddof=0)))
    est, mut = np.array(est), np.array(mut)
    se = est.std(axis=0, ddof=1) / math.sqrt(est.shape[0])
    assert np.max(np.abs(_z(est.mean(axis=0), exact, se))) < Z_MAX
    assert np.max(np.abs(_z(mut.mean(axis=0), exact, se))) > Z_MAX
