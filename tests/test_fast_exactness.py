"""trsp_fast against the oracle (trsp_ref): the same model, the same canonical draws, the same numbers.

With windows covering the lattice (``tolerance=None``) FastModel is the oracle's model, so:
rate laws, cluster rates, event choice (u1, u2) and kicks (zeta) must agree to rounding, and a
Simulation fed the same Generator seed as ``trsp_ref.dynamics.gillespie`` must produce the same
trajectory and leave the generator in the same state (the stream is numpy's own: the kernel
draws from the Generator object itself).

With a finite tolerance FastModel is the truncated model of docs/fast.md, which the oracle
builds as ``ReferenceModel(p, kick_radius=..., precision_radius=...)``: same comparisons.
How far the truncated model is from the untruncated one is tested in test_fast_truncation.py.

Tolerances.  1e-10 (absolute, states of order 1) for operators, draws and single kicks; 1e-9
for 150-event trajectories (a kick contracts differences, but the rates move with the state).
That holds also for near-singular K_Delta because both implementations take the noise factor
K_Delta^(1/2) from a factor C of K_Delta (K_Delta = C C^T), where it is Lipschitz; from K_Delta's
own eigenvalues it would be uncertain by sqrt(eps ||K_Delta||) ~ 1e-8 (trsp_ref.kick.kick_noise_factor).
The noise factor is also checked against K_Delta itself: R symmetric, R^2 = K_Delta.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, strategies as st
from strategies import reference_model, valid_params

from trsp_fast import FastModel, Simulation
from trsp_fast._blas import single_threaded_blas
from trsp_ref.dynamics import gillespie
from trsp_ref.model import ReferenceModel
from trsp_ref.params import params_from_dict

ATOL = 1e-10
TRAJECTORY_ATOL = 1e-9


@pytest.fixture(scope="module", autouse=True)
def _one_blas_thread():
    # the dense oracle is 10-100x slower with threaded BLAS on a busy 2-core CI box
    with single_threaded_blas():
        yield


_FAST: dict = {}


def fast_model(p, **kw) -> FastModel:
    key = (p, tuple(sorted(kw.items())))
    if key not in _FAST:
        if len(_FAST) > 16:
            _FAST.clear()
        _FAST[key] = FastModel(p, **kw)
    return _FAST[key]


def _close(a, b, rtol=1e-10, scale=1.0):
    return abs(a - b) <= rtol * max(abs(b), scale)


# --------------------------------------------------------------------------- static quantities


@given(valid_params())
def test_rate_law_matches_oracle(p):
    """Bare and observed laws: quadrature + Newton (trsp_fast.rates) vs the closed forms (Eqs. 20-22 corrected)."""
    rm, fm = reference_model(p), fast_model(p, tolerance=None)
    assert fm.z == rm.z and _close(fm.c, rm.c, 1e-14) and _close(fm.mean, rm.mean, 1e-14)
    for mine, ref in ((fm.rates.bare, rm.rates.bare), (fm.rates.observed, rm.rates.observed)):
        assert _close(mine[0], ref[0], scale=0.0), (mine, ref)  # prefactors: relative
        assert _close(mine[1], ref[1]) and _close(mine[2], ref[2]), (mine, ref)


@given(valid_params(), st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.floats(0, 1, exclude_max=True)), min_size=3, max_size=3))
def test_rates_and_event_choice_match_oracle(p, draws):
    """cluster_rates equal; choose_event (sum-tree descent) picks the linear rule's cluster and dt."""
    rm, fm = reference_model(p), fast_model(p, tolerance=None)
    S = rm.sample_equilibrium(np.random.default_rng(3))
    np.testing.assert_allclose(fm.cluster_rates(S), rm.cluster_rates(S), rtol=1e-12, atol=0)
    cum = np.cumsum(rm.cluster_rates(S))
    for u1, u2 in draws:
        k_ref, dt_ref = rm.choose_event(S, u1, u2)
        k, dt = fm.choose_event(S, u1, u2)
        assert _close(dt, dt_ref, 1e-12, 0.0)
        # the two rules may differ only when u2 R lies within rounding of a cumulative boundary
        if np.min(np.abs(cum - u2 * cum[-1])) > 1e-12 * cum[-1]:
            assert k == k_ref


