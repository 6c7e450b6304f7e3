"""The model side of every check, computed by the oracle (trsp_ref), never by the simulator under test.

:class:`ModelSide` wraps :class:`trsp_ref.model.ReferenceModel` built with the truncation the
run declares (so a truncated run is tested against the truncated model it claims to
simulate) and prepares, once per orientation, what a replay needs for every event:

* the kick operators of the cluster anchored at site 0 (mu', H, K_Delta; Eqs. 17, 19,
  24-26, 30), with the Cholesky factor of K_Delta on the checked window (whitening);
* the translation that maps them to the same-orientation cluster at any anchor: K, rho,
  K_Delta and the clusters are invariant under lattice translations, so the operators of
  cluster ``o N + a`` are those of ``o N`` with every site index shifted by ``a``
  (``tests/test_verify_model_side.py`` checks this against the oracle's own operators).

It also provides the closed-form model expectations the checks compare with:
the equilibrium mean and covariance (Eq. 29, or Lambda_t^-1 when the precision is
truncated), the observed per-site rate law P(R|S)/duration implied by the bare law
(the Gaussian integral of Appendix D, Eq. D2, evaluated with the model's own K so that it
also holds for a truncated model), the distribution N(w.mu', w^T K' w) of a firing
cluster's mean softness, and the mean total event rate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.stats

from trsp_ref.lattice import site_coords, site_index
from trsp_ref.params import Params

__all__ = ["ModelSide", "OrientationFrame", "gaussian_tilt_average", "MAX_ORACLE_SITES", "DEFAULT_MAX_CHECK_SITES"]

#: the dense oracle's limit (trsp_ref.model.MAX_DENSE_SITES); larger lattices cannot be replayed
MAX_ORACLE_SITES = 4096
#: at most this many sites around a firing cluster enter the whitened kick residual; beyond
#: it the residual is restricted to the sites nearest the cluster (a marginal of the kick's
#: Gaussian law, so still exact) and the report says so
DEFAULT_MAX_CHECK_SITES = 400
#: a site the declared model never moves (zero row of K_Delta) may change by at most this
#: much: rounding of a dense implementation, not a kick
ZERO_CHANGE_TOLERANCE = 1e-9


def gaussian_tilt_average(g: float, d: float, m, v):
    """E[exp(g X - d X^2)] for X ~ N(m, v): (1 + 2 d v)^(-1/2) exp((g m - d m^2 + g^2 v / 2) / (1 + 2 d v))."""
    m = np.asarray(m, dtype=np.float64)
    s = 1.0 + 2.0 * d * v
    return np.exp((g * m - d * m * m + 0.5 * g * g * v) / s) / math.sqrt(s)


@dataclass(frozen=True, eq=False)
class OrientationFrame:
    """Replay data of one orientation, for its cluster anchored at site 0 (site index = frame index).

    support   : (N,) bool, sites the kick can move (nonzero diagonal of K_Delta)
    check     : (nC,) frame sites whose residual is tested (support, or its part nearest the cluster)
    H_check   : (nC, N) rows of H on ``check``
    mu_prime  : (N,) mu'
    chol_check: (nC, nC) lower Cholesky factor of K_Delta[check, check]
    near      : (nB,) the neighbourhood of the cluster (support sites within one lattice spacing)
    near_in_check : (nB,) positions of ``near`` inside ``check``
    chol_near : (nB, nB) lower Cholesky factor of K_Delta[near, near]
    sbar_mean, sbar_var : mean and variance of the cluster's mean softness given it fires
    """

    support: np.ndarray
    check: np.ndarray
    H_check: np.ndarray
    mu_prime: np.ndarray
    chol_check: np.ndarray
    near: np.ndarray
    near_in_check: np.ndarray
    chol_near: np.ndarray
    sbar_mean: float
    sbar_var: float


class ModelSide:
    """Everything the checks need from the declared model (module docstring).

    Parameters
    ----------
    params : the run's parameter set
    kick_radius, precision_radius : the run's declared truncation (inf = exact model)
    max_check_sites : cap on the sites per event entering the whitened kick residual
    """

    def __init__(
        self,
        params: Params,
        kick_radius: float = math.inf,
        precision_radius: float = math.inf,
        *,
        max_check_sites: int = DEFAULT_MAX_CHECK_SITES,
        precision_scheme: str = "cut",
    ):
        from trsp_ref.model import ReferenceModel

        self.params = params
        self.kick_radius = float(kick_radius)
        self.precision_radius = float(precision_radius)
        self.model = ReferenceModel(
            params, kick_radius=kick_radius, precision_radius=precision_radius, precision_scheme=precision_scheme
        )
        m = self.model
        self.N, self.m = m.N, m.m
        self.dim, self.L = params.lattice.dim, params.lattice.L
        self.coords = site_coords(self.dim, self.L)
        self.clusters = np.asarray(m.clusters)
        self.n_clusters = int(m.n_clusters)
        self.n_orientations = self.n_clusters // self.N
        self.mean = float(m.mean)
        self.A0, self.gamma0, self.delta0 = (float(x) for x in m.rates.bare)
        self.duration = float(params.rates.duration)
        self.K = np.asarray(m.K)
        self.variance = float(self.K[0, 0])
        self.dist = np.asarray(m.dist)
        self.max_check_sites = int(max_check_sites)
        self.frames = [self._frame(o) for o in range(self.n_orientations)]
        self.windowed = any(f.check.size < int(f.support.sum()) for f in self.frames)
        self._chol_K: np.ndarray | None = None

    # ------------------------------------------------------------ geometry

    def translate(self, frame_sites: np.ndarray, anchors: np.ndarray) -> np.ndarray:
        """(len(anchors), len(frame_sites)) lattice site of each frame site for each anchor:
        the site at displacement ``coords[frame_site]`` from the anchor (periodic)."""
        anchors = np.asarray(anchors, dtype=np.int64)
        return site_index(self.coords[anchors][:, None, :] + self.coords[np.asarray(frame_sites)][None, :, :], self.L)

    def _frame(self, o: int) -> OrientationFrame:
        ops = self.model.kick_operators(o * self.N)
        sites = np.asarray(ops.sites)
        KD = np.asarray(ops.K_Delta)
        support = np.diag(KD) > 0.0
        rt = self.dist[:, sites].min(axis=1)
        sup_idx = np.flatnonzero(support)
        spacing = self.params.lattice.spacing
        # sites in order of distance to the cluster; keep whole distance shells up to the cap,
        # but always the cluster and its nearest neighbours
        order = sup_idx[np.lexsort((sup_idx, rt[sup_idx]))]
        if order.size <= self.max_check_sites:
            check = np.sort(order)
        else:
            shells = np.unique(rt[order])
            keep_r = shells[0]
            for r in shells:
                if (rt[order] <= r).sum() <= self.max_check_sites or r <= spacing * (1 + 1e-9):
                    keep_r = r
                else:
                    break
            check = np.sort(order[rt[order] <= keep_r])
        near = np.sort(sup_idx[rt[sup_idx] <= spacing * (1 + 1e-9)])
        pos = {int(s): i for i, s in enumerate(check)}
        near_in_check = np.array([pos[int(s)] for s in near], dtype=np.int64)
        chol_check = scipy.linalg.cholesky(KD[np.ix_(check, check)], lower=True)
        chol_near = scipy.linalg.cholesky(KD[np.ix_(near, near)], lower=True)
        w = np.zeros(self.N)
        w[sites] = 1.0 / sites.size
        return OrientationFrame(
            support=support,
            check=check,
            H_check=np.ascontiguousarray(np.asarray(ops.H)[check, :]),
            mu_prime=np.asarray(ops.mu_prime).copy(),
            chol_check=chol_check,
            near=near,
            near_in_check=near_in_check,
            chol_near=chol_near,
            sbar_mean=float(w @ ops.mu_prime),
            sbar_var=float(w @ ops.K_prime @ w),
        )

    # ------------------------------------------------------------ rates

    def rates_of_states(self, states: np.ndarray) -> np.ndarray:
        """(E, n_clusters) rates P0(<S>_R)/duration (Eq. D1) for a block of states (E, N), vectorized;
        the same numbers as ReferenceModel.cluster_rates (checked on the first row)."""
        sbar = states[:, self.clusters].mean(axis=2)
        return (self.A0 / self.duration) * np.exp(self.gamma0 * sbar - self.delta0 * sbar * sbar)

    def check_rates_against_oracle(self, state: np.ndarray) -> None:
        """The vectorized rates must be the oracle's (guards this module against drifting from it)."""
        mine = self.rates_of_states(state[None, :])[0]
        ref = self.model.cluster_rates(state)
        if not np.allclose(mine, ref, rtol=1e-12, atol=0.0):  # pragma: no cover - a bug here, not in the run
            raise AssertionError("trsp_verify's vectorized rates differ from ReferenceModel.cluster_rates")

    def mean_total_rate(self) -> float:
        """E[R_tot] under N(mean, K): sum over clusters of E[P0(<S>_R)]/duration, <S>_R ~ N(mean, w^T K w)."""
        total = 0.0
        for o in range(self.n_orientations):
            sites = self.clusters[o * self.N]
            v = float(self.K[np.ix_(sites, sites)].mean())
            total += self.N * self.A0 / self.duration * float(gaussian_tilt_average(self.gamma0, self.delta0, self.mean, v))
        return total

    def observed_rate(self, s) -> np.ndarray:
        """lambda(s) = E[sum_{R contains i} P0(<S>_R) | S_i = s] / duration, the per-site participation
        rate given the site's own softness (Eq. D2: P(R|S)/duration), by the exact Gaussian
        integral with the model's K (so also for a truncated precision)."""
        s = np.asarray(s, dtype=np.float64)
        out = np.zeros_like(s)
        K00 = self.K[0, 0]
        for row in self.clusters[(self.clusters == 0).any(axis=1)]:
            w = np.zeros(self.N)
            w[row] = 1.0 / row.size
            Kw = self.K @ w
            b = Kw[0] / K00
            v = max(float(w @ Kw) - Kw[0] ** 2 / K00, 0.0)
            out += gaussian_tilt_average(self.gamma0, self.delta0, self.mean + b * (s - self.mean), v)
        return out * self.A0 / self.duration

    # ------------------------------------------------------------ equilibrium

    @property
    def chol_K(self) -> np.ndarray:
        if self._chol_K is None:
            self._chol_K = scipy.linalg.cholesky(self.K, lower=True)
        return self._chol_K

    def shells(self, n_shells: int = 5):
        """The first ``n_shells`` distance shells (r = 0 included): list of (r, frame sites at
        distance r from site 0, expected centred C(r)).

        The centred C(r) is the mean over pairs (i, j) at distance r of
        (S_i - Sbar)(S_j - Sbar), Sbar the site mean of the same state; its expectation is
        K_ij - 1^T K 1 / N^2 (E[(S_i - mean) Sbar] = row mean of K = 1^T K 1 / N^2 by
        translation invariance), averaged over the shell."""
        d0 = self.dist[0]
        kbar = float(self.K.sum()) / self.N**2
        out = []
        for r in np.unique(d0)[:n_shells]:
            js = np.flatnonzero(d0 == r)
            out.append((float(r), js, float(self.K[0, js].mean()) - kbar))
        return out

    # ------------------------------------------------------------ truncation

    def truncation_distance(self) -> dict | None:
        """How far the declared truncated model is from the untruncated one (None if exact):
        equilibrium ||K_t - K||_2 / ||K||_2, the largest neglected kick variance per site
        f sD(rt)^2 (rt > kick_radius), and the largest neglected precision entry |K^-1_ij| * variance."""
        if math.isinf(self.kick_radius) and math.isinf(self.precision_radius):
            return None
        from trsp_ref.covariance import softness_covariance
        from trsp_ref.kick import kick_covariance

        p = self.params
        K_full = softness_covariance(p, self.dist)
        out: dict[str, float] = {}
        out["equilibrium_relative_error"] = float(np.linalg.norm(self.K - K_full, 2) / np.linalg.norm(K_full, 2))
        if math.isinf(self.precision_radius):
            out["neglected_precision"] = 0.0
        else:
            P = np.linalg.inv(K_full)
            far = self.dist > self.precision_radius
            out["neglected_precision"] = float(np.abs(P[far]).max() * p.softness.variance) if far.any() else 0.0
        sites = self.clusters[0]
        full = np.diag(kick_covariance(p, self.dist, sites))
        trunc = np.diag(kick_covariance(p, self.dist, sites, self.kick_radius))
        out["neglected_kick_variance"] = float((full - trunc).max())
        return out

    def firing_sbar_quantiles(self, n_bins: int) -> np.ndarray:
        """Interior edges of ``n_bins`` equiprobable bins of a firing cluster's mean softness
        (N(w.mu', w^T K' w), orientation 0; all orientations are equivalent by symmetry)."""
        f = self.frames[0]
        q = np.arange(1, n_bins) / n_bins
        return scipy.stats.norm.ppf(q, loc=f.sbar_mean, scale=math.sqrt(f.sbar_var))

    def site_quantiles(self, n_bins: int) -> np.ndarray:
        """Interior edges of ``n_bins`` equiprobable bins of one site's softness, N(mean, K_00)."""
        q = np.arange(1, n_bins) / n_bins
        return scipy.stats.norm.ppf(q, loc=self.mean, scale=math.sqrt(self.variance))
