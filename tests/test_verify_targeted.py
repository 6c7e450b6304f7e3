"""The targeted statistics (trsp_verify.targeted): their algebra (proofs/targeted_statistics.py),
their null distributions on synthetic data where the null holds exactly (a fixed-seed,
CI-sized calibration), their power, and that streaming them in blocks of any size gives the
same numbers.  The battery-level calibration over >= 1000 seed sets is
tests/test_verify_calibration.py (marker ``calibration``); the mutants they kill are in
tests/test_verify_mutants.py.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import scipy.stats
import sympy as sp

from proofs import targeted_statistics as proof
from trsp_verify import targeted
from trsp_verify.targeted import ROW_KEYS, TargetedStats, targeted_rows

# ======================================================================================
# the algebra
# ======================================================================================


def test_drift_scale_is_the_score_of_the_drift_scale():
    assert all(v == 0 for v in proof.drift_scale_score().values())


def test_drift_parts_identities():
    r = proof.drift_parts()
    assert r["decomposition"] == sp.zeros(proof.N_SITES, 1)
    assert r["norm"] == 0 and r["projection"] == 0


def test_noise_scale_is_the_score_of_the_variance():
    assert proof.noise_scale_score() == 0


def test_hermite_moments_are_centred_and_orthogonal():
    r = proof.hermite_moments()
    assert r["means"] == [0, 0, 0]
    assert r["gram"] == sp.diag(1, 2, 6)
    assert r["are_hermite"] == [0, 0, 0]


def test_code_evaluates_the_proved_polynomials():
    x = sp.Symbol("x", real=True)
    for k, h in enumerate(targeted._HERMITE, start=1):
        for v in (-1.5, 0.0, 0.3, 2.0):
            assert h(v) == pytest.approx(float(sp.hermite_prob(k, x).subs(x, v)))


def test_rate_score_basis_is_an_invertible_map_of_the_parameter_score():
    r = proof.rate_score_basis()
    assert r["residual"] == sp.zeros(3, 1)
    assert r["det"] != 0
    assert proof.quadratic_form_invariance() == 0


def test_the_zero_tests_can_fail():
    """Near misses are caught: a power formula with c for c - 1, a cubic that is centred but not
    orthogonal to x, a moment that is not zero."""
    x = sp.Symbol("x", real=True)
    c = sp.Symbol("c", real=True)
    r = proof.drift_scale_score()
    assert sp.expand(r["mean_minus_power_formula"] + (c - 1) - c) != 0
    E = lambda f: proof.standard_normal_expectation(f, x)  # noqa: E731
    assert E(x**3 - 2 * x) == 0 and E(x * (x**3 - 2 * x)) == 1  # x^3 - 2x is not He_3
    assert E(x**2) == 1 and E(x**4) == 3
    assert proof.hermite_moments()["gram"] != sp.eye(3)


# ======================================================================================
# synthetic events: the null holds exactly
# ======================================================================================

NC = 6  # checked sites of the synthetic kick
W_BATCHES = 4


def _frame(mu_prime, chol):
    """A synthetic orientation frame with H = 1 on its window (the kick mean is mu' - S)."""
    return SimpleNamespace(cols=np.arange(mu_prime.size), kick_mean=lambda S: mu_prime[None, :] - S,
                           chol_check=chol, sbar_mean=0.0, sbar_var=1.0)


def _synthetic_stats(rng, n_events, *, drift_scale=1.0, noise_var=1.0, block=None, replicas=1):
    """Synthetic replicas: whitened residual z ~ N((drift_scale - 1) u_drift, noise_var I) with a
    predictable drift u_drift that depends on the previous residuals (as the state depends on
    earlier kicks).  The replicas are simulated side by side (vectorized over replicas)."""
    L = np.linalg.cholesky(np.eye(NC) + 0.3 * np.ones((NC, NC)))
    side = SimpleNamespace(
        frames=[_frame(np.full(NC, 0.5), L)],
        mean=0.0,
        clusters=np.arange(NC)[:, None],
        K=np.eye(NC),
    )
    state = np.zeros((replicas, NC))
    drifts = np.empty((n_events, replicas, NC))
    zs = np.empty((n_events, replicas, NC))
    Linv = np.linalg.inv(L)
    for e in range(n_events):
        drift = side.frames[0].kick_mean(state)  # H (mu' - S) with H = 1 on the window
        z = (drift_scale - 1.0) * drift @ Linv.T + math.sqrt(noise_var) * rng.standard_normal((replicas, NC))
        state = 0.8 * state + 0.3 * rng.standard_normal((replicas, NC)) + 0.1 * z  # depends on past residuals
        drifts[e], zs[e] = drift, z
    out = []
    block = block or n_events
    for r in range(replicas):
        st = TargetedStats.for_side(side, W_BATCHES)
        for e0 in range(0, n_events, block):
            st.kick(0, zs[e0 : e0 + block, r], drifts[e0 : e0 + block, r])
        out.append(st)
    return out if replicas > 1 else out[0]


def _rows(stats_list):
    return {r.name: r for r in targeted_rows([SimpleNamespace(targeted=s) for s in stats_list])}


def test_streaming_in_blocks_gives_the_same_statistics():
    one = _synthetic_stats(np.random.default_rng(1), 300)
    many = _synthetic_stats(np.random.default_rng(1), 300, block=7)
    np.testing.assert_array_equal(one.proj_n, many.proj_n)
    np.testing.assert_allclose(one.proj_sum, many.proj_sum, rtol=1e-12)
    np.testing.assert_allclose(one.proj_sumsq, many.proj_sumsq, rtol=1e-12)


def test_kick_projections_are_exactly_standard_normal_under_the_null():
    """CI-sized calibration (fixed seed): 400 synthetic replicas of 200 events; the exact nulls
    N(0, 1) and chi2(n) hold, so the p-values of rows 6d, 6e, 6f are uniform (KS) and the
    per-event projections are N(0, 1)."""
    rng = np.random.default_rng(20261129)
    p = {k: [] for k in ("6d_drift_scale", "6e_drift_parts", "6f_noise_scale")}
    a_sum = []
    for st in _synthetic_stats(rng, 200, replicas=400):
        rows = _rows([st])
        for k in p:
            p[k].append(rows[ROW_KEYS[k]].p_value)
        a_sum.append(st.proj_sum[0] / math.sqrt(st.proj_n[0]))
    assert scipy.stats.kstest(a_sum, "norm").pvalue > 1e-3
    assert scipy.stats.kstest(p["6d_drift_scale"], "uniform").pvalue > 1e-3
    for k in ("6e_drift_parts", "6f_noise_scale"):  # Bonferroni: at most uniform, never more often small
        assert np.mean(np.array(p[k]) < 0.05) <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / 400), k


