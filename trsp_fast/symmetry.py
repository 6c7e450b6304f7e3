"""Reflection symmetry of a kick window: block-diagonalizing H_A and R_A.

A cluster anchored at site 0 is mapped onto itself by the reflection of each lattice axis
that keeps it in place: x_a -> c_a - x_a (mod n_a), with c_a = 1 along an axis the cluster
spans (offsets 0 and 1) and c_a = 0 otherwise.  These reflections are isometries of the
periodic lattice (minimum-image distances are kept), so they preserve the distance to the
cluster rt, the kick window and its active set A, rho, Lambda_t and w: every matrix the
kick is built from commutes with them, and so do H_A = phi(kQ) k and R_A = k^(1/2).

The group is Z2^d (abelian, 2^d elements); its characters chi_s(g) = (-1)^popcount(s & g)
give an orthogonal, sparse change of basis U (each basis vector lives on one orbit,
at most 2^d nonzeros) in which both matrices are block diagonal, one block per character.
An orbit of size |O| contributes one basis vector to each of the |O| characters that are
trivial on its stabilizer.  Work per event drops by about 2^d (8 in 3D) and the
eigen/singular value decompositions of the build by about 4^d.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.sparse

from . import geometry as geo

__all__ = ["Orbits", "reflection_basis", "reflection_orbits"]


def _popcount_parity(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.int64)
    parity = np.zeros_like(x)
    while np.any(x):
        parity ^= x & 1
        x = x >> 1
    return parity


class Orbits(NamedTuple):
    """The orbits of a symmetric site set under the reflection group (2^d elements g).

    images  : (n_orbits, 2^d) local index of g(representative) for every group element g
              (an orbit with stabilizer Stab lists each member |Stab| times)
    first   : (n_orbits, 2^d) True where images[q, g] appears for the first time in its row
    columns : (n_orbits, 2^d) the basis column of the vector of orbit q and character s, -1 when
              chi_s is not trivial on the stabilizer (no such vector)
    stabilizer : (n_orbits,) |Stab|; the orbit has 2^d / |Stab| members

    With v[g] = x[images[q, g]], the Walsh-Hadamard sum h[s] = sum_g chi_s(g) v[g] equals
    |Stab| sum_(members y) chi_s(g_y) x_y, i.e. |Stab| sqrt(|O|) (U^T x)[columns[q, s]]: the basis
    change costs one 2^d-point fast transform per orbit instead of a sparse product.
    """

    images: np.ndarray
    first: np.ndarray
    columns: np.ndarray
    stabilizer: np.ndarray


def reflection_orbits(active: np.ndarray, cl: np.ndarray, grid: tuple[int, int, int], dim: int) -> tuple[Orbits, list[int]]:
    """(orbits, block_sizes) of the symmetric site set ``active`` (site indices at anchor 0) for the
    cluster offsets ``cl``; columns grouped by character s (block s has block_sizes[s] columns),
    within a character by increasing orbit representative."""
    nA = active.size
    axes = list(range(3 - dim, 3))
    center = np.zeros(3, dtype=np.int64)
    center[axes] = cl[:, axes].max(axis=0)  # 1 where the cluster spans the axis
    coords = geo.coords_of(active, grid)
    position = {int(s): i for i, s in enumerate(active)}
    n_group = 1 << dim
    # images[g, i] = local index of the image of active site i under group element g
    images = np.empty((n_group, nA), dtype=np.int64)
    for g in range(n_group):
        c = coords.copy()
        for bit, axis in enumerate(axes):
            if g >> bit & 1:
                c[:, axis] = center[axis] - c[:, axis]
        idx = geo.index_of(c, grid)
        images[g] = [position[int(s)] for s in idx]  # KeyError would mean A is not symmetric
    reps = np.unique(images.min(axis=0))  # orbit representative: smallest local index in the orbit
    orbit_images = images[:, reps].T.copy()
    first = np.zeros_like(orbit_images, dtype=bool)
    for q in range(reps.size):
        _, at = np.unique(orbit_images[q], return_index=True)
        first[q, at] = True
    stab_mask = orbit_images == reps[:, None]  # g in the stabilizer of orbit q
    stabilizer = stab_mask.sum(axis=1)
    columns = np.full((reps.size, n_group), -1, dtype=np.int64)
    sizes = []
    col = 0
    for s in range(n_group):
        start = col
        for q in range(reps.size):
            stab = np.flatnonzero(stab_mask[q])
            if not np.any(_popcount_parity(stab & s)):  # chi_s trivial on the stabilizer
                columns[q, s] = col
                col += 1
        sizes.append(col - start)
    assert col == nA, "symmetry-adapted basis is incomplete"
    return Orbits(orbit_images, first, columns, stabilizer), sizes


def reflection_basis(active: np.ndarray, cl: np.ndarray, grid: tuple[int, int, int], dim: int):
    """(U, block_sizes): U (nA x nA, scipy CSR, orthogonal) has the symmetry-adapted basis vectors
    as columns, grouped by character; ``block_sizes[s]`` basis vectors belong to character s.

    ``active``: site indices of A at anchor 0; ``cl``: (m, 3) cluster offsets.
    Column columns[q, s] of orbit q is chi_s(g_y) / sqrt(|O|) on each member y = g_y(rep).
    """
    orbits, sizes = reflection_orbits(active, cl, grid, dim)
    n_group = 1 << dim
    rows, cols, vals = [], [], []
    g = np.arange(n_group)
    for q in range(orbits.images.shape[0]):
        members = orbits.first[q]  # one group element per member
        size = int(members.sum())
        for s in range(n_group):
            c = orbits.columns[q, s]
            if c < 0:
                continue
            rows.append(orbits.images[q, members])
            cols.append(np.full(size, c))
            vals.append((1.0 - 2.0 * _popcount_parity(g[members] & s)) / np.sqrt(size))
    U = scipy.sparse.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(active.size, active.size)
    )
    return U, sizes
