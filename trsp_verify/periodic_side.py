"""The model side for periodic lattices of any size: the oracle's formulas on the kick window and
the circulant structure of K, never an N x N matrix, and nothing of the simulator under test.

K (Eq. 29) and rho (Eq. 30) depend on the minimum-image distance only, so on the periodic
lattice they are circulants: one row determines each, and the FFT of that row is its
spectrum.  Hence, without forming any N x N matrix:

* Lambda = K^-1 has the row ``ifft(1 / fft(K_row))``; the declared truncated precision
  Lambda_t is :func:`trsp_ref.truncation.truncated_precision_row` of that row (the dense
  oracle uses the same function), and K_t = Lambda_t^-1 has the row ``ifft(1 / fft(row_t))``;
  positive definiteness is read off the spectra;
* x^T Lambda_t x = (1/N) sum_k fft(row_t)_k |fft(x)_k|^2 (check 2c), 1^T K_t 1 = N sum(K_row).

The kick of a cluster is local (proofs/windowed_kick.py derives it): K_Delta vanishes outside
the window A (sites within kick_radius of the cluster whose kick amplitude is nonzero), so
with P = K'^-1 = Lambda_t + 2 delta0 w w^T (Eq. 24 in precision form) and P_AA = L L^T,

    H[A, :] = G P[A, :],   G = L^-T f(L^T K_Delta,AA L) L^-1,   f(x) = 1 - sqrt(1 - x),

and H vanishes outside A; K'^-1 (mu' - mean) = c w with c = gamma0 - 2 delta0 mean, so the
kick's mean is H (mu' - S) = G (c w - P (S - mean))_A, which involves S only on the sites B
that P couples to A (within precision_radius).  Every operator is computed once per
orientation, with plain dense linear algebra on A and B, for the cluster anchored at site 0
and translated to every anchor.  mu' = mean + c K_t w / (1 + 2 delta0 w^T K_t w)
(Sherman-Morrison, proofs/bayes_conditioning.py).

An untruncated declared model (kick_radius or precision_radius infinite) on a lattice beyond
the dense oracle is tested against a truncated stand-in whose distance from it is far below
what the run can resolve (:meth:`PeriodicModelSide.for_declared`); the report gives both.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.fft
import scipy.linalg

from trsp_ref.covariance import PD_RTOL, exponential_tail
from trsp_ref.params import ParameterError, Params, check_rate_range, validate_scalars
from trsp_ref.renormalization import rate_parameters
from trsp_ref.truncation import truncated_precision_row

from .model_side import (
    DEFAULT_MAX_CHECK_SITES,
    CirculantMatrix,
    ModelSideBase,
    OrientationFrame,
    checked_sites,
)

__all__ = ["PeriodicModelSide", "LargeLatticeError", "available_memory"]

#: the stand-in for an untruncated model neglects at most this (relative to the variance) ...
STAND_IN_TOLERANCE = 1e-8
#: ... or 1/STAND_IN_MARGIN of the run's resolution, whichever is smaller
STAND_IN_MARGIN = 100.0


class LargeLatticeError(ValueError):
    """The model side does not fit in memory (the message names the size, the estimate and the limit)."""


def available_memory() -> int:
    """Bytes this process may still use: 80 % of what trsp_runfile.resources.available_memory
    finds (Linux MemAvailable, else physical memory), or 4 GiB when it finds nothing."""
    from trsp_runfile.resources import available_memory as found

    have = found()
    return int(0.8 * have) if have is not None else 4 * 1024**3


def _spectrum(row: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Eigenvalues of the circulant with first row ``row`` (real: the row is even under r -> -r)."""
    return np.fft.fftn(row.reshape(shape)).real.ravel()


