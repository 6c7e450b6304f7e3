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

The oracle is dense: larger lattices are replaced by the largest of :data:`SYSTEMATIC_L` (the kick
and its drift are local: their population limits hardly depend on the box once it holds the
background radius), and the change from two sites per side less is reported as the systematic term.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from trsp_ref.params import Params

from .statistics import N_FEATURES, Settings

__all__ = ["kick_population", "kick_bias", "kick_correction", "KICK_PARAMETERS", "SYSTEMATIC_L"]

#: the lattice (sites per side, per dimension) on which the bias is computed, at most
SYSTEMATIC_L = {2: 16, 3: 10}


def kick_population(p: Params, st: Settings, kick_radius: float = math.inf) -> dict:
    """Population limits of the binned kick statistics for one firing cluster (orientation 0):
    ``K`` (nrt,) the pooled regression's residual variance per rt bin, ``K_true`` the mean K_Delta(j, j)
    of the bin, ``rt`` the bin's mean distance, ``pair_cov`` / ``pair_r`` / ``pair_rt`` per (pair bin,
    rt bin) cell, ``pair_true`` the mean K_Delta(i, j) of the cell (NaN where the cell is empty).
    ``kick_radius``: the simulated model's kick window (K_Delta = 0 beyond; trsp_fit leaves those
    sites out).  The precision's truncation is not represented: on the small lattices used here the
    default precision radius (about 10 spacings) spans the whole box."""
    from trsp_ref.conditioning import conditioned_on_cluster
    from trsp_ref.covariance import kick_correlation, softness_covariance
    from trsp_ref.kick import drift_matrix, kick_covariance
    from trsp_ref.lattice import cluster_sites, distance_matrix
    from trsp_ref.renormalization import rate_parameters

    # the oracle's operators for cluster 0 (those of ReferenceModel.kick_operators, without the
    # model's checks of every orientation and its noise factor, which this does not need)
    D = distance_matrix(p.lattice)
    K = softness_covariance(p, D)
    rates = rate_parameters(p, K)
    sites = np.asarray(cluster_sites(p.lattice.dim, p.lattice.L, p.cluster.shape)[0])
    _, gamma0, delta0 = rates.bare
    mu, Kp = conditioned_on_cluster(K, rates.mean, sites, gamma0, delta0)
    KD = kick_covariance(p, D, sites, kick_radius, rho=kick_correlation(p, D))
    H = drift_matrix(KD, Kp)
    m = type("M", (), {"N": K.shape[0]})
    rt = D[:, sites].min(axis=1)
    nrt, npb = st.rt_bins.n, st.pair_bins.n
    rtb = st.rt_bins.index(rt)
    tol = 1 + 1e-9
    use = np.flatnonzero((rt <= st.r_background * tol) & (rtb >= 0) & (rtb < nrt) & (rt <= kick_radius * tol))
    J = use.size
    # the features of the used sites as linear maps of S: rows 1 (zero map), S_j, neighbour mean, rearranging mean
    N = m.N
    F = np.zeros((J, N_FEATURES, N))
    F[np.arange(J), 1, use] = 1.0
    nb = (D[use] > 0) & (D[use] <= st.neighbour_radius * tol)
    F[:, 2, :] = nb / nb.sum(axis=1, keepdims=True)
    near = D[use][:, sites] <= rt[use, None] + st.neighbour_radius * tol
    F[np.repeat(np.arange(J), sites.size), 3, np.tile(sites, J)] = (near / near.sum(axis=1, keepdims=True)).ravel()
    means = F @ mu
    means[:, 0] = 1.0
    cov_S_dS = -(Kp @ H.T)[:, use]  # Cov(S, dS_j), column per used j
    var_dS = (H @ Kp @ H.T + KD)[np.ix_(use, use)]
    P = N_FEATURES
    F2 = F.reshape(J * P, N)
    FK = F2 @ Kp  # (J p, N): BLAS products, not einsum
    Exx = (FK @ F2.T).reshape(J, P, J, P).transpose(0, 2, 1, 3) + np.einsum("ap,bq->abpq", means, means)  # E[x_a x_b^T]
    Exy = (F2 @ cov_S_dS).reshape(J, P, J).transpose(0, 2, 1)  # E[x_a dS_b]
    jb = rtb[use]
    A = np.zeros((nrt, N_FEATURES, N_FEATURES))
    b = np.zeros((nrt, N_FEATURES))
    yy, n, rsum, ktrue = (np.bincount(jb, weights=w, minlength=nrt) for w in
                          (np.diag(var_dS), np.ones(J), rt[use], KD[use, use]))
    ii = np.arange(J)
    np.add.at(A, jb, Exx[ii, ii])
    np.add.at(b, jb, Exy[ii, ii])
    beta = np.zeros((nrt, N_FEATURES))
    K = np.full(nrt, np.nan)
    for B in np.flatnonzero(n > 0):
        beta[B] = np.linalg.lstsq(A[B], b[B], rcond=None)[0]
        K[B] = (yy[B] - beta[B] @ b[B]) / n[B]
    # pairs (i a cluster site, j used): the residual covariance E[(y_i - x_i b_0)(y_j - x_j b_jb)]
    pos = {int(s): k for k, s in enumerate(use)}
    ia = np.array([pos[int(i)] for i in sites])
    Dp = D[np.ix_(sites, use)]
    pb = st.pair_bins.index(Dp.ravel()).reshape(Dp.shape)
    a_i, b_j = np.nonzero(pb >= 1)
    ai = ia[a_i]
    e = (var_dS[ai, b_j] - np.einsum("p,kp->k", beta[0], Exy[ai, b_j]) - np.einsum("kp,kp->k", Exy[b_j, ai], beta[jb[b_j]])
         + np.einsum("p,kpq,kq->k", beta[0], Exx[ai, b_j], beta[jb[b_j]]))
    cell = pb[a_i, b_j] * nrt + jb[b_j]
    cnt = np.bincount(cell, minlength=npb * nrt)
    with np.errstate(invalid="ignore", divide="ignore"):
        cellmean = lambda w: np.where(cnt > 0, np.bincount(cell, weights=w, minlength=npb * nrt) / cnt, np.nan).reshape(npb, nrt)  # noqa: E731
        return {
            "K": K, "K_true": np.where(n > 0, ktrue / np.maximum(n, 1), np.nan), "rt": np.where(n > 0, rsum / np.maximum(n, 1), np.nan),
            "pair_cov": cellmean(e), "pair_true": cellmean(KD[sites[a_i], use[b_j]]), "pair_r": cellmean(Dp[a_i, b_j]),
            "pair_rt": cellmean(rt[use[b_j]]), "n": n, "pair_n": cnt.reshape(npb, nrt),
        }


