"""pytest-benchmark benchmarks of trsp_fast (run: ``python3 -m pytest benchmarks --benchmark-only``).

Speed is only measured here, never asserted in tests/ (house rule 5).  Each benchmark compares
quantities measured in the same run (no stored baselines, so it is CI-safe) and reports them in
``extra_info`` (and prints them); each also asserts that what it ran is correct.  Set
``TRSP_BENCH_STRICT=1`` to also fail on the performance targets (off by default: shared CI
machines make timings noisy).

Targets (from the task): per-event cost at 3D L=128 within 1.5x of L=16; >= 100x faster per
event than a dense implementation with precomputed N x N operators at 3D L=20; events/s at
3D L=20, m=4, default tolerance reported against a bare numpy matvec of the kick's sizes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from trsp_fast import FastModel, Simulation
from trsp_fast import geometry as geo
from trsp_fast._blas import single_threaded_blas
from trsp_ref.params import params_from_dict

STRICT = os.environ.get("TRSP_BENCH_STRICT") == "1"
REPO = Path(__file__).resolve().parents[1]
_MODELS: dict = {}


def _model(L: int, tolerance=1e-8, dim=3, shape="plaquette") -> FastModel:
    key = (L, tolerance, dim, shape)
    if key not in _MODELS:
        with single_threaded_blas():
            _MODELS[key] = FastModel(params_from_dict({"lattice": {"dim": dim, "L": L}, "cluster": {"shape": shape}}), tolerance=tolerance)
    return _MODELS[key]


def _events_per_second(model: FastModel, n: int, seed: int = 0, record=False):
    rng = np.random.default_rng(seed)
    sim = Simulation(model, model.sample_equilibrium(rng), rng)
    list(sim.run(n_events=max(1, n // 10), record=record))  # warm up (compiled kernels, caches)
    t = time.perf_counter()
    list(sim.run(n_events=n, record=record))
    dt = time.perf_counter() - t
    # correctness of what ran: the incrementally updated sum tree equals a rebuild, the state is finite
    assert sim._tree.tobytes() == model.new_tree(sim.S).tobytes()
    assert np.all(np.isfinite(sim.S))
    return n / dt, sim


def _report(benchmark, **info):
    benchmark.extra_info.update(info)
    print("\n" + json.dumps(info, indent=1, default=float))


def _memory_per_site(model: FastModel, sim: Simulation) -> dict:
    state = sim._S.nbytes + sim._tree.nbytes + sim._mark.nbytes
    return {
        "state_bytes_per_site": state / model.N,
        "operator_bytes_total": model.operator_bytes,
        "total_bytes_per_site": (state + model.operator_bytes) / model.N,
    }


@pytest.mark.parametrize("tolerance", [1e-8, 1e-4])
def test_bench_cost_independent_of_L(benchmark, tolerance):
    """Per-event cost at 3D L=128 vs L=16 (plaquettes): the windows do not depend on L.

    At the default tolerance the zone Z (sites within kick_radius + precision_radius of the
    cluster, diameter ~37) is larger than the L=16 lattice, which then does less work per event;
    L=48 is reported too: there the windows are complete and the cost is that of any larger L."""
    sizes = (16, 48) if tolerance < 1e-6 else (16,)
    n = 4000 if tolerance >= 1e-4 else 60
    rates = {L: _events_per_second(_model(L, tolerance), n)[0] for L in sizes}
    big = _model(128, tolerance)
    rng = np.random.default_rng(1)
    sim = Simulation(big, big.sample_equilibrium(rng), rng)
    list(sim.run(n_events=max(1, n // 10), record=False))

    def run():
        list(sim.run(n_events=n, record=False))

    benchmark.pedantic(run, rounds=3, iterations=1)
    rates[128] = n / benchmark.stats.stats.median
    assert sim._tree.tobytes() == big.new_tree(sim.S).tobytes() and np.all(np.isfinite(sim.S))
    info = {"tolerance": tolerance}
    for L, r in rates.items():
        m = _model(L, tolerance)
        info[f"L{L}"] = {"events_per_s": r, "moving": m.active_size, "zone": int(m._base.zone.size)}
    info["cost_ratio_L128_over_L16"] = rates[16] / rates[128]
    if 48 in rates:
        info["cost_ratio_L128_over_L48"] = rates[48] / rates[128]
    info.update({f"L128_{k}": v for k, v in _memory_per_site(big, sim).items()})
    _report(benchmark, **info)
    if STRICT:
        assert rates[16] / rates[128] <= 1.5


def _dense_operators(model: FastModel, orientation: int):
    """The dense comparator's per-orientation precomputation: N x N H and noise factor for anchor 0."""
    dk = model.dense_kick(orientation * model.N)
    return np.ascontiguousarray(dk.H), dk.H @ dk.mu_prime, np.ascontiguousarray(dk.noise_factor)


def _dense_kick(model, ops, cluster_id, S, zeta):
    """S + H (mu' - S) + R zeta for a translated cluster, with dense N x N operators of anchor 0."""
    H, Hmu, R = ops
    o, anchor = divmod(cluster_id, model.N)
    tau = geo.index_of(geo.coords_of(np.arange(model.N), model.grid) + geo.coords_of(anchor, model.grid), model.grid)
    x = S[tau]
    out = S.copy()
    out[tau] = x + (Hmu - H @ x) + R @ zeta[tau]
    return out