def test_kernel_exp_is_within_one_ulp_of_numpy():
    """The kernels' exp (IEEE arithmetic, no libm: the rates' vectorized updates and the rebuild agree
    bit for bit) is within 1 ulp of numpy's over the normal range, exact at 0, and 0 where numpy's
    underflows; a mutant with one Taylor term less is caught."""
    from trsp_fast import kernels as kn

    rng = np.random.default_rng(11)
    x = np.concatenate([rng.uniform(-708, 700, 200_000), rng.uniform(-3, 3, 200_000), [0.0, -1e-300, 1e-300]])
    ulps = np.abs(kn.exp_array(x, np.empty_like(x)) - np.exp(x)) / np.spacing(np.exp(x))
    assert ulps.max() <= 1.0
    assert kn.exp_array(np.array([0.0, -746.0, -800.0, -np.inf]), np.empty(4)).tolist() == [1.0, 0.0, 0.0, 0.0]
    # the test can fail: the polynomial without its degree-13 term is off by many ulps near |r| = ln2/2
    r = np.linspace(-0.3466, 0.3466, 1001)
    short = 1.0 + (r + r * r * sum(r ** (n - 2) / math.factorial(n) for n in range(2, 13)))
    assert (np.abs(short - np.exp(r)) / np.spacing(np.exp(r))).max() > 1.0


def _kick_checks(p, fm: FastModel, rm: ReferenceModel, cluster_ids):
    S = rm.sample_equilibrium(np.random.default_rng(5))
    zeta = np.random.default_rng(6).standard_normal(p.N)
    for cid in cluster_ids:
        ops = rm.kick_operators(cid)
        dk = fm.dense_kick(cid)
        np.testing.assert_array_equal(np.sort(dk.sites), np.sort(ops.sites))
        # drift: the mean map S -> S + H (mu' - S), exactly
        drift = fm.apply_kick(S, cid, np.zeros(p.N)) - S
        np.testing.assert_allclose(drift, ops.H @ (ops.mu_prime - S), rtol=0, atol=ATOL)
        np.testing.assert_allclose(dk.H, ops.H, rtol=0, atol=ATOL)
        np.testing.assert_allclose(dk.mu_prime, ops.mu_prime, rtol=0, atol=ATOL)
        np.testing.assert_allclose(dk.K_Delta, ops.K_Delta, rtol=0, atol=1e-14)
        # noise: the symmetric PSD root of the oracle's K_Delta
        R = dk.noise_factor
        scale = max(float(np.abs(ops.K_Delta).max()), 1e-300)
        np.testing.assert_allclose(R, R.T, rtol=0, atol=1e-15 * math.sqrt(scale))
        np.testing.assert_allclose(R @ R, ops.K_Delta, rtol=0, atol=1e-12 * scale)
        assert np.linalg.eigvalsh(R).min() >= -1e-12 * math.sqrt(scale)
        np.testing.assert_allclose(R, ops.noise_factor, rtol=0, atol=ATOL)
        np.testing.assert_allclose(fm.apply_kick(S, cid, zeta), rm.apply_kick(S, cid, zeta), rtol=0, atol=ATOL)


@given(valid_params(), st.integers(0, 10**6))
def test_kick_matches_oracle(p, pick):
    rm, fm = reference_model(p), fast_model(p, tolerance=None)
    _kick_checks(p, fm, rm, [0, fm.n_clusters - 1, pick % fm.n_clusters])


# --------------------------------------------------------------------------- trajectories


def _fast_trajectory(fm: FastModel, S0, seed: int, n: int, chunk: int = 37):
    rng = np.random.default_rng(seed)
    sim = Simulation(fm, S0, rng)
    chunks = list(sim.run(n_events=n, chunk=chunk))
    times = np.concatenate([c.times for c in chunks])
    clusters = np.concatenate([c.clusters for c in chunks])
    return sim, rng, times, clusters, chunks


