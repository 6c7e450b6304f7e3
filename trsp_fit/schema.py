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

import math
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from trsp_ref.params import CLUSTER_SHAPES
from trsp_runfile.schema import Item, check_items, item_meta

__all__ = ["ITEMS", "ParticleHeader", "read_header"]

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
    dims = check_items(h5, ITEMS[1:], fail)
    version = str(_value(h5, "format_version"))
    if version.split(".")[0] != FORMAT_VERSION.split(".")[0]:
        raise fail(f"format version {version} is not supported (this reader: {FORMAT_VERSION})", "/@format_version")
    d, n_frames, n_particles = dims[D], dims[K], dims[N]
    if d not in (2, 3):
        raise fail(f"must hold 2 or 3 box lengths, got {d}", "/@box")
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
        raise fail("lattice_L and lattice_spacing go together: give both or neither", "/@lattice_L" if has_a else "/@lattice_spacing")
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
            raise fail(f"the lattice side L x spacing = {L * a:g} is not the box {box.tolist()}", "/@lattice_spacing")
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
    )  # fmt: skip
