"""HDF5 run files: the versioned, language-neutral record of one simulated replica.

The schema is specified in ``docs/formats.md`` (format ``"trsp-run"``, version 1.0); this
module is its reference reader (:class:`RunFile`) and its crash-safe writer
(:class:`RunWriter`).  A run file holds plain datasets and attributes only (no pickles),
so any HDF5 library can read one and ``examples/write_runfile_numpy.py`` writes one from
plain arrays.

Crash safety (the writer's protocol, ``docs/formats.md`` "Writing safely")
-----------------------------------------------------------------------
The file that carries the run's name, ``RUN.h5``, is only ever replaced, never modified:
it is at every moment a complete, closed HDF5 file holding the run up to its last
checkpoint.  Events go into a sibling *work file* ``RUN.h5.work`` (an earlier complete
version of the run, brought up to date by appending); at a checkpoint the work file is
closed, fsync'ed and renamed over ``RUN.h5`` (``os.replace``, atomic on POSIX), and the
file it displaced (kept alive by a hard link ``RUN.h5.prev``) becomes the next work file.
So a process killed at any instant leaves ``RUN.h5`` either at the previous or at the new
checkpoint, and each event is written twice (once per file) instead of the whole file being
copied at every checkpoint.  Readers never see the work file.  ``RUN.h5.lock`` (an
``flock``) keeps two writers off one run.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, NamedTuple

import h5py
import numpy as np

from trsp_ref.truncation import SCHEMES

try:  # Python >= 3.11
    import tomllib
except ModuleNotFoundError:  # pragma: no cover
    import tomli as tomllib  # type: ignore[no-redef]

from .atomic import fsync_dir, fsync_file
from .schema import hdf5_file_problem, open_hdf5
from .events import EventRecord

from trsp_ref.params import (
    ParameterError,
    Params,
    dumps_toml,
    params_from_dict,
    params_to_dict,
)

try:  # POSIX advisory locks; elsewhere two writers on one run are not prevented
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "MODES",
    "TrspFileError",
    "Truncation",
    "Implementation",
    "SeedRecord",
    "EventRecord",
    "Snapshots",
    "Checkpoint",
    "ReplayEvent",
    "RunFile",
    "RunWriter",
    "side_files",
    "apply_changes",
    "replay_record",
    "first_difference",
    "hdf5_file_problem",
]

#: value of the root attribute ``format``
FORMAT = "trsp-run"
#: ``MAJOR.MINOR``: readers accept any minor version of their major (docs/formats.md, Versioning)
FORMAT_VERSION = "1.2"
_READ_MAJOR = 1
#: "full" records every site change (replayable); "light" only event times and clusters
MODES = ("full", "light")
#: statuses a checkpoint can carry
STATUSES = ("running", "interrupted", "finished")

# Dataset chunking (HDF5 needs chunks to extend a dataset): 128 KiB of float64/int64, within
# HDF5's advice of 10 KiB - 1 MiB, so small runs stay small and large ones few chunks.
_CHUNK_ELEMENTS = 16384
# Rows moved per read/write when bringing a work file up to date (bounded memory).
_COPY_BLOCK = 1 << 22
#: site changes per chunk of RunFile.iter_events by default (about 50 MB of change arrays)
STREAM_CHANGES = 1 << 21
#: HDF5 filters of the integer event datasets (format 1.1): byte shuffle + deflate level 1, in
#: every HDF5 build (C, Fortran, Julia, MATLAB read them transparently).  Site indices compress
#: to almost nothing; the softness values (float64, nearly random mantissas) shrink only ~15 %
#: for 5x the writing time, so they are stored plain.  With ``before`` omitted, full files of
#: the built-in example are 3x smaller than format 1.0 (docs/formats.md).
_FILTERS = {"compression": "gzip", "compression_opts": 1, "shuffle": True}

# Fault injection for the crash tests (tests/test_runfile.py): when set, called with the
# name of each step of the commit protocol; a test child process sets it to os._exit at one
# step to prove that dying there leaves a usable run.  Never set in normal use.
_fault_hook: Callable[[str], None] | None = None


def _fault(step: str) -> None:
    if _fault_hook is not None:
        _fault_hook(step)


class TrspFileError(ValueError):
    """A run file that cannot be used (or written) as asked, with what is wrong.

    Attributes
    ----------
    path : str
        The file.
    where : str or None
        The HDF5 object at fault (``"/events/time"``), or None for the file as a whole.
    problem : str
        What is wrong, in words.
    """

    def __init__(self, path: str | os.PathLike, problem: str, where: str | None = None):
        self.path = str(path)
        self.where = where
        self.problem = problem
        loc = f"{self.path}: {where}" if where else self.path
        super().__init__(f"run file {loc}: {problem}")

    def __reduce__(self):  # raised in worker processes, re-raised in the parent
        return (type(self), (self.path, self.problem, self.where))


class LabelledFileError(TrspFileError):
    """A TrspFileError for another kind of file: the message starts with ``label`` (the kind of
    file, e.g. "particle-data file", "trajectory") instead of "run file"."""

    label = "file"

    def __init__(self, path: str | os.PathLike, problem: str, where: str | None = None):
        self.path = str(path)
        self.where = where
        self.problem = problem
        loc = f"{self.path}: {where}" if where else self.path
        ValueError.__init__(self, f"{self.label} {loc}: {problem}")


# --------------------------------------------------------------------------
# plain records
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Truncation:
    """``/truncation``: the local-kick truncation the run used (docs/fast.md, docs/formats.md).

    kick_radius, precision_radius : the declared model's radii (inf = that part untruncated;
        both inf = the exact model).  The radii, with ``scheme``, are the declared model.
    kick_tolerance      : bound on every neglected kick covariance entry, in units of the softness
                          variance (the tolerance kick_radius was chosen for; 0 = given or untruncated)
    precision_tolerance : bound on the equilibrium covariance's error |K_t - K| (entrywise, in units
                          of the variance, and spectral, relative), the tolerance precision_radius
                          was chosen for (0 = given or untruncated)
    tolerance           : one bound for both, max(kick_tolerance, precision_tolerance): what a
                          format 1.0/1.1 file holds (one tolerance for both radii); a file without
                          the two attributes (before format 1.2) reads both as ``tolerance``
    scheme              : how the precision was truncated (trsp_ref.truncation.SCHEMES; absent in
                          format 1.0 files = "cut")

    ``Truncation(kr, pr, tol, scheme)`` sets both tolerances to ``tol``;
    :meth:`of` builds one from the two tolerances.
    """

    kick_radius: float
    precision_radius: float
    tolerance: float
    scheme: str = "cut"
    kick_tolerance: float | None = None
    precision_tolerance: float | None = None

    def __post_init__(self):
        for key in ("kick_tolerance", "precision_tolerance"):
            if getattr(self, key) is None:
                object.__setattr__(self, key, self.tolerance)

    @classmethod
    def of(cls, kick_radius: float, precision_radius: float, kick_tolerance: float, precision_tolerance: float,
           scheme: str = "cut") -> "Truncation":  # fmt: skip
        """The truncation of a run whose radii were chosen for two tolerances (format 1.2)."""
        kt, pt = float(kick_tolerance), float(precision_tolerance)
        return cls(float(kick_radius), float(precision_radius), max(kt, pt), scheme, kt, pt)

    @property
    def exact(self) -> bool:
        return math.isinf(self.kick_radius) and math.isinf(self.precision_radius)


@dataclass(frozen=True)
class Implementation:
    """Root attributes ``implementation`` and ``implementation_version``: who wrote the events."""

    name: str
    version: str


@dataclass(frozen=True)
class SeedRecord:
    """``/rng``: how the random stream was seeded, so the run can be repeated.

    ``entropy`` is numpy's ``SeedSequence.entropy`` (None when not recorded); the stream is
    ``numpy.random.Generator(bit_generator(SeedSequence(entropy, spawn_key=spawn_key)))``.
    """

    bit_generator: str
    entropy: int | None
    spawn_key: tuple[int, ...] = ()


@dataclass(frozen=True, eq=False)
class Snapshots:
    """``/snapshots``: ``S[j]`` is the state in effect at ``time[j]`` (after the last event with
    time <= ``time[j]``).  ``interval`` is the regular spacing, or None."""

    time: np.ndarray
    S: np.ndarray
    interval: float | None

    def __len__(self) -> int:
        return int(self.time.shape[0])


@dataclass(frozen=True, eq=False)
class Checkpoint:
    """``/checkpoint``: the state after the committed events, and the committed lengths.

    ``time`` is the simulation clock; ``observed_until`` (>= time) the end of the interval on
    which the trajectory is complete (a run stopped at a time limit T saw no event in
    (last event, T]).
    """

    S: np.ndarray
    time: float
    observed_until: float
    n_events: int
    n_changes: int
    n_snapshots: int
    time_compensation: float
    rng_state: dict | None
    status: str
    target_events: int | None
    target_time: float | None

    def simulation_state(self) -> dict:
        """The dict ``trsp_fast.Simulation.from_state`` takes."""
        if self.rng_state is None:
            raise ValueError("this checkpoint has no RNG state")
        return {
            "S": self.S.copy(),
            "time": self.time,
            "n_events": self.n_events,
            "time_compensation": self.time_compensation,
            "rng_state": self.rng_state,
        }


class ReplayEvent(NamedTuple):
    """One event of :meth:`RunFile.replay`."""

    time: float
    cluster: int
    sites: np.ndarray
    before: np.ndarray
    after: np.ndarray


def side_files(path: str | os.PathLike) -> dict[str, Path]:
    """The writer's sibling files of run file ``path``: ``work``, ``prev`` and ``lock``."""
    p = Path(path)
    return {k: p.with_name(p.name + "." + k) for k in ("work", "prev", "lock")}


