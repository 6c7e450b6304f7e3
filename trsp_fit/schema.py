"""The particle-data format's schema (docs/formats-particles.md), checked at the door.

:func:`read_header` checks every item :func:`trsp_fit.read_particles` uses, from the file's
metadata and its small root attributes only (no dataset is read): type, shape and dtype
(:mod:`trsp_runfile.schema`), then what the attributes must mean together (2 or 3 box
lengths, a known rearrangement kind, a lattice whose L^d sites are the N particles and whose
side is the box).  Every problem is a :class:`~trsp_fit.particles.ParticleFileError` naming the
file and the item.  The values of the datasets (finite softness, increasing times, ...) are
checked when they are read (:meth:`trsp_fit.particles.ParticleData.validate`).
"""

from __future__ import annotations

import filecmp
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from trsp_ref.params import CLUSTER_SHAPES
from trsp_runfile.schema import Item, check_items, item_meta, open_hdf5

__all__ = ["ITEMS", "ParticleHeader", "read_header", "INPUT_FORMATS", "InputInfo", "inspect_input", "check_fit_inputs"]

K, N, D = "K", "N", "d"

#: every item of the format a reader uses (docs/formats-particles.md), in the order checked
ITEMS = (
    Item("/@format", "string"),
    Item("/@format_version", "string"),
    Item("/@temperature", "real"),
    Item("/@box", "real", (D,)),
    Item("/@rearrangement_kind", "string", required=False),
    Item("/@duration", "real", required=False),
    Item("/@p_hop_threshold", "real", required=False),
    Item("/@lattice_L", "integer", required=False),
    Item("/@lattice_spacing", "real", required=False),
    Item("/@on_lattice", "flag", required=False),
    Item("/@cluster_shape", "string", required=False),
    Item("/@source", "string", required=False),
    Item("/@type_names", "strings", (None,), required=False),  # format 1.1: the name of each type id
    Item("/frames/time", "real", (K,)),
    Item("/frames/softness", "real", (K, N)),
    Item("/frames/rearranging", "flag", (K, N), required=False),
    Item("/frames/p_hop", "real", (K, N), required=False),
    Item("/frames/n_rearrangements", "integer", (K,), required=False),
    Item("/particles/type", "integer", (N,), required=False),
    Item("/particles/position", "real", (N, D), required=False),
    Item("/frames/position", "real", (K, N, D), required=False),
)


@dataclass(frozen=True)
class ParticleHeader:
    """What a particle-data file holds, known before its datasets are read."""

    path: Path
    format_version: str
    n_frames: int
    n_particles: int
    dim: int
    temperature: float
    box: np.ndarray
    kind: str
    duration: float | None
    p_hop_threshold: float
    indicator: str  # the dataset that says who rearranges: /frames/rearranging or /frames/p_hop
    positions: str  # /particles/position (fixed) or /frames/position (per frame)
    lattice: dict | None
    cluster_shape: str | None
    source: str
    has_types: bool
    has_counts: bool
    type_names: tuple[str, ...] | None = None  # format 1.1


def _value(h5: h5py.File, name: str, default=None):
    if name not in h5.attrs:
        return default
    v = h5.attrs[name]
    if isinstance(v, bytes):
        v = v.decode("utf-8", errors="replace")
    if isinstance(v, np.ndarray) and v.size == 1 and name != "box":
        v = v.reshape(())[()]
        if isinstance(v, bytes):
            v = v.decode("utf-8", errors="replace")
    return v