@pytest.mark.parametrize("tolerance", [1e-8, 1e-6, 1e-4])
def test_bench_speedup_over_dense(benchmark, tolerance):
    """Per event vs a dense implementation with N x N operators precomputed per orientation (3D L=20, m=4),
    both for the same (truncated) model: the dense one holds its operators as N x N matrices."""
    model = _model(20, tolerance)
    ops = _dense_operators(model, 0)  # one orientation suffices to time it (same cost for all)
    rng = np.random.default_rng(3)
    S = model.sample_equilibrium(rng)
    ids = [int(rng.integers(model.N)) for _ in range(6)]  # orientation-0 clusters
    zeta = rng.standard_normal(model.N)
    for k in ids[:2]:  # correctness: the dense comparator and trsp_fast give the same kick
        np.testing.assert_allclose(_dense_kick(model, ops, k, S, zeta), model.apply_kick(S, k, zeta), rtol=0, atol=1e-10)
    _dense_kick(model, ops, ids[0], S, zeta)
    t = time.perf_counter()
    for k in ids:
        _dense_kick(model, ops, k, S, zeta)
    dense_s = (time.perf_counter() - t) / len(ids)
    n = {1e-8: 50, 1e-6: 200, 1e-4: 2000}[tolerance]
    rate_fast, sim = _events_per_second(model, n)
    benchmark.pedantic(lambda: list(sim.run(n_events=n, record=False)), rounds=3, iterations=1)
    fast_s = benchmark.stats.stats.median / n
    _report(benchmark, tolerance=tolerance, dense_s_per_event=dense_s, fast_s_per_event=fast_s, speedup=dense_s / fast_s,
            note="dense time counts the kick only (no rates, no selection): a lower bound for a dense simulator")  # fmt: skip
    if STRICT:
        assert dense_s / fast_s >= 100


def _blas_floor(model: FastModel) -> float:
    """Seconds for bare numpy matvecs of the kick's linear algebra, block by block: the drift blocks
    G_s (nA_s x nZ_s) and the noise blocks R_s (nA_s x nA_s) of the reflection basis."""
    rng = np.random.default_rng(0)
    mats = [np.ascontiguousarray(g) for g in model._base.drift if g.size] + [r for _, r in model._base.blocks if r.size]
    vecs = [rng.random(a.shape[1]) for a in mats]
    reps = 20
    with single_threaded_blas():
        for a, v in zip(mats, vecs):
            a @ v
        t = time.perf_counter()
        for _ in range(reps):
            for a, v in zip(mats, vecs):
                a @ v
        return (time.perf_counter() - t) / reps


@pytest.mark.parametrize("tolerance", [1e-8, 1e-6, 1e-4])
def test_bench_events_per_second_L20(benchmark, tolerance):
    """Events/s at 3D L=20, m=4 on one core, against a bare BLAS call of the kick's sizes."""
    model = _model(20, tolerance)
    n = {1e-8: 60, 1e-6: 300, 1e-4: 5000}[tolerance]
    _, sim = _events_per_second(model, max(10, n // 10))
    benchmark.pedantic(lambda: list(sim.run(n_events=n, record=False)), rounds=3, iterations=1)
    per_event = benchmark.stats.stats.median / n
    floor = _blas_floor(model)
    assert sim._tree.tobytes() == model.new_tree(sim.S).tobytes()
    _report(
        benchmark,
        tolerance=tolerance,
        events_per_s=1 / per_event,
        blas_floor_events_per_s=1 / floor,
        ratio_to_blas_floor=per_event / floor,
        kick_radius=model.kick_radius, precision_radius=model.precision_radius,
        window=model.window_size, moving=model.active_size, stencil=model.stencil_size,
        **_memory_per_site(model, sim),
    )  # fmt: skip


_COMPILE_PROBE = textwrap.dedent(
    """
    import json, time, numpy as np
    t0 = time.perf_counter()
    from trsp_ref.params import params_from_dict
    from trsp_fast import FastModel, Simulation
    m = FastModel(params_from_dict({"lattice": {"dim": 2, "L": 6}, "cluster": {"shape": "dimer"}}), tolerance=1e-3)
    t1 = time.perf_counter()
    rng = np.random.default_rng(0)
    sim = Simulation(m, m.sample_equilibrium(rng), rng)
    list(sim.run(n_events=20))
    m.apply_kick(sim.S, 0, np.zeros(m.N)); m.choose_event(sim.S, 0.5, 0.5)
    t2 = time.perf_counter()
    print(json.dumps({"import_build_s": t1 - t0, "first_calls_s": t2 - t1, "S": sim.S.tolist()}))
    """
)


def test_bench_compile_time(benchmark):
    """Numba compile time: first calls in a fresh process with an empty cache vs with the cache filled."""
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}

        def probe():
            out = subprocess.run([sys.executable, "-c", _COMPILE_PROBE], env=env, cwd=REPO, capture_output=True, text=True, check=True)
            return json.loads(out.stdout.strip().splitlines()[-1])

        cold = probe()
        warm = benchmark.pedantic(probe, rounds=1, iterations=1)
    assert cold["S"] == warm["S"]  # the cached kernels compute what the fresh ones did
    _report(benchmark, cold_first_calls_s=cold["first_calls_s"], cached_first_calls_s=warm["first_calls_s"],
            cold_import_build_s=cold["import_build_s"], cached_import_build_s=warm["import_build_s"])  # fmt: skip
