"""trsp_md.analysis on inputs with known answers (no MD): F_s, MSD and D, crossing times, g(r), its first peak, Q and chi_4."""

import math

import numpy as np
import pytest

from trsp_md import analysis as an


def brownian(n_frames=400, n=300, D=0.05, dt=1.0, seed=0):
    rng = np.random.default_rng(seed)
    steps = rng.normal(0.0, math.sqrt(2 * D * dt), size=(n_frames, n, 3))
    steps[0] = 0.0
    return np.cumsum(steps, axis=0)


def test_diffusion_and_scattering_of_brownian_walkers():
    D = 0.05
    X = brownian(D=D)
    lags = np.arange(1, 60)
    msd = an.mean_squared_displacement(X, lags)
    assert an.diffusion_constant(lags, msd, t_min=5) == pytest.approx(D, rel=0.05)
    # Gaussian displacements: F_s(q, t) = exp(-q^2 D t) exactly in expectation
    q = 2.0
    fs = an.self_intermediate_scattering(X, lags, q=q)
    assert np.allclose(fs, np.exp(-q * q * D * lags), atol=0.02)
    tau = an.crossing_time(lags, fs)
    assert tau == pytest.approx(1 / (q * q * D), rel=0.1)


def test_no_motion():
    X = np.repeat(np.random.default_rng(1).random((1, 50, 3)), 10, axis=0)
    assert np.all(an.self_intermediate_scattering(X, [1, 5]) == 1.0)
    assert np.all(an.mean_squared_displacement(X, [1, 5]) == 0.0)
    qm, qs = an.overlap_origin_means(X, [1, 5])
    assert np.all(qm == 1.0) and np.all(qs == 1.0)
    assert an.crossing_time(np.array([1.0, 2.0]), np.array([1.0, 0.9])) is None


def test_crossing_time_interpolates_in_log_t():
    t = np.array([1.0, 10.0])
    f = np.array([1.0, 0.0])
    assert an.crossing_time(t, f, level=0.5) == pytest.approx(math.sqrt(10.0))


def test_ideal_gas_g_is_one_and_first_peak_of_a_parabola():
    rng = np.random.default_rng(3)
    L = 8.0
    frames = rng.uniform(-L / 2, L / 2, size=(20, 400, 3))
    typeid = (np.arange(400) >= 320).astype(int)
    r, g = an.radial_distribution(frames, typeid, L, 0, 0, 3.5, 0.1)
    assert np.mean(g[r > 1.0]) == pytest.approx(1.0, abs=0.03)
    r = np.linspace(0.5, 2.0, 151)
    g = 3.0 - 40.0 * (r - 1.083) ** 2
    r1, g1 = an.first_peak(r, g)
    assert r1 == pytest.approx(1.083, abs=1e-9) and g1 == pytest.approx(3.0, abs=1e-9)


def test_chi4_is_trsp_obs_variance_estimator():
    """chi_4 = N [mean_r(<Q^2>_r - <Q>_r^2) + var_r(<Q>_r; ddof 1)] (trsp_obs.heterogeneity)."""
    qm = np.array([[0.9, 0.5], [0.8, 0.3], [0.85, 0.45]])
    qs = qm**2 + np.array([[0.01, 0.02], [0.02, 0.03], [0.0, 0.01]])
    Q, chi = an.chi4(qm, qs, 800)
    assert np.allclose(Q, qm.mean(axis=0))
    expected = 800 * ((qs - qm**2).mean(axis=0) + qm.var(axis=0, ddof=1))
    assert np.allclose(chi, expected)