def read_header(h5: h5py.File, path: Path, fail) -> ParticleHeader:
    """Check the file's schema and its attributes' values; ``fail(problem, where)`` builds the error."""
    from .particles import FORMAT, FORMAT_VERSION, KINDS, DEFAULT_P_HOP_THRESHOLD

    check_items(h5, ITEMS[:1], fail)
    fmt = str(_value(h5, "format"))
    if fmt != FORMAT:
        raise fail(f"is not a particle-data file (format is {fmt!r}, expected {FORMAT!r})", "/@format")
    dims = check_items(h5, ITEMS[1:4], fail)  # the version, the temperature and the box: d, before anything is shaped by it
    version = str(_value(h5, "format_version"))
    if version.split(".")[0] != FORMAT_VERSION.split(".")[0]:
        raise fail(f"format version {version} is not supported (this reader: {FORMAT_VERSION})", "/@format_version")
    if dims[D] not in (2, 3):
        raise fail(f"must hold 2 or 3 box lengths, got {dims[D]}", "/@box")
    dims = check_items(h5, ITEMS[4:], fail, dims)
    d, n_frames, n_particles = dims[D], dims[K], dims[N]
    box = np.asarray(h5.attrs["box"], dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(box)) or np.any(box <= 0):
        raise fail("box lengths must be finite and > 0", "/@box")
    temperature = float(_value(h5, "temperature"))
    if not (math.isfinite(temperature) and temperature > 0):
        raise fail("the temperature must be finite and > 0", "/@temperature")
    if n_frames < 2:
        raise fail(f"needs at least 2 frames, got {n_frames}", "/frames/time")
    if n_particles < 2:
        raise fail(f"needs at least 2 particles, got {n_particles}", "/frames/softness")
    kind = str(_value(h5, "rearrangement_kind", "sustained"))
    if kind not in KINDS:
        raise fail(f"must be one of {list(KINDS)}, got {kind!r}", "/@rearrangement_kind")
    duration = _value(h5, "duration")
    if duration is not None:
        duration = float(duration)
        if not (math.isfinite(duration) and duration > 0):
            raise fail(f"must be finite and > 0, got {duration}", "/@duration")
    elif kind == "instantaneous":
        raise fail("instantaneous rearrangements need the given duration (the data cannot fix it)", "/@duration")
    threshold = float(_value(h5, "p_hop_threshold", DEFAULT_P_HOP_THRESHOLD))
    if not math.isfinite(threshold):
        raise fail(f"must be finite, got {threshold}", "/@p_hop_threshold")
    present = {it.where for it in ITEMS if not it.is_attribute and item_meta(h5, it.where) is not None}
    indicator = next((w for w in ("/frames/rearranging", "/frames/p_hop") if w in present), None)
    if indicator is None:
        raise fail("missing the rearrangement indicator: give /frames/rearranging or /frames/p_hop", "/frames")
    positions = next((w for w in ("/particles/position", "/frames/position") if w in present), None)
    if positions is None:
        raise fail("missing positions: give /particles/position (fixed) or /frames/position", "/particles/position")
    lattice = None
    has_L, has_a = "lattice_L" in h5.attrs, "lattice_spacing" in h5.attrs
    if has_L != has_a:
        raise fail("/@lattice_L and /@lattice_spacing go together: give both or neither", "/@lattice_L" if has_a else "/@lattice_spacing")
    if has_L:
        L, a = int(_value(h5, "lattice_L")), float(_value(h5, "lattice_spacing"))
        if L < 2:
            raise fail(f"must be >= 2, got {L}", "/@lattice_L")
        if not (math.isfinite(a) and a > 0):
            raise fail(f"must be finite and > 0, got {a}", "/@lattice_spacing")
        if L**d != n_particles:
            raise fail(f"an L^d lattice of L = {L} has {L**d} sites, but the file holds N = {n_particles} particles "
                       f"(particle index = site index)", "/@lattice_L")
        if not np.allclose(box, L * a, rtol=1e-6):
            raise fail(f"the lattice side L x spacing = {L * a:g} is not the box (/@box = {box.tolist()})", "/@lattice_spacing")
        on = int(_value(h5, "on_lattice", 0))
        if on not in (0, 1):
            raise fail(f"must be 0 or 1, got {on}", "/@on_lattice")
        lattice = {"L": L, "spacing": a, "on_lattice": bool(on)}
    shape = _value(h5, "cluster_shape")
    if shape is not None and str(shape) not in CLUSTER_SHAPES:
        raise fail(f"must be one of {list(CLUSTER_SHAPES)}, got {str(shape)!r}", "/@cluster_shape")
    return ParticleHeader(
        path=Path(path), format_version=version, n_frames=n_frames, n_particles=n_particles, dim=d, temperature=temperature,
        box=box, kind=kind, duration=duration, p_hop_threshold=threshold, indicator=indicator, positions=positions,
        lattice=lattice, cluster_shape=None if shape is None else str(shape), source=str(_value(h5, "source", "")),
        has_types="/particles/type" in present, has_counts="/frames/n_rearrangements" in present,
        type_names=_type_names(h5),
    )  # fmt: skip


