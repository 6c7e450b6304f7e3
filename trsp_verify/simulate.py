"""Replicas of a parameter set simulated with trsp_fast, for ``trsp verify`` without arguments.

Replica ``k`` uses the stream ``Generator(PCG64(SeedSequence(seed).spawn(R)[k]))``, which
first draws the initial state (``FastModel.sample_equilibrium``: a run starts in
equilibrium, as the paper's do) and then the events: exactly what ``trsp simulate`` would
write into the run file's ``/rng`` group (entropy = seed, spawn_key = (k,)).  The events are
kept in memory (:class:`trsp_verify.data.RunData`), not written to files.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor

import numpy as np

from trsp_ref.params import Params

from .data import RunData

__all__ = ["simulate_replicas", "DEFAULT_TOLERANCE"]

#: the truncation tolerance of ``trsp simulate`` (docs/fast.md)
DEFAULT_TOLERANCE = 1e-8


def _one(args) -> RunData:
    params, n_events, child, tolerance, index = args
    from trsp_fast.model import FastModel
    from trsp_fast.simulation import Simulation

    model = FastModel(params, tolerance=tolerance)
    rng = np.random.Generator(np.random.PCG64(child))
    S0 = model.sample_equilibrium(rng)
    sim = Simulation(model, S0, rng)
    chunks = list(sim.run(n_events=n_events, record=True))
    times = np.concatenate([c.times for c in chunks]) if chunks else np.zeros(0)
    clusters = np.concatenate([c.clusters for c in chunks]) if chunks else np.zeros(0, np.int64)
    offsets, sites, before, after = [np.zeros(1, np.int64)], [], [], []
    shift = 0
    for c in chunks:
        o = np.asarray(c.change_offsets, dtype=np.int64)
        offsets.append(o[1:] - o[0] + shift)
        sites.append(c.change_sites[o[0] : o[-1]])
        before.append(c.before[o[0] : o[-1]])
        after.append(c.after[o[0] : o[-1]])
        shift += int(o[-1] - o[0])
    cat = lambda xs, dt: np.concatenate(xs).astype(dt) if xs else np.zeros(0, dt)  # noqa: E731
    return RunData(
        name=f"replica {index} (trsp_fast, seed {child.entropy}, spawn_key {tuple(child.spawn_key)})",
        params=params,
        kick_radius=float(model.kick_radius),
        precision_radius=float(model.precision_radius),
        precision_scheme=model.precision_scheme,
        S0=np.asarray(S0, dtype=np.float64),
        t0=0.0,
        t_end=float(times[-1]) if times.size else 0.0,
        times=times,
        clusters=clusters,
        change_offsets=np.concatenate(offsets),
        change_sites=cat(sites, np.int64),
        before=cat(before, np.float64),
        after=cat(after, np.float64),
        seed_key=(int(child.entropy), tuple(int(k) for k in child.spawn_key)),
        implementation="trsp_fast",
    )


def simulate_replicas(
    params: Params,
    replicas: int,
    events: int,
    seed: int | None = None,
    *,
    tolerance: float | None = DEFAULT_TOLERANCE,
    workers: int = 1,
) -> tuple[list[RunData], int]:
    """``replicas`` independent trsp_fast runs of ``events`` events each; returns (runs, seed entropy)."""
    ss = np.random.SeedSequence(seed)
    children = ss.spawn(replicas)
    jobs = [(params, events, c, tolerance, k) for k, c in enumerate(children)]
    if workers > 1 and replicas > 1:
        with ProcessPoolExecutor(max_workers=min(workers, replicas)) as pool:
            runs = list(pool.map(_one, jobs))
    else:
        runs = [_one(j) for j in jobs]
    return runs, int(ss.entropy)