def n_orientations(params: Params) -> int:
    """Cluster orientations per anchor (docs/model.md, Clusters): site 1, dimer d, plaquette d(d-1)/2."""
    d = params.lattice.dim
    return {"site": 1, "dimer": d, "plaquette": d * (d - 1) // 2}[params.cluster.shape]


# --------------------------------------------------------------------------
# attribute helpers (the file must read the same from C, Julia, ...: plain types only)
# --------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """An HDF5 attribute value as a Python scalar (str, int, float); arrays unchanged."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray):
        if value.shape == ():
            return _plain(value[()])
        if value.shape == (1,):  # some writers store scalars as 1-element arrays
            return _plain(value[0])
        return value
    if isinstance(value, np.bytes_):
        return bytes(value).decode("utf-8")
    if isinstance(value, np.str_):
        return str(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


def _to_attr(value: Any) -> Any:
    """A Python value as a portable attribute: int64, float64 or a UTF-8 string."""
    if isinstance(value, bool):
        raise TypeError("booleans are not stored in run files")  # pragma: no cover
    if isinstance(value, int):
        return np.int64(value)
    if isinstance(value, float):
        return np.float64(value)
    if isinstance(value, str):
        return value
    raise TypeError(f"unsupported attribute type {type(value).__name__}")  # pragma: no cover


def _require_finite(rd: "_Reader", x: np.ndarray, where: str) -> None:
    bad = np.flatnonzero(~np.isfinite(x))
    if bad.size:
        raise rd.fail(f"{float(x[bad[0]])} at site {int(bad[0])} ({bad.size} non-finite values): softness must be finite", where)


class _Reader:
    """Checked access to one open HDF5 file; every failure is a TrspFileError naming the object."""

    def __init__(self, path: Path, h5: h5py.File):
        self.path = path
        self.h5 = h5

    def fail(self, problem: str, where: str | None = None) -> TrspFileError:
        return TrspFileError(self.path, problem, where)

    def group(self, name: str, required: bool = True) -> h5py.Group | None:
        obj = self.h5.get(name)
        if obj is None:
            if required:
                raise self.fail("missing group (docs/formats.md lists the required groups)", name)
            return None
        if not isinstance(obj, h5py.Group):
            raise self.fail("must be a group, found a dataset", name)
        return obj

    def attr(self, obj: h5py.HLObject, key: str, kind: type | tuple, required: bool = True, default: Any = None) -> Any:
        where = f"{obj.name.rstrip('/')}/@{key}" if obj.name != "/" else f"/@{key}"
        if key not in obj.attrs:
            if required:
                raise self.fail("missing attribute", where)
            return default
        try:
            value = _plain(obj.attrs[key])
        except Exception as exc:  # unreadable datatype
            raise self.fail(f"unreadable attribute ({exc})", where) from None
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kinds) or isinstance(value, bool):
            names = " or ".join(k.__name__ for k in kinds)
            raise self.fail(f"must be a scalar {names}, got {value!r}", where)
        return value

    def dataset(self, name: str, kind: str, ndim: int, required: bool = True) -> h5py.Dataset | None:
        """A dataset of numeric kind 'f' (float64) or 'i' (integer, read as int64) and rank ndim."""
        obj = self.h5.get(name)
        if obj is None:
            if required:
                raise self.fail("missing dataset", name)
            return None
        if not isinstance(obj, h5py.Dataset):
            raise self.fail("must be a dataset, found a group", name)
        dt = obj.dtype
        if kind == "f" and not (dt.kind == "f" and dt.itemsize == 8):
            raise self.fail(f"must be float64 (bit-exact values), found {dt}", name)
        if kind == "i" and dt.kind not in "iu":
            raise self.fail(f"must be an integer dataset, found {dt}", name)
        if len(obj.shape) != ndim:
            raise self.fail(f"must have {ndim} dimension(s), found shape {obj.shape}", name)
        return obj

    def rows(self, ds: h5py.Dataset, n: int, kind: str) -> np.ndarray:
        try:
            a = ds[:n] if n > 0 else np.zeros((0,) + ds.shape[1:], ds.dtype)
        except Exception as exc:
            raise self.fail(f"unreadable data ({exc})", ds.name) from None
        return np.ascontiguousarray(a, dtype=np.float64 if kind == "f" else np.int64)


# --------------------------------------------------------------------------
# the reader
# --------------------------------------------------------------------------


def _params_from_sections(rd: _Reader, grp: h5py.Group) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for section, sub in grp.items():
        if not isinstance(sub, h5py.Group):
            raise rd.fail("must be a group of attributes (one per key)", sub.name)
        out[section] = {}
        for key in sub.attrs:
            value = _plain(sub.attrs[key])
            if isinstance(value, np.ndarray):
                raise rd.fail("must be a scalar", f"{sub.name}/@{key}")
            out[section][key] = value
    return out


def first_difference(a: Mapping[str, Mapping[str, Any]], b: Mapping[str, Mapping[str, Any]]) -> str | None:
    for section in sorted(set(a) | set(b)):
        sa, sb = a.get(section, {}), b.get(section, {})
        for key in sorted(set(sa) | set(sb)):
            if sa.get(key) != sb.get(key):
                return f"{section}.{key} ({sa.get(key, 'absent')!r} vs {sb.get(key, 'absent')!r})"
    return None


class RunFile:
    """A run file, opened and checked (docs/formats.md).

    Use :meth:`open`.  Everything small is read and validated at once; ``events`` and
    ``snapshots`` are read on first access (only the committed rows, so a file that a
    running simulation replaces meanwhile still gives a consistent view; a file replaced
    by a *different* run raises).  Every problem is a :class:`TrspFileError`.

    Attributes
    ----------
    path, format_version, implementation (:class:`Implementation`), created (ISO 8601
    string), run_id, mode ("full" | "light"), params (:class:`~trsp_ref.params.Params`),
    params_toml, truncation (:class:`Truncation`), S0 (N,), t0, seed (:class:`SeedRecord`
    or None), checkpoint (:class:`Checkpoint`), N, n_clusters, n_events.
    """

    def __init__(self) -> None:  # use RunFile.open
        self._events: EventRecord | None = None
        self._snapshots: Snapshots | None = None

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(cls, path: str | os.PathLike) -> "RunFile":
        """Open and validate the structure of a run file; raise :class:`TrspFileError` if unusable."""
        path = Path(path)
        h5 = open_hdf5(path, "a run file", lambda problem, where: TrspFileError(path, problem, where))
        self = cls()
        self.path = path
        try:
            with h5:
                self._read_header(_Reader(path, h5))
        except TrspFileError:
            raise
        except OSError as exc:
            raise TrspFileError(path, f"cannot be read as HDF5 ({exc})") from None
        return self

    def _read_header(self, rd: _Reader) -> None:
        root = rd.h5
        fmt = rd.attr(root, "format", str)
        if fmt != FORMAT:
            raise rd.fail(f"is not a trsp run file (format is {fmt!r}, expected {FORMAT!r})", "/@format")
        version = rd.attr(root, "format_version", str)
        try:
            major, minor = (int(x) for x in version.split("."))
        except ValueError:
            raise rd.fail(f"must be 'MAJOR.MINOR', got {version!r}", "/@format_version") from None
        if major != _READ_MAJOR:
            raise rd.fail(
                f"format_version {version} is not readable by this trsp (reads {_READ_MAJOR}.x; "
                "docs/formats.md, Versioning)",
                "/@format_version",
            )
        self.format_version = version
        # format 1.1: /events/before may be omitted (it is what the replay gives)
        self._before_optional = minor >= 1
        self.implementation = Implementation(
            rd.attr(root, "implementation", str), rd.attr(root, "implementation_version", str)
        )
        self.created = rd.attr(root, "created", str)
        self.run_id = rd.attr(root, "run_id", str, required=False, default="")
        self.mode = rd.attr(root, "mode", str)
        if self.mode not in MODES:
            raise rd.fail(f"must be one of {list(MODES)}, got {self.mode!r}", "/@mode")

        # /params: the TOML text and the per-section attributes must be the same parameter set
        g = rd.group("/params")
        self.params_toml = rd.attr(g, "toml", str)
        try:
            from_toml = tomllib.loads(self.params_toml)
        except tomllib.TOMLDecodeError as exc:
            raise rd.fail(f"is not valid TOML ({exc})", "/params/@toml") from None
        try:
            self.params = params_from_dict(from_toml)
        except ParameterError as exc:
            raise rd.fail(str(exc), "/params/@toml") from None
        from_attrs = _params_from_sections(rd, g)
        try:
            params_attrs = params_from_dict(from_attrs)
        except ParameterError as exc:
            raise rd.fail(str(exc), "/params/<section>") from None
        if params_attrs != self.params:
            diff = first_difference(params_to_dict(self.params), params_to_dict(params_attrs))
            raise rd.fail(f"the TOML text and the section attributes disagree: {diff}", "/params")
        self.N = self.params.N
        self.n_clusters = self.N * n_orientations(self.params)

        g = rd.group("/truncation")
        self.truncation = Truncation(
            rd.attr(g, "kick_radius", float), rd.attr(g, "precision_radius", float), rd.attr(g, "tolerance", float),
            rd.attr(g, "scheme", str, required=False, default="cut"),
            # format 1.2: one tolerance per radius (absent = the one ``tolerance`` for both)
            rd.attr(g, "kick_tolerance", float, required=False, default=None),
            rd.attr(g, "precision_tolerance", float, required=False, default=None),
        )
        if self.truncation.scheme not in SCHEMES:
            raise rd.fail(f"must be one of {', '.join(SCHEMES)}, got {self.truncation.scheme!r}", "/truncation/@scheme")
        for key in ("kick_radius", "precision_radius", "tolerance", "kick_tolerance", "precision_tolerance"):
            v = getattr(self.truncation, key)
            if math.isnan(v) or v < 0:
                raise rd.fail(f"must be >= 0 (inf = exact model), got {v!r}", f"/truncation/@{key}")

        g = rd.group("/initial")
        ds = rd.dataset("/initial/S", "f", 1)
        if ds.shape != (self.N,):
            raise rd.fail(f"must have shape ({self.N},) = (L**dim,), found {ds.shape}", "/initial/S")
        self.S0 = rd.rows(ds, self.N, "f")
        _require_finite(rd, self.S0, "/initial/S")
        self.t0 = rd.attr(g, "t0", float)
        if not math.isfinite(self.t0):
            raise rd.fail("must be finite", "/initial/@t0")

        g = rd.group("/rng", required=False)
        self.seed = None
        if g is not None:
            ent = rd.attr(g, "seed_entropy", str, required=False, default="")
            key = g.attrs.get("spawn_key", np.zeros(0, np.int64))
            try:
                entropy = int(ent) if ent else None
                spawn_key = tuple(int(k) for k in np.atleast_1d(np.asarray(key)))
            except (TypeError, ValueError):
                raise rd.fail("seed_entropy must be a decimal integer string, spawn_key integers", "/rng") from None
            self.seed = SeedRecord(rd.attr(g, "bit_generator", str, required=False, default=""), entropy, spawn_key)

        self.checkpoint = self._read_checkpoint(rd)
        self.n_events = self.checkpoint.n_events
        self._check_lengths(rd)

    def _read_checkpoint(self, rd: _Reader) -> Checkpoint:
        g = rd.group("/checkpoint")
        ds = rd.dataset("/checkpoint/S", "f", 1)
        if ds.shape != (self.N,):
            raise rd.fail(f"must have shape ({self.N},), found {ds.shape}", "/checkpoint/S")
        n_events = rd.attr(g, "n_events", int)
        n_changes = rd.attr(g, "n_changes", int, required=self.mode == "full", default=0)
        n_snapshots = rd.attr(g, "n_snapshots", int, required="snapshots" in rd.h5, default=0)
        for key, v in (("n_events", n_events), ("n_changes", n_changes), ("n_snapshots", n_snapshots)):
            if v < 0:
                raise rd.fail(f"must be >= 0, got {v}", f"/checkpoint/@{key}")
        time = rd.attr(g, "time", float)
        if not math.isfinite(time) or time < self.t0:
            raise rd.fail(f"must be finite and >= t0 = {self.t0!r}, got {time!r}", "/checkpoint/@time")
        observed = rd.attr(g, "observed_until", float, required=False, default=time)
        if not (observed >= time and math.isfinite(observed)):
            raise rd.fail(f"must be finite and >= /checkpoint/@time = {time!r}, got {observed!r}", "/checkpoint/@observed_until")
        rng_text = rd.attr(g, "rng_state", str, required=False, default="")
        rng_state = None
        if rng_text:
            try:
                rng_state = json.loads(rng_text)
            except json.JSONDecodeError as exc:
                raise rd.fail(f"is not valid JSON ({exc})", "/checkpoint/@rng_state") from None
            if not isinstance(rng_state, dict) or "bit_generator" not in rng_state:
                raise rd.fail("must be numpy's bit_generator.state as a JSON object", "/checkpoint/@rng_state")
        status = rd.attr(g, "status", str, required=False, default="finished")
        if status not in STATUSES:
            raise rd.fail(f"must be one of {list(STATUSES)}, got {status!r}", "/checkpoint/@status")
        target_events = rd.attr(g, "target_events", int, required=False, default=-1)
        target_time = rd.attr(g, "target_time", float, required=False, default=math.inf)
        S_cp = rd.rows(ds, self.N, "f")
        _require_finite(rd, S_cp, "/checkpoint/S")
        return Checkpoint(
            S=S_cp,
            time=time,
            observed_until=observed,
            n_events=n_events,
            n_changes=n_changes,
            n_snapshots=n_snapshots,
            time_compensation=rd.attr(g, "time_compensation", float, required=False, default=0.0),
            rng_state=rng_state,
            status=status,
            target_events=None if target_events < 0 else target_events,
            target_time=None if math.isinf(target_time) else target_time,
        )

    def _check_lengths(self, rd: _Reader) -> None:
        """Every dataset holds at least the committed rows (rows beyond them are uncommitted, ignored)."""
        cp = self.checkpoint
        rd.group("/events")
        need = [("/events/time", "f", cp.n_events), ("/events/cluster", "i", cp.n_events)]
        if self.mode == "full":
            need += [
                ("/events/change_offsets", "i", cp.n_events + 1),
                ("/events/change_sites", "i", cp.n_changes),
                ("/events/after", "f", cp.n_changes),
            ]
            if not (self._before_optional and "/events/before" not in rd.h5):
                need.append(("/events/before", "f", cp.n_changes))
        for name, kind, n in need:
            ds = rd.dataset(name, kind, 1)
            if ds.shape[0] < n:
                raise rd.fail(
                    f"inconsistent lengths: holds {ds.shape[0]} rows but the checkpoint commits {n} "
                    f"(/checkpoint/@n_events = {cp.n_events}, @n_changes = {cp.n_changes})",
                    name,
                )
        if rd.group("/snapshots", required=False) is not None:
            t = rd.dataset("/snapshots/time", "f", 1)
            S = rd.dataset("/snapshots/S", "f", 2)
            if S.shape[1] != self.N:
                raise rd.fail(f"must have shape (n, {self.N}), found {S.shape}", "/snapshots/S")
            for ds in (t, S):
                if ds.shape[0] < cp.n_snapshots:
                    raise rd.fail(
                        f"inconsistent lengths: holds {ds.shape[0]} rows but /checkpoint says "
                        f"n_snapshots = {cp.n_snapshots}",
                        ds.name,
                    )
            interval = rd.attr(rd.h5["/snapshots"], "interval", float, required=False, default=math.nan)
            self._snapshot_interval = None if math.isnan(interval) else interval
        elif cp.n_snapshots:
            raise rd.fail(f"missing group, but /checkpoint says n_snapshots = {cp.n_snapshots}", "/snapshots")
        else:
            self._snapshot_interval = None

    # ------------------------------------------------------------------ bulk data

    def _reopen(self) -> tuple[h5py.File, _Reader]:
        """The file again, for the bulk data; it must still be this run (a longer version is fine)."""
        try:
            h5 = h5py.File(self.path, "r")
        except (OSError, FileNotFoundError) as exc:
            raise TrspFileError(self.path, f"cannot be read any more ({exc})") from None
        rd = _Reader(self.path, h5)
        if self.run_id and _plain(h5.attrs.get("run_id", b"")) != self.run_id:
            h5.close()
            raise TrspFileError(self.path, "was replaced by a different run since it was opened")
        return h5, rd

    @property
    def events(self) -> EventRecord:
        """All committed events in memory (read, value-checked and replayed on first access).

        A long "full" run can need more memory than the machine has: stream it with
        :meth:`iter_events` instead."""
        if self._events is None:
            chunks = list(self.iter_events(events_per_chunk=max(1, self.n_events)))
            self._events = chunks[0] if chunks else self._empty_events()
        return self._events

    def _empty_events(self) -> EventRecord:
        if self.mode != "full":
            return EventRecord(np.zeros(0), np.zeros(0, np.int64))
        z = np.zeros(0, np.int64)
        return EventRecord(np.zeros(0), z, np.zeros(1, np.int64), z, np.zeros(0), np.zeros(0))

    def default_chunk_events(self, max_changes: int = STREAM_CHANGES) -> int:
        """Events per chunk of :meth:`iter_events` holding about ``max_changes`` site changes."""
        per_event = self.checkpoint.n_changes / max(1, self.n_events)
        return int(max(1, min(max(1, self.n_events), max_changes // max(1.0, per_event))))

    def iter_events(self, events_per_chunk: int | None = None) -> Iterator[EventRecord]:
        """The committed events in consecutive chunks (memory bounded by the chunk, not the run).

        Every chunk is value-checked (finite non-decreasing times, cluster ids and sites in
        range, offsets consistent, no site twice within one event, finite values) and, in a
        "full" file, replayed: every recorded ``before`` must equal the replayed value bit for
        bit, and where the file omits ``before`` (format 1.1) it is filled in from the replay.
        Raises :class:`TrspFileError` naming the dataset and the event at the first problem.
        """
        n, k = self.checkpoint.n_events, self.checkpoint.n_changes
        step = int(events_per_chunk) if events_per_chunk else self.default_chunk_events()
        full = self.mode == "full"
        S = self.S0.copy() if full else None
        prev_time = self.t0
        h5, rd = self._reopen()
        with h5:
            ds_t = rd.dataset("/events/time", "f", 1)
            ds_c = rd.dataset("/events/cluster", "i", 1)
            if full:
                ds_o = rd.dataset("/events/change_offsets", "i", 1)
                ds_s = rd.dataset("/events/change_sites", "i", 1)
                ds_a = rd.dataset("/events/after", "f", 1)
                ds_b = rd.dataset("/events/before", "f", 1, required=not self._before_optional)
            for lo in range(0, n, max(1, step)):
                hi = min(n, lo + step)
                times = _rows(rd, ds_t, lo, hi, "f")
                clusters = _rows(rd, ds_c, lo, hi, "i")
                self._check_event_values(times, clusters, lo, prev_time)
                prev_time = float(times[-1])
                if not full:
                    yield EventRecord(times, clusters)
                    continue
                o = _rows(rd, ds_o, lo, hi + 1, "i")
                if (lo == 0 and o[0] != 0) or (hi == n and o[-1] != k) or np.any(np.diff(o) < 0) or o[-1] > k:
                    raise TrspFileError(
                        self.path,
                        f"must start at 0, never decrease and end at n_changes = {k} (events {lo}..{hi - 1}: "
                        f"found {int(o[0])} .. {int(o[-1])})",
                        "/events/change_offsets",
                    )
                a, b = int(o[0]), int(o[-1])
                sites = _rows(rd, ds_s, a, b, "i")
                after = _rows(rd, ds_a, a, b, "f")
                before = None if ds_b is None else _rows(rd, ds_b, a, b, "f")
                rec = EventRecord(times, clusters, o - a, sites, before, after)
                self._check_change_values(rec, lo, a)
                yield self._replayed(rec, S, lo)

    def _check_event_values(self, times: np.ndarray, clusters: np.ndarray, lo: int, prev_time: float) -> None:
        fail = lambda problem, where: TrspFileError(self.path, problem, where)  # noqa: E731
        if not np.all(np.isfinite(times)):
            raise fail(f"non-finite time at event {lo + int(np.argmin(np.isfinite(times)))}", "/events/time")
        bad = np.flatnonzero(np.diff(np.concatenate(([prev_time], times))) < 0)
        if bad.size:
            raise fail(f"times must not decrease (from t0 on): event {lo + int(bad[0])}", "/events/time")
        if times[-1] > self.checkpoint.time:
            raise fail(f"last event time {times[-1]!r} is after the checkpoint time", "/events/time")
        bad = np.flatnonzero((clusters < 0) | (clusters >= self.n_clusters))
        if bad.size:
            raise fail(
                f"cluster id out of range [0, {self.n_clusters}) at event {lo + int(bad[0])}: {int(clusters[bad[0]])}",
                "/events/cluster",
            )

    def _check_change_values(self, rec: EventRecord, lo: int, first_change: int) -> None:
        fail = lambda problem, where: TrspFileError(self.path, problem, where)  # noqa: E731
        s = rec.change_sites
        bad = np.flatnonzero((s < 0) | (s >= self.N))
        if bad.size:
            raise fail(f"site out of range [0, {self.N}) at change {first_change + int(bad[0])}", "/events/change_sites")
        for key in ("before", "after"):
            v = getattr(rec, key)
            if v is not None and not np.all(np.isfinite(v)):
                j = int(np.argmin(np.isfinite(v)))
                raise fail(f"non-finite softness {v[j]!r} at change {first_change + j}", f"/events/{key}")
        # within one event a site appears at most once (docs/formats.md): the replay would
        # otherwise depend on the order of the repeated entries
        owner = np.repeat(np.arange(len(rec), dtype=np.int64), np.diff(rec.change_offsets))
        key = owner * self.N + s
        if key.size:
            srt = np.sort(key)
            dup = np.flatnonzero(srt[1:] == srt[:-1])
            if dup.size:
                e, site = divmod(int(srt[dup[0]]), self.N)
                raise fail(f"event {lo + e} lists site {site} more than once (a site appears at most once per event)",
                           "/events/change_sites")

    def _replayed(self, rec: EventRecord, S: np.ndarray, lo: int) -> EventRecord:
        """Check (or fill in) ``before`` against the replay from ``S`` (the state before the
        chunk), and advance ``S`` in place to the state after it."""
        rec, bad = replay_record(rec, S)
        if bad is not None:
            e = int(np.searchsorted(rec.change_offsets, bad, side="right") - 1)
            raise TrspFileError(
                self.path,
                f"event {lo + e} records site {int(rec.change_sites[bad])} as {rec.before[bad]!r} before the change, "
                "but replaying the earlier events gives a different value",
                "/events/before",
            )
        return rec

    @property
    def snapshots(self) -> Snapshots:
        """The committed snapshots (read on first access); empty when the run has none."""
        if self._snapshots is None:
            n = self.checkpoint.n_snapshots
            if n == 0:
                self._snapshots = Snapshots(np.zeros(0), np.zeros((0, self.N)), self._snapshot_interval)
            else:
                h5, rd = self._reopen()
                with h5:
                    t = self._snapshot_times(rd)
                    S = rd.rows(rd.dataset("/snapshots/S", "f", 2), n, "f")
                self._snapshots = Snapshots(t, S, self._snapshot_interval)
        return self._snapshots

    def _snapshot_times(self, rd: _Reader) -> np.ndarray:
        n = self.checkpoint.n_snapshots
        t = rd.rows(rd.dataset("/snapshots/time", "f", 1), n, "f")
        if n and (not np.all(np.isfinite(t)) or np.any(np.diff(t) < 0) or t[0] < self.t0):
            raise TrspFileError(self.path, "snapshot times must be finite, >= t0 and not decrease", "/snapshots/time")
        return t

    def snapshot_times(self) -> np.ndarray:
        """The committed snapshot times alone (without the states)."""
        if self._snapshots is not None:
            return self._snapshots.time
        if self.checkpoint.n_snapshots == 0:
            return np.zeros(0)
        h5, rd = self._reopen()
        with h5:
            return self._snapshot_times(rd)

    def snapshot_state(self, j: int) -> np.ndarray:
        """Snapshot ``j``'s state alone (one row read)."""
        if self._snapshots is not None:
            return self._snapshots.S[j]
        h5, rd = self._reopen()
        with h5:
            ds = rd.dataset("/snapshots/S", "f", 2)
            try:
                return np.asarray(ds[j], dtype=np.float64)
            except Exception as exc:
                raise rd.fail(f"unreadable data ({exc})", ds.name) from None

    # ------------------------------------------------------------------ replay

    def replay(self) -> Iterator[ReplayEvent]:
        """The events in order, each with the sites it changed and their values before and after.

        Applying ``S[sites] = after`` for every event, starting from ``S0``, reproduces the
        trajectory exactly (``check`` verifies it).  Needs a "full" file; streams the file.
        """
        if self.mode != "full":
            raise TrspFileError(self.path, "is a 'light' run file: it records no site changes to replay", "/@mode")
        for rec in self.iter_events():
            o = rec.change_offsets
            for e in range(len(rec)):
                a, b = o[e], o[e + 1]
                yield ReplayEvent(float(rec.times[e]), int(rec.clusters[e]), rec.change_sites[a:b], rec.before[a:b], rec.after[a:b])

    def state_at(self, n_events: int) -> np.ndarray:
        """The state after the first ``n_events`` events (replayed from S0; "full" files)."""
        if self.mode != "full":
            raise TrspFileError(self.path, "is a 'light' run file: states between snapshots are not recorded", "/@mode")
        if not 0 <= n_events <= self.n_events:
            raise ValueError(f"n_events must be in [0, {self.n_events}]")
        S = self.S0.copy()
        done = 0
        for rec in self.iter_events():
            take = min(len(rec), n_events - done)
            if take <= 0:
                break
            apply_changes(S, rec.change_sites[: rec.change_offsets[take]], rec.after[: rec.change_offsets[take]])
            done += take
        return S

    def check(self, events_per_chunk: int | None = None) -> None:
        """Deep consistency: replaying the events from S0 must reproduce every ``before``, every
        snapshot and the checkpoint state bit for bit ("full" files; "light" files: value checks).
        Streams the file (memory bounded by one chunk).

        Raises :class:`TrspFileError` at the first disagreement.
        """
        checker = self.stream_checker()
        for rec in self.iter_events(events_per_chunk):
            checker.chunk(rec)
        checker.finish()

    def stream_checker(self) -> "StreamCheck":
        """A :class:`StreamCheck` for this file: feed it the chunks of :meth:`iter_events`."""
        return StreamCheck(self)


class StreamCheck:
    """The snapshot and checkpoint part of :meth:`RunFile.check`, fed chunk by chunk (so that a
    reader that streams the events for its own purpose checks the file in the same pass)."""

    def __init__(self, run: RunFile):
        self.run = run
        self.full = run.mode == "full"
        self.S = run.S0.copy() if self.full else None
        self.snap_t = run.snapshot_times()
        self.j = 0
        self.done = 0
        bad = np.flatnonzero(self.snap_t > run.checkpoint.observed_until)
        if bad.size:
            raise TrspFileError(
                run.path, f"snapshot {int(bad[0])} (t = {self.snap_t[bad[0]]!r}) lies after /checkpoint/@observed_until",
                "/snapshots/time",
            )

    def _compare(self, S: np.ndarray, through: int) -> None:
        if not _same_bits(S, self.run.snapshot_state(self.j)):
            raise TrspFileError(
                self.run.path,
                f"snapshot {self.j} (t = {self.snap_t[self.j]!r}) differs from the state replayed from S0 through "
                f"event {through - 1}",
                "/snapshots/S",
            )
        self.j += 1

    def chunk(self, rec: EventRecord) -> None:
        if not self.full:
            return
        n = len(rec)
        while self.j < self.snap_t.size:
            k = int(np.searchsorted(rec.times, self.snap_t[self.j], side="right"))
            if k >= n:
                break  # the state at this time is settled by a later chunk (or the end)
            S = self.S.copy()
            apply_changes(S, rec.change_sites[: rec.change_offsets[k]], rec.after[: rec.change_offsets[k]])
            self._compare(S, self.done + k)
        apply_changes(self.S, rec.change_sites, rec.after)
        self.done += n

    def finish(self) -> None:
        if not self.full:
            return
        while self.j < self.snap_t.size:
            self._compare(self.S, self.done)
        if not _same_bits(self.S, self.run.checkpoint.S):
            raise TrspFileError(self.run.path, "differs from the state replayed from S0 through all events", "/checkpoint/S")


def _rows(rd: _Reader, ds: h5py.Dataset, a: int, b: int, kind: str) -> np.ndarray:
    try:
        x = ds[a:b] if b > a else np.zeros((0,) + ds.shape[1:], ds.dtype)
    except Exception as exc:
        raise rd.fail(f"unreadable data ({exc})", ds.name) from None
    return np.ascontiguousarray(x, dtype=np.float64 if kind == "f" else np.int64)


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.array_equal(a.view(np.int64), b.view(np.int64)))


def replay_record(rec: EventRecord, S: np.ndarray) -> tuple[EventRecord, int | None]:
    """Replay a "full" record (change offsets from 0) from the state ``S`` before it: returns the
    record with ``before`` filled in where it is None, and the index of the first change whose
    recorded ``before`` differs (bit for bit) from the replayed value (None: all agree).
    ``S`` is advanced in place to the state after the record (unless a mismatch is found)."""
    sites, after = rec.change_sites, rec.after
    # the value a change finds is what the previous change of that site left (or S)
    order = np.lexsort((np.arange(sites.size), sites))  # by site, then in event order
    s_sorted = sites[order]
    first = np.r_[True, s_sorted[1:] != s_sorted[:-1]] if s_sorted.size else np.zeros(0, bool)
    expected = np.where(first, S[s_sorted], np.r_[np.nan, after[order][:-1]] if s_sorted.size else np.zeros(0))
    if rec.before is None:
        before = np.empty_like(after)
        before[order] = expected
        rec = EventRecord(rec.times, rec.clusters, rec.change_offsets, sites, before, after)
    else:
        mismatch = np.flatnonzero(expected.view(np.int64) != rec.before[order].view(np.int64))
        if mismatch.size:
            return rec, int(order[mismatch].min())
    apply_changes(S, sites, after)
    return rec, None


def apply_changes(S: np.ndarray, sites: np.ndarray, values: np.ndarray) -> None:
    """``S[sites[i]] = values[i]`` in order, so the last write to a site wins (fancy assignment
    does not promise an order for repeated indices)."""
    if sites.size == 0:
        return
    u, last = np.unique(sites[::-1], return_index=True)
    S[u] = values[::-1][last]


# --------------------------------------------------------------------------
# the writer
# --------------------------------------------------------------------------


_fsync_path = fsync_file


#: HDF5 files whose data could not be written (disk full): closing them can crash libhdf5,
#: so they are kept open, unused, until the process ends (``trsp`` then ends with os._exit)
_UNCLOSABLE: list = []


def _close_h5(h5) -> None:
    """Close a writer's HDF5 file, or park it when its pending data cannot be written."""
    try:
        h5.flush()
    except Exception:  # the disk is full (or gone): do not let libhdf5 try again in close()
        _UNCLOSABLE.append(h5)
        return
    try:
        h5.close()
    except Exception:  # pragma: no cover
        pass


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def _extendable(
    g: h5py.Group, name: str, dtype: Any, row_shape: tuple[int, ...] = (), initial: np.ndarray | None = None,
    compress: bool = True,
) -> None:
    row = int(np.prod(row_shape)) if row_shape else 1
    rows = max(1, _CHUNK_ELEMENTS // row)
    data = initial if initial is not None else np.zeros((0,) + row_shape, dtype)
    filters = _FILTERS if compress else {}
    g.create_dataset(name, data=data, maxshape=(None,) + row_shape, chunks=(rows,) + row_shape, dtype=dtype, **filters)


def _append(ds: h5py.Dataset, data: np.ndarray, at: int) -> None:
    """Write ``data`` at row ``at`` (rows beyond are dropped: uncommitted leftovers)."""
    ds.resize(at + data.shape[0], axis=0)
    if data.shape[0]:
        ds[at:] = data


class RunWriter:
    """Writes a run file crash-safely (module docstring; docs/formats.md, "Writing safely").

    Make one with :meth:`create` (a new run) or :meth:`reopen` (continue a run), then call
    :meth:`append_events` / :meth:`append_snapshots` as the simulation goes and
    :meth:`commit` at each checkpoint; only committed data ever appears under the run's
    name.  :meth:`close` releases the lock and removes the work file (uncommitted data is
    dropped).  Usable as a context manager.
    """

    def __init__(self, path: Path, mode: str, N: int, run_id: str, counts: tuple[int, int, int]):
        self.path = path
        self.mode = mode
        self.N = N
        self.run_id = run_id
        side = side_files(path)
        self._work_path, self._prev_path, self._lock_path = side["work"], side["prev"], side["lock"]
        self._committed = counts  # (n_events, n_changes, n_snapshots) under the run's name
        self._counts = list(counts)  # the same, in the work file including uncommitted rows
        self._h5: h5py.File | None = None
        self._lock_fd: int | None = None
        #: wall-clock seconds spent in commit() and in bringing the work file up to date
        self.commit_seconds = 0.0
        self.n_commits = 0

    # ------------------------------------------------------------------ making one

    def _lock(self) -> None:
        if fcntl is None:  # pragma: no cover
            return
        for _ in range(100):
            fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise TrspFileError(
                    self.path, f"another process is writing this run (it holds {self._lock_path.name})"
                ) from None
            # A writer that finished removes its lock file; a lock taken on that removed file
            # would guard nothing, so make sure ours is the one under the name.
            try:
                if os.fstat(fd).st_ino == os.stat(self._lock_path).st_ino:
                    self._lock_fd = fd
                    return
            except FileNotFoundError:
                pass
            os.close(fd)
        raise TrspFileError(self.path, f"cannot take the lock {self._lock_path.name}")  # pragma: no cover

    @classmethod
    def create(
        cls,
        path: str | os.PathLike,
        *,
        params: Params,
        truncation: Truncation,
        S0: np.ndarray,
        t0: float = 0.0,
        mode: str = "full",
        snapshot_interval: float | None = None,
        implementation: Implementation,
        seed: SeedRecord | None = None,
        rng_state: dict | None = None,
        target_events: int | None = None,
        target_time: float | None = None,
        overwrite: bool = False,
        keep_before: bool = False,
    ) -> "RunWriter":
        """Start a new run file; it appears under ``path`` with 0 events at once (checkpoint 0).

        An existing ``path`` is replaced (atomically, at that first commit) only when
        ``overwrite``; otherwise it raises :class:`TrspFileError`.  A "full" file stores
        ``/events/before`` only when ``keep_before`` (format 1.1: it is redundant, the replay
        gives it; readers fill it in).  Event datasets are compressed (shuffle + deflate).
        """
        path = Path(path)
        if mode not in MODES:
            raise ParameterError("mode", f"must be one of {list(MODES)}", mode)
        S0 = np.ascontiguousarray(S0, dtype=np.float64)
        if S0.shape != (params.N,):
            raise ParameterError("S0", f"must have shape ({params.N},)", S0.shape)
        w = cls(path, mode, params.N, uuid.uuid4().hex, (0, 0, 0))
        w._lock()
        try:
            if path.exists() and not overwrite:
                raise TrspFileError(path, "already exists (continue it with --resume, or replace it with --force)")
            for p in (w._work_path, w._prev_path):
                _remove(p)
            h5 = h5py.File(w._work_path, "w")
            w._h5 = h5
            h5.attrs["format"] = FORMAT
            h5.attrs["format_version"] = FORMAT_VERSION
            h5.attrs["implementation"] = implementation.name
            h5.attrs["implementation_version"] = implementation.version
            h5.attrs["created"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
            h5.attrs["run_id"] = w.run_id
            h5.attrs["mode"] = mode
            g = h5.create_group("params")
            g.attrs["toml"] = dumps_toml(params)
            for section, values in params_to_dict(params).items():
                sg = g.create_group(section)
                for key, value in values.items():
                    sg.attrs[key] = _to_attr(value)
            g = h5.create_group("truncation")
            for key in ("kick_radius", "precision_radius", "tolerance", "kick_tolerance", "precision_tolerance"):
                g.attrs[key] = np.float64(getattr(truncation, key))
            g.attrs["scheme"] = truncation.scheme
            g = h5.create_group("initial")
            g.create_dataset("S", data=S0)
            g.attrs["t0"] = np.float64(t0)
            if seed is not None:
                g = h5.create_group("rng")
                g.attrs["bit_generator"] = seed.bit_generator
                g.attrs["seed_entropy"] = "" if seed.entropy is None else str(seed.entropy)
                g.attrs["spawn_key"] = np.asarray(seed.spawn_key, dtype=np.int64)
            g = h5.create_group("events")
            _extendable(g, "time", np.float64)
            _extendable(g, "cluster", np.int64)
            if mode == "full":
                _extendable(g, "change_offsets", np.int64, initial=np.zeros(1, np.int64))
                _extendable(g, "change_sites", np.int64)
                if keep_before:
                    _extendable(g, "before", np.float64, compress=False)
                _extendable(g, "after", np.float64, compress=False)
            g = h5.create_group("snapshots")
            _extendable(g, "time", np.float64, compress=False)
            _extendable(g, "S", np.float64, (params.N,), compress=False)
            g.attrs["interval"] = np.float64(math.nan if snapshot_interval is None else snapshot_interval)
            g = h5.create_group("checkpoint")
            g.create_dataset("S", data=S0)
            w.commit(
                S0, t0, 0, 0.0, rng_state, status="running", target_events=target_events, target_time=target_time
            )
        except BaseException:
            w.close(remove_work=True)
            raise
        return w

    @classmethod
    def reopen(cls, run: RunFile) -> "RunWriter":
        """Continue writing the run ``run`` (opened with :meth:`RunFile.open`) after its checkpoint."""
        cp = run.checkpoint
        w = cls(run.path, run.mode, run.N, run.run_id, (cp.n_events, cp.n_changes, cp.n_snapshots))
        w._lock()
        # Whatever a killed writer left beside the run is unusable by construction: start clean.
        for p in (w._work_path, w._prev_path):
            _remove(p)
        try:
            fresh = RunFile.open(run.path)  # the run may have moved on between open and lock
        except TrspFileError:
            w.close()
            raise
        if fresh.run_id != run.run_id or fresh.checkpoint.n_events != cp.n_events:
            w.close()
            raise TrspFileError(run.path, "changed while it was being opened for resuming; try again")
        return w

    # ------------------------------------------------------------------ the work file

    def _ensure_work(self) -> h5py.File:
        """The open work file, holding exactly the committed rows (plus what was appended since)."""
        if self._h5 is not None:
            return self._h5
        import time as _time

        t_start = _time.perf_counter()
        h5 = None
        try:
            h5 = h5py.File(self._work_path, "r+")
            if _plain(h5.attrs.get("run_id", b"")) != self.run_id:
                raise ValueError("work file of another run")
            cp = h5["checkpoint"].attrs
            have = (int(cp["n_events"]), int(cp.get("n_changes", 0)), int(cp.get("n_snapshots", 0)))
            if any(h > c for h, c in zip(have, self._committed)):
                raise ValueError("work file ahead of the run")
            self._catch_up(h5, have)
        except Exception:
            # Missing, unreadable, locked by a reader, or from another run: start from a copy.
            if h5 is not None:
                try:
                    h5.close()
                except Exception:  # pragma: no cover
                    pass
            _remove(self._work_path)
            shutil.copyfile(self.path, self._work_path)
            h5 = h5py.File(self._work_path, "r+")
        _fault("work-ready")
        self._h5 = h5
        self._counts = list(self._committed)
        self.commit_seconds += _time.perf_counter() - t_start
        return h5

    def _catch_up(self, h5: h5py.File, have: tuple[int, int, int]) -> None:
        """Append the committed rows the work file lacks, read from the run file itself."""
        n_ev, n_ch, n_sn = self._committed
        pieces = [("events/time", have[0], n_ev), ("events/cluster", have[0], n_ev)]
        if self.mode == "full":
            pieces += [
                ("events/change_offsets", have[0] + 1, n_ev + 1),
                ("events/change_sites", have[1], n_ch),
                ("events/after", have[1], n_ch),
            ]
            if "events/before" in h5:
                pieces.append(("events/before", have[1], n_ch))
        pieces += [("snapshots/time", have[2], n_sn), ("snapshots/S", have[2], n_sn)]
        with h5py.File(self.path, "r") as src:
            for name, a, b in pieces:
                dst = h5[name]
                dst.resize(b, axis=0)
                step = max(1, _COPY_BLOCK // max(1, int(np.prod(dst.shape[1:]))))
                for i in range(a, b, step):
                    j = min(b, i + step)
                    dst[i:j] = src[name][i:j]

    def append_events(
        self,
        times: np.ndarray,
        clusters: np.ndarray,
        change_offsets: np.ndarray | None = None,
        change_sites: np.ndarray | None = None,
        before: np.ndarray | None = None,
        after: np.ndarray | None = None,
    ) -> None:
        """Append events (uncommitted until :meth:`commit`).  ``change_offsets`` (n+1) index the
        chunk's own change arrays; they are shifted to the file's.  Ignored in "light" mode."""
        h5 = self._ensure_work()
        times = np.asarray(times, dtype=np.float64)
        n = times.shape[0]
        n_ev, n_ch, _ = self._counts
        g = h5["events"]
        _append(g["time"], times, n_ev)
        _append(g["cluster"], np.asarray(clusters, dtype=np.int64), n_ev)
        if self.mode == "full":
            if change_offsets is None:
                raise ValueError("a 'full' run needs the site changes (record=True)")
            o = np.asarray(change_offsets, dtype=np.int64)
            k = int(o[-1] - o[0])
            _append(g["change_offsets"], o[1:] - o[0] + n_ch, n_ev + 1)
            _append(g["change_sites"], np.asarray(change_sites, dtype=np.int64)[o[0] : o[-1]], n_ch)
            if "before" in g:
                if before is None:
                    raise ValueError("this run file stores /events/before: pass the values before each change")
                _append(g["before"], np.asarray(before, dtype=np.float64)[o[0] : o[-1]], n_ch)
            _append(g["after"], np.asarray(after, dtype=np.float64)[o[0] : o[-1]], n_ch)
            self._counts[1] += k
        self._counts[0] += n

    def append(self, events: EventRecord) -> None:
        """Append a block of events (:meth:`append_events` with the record's arrays)."""
        self.append_events(events.times, events.clusters, events.change_offsets, events.change_sites, events.before, events.after)

    def append_snapshots(self, times: np.ndarray, S: np.ndarray) -> None:
        """Append snapshots (uncommitted until :meth:`commit`)."""
        h5 = self._ensure_work()
        times = np.atleast_1d(np.asarray(times, dtype=np.float64))
        S = np.asarray(S, dtype=np.float64).reshape(times.shape[0], self.N)
        g = h5["snapshots"]
        _append(g["time"], times, self._counts[2])
        _append(g["S"], S, self._counts[2])
        self._counts[2] += times.shape[0]

    @property
    def n_snapshots(self) -> int:
        """Snapshots written so far (committed or not)."""
        return self._counts[2]

    # ------------------------------------------------------------------ checkpoints

    def commit(
        self,
        S: np.ndarray,
        time: float,
        n_events: int,
        time_compensation: float,
        rng_state: dict | None,
        *,
        status: str = "running",
        target_events: int | None = None,
        target_time: float | None = None,
        observed_until: float | None = None,
    ) -> None:
        """Make everything appended so far, and this state, the run's new checkpoint (atomically).

        ``observed_until`` (default ``time``): the trajectory is complete up to this time."""
        import time as _time

        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}")
        if n_events != self._counts[0]:
            raise ValueError(f"checkpoint at {n_events} events but {self._counts[0]} were appended")
        h5 = self._ensure_work()
        t_start = _time.perf_counter()
        _fault("events-written")
        g = h5["checkpoint"]
        g["S"][...] = np.asarray(S, dtype=np.float64)
        a = g.attrs
        a["time"] = np.float64(time)
        a["observed_until"] = np.float64(time if observed_until is None else max(time, observed_until))
        a["time_compensation"] = np.float64(time_compensation)
        a["rng_state"] = json.dumps(rng_state) if rng_state is not None else ""
        a["status"] = status
        a["target_events"] = np.int64(-1 if target_events is None else target_events)
        a["target_time"] = np.float64(math.inf if target_time is None else target_time)
        a["n_changes"] = np.int64(self._counts[1])
        a["n_snapshots"] = np.int64(self._counts[2])
        a["n_events"] = np.int64(self._counts[0])  # last: the committed-length marker
        _fault("checkpoint-written")
        # Flush first: a failed write (disk full) then raises here; libhdf5 can crash when
        # close() meets a flush failure.  _close_h5 parks such a file instead.
        h5.flush()
        h5.close()
        self._h5 = None
        _fsync_path(self._work_path)
        _fault("work-closed")
        # Keep the displaced version alive (as the next work file) through a hard link; on
        # file systems without hard links the next work file is a copy instead.
        _remove(self._prev_path)
        linked = False
        if self.path.exists():
            try:
                os.link(self.path, self._prev_path)
                linked = True
            except OSError:
                linked = False
        _fault("linked")
        os.replace(self._work_path, self.path)
        fsync_dir(self.path.parent)
        _fault("replaced")
        if linked:
            os.replace(self._prev_path, self._work_path)
        _fault("recycled")
        self._committed = tuple(self._counts)  # type: ignore[assignment]
        self.n_commits += 1
        self.commit_seconds += _time.perf_counter() - t_start

    def close(self, remove_work: bool = True) -> None:
        """Drop uncommitted data, remove the work file, release the lock."""
        if self._h5 is not None:
            _close_h5(self._h5)
            self._h5 = None
        if remove_work:
            _remove(self._work_path)
            _remove(self._prev_path)
        if self._lock_fd is not None:
            # Remove the lock file while still holding it, so no one locks a stale one.
            _remove(self._lock_path)
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> "RunWriter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
