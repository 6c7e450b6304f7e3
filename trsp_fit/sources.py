"""The inputs of ``trsp fit``, read in pieces: memory is bounded by a block of frames, not by the run.

Two kinds of source feed :mod:`trsp_fit.pipeline`:

- :class:`FrameSource`: softness trajectories as frames (particle-data files, in-memory
  :class:`~trsp_fit.particles.ParticleData`, and run files sampled at a given frame interval).
  :meth:`FrameSource.blocks` yields consecutive :class:`Block` s of frames with the few frames of
  context before and after that the statistics of a frame need (``pad_before``, ``pad_after``).
- run files read event by event (the default for run files; :mod:`trsp_fit.events`), which need
  no frames at all for P(R|S) and the kicks.

Particle selection by type (``types``: names via the file's ``type_names`` attribute, or integer
ids) happens here, so that every statistic sees only the selected particles.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import h5py
import numpy as np

from trsp_ref.params import ParameterError

from .particles import ParticleData, ParticleFileError, TrajectoryShape

__all__ = ["Block", "FrameSource", "MemoryFrames", "ParticleFile", "select_types", "ROWS_BUDGET"]

#: frames x particles held per block (each float64 array of a block: 8 bytes per value), so a
#: block of softness is about 32 MB whatever the system size
ROWS_BUDGET = 1 << 22


@dataclass
class Block:
    """Frames ``lo - pad .. hi + pad'`` of a source: ``rows`` start at global frame ``start``.

    ``own`` = (lo, hi) are the frames whose statistics this block owns (global indices)."""

    start: int
    own: tuple[int, int]
    time: np.ndarray  # (R,)
    softness: np.ndarray  # (R, N)
    rearranging: np.ndarray  # (R, N) bool
    positions: np.ndarray  # (N, d) fixed, or (R, N, d)


class FrameSource(TrajectoryShape):
    """A trajectory as frames (subclasses implement :meth:`_read`: frames [lo, hi) in full).

    Attributes mirror :class:`ParticleData` (time, box, types, temperature, kind, duration,
    lattice, cluster_shape, source, name); ``static_positions`` is (N, d) for particles that do
    not move, else None."""

    time: np.ndarray
    box: np.ndarray
    types: np.ndarray
    type_names: tuple | None
    temperature: float
    kind: str
    duration: float | None
    lattice: dict | None
    cluster_shape: str | None
    source: str
    name: str
    static_positions: np.ndarray | None
    selection: np.ndarray | None = None  # column indices of the selected particles (None: all)
    types_used: list | None = None

    @property
    def n_particles(self) -> int:
        return int(self.types.shape[0]) if self.selection is None else int(self.selection.size)

    @property
    def static(self) -> bool:
        return self.static_positions is not None

    def first_positions(self) -> np.ndarray:
        if self.static:
            return self._select_positions(self.static_positions)
        return self._select_positions(self._read(0, 1)[2][0])

    # ------------------------------------------------------------------ reading
    def _read(self, lo: int, hi: int):  # pragma: no cover - abstract
        """(softness (R, N_all), rearranging (R, N_all) bool, positions (R, N_all, d) or None)."""
        raise NotImplementedError

    def _select(self, a: np.ndarray) -> np.ndarray:
        return a if self.selection is None else a[:, self.selection]

    def _select_positions(self, p: np.ndarray) -> np.ndarray:
        if self.selection is None:
            return p
        return p[self.selection] if p.ndim == 2 else p[:, self.selection]

    def read(self, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Selected softness, flags and (moving particles) positions of frames [lo, hi)."""
        S, F, P = self._read(lo, hi)
        return self._select(S), self._select(F).astype(bool, copy=False), (None if P is None else self._select_positions(P))

    def rows_per_block(self) -> int:
        return max(8, ROWS_BUDGET // max(1, self.n_particles))

    def blocks(self, cuts: Sequence[int], pad_before: int, pad_after: int) -> Iterator[tuple[int, Block]]:
        """(unit, block) for consecutive blocks covering the units [cuts[u], cuts[u+1]); each block
        holds at most :meth:`rows_per_block` owned frames plus its padding (clipped at the ends)."""
        K = self.n_frames
        step = self.rows_per_block()
        lo_s, hi_s = math.inf, -math.inf  # the softness range seen: a file of one value has nothing to fit
        for u in range(len(cuts) - 1):
            for lo in range(int(cuts[u]), int(cuts[u + 1]), step):
                hi = min(int(cuts[u + 1]), lo + step)
                a, b = max(0, lo - pad_before), min(K, hi + pad_after)
                S, F, P = self.read(a, b)
                if S.size:
                    lo_s, hi_s = min(lo_s, float(S.min())), max(hi_s, float(S.max()))
                pos = self._select_positions(self.static_positions) if self.static else P
                yield u, Block(a, (lo, hi), self.time[a:b], S, F, pos)
        if cuts[0] == 0 and cuts[-1] == K and lo_s == hi_s:
            raise ParticleFileError(self.name, "softness is the same for every particle in every frame (zero variance): there is nothing to fit",
                                    "/frames/softness")

    def probe(self, frames: int = 16) -> np.ndarray:
        """Softness of a few evenly spaced frames (the range of the P(R|S) bins)."""
        ks = np.unique(np.linspace(0, self.n_frames - 1, min(frames, self.n_frames)).astype(np.int64))
        return np.concatenate([self.read(int(k), int(k) + 1)[0].ravel() for k in ks])

    def flags(self, lo: int, hi: int) -> np.ndarray:
        """The selected rearrangement flags of frames [lo, hi) (the sustained duration's pre-pass)."""
        return self.read(lo, hi)[1]


class MemoryFrames(FrameSource):
    """A :class:`ParticleData` already in memory."""

    def __init__(self, data: ParticleData):
        self.data = data
        for key in ("time", "box", "types", "temperature", "kind", "duration", "lattice", "cluster_shape", "source", "name"):
            setattr(self, key, getattr(data, key))
        self.type_names = getattr(data, "type_names", None)
        self.static_positions = data.positions if data.static else None

    def _read(self, lo, hi):
        d = self.data
        return d.softness[lo:hi], d.rearranging[lo:hi], (None if d.static else d.positions[lo:hi])


def select_types(source, types: Sequence | None, type_names: tuple | None, all_types: np.ndarray, name: str) -> tuple[np.ndarray | None, list]:
    """Column indices of the particles whose type is in ``types`` (names, via ``type_names``, or
    integer ids), and the list of the types used (names where known).  ``types`` None: every particle."""
    present = sorted({int(t) for t in np.unique(all_types)})

    def label(t: int):
        return type_names[t] if type_names is not None and 0 <= t < len(type_names) else t

    if types is None or len(types) == 0:
        return None, [label(t) for t in present]
    ids = []
    for t in types:
        if isinstance(t, (int, np.integer)) or (isinstance(t, str) and t.lstrip("-").isdigit()):
            ids.append(int(t))
        elif type_names is not None and t in type_names:
            ids.append(type_names.index(t))
        else:
            known = ", ".join(repr(n) for n in type_names) if type_names is not None else "none (the file has no /@type_names: give integer ids)"
            raise ParameterError("--types", f"type {t!r} is not in {name}; type names: {known}; ids present: {present}", t)
    sel = np.flatnonzero(np.isin(all_types, ids))
    if sel.size < 2:
        raise ParameterError("--types", f"selects {sel.size} particle(s) of {name} (ids present: {present}); need at least 2", list(types))
    return sel, [label(t) for t in sorted(set(ids)) if t in present]


def _decode(v):
    if isinstance(v, bytes):
        return v.decode("utf-8")
    if isinstance(v, np.ndarray) and v.shape == ():
        return v[()]
    return v


def type_names_of(h5: h5py.File) -> tuple | None:
    """The root attribute ``type_names`` (particle format 1.1): the name of each type id, or None."""
    if "type_names" not in h5.attrs:
        return None
    v = np.atleast_1d(h5.attrs["type_names"])
    return tuple(str(_decode(x)) for x in v)


def check_frame_interval(value: float | None) -> None:
    if value is not None and not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise ParameterError("--frame-interval", "must be a finite number > 0", value)


def path_of(x) -> Path | None:
    return Path(x) if isinstance(x, (str, os.PathLike)) else None


class ParticleFile(FrameSource):
    """A particle-data file (docs/formats-particles.md), its schema checked at the door
    (:func:`trsp_fit.schema.read_header`: every item's type, shape and dtype, from metadata); the frames
    are read block by block (:meth:`read`), each block's values checked as it is read."""

    def __init__(self, path: str | os.PathLike):
        from trsp_runfile.schema import open_hdf5

        from .schema import read_header

        path = Path(path)
        self.path, self.name = path, str(path)
        with open_hdf5(path, "a particle-data file", self._fail) as h5:
            head = read_header(h5, path, self._fail)
            try:
                self.time = np.asarray(h5["/frames/time"][()], dtype=np.float64)
                self.types = (np.asarray(h5["/particles/type"][()], dtype=np.int64) if head.has_types
                              else np.zeros(head.n_particles, np.int64))  # fmt: skip
                self.static_positions = (np.asarray(h5["/particles/position"][()], dtype=np.float64)
                                         if head.positions == "/particles/position" else None)  # fmt: skip
                self.n_rearrangements = np.asarray(h5["/frames/n_rearrangements"][()], dtype=np.int64) if head.has_counts else None
            except OSError as exc:
                raise self._truncated(exc) from None
            self.type_names = type_names_of(h5)
        self.head = head
        self.box, self.temperature, self.kind, self.duration = head.box, head.temperature, head.kind, head.duration
        self.lattice, self.cluster_shape, self.source = head.lattice, head.cluster_shape, head.source
        if not np.all(np.isfinite(self.time)) or np.any(np.diff(self.time) <= 0):
            raise self._fail("frame times must be finite and strictly increasing", "/frames/time")
        if self.static_positions is not None and not np.all(np.isfinite(self.static_positions)):
            raise self._fail("positions must be finite", "/particles/position")
        if self.type_names is not None and self.types.size and (self.types.min() < 0 or self.types.max() >= len(self.type_names)):
            raise self._fail(f"names {len(self.type_names)} types, but /particles/type holds ids up to {int(self.types.max())}", "/@type_names")

    def _fail(self, problem: str, where: str | None = None) -> ParticleFileError:
        return ParticleFileError(self.name, problem, where)

    def _truncated(self, exc: OSError) -> ParticleFileError:
        return self._fail(f"cannot be read ({' '.join(str(exc).split('(')[0].split())}): the file is truncated or damaged")

    def _read(self, lo, hi):
        head = self.head
        with h5py.File(self.path, "r") as h5:
            try:
                S = np.asarray(h5["/frames/softness"][lo:hi], dtype=np.float64)
                raw = np.asarray(h5[head.indicator][lo:hi])
                P = np.asarray(h5["/frames/position"][lo:hi], dtype=np.float64) if self.static_positions is None else None
            except OSError as exc:
                raise self._truncated(exc) from None
        if not np.all(np.isfinite(S)):
            k = lo + int(np.flatnonzero(~np.isfinite(S).all(axis=1))[0])
            raise self._fail(f"softness must be finite (no NaN or infinite values): frame {k}", "/frames/softness")
        if head.indicator == "/frames/rearranging":
            if raw.dtype != bool and np.any((raw != 0) & (raw != 1)):
                raise self._fail("must hold 0 or 1 (or booleans)", "/frames/rearranging")
            F = raw.astype(bool)
        else:
            if not np.all(np.isfinite(raw)):
                raise self._fail("p_hop must be finite (no NaN or infinite values: a NaN would count as not rearranging)", "/frames/p_hop")
            F = raw > head.p_hop_threshold
        if P is not None and not np.all(np.isfinite(P)):
            raise self._fail("positions must be finite", "/frames/position")
        return S, F, P

    def materialize(self) -> ParticleData:
        """The whole file in memory (``read_particles``), values checked (:meth:`ParticleData.validate`)."""
        S, F, P = self._read(0, self.n_frames)
        p_hop = None
        if self.head.indicator == "/frames/p_hop":  # kept, so that the data write back as they were read
            with h5py.File(self.path, "r") as h5:
                p_hop = np.asarray(h5["/frames/p_hop"][()], dtype=np.float64)
        data = ParticleData(
            time=self.time, box=self.box, positions=self.static_positions if P is None else P, types=self.types, softness=S,
            rearranging=F, temperature=self.temperature, kind=self.kind, duration=self.duration, lattice=self.lattice,
            cluster_shape=self.cluster_shape, source=self.source, name=self.name, n_rearrangements=self.n_rearrangements,
            type_names=self.type_names, p_hop=p_hop, p_hop_threshold=None if p_hop is None else self.head.p_hop_threshold,
        )
        try:
            return data.validate()
        except ParticleFileError as exc:
            if exc.where == "position":
                raise ParticleFileError(self.name, exc.problem, self.head.positions) from None
            raise