def _type_names(h5: h5py.File) -> tuple[str, ...] | None:
    """/@type_names (format 1.1) as a tuple of str, or None."""
    if "type_names" not in h5.attrs:
        return None
    return tuple(n.decode("utf-8", errors="replace") if isinstance(n, bytes) else str(n)
                 for n in np.atleast_1d(h5.attrs["type_names"]))


# ------------------------------------------------------------------ trsp fit's inputs, at the door

#: the formats ``trsp fit`` reads
INPUT_FORMATS = {"trsp-particles": "a particle-data file", "trsp-run": "a run file"}


@dataclass(frozen=True)
class InputInfo:
    """One input of ``trsp fit`` as known before its data are read (particle-data or run file)."""

    path: Path
    format: str  # "trsp-particles" | "trsp-run"
    temperature: float
    n_particles: int
    dim: int
    box: np.ndarray
    n_frames: int  # particle data: K; run file: the frames the converter makes at the frame interval
    lattice: dict | None  # {"L", "spacing", ...} when the particles sit on (or near) a lattice
    cluster_shape: str | None
    kind: str
    run_id: str | None = None  # the trajectory's run (a run file's run_id; a converted file's source names it)
    light: bool = False  # a "light" run file: its frames are its snapshots (no --frame-interval)

    @property
    def spacing(self) -> float:
        """The lattice spacing, or the mean interparticle spacing (V/N)^(1/d)."""
        if self.lattice is not None:
            return float(self.lattice["spacing"])
        return float(np.exp((np.sum(np.log(self.box)) - math.log(self.n_particles)) / self.dim))  # (no overflow for any finite box)


def _input_error(path: Path, parameter: str):
    from .pipeline import FitInputError

    def fail(problem: str, where: str | None = None):
        return FitInputError(parameter, f"{path}: {where}: {problem}" if where else f"{path}: {problem}")

    return fail


def inspect_input(path: str | os.PathLike, frame_interval: float, parameter: str = "DATA") -> InputInfo:
    """What ``path`` holds, from its metadata (particle-data file: :func:`read_header`; run file:
    its header, with the frame count the converter makes at ``frame_interval``).  Raises
    FitInputError / ParticleFileError / TrspFileError naming the file and the item."""
    from trsp_runfile import RunFile

    from .convert import frame_count
    from .particles import ParticleFileError

    path = Path(path)
    fail = _input_error(path, parameter)
    with open_hdf5(path, "a particle-data or run file", fail) as h5:
        fmt = h5.attrs.get("format", "")
        fmt = fmt.decode("utf-8", errors="replace") if isinstance(fmt, bytes) else str(fmt)
        if fmt not in INPUT_FORMATS:
            other = f"a {fmt!r} file" if fmt else "an HDF5 file without a 'format' attribute"
            raise fail(f"is {other}, not a particle-data or run file (what trsp fit reads: docs/fit.md)")
        if fmt == "trsp-particles":
            head = read_header(h5, path, lambda problem, where=None: ParticleFileError(path, problem, where))
            found = re.search(r"\(run_id ([^)\s]+)\)", head.source)  # what trsp to-particles records
            return InputInfo(path, fmt, head.temperature, head.n_particles, head.dim, head.box, head.n_frames, head.lattice,
                             head.cluster_shape, head.kind, found.group(1) if found else None)  # fmt: skip
    run = RunFile.open(path)
    lat = run.params.lattice
    n_frames = frame_count(run, frame_interval)
    T = run.params.temperature.T if run.params.temperature is not None else 1.0
    return InputInfo(path, fmt, float(T), int(run.N), int(lat.dim), np.full(lat.dim, lat.L * lat.spacing), n_frames,
                     {"L": int(lat.L), "spacing": float(lat.spacing)}, run.params.cluster.shape, "instantaneous", run.run_id or None, run.mode != "full")  # fmt: skip


