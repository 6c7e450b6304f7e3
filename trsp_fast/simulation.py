"""Simulation: the event loop of the fast simulator around the Numba kernel (docs/fast.md).

The random stream is the caller's ``numpy.random.Generator`` (PCG64 or PCG64DXSM), used by
the kernel directly, so it is numpy's own stream and ``rng.bit_generator.state`` captures
the simulation's randomness exactly.  Per event, in order: ``u1 = rng.random()``,
``u2 = rng.random()``, then one standard normal per site of the kick window in increasing
site index (``rng.standard_normal(N)`` when the window is the lattice: the oracle's stream).

Stopping rules (chosen so that run(a); run(b) equals run(a + b) bit for bit, and a
save/restore in between changes nothing):

* ``n_events``: stops after that many events; nothing of the next event is drawn.
* ``t_max``: the event that would happen after ``t_max`` is neither applied nor kept: its
  ``u1`` has been drawn to find its time, and the generator is rewound by that one draw
  (``bit_generator.advance(-1)``).  The generator is left exactly where it was before that
  event, so a later run with a larger ``t_max`` draws the same event again.
  (The oracle's ``gillespie`` instead leaves the rejected event's u1, u2 consumed.)
"""

from __future__ import annotations

import math
from typing import Iterator

import numpy as np

from trsp_ref.params import ParameterError
from trsp_runfile.events import EventRecord

from . import kernels
from .model import FastModel

__all__ = ["Simulation", "EventChunk", "MAX_CHUNK_CHANGES"]

#: most site changes held by one chunk (bounds its memory, ~ 24 bytes each); a chunk is
#: yielded early when the next event might not fit
MAX_CHUNK_CHANGES = 1 << 23

_REWINDABLE = ("PCG64", "PCG64DXSM")


#: the block of events :meth:`Simulation.run` yields: the run-file package's one event record
#: (times, clusters and, when recorded, change_offsets, change_sites, before, after)
EventChunk = EventRecord


def _rewind_one_draw(rng: np.random.Generator) -> None:
    """Step the generator back by one 64-bit draw (one rng.random()), keeping its 32-bit buffer."""
    bg = rng.bit_generator
    saved = bg.state
    bg.advance(-1)
    state = bg.state
    state["has_uint32"], state["uinteger"] = saved["has_uint32"], saved["uinteger"]
    bg.state = state


