"""Running replicas with the fast simulator: equilibrium event logs and aging quenches.

Randomness is always passed in (a numpy Generator); one replica uses one Generator for its
initial condition and its dynamics, in that order.
"""

from __future__ import annotations

import math
import time as _time

import numpy as np

from trsp_ref.params import ParameterError, Params

from .overlap import EventLog

__all__ = ["mean_softness", "run_events", "equilibrium_log", "quench_mean_softness", "field_digest"]


def mean_softness(p: Params, T: float | None = None) -> float:
    """<S>(T) = mean_a + mean_b / T (Sec. V; docs/model.md "Temperature"); without [temperature],
    softness.mean.  T defaults to the file's temperature."""
    if p.temperature is None:
        if T is not None:
            raise ParameterError("temperature", "a temperature was asked for but the parameters have no [temperature]", T)
        return float(p.softness.mean)
    T = p.temperature.T if T is None else float(T)
    if not (T > 0 and math.isfinite(T)):
        raise ParameterError("temperature.T", "must be a finite number > 0", T)
    return p.temperature.mean_a + p.temperature.mean_b / T


def run_events(sim, t_end: float, chunk: int = 200_000) -> tuple[np.ndarray, np.ndarray]:
    """Advance ``sim`` (a trsp_fast.Simulation) to absolute time ``t_end``; return (times, clusters)."""
    times, clusters = [], []
    for ch in sim.run(t_max=t_end, record=False, chunk=chunk):
        times.append(np.asarray(ch.times).copy())
        clusters.append(np.asarray(ch.clusters).copy())
    if not times:
        return np.empty(0), np.empty(0, dtype=np.int64)
    return np.concatenate(times), np.concatenate(clusters)


def equilibrium_log(
    model, rng: np.random.Generator, t_end: float, n_samples: int = 64, memory=None, *,
    initial_rng: np.random.Generator | None = None,
) -> tuple[EventLog, dict]:
    """One equilibrium replica: S0 ~ the model's equilibrium (``model.sample_equilibrium``, drawn
    from ``initial_rng`` if given, else from ``rng``), run on [0, t_end] with ``rng``.  Returns
    the event log and run facts: n_events, wall_s, and mean_S, the site-averaged S averaged over
    ``n_samples`` + 1 evenly spaced times in [0, t_end] (in equilibrium its expectation is <S>; a
    check that the run stays in equilibrium), and initial_digest (:func:`field_digest` of S0).

    memory : a :class:`trsp_obs.softness_memory.MemoryAccumulator`, fed the field at each of
        its stop times (the run also stops there; trsp_fast stops exactly, so the trajectory
        does not depend on the stops)."""
    from trsp_fast import Simulation

    if not (t_end > 0 and math.isfinite(t_end)):
        raise ParameterError("t_max", "must be a finite number > 0", t_end)
    S0 = model.sample_equilibrium(rng if initial_rng is None else initial_rng)
    sim = Simulation(model, S0, rng)
    t_wall = _time.perf_counter()
    # the site mean sampled at regular times (an exact time integral would need every event's
    # change of S, which record=False does not produce); enough for an equilibrium check
    checkpoints = np.linspace(0.0, t_end, max(int(n_samples), 1) + 1)[1:]
    stops = checkpoints if memory is None else np.union1d(checkpoints, memory.stop_times)
    sample_at = set(checkpoints.tolist())
    s_samples = [float(np.mean(sim.S))]
    times, clusters = [], []
    if memory is not None and stops.size and memory.stop_times[0] == 0.0:
        memory.observe(0.0, sim.S)
    for tc in stops:
        if tc <= 0.0:
            continue
        # short stretches between close stops: a small chunk saves allocating 200k-event buffers
        t, c = run_events(sim, float(tc), chunk=20_000)
        times.append(t)
        clusters.append(c)
        if tc in sample_at:
            s_samples.append(float(np.mean(sim.S)))
        if memory is not None:
            memory.observe(float(tc), sim.S)
    wall = _time.perf_counter() - t_wall
    times = np.concatenate(times)
    clusters = np.concatenate(clusters)
    log = EventLog(times, clusters, 0.0, float(t_end))
    facts = {"n_events": int(times.size), "wall_s": wall, "mean_S": float(np.mean(s_samples)), "initial_digest": field_digest(S0)}
    return log, facts


def field_digest(S: np.ndarray) -> str:
    """A fingerprint of a softness field's exact bits (paired sweeps check shared initial fields with it)."""
    import hashlib

    return hashlib.sha256(np.ascontiguousarray(S, dtype=np.float64).tobytes()).hexdigest()[:16]


def quench_mean_softness(
    model, rng: np.random.Generator, mean_initial: float, sample_times: np.ndarray
) -> tuple[np.ndarray, dict]:
    """An aging replica (Sec. VII.C): S0 drawn from the equilibrium field with its mean moved to
    ``mean_initial`` (= <S>(T_I); K does not depend on T, Sec. V), then the dynamics of ``model``
    (at T_F).  Returns the site-averaged S at each of ``sample_times`` (increasing, > 0) and facts."""
    from trsp_fast import Simulation

    sample_times = np.asarray(sample_times, dtype=np.float64)
    if sample_times.ndim != 1 or np.any(np.diff(sample_times) <= 0) or sample_times[0] < 0:
        raise ParameterError("aging.times", "must be increasing times >= 0")
    S0 = model.sample_equilibrium(rng) + (mean_initial - model.mean)
    sim = Simulation(model, S0, rng)
    t_wall = _time.perf_counter()
    out = np.empty(sample_times.size)
    n = 0
    for k, t in enumerate(sample_times):
        for ch in sim.run(t_max=float(t), record=False, chunk=200_000):
            n += len(ch)
        out[k] = float(np.mean(sim.S))
    return out, {"n_events": n, "wall_s": _time.perf_counter() - t_wall}