def _compare_with_gillespie(p, fm, rm, n_events=150, seed=11):
    S0 = rm.sample_equilibrium(np.random.default_rng(seed + 1))
    g_ref = np.random.default_rng(seed)
    tr = gillespie(rm, S0, g_ref, n_events=n_events, record_states=True)
    sim, g_fast, times, clusters, chunks = _fast_trajectory(fm, S0, seed, n_events)
    np.testing.assert_array_equal(clusters, tr.clusters)
    # a rounding difference in the state moves the rates by |d log r / d sbar| = |gamma0 - 2 delta0 sbar|
    # times itself, and the times with them
    tol = TRAJECTORY_ATOL
    _, g0, d0 = rm.rates.bare
    slope = float(np.max(np.abs(g0 - 2.0 * d0 * tr.states)))
    np.testing.assert_allclose(times, tr.times, rtol=1e-10 + slope * tol, atol=0)
    np.testing.assert_allclose(sim.S, tr.S_final, rtol=0, atol=tol)
    # every recorded change matches the oracle's states
    S = S0.copy()
    j = 0
    for c in chunks:
        for e in range(len(c)):
            sl = slice(c.change_offsets[e], c.change_offsets[e + 1])
            np.testing.assert_array_equal(c.before[sl], S[c.change_sites[sl]])
            S[c.change_sites[sl]] = c.after[sl]
            np.testing.assert_allclose(S, tr.states[j + 1], rtol=0, atol=tol)
            j += 1
    assert g_fast.bit_generator.state == g_ref.bit_generator.state


@given(valid_params(max_N=64))
def test_simulation_matches_gillespie(p):
    """150 events from the same seed: same clusters, times, states and generator end state."""
    _compare_with_gillespie(p, fast_model(p, tolerance=None), reference_model(p))


def _preset(**sections):
    doc = {"lattice": {"dim": 2, "L": 5}, "cluster": {"shape": "plaquette"}}
    for name, values in sections.items():
        doc.setdefault(name, {}).update(values)
    return params_from_dict(doc)


_TEMPERATURE = {"T": 0.5, "T0": 0.74, "eps0": 1.5, "eps1": -0.8, "eps2": 0.05, "Sigma0": 0.0, "mean_a": 0.5, "mean_b": -0.75}

PRESETS = {
    "3d_plaquette": dict(lattice={"dim": 3, "L": 4}),
    "3d_dimer": dict(lattice={"dim": 3, "L": 3}, cluster={"shape": "dimer"}),
    "3d_site": dict(lattice={"dim": 3, "L": 4}, cluster={"shape": "site"}),
    "2d_dimer_bare": dict(cluster={"shape": "dimer"}, rates={"level": "bare", "A": 0.02, "gamma": 2.0, "delta": 0.3}),
    "facilitation_0": dict(kick={"facilitation": 0.0}),
    "facilitation_0.4": dict(kick={"facilitation": 0.4}),
    "sigma1_0": dict(kick={"sigma1": 0.0}, cluster={"shape": "site"}),
    "temperature": dict(temperature=_TEMPERATURE),
    "temperature_bare": dict(temperature=_TEMPERATURE, rates={"level": "bare"}, cluster={"shape": "dimer"}),
    "negative_delta": dict(rates={"delta": -0.05}),
}


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_match_oracle(name):
    p = _preset(**PRESETS[name])
    rm, fm = ReferenceModel(p), FastModel(p, tolerance=None)
    _kick_checks(p, fm, rm, [0, fm.n_clusters - 1])
    _compare_with_gillespie(p, fm, rm, n_events=120)


# --------------------------------------------------------------------------- truncated models


