"""Known systematic effects of ``trsp fit``'s kick estimator, computed from the model itself.

The kick regressions (trsp_fit.statistics, FEATURES) remove the drift H (mu' - S) through four
summaries of the softness near j; the part of the drift they miss stays in the residual
(proofs/fit_kick.py).  Its size depends on the parameters, so it is computed, not assumed:
:func:`kick_population` gives the population limit of every binned kick statistic the fit uses
(per rt bin: the pooled regression's residual variance; per pair cell: the residual covariance)
for a parameter set, exactly, with the oracle's K', mu', H and K_Delta (trsp_ref.model) for one
firing cluster, on the run's truncation when known.  Fitting Eq. 30 to those limits and comparing
with the parameters they came from gives the estimator's bias at that parameter set: the fit
reports it, at its own fitted parameters (plug-in), as the systematic term of sigma0, sigma1,
xi_sigma, rho1 and xi_rho (docs/fit.md, "Errors").

The oracle is dense: lattices above :data:`MAX_SYSTEMATIC_SITES` sites are replaced by the
largest smaller one of the same dimension (the kick and its drift are local: their population
limits do not depend on the box once it holds the kick window).
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from trsp_ref.params import Params

from .statistics import N_FEATURES, Settings

__all__ = ["kick_population", "MAX_SYSTEMATIC_SITES", "systematic_lattice"]

#: the dense oracle's lattice for the systematic term holds at most this many sites
MAX_SYSTEMATIC_SITES = 1000


def systematic_lattice(p: Params) -> Params:
    """``p`` on the largest lattice of at most MAX_SYSTEMATIC_SITES sites (p itself when it fits)."""
    dim, L = p.lattice.dim, p.lattice.L
    Ls = min(L, int(math.floor(MAX_SYSTEMATIC_SITES ** (1.0 / dim) + 1e-9)))
    return p if Ls == L else replace(p, lattice=replace(p.lattice, L=Ls))


def kick_population(p: Params, st: Settings, kick_radius: float = math.inf, precision_radius: float = math.inf,
                    scheme: str = "cut") -> dict:
    """Population limits of the binned kick statistics for one firing cluster (orientation 0):
    ``K`` (nrt,) the pooled regression's residual variance per rt bin, ``K_true`` the mean K_Delta(j, j)
    of the bin, ``rt`` the bin's mean distance, ``pair_cov`` / ``pair_r`` / ``pair_rt`` per (pair bin,
    rt bin) cell, ``pair_true`` the mean K_Delta(i, j) of the cell (NaN where the cell is empty)."""
    from trsp_ref.model import ReferenceModel

    m = ReferenceModel(p, kick_radius=kick_radius, precision_radius=precision_radius, scheme=scheme)
    ops = m.kick_operators(0)
    H, Kp, KD, mu, D, sites = ops.H, ops.K_prime, ops.K_Delta, ops.mu_prime, m.dist, np.asarray(ops.sites)
    N = m.N
    rt = D[:, sites].min(axis=1)
    nrt, npb = st.rt_bins.n, st.pair_bins.n
    rtb = st.rt_bins.index(rt)
    in_window = rt <= kick_radius * (1 + 1e-9)
    use = (rt <= st.r_background * (1 + 1e-9)) & (rtb >= 0) & (rtb < nrt) & in_window
    # features of every site: rows 1, S_j, neighbour mean, rearranging mean (as linear maps of S)
    Fm = np.zeros((N, N_FEATURES, N))
    for j in np.flatnonzero(use):
        Fm[j, 1, j] = 1.0
        nb = (D[j] > 0) & (D[j] <= st.neighbour_radius * (1 + 1e-9))
        Fm[j, 2, nb] = 1.0 / nb.sum()
        g = [k for k in sites if D[j, k] <= rt[j] + st.neighbour_radius * (1 + 1e-9)]
        Fm[j, 3, g] = 1.0 / len(g)
    means = Fm @ mu  # (N, p)
    means[:, 0] = 1.0
    cov_S_dS = -(Kp @ H.T)  # Cov(S, dS): column j is Cov(S, dS_j)
    var_dS = H @ Kp @ H.T + KD
    A = np.zeros((nrt, N_FEATURES, N_FEATURES))
    b = np.zeros((nrt, N_FEATURES))
    yy, n, rsum, ktrue = np.zeros(nrt), np.zeros(nrt), np.zeros(nrt), np.zeros(nrt)
    FK = np.einsum("jpn,nk->jpk", Fm, Kp)  # F_j K'
    for j in np.flatnonzero(use):
        B = rtb[j]
        A[B] += FK[j] @ Fm[j].T + np.outer(means[j], means[j])
        b[B] += Fm[j] @ cov_S_dS[:, j]
        yy[B] += var_dS[j, j]
        n[B] += 1
        rsum[B] += rt[j]
        ktrue[B] += KD[j, j]
    beta = np.zeros((nrt, N_FEATURES))
    K = np.full(nrt, np.nan)
    for B in range(nrt):
        if n[B] > 0:
            beta[B] = np.linalg.lstsq(A[B], b[B], rcond=None)[0]
            K[B] = (yy[B] - beta[B] @ b[B]) / n[B]
    pc = np.zeros((npb, nrt))
    pt = np.zeros((npb, nrt))
    pn = np.zeros((npb, nrt))
    pr = np.zeros((npb, nrt))
    prt = np.zeros((npb, nrt))
    for i in sites:
        for j in np.flatnonzero(use):
            pb = st.pair_bins.index(np.array([D[i, j]]))[0]
            if pb < 1:
                continue
            jb = rtb[j]
            Exx = FK[i] @ Fm[j].T + np.outer(means[i], means[j])
            Exy = Fm[i] @ cov_S_dS[:, j]  # E[x_i dS_j]
            Eyx = Fm[j] @ cov_S_dS[:, i]  # E[dS_i x_j]
            e = var_dS[i, j] - beta[0] @ Exy - Eyx @ beta[jb] + beta[0] @ Exx @ beta[jb]
            pc[pb, jb] += e
            pt[pb, jb] += KD[i, j]
            pn[pb, jb] += 1
            pr[pb, jb] += D[i, j]
            prt[pb, jb] += rt[j]
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "K": K, "K_true": np.where(n > 0, ktrue / np.maximum(n, 1), np.nan), "rt": np.where(n > 0, rsum / np.maximum(n, 1), np.nan),
            "pair_cov": np.where(pn > 0, pc / pn, np.nan), "pair_true": np.where(pn > 0, pt / pn, np.nan),
            "pair_r": np.where(pn > 0, pr / pn, np.nan), "pair_rt": np.where(pn > 0, prt / pn, np.nan), "n": n, "pair_n": pn,
        }