class Simulation:
    """A running TRSP trajectory on a :class:`FastModel`.

    Parameters
    ----------
    model : FastModel
    S0 : (N,) initial state (copied)
    rng : numpy.random.Generator with a PCG64 or PCG64DXSM bit generator; the simulation draws
        from it directly (it is advanced, and its state is part of the simulation's state)
    t0 : initial time
    """

    def __init__(self, model: FastModel, S0, rng: np.random.Generator, t0: float = 0.0):
        if not isinstance(model, FastModel):
            raise TypeError(f"model must be a FastModel, got {type(model).__name__}")
        if not isinstance(rng, np.random.Generator) or type(rng.bit_generator).__name__ not in _REWINDABLE:
            raise TypeError(
                "rng must be a numpy.random.Generator on PCG64 or PCG64DXSM (e.g. numpy.random.default_rng(seed)): "
                "stopping at t_max rewinds it by one draw"
            )
        t0 = float(t0)
        if not math.isfinite(t0):
            raise ValueError(f"t0 must be finite, got {t0!r}")
        self.model = model
        self.rng = rng
        self._S = model._state(S0).copy()
        self._clock = np.array([t0, 0.0])  # time, Kahan compensation
        self.n_events = 0
        self._tree = model.new_tree(self._S)
        self._mark = np.zeros(self._tree.shape[0] // 2, dtype=np.bool_)  # scratch of the tree update

    # --------------------------------------------------------------- state

    @property
    def S(self) -> np.ndarray:
        """The current state (a read-only view; copy it to keep it)."""
        view = self._S.view()
        view.flags.writeable = False
        return view

    @property
    def time(self) -> float:
        return float(self._clock[0])

    def get_state(self) -> dict:
        """Everything needed to continue bit for bit (see :meth:`from_state`)."""
        return {
            "S": self._S.copy(),
            "time": float(self._clock[0]),
            "n_events": int(self.n_events),
            "time_compensation": float(self._clock[1]),
            "rng_state": self.rng.bit_generator.state,
        }

    @classmethod
    def from_state(cls, model: FastModel, state: dict) -> "Simulation":
        """Rebuild a simulation from :meth:`get_state`'s dict (e.g. read back from a run file)."""
        rs = state["rng_state"]
        name = rs.get("bit_generator") if isinstance(rs, dict) else None
        if name not in _REWINDABLE:
            raise ValueError(f"rng_state must be a PCG64 or PCG64DXSM state, got bit_generator={name!r}")
        bg = getattr(np.random, name)()
        bg.state = rs
        sim = cls(model, state["S"], np.random.Generator(bg), t0=float(state["time"]))
        sim._clock[1] = float(state.get("time_compensation", 0.0))
        sim.n_events = int(state["n_events"])
        return sim

    # --------------------------------------------------------------- running

    def run(
        self,
        n_events: int | None = None,
        t_max: float | None = None,
        record: bool = True,
        chunk: int = 100_000,
    ) -> Iterator[EventChunk]:
        """Process events until ``n_events`` more have happened or the next would happen after
        ``t_max`` (absolute time), yielding :class:`EventChunk` blocks of at most ``chunk``
        events (earlier when the recorded changes would exceed MAX_CHUNK_CHANGES).

        The simulation's state advances as chunks are produced; stopping the iteration early
        leaves it after the last yielded chunk.  See the module docstring for what is drawn
        when the run stops.
        """
        if n_events is None and t_max is None:
            raise ValueError("give n_events, t_max or both: the run must stop")
        if n_events is not None:
            if isinstance(n_events, bool) or not isinstance(n_events, (int, np.integer)) or n_events < 0:
                raise ValueError(f"n_events must be an integer >= 0, got {n_events!r}")
        if t_max is not None:
            t_max = float(t_max)
            if math.isnan(t_max):
                raise ValueError("t_max must not be NaN")
        if isinstance(chunk, bool) or not isinstance(chunk, (int, np.integer)) or chunk < 1:
            raise ValueError(f"chunk must be an integer >= 1, got {chunk!r}")
        return self._run(n_events, t_max, bool(record), int(chunk))

    def _run(self, n_events, t_max, record, chunk) -> Iterator[EventChunk]:
        left = math.inf if n_events is None else int(n_events)
        nA = max(self.model.active_size, 1)
        change_cap = max(nA, min(chunk * nA, MAX_CHUNK_CHANGES)) if record else 0
        while left > 0:
            n_max = int(min(chunk, left))
            times = np.empty(n_max)
            clusters = np.empty(n_max, dtype=np.int64)
            offsets = np.zeros(n_max + 1 if record else 1, dtype=np.int64)
            sites = np.empty(change_cap, dtype=np.int64)
            before = np.empty(change_cap)
            after = np.empty(change_cap)
            n, status, n_chg, info_k, info_s = kernels.run_events(
                self._S, self._tree, self._mark, self._clock, self.rng, n_max,
                t_max if t_max is not None else 0.0, t_max is not None, record,
                times, clusters, offsets, sites, before, after, self.model._M,
            )  # fmt: skip
            self.n_events += int(n)
            left -= n
            if status == kernels.STOPPED_AT_TIME:
                _rewind_one_draw(self.rng)
            if n:
                if record:
                    yield EventChunk(
                        times[:n], clusters[:n], offsets[: n + 1], sites[:n_chg].copy(), before[:n_chg].copy(), after[:n_chg].copy()
                    )
                else:
                    yield EventChunk(times[:n], clusters[:n])
            if status == kernels.RATE_OVERFLOW:
                raise self.model.rate_error(int(info_k), float(info_s))
            if status == kernels.NO_RATE:
                raise ParameterError(
                    "rates.A", "every cluster rate underflowed to 0 at the current state: no event can occur"
                )
            if status == kernels.STOPPED_AT_TIME:
                return
