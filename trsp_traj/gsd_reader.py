"""GSD trajectories (HOOMD schema), read with ``gsd.fl``: `trsp md`'s files and anyone else's.

What is read (a chunk missing from a frame falls back to frame 0, then to the schema's default,
as HOOMD's own reader does):

- ``configuration/box`` (fixed, orthorhombic), ``configuration/dimensions`` (2 or 3; a box with
  Lz = 0 is 2D), ``configuration/step``;
- ``particles/N``, ``particles/types``, ``particles/typeid``, ``particles/position`` (HOOMD
  convention: wrapped into [-L/2, L/2)), ``particles/image``;
- ``log/trsp/time`` (the frame's simulated time) and ``log/trsp/temperature`` when present
  (`trsp md`, docs/formats-trajectory.md); otherwise time = step x dt with dt given, and the
  temperature given;
- ``log/particles/inherent_position`` and ``log/particles/inherent_image``: the inherent state.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from trsp_traj.base import Frame, Trajectory, TrajectoryError, check_box, check_times, times_from_steps, wrap

__all__ = ["GSDTrajectory", "LOG_TIME", "LOG_TEMPERATURE", "LOG_INHERENT", "LOG_INHERENT_IMAGE"]

LOG_TIME = "log/trsp/time"
LOG_TEMPERATURE = "log/trsp/temperature"
LOG_INHERENT = "log/particles/inherent_position"
LOG_INHERENT_IMAGE = "log/particles/inherent_image"

_DEFAULT_BOX = np.array([1.0, 1.0, 1.0, 0.0, 0.0, 0.0])


class GSDTrajectory(Trajectory):
    """A GSD file (HOOMD schema) as a :class:`~trsp_traj.base.Trajectory`."""

    format = "gsd"

    def __init__(self, path: Path, *, dt: float | None = None, temperature: float | None = None):
        import gsd.fl

        path = Path(path)
        try:
            self._f = gsd.fl.open(str(path), "r")
        except Exception as exc:  # gsd raises RuntimeError/OSError with its own words
            raise TrajectoryError(path, f"cannot be read as a GSD file ({' '.join(str(exc).split())})") from None
        try:
            self._setup(path, dt, temperature)
        except BaseException:
            self._f.close()
            raise

    def _setup(self, path: Path, dt: float | None, temperature: float | None) -> None:
        f = self._f
        if f.schema != "hoomd":
            raise TrajectoryError(path, f"is a GSD file of schema {f.schema!r}, not a HOOMD trajectory", "schema")
        K = int(f.nframes)
        if K < 1:
            raise TrajectoryError(path, "holds no frames")
        self._path = path
        N = int(self._chunk(0, "particles/N", np.array([0]))[0])
        if N < 1:
            raise TrajectoryError(path, "holds no particles", "particles/N")
        dims = int(self._chunk(0, "configuration/dimensions", np.array([0]))[0])
        box0 = np.asarray(self._chunk(0, "configuration/box", _DEFAULT_BOX), dtype=np.float64)
        if dims == 0:  # not stored: HOOMD's rule, a box with Lz = 0 is two-dimensional
            dims = 2 if box0[2] == 0 else 3
        if dims not in (2, 3):
            raise TrajectoryError(path, f"dimensions must be 2 or 3, got {dims}", "configuration/dimensions")
        boxes = np.empty((K, 6))
        steps = np.empty(K, dtype=np.int64)
        for k in range(K):
            n = int(self._chunk(k, "particles/N", np.array([N]))[0])
            if n != N:
                raise TrajectoryError(path, f"the number of particles changes (frame 0: {N}, frame {k}: {n})", "particles/N")
            boxes[k] = self._chunk(k, "configuration/box", _DEFAULT_BOX)
            steps[k] = int(self._chunk(k, "configuration/step", np.array([0]))[0])
        box = check_box(path, boxes, dims)
        types = self._chunk(0, "particles/types", None)
        type_names = ["A"] if types is None else [bytes(row).rstrip(b"\0").decode("utf-8", "replace") for row in np.atleast_2d(types)]
        typeid = np.asarray(self._chunk(0, "particles/typeid", np.zeros(N, np.uint32)), dtype=np.int64)
        if typeid.shape != (N,) or np.any(typeid < 0) or np.any(typeid >= len(type_names)):
            raise TrajectoryError(path, f"type ids must be in [0, {len(type_names)}) for the {len(type_names)} type names", "particles/typeid")
        for k in range(1, K):
            if f.chunk_exists(k, "particles/typeid") and not np.array_equal(f.read_chunk(k, "particles/typeid"), typeid):
                raise TrajectoryError(path, f"particle types change in frame {k}", "particles/typeid")
        has_time = all(self._has(k, LOG_TIME) for k in range(K))
        if has_time:
            time = np.array([float(self._chunk(k, LOG_TIME, None)[0]) for k in range(K)])
            source = f"{LOG_TIME}"
        else:
            time, source = times_from_steps(path, steps, dt, "configuration/step")
        time = check_times(path, time, LOG_TIME if has_time else "configuration/step")
        temp = None
        if self._has(0, LOG_TEMPERATURE):
            temp = float(np.asarray(self._chunk(0, LOG_TEMPERATURE, None)).ravel()[0])
        if temp is None:
            temp = temperature
        if temp is not None and not (math.isfinite(temp) and temp > 0):
            raise TrajectoryError(path, f"the temperature must be finite and > 0 (got {temp})", LOG_TEMPERATURE)
        has_inherent = all(self._has(k, LOG_INHERENT) for k in range(K))
        super().__init__(path, box=box, type_names=type_names, typeid=typeid, time=time, time_source=source,
                         temperature=temp, has_inherent=has_inherent)
        self._box3 = boxes[0, :3]

    def _has(self, k: int, name: str) -> bool:
        return bool(self._f.chunk_exists(k, name) or self._f.chunk_exists(0, name))

    def _chunk(self, k: int, name: str, default):
        f = self._f
        if f.chunk_exists(k, name):
            return f.read_chunk(k, name)
        if k != 0 and f.chunk_exists(0, name):
            return f.read_chunk(0, name)
        return default

    def _positions(self, k: int, name: str, image_name: str) -> tuple[np.ndarray, np.ndarray | None]:
        d = self.dim
        raw = self._chunk(k, name, None)
        if raw is None:
            raise self.fail(f"frame {k} has no {name}", name)
        raw = np.asarray(raw, dtype=np.float64)
        if raw.shape != (self.n_particles, 3):
            raise self.fail(f"has shape {raw.shape} in frame {k}, expected ({self.n_particles}, 3)", name)
        img = self._chunk(k, image_name, None)
        pos = raw[:, :d] + 0.5 * self.box  # HOOMD stores [-L/2, L/2): shift to [0, L)
        if img is not None:
            img = np.asarray(img, dtype=np.int64).reshape(self.n_particles, 3)[:, :d]
        if np.all(np.isfinite(pos)):
            # fold stragglers back (a file may hold positions a hair outside the box); keep the
            # unwrapped position unchanged by correcting the image flags the same way
            folded = wrap(pos, self.box)
            if img is not None:
                img = img + np.rint((pos - folded) / self.box).astype(np.int64)
            pos = folded
        return pos, img

    def _read(self, k: int) -> Frame:
        pos, img = self._positions(k, "particles/position", "particles/image")
        if self.has_inherent:
            ipos, iimg = self._positions(k, LOG_INHERENT, LOG_INHERENT_IMAGE)
        else:
            ipos = iimg = None
        return Frame(position=pos, image=img, inherent=ipos, inherent_image=iimg)

    def close(self) -> None:
        f = getattr(self, "_f", None)
        if f is not None:
            f.close()
            self._f = None
