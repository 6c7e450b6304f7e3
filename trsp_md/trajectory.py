"""The trajectory file: GSD, HOOMD schema (docs/formats-trajectory.md), written crash-safely.

One frame per saved time, readable by ``gsd.hoomd`` (and so by freud, OVITO, MDAnalysis):

- ``configuration/box`` = [L, L, L, 0, 0, 0], ``configuration/dimensions`` = 3,
  ``configuration/step`` = the MD step of the frame;
- ``particles/N``, ``particles/types`` = ['A', 'B'], ``particles/typeid``,
  ``particles/position`` (float32, wrapped into [-L/2, L/2)), ``particles/image`` (int32;
  unwrapped = position + image * L);
- ``log/trsp/time`` (float64 (1,)): the frame's simulated time since production began,
  exactly k * frame_interval; ``log/trsp/temperature`` (float64 (1,)): the target T;
- ``log/particles/inherent_position`` (float32 (N, 3), wrapped) and
  ``log/particles/inherent_image`` (int32 (N, 3)): the frame's inherent state;
- ``log/trsp/potential_energy``, ``log/trsp/kinetic_temperature``,
  ``log/trsp/inherent_energy``, ``log/trsp/inherent_force_norm`` (float64 (1,)) and
  ``log/trsp/inherent_iterations`` (int64 (1,)): energy conservation and minimisation quality;
- frame 0 only: ``log/trsp/provenance``, UTF-8 JSON as uint8 bytes (format name and version,
  parameters, seed, engine and version, trsp version).

Crash safety (the run-file protocol of :mod:`trsp_runfile.runfile`, for GSD): ``OUT`` is only ever
replaced, never modified, so it is at every moment a complete GSD file up to the last
checkpoint.  Frames are appended to a sibling *work file* ``OUT.work``; at a checkpoint the work
file is closed, fsync'ed and renamed over ``OUT``, and the version it displaced (kept alive by a
hard link ``OUT.prev``) becomes the next work file, brought up to date by copying the frames it
lacks.  ``OUT.lock`` (an ``flock``, :func:`run_lock`) keeps two jobs off one output.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path

import numpy as np

from trsp_runfile.atomic import current_umask, fsync_dir, fsync_file

__all__ = ["FORMAT", "FORMAT_VERSION", "wrap_positions", "make_frame", "TrajectoryWriter", "side_files", "frame_count",
           "read_provenance", "copy_frames", "run_lock"]

FORMAT = "trsp-md-trajectory"
FORMAT_VERSION = "1.0"

try:  # POSIX advisory locks
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]


def side_files(out: str | os.PathLike) -> dict[str, Path]:
    """The files beside ``OUT``: work, prev, lock and checkpoint."""
    out = Path(out)
    return {k: out.with_name(out.name + "." + k) for k in ("work", "prev", "lock", "checkpoint")}


def wrap_positions(unwrapped: np.ndarray, L: float) -> tuple[np.ndarray, np.ndarray]:
    """(float32 positions in [-L/2, L/2) as float32 compares them, int32 images) of unwrapped positions."""
    u = np.asarray(unwrapped, dtype=np.float64)
    image = np.floor((u + L / 2.0) / L)
    w = (u - image * L).astype(np.float32)
    half = np.float32(L) / np.float32(2.0)
    over = w >= half
    w[over] -= np.float32(L)
    image[over] += 1
    under = w < -half
    w[under] += np.float32(L)
    image[under] -= 1
    return w, image.astype(np.int32)


def make_frame(*, unwrapped: np.ndarray, inherent: np.ndarray, typeid: np.ndarray, L: float, step: int, time: float,
               temperature: float, logs: dict[str, float] | None = None, provenance: dict | None = None):
    """One ``gsd.hoomd.Frame`` of the trajectory contract (module docstring)."""
    import gsd.hoomd

    from .model import TYPES

    f = gsd.hoomd.Frame()
    f.configuration.box = [L, L, L, 0.0, 0.0, 0.0]
    f.configuration.dimensions = 3
    f.configuration.step = int(step)
    N = typeid.shape[0]
    f.particles.N = N
    f.particles.types = list(TYPES)
    f.particles.typeid = typeid.astype(np.uint32)
    f.particles.position, f.particles.image = wrap_positions(unwrapped, L)
    ip, ii = wrap_positions(inherent, L)
    f.log["particles/inherent_position"] = ip
    f.log["particles/inherent_image"] = ii
    f.log["trsp/time"] = np.array([time], dtype=np.float64)
    f.log["trsp/temperature"] = np.array([temperature], dtype=np.float64)
    for k, v in (logs or {}).items():
        f.log[f"trsp/{k}"] = np.array([v], dtype=np.int64 if isinstance(v, (int, np.integer)) else np.float64)
    if provenance is not None:
        f.log["trsp/provenance"] = np.frombuffer(json.dumps(provenance, sort_keys=True).encode("utf-8"), dtype=np.uint8)
    return f


def frame_count(path: str | os.PathLike) -> int:
    """Frames in a GSD file."""
    import gsd.fl

    with gsd.fl.open(str(path), "r") as f:
        return int(f.nframes)


def read_provenance(path: str | os.PathLike) -> dict:
    """The provenance record of frame 0 (dict)."""
    import gsd.fl

    with gsd.fl.open(str(path), "r") as f:
        return json.loads(bytes(f.read_chunk(0, "log/trsp/provenance")).decode("utf-8"))


def copy_frames(src: str | os.PathLike, dst, start: int, stop: int) -> None:
    """Append frames [start, stop) of GSD file ``src`` to the open ``gsd.fl`` file ``dst``, chunk for chunk."""
    import gsd.fl

    with gsd.fl.open(str(src), "r") as s:
        names = s.find_matching_chunk_names("")
        for i in range(start, stop):
            for name in names:
                if s.chunk_exists(i, name):
                    dst.write_chunk(name, s.read_chunk(i, name))
            dst.end_frame()


class TrajectoryWriter:
    """Appends frames to ``OUT.work``; :meth:`commit` makes them ``OUT`` atomically (module docstring).

    ``n_committed``: the frames ``OUT`` holds and the run's checkpoint accounts for.  On
    opening, the work file is rebuilt to exactly those frames (a crash may leave ``OUT`` with
    frames past the checkpoint; they are dropped and recomputed bit for bit)."""

    def __init__(self, out: str | os.PathLike, n_committed: int):
        self.out = Path(out)
        side = side_files(self.out)
        self._work, self._prev = side["work"], side["prev"]
        self.n_committed = n_committed
        self._traj = None
        self._prev.unlink(missing_ok=True)
        self._work.unlink(missing_ok=True)
        if n_committed > 0:
            have = frame_count(self.out)
            if have < n_committed:
                raise OSError(f"{self.out}: holds {have} frames but its checkpoint accounts for {n_committed}")
            if have == n_committed:
                shutil.copyfile(self.out, self._work)
            else:
                self._rebuild_work(n_committed)
        self.n_frames = n_committed

    def _rebuild_work(self, n: int) -> None:
        import gsd.fl

        with gsd.fl.open(str(self._work), "w", application="trsp md", schema="hoomd", schema_version=[1, 4]) as w:
            copy_frames(self.out, w, 0, n)

    def _open(self):
        import gsd.hoomd

        if self._traj is None:
            new = not self._work.exists()
            self._traj = gsd.hoomd.open(str(self._work), "w" if new else "a")
            if new:  # gsd creates files private (0640): give the mode a plain open() would
                os.chmod(self._work, 0o666 & ~current_umask())
        return self._traj

    def append(self, frame) -> None:
        self._open().append(frame)
        self.n_frames += 1

    def commit(self) -> None:
        """Make the frames appended so far ``OUT``, atomically; the displaced version becomes the work file."""
        if self._traj is not None:
            self._traj.close()
            self._traj = None
        if not self._work.exists():
            return
        fsync_file(self._work)
        had_out = self.n_committed > 0  # an OUT of an earlier run (--force) is replaced, never caught up from
        if had_out:
            os.link(self.out, self._prev)
        os.replace(self._work, self.out)
        fsync_dir(self.out.parent if str(self.out.parent) else Path("."))
        old = self.n_committed
        self.n_committed = self.n_frames
        if had_out:
            os.replace(self._prev, self._work)
            import gsd.fl

            with gsd.fl.open(str(self._work), "a") as w:
                copy_frames(self.out, w, old, self.n_committed)
        else:
            shutil.copyfile(self.out, self._work)

    def close(self, remove_work: bool = True) -> None:
        if self._traj is not None:
            self._traj.close()
            self._traj = None
        if remove_work:
            self._work.unlink(missing_ok=True)
            self._prev.unlink(missing_ok=True)


@contextlib.contextmanager
def run_lock(out: str | os.PathLike):
    """Hold ``OUT.lock`` (an exclusive ``flock``) for the whole job: a second ``trsp md`` on the same
    output (a new run, a resume) is refused at once, before it could touch the checkpoint."""
    path = side_files(out)["lock"]
    if fcntl is None:  # pragma: no cover
        yield
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        from trsp_ref.params import ParameterError

        raise ParameterError("--out", f"another process is running on {out} (locked: {path})") from None
    try:
        yield
    finally:
        path.unlink(missing_ok=True)
        os.close(fd)
