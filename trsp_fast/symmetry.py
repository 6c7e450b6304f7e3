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

__all__ = ["Orbits", "reflection_basis", "reflection_orbits", "cluster_axis_swap", "swap_permutations"]


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


def cluster_axis_swap(cl: np.ndarray, grid: tuple[int, int, int], dim: int) -> tuple[int, int] | None:
    """(i, j): the first exchange of lattice axes axes[i] <-> axes[j] (axes = the last ``dim`` ones,
    of equal length) that maps the cluster offsets ``cl`` onto themselves, or None.

    Such a swap sigma is an isometry fixing the cluster, so it commutes with every matrix of the kick
    like the reflections do; it conjugates the reflection of axes[i] into that of axes[j], so it maps
    the block of character s onto the block of character s' (bits i and j of s exchanged): of two
    blocks s != s' only one need be stored (:func:`swap_permutations`)."""
    axes = list(range(3 - dim, 3))
    offsets = set(map(tuple, np.asarray(cl).tolist()))
    for i in range(dim):
        for j in range(i + 1, dim):
            a, b = axes[i], axes[j]
            if grid[a] != grid[b]:
                continue
            swapped = np.asarray(cl).copy()
            swapped[:, [a, b]] = swapped[:, [b, a]]
            if set(map(tuple, swapped.tolist())) == offsets:
                return i, j
    return None


def swapped_character(s: int, swap: tuple[int, int]) -> int:
    """The character s with bits swap[0] and swap[1] exchanged."""
    i, j = swap
    bi, bj = s >> i & 1, s >> j & 1
    return s & ~((1 << i) | (1 << j)) | bj << i | bi << j


def swap_permutations(sites: np.ndarray, basis, sizes: list[int], grid: tuple[int, int, int], dim: int,
                      swap: tuple[int, int]) -> dict:  # fmt: skip
    """For a site set invariant under the axis swap sigma (``sites`` at anchor 0, with the symmetry
    basis ``basis`` of :func:`reflection_basis` and its ``sizes``): {s: (s', perm, sign)} for every
    character s whose image s' = swapped_character(s) differs from it, where P = U_s'^T Sigma U_s
    (Sigma the permutation of the sites by sigma) is the signed permutation
    (P y)[i] = sign[i] y[perm[i]] (y in the basis of block s, P y in that of block s').

    Then for any matrix X commuting with sigma, U_s'^T X U_s' = P (U_s^T X U_s) P^T; for the kick's
    drift blocks G_s' = P_A G_s P_Z^T (docs/fast.md, "Algorithms").  Raises AssertionError when P is
    not a signed permutation (the set is not invariant)."""
    axes = list(range(3 - dim, 3))
    a, b = axes[swap[0]], axes[swap[1]]
    coords = geo.coords_of(sites, grid)
    coords[:, [a, b]] = coords[:, [b, a]]
    position = {int(x): k for k, x in enumerate(sites)}
    image = np.array([position[int(x)] for x in geo.index_of(coords, grid)])  # sigma(site k) = site image[k]
    U = basis.tocsc()
    SU = scipy.sparse.csr_matrix((np.ones(sites.size), (image, np.arange(sites.size))), shape=(sites.size,) * 2) @ U
    lo = np.concatenate([[0], np.cumsum(sizes)])
    out = {}
    for s in range(len(sizes)):
        t = swapped_character(s, swap)
        if t == s or sizes[s] == 0:  # (an empty block's image is empty too)
            continue
        P = (U[:, lo[t] : lo[t + 1]].T @ SU[:, lo[s] : lo[s + 1]]).toarray()
        perm = np.abs(P).argmax(axis=1)
        sign = np.sign(P[np.arange(P.shape[0]), perm])
        assert np.allclose(np.abs(P).sum(axis=1), 1.0, atol=1e-12) and np.allclose(np.abs(P).sum(axis=0), 1.0, atol=1e-12)
        assert np.allclose(np.abs(P[np.arange(P.shape[0]), perm]), 1.0, atol=1e-12)
        out[s] = (t, perm.astype(np.int64), sign)
    return out
