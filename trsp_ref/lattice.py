"""Lattice geometry: site indices, minimum-image distances, rearranging clusters.

Conventions (docs/model.md, "Lattice" and "Clusters"):

- sites of a periodic ``L**dim`` hypercubic lattice are numbered in C order over their
  integer coordinates (``index = x0*L + x1`` in 2D, ``(x0*L + x1)*L + x2`` in 3D);
- the distance between two sites is the minimum-image Euclidean distance times the
  spacing ``a``;
- a cluster id is ``orientation * N + anchor_index``; the cluster's sites are listed in
  the order of docs/model.md (``x, x+e_a`` for a dimer; ``x, x+e_a, x+e_b, x+e_a+e_b``
  for a plaquette).
"""

from __future__ import annotations

from itertools import combinations

import numpy as np

from .params import CLUSTER_SIZE, Lattice

__all__ = [
    "site_coords",
    "site_index",
    "distance_matrix",
    "orientation_offsets",
    "n_orientations",
    "cluster_sites",
    "clusters_per_site",
]


def site_coords(dim: int, L: int) -> np.ndarray:
    """Integer coordinates of every site, shape (N, dim), row ``i`` = site index ``i`` (C order)."""
    return np.indices((L,) * dim).reshape(dim, -1).T.copy()


def site_index(coords: np.ndarray, L: int) -> np.ndarray:
    """Site index of integer coordinates (last axis = dimension), folded periodically."""
    coords = np.mod(np.asarray(coords), L)
    index = np.zeros(coords.shape[:-1], dtype=np.int64)
    for axis in range(coords.shape[-1]):  # Horner's scheme = C order
        index = index * L + coords[..., axis]
    return index


def distance_matrix(lattice: Lattice) -> np.ndarray:
    """(N, N) minimum-image Euclidean distances between sites, times ``lattice.spacing``.

    Each coordinate difference is folded to ``min(|dx|, L - |dx|)`` before the Euclidean
    norm (docs/model.md).  Exactly 0 on the diagonal and only there.
    """
    coords = site_coords(lattice.dim, lattice.L)
    diff = np.abs(coords[:, None, :] - coords[None, :, :])
    folded = np.minimum(diff, lattice.L - diff)
    # integer sum of squares, then one sqrt: distances of equal length compare equal exactly
    return np.sqrt((folded * folded).sum(axis=-1).astype(np.float64)) * lattice.spacing


def orientation_offsets(dim: int, shape: str) -> list[np.ndarray]:
    """For each orientation (in id order), the (m, dim) integer offsets of the cluster's sites from its anchor."""
    eye = np.eye(dim, dtype=np.int64)
    zero = np.zeros(dim, dtype=np.int64)
    if shape == "site":
        return [zero[None, :]]
    if shape == "dimer":
        # one orientation per axis a: {x, x + e_a}
        return [np.stack([zero, eye[a]]) for a in range(dim)]
    if shape == "plaquette":
        # one orientation per axis pair a < b, lexicographic: {x, x+e_a, x+e_b, x+e_a+e_b}
        return [np.stack([zero, eye[a], eye[b], eye[a] + eye[b]]) for a, b in combinations(range(dim), 2)]
    raise ValueError(f"unknown cluster shape {shape!r}; expected one of {list(CLUSTER_SIZE)}")


def n_orientations(dim: int, shape: str) -> int:
    """Number of cluster orientations: 1 (site), dim (dimer), dim(dim-1)/2 (plaquette)."""
    return len(orientation_offsets(dim, shape))


def cluster_sites(dim: int, L: int, shape: str) -> np.ndarray:
    """Sites of every cluster, shape (n_orientations * N, m); row = cluster id = orientation*N + anchor."""
    coords = site_coords(dim, L)
    blocks = [site_index(coords[:, None, :] + offsets[None, :, :], L) for offsets in orientation_offsets(dim, shape)]
    return np.concatenate(blocks, axis=0)


def clusters_per_site(dim: int, shape: str) -> int:
    """z = m * n_orientations, the number of clusters that contain a given site (Eq. D2's z_m).

    Each orientation contributes one cluster per position of the site inside it (m of them).
    The text after Eq. 23 calls z ``N_m / N``, which is wrong for m > 1 (ERRATA).
    """
    return CLUSTER_SIZE[shape] * n_orientations(dim, shape)
