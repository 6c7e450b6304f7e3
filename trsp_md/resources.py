"""Disk and memory the run needs, estimated (and checked) before any work.

Disk: every frame holds, per particle, float32 thermal and inherent positions and int32 thermal
and inherent images (4 x 12 bytes), plus about 1 KB of box, step and log chunks and index;
frame 0 adds the typeids and the provenance.  The writer keeps a work copy of the trajectory
beside it (docs/formats-trajectory.md), so twice the file must fit; the checkpoint adds 60
bytes per particle.

Memory: two LAMMPS instances (dynamics and minimiser), each with its per-atom arrays, ghost
atoms and half neighbour list (bounded above by 4 KB per particle for the KA liquid at density
1.2, measured 1-2 KB), plus about 60 MB of library and Python; the frames of one checkpoint
interval are not held in memory.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from trsp_ref.params import ParameterError
from trsp_runfile.resources import available_memory, check_memory, gb as _gb

from .params import MdParams

__all__ = ["Estimate", "estimate", "check_resources", "BYTES_PER_PARTICLE_FRAME"]

BYTES_PER_PARTICLE_FRAME = 4 * 12
_FRAME_OVERHEAD = 1024
_MEMORY_PER_PARTICLE = 2 * 4096
_MEMORY_BASE = 60 * 2**20


@dataclass(frozen=True)
class Estimate:
    frames: int
    trajectory_bytes: int
    disk_bytes: int
    memory_bytes: int


def total_frames(p: MdParams) -> int:
    """Frames at t = 0, frame_interval, ..., production_time."""
    return int(round(p.protocol.production_time / p.protocol.frame_interval)) + 1


def estimate(p: MdParams, frames_done: int = 0) -> Estimate:
    N = p.system.n_particles
    frames = total_frames(p)
    traj = frames * (N * BYTES_PER_PARTICLE_FRAME + _FRAME_OVERHEAD) + N * 4 + 4096
    left = max(frames - frames_done, 0) * (N * BYTES_PER_PARTICLE_FRAME + _FRAME_OVERHEAD)
    disk = traj + left + 60 * N
    return Estimate(frames, traj, disk, _MEMORY_BASE + N * _MEMORY_PER_PARTICLE)


def check_resources(p: MdParams, out: Path, frames_done: int = 0, *, free_disk: int | None = None,
                    free_memory: int | None = None) -> Estimate:
    """The estimate; ParameterError naming the parameter to change when it does not fit."""
    est = estimate(p, frames_done)
    folder = out.parent if str(out.parent) else Path(".")
    if free_disk is None:
        try:
            free_disk = shutil.disk_usage(folder).free
        except OSError:  # pragma: no cover
            free_disk = None
    existing = out.stat().st_size if out.exists() else 0
    if free_disk is not None and est.disk_bytes - existing > free_disk:
        raise ParameterError(
            "protocol.production_time",
            f"{est.frames:,} frames of {p.system.n_particles:,} particles need about {_gb(est.disk_bytes)} on disk "
            f"(the trajectory and its work copy), more than the {_gb(free_disk)} free in {folder}; "
            "shorten the run or lengthen protocol.frame_interval",
            p.protocol.production_time,
        )
    check_memory(est.memory_bytes, "system.n_particles", f"{p.system.n_particles:,} particles (two LAMMPS instances)",
                 "choose fewer particles", available=free_memory)
    return est