def check_fit_inputs(infos: list[InputInfo], neighbour_radius: float, cluster_shape: str | None = None) -> None:
    """What the inputs must be together before a fit starts (FitInputError naming the file):
    each trajectory given once (not the same file twice, nor a copy, nor a run file and its
    conversion: the run's ``run_id``), one system (dimension, particles, box), a box wider than the
    neighbourhood the statistics use (``neighbour_radius`` spacings on either side), one
    rearranging cluster (``cluster_shape``, --cluster-shape, only where the data do not say),
    and a lattice and cluster the parameter set can hold."""
    from trsp_ref.params import ParameterError, params_from_dict
    from trsp_runfile.outputs import check_distinct_inputs

    from .pipeline import FitInputError

    once = "each trajectory counts once (given twice it would be pooled as independent data)"
    check_distinct_inputs([i.path for i in infos], "DATA", once)
    for i, b in enumerate(infos):
        for a in infos[:i]:
            if b.run_id is not None and b.run_id == a.run_id:
                raise FitInputError("DATA", f"{b.path} holds the same trajectory as {a.path} (run_id {b.run_id}): {once}")
            if a.path.stat().st_size == b.path.stat().st_size and filecmp.cmp(a.path, b.path, shallow=False):
                raise FitInputError("DATA", f"{b.path} is a copy of {a.path} (the same bytes): {once}")
    a = infos[0]
    for b in infos[1:]:
        if (b.dim, b.n_particles) != (a.dim, a.n_particles) or not np.allclose(b.box, a.box, rtol=1e-9):
            raise FitInputError("DATA", f"{b.path} is not the same system as {a.path}: dimension / particles / box "
                                f"{b.dim} / {b.n_particles} / {b.box.tolist()} against {a.dim} / {a.n_particles} / {a.box.tolist()}")
    need = 2 * neighbour_radius
    sides = float(np.min(a.box)) / a.spacing
    if sides <= need:
        raise FitInputError("DATA", f"{a.path}: the box ({' x '.join(f'{x / a.spacing:.3g}' for x in a.box)} spacings) is too small "
                            f"for the fit: it needs more than {need:g} spacings per side (the {neighbour_radius:g}-spacing "
                            "neighbourhood on either side of a particle)")
    shapes = {i.cluster_shape for i in infos if i.cluster_shape is not None}
    if len(shapes) > 1:
        raise FitInputError("DATA", f"the inputs disagree on the rearranging cluster: {sorted(shapes)} (/@cluster_shape)")
    if cluster_shape is not None:
        if cluster_shape not in CLUSTER_SHAPES:
            raise ParameterError("--cluster-shape", f"must be one of {list(CLUSTER_SHAPES)}", cluster_shape)
        if shapes and cluster_shape not in shapes:
            raise ParameterError("--cluster-shape", f"does not apply: the data say the cluster is {shapes.pop()!r} "
                                 "(it is for data that do not say)", cluster_shape)
        shapes = {cluster_shape}
    L = a.lattice["L"] if a.lattice is not None else int(round(a.n_particles ** (1.0 / a.dim)))
    try:
        params_from_dict({"lattice": {"dim": a.dim, "L": L, "spacing": a.spacing},
                          "cluster": {"shape": shapes.pop() if shapes else "plaquette"}})  # fmt: skip
    except ParameterError as exc:
        raise FitInputError("DATA", f"{a.path}: the system cannot be a TRSP lattice ({exc.parameter}: {exc.condition})") from None
