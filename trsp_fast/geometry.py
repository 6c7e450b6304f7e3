"""Lattice geometry for the fast simulator, in the translation-invariant form it needs.

Everything here is written for trsp_fast on its own (docs/fast.md): the simulator never
builds an N x N matrix; it describes a site by its integer offset from an anchor and
translates precomputed per-orientation data to wherever a cluster fires.

Conventions (docs/model.md): C-order site index over integer coordinates, minimum-image
Euclidean distances times ``spacing``, cluster id ``orientation * N + anchor``.

Internally every lattice is three-dimensional: a 2D lattice of side L is the grid
``(1, L, L)``, so that ``index = (x0 * n1 + x1) * n2 + x2`` is the documented 2D index
``x0 * L + x1`` with the 2D coordinates stored in the last two axes.  One set of
kernels then serves both dimensions.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np

__all__ = [
    "grid_shape",
    "cluster_offsets",
    "signed_offsets",
    "offset_distance",
    "grid_distances",
    "coords_of",
    "index_of",
    "lattice_distance_values",
]


def grid_shape(dim: int, L: int) -> tuple[int, int, int]:
    """The internal 3-axis grid: (L, L, L) in 3D, (1, L, L) in 2D."""
    return (L, L, L) if dim == 3 else (1, L, L)


def cluster_offsets(dim: int, shape: str) -> np.ndarray:
    """(n_orientations, m, 3) integer offsets of each orientation's sites from its anchor.

    Order of orientations and of sites within a cluster as in docs/model.md ("Clusters"):
    dimer axis a = 0..d-1 gives {x, x+e_a}; plaquette axis pairs (a, b), a < b, in
    lexicographic order give {x, x+e_a, x+e_b, x+e_a+e_b}.  2D axis a is grid axis a+1.
    """
    first = 3 - dim  # first grid axis used by this dimension
    unit = np.eye(3, dtype=np.int64)[first:]
    zero = np.zeros(3, dtype=np.int64)
    if shape == "site":
        out = [[zero]]
    elif shape == "dimer":
        out = [[zero, unit[a]] for a in range(dim)]
    elif shape == "plaquette":
        out = [[zero, unit[a], unit[b], unit[a] + unit[b]] for a, b in combinations(range(dim), 2)]
    else:
        raise ValueError(f"unknown cluster shape {shape!r}")
    return np.array(out, dtype=np.int64)


def signed_offsets(coords: np.ndarray, grid: tuple[int, int, int]) -> np.ndarray:
    """Fold coordinates (any integers) to the minimum-image representative in (-n/2, n/2] per axis."""
    n = np.asarray(grid, dtype=np.int64)
    c = np.mod(np.asarray(coords, dtype=np.int64), n)
    return np.where(c > n // 2, c - n, c)


def offset_distance(offsets: np.ndarray, grid: tuple[int, int, int], spacing: float) -> np.ndarray:
    """Minimum-image Euclidean length of integer offsets (last axis = 3), times ``spacing``.

    The integer sum of squares is formed first and one square root taken, so equal
    lengths compare equal exactly (the comparison ``distance <= radius`` is then the same
    in every implementation that does the same).
    """
    s = np.abs(signed_offsets(offsets, grid))
    sq = (s * s).sum(axis=-1)
    return np.sqrt(sq.astype(np.float64)) * spacing


def coords_of(index: np.ndarray, grid: tuple[int, int, int]) -> np.ndarray:
    """Integer grid coordinates (..., 3) of site indices."""
    index = np.asarray(index, dtype=np.int64)
    n0, n1, n2 = grid
    return np.stack([index // (n1 * n2), (index // n2) % n1, index % n2], axis=-1)


def index_of(coords: np.ndarray, grid: tuple[int, int, int]) -> np.ndarray:
    """Site indices of integer coordinates (..., 3), folded periodically (C order)."""
    c = np.mod(np.asarray(coords, dtype=np.int64), np.asarray(grid, dtype=np.int64))
    n0, n1, n2 = grid
    return (c[..., 0] * n1 + c[..., 1]) * n2 + c[..., 2]


def grid_distances(grid: tuple[int, int, int], spacing: float) -> np.ndarray:
    """Distance of every site from site 0, as a grid-shaped array (the first row of any
    distance-dependent circulant matrix)."""
    c = np.indices(grid, dtype=np.int64).reshape(3, -1).T
    return offset_distance(c, grid, spacing).reshape(grid)


def lattice_distance_values(grid: tuple[int, int, int], spacing: float) -> np.ndarray:
    """Sorted distinct site-to-site distances that occur on the lattice."""
    return np.unique(grid_distances(grid, spacing))
