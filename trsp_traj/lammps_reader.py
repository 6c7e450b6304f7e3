"""LAMMPS text dump files (``dump ... atom`` / ``custom``), read through MDAnalysis.

The frame headers (time steps, box bounds and their periodicity flags, the atom columns) are
scanned here first, so that a file with a non-periodic or changing box, unequal frame spacing or
no type column is refused before any coordinates are read.  MDAnalysis then reads the
coordinates (``x y z``, scaled ``xs ys zs``, unwrapped ``xu yu zu`` or ``xsu ysu zsu``, sorted by
atom id) and the types (``type`` column; type ids follow the type names in natural order:
``1 < 2 < 10``).  Image flags (``ix iy iz``) or unwrapped coordinates give continuous positions
for p_hop; without either, particles are followed by the minimum image between frames.

LAMMPS dumps record neither the time step nor the temperature: time = step x dt with dt given
(``--dt``), temperature given (``--temperature``).  Nor the dimension: a dump whose z
coordinates are all equal in the first frame is two-dimensional.  Dumps hold no inherent
states, so p_hop is computed on thermal positions (said in every output's provenance).
MDAnalysis stores coordinates in single precision (a relative 6e-8).
"""

from __future__ import annotations

import itertools
import math
import re
import warnings
from pathlib import Path

import numpy as np

from trsp_traj.base import Frame, Trajectory, TrajectoryError, check_box, check_times, times_from_steps, wrap

__all__ = ["LammpsDumpTrajectory", "scan_dump_headers"]

_COORDS = {
    "unscaled": ("x", "y", "z"),
    "scaled": ("xs", "ys", "zs"),
    "unwrapped": ("xu", "yu", "zu"),
    "scaled_unwrapped": ("xsu", "ysu", "zsu"),
}


def _natural_key(name: str):
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]


def scan_dump_headers(path: Path) -> dict:
    """Time steps, boxes (K, 6: Lx Ly Lz xy xz yz), periodicity flags and atom columns of a dump.

    Raises TrajectoryError for a file that is not a LAMMPS dump or is cut short."""
    steps, boxes = [], []
    flags = columns = None
    n_atoms = None
    with open(path, "r", encoding="utf-8", errors="replace") as f:
        while True:
            line = f.readline()
            if not line:
                break
            if not line.strip():
                continue
            k = len(steps)
            try:
                if not line.startswith("ITEM: TIMESTEP"):
                    raise ValueError("expected 'ITEM: TIMESTEP'")
                step = int(f.readline().split()[0])
                if not f.readline().startswith("ITEM: NUMBER OF ATOMS"):
                    raise ValueError("expected 'ITEM: NUMBER OF ATOMS'")
                n = int(f.readline().split()[0])
                head = f.readline()
                if not head.startswith("ITEM: BOX BOUNDS"):
                    raise ValueError("expected 'ITEM: BOX BOUNDS'")
                words = head.split()[3:]
                tilted = len(words) >= 3 and words[0] == "xy"
                fl = words[3:] if tilted else words
                bounds = [[float(v) for v in f.readline().split()] for _ in range(3)]
                atoms = f.readline()
                if not atoms.startswith("ITEM: ATOMS"):
                    raise ValueError("expected 'ITEM: ATOMS'")
                cols = atoms.split()[2:]
                body = list(itertools.islice(f, n))
                if len(body) < n:
                    raise ValueError(f"the frame is cut short ({len(body)} of {n} atom lines)")
            except (ValueError, IndexError) as exc:
                raise TrajectoryError(path, f"is not a readable LAMMPS dump at frame {k} ({exc})") from None
            if n_atoms is None:
                n_atoms, flags, columns = n, fl, cols
            elif n != n_atoms:
                raise TrajectoryError(path, f"the number of atoms changes (frame 0: {n_atoms}, frame {k}: {n})", "NUMBER OF ATOMS")
            elif cols != columns:
                raise TrajectoryError(path, f"the atom columns change in frame {k}", "ATOMS")
            if tilted:
                (xlo, xhi, xy), (ylo, yhi, xz), (zlo, zhi, yz) = bounds
                boxes.append([xhi - xlo - max(0.0, xy, xz, xy + xz) + min(0.0, xy, xz, xy + xz),
                              yhi - ylo - max(0.0, yz) + min(0.0, yz), zhi - zlo, xy, xz, yz])
            else:
                (xlo, xhi), (ylo, yhi), (zlo, zhi) = [b[:2] for b in bounds]
                boxes.append([xhi - xlo, yhi - ylo, zhi - zlo, 0.0, 0.0, 0.0])
            steps.append(step)
    if not steps:
        raise TrajectoryError(path, "holds no frames")
    periodic = [len(fl_) >= 2 and fl_[:2] == "pp" for fl_ in (flags or [])] if flags else None
    return {"steps": np.array(steps, dtype=np.int64), "boxes": np.array(boxes), "periodic": periodic,
            "columns": columns, "n_atoms": n_atoms, "flags": flags}