KICK_PARAMETERS = ("sigma0", "sigma1", "xi_sigma", "rho1", "xi_rho")


def kick_bias(p: Params, st: Settings, se_K: np.ndarray, se_pair: np.ndarray, kick_radius: float = math.inf) -> dict:
    """The kick estimator's bias at parameter set ``p`` (on p's lattice): Eq. 30 fitted
    (trsp_fit.estimate.sigma_fit / rho_fit, weights 1 / se^2 as in the fit) to the population limits of
    the binned statistics, minus p's own kick parameters."""
    from . import estimate as est

    pop = kick_population(p, st, kick_radius)
    se = np.where(np.isfinite(se_K) & (se_K > 0), se_K, np.nan)
    kf, *_ = est.sigma_fit(pop["rt"], pop["K"], se[: pop["K"].size])
    sep = np.where(np.isfinite(se_pair) & (se_pair > 0), se_pair, np.nan)
    rf, *_ = est.rho_fit(pop["pair_r"], pop["pair_rt"], pop["pair_cov"], sep, kf)
    got = {**kf, **rf}
    return {k: float(got[k] - getattr(p.kick, k)) for k in KICK_PARAMETERS}


def kick_correction(p: Params, st: Settings, se_K: np.ndarray, se_pair: np.ndarray, kick_radius: float = math.inf) -> dict:
    """The bias correction of the kick parameters and its systematic uncertainty, at the fitted set ``p``.

    The bias is computed on the largest lattice of p's dimension that the dense oracle handles quickly
    (:data:`SYSTEMATIC_L`; p's own when smaller).  When that is smaller than p's, it is computed again
    two sites per side smaller (if that still holds the background radius) and the difference is the
    systematic term (how much the bias still depends on the box); on p's own lattice the term is 0.
    Returns {"bias": {...}, "systematic": {...}, "lattice": [L, L2 or None]}."""
    dim, L = p.lattice.dim, p.lattice.L
    L1 = min(L, SYSTEMATIC_L[dim])
    b1 = kick_bias(replace(p, lattice=replace(p.lattice, L=L1)), st, se_K, se_pair, kick_radius)
    L2 = L1 - 2
    if L1 == L or L2 * p.lattice.spacing < 2 * st.r_background * (1 - 1e-9):
        return {"bias": b1, "systematic": {k: 0.0 for k in b1} if L1 == L else {k: abs(v) for k, v in b1.items()}, "lattice": [L1, None]}
    b2 = kick_bias(replace(p, lattice=replace(p.lattice, L=L2)), st, se_K, se_pair, kick_radius)
    return {"bias": b1, "systematic": {k: abs(b1[k] - b2[k]) for k in b1}, "lattice": [L1, L2]}
