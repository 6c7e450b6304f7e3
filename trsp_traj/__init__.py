"""Particle trajectories behind one interface: GSD (HOOMD schema) and LAMMPS dumps.

:func:`open_trajectory` detects the format from the file's content (not its name), opens it with
the right reader and checks it; every reader returns a :class:`Trajectory`
(:mod:`trsp_traj.base`): fixed periodic box, equally spaced frame times, named types, thermal
and (GSD from `trsp md`) inherent-state positions.  Every problem is a :class:`TrajectoryError`
(one line, exit status 2 from the CLI).
"""

from __future__ import annotations

import os
from pathlib import Path

from trsp_traj.base import Frame, Trajectory, TrajectoryError

__all__ = ["Frame", "Trajectory", "TrajectoryError", "FORMATS", "detect_format", "open_trajectory"]

#: the formats :func:`open_trajectory` reads
FORMATS = ("gsd", "lammps-dump")
#: a GSD file's first 8 bytes (the uint64 0x65DF65DF65DF65DF, little endian)
GSD_MAGIC = bytes.fromhex("df65df65df65df65")


def detect_format(path: str | os.PathLike) -> str:
    """``"gsd"`` or ``"lammps-dump"`` from the first bytes of the file, else a TrajectoryError."""
    path = Path(path)
    if not path.exists():
        raise TrajectoryError(path, "no such file")
    if path.is_dir():
        raise TrajectoryError(path, "is a directory, not a trajectory file")
    try:
        with open(path, "rb") as f:
            head = f.read(64)
    except OSError as exc:
        raise TrajectoryError(path, f"cannot be read ({exc.strerror or exc})") from None
    if head[:8] == GSD_MAGIC:
        return "gsd"
    if head.lstrip().startswith(b"ITEM: TIMESTEP"):
        return "lammps-dump"
    if not head:
        raise TrajectoryError(path, "is empty")
    raise TrajectoryError(path, f"unknown file format: not GSD (HOOMD) or a LAMMPS text dump (readable formats: {', '.join(FORMATS)})")


def open_trajectory(path: str | os.PathLike, *, dt: float | None = None, temperature: float | None = None) -> Trajectory:
    """Open and check a trajectory file.

    ``dt`` (the MD time step) turns stored steps into times for files that record no times (LAMMPS
    dumps, other people's GSD files); ``temperature`` is used where the file records none.
    """
    path = Path(path)
    fmt = detect_format(path)
    if fmt == "gsd":
        from trsp_traj.gsd_reader import GSDTrajectory

        return GSDTrajectory(path, dt=dt, temperature=temperature)
    from trsp_traj.lammps_reader import LammpsDumpTrajectory

    return LammpsDumpTrajectory(path, dt=dt, temperature=temperature)
