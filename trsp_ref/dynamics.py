"""The dense Gillespie loop of the reference oracle, and the overlap observables of a trajectory.

:func:`gillespie` is built only from :meth:`ReferenceModel.choose_event` and
:meth:`ReferenceModel.apply_kick` (docs/model.md, "Event selection" and "Kick"), so
every number it produces is fixed by those two canonical draws.

The canonical random stream
---------------------------
Each event consumes, from the generator passed in and in this order:

1. ``u1 = rng.random()``            -> the waiting time ``dt = -log(1 - u1) / R``;
2. ``u2 = rng.random()``            -> the fired cluster (smallest id k with r_0+...+r_k > u2 R);
3. ``zeta = rng.standard_normal(N)`` -> the kick ``dS = H (mu' - S) + K_Delta^(1/2) zeta``.

When ``t_max`` is given and the drawn event would happen after it, the loop stops
*after* step 2: that last event consumed ``u1`` and ``u2`` but no ``zeta`` and is not
applied.  Another implementation that draws in the same order from the same
``numpy.random.Generator`` (or is fed the same numbers, see :class:`ReplayStream`)
must reproduce the trajectory to rounding.

Observables (Sec. VII.A): ``I_i(t) = 1`` while site ``i`` has not taken part in any
event in ``(0, t]`` (Eq. 31's indicator, with "rearranged" = belonged to a fired
cluster); ``Q(t) = mean_i I_i(t)`` (Eq. 31).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np

__all__ = [
    "Trajectory",
    "gillespie",
    "ReplayStream",
    "first_participation_times",
    "overlap",
]


class _Stream(Protocol):  # what gillespie needs from a numpy Generator
    def random(self) -> float: ...

    def standard_normal(self, size: int) -> np.ndarray: ...


@dataclass(frozen=True)
class Trajectory:
    """A run of the dense Gillespie loop, started at time 0.

    times    : (n,) absolute event times (running sum of ``waits``)
    waits    : (n,) waiting times dt before each event
    clusters : (n,) int64 ids of the fired clusters (docs/model.md)
    S0       : (N,) initial state
    S_final  : (N,) state after the last applied event
    t_end    : ``t_max`` when the run stopped on time, else the time of the last event (0 if none)
    states   : (n + 1, N) or None: ``states[0] = S0``, ``states[k + 1]`` = state after event k
               (only with ``record_states=True``)
    u1, u2   : (n,) or None: the uniforms each applied event consumed (``record_draws=True``)
    zeta     : (n, N) or None: the standard normals each applied event consumed
    """

    times: np.ndarray
    waits: np.ndarray
    clusters: np.ndarray
    S0: np.ndarray
    S_final: np.ndarray
    t_end: float
    states: np.ndarray | None = None
    u1: np.ndarray | None = None
    u2: np.ndarray | None = None
    zeta: np.ndarray | None = None

    @property
    def n_events(self) -> int:
        return int(self.clusters.shape[0])

    @property
    def states_before(self) -> np.ndarray:
        """(n, N): the state just before each event (needs ``record_states=True``)."""
        if self.states is None:
            raise ValueError("the trajectory was run without record_states=True")
        return self.states[:-1]

    @property
    def states_after(self) -> np.ndarray:
        """(n, N): the state just after each event (needs ``record_states=True``)."""
        if self.states is None:
            raise ValueError("the trajectory was run without record_states=True")
        return self.states[1:]


def gillespie(
    model,
    S0,
    rng: _Stream,
    *,
    n_events: int | None = None,
    t_max: float | None = None,
    record_states: bool = False,
    record_draws: bool = False,
) -> Trajectory:
    """Run the TRSP dynamics from ``S0`` with the canonical draws (module docstring).

    Gillespie's direct method (Sec. VI): each event draws its waiting time and cluster
    with :meth:`model.choose_event` (rates P0(<S>_R)/duration, Eq. D1) and applies the
    kick with :meth:`model.apply_kick` (Eqs. 10, 16, 19, 30).  Stops after ``n_events``
    events or at time ``t_max``, whichever comes first (at least one must be given).

    ``rng`` is a ``numpy.random.Generator`` (or anything with ``random()`` and
    ``standard_normal(N)``, e.g. :class:`ReplayStream`); it is the only source of
    randomness, and it is advanced.  ``model`` is a :class:`trsp_ref.model.ReferenceModel`.
    """
    N = int(model.N)
    S = np.array(S0, dtype=np.float64, copy=True)
    if S.shape != (N,):
        raise ValueError(f"S0 must have shape ({N},), got {S.shape}")
    if not np.all(np.isfinite(S)):
        raise ValueError("S0 contains NaN or infinite values")
    if n_events is None and t_max is None:
        raise ValueError("give n_events, t_max or both: the run must stop")
    if n_events is not None:
        if isinstance(n_events, bool) or not isinstance(n_events, (int, np.integer)) or n_events < 0:
            raise ValueError(f"n_events must be an integer >= 0, got {n_events!r}")
        n_events = int(n_events)
    if t_max is not None:
        t_max = float(t_max)
        if not (math.isfinite(t_max) and t_max >= 0.0):
            raise ValueError(f"t_max must be finite and >= 0, got {t_max!r}")

    S0_copy = S.copy()
    times: list[float] = []
    waits: list[float] = []
    clusters: list[int] = []
    states: list[np.ndarray] = [S0_copy] if record_states else []
    u1s: list[float] = []
    u2s: list[float] = []
    zetas: list[np.ndarray] = []
    t = 0.0
    stopped_on_time = False
    while n_events is None or len(clusters) < n_events:
        u1 = float(rng.random())
        u2 = float(rng.random())
        cluster_id, dt = model.choose_event(S, u1, u2)
        if t_max is not None and t + dt > t_max:
            stopped_on_time = True  # this event lies beyond the window: not applied, no zeta drawn
            break
        zeta = np.asarray(rng.standard_normal(N), dtype=np.float64)
        S = model.apply_kick(S, cluster_id, zeta)
        t += dt
        times.append(t)
        waits.append(dt)
        clusters.append(cluster_id)
        if record_states:
            states.append(S)
        if record_draws:
            u1s.append(u1)
            u2s.append(u2)
            zetas.append(zeta)
    if t_max is not None and (stopped_on_time or n_events is None):
        t_end = t_max
    else:
        t_end = t
    return Trajectory(
        times=np.array(times, dtype=np.float64),
        waits=np.array(waits, dtype=np.float64),
        clusters=np.array(clusters, dtype=np.int64),
        S0=S0_copy,
        S_final=S,
        t_end=float(t_end),
        states=np.array(states).reshape(-1, N) if record_states else None,
        u1=np.array(u1s, dtype=np.float64) if record_draws else None,
        u2=np.array(u2s, dtype=np.float64) if record_draws else None,
        zeta=np.array(zetas, dtype=np.float64).reshape(-1, N) if record_draws else None,
    )


class ReplayStream:
    """Stands in for a numpy Generator and returns recorded draws in the canonical order.

    Feeding a :class:`Trajectory`'s recorded ``u1``, ``u2``, ``zeta`` (or another
    implementation's) through :func:`gillespie` replays it on the oracle.  Asking for the
    draws in any other order than u1, u2, zeta per event raises ``RuntimeError``, so a
    replay also checks the order; asking past the end raises ``IndexError``.
    """

    def __init__(self, u1, u2, zeta):
        self._u1 = [float(x) for x in np.asarray(u1, dtype=np.float64).ravel()]
        self._u2 = [float(x) for x in np.asarray(u2, dtype=np.float64).ravel()]
        self._zeta = np.asarray(zeta, dtype=np.float64)
        if not (len(self._u1) == len(self._u2) == self._zeta.shape[0]) or self._zeta.ndim != 2:
            raise ValueError("u1, u2 need one entry per event and zeta one row per event")
        self._event = 0
        self._step = 0  # 0: u1 next, 1: u2 next, 2: zeta next

    def random(self) -> float:
        if self._step not in (0, 1):
            raise RuntimeError("canonical order violated: zeta must be drawn before the next event's u1")
        if self._event >= len(self._u1):
            raise IndexError("no more recorded events")
        value = (self._u1 if self._step == 0 else self._u2)[self._event]
        self._step += 1
        return value

    def standard_normal(self, size: int) -> np.ndarray:
        if self._step != 2:
            raise RuntimeError("canonical order violated: zeta is drawn after u1 and u2")
        row = self._zeta[self._event]
        if row.shape != (size,):
            raise ValueError(f"recorded zeta has length {row.shape[0]}, asked for {size}")
        self._event += 1
        self._step = 0
        return row.copy()


def first_participation_times(trajectory: Trajectory, clusters: np.ndarray, N: int) -> np.ndarray:
    """(N,) time of each site's first event (``inf`` if none): site i has I_i(t) = 1 iff this is > t.

    ``clusters`` is the model's (n_clusters, m) site table (``model.clusters``).
    """
    first = np.full(N, np.inf)
    for t, cluster_id in zip(trajectory.times, trajectory.clusters):
        sites = clusters[cluster_id]
        first[sites] = np.minimum(first[sites], t)
    return first


def overlap(first_times: np.ndarray, t) -> np.ndarray | float:
    """Q(t) = (1/N) sum_i I_i(t) (Eq. 31) from :func:`first_participation_times`, for scalar or array t."""
    t_arr = np.asarray(t, dtype=np.float64)
    q = (np.asarray(first_times)[:, None] > t_arr.ravel()[None, :]).mean(axis=0)
    return float(q[0]) if t_arr.ndim == 0 else q.reshape(t_arr.shape)
