"""Lattice geometry against docs/model.md: site order, minimum-image distances, clusters, z."""

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

from trsp_ref.kick import nearest_cluster_distance
from trsp_ref.lattice import (
    cluster_sites,
    clusters_per_site,
    distance_matrix,
    n_orientations,
    site_coords,
    site_index,
)
from trsp_ref.params import Lattice

dims = st.sampled_from([2, 3])
sides = st.integers(2, 7)


def test_site_order_is_c_order_as_documented():
    c2 = site_coords(2, 4)
    assert c2.shape == (16, 2)
    for x0, x1 in itertools.product(range(4), repeat=2):
        assert tuple(c2[x0 * 4 + x1]) == (x0, x1)
    c3 = site_coords(3, 3)
    for x0, x1, x2 in itertools.product(range(3), repeat=3):
        assert tuple(c3[(x0 * 3 + x1) * 3 + x2]) == (x0, x1, x2)


@given(dim=dims, L=sides)
def test_site_index_inverts_site_coords_and_folds(dim, L):
    coords = site_coords(dim, L)
    np.testing.assert_array_equal(site_index(coords, L), np.arange(L**dim))
    np.testing.assert_array_equal(site_index(coords + L, L), np.arange(L**dim))
    np.testing.assert_array_equal(site_index(coords - 3 * L, L), np.arange(L**dim))


@given(dim=dims, L=sides, spacing=st.floats(0.1, 3.0))
def test_distance_is_minimum_over_periodic_images(dim, L, spacing):
    D = distance_matrix(Lattice(dim=dim, L=L, spacing=spacing))
    coords = site_coords(dim, L)
    shifts = np.array(list(itertools.product([-L, 0, L], repeat=dim)))
    diff = coords[:, None, None, :] - coords[None, :, None, :] + shifts[None, None, :, :]
    brute = np.sqrt((diff**2).sum(-1)).min(-1) * spacing
    np.testing.assert_allclose(D, brute, rtol=1e-15, atol=0)
    assert np.array_equal(D, D.T)
    assert np.all(np.diag(D) == 0) and np.all(D[~np.eye(L**dim, dtype=bool)] >= spacing * (1 - 1e-15))


@given(dim=dims, L=sides)
def test_distances_are_translation_invariant(dim, L):
    D = distance_matrix(Lattice(dim=dim, L=L))
    coords = site_coords(dim, L)
    shift = site_index(coords + 1, L)  # translate every site by (1, 1, ...)
    np.testing.assert_array_equal(D[np.ix_(shift, shift)], D)


@pytest.mark.parametrize(
    "dim,shape,n_or,z",
    [(2, "site", 1, 1), (2, "dimer", 2, 4), (2, "plaquette", 1, 4), (3, "site", 1, 1), (3, "dimer", 3, 6), (3, "plaquette", 3, 12)],
)
def test_orientations_and_z_per_shape(dim, shape, n_or, z):
    assert n_orientations(dim, shape) == n_or
    assert clusters_per_site(dim, shape) == z


@pytest.mark.parametrize("dim", [2, 3])
@pytest.mark.parametrize("shape", ["site", "dimer", "plaquette"])
@pytest.mark.parametrize("L", [3, 4, 5])
def test_every_site_is_in_z_distinct_clusters(dim, shape, L):
    clusters = cluster_sites(dim, L, shape)
    N = L**dim
    assert clusters.shape == (n_orientations(dim, shape) * N, {"site": 1, "dimer": 2, "plaquette": 4}[shape])
    counts = np.bincount(clusters.ravel(), minlength=N)
    assert np.all(counts == clusters_per_site(dim, shape))
    assert all(len(set(row)) == len(row) for row in clusters.tolist())  # no site twice in a cluster
    assert len({frozenset(row) for row in clusters.tolist()}) == len(clusters)  # no cluster twice


def test_cluster_ids_and_site_order_as_documented():
    L, N = 4, 16

    def idx(x0, x1):
        return (x0 % L) * L + (x1 % L)

    dimers = cluster_sites(2, L, "dimer")
    plaqs = cluster_sites(2, L, "plaquette")
    for x0, x1 in itertools.product(range(L), repeat=2):
        a = idx(x0, x1)
        assert list(dimers[0 * N + a]) == [a, idx(x0 + 1, x1)]  # axis 0
        assert list(dimers[1 * N + a]) == [a, idx(x0, x1 + 1)]  # axis 1
        assert list(plaqs[a]) == [a, idx(x0 + 1, x1), idx(x0, x1 + 1), idx(x0 + 1, x1 + 1)]
    L, N = 3, 27

    def idx3(x):
        return ((x[0] % L) * L + (x[1] % L)) * L + (x[2] % L)

    plaq3 = cluster_sites(3, L, "plaquette")
    e = np.eye(3, dtype=int)
    for orientation, (a, b) in enumerate([(0, 1), (0, 2), (1, 2)]):
        for x in itertools.product(range(L), repeat=3):
            x = np.array(x)
            expected = [idx3(x), idx3(x + e[a]), idx3(x + e[b]), idx3(x + e[a] + e[b])]
            assert list(plaq3[orientation * N + idx3(x)]) == expected
    np.testing.assert_array_equal(cluster_sites(3, L, "site")[:, 0], np.arange(N))


@pytest.mark.parametrize("dim,shape", [(2, "dimer"), (2, "plaquette"), (3, "dimer"), (3, "plaquette")])
def test_cluster_sites_are_nearest_neighbours_with_the_right_diagonals(dim, shape):
    lattice = Lattice(dim=dim, L=4, spacing=1.3)
    D = distance_matrix(lattice)
    for row in cluster_sites(dim, 4, shape):
        block = D[np.ix_(row, row)]
        off = np.sort(block[~np.eye(len(row), dtype=bool)])
        if shape == "dimer":
            np.testing.assert_allclose(off, [1.3, 1.3])
        else:  # four edges (each counted twice) and two diagonals (each twice)
            np.testing.assert_allclose(off, [1.3] * 8 + [1.3 * math.sqrt(2)] * 4)


def test_nearest_cluster_distance():
    lattice = Lattice(dim=2, L=5, spacing=1.0)
    D = distance_matrix(lattice)
    sites = cluster_sites(2, 5, "plaquette")[0]  # (0,0),(1,0),(0,1),(1,1)
    rt = nearest_cluster_distance(D, sites)
    assert np.all(rt[sites] == 0)
    assert rt[2 * 5 + 2] == pytest.approx(math.sqrt(2))  # (2,2) -> (1,1)
    assert rt[2 * 5 + 0] == pytest.approx(1.0)  # (2,0) -> (1,0)
    assert rt[4 * 5 + 0] == pytest.approx(1.0)  # (4,0) -> (0,0) through the boundary
    assert rt[4 * 5 + 4] == pytest.approx(math.sqrt(2))  # (4,4) -> (0,0) through both boundaries
    for i in range(25):
        assert rt[i] == min(D[i, s] for s in sites)
