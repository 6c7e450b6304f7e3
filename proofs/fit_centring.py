"""The frame-centred C_S(r) that ``trsp fit`` measures, and its exact expectation on a periodic box (Eq. 29).

``trsp fit`` centres each frame on its own site mean Sbar = 1^T S / N before forming the pair
products (trsp_fit.statistics): the slow global mode of a small periodic box, whose time average
barely converges in a short run, drops out.  For S ~ N(mu, K) (the model's equilibrium, Eq. 2,
time-weighted) with P = I - 1 1^T / N,

    E[(S - Sbar 1)(S - Sbar 1)^T] = P K P = K - (K 1 1^T + 1 1^T K) / N + (1^T K 1) 1 1^T / N^2,

and when every site has the same row sum of K (K a function of the minimum-image distance on a
periodic lattice: K 1 = (1^T K 1 / N) 1) this is

    K_ij - 1^T K 1 / N^2     for every pair (i, j),

an offset that is the same at every distance and known from Eq. 29's parameters:
1^T K 1 / N^2 = sum_r w(r) C(r) with w(r) the fraction of ordered pairs at distance r
(trsp_fit.estimate.centred_correlation_model, trsp_fit.neighbours.all_pair_distances).
Centring on the mean over the whole run instead biases every bin by -Var(time-averaged mean),
which on the round trip's L = 8 box is not small and is poorly estimated from a few files
(docs/fit.md).  :func:`centred_covariance` proves the identity for a periodic ring of N sites with
a general distance-dependent covariance, and for a 3 x 3 periodic square lattice.
"""

from __future__ import annotations

import itertools

import sympy as sp

__all__ = ["centred_covariance"]


def _ring(N: int) -> sp.Matrix:
    c = sp.symbols(f"c0:{N // 2 + 1}")
    return sp.Matrix(N, N, lambda i, j: c[min((i - j) % N, (j - i) % N)])


def _square(L: int) -> sp.Matrix:
    sites = list(itertools.product(range(L), repeat=2))
    d2 = sorted({min(a, L - a) ** 2 + min(b, L - b) ** 2 for a in range(L) for b in range(L)})
    c = dict(zip(d2, sp.symbols(f"k0:{len(d2)}")))

    def entry(i, j):
        (x1, y1), (x2, y2) = sites[i], sites[j]
        dx, dy = (x1 - x2) % L, (y1 - y2) % L
        return c[min(dx, L - dx) ** 2 + min(dy, L - dy) ** 2]

    return sp.Matrix(len(sites), len(sites), entry)


def centred_covariance() -> dict:
    """P K P - (K - 1^T K 1 / N^2) for distance-dependent K (symbolic entries): zero matrices."""
    out = {}
    for name, K in (("ring_5", _ring(5)), ("ring_6", _ring(6)), ("square_3x3", _square(3))):
        N = K.shape[0]
        one = sp.ones(N, 1)
        P = sp.eye(N) - one * one.T / N
        offset = (one.T * K * one)[0, 0] / N**2
        out[name] = sp.simplify(P * K * P - (K - offset * one * one.T))
    return out
