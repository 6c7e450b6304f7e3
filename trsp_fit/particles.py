"""The particle-data format (docs/formats-particles.md): measured softness trajectories.

One HDF5 file = one trajectory at one temperature: frames at times t_k, a periodic box,
per-particle positions and types, the softness S of every particle in every frame, and a
rearrangement indicator (a boolean, or p_hop with a threshold).  :class:`ParticleData` is the
in-memory form that every route into ``trsp fit`` goes through (run files are converted to
it by :mod:`trsp_fit.convert`), :func:`read_particles` / :func:`write_particles` the reader and
the (atomic) writer.  Every problem with a file is a :class:`ParticleFileError` naming the
HDF5 object at fault.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from trsp_ref.params import CLUSTER_SHAPES
from trsp_runfile.atomic import atomic_path
from trsp_runfile.runfile import LabelledFileError

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "KINDS",
    "DEFAULT_P_HOP_THRESHOLD",
    "ParticleData",
    "ParticleFileError",
    "read_particles",
    "write_particles",
]

FORMAT = "trsp-particles"
#: MAJOR.MINOR; a reader accepts its own MAJOR and any MINOR (minor versions only add optional items)
FORMAT_VERSION = "1.1"
#: "instantaneous": rearranging[k, i] = particle i took part in a rearrangement in (t_{k-1}, t_k]
#: (lattice models; needs a given duration).  "sustained": rearranging[k, i] = particle i is
#: rearranging at frame k (MD with p_hop; the duration is measured from runs of frames).
KINDS = ("instantaneous", "sustained")
#: the paper's p_c (Sec. V: "p_hop > 0.2")
DEFAULT_P_HOP_THRESHOLD = 0.2


class ParticleFileError(LabelledFileError):
    """A particle-data file that cannot be used, with what is wrong and where (HDF5 object)."""

    label = "particle-data file"


class TrajectoryShape:
    """What every trajectory (in memory, or read a block at a time: trsp_fit.sources) knows about its
    shape; subclasses give ``box``, ``time``, ``lattice`` and ``n_particles``."""

    @property
    def dim(self) -> int:
        return int(self.box.shape[0])

    @property
    def n_frames(self) -> int:
        return int(self.time.shape[0])

    def spacing(self) -> float:
        """The mean interparticle spacing (V/N)^(1/dim) (the lattice spacing for lattice data)."""
        if self.lattice is not None:
            return float(self.lattice["spacing"])
        return float(np.prod(self.box) / self.n_particles) ** (1.0 / self.dim)


@dataclass
class ParticleData(TrajectoryShape):
    """One trajectory of measured softness (the format's content, checked).

    time (K,), box (dim,), positions (N, dim) for fixed particles or (K, N, dim), types (N,),
    softness (K, N), rearranging (K, N) bool; temperature; kind ("instantaneous" |
    "sustained"); duration (given, in time units; required for "instantaneous"); lattice
    ({"L", "spacing", "on_lattice"} when the particles sit on, or were jittered off, a lattice);
    cluster_shape (the lattice model's rearranging cluster, when known); source (free text);
    n_rearrangements (K,) (optional: how many separate rearrangements interval k holds, when the
    producer knows; lets the fit keep only single-rearrangement intervals for the kick);
    type_names (format 1.1, optional: the name of each type id); p_hop (K, N) with
    p_hop_threshold (optional: the indicator is p_hop > threshold; written instead of
    /frames/rearranging).
    """

    time: np.ndarray
    box: np.ndarray
    positions: np.ndarray
    types: np.ndarray
    softness: np.ndarray
    rearranging: np.ndarray
    temperature: float
    kind: str = "sustained"
    duration: float | None = None
    lattice: dict | None = None
    cluster_shape: str | None = None
    source: str = ""
    name: str = field(default="<memory>")
    n_rearrangements: np.ndarray | None = None  # (K,) separate rearrangements in interval k, when known
    # format 1.1: the name of each type id (e.g. ("A", "B")), when known
    type_names: tuple[str, ...] | None = None
    # p_hop (K, N) and its threshold, when the indicator comes from p_hop (MD): written instead of
    # /frames/rearranging, which must then equal p_hop > p_hop_threshold
    p_hop: np.ndarray | None = None
    p_hop_threshold: float | None = None

    @property
    def n_particles(self) -> int:
        return int(self.softness.shape[1])

    def positions_at(self, k: int) -> np.ndarray:
        """Positions at frame k, (N, dim)."""
        return self.positions if self.positions.ndim == 2 else self.positions[k]

    @property
    def static(self) -> bool:
        """True when the particles do not move (one position array for all frames)."""
        return self.positions.ndim == 2

    def validate(self) -> "ParticleData":
        """Check shapes and values; raise ParticleFileError naming the item at fault."""
        fail = lambda problem, where: ParticleFileError(self.name, problem, where)  # noqa: E731
        if self.box.ndim != 1 or self.box.shape[0] not in (2, 3):
            raise fail(f"must hold 2 or 3 box lengths, got shape {self.box.shape}", "/@box")
        if not np.all(np.isfinite(self.box)) or np.any(self.box <= 0):
            raise fail("box lengths must be finite and > 0", "/@box")
        K = self.time.shape[0]
        if self.time.ndim != 1 or K < 2:
            raise fail(f"needs at least 2 frames, got {K}", "/frames/time")
        if not np.all(np.isfinite(self.time)) or np.any(np.diff(self.time) <= 0):
            raise fail("frame times must be finite and strictly increasing", "/frames/time")
        if self.softness.ndim != 2 or self.softness.shape[0] != K:
            raise fail(f"must have shape (n_frames={K}, n_particles), got {self.softness.shape}", "/frames/softness")
        N = self.softness.shape[1]
        if N < 2:
            raise fail("needs at least 2 particles", "/frames/softness")
        if not np.all(np.isfinite(self.softness)):
            raise fail("softness must be finite (no NaN or infinite values)", "/frames/softness")
        if np.ptp(self.softness) == 0:
            raise fail("softness is the same for every particle in every frame (zero variance): there is nothing to fit", "/frames/softness")
        if self.rearranging.shape != (K, N):
            raise fail(f"must have shape ({K}, {N}), got {self.rearranging.shape}", "/frames/rearranging")
        want = [(N, self.dim), (K, N, self.dim)]
        if self.positions.shape not in want:
            raise fail(f"must have shape {want[0]} (fixed) or {want[1]} (per frame), got {self.positions.shape}", "position")
        if not np.all(np.isfinite(self.positions)):
            raise fail("positions must be finite", "position")
        if self.types.shape != (N,):
            raise fail(f"must have shape ({N},), got {self.types.shape}", "/particles/type")
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
        if self.n_rearrangements is not None:
            if self.n_rearrangements.shape != (K,) or np.any(self.n_rearrangements < 0):
                raise fail(f"must have shape ({K},) and hold counts >= 0", "/frames/n_rearrangements")
            if np.any((self.n_rearrangements > 0) != self.rearranging.any(axis=1)):
                raise fail("must be > 0 exactly in the frames where some particle is rearranging", "/frames/n_rearrangements")
        if self.type_names is not None:
            self.type_names = tuple(str(t) for t in self.type_names)
            if not self.type_names or np.any(self.types < 0) or int(self.types.max()) >= len(self.type_names):
                raise fail(f"must name every type id: {len(self.type_names)} names for type ids up to {int(self.types.max())}", "/@type_names")
        if self.p_hop is not None:
            thr = DEFAULT_P_HOP_THRESHOLD if self.p_hop_threshold is None else float(self.p_hop_threshold)
            if self.p_hop.shape != (K, N) or not np.all(np.isfinite(self.p_hop)) or np.any(self.p_hop < 0):
                raise fail(f"must have shape ({K}, {N}) and hold finite values >= 0", "/frames/p_hop")
            if not (math.isfinite(thr) and thr > 0):
                raise fail("must be finite and > 0", "/@p_hop_threshold")
            if not np.array_equal(np.asarray(self.rearranging, dtype=bool), self.p_hop > thr):
                raise fail("must equal p_hop > p_hop_threshold when p_hop is given", "/frames/rearranging")
        self.rearranging = self.rearranging.astype(bool, copy=False)
        return self


def read_particles(path: str | os.PathLike) -> ParticleData:
    """Read and check a particle-data file (docs/formats-particles.md), whole: the schema first, from
    metadata (:func:`trsp_fit.schema.read_header`), then the datasets and their values.  ``trsp fit``
    reads the same way a block of frames at a time (:class:`trsp_fit.sources.ParticleFile`)."""
    from .sources import ParticleFile

    return ParticleFile(path).materialize()


def write_particles(data: ParticleData, path: str | os.PathLike) -> None:
    """Write ``data`` as a particle-data file, atomically (the target appears complete or not at all)."""
    data.validate()
    path = Path(path)
    with atomic_path(path, ".h5") as tmp:
        with h5py.File(tmp, "w") as h5:
            h5.attrs["format"] = FORMAT
            h5.attrs["format_version"] = FORMAT_VERSION
            h5.attrs["temperature"] = float(data.temperature)
            h5.attrs["box"] = np.asarray(data.box, dtype=np.float64)
            h5.attrs["rearrangement_kind"] = data.kind
            if data.duration is not None:
                h5.attrs["duration"] = float(data.duration)
            if data.lattice is not None:
                h5.attrs["lattice_L"] = int(data.lattice["L"])
                h5.attrs["lattice_spacing"] = float(data.lattice["spacing"])
                h5.attrs["on_lattice"] = int(bool(data.lattice.get("on_lattice", False)))
            if data.cluster_shape is not None:
                h5.attrs["cluster_shape"] = data.cluster_shape
            h5.attrs["source"] = data.source
            if data.type_names is not None:
                h5.attrs["type_names"] = np.array(data.type_names, dtype=h5py.string_dtype("utf-8"))
            h5.create_dataset("/frames/time", data=data.time)
            h5.create_dataset("/frames/softness", data=data.softness, chunks=True)
            if data.p_hop is not None:
                h5.attrs["p_hop_threshold"] = float(DEFAULT_P_HOP_THRESHOLD if data.p_hop_threshold is None else data.p_hop_threshold)
                h5.create_dataset("/frames/p_hop", data=np.asarray(data.p_hop, dtype=np.float64), chunks=True)
            else:
                h5.create_dataset("/frames/rearranging", data=data.rearranging.astype(np.uint8), compression="gzip", chunks=True)
            where = "/particles/position" if data.static else "/frames/position"
            h5.create_dataset(where, data=data.positions)
            h5.create_dataset("/particles/type", data=np.asarray(data.types, dtype=np.int64))
            if data.n_rearrangements is not None:
                h5.create_dataset("/frames/n_rearrangements", data=np.asarray(data.n_rearrangements, dtype=np.int64))
            if data.type_names is not None:
                h5.attrs["type_names"] = np.array([str(n) for n in data.type_names], dtype=h5py.string_dtype())
