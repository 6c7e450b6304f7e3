"""What the battery reads: replicas, each a stream of event chunks with the run's header.

A replica is anything with the attributes of :class:`Replica` and a ``chunks()`` method that
yields the events as :class:`trsp_runfile.events.EventRecord` chunks (``before`` filled in):

* :class:`FileReplica`: a run file (docs/formats.md), header read and validated at once by
  the reference reader (:class:`trsp_runfile.runfile.RunFile`, no Numba), events streamed
  chunk by chunk and checked bit for bit in the same pass (``RunFile.iter_events`` and
  ``RunFile.stream_checker``), so memory does not grow with the run's length;
* :class:`RunData`: one replica held in memory (a Python implementation can be verified
  without writing files);
* :class:`trsp_verify.simulate.SimulatedReplica`: trsp_fast events simulated as they are replayed.

:func:`load_runs` opens run files and :func:`check_replicas` checks that replicas belong
together (same parameters and truncation, different seeds).  Everything that makes the input
unusable raises :class:`VerifyInputError` (exit status 2), naming the file and the problem.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from trsp_ref.params import ParameterError, Params, params_to_dict
from trsp_runfile.events import EventRecord

__all__ = ["Replica", "RunData", "FileReplica", "VerifyInputError", "load_runs", "check_replicas"]


class VerifyInputError(ValueError):
    """Input the battery cannot use (unreadable, inconsistent or mismatched run files)."""


class Replica:
    """One replica's header (the chunks come from :meth:`chunks`).

    name            : the file name (or "replica k" for an in-memory simulation)
    params          : the declared parameter set
    kick_radius, precision_radius, scheme : the declared truncation (inf = exact model)
    tolerances      : (kick, precision) the radii were chosen for, or None when not recorded (informative:
                      the radii and the scheme are the declared model)
    S0, t0          : initial state and time
    t_end           : end of the observation window (/checkpoint@observed_until; known after the
                      chunks for a simulation)
    n_events, full  : the number of events; whether every site change is recorded
    seed_key        : (entropy, spawn_key) when recorded, else None
    implementation  : who wrote the events
    snapshot_times  : snapshot times (may be empty); :meth:`snapshot_state` reads one
    """

    name: str
    params: Params
    kick_radius: float
    precision_radius: float
    scheme: str = "cut"
    tolerances: tuple | None = None
    t0: float
    n_events: int
    full: bool
    seed_key: tuple | None = None
    implementation: str = "unknown"

    @property
    def N(self) -> int:
        return self.params.N

    def chunks(self) -> Iterator[EventRecord]:  # pragma: no cover - abstract
        raise NotImplementedError

    def snapshot_state(self, j: int) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError


@dataclass(eq=False)
class RunData(Replica):
    """One replica held in memory: the header and its events as one :class:`EventRecord`
    (``before`` may be None: it is filled in by replaying from ``S0``)."""

    name: str
    params: Params
    kick_radius: float
    precision_radius: float
    S0: np.ndarray
    t0: float
    t_end: float
    events: EventRecord
    snapshot_times: np.ndarray = field(default_factory=lambda: np.zeros(0))
    snapshot_S: np.ndarray | None = None
    seed_key: tuple | None = None
    implementation: str = "unknown"
    scheme: str = "cut"

    @property
    def n_events(self) -> int:
        return len(self.events)

    @property
    def full(self) -> bool:
        return self.events.has_changes

    def chunks(self, size: int = 4096) -> Iterator[EventRecord]:
        from trsp_runfile.runfile import replay_record

        S = np.array(self.S0, dtype=np.float64)
        done = 0
        for rec in self.events.chunks(size):
            if rec.has_changes:
                rec, bad = replay_record(rec.compact(), S)
                if bad is not None:
                    raise VerifyInputError(f"{self.name}: event {done + int(np.searchsorted(rec.change_offsets, bad, 'right') - 1)} "
                                           "records a value before the change that the replay does not give")
            done += len(rec)
            yield rec

    def snapshot_state(self, j: int) -> np.ndarray:
        return self.snapshot_S[j]


class FileReplica(Replica):
    """A run file: the header now, the events streamed by :meth:`chunks` (checked bit for bit
    as they are read; a problem raises :class:`trsp_runfile.runfile.TrspFileError`)."""

    def __init__(self, path: str | Path):
        from trsp_runfile.runfile import RunFile

        run = RunFile.open(path)
        self.path = Path(path)
        self.name = str(path)
        self.params = run.params
        tr = run.truncation
        self.kick_radius, self.precision_radius = float(tr.kick_radius), float(tr.precision_radius)
        self.scheme = getattr(tr, "scheme", "cut") or "cut"  # /truncation@scheme (absent = "cut")
        # format 1.2 records one tolerance per radius (older files: both = /truncation@tolerance)
        self.tolerances = (float(tr.kick_tolerance), float(tr.precision_tolerance)) if tr.tolerance > 0 else None
        self.S0, self.t0 = run.S0, float(run.t0)
        self.t_end = float(run.checkpoint.observed_until)
        self.n_events = run.n_events
        self.full = run.mode == "full"
        self.seed_key = None
        if run.seed is not None and run.seed.entropy is not None:
            self.seed_key = (run.seed.entropy, tuple(run.seed.spawn_key))
        self.implementation = f"{run.implementation.name} {run.implementation.version}"
        self.snapshot_times = run.snapshot_times()
        self._run = run

    def __getstate__(self):  # workers reopen the file (the header is small)
        return {k: v for k, v in self.__dict__.items() if k != "_run"}

    def _file(self):
        if getattr(self, "_run", None) is None:
            from trsp_runfile.runfile import RunFile

            self._run = RunFile.open(self.path)
        return self._run

    def chunks(self) -> Iterator[EventRecord]:
        run = self._file()
        checker = run.stream_checker()
        for rec in run.iter_events():
            checker.chunk(rec)
            yield rec
        checker.finish()

    def snapshot_state(self, j: int) -> np.ndarray:
        return self._file().snapshot_state(j)


def load_runs(paths: list[Path]) -> list[Replica]:
    """Open every run file (headers; the events are streamed later); any problem is a
    VerifyInputError naming the file."""
    from trsp_runfile.runfile import TrspFileError

    runs = []
    for path in paths:
        try:
            runs.append(FileReplica(path))
        except TrspFileError as exc:
            raise VerifyInputError(str(exc)) from None
        except ParameterError as exc:
            raise VerifyInputError(f"run file {path}: {exc}") from None
    check_replicas(runs)
    return runs


def _same_float(a: float, b: float) -> bool:
    return (math.isinf(a) and math.isinf(b)) or a == b


def check_replicas(runs: list[Replica]) -> None:
    """Replicas must share parameters and truncation, and be independent (different seeds)."""
    if not runs:
        raise VerifyInputError("no run given")
    first = runs[0]
    for r in runs[1:]:
        if r.params != first.params:
            from trsp_runfile.runfile import first_difference

            diff = first_difference(params_to_dict(first.params), params_to_dict(r.params))
            raise VerifyInputError(
                f"run file {r.name}: its parameters differ from {first.name}'s ({diff}); "
                "replicas verified together must share one parameter set"
            )
        for key in ("kick_radius", "precision_radius"):
            if not _same_float(getattr(r, key), getattr(first, key)):
                raise VerifyInputError(
                    f"run file {r.name}: /truncation/@{key} = {getattr(r, key)!r} differs from "
                    f"{first.name}'s {getattr(first, key)!r}; replicas must declare one truncated model"
                )
        if r.scheme != first.scheme:
            raise VerifyInputError(
                f"run file {r.name}: /truncation/@scheme = {r.scheme!r} differs from {first.name}'s {first.scheme!r}; "
                "replicas must declare one truncated model"
            )
    seen: dict[tuple, str] = {}
    for r in runs:
        if r.seed_key is not None:
            if r.seed_key in seen:
                raise VerifyInputError(
                    f"run files {seen[r.seed_key]} and {r.name} record the same seed (/rng): they are not "
                    "independent replicas"
                )
            seen[r.seed_key] = r.name
    names = [Path(r.name).resolve() if Path(r.name).exists() else r.name for r in runs]
    if len(set(map(str, names))) != len(names):
        raise VerifyInputError("the same run file is given twice: replicas must be independent")
