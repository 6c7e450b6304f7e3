"""Replicas of a parameter set simulated with trsp_fast, for ``trsp verify`` without arguments.

Replica ``k`` uses the stream ``Generator(PCG64(SeedSequence(seed).spawn(R)[k]))``, which
first draws the initial state (``FastModel.sample_equilibrium``: a run starts in
equilibrium, as the paper's do) and then the events: exactly what ``trsp simulate`` would
write into the run file's ``/rng`` group (entropy = seed, spawn_key = (k,)).  The events are
simulated chunk by chunk *while* they are replayed (:class:`SimulatedReplica`), never
stored, so memory does not grow with the number of events.  Only this module imports
trsp_fast; the battery itself does not depend on the simulator it judges.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from trsp_ref.params import Params
from trsp_runfile.events import EventRecord

from .data import Replica

__all__ = [
    "simulate_replicas", "SimulatedReplica", "DEFAULT_TOLERANCE", "DEFAULT_KICK_TOLERANCE", "DEFAULT_PRECISION_TOLERANCE",
    "SIMULATION_CHUNK",
]  # fmt: skip

#: the truncation tolerances of ``trsp simulate`` (docs/fast.md, "The default tolerances"): the same
#: values as trsp_fast.model.DEFAULT_KICK_TOLERANCE and DEFAULT_PRECISION_TOLERANCE, written here on
#: purpose (the verifier does not import the simulator; a test checks that the copies agree)
DEFAULT_KICK_TOLERANCE = 3e-5
DEFAULT_PRECISION_TOLERANCE = 1e-2
#: (kick, precision), as trsp_fast's FastModel takes it
DEFAULT_TOLERANCE = (DEFAULT_KICK_TOLERANCE, DEFAULT_PRECISION_TOLERANCE)
#: events per chunk handed from the simulation to the replay (bounds the memory of a replica)
SIMULATION_CHUNK = 4096


class SimulatedReplica(Replica):
    """trsp_fast replica ``index`` of ``params`` from the seed ``child`` (a SeedSequence):
    built lazily (in the process that replays it), simulated as :meth:`chunks` is consumed."""

    def __init__(self, params: Params, n_events: int, child: np.random.SeedSequence, tolerance, index: int, radii, scheme: str = "cut"):
        self.params, self.n_events, self.child, self.tolerance, self.index = params, int(n_events), child, tolerance, index
        self.name = f"replica {index} (trsp_fast, seed {child.entropy}, spawn_key {tuple(child.spawn_key)})"
        self.seed_key = (int(child.entropy), tuple(int(k) for k in child.spawn_key))
        self.implementation = "trsp_fast"
        self.full = True
        self.t0 = 0.0
        self.t_end = 0.0
        self.snapshot_times = np.zeros(0)
        self._model = None
        self.kick_radius, self.precision_radius = (float(r) for r in radii)  # the declared truncation
        self.scheme = scheme  # trsp_fast's precision_scheme
        self.tolerances = None if tolerance is None else (
            tuple(float(t) for t in tolerance) if isinstance(tolerance, (tuple, list)) else (float(tolerance),) * 2)

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k not in ("_model", "_rng", "_S0")}

    def _start(self):
        if getattr(self, "_model", None) is None:
            self._model = _fast_model(self.params, self.tolerance)
            self._rng = np.random.Generator(np.random.PCG64(self.child))
            self._S0 = np.asarray(self._model.sample_equilibrium(self._rng), dtype=np.float64)
        return self._model

    @property
    def S0(self) -> np.ndarray:
        self._start()
        return self._S0

    def chunks(self) -> Iterator[EventRecord]:
        from trsp_fast.simulation import Simulation

        model = self._start()
        sim = Simulation(model, self._S0, self._rng)
        for rec in sim.run(n_events=self.n_events, record=True, chunk=SIMULATION_CHUNK):
            if len(rec):
                self.t_end = float(rec.times[-1])
            yield rec.compact()


#: trsp_fast models built in this process, by (parameters, tolerance): building one costs seconds
#: on a large lattice, and every replica of a battery (and every battery of a calibration run)
#: uses the same one; a model is read-only during a simulation
_MODELS: dict = {}


def _fast_model(params: Params, tolerance):
    from trsp_fast.model import FastModel

    from trsp_ref.params import params_to_dict

    key = (repr(params_to_dict(params)), tolerance)
    if key not in _MODELS:
        _MODELS.clear()  # keep one: a model holds the operators of its lattice
        _MODELS[key] = FastModel(params, tolerance=tolerance)
    return _MODELS[key]


def simulate_replicas(
    params: Params,
    replicas: int,
    events: int,
    seed: int | None = None,
    *,
    tolerance: tuple | float | None = DEFAULT_TOLERANCE,
    workers: int = 1,
) -> tuple[list[SimulatedReplica], int]:
    """``replicas`` independent trsp_fast runs of ``events`` events each (simulated when they are
    verified); returns (replicas, seed entropy).  ``tolerance``: (kick, precision), one number for
    both, or None (untruncated), as trsp_fast's FastModel takes it.  ``workers`` is accepted for
    compatibility: the battery simulates each replica in the process that replays it."""
    model = _fast_model(params, tolerance)
    radii = (model.kick_radius, model.precision_radius)
    ss = np.random.SeedSequence(seed)
    children = ss.spawn(replicas)
    return [
        SimulatedReplica(params, events, c, tolerance, k, radii, model.precision_scheme) for k, c in enumerate(children)
    ], int(ss.entropy)