@pytest.mark.parametrize(
    "lattice,shape,tol,scheme",
    [
        ({"dim": 3, "L": 7}, "plaquette", 1e-3, "row_sum"),
        ({"dim": 2, "L": 14}, "dimer", 1e-4, "row_sum"),
        ({"dim": 3, "L": 6}, "site", 3e-3, "row_sum"),
        ({"dim": 2, "L": 14}, "plaquette", 1e-3, "cut"),
    ],
)
def test_truncated_model_matches_oracle_truncation(lattice, shape, tol, scheme):
    """A finite tolerance gives finite radii; the oracle built with those radii and the same
    precision scheme (trsp_ref.truncation) is the same model: kick operators, equilibrium
    covariance, rates, event choice, and a replayed trajectory."""
    p = params_from_dict({"lattice": lattice, "cluster": {"shape": shape}, "rates": {"A": 0.3}})
    fm = FastModel(p, tolerance=tol, precision_scheme=scheme)
    assert math.isfinite(fm.kick_radius) and fm.window_size < p.N
    assert math.isfinite(fm.precision_radius) and fm.precision_scheme == scheme
    rm = ReferenceModel(p, kick_radius=fm.kick_radius, precision_radius=fm.precision_radius, scheme=scheme)
    np.testing.assert_allclose(fm.covariance_row, rm.K[0], rtol=0, atol=1e-12)
    _kick_checks(p, fm, rm, [0, fm.n_clusters - 1, fm.n_clusters // 2 + 3])
    # a trajectory: the fast stream has |W| normals per event; embed them at the window's sites
    S0 = fm.sample_equilibrium(np.random.default_rng(2))
    sim, _, times, clusters, _ = _fast_trajectory(fm, S0, 9, 80)
    rng = np.random.default_rng(9)
    S, t = S0.copy(), 0.0
    for k_fast, t_fast in zip(clusters, times):
        u1, u2 = rng.random(), rng.random()
        k, dt = rm.choose_event(S, u1, u2)
        assert k == k_fast
        t += dt
        assert _close(t, t_fast, 1e-10, 0.0)
        o, anchor = divmod(int(k), p.N)
        window = np.sort(fm._translate(fm.operators[o].window, anchor))
        zeta = np.zeros(p.N)
        zeta[window] = rng.standard_normal(window.size)
        S = rm.apply_kick(S, k, zeta)
    np.testing.assert_allclose(sim.S, S, rtol=0, atol=1e-8)


# --------------------------------------------------------------------------- the checks have power


def _mutant(fm: FastModel, field: str, change) -> FastModel:
    """A shallow copy of ``fm`` whose kernel data has one field changed (what a bug in the build would do)."""
    import copy

    mut = copy.copy(fm)
    value = getattr(fm._M, field)
    mut._M = fm._M._replace(**{field: change(value.copy() if isinstance(value, np.ndarray) else value)})
    return mut


@pytest.mark.parametrize(
    "what,slot,change",
    [
        ("drift blocks G off by 1e-6", "GT", lambda a: a * (1 + 1e-6)),
        ("tilt term H w off by 1e-7", "HW", lambda a: a + 1e-7),
        ("noise blocks off by 1e-6", "RB", lambda a: a * (1 + 1e-6)),
        ("gamma0 off by 1e-7", "GAMMA0", lambda a: a + 1e-7),
        ("mean off by 1e-7", "MEAN", lambda a: a + 1e-7),
    ],
)
def test_checks_catch_mutants(what, slot, change):
    from trsp_fast import kernels as kn

    p = _preset(kick={"sigma1": 0.4, "xi_sigma": 1.5, "rho1": 0.2})  # well-conditioned K_Delta
    rm, fm = ReferenceModel(p), FastModel(p, tolerance=None)
    _kick_checks(p, fm, rm, [0, 7])  # the real thing passes
    _compare_with_gillespie(p, fm, rm, n_events=60)
    mut = _mutant(fm, getattr(kn, slot), change)
    with pytest.raises(AssertionError):
        _kick_checks(p, mut, rm, [0, 7])
    with pytest.raises(AssertionError):
        _compare_with_gillespie(p, mut, rm, n_events=60)
