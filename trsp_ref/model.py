"""The reference model: every lattice-level quantity of a TRSP model, dense, plus the canonical draws.

:class:`ReferenceModel` builds K (Eq. 29) once, the rate law in both forms (Eqs. 20-22
corrected, via :mod:`trsp_ref.renormalization`) and, lazily and per cluster id, the kick
operators (mu', K', K_Delta, H, K_Delta^(1/2); Eqs. 17, 19, 24-26, 30).  Construction runs
every lattice-level check (:func:`validate`), so a model that exists can be simulated
without producing a NaN.

The canonical draws (docs/model.md, "Event selection" and "Kick") are implemented by
:meth:`ReferenceModel.choose_event` and :meth:`ReferenceModel.apply_kick` so that another
implementation fed the same uniforms and normals must reproduce the same trajectory.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import NamedTuple

import numpy as np
import scipy.linalg

from .conditioning import conditioned_on_cluster, inverse_spd
from .covariance import PD_RTOL, kick_correlation, softness_covariance
from .kick import drift_matrix, kick_covariance, kick_covariance_factor, kick_noise_factor
from .lattice import cluster_sites, distance_matrix, n_orientations, site_coords, site_index
from .params import (
    PLAUSIBLE_SD,
    ParameterError,
    Params,
    check_rate_range,
    checked_cluster_id,
    checked_state,
    reported_rate_error,
    validate_scalars,
)
from .renormalization import RateParameters, rate_parameters
from .truncation import check_scheme, truncated_precision_row

__all__ = ["KickOperators", "ReferenceModel", "validate", "PLAUSIBLE_SD"]


#: the dense oracle holds several N x N matrices per cluster; beyond this N use trsp_fast
MAX_DENSE_SITES = 4096

#: memory (bytes) the per-cluster operator cache may use (4 N x N float64 matrices per cluster)
CACHE_BYTES = 2 * 1024**3


class KickOperators(NamedTuple):
    """Everything a firing of one cluster needs (arrays are read-only views of the cache).

    sites        : (m,) the cluster's sites, in docs/model.md order
    mu_prime     : (N,) mu', mean of S given the cluster fires (Eqs. 25-26 derived)
    K_prime      : (N, N) K', covariance of S given the cluster fires (Eq. 24 derived)
    K_Delta      : (N, N) kick covariance (Eq. 30), truncated at kick_radius
    H            : (N, N) drift matrix 1 - sqrt(1 - K_Delta K'^-1) (Eq. 19)
    noise_factor : (N, N) K_Delta^(1/2), symmetric PSD
    """

    sites: np.ndarray
    mu_prime: np.ndarray
    K_prime: np.ndarray
    K_Delta: np.ndarray
    H: np.ndarray
    noise_factor: np.ndarray


def _read_only(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.flags.writeable = False
    return a


def _check_radius(name: str, value: float, *, allow_zero: bool) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ParameterError(name, "must be a number", value) from None
    if math.isnan(v) or v < 0 or (v == 0 and not allow_zero):
        raise ParameterError(name, "must be >= 0" if allow_zero else "must be > 0", value)
    return v


class ReferenceModel:
    """The dense TRSP model for a parameter set ``p`` (docs/model.md).

    Parameters
    ----------
    p : Params
    kick_radius : float
        K_Delta is zeroed in the rows and columns of sites farther than this from the
        firing cluster (the truncated kick of trsp_fast); ``inf`` = the paper's model.
    precision_radius : float
        When finite, K is replaced by inv(P_t) where P_t is inv(K) with the entries for
        site pairs farther apart than this set to 0 (the truncated precision of
        docs/fast.md).  P_t must stay positive definite.
    scheme : str
        How the precision is truncated (trsp_ref.truncation.SCHEMES): ``"cut"`` (default, run-file
        format 1.0) or ``"row_sum"`` (the cut with the neglected row sum moved onto the outermost
        kept shell: trsp_fast's default).  Only used when precision_radius is finite.
    cache_size : int, optional
        How many clusters' operators to keep (least recently used dropped first).
        Default: as many as fit in about 2 GiB.

    Attributes
    ----------
    params, N, m, z, c, dist (N x N), K (N x N), clusters (n_clusters x m), rates
    (RateParameters), n_clusters, mean, kick_radius, precision_radius, scheme, rho (N x N).
    """

    def __init__(
        self,
        p: Params,
        *,
        kick_radius: float = math.inf,
        precision_radius: float = math.inf,
        scheme: str = "cut",
        cache_size: int | None = None,
    ):
        if not isinstance(p, Params):
            raise ParameterError("<params>", "must be a trsp_ref.params.Params", type(p).__name__)
        validate_scalars(p)  # a Params built directly has not been through params_from_dict
        if p.N > MAX_DENSE_SITES:
            raise ParameterError(
                "lattice.L",
                f"the dense reference model handles at most {MAX_DENSE_SITES} sites (L**dim = {p.N}); "
                "use a smaller lattice.L for the oracle (trsp_fast handles large lattices)",
            )
        self.params = p
        self.kick_radius = _check_radius("kick_radius", kick_radius, allow_zero=True)
        self.precision_radius = _check_radius("precision_radius", precision_radius, allow_zero=False)
        self.scheme = check_scheme(scheme)
        self.N = p.N
        self.m = p.m
        dim, L = p.lattice.dim, p.lattice.L
        self.dist = _read_only(distance_matrix(p.lattice))
        K_full = softness_covariance(p, self.dist)  # raises softness.C1
        self.rates: RateParameters = rate_parameters(p, K_full)  # raises rates.*
        self.c = self.rates.c
        self.z = self.rates.z
        self.mean = self.rates.mean
        self.rho = _read_only(kick_correlation(p, self.dist))  # raises kick.rho1
        self._rho_cholesky = np.linalg.cholesky(self.rho)
        if math.isinf(self.precision_radius):
            self.K = _read_only(K_full)
            self._K_inv = inverse_spd(K_full)
        else:
            self._K_inv = self._truncated_precision(K_full)
            self.K = _read_only(inverse_spd(self._K_inv))
        self.clusters = _read_only(cluster_sites(dim, L, p.cluster.shape))
        self.n_clusters = self.clusters.shape[0]
        self._check_rates_finite()
        self._chol_K: np.ndarray | None = None
        if cache_size is None:
            cache_size = max(2, CACHE_BYTES // (32 * self.N * self.N))
        self._cache_size = max(1, int(cache_size))
        self._cache: OrderedDict[int, KickOperators] = OrderedDict()
        # K, K_Delta are translation invariant and orientations are related by lattice
        # symmetries, so the conditioning and eigenvalue checks on the first cluster of
        # each orientation cover every cluster; the operators are kept for later use.
        for orientation in range(n_orientations(dim, p.cluster.shape)):
            self.kick_operators(orientation * self.N)

    # ------------------------------------------------------------------ checks

    def _truncated_precision(self, K_full: np.ndarray) -> np.ndarray:
        # Lambda is circulant: truncate its first row by the shared rule, then rebuild the
        # dense matrix by translation (row i of a circulant is row 0 shifted to site i).
        lam = inverse_spd(K_full)
        row = truncated_precision_row(lam[0], self.dist[0], self.precision_radius, self.scheme)
        P = row[self._translation_index()]
        eig = np.linalg.eigvalsh(P)
        if not (eig[0] > PD_RTOL * eig[-1] and eig[0] > 0):
            raise ParameterError(
                "precision_radius",
                f"the precision inv(K) truncated at precision_radius = {self.precision_radius} is not "
                f"positive definite (smallest eigenvalue {eig[0]:.6g}); increase precision_radius",
            )
        return P

    def _translation_index(self) -> np.ndarray:
        """(N, N) index j' with M[i, j] = M[0, j'] for every translation-invariant M: the site
        at offset r_j - r_i (mod L) from site 0."""
        dim, L = self.params.lattice.dim, self.params.lattice.L
        coords = site_coords(dim, L)
        offsets = (coords[None, :, :] - coords[:, None, :]) % L
        return site_index(offsets.reshape(-1, dim), L).reshape(self.N, self.N)

    def _check_rates_finite(self) -> None:
        """Total rate finite for cluster means within mean +- PLAUSIBLE_SD sd, and nonzero at the mean."""
        check_rate_range(self.params, self.rates.bare, self.mean, self.n_clusters)

    # ------------------------------------------------------------ operators

    def kick_operators(self, cluster_id: int) -> KickOperators:
        """mu', K', K_Delta, H and K_Delta^(1/2) for one cluster (computed once, then cached)."""
        cid = self._cluster_id(cluster_id)
        if cid in self._cache:
            self._cache.move_to_end(cid)
            return self._cache[cid]
        sites = self.clusters[cid]
        _, gamma0, delta0 = self.rates.bare
        try:
            mu_prime, K_prime = conditioned_on_cluster(self.K, self.mean, sites, gamma0, delta0, K_inv=self._K_inv)
        except ParameterError as err:
            raise reported_rate_error(self.params, err) from None
        K_Delta = kick_covariance(self.params, self.dist, sites, self.kick_radius, rho=self.rho)
        H = drift_matrix(K_Delta, K_prime)  # raises 'kick'
        ops = KickOperators(
            sites=_read_only(np.array(sites)),
            mu_prime=_read_only(mu_prime),
            K_prime=_read_only(K_prime),
            K_Delta=_read_only(K_Delta),
            H=_read_only(H),
            noise_factor=_read_only(
                kick_noise_factor(
                    kick_covariance_factor(self.params, self.dist, sites, self.kick_radius, rho_cholesky=self._rho_cholesky)
                )
            ),
        )
        self._cache[cid] = ops
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return ops

    def _cluster_id(self, cluster_id) -> int:
        return checked_cluster_id(cluster_id, self.n_clusters)

    def _state(self, S, name: str = "S") -> np.ndarray:
        return checked_state(S, self.N, name)

    # ------------------------------------------------------------ dynamics

    def cluster_rates(self, S) -> np.ndarray:
        """Rate of every cluster, in id order: P0(<S>_R) / duration, P0(s) = A0 exp(gamma0 s - delta0 s^2) (Eq. D1)."""
        S = self._state(S)
        A0, g0, d0 = self.rates.bare
        sbar = S[self.clusters].mean(axis=1)
        with np.errstate(over="ignore"):
            rates = A0 * np.exp(g0 * sbar - d0 * sbar * sbar) / self.params.rates.duration
        if not np.all(np.isfinite(rates)):
            raise ValueError(
                "cluster rates overflow at this state (cluster-mean softness up to "
                f"{sbar.max():.4g}, far outside the equilibrium range)"
            )
        return rates

    def choose_event(self, S, u1: float, u2: float) -> tuple[int, float]:
        """The canonical event draw (docs/model.md): (cluster id, waiting time) from uniforms u1, u2 in [0, 1).

        R = sum of the rates in id order (the last running sum); dt = -log(1 - u1) / R,
        evaluated as -log1p(-u1) / R (log(1 - u1) loses all digits for u1 ~ 1e-16); the
        cluster is the smallest id k with r_0 + ... + r_k > u2 R.
        """
        for name, u in (("u1", u1), ("u2", u2)):
            if not 0.0 <= u < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {u!r}")
        rates = self.cluster_rates(S)
        cumulative = np.cumsum(rates)
        total = float(cumulative[-1])
        if not total > 0.0:
            raise ValueError("every cluster rate underflowed to 0 at this state: no event can occur")
        dt = -math.log1p(-u1) / total
        k = int(np.searchsorted(cumulative, u2 * total, side="right"))
        return min(k, self.n_clusters - 1), dt

    def apply_kick(self, S, cluster_id: int, zeta) -> np.ndarray:
        """S + H (mu' - S) + K_Delta^(1/2) zeta: the canonical kick (Eqs. 10, 16, 19; docs/model.md)."""
        S = self._state(S)
        zeta = self._state(zeta, "zeta")
        ops = self.kick_operators(cluster_id)
        return S + ops.H @ (ops.mu_prime - S) + ops.noise_factor @ zeta

    def sample_equilibrium(self, rng: np.random.Generator) -> np.ndarray:
        """S ~ N(mean, K): mean + chol(K) @ rng.standard_normal(N) (one call, lower Cholesky factor)."""
        if self._chol_K is None:
            self._chol_K = _read_only(scipy.linalg.cholesky(self.K, lower=True))
        return self.mean + self._chol_K @ rng.standard_normal(self.N)


def validate(p: Params) -> None:
    """Run every lattice-level check on ``p`` (raises ParameterError naming the parameter to change).

    K positive definite ('softness.C1'), the renormalization solvable and finite ('rates.*'),
    rho positive definite ('kick.rho1'), rates finite over plausible softness ('rates.gamma',
    'rates.delta', 'rates.A'), P(S | cluster fires) normalizable ('rates.delta'), every
    eigenvalue of K_Delta K'^-1 below 1 ('kick').  With [temperature], rate errors name the
    temperature key that supplies the rate parameter.
    """
    ReferenceModel(p, cache_size=1)