def test_kick_projections_see_a_few_percent_error():
    """The power formula: a drift 1.03 H(mu' - S) shifts the normalized score by 0.03 |u| per event."""
    rng = np.random.default_rng(5)
    sts = _synthetic_stats(rng, 2500, drift_scale=1.03, replicas=8)
    assert _rows(sts)[ROW_KEYS["6d_drift_scale"]].p_value < 1e-6
    a = sum(st.proj_sum[0] for st in sts) / sum(st.proj_n[0] for st in sts)
    assert 0.01 < a < 0.1  # 0.03 |u|, |u| of order 1 here
    sts = _synthetic_stats(rng, 2500, noise_var=1.05, replicas=8)
    assert _rows(sts)[ROW_KEYS["6f_noise_scale"]].p_value < 1e-6


def test_rows_are_skipped_without_kicks():
    st = _synthetic_stats(np.random.default_rng(2), 10)
    st.proj_n[:] = 0
    rows = _rows([st])
    for k in ("6d_drift_scale", "6e_drift_parts", "6f_noise_scale"):
        assert rows[ROW_KEYS[k]].status == "skipped"


# -------------------------------------------------------------- detailed-balance moments


def _db_stats(rng, n_per_batch, *, rho=0.6, asym=0.0):
    """Exchangeable pairs (x, x'): bivariate normal with unit variances; ``asym`` breaks it
    (x' has mean rho x + asym)."""
    side = SimpleNamespace(
        frames=[_frame(np.zeros(1), np.eye(1))],
        mean=0.0, clusters=np.zeros((1, 1), dtype=np.int64), K=np.eye(1),
    )
    st = TargetedStats.for_side(side, W_BATCHES)
    for w in range(W_BATCHES):
        x = rng.standard_normal(n_per_batch)
        xp = rho * x + math.sqrt(1 - rho * rho) * rng.standard_normal(n_per_batch) + asym
        st.firing_cluster(np.full(n_per_batch, w), np.zeros(n_per_batch, dtype=np.int64), x, xp)
    return st


def test_db_moments_calibrated_and_powerful():
    rng = np.random.default_rng(7)
    key = ROW_KEYS["1b_db_moments"]
    p = [_rows([_db_stats(rng, 200) for _ in range(4)])[key].p_value for _ in range(200)]
    assert np.mean(np.array(p) < 0.05) <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / 200)
    assert scipy.stats.kstest(p, "uniform").pvalue > 1e-3
    assert _rows([_db_stats(rng, 2000, asym=0.05) for _ in range(4)])[key].p_value < 1e-4


# -------------------------------------------------------------- rate-law score


def _rate_stats(rng, n_events, *, gamma_true=1.0, C=8):
    """Single-site clusters whose softness is redrawn after every event; the events follow rates
    A exp(gamma_true s - delta s^2), the model (A, gamma = 1, delta) is what the statistics use."""
    A, delta = 0.5, 0.1
    side = SimpleNamespace(
        frames=[_frame(np.zeros(C), np.eye(C))],
        mean=-0.5, clusters=np.arange(C)[:, None], K=np.eye(C),
    )
    st = TargetedStats.for_side(side, W_BATCHES)
    S = -0.5 + rng.standard_normal((n_events, C))
    model = A * np.exp(S - delta * S * S)
    true = A * np.exp(gamma_true * S - delta * S * S)
    R = true.sum(axis=1)
    dt = rng.exponential(1.0 / R)
    k = (rng.random(n_events)[:, None] * R[:, None] > np.cumsum(true, axis=1)).sum(axis=1)
    st.held(S, dt, model)
    st.fired(S[np.arange(n_events), k])
    return st


def test_rate_score_calibrated_and_powerful():
    rng = np.random.default_rng(11)
    key = ROW_KEYS["3c_rate_score"]
    p = [_rows([_rate_stats(rng, 500)])[key].p_value for _ in range(300)]
    assert scipy.stats.kstest(p, "uniform").pvalue > 1e-3
    assert _rows([_rate_stats(rng, 20000, gamma_true=1.05)])[key].p_value < 1e-4
