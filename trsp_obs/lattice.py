"""Lattice bookkeeping the observables need: which sites a fired cluster covers, and the
wave vectors / block filters of the periodic lattice.

Written from docs/model.md's conventions (not imported from trsp_fast or trsp_ref, so the
observables are an independent reader of an event log):

- site index: C order over integer coordinates, ``index = x0*L + x1`` (2D),
  ``(x0*L + x1)*L + x2`` (3D);
- cluster id = ``orientation * N + anchor_index``;
- site: ``{x}``; dimer (axis a): ``{x, x+e_a}``; plaquette (axes a < b, lexicographic):
  ``{x, x+e_a, x+e_b, x+e_a+e_b}``, all mod L.
"""

from __future__ import annotations

from functools import lru_cache
from itertools import combinations

import numpy as np

from trsp_ref.params import CLUSTER_SIZE, ParameterError

__all__ = [
    "cluster_offsets",
    "cluster_table",
    "event_sites",
    "wavevector_shells",
    "block_filter_power",
]


def cluster_offsets(dim: int, shape: str) -> np.ndarray:
    """(n_orientations, m, dim) integer offsets of a cluster's sites from its anchor, in the
    orientation order and site order of docs/model.md."""
    if dim not in (2, 3):
        raise ParameterError("lattice.dim", "must be 2 or 3", dim)
    if shape not in CLUSTER_SIZE:
        raise ParameterError("cluster.shape", f"must be one of {list(CLUSTER_SIZE)}", shape)
    eye = np.eye(dim, dtype=np.int64)
    zero = np.zeros(dim, dtype=np.int64)
    if shape == "site":
        out = [[zero]]
    elif shape == "dimer":
        out = [[zero, eye[a]] for a in range(dim)]
    else:
        out = [[zero, eye[a], eye[b], eye[a] + eye[b]] for a, b in combinations(range(dim), 2)]
    return np.array(out, dtype=np.int64)


@lru_cache(maxsize=16)
def _cluster_table_cached(dim: int, L: int, shape: str) -> np.ndarray:
    N = L**dim
    coords = np.indices((L,) * dim).reshape(dim, -1).T  # (N, dim), row i = site i
    offs = cluster_offsets(dim, shape)
    # sites[o, anchor, j] = index of anchor + offs[o, j]
    pos = np.mod(coords[None, :, None, :] + offs[:, None, :, :], L)  # (n_or, N, m, dim)
    idx = np.zeros(pos.shape[:-1], dtype=np.int64)
    for axis in range(dim):  # Horner = C order
        idx = idx * L + pos[..., axis]
    table = idx.reshape(offs.shape[0] * N, offs.shape[1])
    table.flags.writeable = False
    return table


def cluster_table(dim: int, L: int, shape: str) -> np.ndarray:
    """(n_clusters, m) int64: row ``k`` lists the sites of cluster id ``k`` (read-only, cached)."""
    if not isinstance(L, (int, np.integer)) or L < 2:
        raise ParameterError("lattice.L", "must be an integer >= 2", L)
    return _cluster_table_cached(int(dim), int(L), str(shape))


def event_sites(clusters: np.ndarray, table: np.ndarray) -> np.ndarray:
    """(n_events, m) sites covered by each fired cluster id; ParameterError if an id is out of range."""
    clusters = np.asarray(clusters, dtype=np.int64)
    if clusters.size and (clusters.min() < 0 or clusters.max() >= table.shape[0]):
        bad = clusters[(clusters < 0) | (clusters >= table.shape[0])][0]
        raise ParameterError(
            "clusters", f"cluster ids must lie in [0, {table.shape[0]}) for this lattice and shape", int(bad)
        )
    return table[clusters]


def _folded_modes(dim: int, L: int) -> np.ndarray:
    """(N, dim) integer Fourier mode vectors n of numpy's fftn layout, folded to (-L/2, L/2]."""
    n1 = np.fft.fftfreq(L, d=1.0 / L).astype(np.int64)  # 0, 1, ..., -1
    grids = np.meshgrid(*([n1] * dim), indexing="ij")
    return np.stack([g.ravel() for g in grids], axis=1)


@lru_cache(maxsize=16)
def _shells_cached(dim: int, L: int):
    modes = _folded_modes(dim, L)
    n2 = (modes * modes).sum(axis=1)
    values, shell_of_mode = np.unique(n2, return_inverse=True)
    counts = np.bincount(shell_of_mode)
    return values, shell_of_mode.reshape((L,) * dim), counts


def wavevector_shells(dim: int, L: int, spacing: float):
    """Shells of equal |q| on the periodic lattice.

    Returns (q, shell_of_mode, counts): ``q[s] = 2 pi sqrt(|n|^2) / (L a)`` for the distinct
    squared integer mode lengths |n|^2 (shell 0 is q = 0); ``shell_of_mode`` has the shape of
    an fftn output over the lattice and gives each mode's shell; ``counts[s]`` the number of
    modes in shell s.
    """
    n2, shell_of_mode, counts = _shells_cached(int(dim), int(L))
    q = 2.0 * np.pi * np.sqrt(n2.astype(np.float64)) / (L * float(spacing))
    return q, shell_of_mode, counts


def block_filter_power(dim: int, L: int, block: int) -> np.ndarray:
    """|b(q)|^2 / N_b^2 on the fftn grid for a cubic block of side ``block`` sites.

    b(q) = sum over the block's sites of exp(-i q.x), so |b(q)| / N_b = prod_axes
    |sin(q_a block / 2) / (block sin(q_a / 2))| (1 on axes with q_a = 0).  By Parseval, the
    variance over the N periodic block positions of the block average of a field I equals
    sum_{q != 0} |I~(q)|^2 |b(q)|^2 / N_b^2, with I~(q) = (1/N) sum_i exp(i q.r_i) I_i.
    """
    if not 1 <= block <= L:
        raise ParameterError("block", f"block sides must lie in [1, L = {L}]", block)
    n1 = np.fft.fftfreq(L, d=1.0 / L)
    theta = np.pi * n1 / L  # q_a / 2 in lattice units
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(n1 == 0, 1.0, np.sin(block * theta) / (block * np.sin(theta)))
    p1 = f1 * f1
    out = p1
    for _ in range(dim - 1):
        out = np.multiply.outer(out, p1)
    return out
