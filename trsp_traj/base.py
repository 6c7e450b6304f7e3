"""The one interface every trajectory reader serves (:class:`Trajectory`) and the checks they share.

A reader turns a file into :class:`Trajectory`: frames at equally spaced times in one fixed,
orthorhombic, periodic box of ``dim`` = 2 or 3 dimensions, N particles of named types, and per
frame the thermal positions and, when the file has them, the inherent-state positions (the
local energy minimum the frame quenches to).  Positions are given wrapped into ``[0, L)`` (the
convention of the particle-data format, docs/formats-particles.md) or unwrapped (continuous in
time, for p_hop), whatever the file stored (image flags, unwrapped coordinates, or neither: then
the motion between consecutive frames is taken to be shorter than half a box length).

Every problem with a file is a :class:`TrajectoryError` naming the file and the item, printed by
the CLI as one line with exit status 2 (house rule 4).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from trsp_runfile.runfile import LabelledFileError

__all__ = [
    "TrajectoryError",
    "Frame",
    "Trajectory",
    "check_box",
    "check_times",
    "check_positions",
    "SPACING_RTOL",
]

#: frame times count as equally spaced when every interval is within this relative tolerance of
#: the first (times are often stored as float32 or computed as step x dt)
SPACING_RTOL = 1e-5


class TrajectoryError(LabelledFileError):
    """A trajectory file that cannot be used, with what is wrong and where."""

    label = "trajectory"


@dataclass
class Frame:
    """One frame as stored: positions wrapped into [0, L) (N, dim), image flags (N, dim) int64 or
    None, and the same for the inherent state (None when the file has none)."""

    position: np.ndarray
    image: np.ndarray | None
    inherent: np.ndarray | None = None
    inherent_image: np.ndarray | None = None


class Trajectory:
    """A checked trajectory (open one with :func:`trsp_traj.open_trajectory`).

    Attributes
    ----------
    path : Path
    format : str
        ``"gsd"`` or ``"lammps-dump"``.
    n_frames, n_particles, dim : int
    box : ndarray (dim,)
        The box lengths (fixed for the whole trajectory; the box spans [0, L) per axis).
    type_names : tuple of str
        Name of each type id (from the file).
    typeid : ndarray (N,) int64
    time : ndarray (K,) float64
        Frame times (equally spaced, strictly increasing).
    time_source : str
        Where the times come from, in words (recorded in provenance).
    temperature : float or None
        From the file, else the value given when opening, else None.
    has_inherent : bool
        True when every frame stores inherent-state positions.
    """

    format: str = "?"

    def __init__(self, path: Path, *, box: np.ndarray, type_names: Sequence[str], typeid: np.ndarray,
                 time: np.ndarray, time_source: str, temperature: float | None, has_inherent: bool):
        self.path = Path(path)
        self.box = np.asarray(box, dtype=np.float64)
        self.dim = int(self.box.shape[0])
        self.type_names = tuple(str(t) for t in type_names)
        self.typeid = np.asarray(typeid, dtype=np.int64)
        self.n_particles = int(self.typeid.shape[0])
        self.time = np.asarray(time, dtype=np.float64)
        self.n_frames = int(self.time.shape[0])
        self.time_source = time_source
        self.temperature = temperature
        self.has_inherent = bool(has_inherent)

    # -- what a reader provides -------------------------------------------------------------
    def _read(self, k: int) -> Frame:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:
        """Release the file (readers with an open handle override this)."""

    def __enter__(self) -> "Trajectory":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- shared ------------------------------------------------------------------------------
    @property
    def frame_interval(self) -> float:
        """The (equal) time between consecutive frames."""
        return float(self.time[1] - self.time[0]) if self.n_frames > 1 else float("nan")

    def fail(self, problem: str, where: str | None = None) -> TrajectoryError:
        return TrajectoryError(self.path, problem, where)

    def frame(self, k: int) -> Frame:
        """Frame ``k`` as stored, with its positions checked (finite, inside the box)."""
        if not 0 <= k < self.n_frames:
            raise IndexError(k)
        fr = self._read(k)
        check_positions(self, fr.position, k, "position")
        if fr.inherent is not None:
            check_positions(self, fr.inherent, k, "inherent position")
        return fr

    def positions(self, k: int, *, inherent: bool = False) -> np.ndarray:
        """Positions of frame ``k`` wrapped into [0, L), (N, dim): thermal, or the inherent state."""
        fr = self.frame(k)
        if inherent:
            if fr.inherent is None:
                raise self.fail("has no inherent-state positions", f"frame {k}")
            return fr.inherent
        return fr.position

    def iter_unwrapped(self, *, inherent: bool = False, start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
        """Positions continuous in time, (N, dim) per frame, for frames ``start..stop-1``.

        With image flags: position + image x L.  Without: each frame is placed at the minimum-image
        displacement from the previous one (the motion between frames must be below L/2).  In both
        cases a displacement of L/2 or more between consecutive frames is an error (the frames are
        too far apart, or the image flags are inconsistent), so p_hop never sees a spurious jump.
        """
        stop = self.n_frames if stop is None else stop
        prev = None
        half = 0.5 * self.box
        for k in range(start, stop):
            fr = self.frame(k)
            pos, img = (fr.inherent, fr.inherent_image) if inherent else (fr.position, fr.image)
            if pos is None:
                raise self.fail("has no inherent-state positions", f"frame {k}")
            if img is not None:
                cur = pos + img * self.box
            elif prev is None:
                cur = pos.copy()
            else:
                step = pos - prev
                step -= self.box * np.round(step / self.box)
                cur = prev + step
            if prev is not None:
                jump = np.abs(cur - prev)
                if np.any(jump >= half):
                    i = int(np.argmax(np.max(jump / half, axis=1)))
                    what = "image flags are inconsistent or " if img is not None else ""
                    raise self.fail(
                        f"particle {i} moves by half a box length or more between frames {k - 1} and {k} "
                        f"({what}the frames are too far apart to follow particles)", f"frame {k}")
            prev = cur
            yield cur


def check_box(path: Path, boxes: np.ndarray, dim: int, periodic: Sequence[bool] | None = None) -> np.ndarray:
    """The fixed box lengths (dim,) of a trajectory, or a TrajectoryError.

    ``boxes`` is (K, 6): Lx, Ly, Lz, xy, xz, yz per frame (HOOMD's box; LAMMPS readers convert).
    The box must be orthorhombic (tilts 0), periodic in every direction (``periodic``, when the
    format records it), the same in every frame, with finite lengths > 0 in the first ``dim``
    directions.
    """
    boxes = np.asarray(boxes, dtype=np.float64)
    if periodic is not None and not all(periodic[:dim]):
        axes = "".join(a for a, p in zip("xyz", periodic[:dim]) if not p)
        raise TrajectoryError(path, f"the box is not periodic along {axes}: softness needs a periodic box", "box")
    if not np.all(np.isfinite(boxes)):
        raise TrajectoryError(path, "box lengths must be finite", "box")
    if np.any(boxes[:, 3:] != 0):
        k = int(np.argmax(np.any(boxes[:, 3:] != 0, axis=1)))
        raise TrajectoryError(path, f"a tilted (triclinic) box is not supported (tilt factors {boxes[k, 3:].tolist()} in frame {k})", "box")
    L = boxes[:, :dim]
    if np.any(L <= 0):
        raise TrajectoryError(path, f"box lengths must be > 0, got {L[np.argmax(np.any(L <= 0, axis=1))].tolist()}", "box")
    changed = np.any(np.abs(L - L[0]) > 1e-9 * np.abs(L[0]), axis=1)
    if np.any(changed):
        k = int(np.argmax(changed))
        raise TrajectoryError(
            path, f"the box changes during the trajectory (frame 0: {L[0].tolist()}, frame {k}: {L[k].tolist()}); "
                  "softness needs a fixed box (NVE/NVT)", "box")
    return L[0].copy()


def check_times(path: Path, time: np.ndarray, where: str) -> np.ndarray:
    """Frame times: finite, strictly increasing, equally spaced (relative tolerance SPACING_RTOL)."""
    time = np.asarray(time, dtype=np.float64)
    if time.shape[0] < 2:
        raise TrajectoryError(path, f"needs at least 2 frames, has {time.shape[0]}", where)
    dt = np.diff(time)
    if not np.all(np.isfinite(time)) or np.any(dt <= 0):
        raise TrajectoryError(path, "frame times must be finite and strictly increasing", where)
    bad = np.abs(dt - dt[0]) > SPACING_RTOL * dt[0]
    if np.any(bad):
        k = int(np.argmax(bad))
        raise TrajectoryError(
            path, f"frames are not equally spaced in time (interval {k} is {dt[k]:.6g}, interval 0 is {dt[0]:.6g}); "
                  "p_hop's window needs equal spacing", where)
    return time


def check_positions(traj: Trajectory, pos: np.ndarray, k: int, what: str) -> None:
    """Finite positions of the right shape (NaN is the usual sign of a blown-up integration)."""
    if pos.shape != (traj.n_particles, traj.dim):
        raise traj.fail(f"{what}s have shape {pos.shape}, expected ({traj.n_particles}, {traj.dim})", f"frame {k}")
    if not np.all(np.isfinite(pos)):
        i = int(np.argmax(~np.all(np.isfinite(pos), axis=1)))
        raise traj.fail(f"{what} of particle {i} is not finite (NaN or infinite)", f"frame {k}")


def wrap(pos: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Positions folded into [0, L) per axis (a value that rounds to L is set to 0)."""
    out = np.mod(pos, box)
    out[out >= box] = 0.0
    return out


def times_from_steps(path: Path, steps: np.ndarray, dt: float | None, where: str) -> tuple[np.ndarray, str]:
    """Frame times as step x dt (files that record no time), with the words for provenance."""
    if dt is None:
        raise TrajectoryError(path, "records no frame times: give the MD time step with --dt (time = step x dt)", where)
    if not (math.isfinite(dt) and dt > 0):
        raise TrajectoryError(path, f"--dt must be finite and > 0 (got {dt})", where)
    return np.asarray(steps, dtype=np.float64) * dt, f"step x dt (dt = {dt:g}, given)"
