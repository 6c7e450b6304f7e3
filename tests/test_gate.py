"""The performance regression gate's logic (benchmarks/gate.py): no timing here (house rule 5).

What is checked: a figure fails exactly when it is worse than its baseline by more than its
margin, in the figure's direction; the committed baseline holds every figure with a margin that
lets a 2x slowdown fail; ``--update`` writes a baseline that reads back; the test-only slowdowns
repeat the work without changing any result (so a slowed run measures the same code).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def gate():
    spec = importlib.util.spec_from_file_location("trsp_bench_gate", REPO / "benchmarks" / "gate.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["trsp_bench_gate"] = module
    spec.loader.exec_module(module)
    return module


def test_a_figure_fails_only_beyond_its_margin(gate):
    base = {"kernel_over_dense": {"value": 100.0, "margin": 1.3}, "replay_over_dense": {"value": 0.05, "margin": 1.4}}
    rows = {r["name"]: r for r in gate.compare(base, {"kernel_over_dense": 80.0, "replay_over_dense": 0.069})}
    assert rows["kernel_over_dense"]["ok"] and rows["replay_over_dense"]["ok"]  # worse, within the margins
    rows = {r["name"]: r for r in gate.compare(base, {"kernel_over_dense": 50.0, "replay_over_dense": 0.1})}
    assert not rows["kernel_over_dense"]["ok"] and not rows["replay_over_dense"]["ok"]  # 2x slower: both fail
    rows = {r["name"]: r for r in gate.compare(base, {"kernel_over_dense": 300.0, "replay_over_dense": 0.01})}
    assert rows["kernel_over_dense"]["ok"] and rows["replay_over_dense"]["ok"]  # faster is never a failure
    (row,) = gate.compare({}, {"L128_over_L20": 1.4})
    assert row["ok"] and row["baseline"] is None  # a figure new to the baseline is reported, not failed


def test_the_committed_baseline_covers_every_figure_and_catches_a_2x_slowdown(gate):
    base = gate.load_baseline()
    assert set(base) == set(gate.FIGURES)
    for name, fig in gate.FIGURES.items():
        b = base[name]
        assert b["better"] == fig.better and b["ci"] == fig.ci and 1.0 < b["margin"] < 2.0, name
        slowed = b["value"] / 2 if fig.better == "higher" else b["value"] * 2
        if name in ("kernel_over_dense", "kernel_floor_ratio", "replay_over_dense", "kernel_over_dense_preset",
                    "kernel_over_dense_tol1e-3", "verify_over_numpy"):  # fmt: skip
            (row,) = gate.compare(base, {name: slowed})
            assert not row["ok"], name
    assert {n for n, f in gate.FIGURES.items() if f.ci} == {"kernel_over_dense", "kernel_floor_ratio", "replay_over_dense"}


def test_update_writes_a_baseline_that_reads_back(gate, tmp_path):
    old = {"kernel_over_dense": {"value": 1.0, "margin": 1.25}}
    path = tmp_path / "baseline.toml"
    gate.write_baseline(path, {"kernel_over_dense": 123.456, "L128_over_L20": 1.5}, old, "test")
    back = gate.load_baseline(path)
    assert back["kernel_over_dense"]["value"] == pytest.approx(123.456, rel=1e-5)
    assert back["kernel_over_dense"]["margin"] == 1.25 and back["L128_over_L20"]["margin"] == 1.5  # kept / default
    assert back["L128_over_L20"]["better"] == "lower" and back["kernel_over_dense"]["ci"] is True


def test_slowed_kernel_and_replay_compute_the_same_results(gate, monkeypatch):
    """The slowdowns go through the paths the gate times (trsp_fast's Simulation wrapper calling
    kernels.run_events; benchmarks' replay timing calling replay.analyse_replica) and change nothing
    they compute."""
    import dataclasses
    import pickle

    from trsp_fast import FastModel, Simulation, kernels
    from trsp_ref.params import params_from_dict
    from trsp_verify import replay

    p = params_from_dict({"lattice": {"dim": 2, "L": 5}})
    model = FastModel(p)

    def simulate():
        rng = np.random.default_rng(3)
        sim = Simulation(model, model.sample_equilibrium(rng), rng)
        chunks = list(sim.run(n_events=300))
        return np.concatenate([c.clusters for c in chunks]), sim.S.copy(), rng.bit_generator.state

    from test_bench_verify import held_replicas  # benchmarks/: on the path once the gate is loaded

    runs, side = held_replicas(p, 1, 200, seed=4, tolerance=None)  # events held in memory, as the gate times them
    plan = replay.make_plan(side, runs)

    def replayed():  # the statistics' bytes
        return pickle.dumps(dataclasses.astuple(replay.analyse_replica(runs[0], side, plan, 0)))

    clusters, S, state = simulate()
    stats = replayed()
    monkeypatch.setattr(kernels, "run_events", kernels.run_events)  # restored after the test
    calls = {"n": 0}
    real = replay.analyse_replica

    def counted(*a, **k):
        calls["n"] += 1
        return real(*a, **k)

    monkeypatch.setattr(replay, "analyse_replica", counted)
    gate.slow_down("kernel", 2)
    gate.slow_down("replay", 3)
    clusters2, S2, state2 = simulate()
    assert np.array_equal(clusters, clusters2) and np.array_equal(S, S2) and state == state2
    assert replayed() == stats and calls["n"] == 3  # the replay ran three times, with the same result
    with pytest.raises(ValueError):
        gate.slow_down("compiler", 2)
