"""The model side of every check, computed by the oracle's formulas, never by the simulator under test.

Two implementations of one interface (:class:`ModelSideBase`), chosen by :func:`model_side_for`:

* :class:`ModelSide` (lattices up to the dense oracle's ``MAX_DENSE_SITES``) wraps
  :class:`trsp_ref.model.ReferenceModel` built with the run's declared truncation and reads
  every operator off its dense matrices;
* :class:`trsp_verify.periodic_side.PeriodicModelSide` (any lattice) computes the same
  quantities with plain dense linear algebra on the kick window and the circulant (FFT)
  structure of K, without any N x N matrix; ``tests/test_verify.py`` shows that the two
  agree to 1e-10, operator by operator, where both run.

Both prepare, once per orientation, what a replay needs for every event (an
:class:`OrientationFrame` for the cluster anchored at site 0): the kick's mean on the
checked sites as an affine map of the state, ``b + M S[cols]`` (= H (mu' - S), Eqs. 16, 19,
24-26), the Cholesky factors of K_Delta (Eq. 30) that whiten the residual, and the window of
sites the kick may move.  K, rho, K_Delta and the clusters are invariant under lattice
translations, so the operators of cluster ``o N + a`` are those of ``o N`` with every site
index shifted by ``a`` (:meth:`ModelSideBase.translate`).

The closed-form model expectations the checks compare with come from the first row of the
equilibrium covariance (``K_row``; Eq. 29, or Lambda_t^-1 for a truncated precision): the
observed per-site rate law P(R|S)/duration implied by the bare law (Eq. D2, evaluated with
the model's own K so that it also holds for a truncated model), the law N(w.mu', w^T K' w)
of a firing cluster's mean softness, the mean total event rate and the correlation shells.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.stats

from trsp_ref.lattice import site_coords, site_index
from trsp_ref.model import MAX_DENSE_SITES
from trsp_ref.params import Params
from trsp_ref.renormalization import log_gaussian_average

__all__ = [
    "ModelSide",
    "ModelSideBase",
    "OrientationFrame",
    "CirculantMatrix",
    "model_side_for",
    "DEFAULT_MAX_CHECK_SITES",
    "ZERO_CHANGE_TOLERANCE",
]

#: at most this many sites around a firing cluster enter the whitened kick residual; beyond
#: it the residual is restricted to the sites nearest the cluster (a marginal of the kick's
#: Gaussian law, so still exact) and the report says so
DEFAULT_MAX_CHECK_SITES = 400
#: a site the declared model never moves (zero row of K_Delta) may change by at most this
#: much: rounding of a dense implementation, not a kick
ZERO_CHANGE_TOLERANCE = 1e-9


def gaussian_tilt_average(g: float, d: float, m, v: float):
    """E[exp(g X - d X^2)] for X ~ N(m, v), elementwise in ``m`` (the oracle's log_gaussian_average)."""
    return np.exp(log_gaussian_average(g, d, np.asarray(m, dtype=np.float64), v))


class CirculantMatrix:
    """A translation-invariant N x N matrix given by its first row: ``M[i, j] = row[site of r_j - r_i]``.

    Supports ``M[I, J]`` for broadcastable integer index arrays (``np.ix_``), ``shape`` and
    ``sum()``, which is all that :func:`trsp_ref.renormalization.cluster_correlation` and the
    checks ask of K; no N x N array is ever formed."""

    def __init__(self, row: np.ndarray, coords: np.ndarray, L: int):
        self.row = np.asarray(row, dtype=np.float64)
        self.coords, self.L = coords, L
        self.shape = (self.row.size, self.row.size)

    def offset_index(self, I, J) -> np.ndarray:
        """Index into ``row`` of the pair (I, J): the site at offset r_J - r_I from site 0."""
        return site_index(self.coords[np.asarray(J)] - self.coords[np.asarray(I)], self.L)

    def __getitem__(self, key):
        I, J = key
        return self.row[self.offset_index(I, J)]

    def sum(self) -> float:
        """1^T M 1 = N * sum(row)."""
        return float(self.row.size * self.row.sum())


@dataclass(frozen=True, eq=False)
class OrientationFrame:
    """Replay data of one orientation, for its cluster anchored at site 0 (site index = frame index).

    sites      : (m,) the cluster's sites
    support    : (N,) bool, sites the kick can move (nonzero diagonal of K_Delta)
    check      : (nC,) frame sites whose residual is tested (support, or its part nearest the cluster)
    cols       : (nB,) frame sites the kick mean depends on
    mean_offset, mean_matrix : (nC,), (nC, nB): H (mu' - S) on ``check`` = mean_offset + mean_matrix @ S[cols]
    chol_check : (nC, nC) lower Cholesky factor of K_Delta[check, check]
    near       : (nB,) the neighbourhood of the cluster (support sites within one lattice spacing)
    near_in_check : positions of ``near`` inside ``check``
    chol_near  : lower Cholesky factor of K_Delta[near, near]
    mu_near    : mu' on ``near``
    sbar_mean, sbar_var : mean and variance of the cluster's mean softness given it fires
    """

    sites: np.ndarray
    support: np.ndarray
    check: np.ndarray
    cols: np.ndarray
    mean_offset: np.ndarray
    mean_matrix: np.ndarray
    chol_check: np.ndarray
    near: np.ndarray
    near_in_check: np.ndarray
    chol_near: np.ndarray
    mu_near: np.ndarray
    sbar_mean: float
    sbar_var: float
    # the same mean through the precision on the window A (periodic side only, see
    # PeriodicModelSide.kick_means): H (mu' - S) on ``check`` = gain_offset - gain @ y[window]
    # - (sbar_R - mean) gain_cluster, y = Lambda_t (S - mean)
    window: np.ndarray | None = None
    gain: np.ndarray | None = None
    gain_offset: np.ndarray | None = None
    gain_cluster: np.ndarray | None = None

    def kick_mean(self, S_cols: np.ndarray) -> np.ndarray:
        """H (mu' - S) on ``check`` for states (n, nB) given on ``cols``."""
        return self.mean_offset[None, :] + S_cols @ self.mean_matrix.T


def checked_sites(support_idx: np.ndarray, rt: np.ndarray, spacing: float, cap: int) -> tuple[np.ndarray, np.ndarray]:
    """(check, near): the support sites nearest the cluster, whole distance shells up to ``cap``
    sites but always the cluster and its nearest neighbours; and the support within one spacing."""
    order = support_idx[np.lexsort((support_idx, rt[support_idx]))]
    if order.size <= cap:
        check = np.sort(order)
    else:
        keep_r = rt[order][0]
        for r in np.unique(rt[order]):
            if (rt[order] <= r).sum() <= cap or r <= spacing * (1 + 1e-9):
                keep_r = r
            else:
                break
        check = np.sort(order[rt[order] <= keep_r])
    near = np.sort(support_idx[rt[support_idx] <= spacing * (1 + 1e-9)])
    return check, near


class ModelSideBase:
    """What every check needs from the declared model; subclasses fill in (see the module docstring):

    params, N, m, dim, L, coords, clusters (n_clusters, m), n_clusters, n_orientations, mean,
    A0, gamma0, delta0, duration, K_row (first row of the equilibrium covariance), frames,
    kick_radius, precision_radius, max_check_sites; and the methods
    :meth:`inverse_quadratic` and :meth:`truncation_distance`.
    """

    params: Params
    frames: list[OrientationFrame]
    #: "the declared model" or a note on the model actually tested (large untruncated lattices)
    surrogate: dict | None = None

    def _geometry(self, params: Params) -> None:
        from trsp_ref.lattice import cluster_sites

        self.params = params
        self.dim, self.L = params.lattice.dim, params.lattice.L
        self.N = params.N
        self.coords = site_coords(self.dim, self.L)
        self.clusters = cluster_sites(self.dim, self.L, params.cluster.shape)
        self.m = self.clusters.shape[1]
        self.n_clusters = self.clusters.shape[0]
        self.n_orientations = self.n_clusters // self.N
        self.duration = float(params.rates.duration)
        # dist_row[j] = |r_j - r_0| (minimum image): every distance is one of these by translation
        folded = np.minimum(self.coords, self.L - self.coords)
        self.dist_row = np.sqrt((folded * folded).sum(axis=1).astype(np.float64)) * params.lattice.spacing

    @property
    def K(self) -> CirculantMatrix:
        """The equilibrium covariance (Lambda_t^-1 for a truncated precision) as a circulant."""
        return CirculantMatrix(self.K_row, self.coords, self.L)

    @property
    def variance(self) -> float:
        return float(self.K_row[0])

    @property
    def windowed(self) -> bool:
        return any(f.check.size < int(f.support.sum()) for f in self.frames)

    # ------------------------------------------------------------ geometry

    def translate(self, frame_sites: np.ndarray, anchors: np.ndarray) -> np.ndarray:
        """(len(anchors), len(frame_sites)) lattice site of each frame site for each anchor:
        the site at displacement ``coords[frame_site]`` from the anchor (periodic)."""
        anchors = np.asarray(anchors, dtype=np.int64)
        return site_index(self.coords[anchors][:, None, :] + self.coords[np.asarray(frame_sites)][None, :, :], self.L)

    def to_frame(self, sites: np.ndarray, anchor: int) -> np.ndarray:
        """Frame index (displacement from ``anchor``) of lattice sites: the inverse of :meth:`translate`."""
        return site_index(self.coords[np.asarray(sites)] - self.coords[int(anchor)], self.L)

    def kick_means(self, o: int, states: np.ndarray, anchors: np.ndarray) -> np.ndarray:
        """H (mu' - S) on the checked sites (n, nC) of the clusters of orientation ``o`` anchored at
        ``anchors`` (n,), for the states (n, N) before their events: the affine map of the frame
        (``kick_mean``) applied to each state at the translated columns."""
        f = self.frames[o]
        return f.kick_mean(states[np.arange(states.shape[0])[:, None], self.translate(f.cols, anchors)])

    # ------------------------------------------------------------ rates

    def rates_of_states(self, states: np.ndarray) -> np.ndarray:
        """(E, n_clusters) rates P0(<S>_R)/duration (Eq. D1) for a block of states (E, N)."""
        sbar = states[:, self.clusters].mean(axis=2)
        return self.rate_of_mean(sbar)

    def rate_of_mean(self, sbar):
        """P0(sbar)/duration for cluster means ``sbar`` (Eq. D1, bare law)."""
        return (self.A0 / self.duration) * np.exp(self.gamma0 * sbar - self.delta0 * sbar * sbar)

    def mean_total_rate(self) -> float:
        """E[R_tot] under N(mean, K): sum over clusters of E[P0(<S>_R)]/duration, <S>_R ~ N(mean, w^T K w)."""
        total = 0.0
        K = self.K
        for o in range(self.n_orientations):
            sites = self.clusters[o * self.N]
            v = float(K[np.ix_(sites, sites)].mean())
            total += self.N * self.A0 / self.duration * float(gaussian_tilt_average(self.gamma0, self.delta0, self.mean, v))
        return total

    def observed_rate(self, s) -> np.ndarray:
        """lambda(s) = E[sum_{R contains i} P0(<S>_R) | S_i = s] / duration, the per-site participation
        rate given the site's own softness (Eq. D2: P(R|S)/duration), by the exact Gaussian
        integral with the model's K (so also for a truncated precision): for each cluster R
        containing site 0, <S>_R given S_0 = s is N(mean + b (s - mean), v) with
        b = (K w)_0 / K_00 and v = w^T K w - (K w)_0^2 / K_00."""
        s = np.asarray(s, dtype=np.float64)
        out = np.zeros_like(s)
        for (b, v), count in self._observed_terms():
            out += count * gaussian_tilt_average(self.gamma0, self.delta0, self.mean + b * (s - self.mean), v)
        return out * self.A0 / self.duration

    def _observed_terms(self) -> list[tuple[tuple[float, float], int]]:
        """((b, v), multiplicity) of the clusters containing site 0; clusters equivalent by the
        lattice's symmetry give the same (b, v) (to rounding, 1e-12 relative) and are counted once."""
        if getattr(self, "_obs_terms", None) is None:
            K, K00 = self.K, self.variance
            terms: list[list] = []
            for row in self.clusters[(self.clusters == 0).any(axis=1)]:
                Kw0 = float(K[np.zeros(1, np.int64), row].mean())  # (K w)_0
                wKw = float(K[np.ix_(row, row)].mean())
                bv = (Kw0 / K00, max(wKw - Kw0**2 / K00, 0.0))
                for t in terms:
                    if all(abs(x - y) <= 1e-12 * max(abs(x), abs(y), 1e-300) for x, y in zip(t[0], bv)):
                        t[1] += 1
                        break
                else:
                    terms.append([bv, 1])
            self._obs_terms = [(bv, n) for bv, n in terms]
        return self._obs_terms

    # ------------------------------------------------------------ equilibrium

    def one_K_one(self) -> float:
        """1^T K 1."""
        return self.K.sum()

    def shells(self, n_shells: int = 5):
        """The first ``n_shells`` distance shells (r = 0 included): list of (r, frame sites at
        distance r from site 0, expected centred C(r)).

        The centred C(r) is the mean over pairs (i, j) at distance r of
        (S_i - Sbar)(S_j - Sbar), Sbar the site mean of the same state; its expectation is
        K_ij - 1^T K 1 / N^2 (E[(S_i - mean) Sbar] = row mean of K = 1^T K 1 / N^2 by
        translation invariance), averaged over the shell."""
        kbar = float(self.K_row.sum()) / self.N
        out = []
        for r in np.unique(self.dist_row)[:n_shells]:
            js = np.flatnonzero(self.dist_row == r)
            out.append((float(r), js, float(self.K_row[js].mean()) - kbar))
        return out

    def inverse_quadratic(self, X: np.ndarray) -> float:  # pragma: no cover - abstract
        """sum over rows x of x^T K^-1 x."""
        raise NotImplementedError

    def truncation_distance(self) -> dict | None:  # pragma: no cover - abstract
        raise NotImplementedError

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

    def replay_bytes(self, block: int) -> int:
        """Memory one replica's replay needs with this side (frames, tables, a block of states)."""
        frames = sum(f.mean_matrix.nbytes + f.chol_check.nbytes + f.support.nbytes for f in self.frames)
        per_site = 8 * (self.m * self.n_orientations * 2 + 16)  # cluster tables, rates, partners, state copies
        return int(frames + self.N * per_site + 8 * block * max(f.cols.size for f in self.frames) * 2)


class ModelSide(ModelSideBase):
    """The model side from the dense oracle (lattices up to ``MAX_DENSE_SITES`` sites).

    Parameters
    ----------
    params : the run's parameter set
    kick_radius, precision_radius : the run's declared truncation (inf = exact model)
    scheme : the declared truncation scheme of the precision (``trsp_ref.truncation``)
    max_check_sites : cap on the sites per event entering the whitened kick residual
    """

    def __init__(
        self,
        params: Params,
        kick_radius: float = math.inf,
        precision_radius: float = math.inf,
        *,
        scheme: str = "cut",
        max_check_sites: int = DEFAULT_MAX_CHECK_SITES,
    ):
        from trsp_ref.model import ReferenceModel

        self.kick_radius = float(kick_radius)
        self.precision_radius = float(precision_radius)
        self.scheme = scheme
        self.model = ReferenceModel(params, kick_radius=kick_radius, precision_radius=precision_radius, **_scheme_kw(scheme))
        self._geometry(params)
        m = self.model
        self.mean = float(m.mean)
        self.A0, self.gamma0, self.delta0 = (float(x) for x in m.rates.bare)
        self.K_row = np.asarray(m.K[0]).copy()
        self.max_check_sites = int(max_check_sites)
        self.frames = [self._frame(o) for o in range(self.n_orientations)]
        self._chol_K: np.ndarray | None = None

    def _frame(self, o: int) -> OrientationFrame:
        ops = self.model.kick_operators(o * self.N)
        sites = np.asarray(ops.sites)
        KD = np.asarray(ops.K_Delta)
        support = np.diag(KD) > 0.0
        rt = np.asarray(self.model.dist)[:, sites].min(axis=1)
        check, near = checked_sites(np.flatnonzero(support), rt, self.params.lattice.spacing, self.max_check_sites)
        pos = {int(s): i for i, s in enumerate(check)}
        H_check = np.asarray(ops.H)[check, :]
        w = np.zeros(self.N)
        w[sites] = 1.0 / sites.size
        return OrientationFrame(
            sites=sites,
            support=support,
            check=check,
            cols=np.arange(self.N),
            mean_offset=H_check @ ops.mu_prime,
            mean_matrix=-H_check,
            chol_check=scipy.linalg.cholesky(KD[np.ix_(check, check)], lower=True),
            near=near,
            near_in_check=np.array([pos[int(s)] for s in near], dtype=np.int64),
            chol_near=scipy.linalg.cholesky(KD[np.ix_(near, near)], lower=True),
            mu_near=np.asarray(ops.mu_prime)[near].copy(),
            sbar_mean=float(w @ ops.mu_prime),
            sbar_var=float(w @ ops.K_prime @ w),
        )

    def check_rates_against_oracle(self, state: np.ndarray) -> None:
        """The vectorized rates must be the oracle's (guards this module against drifting from it)."""
        mine = self.rates_of_states(state[None, :])[0]
        ref = self.model.cluster_rates(state)
        if not np.allclose(mine, ref, rtol=1e-12, atol=0.0):  # pragma: no cover - a bug here, not in the run
            raise AssertionError("trsp_verify's vectorized rates differ from ReferenceModel.cluster_rates")

    def inverse_quadratic(self, X: np.ndarray) -> float:
        if self._chol_K is None:
            self._chol_K = scipy.linalg.cholesky(np.asarray(self.model.K), lower=True)
        W = scipy.linalg.solve_triangular(self._chol_K, np.atleast_2d(X).T, lower=True)
        return float((W * W).sum())

    def truncation_distance(self) -> dict | None:
        """How far the declared truncated model is from the untruncated one (None if exact):
        equilibrium ||K_t - K||_2 / ||K||_2, the largest neglected kick variance per site
        f sD(rt)^2 (rt > kick_radius), and the largest neglected precision entry |K^-1_ij| * variance."""
        if math.isinf(self.kick_radius) and math.isinf(self.precision_radius):
            return None
        from trsp_ref.covariance import softness_covariance
        from trsp_ref.kick import kick_covariance

        p = self.params
        dist = np.asarray(self.model.dist)
        K_full = softness_covariance(p, dist)
        out: dict[str, float] = {}
        out["equilibrium_relative_error"] = float(np.linalg.norm(np.asarray(self.model.K) - K_full, 2) / np.linalg.norm(K_full, 2))
        if math.isinf(self.precision_radius):
            out["neglected_precision"] = 0.0
        else:
            P = np.linalg.inv(K_full)
            far = dist > self.precision_radius
            out["neglected_precision"] = float(np.abs(P[far]).max() * p.softness.variance) if far.any() else 0.0
        sites = self.clusters[0]
        full = np.diag(kick_covariance(p, dist, sites))
        trunc = np.diag(kick_covariance(p, dist, sites, self.kick_radius))
        out["neglected_kick_variance"] = float((full - trunc).max())
        return out


def _scheme_kw(scheme: str) -> dict:
    """The oracle's keyword for a declared scheme other than the format-1.0 "cut" (trsp_ref.truncation)."""
    return {} if scheme == "cut" else {"scheme": scheme}


def model_side_for(
    params: Params,
    kick_radius: float = math.inf,
    precision_radius: float = math.inf,
    *,
    scheme: str = "cut",
    max_check_sites: int = DEFAULT_MAX_CHECK_SITES,
    resolution: float | None = None,
    memory_limit: int | None = None,
) -> ModelSideBase:
    """The dense oracle's side up to ``MAX_DENSE_SITES`` sites, the periodic side beyond.

    ``resolution`` (the smallest relative model error the run can resolve) chooses, for an
    untruncated model on a large lattice, the truncated stand-in (see
    :func:`trsp_verify.periodic_side.PeriodicModelSide.stand_in`)."""
    if params.N <= MAX_DENSE_SITES:
        return ModelSide(params, kick_radius, precision_radius, scheme=scheme, max_check_sites=max_check_sites)
    from .periodic_side import PeriodicModelSide

    return PeriodicModelSide.for_declared(
        params, kick_radius, precision_radius, scheme=scheme, max_check_sites=max_check_sites,
        resolution=resolution, memory_limit=memory_limit,
    )  # fmt: skip
