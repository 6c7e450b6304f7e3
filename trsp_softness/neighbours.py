"""Neighbour lists for the structure functions: freud finds the pairs, NumPy measures them.

freud's periodic queries need r_max below half the box; a box smaller than 2 sigma_max (N = 1000
Kob-Andersen at density 1.2 has L = 9.4 < 10) is therefore replicated m times per axis, so that
every periodic image within sigma_max of a centre is a distinct point of the supercell (the
images of a particle, and of the centre itself, all count: the sums of Appendix A run over the
periodic system).  freud works in single precision; the displacement vectors are recomputed in
double precision from the positions (minimum image in the supercell, exact because every pair is
closer than half the supercell), and the cut r < sigma_max is applied to those, after a freud
query with a small margin, so that single-precision rounding cannot drop a pair.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["NeighbourList", "neighbour_list", "replication"]

#: freud's query radius exceeds sigma_max by this much (relative), so that no pair within
#: sigma_max is lost to single-precision rounding; the exact cut follows in double precision
_MARGIN = 1e-4


@dataclass
class NeighbourList:
    """Neighbours of each centre within r_max, in CSR form, grouped by neighbour type.

    offsets (n_centres + 1,): the neighbours of centre c are rows offsets[c]:offsets[c+1];
    index (n,): particle index of each neighbour; vector (n, dim): r_j - r_i (double precision,
    the neighbour's nearest-within-r_max image); distance (n,); ntype (n,): neighbour type id.
    """

    offsets: np.ndarray
    index: np.ndarray
    vector: np.ndarray
    distance: np.ndarray
    ntype: np.ndarray


def replication(box: np.ndarray, r_max: float) -> np.ndarray:
    """Copies of the box per axis so that r_max (plus margin) is below half the supercell."""
    return np.floor(2.0 * r_max * (1.0 + 2 * _MARGIN) / np.asarray(box)).astype(np.int64) + 1


def neighbour_list(positions: np.ndarray, box: np.ndarray, typeid: np.ndarray, centres: np.ndarray,
                   r_max: float) -> NeighbourList:
    """Every (centre, neighbour image) pair closer than ``r_max``, centre's own zero vector excluded.

    positions (N, dim) in [0, L); box (dim,); typeid (N,); centres: particle indices.
    """
    import freud

    positions = np.asarray(positions, dtype=np.float64)
    box = np.asarray(box, dtype=np.float64)
    centres = np.asarray(centres, dtype=np.int64)
    N, dim = positions.shape
    reps = replication(box, r_max)
    shifts = np.stack(np.meshgrid(*[np.arange(m) for m in reps], indexing="ij"), axis=-1).reshape(-1, dim)
    sup = (positions[None, :, :] + (shifts * box)[:, None, :]).reshape(-1, dim)  # block b = shift b
    big = box * reps
    fbox = freud.box.Box(Lx=big[0], Ly=big[1], Lz=big[2] if dim == 3 else 0.0, is2D=(dim == 2))
    pts = np.zeros((sup.shape[0], 3), dtype=np.float32)
    pts[:, :dim] = sup - 0.5 * big
    qpts = np.zeros((centres.shape[0], 3), dtype=np.float32)
    qpts[:, :dim] = positions[centres] - 0.5 * big
    nl = freud.locality.AABBQuery(fbox, pts).query(qpts, {"r_max": r_max * (1.0 + _MARGIN), "exclude_ii": False}).toNeighborList()
    q = np.asarray(nl.query_point_indices, dtype=np.int64)
    p = np.asarray(nl.point_indices, dtype=np.int64)
    vec = sup[p] - positions[centres[q]]
    vec -= big * np.round(vec / big)
    dist = np.sqrt(np.einsum("ij,ij->i", vec, vec))
    keep = (dist < r_max) & (p != centres[q])  # p == centre (block 0) is the centre itself
    q, p, vec, dist = q[keep], p[keep], vec[keep], dist[keep]
    j = p % N
    nt = np.asarray(typeid, dtype=np.int64)[j]
    order = np.argsort(q * (int(nt.max(initial=0)) + 1) + nt, kind="stable")  # freud's order within a type
    q, j, vec, dist, nt = q[order], j[order], vec[order], dist[order], nt[order]
    offsets = np.zeros(centres.shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(q, minlength=centres.shape[0]), out=offsets[1:])
    return NeighbourList(offsets=offsets, index=j, vector=np.ascontiguousarray(vec), distance=dist, ntype=nt)
