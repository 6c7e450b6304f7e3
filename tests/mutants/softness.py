"""Broken variants of the structure functions and p_hop that the oracle tests must reject
(tests/test_softness_descriptors.py::test_mutants_are_rejected).

Each mutant is a reading of Appendix A or of the p_hop definition a careful reader could make
(the printed forms of proofs/ERRATA.md E15-E16 among them), written as a change to the oracle's
inputs or to the implementation's output, so that the comparison the tests make is shown to
catch it.
"""

from __future__ import annotations

import math

import numpy as np

from softness_oracle import image_neighbours

#: name -> what is wrong
MUTATIONS = {
    "a1_two_sigma_squared": "A1 with exp(-(r - mu)^2 / (2 sigma^2)), the convention of some softness codes",
    "a2_printed_domain": "A2 with the printed condition r_ij, r_jk < sigma_max (E16)",
    "a2_ordered_pairs_with_self": "A2 summed over ordered pairs j, k including j = k",
    "a2_lambda_sign": "A2 with (1 - lambda cos theta) in place of (1 + lambda cos theta)",
    "p_hop_shared_middle": "p_hop with both windows containing frame k (A = k-h..k, B = k..k+h)",
}


def mutant_structure_functions(name, positions, box, typeid, centres, fs):
    """The oracle's features with one mutation (a slow, literal evaluation)."""
    typeid = np.asarray(typeid)
    M = fs.mu.shape[0]
    A = fs.angular.shape[0]
    pairs = fs.type_pairs
    out = np.zeros((len(centres), fs.n_features))
    for row, i in enumerate(centres):
        reach = 2 * fs.sigma_max if name == "a2_printed_domain" else fs.sigma_max
        nb = image_neighbours(positions, box, i, reach)
        for j, v in nb:
            r = math.sqrt(float(v @ v))
            if r >= fs.sigma_max:
                continue
            width = 2 * fs.sigma**2 if name == "a1_two_sigma_squared" else fs.sigma**2
            for m in range(M):
                out[row, int(typeid[j]) * M + m] += math.exp(-((r - fs.mu[m]) ** 2) / width)
        for x in range(len(nb)):
            ys = range(len(nb)) if name == "a2_ordered_pairs_with_self" else range(x + 1, len(nb))
            for y in ys:
                (j, u), (k, w) = nb[x], nb[y]
                rij, rik = math.sqrt(float(u @ u)), math.sqrt(float(w @ w))
                rjk = math.sqrt(float((u - w) @ (u - w)))
                if name == "a2_printed_domain":
                    if not (rij < fs.sigma_max and rjk < fs.sigma_max) or rik == 0 or x == y:
                        continue
                elif rij >= fs.sigma_max or rik >= fs.sigma_max:
                    continue
                cos = float(u @ w) / (rij * rik)
                p = pairs.index(tuple(sorted((int(typeid[j]), int(typeid[k])))))
                for t, (xi, lam, zeta) in enumerate(fs.angular):
                    sign = -1.0 if name == "a2_lambda_sign" else 1.0
                    base = max(1.0 + sign * lam * cos, 0.0)
                    out[row, fs.n_radial + p * A + t] += math.exp(-(rij**2 + rik**2 + rjk**2) / xi**2) * base**zeta
    return out


def mutant_p_hop(x, h):
    """p_hop with windows sharing frame k: A = k-h..k, B = k..k+h (h + 1 frames each)."""
    K = x.shape[0]
    out = []
    for k in range(h, K - h + 1):
        if k + h >= K:
            break
        A, B = x[k - h: k + 1], x[k: k + h + 1]
        va = np.mean(np.sum((A - B.mean(0)) ** 2, -1), 0)
        vb = np.mean(np.sum((B - A.mean(0)) ** 2, -1), 0)
        out.append(np.sqrt(va * vb))
    return np.array(out)
