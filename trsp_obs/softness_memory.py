"""Softness memory: the autocorrelation C_SS(t) of the softness field and its decay time tau_S.

Definition (this project's; the paper does not define it).  With dS_i(t) = S_i(t) - <S>
(<S> = mean_a + mean_b / T, the exact equilibrium mean) and sigma_t^2 the equilibrium
variance of one site in the simulated model (the diagonal of K_t = Lambda_t^-1, docs/fast.md;
= softness.variance without truncation),

    C_SS(t) = < dS_i(t0) dS_i(t0 + t) > / sigma_t^2,

averaged over sites i, time origins t0 and the equilibrium ensemble.  C_SS(0) = 1 in
expectation; with f = 0 (no kicks) the field is frozen and C_SS(t) = C_SS(0) for every t,
replica by replica.  Because mean and variance are the exact ensemble values (nothing is
estimated from the sample), the estimator is unbiased at every lag.

tau_S is the first time at which C_SS falls to 1/e: the first lag grid point j with
C_SS(t_j) <= 1/e, interpolated linearly in (log t, C_SS) with the point before it.  When
C_SS stays above 1/e over the whole lag grid (runs shorter than the memory), tau_S is not
measured: it is reported as NaN with ``tau_S_resolved = 0`` and ``tau_S_lower = `` the
largest lag (tau_S > tau_S_lower; then tau_S / tau_chi > tau_S_lower / tau_chi).  Always
defined: C_SS(tau_chi), the memory left at the chi_4 peak (log-linear interpolation).

Per replica (:class:`MemoryAccumulator`): the field is read at ``n_origins`` evenly spaced
origins t0_k = k t_end / n_origins and at every t0_k + t_j <= t_end (the simulation is
stopped there; trsp_fast's stop at a time is exact, so the trajectory is the same as without
the stops).  The replica's value at lag j is the mean over its valid origins of
(1/N) sum_i dS_i(t0) dS_i(t0 + t_j); like Q, these origin means combine over replicas, and
errors are a bootstrap over replicas (:func:`memory_analysis`).

The exact check at the onset (trsp_ref-based, tests/test_softness_memory.py; derived in
proofs/softness_memory.py): at T = T0 every cluster fires at the S-independent rate r0,
mu' = <S> and E[dS | S, c] = H_c (<S> - S), so E[dS(t) | S(0)] = exp(-r0 M t) dS(0) with
M = sum_c H_c, and C_SS(t) = tr(exp(-r0 M t) K) / (N sigma^2) exactly, at every t.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from trsp_ref.params import ParameterError

from .heterogeneity import bootstrap_error

__all__ = [
    "MemoryAccumulator",
    "memory_origins",
    "decay_time",
    "value_at",
    "MemoryAnalysis",
    "memory_analysis",
    "onset_css",
]

INV_E = math.exp(-1.0)


def memory_origins(t_start: float, t_end: float, n_origins: int) -> np.ndarray:
    """``n_origins`` evenly spaced origins t_start + k (t_end - t_start) / n_origins, k = 0 .. n-1."""
    if n_origins < 1:
        raise ParameterError("run.memory_origins", "must be >= 1", n_origins)
    return t_start + (t_end - t_start) * np.arange(n_origins) / n_origins


class MemoryAccumulator:
    """Origin averages of dS(t0) . dS(t0 + t) / N for one replica (module docstring).

    Feed it the field at every time of :attr:`stop_times` (increasing) with :meth:`observe`;
    then :attr:`product_mean` (J,) is the origin mean at each lag (NaN where no origin is
    valid), :attr:`n_valid` (J,) the origins used, :attr:`equal_time` the origin mean of
    (1/N) |dS(t0)|^2.
    """

    def __init__(self, origins: np.ndarray, lags: np.ndarray, mean: float, t_end: float):
        origins = np.asarray(origins, dtype=np.float64)
        lags = np.asarray(lags, dtype=np.float64)
        if lags.ndim != 1 or lags.size == 0 or np.any(lags <= 0) or np.any(np.diff(lags) <= 0):
            raise ParameterError("lags", "must be a nonempty increasing array of times > 0")
        self.lags, self.origins, self.mean = lags, origins, float(mean)
        # (time, origin k, lag j) with j = -1 for the origin itself; sorted by time, origin
        # reads first on ties (an origin is read before any lag of a later origin uses the same instant)
        K, J = origins.size, lags.size
        t = origins[:, None] + lags[None, :]
        k_idx, j_idx = np.nonzero(t <= t_end)
        times = np.concatenate([origins, t[k_idx, j_idx]])
        ks = np.concatenate([np.arange(K), k_idx])
        js = np.concatenate([np.full(K, -1), j_idx])
        order = np.lexsort((js, times))
        self._times, self._k, self._j = times[order], ks[order], js[order]
        self._next = 0
        self._start: dict[int, np.ndarray] = {}
        self._sum = np.zeros(J)
        self.n_valid = np.zeros(J, dtype=np.int64)
        self._eq_sum, self._eq_n = 0.0, 0

    @property
    def stop_times(self) -> np.ndarray:
        """The distinct times at which the field must be observed (increasing)."""
        return np.unique(self._times)

    def observe(self, t: float, S: np.ndarray) -> None:
        """The field S at time t (one of :attr:`stop_times`, in order)."""
        dS = np.asarray(S, dtype=np.float64) - self.mean
        n = self._times.size
        while self._next < n and self._times[self._next] <= t:
            if self._times[self._next] != t:
                raise ParameterError("t", "observations must come at every stop time, in order", float(t))
            k, j = int(self._k[self._next]), int(self._j[self._next])
            if j < 0:
                self._start[k] = dS.copy()
                self._eq_sum += float(dS @ dS) / dS.size
                self._eq_n += 1
            else:
                self._sum[j] += float(self._start[k] @ dS) / dS.size
                self.n_valid[j] += 1
                if j == self._last_lag(k):
                    del self._start[k]  # done with this origin
            self._next += 1

    def _last_lag(self, k: int) -> int:
        return int(np.searchsorted(self.origins[k] + self.lags, self._times[-1], side="right")) - 1

    @property
    def complete(self) -> bool:
        return self._next == self._times.size

    @property
    def product_mean(self) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.n_valid > 0, self._sum / np.maximum(self.n_valid, 1), np.nan)

    @property
    def equal_time(self) -> float:
        return self._eq_sum / self._eq_n if self._eq_n else math.nan


def decay_time(lags: np.ndarray, css: np.ndarray, level: float = INV_E) -> float:
    """tau_S: the first lag where ``css`` <= level, interpolated linearly in (log t, C) with
    the grid point before it (at t = 0, C = 1 is assumed before the first lag); NaN if C
    stays above ``level`` on the whole grid (module docstring)."""
    below = np.flatnonzero(np.asarray(css) <= level)
    if below.size == 0:
        return math.nan
    j = int(below[0])
    if j == 0:  # between t = 0 (C = 1) and the first lag: linear in t
        c1 = float(css[0])
        return float(lags[0] * (1.0 - level) / (1.0 - c1)) if c1 < 1.0 else float(lags[0])
    x0, x1 = math.log(lags[j - 1]), math.log(lags[j])
    c0, c1 = float(css[j - 1]), float(css[j])
    frac = (c0 - level) / (c0 - c1) if c0 != c1 else 1.0
    return math.exp(x0 + frac * (x1 - x0))


def value_at(lags: np.ndarray, css: np.ndarray, t: float) -> float:
    """C(t) interpolated linearly in log t on the grid (NaN outside it)."""
    if not (math.isfinite(t) and lags[0] <= t <= lags[-1]):
        return math.nan
    return float(np.interp(math.log(t), np.log(lags), css))


@dataclass(eq=False)
class MemoryAnalysis:
    """C_SS(t) (J,), tau_S, C_SS(tau_chi), tau_S / tau_chi and their bootstrap standard errors
    (half the central 68% range over resamples of the replicas; an unresolved tau_S in a
    resample counts as +inf, so its upper error is then infinite)."""

    lags: np.ndarray
    css: np.ndarray
    css_err: np.ndarray
    tau_S: float
    tau_S_err: float
    tau_S_resolved: bool
    tau_S_lower: float
    css_at_tau_chi: float
    css_at_tau_chi_err: float
    tau_ratio: float
    tau_ratio_err: float
    n_replicas: int


def memory_analysis(
    lags: np.ndarray,
    products: np.ndarray,
    variance: float,
    *,
    tau_chi_of=None,
    rng: np.random.Generator | None = None,
    n_bootstrap: int = 200,
) -> MemoryAnalysis:
    """Combine replicas: ``products`` (R, J) replica origin means of dS(t0).dS(t0+t)/N
    (MemoryAccumulator.product_mean), ``variance`` sigma_t^2.  ``tau_chi_of(idx)`` returns
    tau_chi of the replicas ``idx`` (the same resample), so that tau_S / tau_chi is
    bootstrapped jointly; None leaves the ratio and C_SS(tau_chi) NaN."""
    products = np.asarray(products, dtype=np.float64)
    lags = np.asarray(lags, dtype=np.float64)
    R = products.shape[0]
    if R < 1:
        raise ParameterError("replicas", "need at least one replica")
    if not (variance > 0 and math.isfinite(variance)):
        raise ParameterError("variance", "must be a finite number > 0", variance)

    def point(idx):
        css = products[idx].mean(axis=0) / variance
        tau = decay_time(lags, css)
        tc = tau_chi_of(idx) if tau_chi_of is not None else math.nan
        return css, tau, value_at(lags, css, tc), tau / tc if tc > 0 else math.nan

    all_idx = np.arange(R)
    css, tau, at_tc, ratio = point(all_idx)
    out = MemoryAnalysis(
        lags=lags, css=css, css_err=np.full(lags.size, np.nan), tau_S=tau, tau_S_err=math.nan,
        tau_S_resolved=bool(math.isfinite(tau)), tau_S_lower=float(lags[-1]), css_at_tau_chi=at_tc,
        css_at_tau_chi_err=math.nan, tau_ratio=ratio, tau_ratio_err=math.nan, n_replicas=R,
    )  # fmt: skip
    if n_bootstrap > 0 and R >= 2:
        if rng is None:
            raise ParameterError("rng", "a numpy Generator is needed for the bootstrap (randomness is passed in)")
        draws = [point(rng.integers(0, R, size=R)) for _ in range(n_bootstrap)]
        out.css_err = bootstrap_error(np.stack([d[0] for d in draws]))
        # an unresolved tau_S is larger than the grid: +inf keeps the percentiles honest
        taus = np.array([d[1] if math.isfinite(d[1]) else math.inf for d in draws])
        out.tau_S_err = float(bootstrap_error(taus)) if out.tau_S_resolved else math.nan
        out.css_at_tau_chi_err = float(bootstrap_error(np.array([d[2] for d in draws])))
        ratios = np.array([d[3] if math.isfinite(d[1]) else math.inf for d in draws])
        out.tau_ratio_err = float(bootstrap_error(ratios)) if out.tau_S_resolved else math.nan
    return out


def onset_css(M: np.ndarray, K: np.ndarray, rate: float, t) -> np.ndarray:
    """Exact C_SS(t) at the onset (module docstring): tr(exp(-rate M t) K) / (N K_00), for
    M = sum over clusters of H_c (N x N) and K the equilibrium covariance; t a scalar or array.

    M K is symmetric (detailed balance: H_c K = K - sqrt(1 - K_Delta K^-1) K), so with
    K = L L^T the matrix A = L^-1 M L = L^-1 (M K) L^-T is symmetric and
    tr(exp(-r M t) K) = tr(exp(-r A t) L^T L), computed from eigh(A)."""
    t = np.atleast_1d(np.asarray(t, dtype=np.float64))
    L = np.linalg.cholesky(K)
    A = np.linalg.solve(L, np.linalg.solve(L, (M @ K).T).T)
    A = 0.5 * (A + A.T)
    w, V = np.linalg.eigh(A)
    d = np.einsum("ia,ij,ja->a", V, L.T @ L, V)  # diag of V^T (L^T L) V
    N = K.shape[0]
    return np.array([float(np.exp(-rate * w * tt) @ d) for tt in t]) / (N * K[0, 0])
