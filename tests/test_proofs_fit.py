"""proofs/fit_kick.py: the identities behind trsp fit's K_Delta estimate, and their use in trsp_fit."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from proofs import fit_kick
from trsp_fit import estimate as est


def _zero(m) -> bool:
    return sp.simplify(sp.Matrix(m) if not isinstance(m, sp.Expr) else m) == (sp.zeros(*m.shape) if hasattr(m, "shape") else 0)


def test_var_dS_is_K_Delta_plus_drift_variance():
    d = fit_kick.kick_moments()
    assert _zero(d["cov_residual"]) and _zero(d["var_residual"]) and _zero(d["var_with_eq17"])


def test_regression_on_state_recovers_K_Delta():
    d = fit_kick.regression_on_state()
    assert _zero(d["coefficient_residual"]) and _zero(d["residual_minus_K_Delta"])


def test_own_site_regression_leaves_an_excess():
    d = fit_kick.own_site_excess()
    assert d["check"] == 0 and d["no_regression"] == 0
    assert d["excess"] != 0  # non-zero in general: the paper's per-site variance is not K_Delta


def test_one_site_is_eq18():
    d = fit_kick.one_site_eq18()
    assert d["K_Delta_minus_eq18"] == 0 and d["var_dS_minus_2etaK"] == 0


def test_background_subtraction_for_covariances():
    d = fit_kick.background_covariance()
    assert _zero(d["composite_residual"]) and _zero(d["recovered_residual"]) and d["diagonal_is_E2"] == 0


def test_trsp_fit_subtraction_is_the_derived_rule():
    """trsp_fit.estimate.subtract_background evaluates the rule derived above."""
    rng = np.random.default_rng(3)
    C1, C2, sigma2, eta2 = rng.uniform(0.01, 0.3), rng.uniform(0.0, 0.05), 1.3, 0.02
    vR2 = sigma2 * eta2 * (2 - eta2)
    measured = (1 - eta2) ** 2 * C1 + C2
    assert est.subtract_background(measured, C2, vR2, sigma2) == pytest.approx(C1, rel=1e-12)


def _population_moments(m):
    """(Cov(S, dS) columns, Var(dS_j), rt_j): the exact moments of a kick at cluster 0 of the oracle ``m``."""
    ops = m.kick_operators(0)
    H, Kp, KD = ops.H, ops.K_prime, ops.K_Delta
    return -(Kp @ H.T), np.diag(H @ Kp @ H.T + KD), m.dist[:, ops.sites].min(axis=1)


def _population_residual(m, js):
    """The population limit of trsp fit's regression residual pooled over the sites ``js`` (one
    distance shell): its FEATURES 1, S_j, neighbour mean, rearranging mean, from exact moments."""
    ops = m.kick_operators(0)
    Kp, mu, D, sites = ops.K_prime, ops.mu_prime, m.dist, ops.sites
    Cxy, Vy, rt = _population_moments(m)
    A, v, yy = np.zeros((4, 4)), np.zeros(4), 0.0
    for j in js:
        e = np.zeros(m.N)
        e[j] = 1
        nb = (D[j] > 0) & (D[j] <= 1.5)
        near = np.zeros(m.N)
        sel = [k for k in sites if D[j, k] <= rt[j] + 1.5]
        near[sel] = 1 / len(sel)
        F = np.vstack([np.zeros(m.N), e, nb / nb.sum(), near])
        mj = F @ mu
        mj[0] = 1.0
        A += F @ Kp @ F.T + np.outer(mj, mj)
        v += F @ Cxy[:, j]
        yy += Vy[j]
    beta = np.linalg.lstsq(A, v, rcond=None)[0]
    return (yy - beta @ v) / len(js)


def test_regression_residual_is_K_Delta_within_the_population_bias():
    """The population limit of trsp fit's regression (its FEATURES, pooled over the sites of one
    distance shell, as the fit pools them) against the oracle's K_Delta, for the round trip's
    plaquette set on 2D L = 8: within 0.2%; the raw variance Var(dS | r) is >= 10% off at r = 0."""
    from trsp_fit.roundtrip import set_params
    from trsp_ref.model import ReferenceModel

    m = ReferenceModel(set_params("plaquette", 8))
    KD, Vy, rt = m.kick_operators(0).K_Delta, *_population_moments(m)[1:3]
    for r in np.unique(np.round(rt, 9))[:5]:
        js = np.flatnonzero(np.abs(rt - r) < 1e-9)
        resid = _population_residual(m, js)
        k = KD[js, js].mean()
        assert abs(resid / k - 1) < 2e-3, (r, resid, k)
        if r == 0:
            assert Vy[js].mean() / k - 1 > 0.10


def test_kick_population_is_the_regression_limit_above():
    """trsp_fit.systematics.kick_population (vectorized, behind the fit's bias correction) gives the
    per-bin population residual of the loop in test_regression_residual_is_K_Delta_within_the_population_bias,
    and pair covariances whose limit is K_Delta(i, j) within the same small bias."""
    from trsp_fit.neighbours import distance_bins, lattice_displacement_distances
    from trsp_fit.roundtrip import set_params
    from trsp_fit.statistics import Settings
    from trsp_fit.systematics import kick_population
    from trsp_ref.model import ReferenceModel

    p = set_params("plaquette", 8)
    lat = lattice_displacement_distances(2, 8, 1.0).ravel()
    bins = distance_bins(3.99, 1.0, lat)
    st = Settings(np.linspace(-5, 5, 11), bins, bins, distance_bins(3.0, 1.0, lat), 3.99, 1.5, 1, 0)
    pop = kick_population(p, st)
    m = ReferenceModel(p)
    KD, rt = m.kick_operators(0).K_Delta, _population_moments(m)[2]
    for b, r in enumerate(st.rt_bins.centers[:5]):
        js = np.flatnonzero(np.abs(rt - r) < 1e-9)
        assert pop["K"][b] == pytest.approx(_population_residual(m, js), rel=1e-10)
        assert pop["K_true"][b] == pytest.approx(KD[js, js].mean(), rel=1e-12)
    ok = np.isfinite(pop["pair_cov"])
    assert np.allclose(pop["pair_cov"][ok], pop["pair_true"][ok], rtol=0.05, atol=2e-3 * KD.max())


def test_frame_centred_covariance_is_K_minus_mean_of_K():
    from proofs import fit_centring

    for name, m in fit_centring.centred_covariance().items():
        assert m == sp.zeros(*m.shape), name


def test_centring_offset_matches_the_oracle():
    """The offset trsp_fit fits (sum over all pairs' distances of C(r), from all_pair_distances) is
    1^T K 1 / N^2 of the oracle's K, on the lattice exactly and for jittered particles closely; and
    the frame-centred model is P K P of that K."""
    from trsp_fit.neighbours import all_pair_distances
    from trsp_fit.roundtrip import set_params
    from trsp_ref.covariance import softness_covariance

    p = set_params("plaquette", 8)
    K = softness_covariance(p)
    s = p.softness
    box = np.array([8.0, 8.0])
    r, w = all_pair_distances(None, box, 1.0, {"L": 8, "spacing": 1.0, "on_lattice": True})
    assert w.sum() == pytest.approx(1.0)
    assert est.centring_offset(r, w, s.variance, s.C1, s.xi) == pytest.approx(K.mean(), rel=1e-12)
    N = K.shape[0]
    P = np.eye(N) - 1.0 / N
    PKP = P @ K @ P
    assert PKP[0, 1] == pytest.approx(est.centred_correlation_model(np.array([1.0]), s.variance, s.C1, s.xi, r, w)[0], rel=1e-12)
    grid = np.stack(np.meshgrid(np.arange(8.0), np.arange(8.0), indexing="ij"), axis=-1).reshape(-1, 2)
    jitter = np.random.default_rng(0).normal(0, 0.02, grid.shape)
    rp, wp = all_pair_distances(grid + jitter, box, 1.0, None)
    assert est.centring_offset(rp, wp, s.variance, s.C1, s.xi) == pytest.approx(K.mean(), rel=0.02)


def test_one_interval_estimator_is_biased_to_first_order():
    """proofs/fit_interval.py: -log(1 - Q(dt)) / dt = ell + (E[b] - Var(a)) dt / 2 + O(dt^2) (the bias that
    grows with the frame interval), from Q(t) = E[a] t + (E[b] - E[a^2]) t^2 / 2 + O(t^3)."""
    from proofs import fit_interval

    assert fit_interval.survival_expansion()["residual"] == 0
    d = fit_interval.one_interval_bias()
    assert d["residual"] == 0 and d["bias"] != 0


def test_interval_pseudo_count_is_the_derived_combination():
    """The weights of Q(dt), Q(2 dt) that cancel the t^2 term are (2, -1/2); trsp_fit's pseudo-count
    3/2 k1 - 1/2 k2 (k2: rearranged in the second interval only) is that combination, and its
    remainder is O(dt^2) per unit exposure."""
    import sympy as sp

    from proofs import fit_interval
    from trsp_fit import statistics

    assert fit_interval.interval_weights(2) == [2, sp.Rational(-1, 2)]
    d = fit_interval.interval_estimator_remainder()
    assert d["weights_match"] == 0
    dt = sp.Symbol("dt", positive=True)
    assert sp.limit(d["remainder"] / dt, dt, 0) == 0
    assert statistics.INTERVAL_WEIGHTS == (1.5, -0.5)
