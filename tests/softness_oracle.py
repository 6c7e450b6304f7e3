"""Brute-force oracle of the structure functions (Appendix A, as corrected in proofs/ERRATA.md).

Dense and obvious on purpose (house rule 2): every periodic image of every particle is
enumerated explicitly (no neighbour list, no supercell, no law of cosines, no power tricks), the
radial sum is O(N^2 x images), the angular one a double loop over each centre's neighbours.
Only for small systems: the tests compare :func:`trsp_softness.structure.structure_functions`
with it.
"""

from __future__ import annotations

import itertools
import math

import numpy as np


def image_neighbours(positions, box, i, r_max):
    """[(j, vector)] for every image of every particle within r_max of particle i (i's own
    zero vector excluded), by enumerating image shifts n with |n_a L_a| <= r_max + L_a."""
    positions = np.asarray(positions, dtype=np.float64)
    box = np.asarray(box, dtype=np.float64)
    dim = box.shape[0]
    ranges = [range(-int(math.ceil(r_max / L)) - 1, int(math.ceil(r_max / L)) + 2) for L in box]
    out = []
    for j in range(positions.shape[0]):
        for n in itertools.product(*ranges):
            if j == i and not any(n):
                continue
            v = positions[j] + np.array(n, dtype=np.float64) * box - positions[i]
            r = math.sqrt(float(np.dot(v, v)))
            if r < r_max:
                out.append((j, v))
    return out


def oracle_structure_functions(positions, box, typeid, centres, fs):
    """(n_centres, fs.n_features), feature order as StructureFunctionSet.names()."""
    typeid = np.asarray(typeid)
    M = fs.mu.shape[0]
    pairs = fs.type_pairs
    A = fs.angular.shape[0]
    out = np.zeros((len(centres), fs.n_features))
    for row, i in enumerate(centres):
        nb = image_neighbours(positions, box, i, fs.sigma_max)
        for j, v in nb:
            r = math.sqrt(float(np.dot(v, v)))
            b = int(typeid[j])
            for m in range(M):
                out[row, b * M + m] += math.exp(-((r - fs.mu[m]) ** 2) / fs.sigma ** 2)
        for x in range(len(nb)):
            for y in range(x + 1, len(nb)):
                (j, u), (k, w) = nb[x], nb[y]
                rij = math.sqrt(float(np.dot(u, u)))
                rik = math.sqrt(float(np.dot(w, w)))
                rjk = math.sqrt(float(np.dot(u - w, u - w)))
                p = pairs.index(tuple(sorted((int(typeid[j]), int(typeid[k])))))
                for t, (xi, lam, zeta) in enumerate(fs.angular):
                    # 1 + lambda cos(theta_jik), as |u/|u| + lambda w/|w||^2 / 2 (lambda = +-1): the
                    # same number without the cancellation of 1 - cos near 0 degrees
                    e = u / rij + lam * w / rik
                    base = 0.5 * float(np.dot(e, e))
                    val = math.exp(-(rij ** 2 + rik ** 2 + rjk ** 2) / xi ** 2) * base ** zeta
                    out[row, fs.n_radial + p * A + t] += val
    return out