class LammpsDumpTrajectory(Trajectory):
    """A LAMMPS text dump as a :class:`~trsp_traj.base.Trajectory` (coordinates through MDAnalysis)."""

    format = "lammps-dump"

    def __init__(self, path: Path, *, dt: float | None = None, temperature: float | None = None):
        path = Path(path)
        head = scan_dump_headers(path)
        cols = head["columns"]
        if "type" not in cols:
            raise TrajectoryError(path, "has no 'type' column: particle types must come from the file", "ATOMS")
        convention = next((c for c, names in _COORDS.items() if all(n in cols for n in names)), None)
        if convention is None:
            raise TrajectoryError(path, "has no coordinate columns (x y z, xs ys zs, xu yu zu or xsu ysu zsu)", "ATOMS")
        self._images = all(c in cols for c in ("ix", "iy", "iz")) and not convention.endswith("unwrapped")
        self._unwrapped = convention.endswith("unwrapped")
        try:
            import MDAnalysis as mda

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # MDAnalysis warns about guessed masses, missing dt, ...
                self._u = mda.Universe(str(path), format="LAMMPSDUMP", topology_format="LAMMPSDUMP",
                                       lammps_coordinate_convention=convention, unwrap_images=self._images,
                                       dt=1.0 if dt is None else dt)
        except Exception as exc:
            raise TrajectoryError(path, f"MDAnalysis cannot read it ({' '.join(str(exc).split())[:200]})") from None
        names = [str(t) for t in self._u.atoms.types]
        type_names = sorted(set(names), key=_natural_key)
        typeid = np.array([type_names.index(t) for t in names], dtype=np.int64)
        ts = self._u.trajectory[0]
        z = np.asarray(ts.positions[:, 2], dtype=np.float64)
        dim = 2 if head["n_atoms"] > 1 and np.ptp(z) == 0 else 3
        box = check_box(path, head["boxes"], dim, head["periodic"])
        time, source = times_from_steps(path, head["steps"], dt, "TIMESTEP")
        time = check_times(path, time, "TIMESTEP")
        if temperature is not None and not (math.isfinite(temperature) and temperature > 0):
            raise TrajectoryError(path, f"--temperature must be finite and > 0 (got {temperature})")
        super().__init__(path, box=box, type_names=type_names, typeid=typeid, time=time, time_source=source,
                         temperature=temperature, has_inherent=False)
        self.coordinate_convention = convention

    def _read(self, k: int) -> Frame:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ts = self._u.trajectory[k]
        raw = np.asarray(ts.positions, dtype=np.float64)[:, : self.dim]
        if not np.all(np.isfinite(raw)):
            return Frame(position=raw, image=None)  # refused by Trajectory.frame, naming the particle
        pos = wrap(raw, self.box)
        img = None
        if self._images or self._unwrapped:
            img = np.rint((raw - pos) / self.box).astype(np.int64)
        return Frame(position=pos, image=img)

    def close(self) -> None:
        u = getattr(self, "_u", None)
        if u is not None:
            u.trajectory.close()
            self._u = None
