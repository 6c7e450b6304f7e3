"""What the battery reads: one replica's trajectory, from a run file or straight from a simulation.

:class:`RunData` holds exactly the items of a run file (docs/formats.md) that the checks
use.  :func:`load_runs` opens run files with the reference reader
(:class:`trsp_runfile.runfile.RunFile`, which has no Numba dependency), runs its bit-exact
consistency check, and checks that the replicas belong together (same parameters, same
truncation, different seeds).  Everything that makes the input unusable raises
:class:`VerifyInputError` (exit status 2), naming the file and the problem.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from trsp_ref.params import ParameterError, Params, params_to_dict

__all__ = ["RunData", "VerifyInputError", "load_runs", "check_replicas"]


class VerifyInputError(ValueError):
    """Input the battery cannot use (unreadable, inconsistent or mismatched run files)."""


@dataclass(frozen=True, eq=False)
class RunData:
    """One replica.

    name            : the file name (or "replica k" for an in-memory simulation)
    params          : the declared parameter set
    kick_radius, precision_radius : the declared truncation (inf = exact model)
    S0, t0          : initial state and time
    t_end           : end of the observation window (/checkpoint@observed_until)
    times, clusters : the events
    change_offsets, change_sites, before, after : the site changes ("full" runs) or None
    snapshot_times, snapshot_S : snapshots (may be empty)
    seed_key        : (entropy, spawn_key) when recorded, else None
    implementation  : who wrote the events
    """

    name: str
    params: Params
    kick_radius: float
    precision_radius: float
    S0: np.ndarray
    t0: float
    t_end: float
    times: np.ndarray
    clusters: np.ndarray
    change_offsets: np.ndarray | None = None
    change_sites: np.ndarray | None = None
    before: np.ndarray | None = None
    after: np.ndarray | None = None
    snapshot_times: np.ndarray = field(default_factory=lambda: np.zeros(0))
    snapshot_S: np.ndarray | None = None
    seed_key: tuple | None = None
    implementation: str = "unknown"
    precision_scheme: str = "cut"

    @property
    def n_events(self) -> int:
        return int(self.times.shape[0])

    @property
    def full(self) -> bool:
        """Every site change recorded, so the state is known at every time."""
        return self.change_offsets is not None

    @property
    def N(self) -> int:
        return self.params.N

    @classmethod
    def from_runfile(cls, path: str | Path) -> "RunData":
        """Open, structurally validate and replay-check a run file (raises TrspFileError)."""
        from trsp_runfile.runfile import RunFile

        run = RunFile.open(path)
        run.check()  # before/after, snapshots and checkpoint consistent bit for bit
        ev = run.events
        snaps = run.snapshots
        seed = None
        if run.seed is not None and run.seed.entropy is not None:
            seed = (run.seed.entropy, tuple(run.seed.spawn_key))
        return cls(
            name=str(path),
            params=run.params,
            kick_radius=float(run.truncation.kick_radius),
            precision_radius=float(run.truncation.precision_radius),
            precision_scheme=run.truncation.scheme,
            S0=run.S0,
            t0=float(run.t0),
            t_end=float(run.checkpoint.observed_until),
            times=ev.time,
            clusters=ev.cluster,
            change_offsets=ev.change_offsets,
            change_sites=ev.change_sites,
            before=ev.before,
            after=ev.after,
            snapshot_times=snaps.time,
            snapshot_S=snaps.S if len(snaps) else None,
            seed_key=seed,
            implementation=f"{run.implementation.name} {run.implementation.version}",
        )


def load_runs(paths: list[Path]) -> list[RunData]:
    """Read every run file; any problem is a VerifyInputError naming the file."""
    from trsp_runfile.runfile import TrspFileError

    runs = []
    for path in paths:
        try:
            runs.append(RunData.from_runfile(path))
        except TrspFileError as exc:
            raise VerifyInputError(str(exc)) from None
        except ParameterError as exc:
            raise VerifyInputError(f"run file {path}: {exc}") from None
    check_replicas(runs)
    return runs


def _same_float(a: float, b: float) -> bool:
    return (math.isinf(a) and math.isinf(b)) or a == b


def check_replicas(runs: list[RunData]) -> None:
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
        for key in ("kick_radius", "precision_radius", "precision_scheme"):
            a, b = getattr(r, key), getattr(first, key)
            if not (a == b if isinstance(a, str) else _same_float(a, b)):
                raise VerifyInputError(
                    f"run file {r.name}: /truncation/@{key.replace('precision_', '')} = {getattr(r, key)!r} differs from "
                    f"{first.name}'s {getattr(first, key)!r}; replicas must declare one truncated model"
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
