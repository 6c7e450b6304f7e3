"""pytest-benchmark benchmarks of trsp verify's replay (run: ``python3 -m pytest benchmarks --benchmark-only``).

Speed is measured here, never asserted in tests/ (house rule 5).  Quantities compared are
measured in the same run: the replay's CPU seconds per event with the dense model side and the
periodic (large-lattice) side on the same truncated run (both must give the same statistics),
and the per-event cost at L = 12 against L = 20 (3D plaquettes, trsp_fast's tolerance-1e-4
truncation: the periodic side's cost per event should not grow with N).

The paper-scale measurements (4 x 20 000 and more events at L = 20, L = 32, memory of a
10^6-event file) are whole-command runs, documented with their commands in
docs/verification.md ("Large lattices", "Verifying an L = 20 implementation").
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from trsp_ref.params import params_from_dict
from trsp_verify.model_side import ModelSide
from trsp_verify.periodic_side import PeriodicModelSide
from trsp_verify import replay
from trsp_verify.simulate import simulate_replicas

RADII = (3.8708286933869704, 5.567039912272021)  # trsp_fast's radii at tolerance 1e-4


def held_replicas(p, replicas: int, events: int, seed: int, tolerance):
    """(replicas, model side): trsp_fast replicas simulated once and held in memory (so that only the
    replay is timed), and the model side of their declared truncation."""
    from trsp_verify.data import Replica
    from trsp_verify.model_side import model_side_for

    class Held(Replica):
        def __init__(self, r):
            self.__dict__.update({k: getattr(r, k) for k in ("params", "kick_radius", "precision_radius", "scheme",
                                                              "n_events", "name", "full", "t0")})
            self.S0 = r.S0.copy()
            self.records = list(r.chunks())
            self.t_end = r.t_end

        def chunks(self):
            yield from self.records

    runs = [Held(r) for r in simulate_replicas(p, replicas, events, seed=seed, tolerance=tolerance)[0]]
    return runs, model_side_for(p, runs[0].kick_radius, runs[0].precision_radius, scheme=runs[0].scheme)


def _per_event(side, runs) -> float:
    plan = replay.make_plan(side, runs)
    t = time.process_time()
    for i, r in enumerate(runs):
        replay.analyse_replica(r, side, plan, i)  # through the module: benchmarks/gate.py --slow replay=2 wraps it
    return (time.process_time() - t) / sum(r.n_events for r in runs)


@pytest.mark.benchmark(group="verify")
def test_periodic_side_cost_per_event_vs_lattice_size(benchmark):
    out = {}

    def run():
        for L in (12, 20):
            p = params_from_dict({"lattice": {"dim": 3, "L": L}})
            runs, _ = simulate_replicas(p, 1, 1000, seed=1, tolerance=1e-4)
            out[L] = _per_event(PeriodicModelSide(p, *RADII), runs)
        return out

    benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info.update({f"cpu_s_per_event_L{L}": v for L, v in out.items()})
    benchmark.extra_info["ratio_L20_over_L12"] = out[20] / out[12]
    print(f"\nreplay CPU per event: L=12 {out[12] * 1e3:.2f} ms, L=20 {out[20] * 1e3:.2f} ms, ratio {out[20] / out[12]:.2f}")


@pytest.mark.benchmark(group="verify")
def test_dense_and_periodic_side_on_one_run(benchmark):
    p = params_from_dict({"lattice": {"dim": 2, "L": 12}})
    runs, _ = simulate_replicas(p, 2, 2000, seed=2, tolerance=1e-4)
    sides = {"dense": ModelSide(p, runs[0].kick_radius, runs[0].precision_radius),
             "periodic": PeriodicModelSide(p, runs[0].kick_radius, runs[0].precision_radius)}
    out = {}

    def run():
        for name, side in sides.items():
            out[name] = _per_event(side, simulate_replicas(p, 2, 2000, seed=2, tolerance=1e-4)[0])
        return out

    benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info.update({f"cpu_s_per_event_{k}": v for k, v in out.items()})
    print(f"\nreplay CPU per event, 2D L=12: dense side {out['dense'] * 1e3:.2f} ms, periodic {out['periodic'] * 1e3:.2f} ms")
    assert np.isfinite(list(out.values())).all()


#: the three workloads whose replay cost issue 8 tracks: (a) the paper's system at trsp_fast's
#: tolerance 1e-4 (periodic side), (b) the default example at the default tolerance (dense side,
#: kick window = the lattice), (c) the 2D L = 5 catalog lattice the CI mutant tests replay
REPLAY_CASES = {
    "a_3d_L20_tol1e-4": ({"lattice": {"dim": 3, "L": 20}}, 1e-4, 1, 2000),
    "b_default_example": ({}, None, 1, 4000),
    "c_2d_L5_catalog": ({"lattice": {"dim": 2, "L": 5}}, None, 4, 2000),
}


@pytest.mark.benchmark(group="verify")
@pytest.mark.parametrize("case", list(REPLAY_CASES))
def test_replay_cpu_per_event(benchmark, case):
    """Replay CPU microseconds per event (events simulated first and held in memory, so only the
    replay is timed). Measured values for this change: docs/verification.md, "Speed and memory"."""
    from trsp_verify.simulate import DEFAULT_TOLERANCE

    spec, tol, replicas, events = REPLAY_CASES[case]
    p = params_from_dict(spec)
    runs, side = held_replicas(p, replicas, events, seed=5, tolerance=DEFAULT_TOLERANCE if tol is None else tol)
    out = {}

    def run():
        out["us"] = _per_event(side, runs) * 1e6

    benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info["cpu_us_per_event"] = out["us"]
    print(f"\nreplay CPU per event, {case}: {out['us']:.0f} us")
