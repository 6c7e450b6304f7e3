"""Neighbour queries and distance binning for ``trsp fit``.

Particles: the pairs within a cutoff come from freud's AABB query (periodic box), with the
distances recomputed in float64 from the minimum image (freud works in float32; lattice
distances must come out exact so that shells stay distinct).  When freud is not installed,
scipy's periodic cKDTree gives the same pairs.  Lattices (particles exactly on the sites):
the softness correlation C_S(r) is computed by FFT (:func:`lattice_pair_sums`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["PairList", "pair_list", "DistanceBins", "distance_bins", "lattice_pair_sums", "NEIGHBOUR_BACKEND"]

try:  # freud-analysis: the neighbour queries the issue asks for
    import freud  # type: ignore

    NEIGHBOUR_BACKEND = "freud"
except ImportError:  # pragma: no cover - exercised only where freud is missing
    freud = None
    NEIGHBOUR_BACKEND = "scipy.spatial.cKDTree"


@dataclass(frozen=True)
class PairList:
    """Ordered pairs (i, j), i != j, with minimum-image distance r <= r_max; sorted by i."""

    i: np.ndarray
    j: np.ndarray
    r: np.ndarray
    n: int

    def offsets(self) -> np.ndarray:
        """CSR offsets: the pairs of particle i are rows offsets[i]:offsets[i+1]."""
        return np.concatenate(([0], np.cumsum(np.bincount(self.i, minlength=self.n))))


def _min_image(d: np.ndarray, box: np.ndarray) -> np.ndarray:
    return d - box * np.round(d / box)


def pair_list(positions: np.ndarray, box: np.ndarray, r_max: float) -> PairList:
    """All ordered pairs within ``r_max`` in the periodic ``box`` (freud, or cKDTree without it)."""
    pos = np.mod(np.asarray(positions, dtype=np.float64), box)
    n, dim = pos.shape
    if r_max >= 0.5 * float(np.min(box)):
        raise ValueError(f"r_max = {r_max:g} must be below half the smallest box length ({0.5 * float(np.min(box)):g})")
    pad = r_max * 1e-6 + 1e-9
    if freud is not None:
        fbox = freud.box.Box.from_box(list(box) + ([0.0] if dim == 2 else []))
        p3 = np.zeros((n, 3), dtype=np.float32)
        p3[:, :dim] = pos - box / 2  # freud boxes are centred on the origin
        q = freud.locality.AABBQuery(fbox, p3)
        nl = q.query(p3, dict(r_max=r_max + pad, exclude_ii=True)).toNeighborList()
        i = np.asarray(nl.query_point_indices, dtype=np.int64)
        j = np.asarray(nl.point_indices, dtype=np.int64)
    else:  # pragma: no cover
        from scipy.spatial import cKDTree

        tree = cKDTree(pos, boxsize=box)
        pairs = tree.query_pairs(r_max + pad, output_type="ndarray")
        i = np.concatenate([pairs[:, 0], pairs[:, 1]]).astype(np.int64)
        j = np.concatenate([pairs[:, 1], pairs[:, 0]]).astype(np.int64)
    r = np.sqrt((_min_image(pos[j] - pos[i], box) ** 2).sum(axis=1))
    keep = r <= r_max * (1 + 1e-12)
    order = np.lexsort((j[keep], i[keep]))
    return PairList(i[keep][order], j[keep][order], r[keep][order], n)


@dataclass(frozen=True)
class DistanceBins:
    """Distance bins: bin 0 holds r = 0 exactly; bins 1.. hold (edges[b-1], edges[b]].

    ``centers[b]`` is the distance a bin stands for (exact on a lattice, the midpoint otherwise)."""

    edges: np.ndarray
    centers: np.ndarray
    exact: bool

    def index(self, r: np.ndarray) -> np.ndarray:
        """Bin of each distance (-1 beyond the last edge)."""
        r = np.asarray(r, dtype=np.float64)
        b = np.searchsorted(self.edges, r, side="left") + 1
        b[r <= 0] = 0
        b[b > self.edges.shape[0]] = -1
        return b

    @property
    def n(self) -> int:
        return int(self.centers.shape[0])


def distance_bins(r_max: float, spacing: float, lattice_distances: np.ndarray | None = None, width: float = 0.25) -> DistanceBins:
    """Bins up to r_max: the distinct lattice distances (exact) or bins ``width`` spacings wide."""
    if lattice_distances is not None:
        d = np.unique(np.round(lattice_distances[(lattice_distances > 0) & (lattice_distances <= r_max * (1 + 1e-9))], 9))
        mids = np.concatenate(((d[:-1] + d[1:]) / 2, [d[-1] * (1 + 1e-9)]))
        return DistanceBins(mids, np.concatenate(([0.0], d)), True)
    w = width * spacing
    nb = max(1, int(np.floor(r_max / w + 1e-9)))
    edges = w * np.arange(1, nb + 1)
    return DistanceBins(edges, np.concatenate(([0.0], edges - w / 2)), False)


def lattice_displacement_distances(dim: int, L: int, spacing: float) -> np.ndarray:
    """Minimum-image distance of every displacement on the L^dim lattice, shape (L,)*dim."""
    g = np.indices((L,) * dim)
    g = np.minimum(g, L - g)
    return np.sqrt((g.astype(np.float64) ** 2).sum(axis=0)) * spacing


def lattice_pair_sums(S: np.ndarray, dim: int, L: int, spacing: float, bins: DistanceBins) -> tuple[np.ndarray, np.ndarray]:
    """Sum over frames and ordered site pairs (i, j), by distance bin, of S_i S_j, and the pair counts (FFT).

    S: (frames, L**dim) in site-index (C) order.  The r = 0 bin holds the self pairs."""
    grid = S.reshape((S.shape[0],) + (L,) * dim)
    axes = tuple(range(1, dim + 1))
    f = np.fft.rfftn(grid, axes=axes)
    corr = np.fft.irfftn(f * np.conj(f), s=(L,) * dim, axes=axes).sum(axis=0)  # sum_i S_i S_{i+x}, summed over frames
    dist = lattice_displacement_distances(dim, L, spacing)
    b = bins.index(dist.ravel())
    ok = b >= 0
    sums = np.bincount(b[ok], weights=corr.ravel()[ok], minlength=bins.n)
    counts = np.bincount(b[ok], minlength=bins.n).astype(np.float64) * L**dim * S.shape[0]
    return sums, counts
