"""Per-replica overlap statistics from an event log: Q(t), its square, S_4(q, t) and block variances.

Definitions (Sec. VII.A).  Site ``i`` takes part in an event when the fired cluster contains
it.  For a time origin ``t0`` and a lag ``t``, ``I_i(t0, t) = 1`` if site ``i`` takes part in no
event in ``(t0, t0 + t]`` and 0 otherwise; ``Q(t0, t) = (1/N) sum_i I_i`` (Eq. 31) and
``Q~(q; t0, t) = (1/N) sum_i exp(i q.r_i) I_i`` (Eq. 33).

How (vectorized, one pass per replica):

1. every site's event times, sorted, as one array keyed ``site * (n + 1) + event_index``
   (exact int64 keys, so "first event after t0" is an exact search, ties included);
2. for each origin ``t0`` (a regular grid), each site's waiting time to its first event
   strictly after ``t0``, by one ``np.searchsorted`` over all (site, origin) pairs;
3. ``Q(t0, t)`` for every lag by sorting each origin's waiting times; the window
   ``(t0, t0 + t]`` must lie inside the observed interval, so an origin is used for a lag
   only when ``t0 + t <= t_end`` (no censored window is ever counted as "not rearranged").
4. on a subset of origins, the spatial power ``|Q~(q)|^2`` by FFT over the lattice, reduced to
   shells of equal |q| (for S_4) and, by Parseval, to the variance over block positions of the
   block overlap (Appendix H; :func:`trsp_obs.lattice.block_filter_power`).

The result, :class:`ReplicaStats`, holds only origin averages, which add up over replicas:
:mod:`trsp_obs.heterogeneity` combines replicas into chi_4, tau_chi, S_4, xi_4 and errors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from trsp_ref.params import ParameterError

from .lattice import block_filter_power, cluster_table, event_sites, wavevector_shells

__all__ = [
    "EventLog",
    "SiteEvents",
    "ReplicaStats",
    "site_events",
    "waiting_times",
    "overlap_matrix",
    "origin_grid",
    "log_lags",
    "replica_stats",
]


@dataclass(frozen=True, eq=False)
class EventLog:
    """One replica's events: ``times`` (nondecreasing), fired ``clusters`` (ids, docs/model.md),
    observed on ``[t_start, t_end]`` (every event in that interval is in the log)."""

    times: np.ndarray
    clusters: np.ndarray
    t_start: float
    t_end: float

    def __post_init__(self):
        times = np.asarray(self.times, dtype=np.float64)
        clusters = np.asarray(self.clusters, dtype=np.int64)
        if times.ndim != 1 or clusters.shape != times.shape:
            raise ParameterError("events", "times and clusters must be 1-D arrays of one length")
        if not (math.isfinite(self.t_start) and math.isfinite(self.t_end) and self.t_end > self.t_start):
            raise ParameterError("t_end", "the observed interval needs finite t_start < t_end", (self.t_start, self.t_end))
        if times.size:
            if not np.all(np.isfinite(times)):
                raise ParameterError("events.time", "event times must be finite")
            if np.any(np.diff(times) < 0):
                raise ParameterError("events.time", "event times must be nondecreasing")
            if times[0] < self.t_start or times[-1] > self.t_end:
                raise ParameterError("events.time", "event times must lie in [t_start, t_end]")
        object.__setattr__(self, "times", times)
        object.__setattr__(self, "clusters", clusters)


@dataclass(frozen=True, eq=False)
class SiteEvents:
    """Every site's events in time order: ``keys[offsets[i]:offsets[i+1]] = i * (n + 1) + e`` for
    the events ``e`` (indices into ``times``, increasing) site ``i`` took part in."""

    times: np.ndarray
    keys: np.ndarray
    offsets: np.ndarray
    N: int

    @property
    def stride(self) -> int:
        return self.times.size + 1


def site_events(log: EventLog, table: np.ndarray, N: int) -> SiteEvents:
    """Index ``log`` by site (step 1 of the module docstring)."""
    sites = event_sites(log.clusters, table)  # (n, m)
    n, m = sites.shape
    flat = sites.ravel()
    ev = np.repeat(np.arange(n, dtype=np.int64), m)
    # ravel order is event-major, so a stable sort by site keeps each site's events in order
    order = np.argsort(flat, kind="stable")
    keys = flat[order] * (n + 1) + ev[order]
    offsets = np.zeros(N + 1, dtype=np.int64)
    np.cumsum(np.bincount(flat, minlength=N), out=offsets[1:])
    return SiteEvents(log.times, keys, offsets, N)


def waiting_times(se: SiteEvents, origins: np.ndarray) -> np.ndarray:
    """(N, K): time from each origin to each site's first event strictly after it (inf if none).

    "Strictly after": an event at exactly ``t0`` belongs to the past, matching the window
    ``(t0, t0 + t]`` of I_i.
    """
    origins = np.asarray(origins, dtype=np.float64)
    out = np.full((se.N, origins.size), np.inf)
    if se.keys.size == 0:
        return out
    first_after = np.searchsorted(se.times, origins, side="right")  # (K,) global event index
    site = np.arange(se.N, dtype=np.int64)[:, None]
    pos = np.searchsorted(se.keys, site * se.stride + first_after[None, :], side="left")
    # keys of site i lie in [i * stride, (i + 1) * stride): pos is site i's entry iff it is
    # before the end of site i's segment
    found = pos < se.offsets[1:][:, None]
    ev = se.keys[np.minimum(pos, se.keys.size - 1)] - site * se.stride
    np.subtract(se.times[np.where(found, ev, 0)], origins[None, :], out=out, where=found)
    return out


def overlap_matrix(waits: np.ndarray, lags: np.ndarray) -> np.ndarray:
    """(K, J): Q(t0_k, t_j) = fraction of sites whose waiting time from origin k exceeds t_j."""
    N, K = waits.shape
    ws = np.sort(waits, axis=0)
    out = np.empty((K, lags.size))
    for k in range(K):
        out[k] = 1.0 - np.searchsorted(ws[:, k], lags, side="right") / N
    return out


def origin_grid(t_start: float, t_end: float, spacing: float) -> np.ndarray:
    """Time origins ``t_start + k * spacing`` below ``t_end`` (a regular grid: every origin
    carries equal weight, as a time average needs)."""
    if not (spacing > 0 and math.isfinite(spacing)):
        raise ParameterError("origin_spacing", "must be a finite number > 0", spacing)
    n = int(math.floor((t_end - t_start) / spacing - 1e-12)) + 1
    return t_start + spacing * np.arange(max(n, 1))


def log_lags(t_min: float, t_max: float, per_decade: int = 8) -> np.ndarray:
    """Log-spaced lags from t_min to t_max inclusive, ``per_decade`` per decade."""
    if not (0 < t_min < t_max and math.isfinite(t_max)):
        raise ParameterError("lags", "need 0 < lag_min < lag_max (finite)", (t_min, t_max))
    n = max(2, int(math.ceil(per_decade * math.log10(t_max / t_min))) + 1)
    return np.geomspace(t_min, t_max, n)


@dataclass(eq=False)
class ReplicaStats:
    """Origin averages of one replica (they combine over replicas; :mod:`trsp_obs.heterogeneity`).

    lags (J,); n_origins (J,) origins used per lag; q_mean, q_sq_mean (J,) mean of Q and Q^2
    over those origins; n_spatial (J,) origins used for the spatial statistics; shell_power
    (J, n_shells) mean over spatial origins of |Q~(q)|^2 averaged over the modes of each |q|
    shell (shell 0, q = 0, holds Q^2); block_var (J, n_blocks) mean over spatial origins of
    the variance over the N periodic block positions of the block overlap, for each block
    side in ``blocks``.  N, dim, L, spacing describe the lattice.
    """

    lags: np.ndarray
    n_origins: np.ndarray
    q_mean: np.ndarray
    q_sq_mean: np.ndarray
    n_spatial: np.ndarray
    shell_power: np.ndarray
    block_var: np.ndarray
    blocks: np.ndarray
    N: int
    dim: int
    L: int
    spacing: float
    extra: dict = field(default_factory=dict)


def replica_stats(
    log: EventLog,
    *,
    dim: int,
    L: int,
    shape: str,
    spacing: float = 1.0,
    lags: np.ndarray,
    origin_spacing: float,
    spatial_origins: int = 32,
    blocks=None,
) -> ReplicaStats:
    """All per-replica statistics of one event log (module docstring).

    lags : (J,) increasing, > 0, at most ``t_end - t_start``.
    origin_spacing : spacing of the time-origin grid.
    spatial_origins : at most this many origins (evenly thinned) per lag enter the FFT
        statistics (S_4, blocks); 0 skips them.
    blocks : block sides (sites) for the block analysis; default 1 .. L.
    """
    lags = np.asarray(lags, dtype=np.float64)
    if lags.ndim != 1 or lags.size == 0 or np.any(lags <= 0) or np.any(np.diff(lags) <= 0):
        raise ParameterError("lags", "must be a nonempty increasing array of times > 0")
    span = log.t_end - log.t_start
    if lags[-1] > span:
        raise ParameterError("lags", f"the largest lag must not exceed the observed span t_end - t_start = {span}", float(lags[-1]))
    N = L**dim
    table = cluster_table(dim, L, shape)
    blocks = np.arange(1, L + 1) if blocks is None else np.asarray(blocks, dtype=np.int64)
    origins = origin_grid(log.t_start, log.t_end, origin_spacing)
    waits = waiting_times(site_events(log, table, N), origins)
    Qm = overlap_matrix(waits, lags)  # (K, J)
    valid = origins[:, None] + lags[None, :] <= log.t_end
    n_origins = valid.sum(axis=0)
    q_mean = np.where(valid, Qm, 0.0).sum(axis=0) / n_origins
    q_sq_mean = np.where(valid, Qm * Qm, 0.0).sum(axis=0) / n_origins

    q_shells, shell_of_mode, counts = wavevector_shells(dim, L, spacing)
    J = lags.size
    shell_power = np.full((J, q_shells.size), np.nan)
    block_var = np.full((J, blocks.size), np.nan)
    n_spatial = np.zeros(J, dtype=np.int64)
    if spatial_origins > 0:
        filt = np.stack([block_filter_power(dim, L, int(b)) for b in blocks])  # (n_blocks, *grid)
        filt.reshape(blocks.size, -1)[:, 0] = 0.0  # q = 0 is the origin's own Q, not a block fluctuation
        flat_shell = shell_of_mode.ravel()
        grid = (L,) * dim
        for j in range(J):
            ks = np.flatnonzero(valid[:, j])
            if ks.size > spatial_origins:
                ks = ks[np.linspace(0, ks.size - 1, spatial_origins).round().astype(np.int64)]
            n_spatial[j] = ks.size
            I = (waits[:, ks] > lags[j]).T.reshape((ks.size,) + grid).astype(np.float64)
            F = np.fft.fftn(I, axes=tuple(range(1, dim + 1)))
            P = (F.real**2 + F.imag**2).mean(axis=0).ravel() / (N * N)  # mean_k |Q~(q)|^2
            shell_power[j] = np.bincount(flat_shell, weights=P, minlength=q_shells.size) / counts
            block_var[j] = filt.reshape(blocks.size, -1) @ P
    return ReplicaStats(
        lags=lags,
        n_origins=n_origins,
        q_mean=q_mean,
        q_sq_mean=q_sq_mean,
        n_spatial=n_spatial,
        shell_power=shell_power,
        block_var=block_var,
        blocks=blocks,
        N=N,
        dim=dim,
        L=L,
        spacing=float(spacing),
    )