def _circulant_row(spectrum: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """First row of the circulant with eigenvalues ``spectrum``."""
    return np.fft.ifftn(spectrum.reshape(shape)).real.ravel()


def _require_pd(spectrum: np.ndarray, parameter: str, what: str, hint: str) -> None:
    lo, hi = float(spectrum.min()), float(spectrum.max())
    if not (lo > PD_RTOL * max(hi, 0.0) and lo > 0.0):
        raise ParameterError(
            parameter, f"{what} is not positive definite on the lattice: smallest eigenvalue {lo:.6g} (largest {hi:.6g}); {hint}"
        )


class PeriodicModelSide(ModelSideBase):
    """The model side of a truncated model (finite ``kick_radius`` and ``precision_radius``) on a
    periodic lattice of any size (module docstring).  Same interface as :class:`ModelSide`."""

    def __init__(
        self,
        params: Params,
        kick_radius: float,
        precision_radius: float,
        *,
        scheme: str = "cut",
        max_check_sites: int = DEFAULT_MAX_CHECK_SITES,
    ):
        validate_scalars(params)
        for name, v in (("kick_radius", kick_radius), ("precision_radius", precision_radius)):
            if not (math.isfinite(float(v)) and float(v) >= 0):
                raise ParameterError(name, "must be finite and >= 0 on the periodic model side", v)
        if not float(precision_radius) > 0:
            raise ParameterError("precision_radius", "must be > 0", precision_radius)
        self.kick_radius, self.precision_radius, self.scheme = float(kick_radius), float(precision_radius), scheme
        self.max_check_sites = int(max_check_sites)
        self._geometry(params)
        self._spectra(params)
        self.frames = [self._frame(o) for o in range(self.n_orientations)]

    # ------------------------------------------------------------ circulants

    def _spectra(self, p: Params) -> None:
        shape = (self.L,) * self.dim
        s, k = p.softness, p.kick
        self.shape = shape
        K_full_row = exponential_tail(self.dist_row, s.variance, s.C1, s.xi)
        self._eig_full = _spectrum(K_full_row, shape)
        _require_pd(
            self._eig_full, "softness.C1", "K (Eq. 29)",
            f"reduce |softness.C1| (= {s.C1}) relative to softness.variance (= {s.variance}), "
            f"or reduce softness.xi (= {s.xi}) relative to the box (L = {self.L})",
        )  # fmt: skip
        rates = rate_parameters(p, CirculantMatrix(K_full_row, self.coords, self.L))  # raises rates.*
        self.mean = float(rates.mean)
        self.A0, self.gamma0, self.delta0 = (float(x) for x in rates.bare)
        self.rho_row = exponential_tail(self.dist_row, 1.0, k.rho1, k.xi_rho)
        _require_pd(
            _spectrum(self.rho_row, shape), "kick.rho1", "the kick correlation rho (Eq. 30)",
            f"reduce |kick.rho1| (= {k.rho1}) below 1 or reduce kick.xi_rho (= {k.xi_rho})",
        )  # fmt: skip
        self.lam_full_row = _circulant_row(1.0 / self._eig_full, shape)
        self.lam_row = truncated_precision_row(self.lam_full_row, self.dist_row, self.precision_radius, self.scheme)
        self._eig_t = _spectrum(self.lam_row, shape)
        self._half_spectrum = self._eig_t.reshape(shape)[..., : shape[-1] // 2 + 1]  # for rfftn
        lo = float(self._eig_t.min())
        if not (lo > PD_RTOL * float(self._eig_t.max()) and lo > 0):
            raise ParameterError(
                "precision_radius",
                f"the precision inv(K) truncated at precision_radius = {self.precision_radius} is not positive "
                f"definite (smallest eigenvalue {lo:.6g}); increase precision_radius",
            )
        self.K_row = _circulant_row(1.0 / self._eig_t, shape)
        check_rate_range(p, (self.A0, self.gamma0, self.delta0), self.mean, self.n_clusters)

    def kick_means(self, o: int, states: np.ndarray, anchors: np.ndarray) -> np.ndarray:
        """H (mu' - S) = G (c w - P (S - mean))_A on the checked sites (module docstring), with
        P (S - mean) on A = y_A + 2 delta0 w_A (sbar_R - mean) and y = Lambda_t (S - mean) by FFT
        (Lambda_t is a circulant): the same numbers as ``frames[o].kick_mean`` (tested) without
        the (checked sites x B) matrix product per event."""
        f = self.frames[o]
        X = (states - self.mean).reshape((-1,) + self.shape)
        axes = tuple(range(1, self.dim + 1))
        y = scipy.fft.irfftn(scipy.fft.rfftn(X, axes=axes) * self._half_spectrum, s=self.shape, axes=axes)
        rows = np.arange(states.shape[0])[:, None]
        y_A = y.reshape(states.shape[0], -1)[rows, self.translate(f.window, anchors)]
        dev = states[rows, self.translate(f.sites, anchors)].mean(axis=1) - self.mean
        return f.gain_offset[None, :] - y_A @ f.gain.T - dev[:, None] * f.gain_cluster[None, :]

    def inverse_quadratic(self, X: np.ndarray) -> float:
        """sum over rows x of x^T Lambda_t x = (1/N) sum_k spectrum_k |fft(x)_k|^2 (Parseval)."""
        X = np.atleast_2d(X)
        F = np.fft.fftn(X.reshape((X.shape[0],) + self.shape), axes=tuple(range(1, self.dim + 1)))
        return float((np.abs(F.reshape(X.shape[0], -1)) ** 2 @ self._eig_t).sum() / self.N)

    def truncation_distance(self) -> dict:
        """As :meth:`ModelSide.truncation_distance`, from the spectra (K_t and K share eigenvectors,
        so ||K_t - K||_2 = max_k |1/spectrum(Lambda_t)_k - spectrum(K)_k|)."""
        p = self.params
        out = {
            "equilibrium_relative_error": float(np.abs(1.0 / self._eig_t - self._eig_full).max() / self._eig_full.max()),
        }
        far = self.dist_row > self.precision_radius
        out["neglected_precision"] = float(np.abs(self.lam_full_row[far]).max() * p.softness.variance) if far.any() else 0.0
        k = p.kick
        rt = self._rt(self.clusters[0])
        beyond = rt > self.kick_radius
        sD = exponential_tail(rt[beyond], k.sigma0, k.sigma1, k.xi_sigma)
        out["neglected_kick_variance"] = float(k.facilitation * (sD * sD).max()) if beyond.any() else 0.0
        return out

    # ------------------------------------------------------------ the kick, per orientation

    def _rt(self, sites: np.ndarray) -> np.ndarray:
        """Distance of every site to the nearest site of the cluster (Eq. 30's r-tilde)."""
        rt = np.full(self.N, np.inf)
        for c in sites:
            rt = np.minimum(rt, self.dist_row[site_index_from(self.coords, self.coords[c], self.L)])
        return rt

    def _frame(self, o: int) -> OrientationFrame:
        p, N = self.params, self.N
        k = p.kick
        sites = self.clusters[o * N]
        K = self.K
        rt = self._rt(sites)
        sD = exponential_tail(rt, k.sigma0, k.sigma1, k.xi_sigma)
        # the window: sites the truncated kick can move (K_Delta's nonzero rows)
        A = np.flatnonzero((rt <= self.kick_radius) & (sD != 0.0)) if k.facilitation != 0.0 else np.zeros(0, np.int64)
        support = np.zeros(N, dtype=bool)
        support[A] = True
        rho_AA = CirculantMatrix(self.rho_row, self.coords, self.L)[A[:, None], A[None, :]]
        KD = k.facilitation * np.outer(sD[A], sD[A]) * rho_AA  # Eq. 30 on the window
        # the sites P couples to the window: nonzero offsets of the truncated precision, and the cluster
        offsets = np.flatnonzero(self.lam_row != 0.0)
        B = np.union1d(np.unique(self.translate(offsets, A)) if A.size else np.zeros(0, np.int64), sites)
        wKw = float(K[np.ix_(sites, sites)].mean())
        stiffness = 1.0 + 2.0 * self.delta0 * wKw
        if not stiffness > 0.0:
            raise ParameterError(
                "rates.delta",
                f"1 + 2 delta0 w^T K w = {stiffness:.6g} <= 0: P(S | cluster fires) is not normalizable "
                f"(bare delta0 = {self.delta0:.6g}); increase rates.delta",
            )
        c = self.gamma0 - 2.0 * self.delta0 * self.mean
        w_B = np.isin(B, sites) / sites.size
        w_A = np.isin(A, sites) / sites.size
        P_AB = self.lam_row[K.offset_index(A[:, None], B[None, :])] + 2.0 * self.delta0 * np.outer(w_A, w_B)
        posA = np.searchsorted(B, A)
        G = _drift_kernel(KD, P_AB[:, posA])
        check, near = checked_sites(A, rt, p.lattice.spacing, self.max_check_sites)
        cpos = np.searchsorted(A, check)
        Gc = G[cpos, :]
        npos = np.searchsorted(A, near)
        # mu' = mean + c K' w, K' w = K w / (1 + 2 delta0 w^T K w) (Sherman-Morrison)
        Kw_near = K[near[:, None], sites[None, :]].mean(axis=1) if near.size else np.zeros(0)
        return OrientationFrame(
            sites=np.asarray(sites),
            support=support,
            check=check,
            cols=B,
            mean_offset=Gc @ (c * w_A + self.mean * P_AB.sum(axis=1)),
            mean_matrix=-(Gc @ P_AB),
            chol_check=scipy.linalg.cholesky(KD[np.ix_(cpos, cpos)], lower=True),
            near=near,
            near_in_check=np.searchsorted(check, near),
            chol_near=scipy.linalg.cholesky(KD[np.ix_(npos, npos)], lower=True),
            mu_near=self.mean + c * Kw_near / stiffness,
            sbar_mean=self.mean + c * wKw / stiffness,
            sbar_var=wKw / stiffness,
            window=A,
            gain=Gc,
            gain_offset=Gc @ (c * w_A),
            gain_cluster=2.0 * self.delta0 * (Gc @ w_A),
        )

    # ------------------------------------------------------------ untruncated declared models

    @classmethod
    def for_declared(
        cls,
        params: Params,
        kick_radius: float,
        precision_radius: float,
        *,
        scheme: str = "cut",
        max_check_sites: int = DEFAULT_MAX_CHECK_SITES,
        resolution: float | None = None,
        memory_limit: int | None = None,
    ) -> "PeriodicModelSide":
        """The side for a declared model on a large lattice.

        A truncated declared model is built as declared.  An untruncated one (an infinite
        radius) is replaced by the truncated stand-in whose neglected kick variance and
        neglected precision entries are at most ``min(STAND_IN_TOLERANCE, resolution /
        STAND_IN_MARGIN)`` times the variance; ``surrogate`` then records both radii, the
        stand-in's distance and the run's resolution.  Raises :class:`LargeLatticeError`
        naming the sizes and the memory limit when the side would not fit in memory."""
        limit = available_memory() if memory_limit is None else int(memory_limit)
        probe = _Probe(params)
        declared = (float(kick_radius), float(precision_radius))
        target = STAND_IN_TOLERANCE if resolution is None else min(STAND_IN_TOLERANCE, resolution / STAND_IN_MARGIN)
        # the stand-in's equilibrium covariance must also be that close: ||K_t - K|| / ||K|| <= this
        target_eq = STAND_IN_TOLERANCE if resolution is None else max(target, resolution / STAND_IN_MARGIN)
        kr = declared[0] if math.isfinite(declared[0]) else probe.kick_radius_for(target)
        pr = declared[1] if math.isfinite(declared[1]) else probe.precision_radius_for(target, target_eq)
        need = probe.bytes_needed(kr, pr, max_check_sites)
        what = "declared truncated model" if math.isfinite(declared[0]) and math.isfinite(declared[1]) else (
            f"truncated stand-in for the untruncated declared model (neglecting at most {target:.2g} x variance: "
            f"kick_radius = {kr:.4g}, precision_radius = {pr:.4g})"
        )  # fmt: skip
        if need > limit:
            raise LargeLatticeError(
                f"the lattice has N = {params.N} sites (lattice.L = {params.lattice.L}); the model side of the {what} "
                f"needs about {need / 1e9:.3g} GB, more than the {limit / 1e9:.3g} GB available"
            )
        side = cls(params, kr, pr, scheme=scheme, max_check_sites=max_check_sites)
        if (kr, pr) != declared:
            dist = side.truncation_distance()
            side.surrogate = {
                "kick_radius": kr,
                "precision_radius": pr,
                "tolerance": target,
                "resolution": resolution,
                **dist,
            }
        return side


def site_index_from(coords: np.ndarray, origin: np.ndarray, L: int) -> np.ndarray:
    """Index of the displacement r - origin of every site (periodic)."""
    from trsp_ref.lattice import site_index

    return site_index(coords - origin[None, :], L)


def _drift_kernel(KD: np.ndarray, P_AA: np.ndarray) -> np.ndarray:
    """G = L^-T f(L^T K_Delta L) L^-1 with P_AA = L L^T and f(x) = 1 - sqrt(1 - x) (proofs/windowed_kick.py),
    so that H[A, :] = G P[A, :].  Raises ParameterError('kick') when an eigenvalue of
    K_Delta K'^-1 (those of L^T K_Delta L) is >= 1 (Eq. 19 has no principal root)."""
    if KD.shape[0] == 0:
        return np.zeros((0, 0))
    L = scipy.linalg.cholesky(P_AA, lower=True)
    M = L.T @ KD @ L
    lam, V = np.linalg.eigh(0.5 * (M + M.T))
    if not lam[-1] < 1.0:
        raise ParameterError(
            "kick",
            f"an eigenvalue of K_Delta K'^-1 is >= 1 (largest {lam[-1]:.6g}): the kick is larger than detailed balance "
            "allows (Eq. 19 needs all eigenvalues < 1); reduce kick.sigma0, kick.sigma1 or kick.facilitation",
        )
    g = lam / (1.0 + np.sqrt(1.0 - lam))  # 1 - sqrt(1 - lam) without cancellation
    Linv = scipy.linalg.solve_triangular(L, np.eye(L.shape[0]), lower=True)
    F = Linv.T @ V
    return (F * g) @ F.T


class _Probe:
    """Sizes of the periodic side for candidate radii, without building it (cheap: O(N))."""

    def __init__(self, p: Params):
        side = ModelSideBase()
        side._geometry(p)
        self.p, self.side = p, side
        s = p.softness
        shape = (side.L,) * side.dim
        K_row = exponential_tail(side.dist_row, s.variance, s.C1, s.xi)
        eig = _spectrum(K_row, shape)
        self.eig = eig
        self.lam_row = _circulant_row(1.0 / eig, shape) if eig.min() > 0 else np.zeros_like(K_row)
        self.shells = np.unique(side.dist_row)

    def kick_radius_for(self, target: float) -> float:
        """Smallest radius r whose neglected kick variance f sD(r')^2 (r' > r) is <= target x variance."""
        k, var = self.p.kick, self.p.softness.variance
        for r, nxt in zip(self.shells[:-1], self.shells[1:]):
            sD = float(exponential_tail(np.array([nxt]), k.sigma0, k.sigma1, k.xi_sigma)[0])
            if k.facilitation * sD * sD <= target * var:
                return float(r)
        return math.inf

    def precision_radius_for(self, target: float, target_eq: float) -> float:
        """Smallest radius r whose neglected precision entries |Lambda_0j| (r_0j > r) are <= target /
        variance and whose equilibrium covariance is within target_eq of K (relative 2-norm)."""
        var = self.p.softness.variance
        d = self.side.dist_row
        shape = (self.side.L,) * self.side.dim
        for r in self.shells:
            far = d > r
            if not far.any():
                return float(r)
            if np.abs(self.lam_row[far]).max() * var > target:
                continue
            eig_t = _spectrum(np.where(far, 0.0, self.lam_row), shape)
            if eig_t.min() > 0 and np.abs(1.0 / eig_t - self.eig).max() / self.eig.max() <= target_eq:
                return float(r)
        return math.inf  # pragma: no cover

    def bytes_needed(self, kick_radius: float, precision_radius: float, cap: int) -> int:
        """Estimated bytes of the side (G, K_Delta, P_AB and the mean map per orientation) plus the
        per-site tables of one replay."""
        side = self.side
        if not (math.isfinite(kick_radius) and math.isfinite(precision_radius)):
            return 1 << 62  # no truncation fits: the window is the lattice
        d = side.dist_row
        # the window of a cluster is within kick_radius of one of its m sites; B within precision_radius more
        nA = min(side.N, int((d <= kick_radius + 1.5 * self.p.lattice.spacing).sum()))
        nB = min(side.N, int((d <= kick_radius + precision_radius + 1.5 * self.p.lattice.spacing).sum()))
        per_orientation = 8 * (4 * nA * nA + 3 * nA * nB + min(nA, cap) * nB) + 8 * nA * nB  # + index tables
        per_site = 8 * (side.m * side.n_orientations * 3 + 40)
        return int(side.n_orientations * per_orientation + side.N * per_site)
