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

from .particles import ParticleData, ParticleFileError

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


class FrameSource:
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
    def dim(self) -> int:
        return int(self.box.shape[0])

    @property
    def n_frames(self) -> int:
        return int(self.time.shape[0])

    @property
    def n_particles(self) -> int:
        return int(self.types.shape[0]) if self.selection is None else int(self.selection.size)

    @property
    def static(self) -> bool:
        return self.static_positions is not None

    def spacing(self) -> float:
        if self.lattice is not None:
            return float(self.lattice["spacing"])
        return float(np.prod(self.box) / self.n_particles) ** (1.0 / self.dim)

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
        for u in range(len(cuts) - 1):
            for lo in range(int(cuts[u]), int(cuts[u + 1]), step):
                hi = min(int(cuts[u + 1]), lo + step)
                a, b = max(0, lo - pad_before), min(K, hi + pad_after)
                S, F, P = self.read(a, b)
                pos = self._select_positions(self.static_positions) if self.static else P
                yield u, Block(a, (lo, hi), self.time[a:b], S, F, pos)

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
    """A particle-data file (docs/formats-particles.md), opened and checked at the door; the
    frames are read block by block (:meth:`read`), each block's values checked as it is read."""

    def __init__(self, path: str | os.PathLike):
        from .particles import DEFAULT_P_HOP_THRESHOLD, FORMAT, FORMAT_VERSION, KINDS, _attr
        from trsp_ref.params import CLUSTER_SHAPES
        from trsp_runfile.runfile import hdf5_file_problem

        path = Path(path)
        self.name = str(path)
        problem = hdf5_file_problem(path, "a particle-data file")
        if problem is not None:
            raise ParticleFileError(path, problem)
        fail = lambda problem, where: ParticleFileError(path, problem, where)  # noqa: E731
        with h5py.File(path, "r") as h5:
            fmt = _attr(h5, path, "format")
            if fmt != FORMAT:
                raise fail(f"is not a particle-data file (format is {fmt!r}, expected {FORMAT!r})", "/@format")
            version = str(_attr(h5, path, "format_version"))
            if version.split(".")[0] != FORMAT_VERSION.split(".")[0]:
                raise fail(f"format version {version} is not supported (this reader: {FORMAT_VERSION})", "/@format_version")
            self.temperature = float(_attr(h5, path, "temperature"))
            self.box = np.atleast_1d(np.asarray(_attr(h5, path, "box"), dtype=np.float64))
            self.kind = str(_attr(h5, path, "rearrangement_kind", required=False, default="sustained"))
            d = _attr(h5, path, "duration", required=False)
            self.duration = None if d is None else float(d)
            self.time = np.asarray(self._dataset(h5, "/frames/time")[()], dtype=np.float64)
            soft = self._dataset(h5, "/frames/softness")
            K = self.time.shape[0]
            if self.box.ndim != 1 or self.box.shape[0] not in (2, 3):
                raise fail(f"must hold 2 or 3 box lengths, got shape {self.box.shape}", "/@box")
            if not np.all(np.isfinite(self.box)) or np.any(self.box <= 0):
                raise fail("box lengths must be finite and > 0", "/@box")
            if self.time.ndim != 1 or K < 2:
                raise fail(f"needs at least 2 frames, got {K}", "/frames/time")
            if not np.all(np.isfinite(self.time)) or np.any(np.diff(self.time) <= 0):
                raise fail("frame times must be finite and strictly increasing", "/frames/time")
            if soft.ndim != 2 or soft.shape[0] != K or soft.dtype.kind not in "fiu":
                raise fail(f"must be a numeric array of shape (n_frames={K}, n_particles), got {soft.dtype} {soft.shape}", "/frames/softness")
            N = soft.shape[1]
            if N < 2:
                raise fail("needs at least 2 particles", "/frames/softness")
            if "/frames/rearranging" in h5:
                self._flag_item, self._threshold = "/frames/rearranging", None
            elif "/frames/p_hop" in h5:
                self._flag_item = "/frames/p_hop"
                self._threshold = float(_attr(h5, path, "p_hop_threshold", required=False, default=DEFAULT_P_HOP_THRESHOLD))
            else:
                raise fail("missing the rearrangement indicator: give /frames/rearranging or /frames/p_hop", "/frames")
            flags = self._dataset(h5, self._flag_item)
            if flags.shape != (K, N):
                raise fail(f"must have shape ({K}, {N}), got {flags.shape}", self._flag_item)
            if "/particles/position" in h5:
                pos = self._dataset(h5, "/particles/position")
                if pos.shape != (N, self.dim):
                    raise fail(f"must have shape {(N, self.dim)}, got {pos.shape}", "/particles/position")
                self.static_positions = np.asarray(pos[()], dtype=np.float64)
                if not np.all(np.isfinite(self.static_positions)):
                    raise fail("positions must be finite", "/particles/position")
                self._moving = False
            elif "/frames/position" in h5:
                pos = self._dataset(h5, "/frames/position")
                if pos.shape != (K, N, self.dim):
                    raise fail(f"must have shape {(K, N, self.dim)}, got {pos.shape}", "/frames/position")
                self.static_positions = None
                self._moving = True
            else:
                raise fail("missing positions: give /particles/position (fixed) or /frames/position", "/particles/position")
            types = self._dataset(h5, "/particles/type", required=False)
            self.types = np.zeros(N, np.int64) if types is None else np.asarray(types[()], dtype=np.int64)
            if self.types.shape != (N,):
                raise fail(f"must have shape ({N},), got {self.types.shape}", "/particles/type")
            self.type_names = type_names_of(h5)
            self.lattice = None
            if "lattice_L" in h5.attrs:
                self.lattice = {"L": int(_attr(h5, path, "lattice_L")), "spacing": float(_attr(h5, path, "lattice_spacing")),
                                "on_lattice": bool(_attr(h5, path, "on_lattice", required=False, default=False))}
            shape = _attr(h5, path, "cluster_shape", required=False)
            self.cluster_shape = None if shape is None else str(shape)
            self.source = str(_attr(h5, path, "source", required=False, default=""))
            counts = self._dataset(h5, "/frames/n_rearrangements", required=False)
            self.n_rearrangements = None if counts is None else np.asarray(counts[()], dtype=np.int64)
        if not (math.isfinite(self.temperature) and self.temperature > 0):
            raise fail("the temperature must be finite and > 0", "/@temperature")
        if self.kind not in KINDS:
            raise fail(f"must be one of {list(KINDS)}", "/@rearrangement_kind")
        if self.kind == "instantaneous" and self.duration is None:
            raise fail("instantaneous rearrangements need the given duration (the data cannot fix it)", "/@duration")
        if self.duration is not None and not (math.isfinite(self.duration) and self.duration > 0):
            raise fail("must be finite and > 0", "/@duration")
        if self.cluster_shape is not None and self.cluster_shape not in CLUSTER_SHAPES:
            raise fail(f"must be one of {list(CLUSTER_SHAPES)}", "/@cluster_shape")
        self.path = path

    def _dataset(self, h5, name: str, required: bool = True):
        if name not in h5:
            if required:
                raise ParticleFileError(self.name, "missing required dataset", name)
            return None
        obj = h5[name]
        if not isinstance(obj, h5py.Dataset):
            raise ParticleFileError(self.name, "must be a dataset", name)
        return obj

    def _read(self, lo, hi):
        with h5py.File(self.path, "r") as h5:
            S = np.asarray(h5["/frames/softness"][lo:hi], dtype=np.float64)
            raw = h5[self._flag_item][lo:hi]
            P = np.asarray(h5["/frames/position"][lo:hi], dtype=np.float64) if self._moving else None
        if not np.all(np.isfinite(S)):
            k = lo + int(np.flatnonzero(~np.isfinite(S).all(axis=1))[0])
            raise ParticleFileError(self.name, f"softness must be finite (no NaN or infinite values): frame {k}", "/frames/softness")
        F = np.asarray(raw, dtype=np.float64) > self._threshold if self._threshold is not None else np.asarray(raw).astype(bool)
        if P is not None and not np.all(np.isfinite(P)):
            raise ParticleFileError(self.name, "positions must be finite", "/frames/position")
        return S, F, P

    def materialize(self) -> ParticleData:
        """The whole file in memory (``read_particles``)."""
        S, F, P = self._read(0, self.n_frames)
        return ParticleData(
            time=self.time, box=self.box, positions=self.static_positions if P is None else P, types=self.types, softness=S,
            rearranging=F, temperature=self.temperature, kind=self.kind, duration=self.duration, lattice=self.lattice,
            cluster_shape=self.cluster_shape, source=self.source, name=self.name, n_rearrangements=self.n_rearrangements,
            type_names=self.type_names,
        ).validate()
