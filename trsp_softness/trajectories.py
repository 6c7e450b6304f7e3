"""What training and applying both do with a trajectory: open it, pick the particles and the
position kind, and compute p_hop (:mod:`trsp_softness.p_hop`) on it, with a progress bar."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Sequence

import numpy as np

from trsp_ref.params import ParameterError
from trsp_softness.p_hop import half_window, p_hop_stream
from trsp_traj import Trajectory, TrajectoryError, open_trajectory

__all__ = ["open_all", "position_kind", "select_types", "trajectory_p_hop", "progress_bar", "note", "check_frames"]


def note(message: str) -> None:
    """One ``trsp softness: note:`` line on stderr."""
    print(f"trsp softness: note: {message}", file=sys.stderr)


@contextlib.contextmanager
def progress_bar(enabled: bool, total: int, what: str):
    """A rich progress bar on stderr; yields ``advance(n=1)``."""
    if not enabled or total <= 0:
        yield lambda n=1: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    with Progress(TextColumn(f"[bold]{what}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
                  console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task(what, total=total)
        yield lambda n=1: bar.update(task, advance=n)


def open_all(paths: Sequence[Path], *, dt: float | None, temperature: float | None,
             type_names: Sequence[str] | None) -> list[Trajectory]:
    """Open and check every trajectory before any work; ``type_names`` renames the types (in
    type-id order), e.g. a LAMMPS dump's '1', '2' to 'A', 'B'."""
    out = []
    try:
        for p in paths:
            t = open_trajectory(p, dt=dt, temperature=temperature)
            out.append(t)
            if type_names is not None:
                if len(type_names) != len(t.type_names):
                    raise ParameterError("--type-names", f"gives {len(type_names)} names but {p} has {len(t.type_names)} "
                                                         f"types {list(t.type_names)}")
                t.type_names = tuple(type_names)
    except BaseException:
        for t in out:
            t.close()
        raise
    return out


def position_kind(traj: Trajectory, requested: str) -> str:
    """'inherent' or 'thermal' for ``requested`` in (auto, inherent, thermal)."""
    if requested not in ("auto", "inherent", "thermal"):
        raise ParameterError("--positions", "must be 'auto', 'inherent' or 'thermal'", requested)
    if requested == "inherent" and not traj.has_inherent:
        raise TrajectoryError(traj.path, "has no inherent-state positions (--positions inherent); use --positions thermal")
    if requested == "auto":
        return "inherent" if traj.has_inherent else "thermal"
    return requested


def select_types(traj: Trajectory, names: Sequence[str]) -> np.ndarray:
    """Indices of the particles whose type name is in ``names``."""
    ids = [traj.type_names.index(n) for n in names if n in traj.type_names]
    return np.flatnonzero(np.isin(traj.typeid, ids))


def check_frames(traj: Trajectory, t_r: float) -> int:
    """h for window t_R, with enough frames for at least one p_hop value (K >= 2h)."""
    h = half_window(t_r, traj.frame_interval)
    if traj.n_frames < 2 * h:
        raise TrajectoryError(
            traj.path, f"too few frames for the p_hop window: {traj.n_frames} frames, need at least {2 * h} "
                       f"(t_R = {t_r:g} = 2 x {h} frames of dt = {traj.frame_interval:g})")
    return h


def trajectory_p_hop(traj: Trajectory, h: int, inherent: bool, particles: np.ndarray, progress: bool) -> np.ndarray:
    """p_hop (K - 2h + 1, n) of ``particles`` at frames h .. K - h."""
    rows = []
    with progress_bar(progress, traj.n_frames, f"p_hop {traj.path.name}") as advance:
        def frames():
            for pos in traj.iter_unwrapped(inherent=inherent):
                advance()
                yield pos[particles]

        for row in p_hop_stream(frames(), h):
            rows.append(row)
    return np.asarray(rows)
