"""The liquid's own structure and dynamics from trajectory files (one implementation, for the
validation against Kob & Andersen 1995 and for issue 19).

All functions take arrays (no file format inside) except :func:`read_trajectory`.  Times are in
frames of the trajectory (multiply by frame_interval); every frame is used as a time origin
(``origin_stride`` thins them).

- F_s(q, t) = < sin(q r_i(t0, t)) / (q r_i(t0, t)) >: the isotropic self-intermediate
  scattering function (KA 1995 use q = 7.25, the first peak of S_AA(q)); tau_alpha where it
  crosses 1/e.
- MSD(t) = < |r_i(t0 + t) - r_i(t0)|^2 >; D from MSD = 6 D t at long times.
- g_ab(r): the partial radial distribution function (minimum image), its first peak.
- Q(t0, t) = (1/N_A) sum_i Theta(a - |r_i(t0 + t) - r_i(t0)|), a = 0.3 (issue 19): per replica
  the origin means of Q and Q^2, which :func:`chi4` combines over replicas with the same
  unbiased variance as TRSP's (trsp_obs.heterogeneity.variance_of_q).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["read_trajectory", "displacements", "self_intermediate_scattering", "mean_squared_displacement",
           "diffusion_constant", "crossing_time", "radial_distribution", "first_peak", "overlap_origin_means", "chi4"]


def read_trajectory(path, *, inherent: bool = False, stride: int = 1):
    """(times (F,), unwrapped positions (F, N, 3) float64, typeid (N,), L, target T) of a
    ``trsp md`` trajectory (docs/formats-trajectory.md); ``inherent``: the inherent states."""
    import gsd.hoomd

    xs, times = [], []
    with gsd.hoomd.open(str(path)) as t:
        f0 = t[0]
        L = float(f0.configuration.box[0])
        typeid = np.asarray(f0.particles.typeid, dtype=np.int64)
        T = float(f0.log["trsp/temperature"][0])
        for f in t[::stride]:
            if inherent:
                x = f.log["particles/inherent_position"].astype(np.float64) + f.log["particles/inherent_image"] * L
            else:
                x = f.particles.position.astype(np.float64) + f.particles.image * L
            xs.append(x)
            times.append(float(f.log["trsp/time"][0]))
    return np.array(times), np.array(xs), typeid, L, T


def displacements(X: np.ndarray, lag: int, origin_stride: int = 1) -> np.ndarray:
    """(origins, N) distances |r_i(t0 + lag) - r_i(t0)| over origins t0 = 0, stride, ... (in frames)."""
    origins = np.arange(0, X.shape[0] - lag, origin_stride)
    d = X[origins + lag] - X[origins]
    return np.sqrt(np.sum(d * d, axis=-1))


def self_intermediate_scattering(X: np.ndarray, lags, q: float = 7.25, origin_stride: int = 1) -> np.ndarray:
    """F_s(q, t) per lag (frames): mean of sin(q r) / (q r) over particles and origins."""
    return np.array([np.mean(np.sinc(q * displacements(X, int(k), origin_stride) / math.pi)) for k in lags])


def mean_squared_displacement(X: np.ndarray, lags, origin_stride: int = 1) -> np.ndarray:
    return np.array([np.mean(displacements(X, int(k), origin_stride) ** 2) for k in lags])


def diffusion_constant(t: np.ndarray, msd: np.ndarray, t_min: float) -> float:
    """D = slope / 6 of the least-squares line through MSD(t) for t >= t_min (the diffusive regime)."""
    m = np.asarray(t) >= t_min
    if m.sum() < 2:
        raise ValueError(f"fewer than two lags at t >= {t_min}")
    slope = np.polyfit(np.asarray(t)[m], np.asarray(msd)[m], 1)[0]
    return float(slope / 6.0)


def crossing_time(t: np.ndarray, f: np.ndarray, level: float = math.exp(-1)) -> float | None:
    """First time f(t) falls to ``level``, interpolated linearly in log t; None if it never does."""
    t, f = np.asarray(t, dtype=float), np.asarray(f, dtype=float)
    below = np.nonzero(f <= level)[0]
    if below.size == 0:
        return None
    j = int(below[0])
    if j == 0:
        return float(t[0])
    x0, x1 = math.log(t[j - 1]), math.log(t[j])
    w = (f[j - 1] - level) / (f[j - 1] - f[j])
    return float(math.exp(x0 + w * (x1 - x0)))


def radial_distribution(frames: np.ndarray, typeid: np.ndarray, L: float, a: int, b: int, r_max: float, dr: float = 0.01):
    """(r, g_ab(r)) averaged over ``frames`` (F, N, 3), minimum image, bins of width dr up to r_max <= L/2."""
    r_max = min(r_max, L / 2)
    edges = np.arange(0.0, r_max + dr / 2, dr)
    hist = np.zeros(edges.size - 1)
    ia, ib = np.nonzero(typeid == a)[0], np.nonzero(typeid == b)[0]
    for x in frames:
        d = x[ia][:, None, :] - x[ib][None, :, :]
        d -= L * np.round(d / L)
        r = np.sqrt(np.sum(d * d, axis=-1)).ravel()
        if a == b:
            r = r[r > 0]
        hist += np.histogram(r, bins=edges)[0]
    n_pairs = ia.size * (ib.size - (1 if a == b else 0))
    shell = 4.0 / 3.0 * math.pi * (edges[1:] ** 3 - edges[:-1] ** 3)
    g = hist / (len(frames) * n_pairs * shell / L**3)
    return 0.5 * (edges[1:] + edges[:-1]), g


def first_peak(r: np.ndarray, g: np.ndarray) -> tuple[float, float]:
    """(position, height) of the highest maximum of g, refined by the parabola through the three bins around it."""
    j = int(np.argmax(g))
    if 0 < j < g.size - 1:
        y0, y1, y2 = g[j - 1], g[j], g[j + 1]
        den = y0 - 2 * y1 + y2
        if den < 0:
            s = 0.5 * (y0 - y2) / den
            h = r[1] - r[0]
            return float(r[j] + s * h), float(y1 - 0.25 * (y0 - y2) * s)
    return float(r[j]), float(g[j])


def overlap_origin_means(X: np.ndarray, lags, a: float = 0.3, origin_stride: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(mean of Q, mean of Q^2) over time origins, per lag: Q(t0, t) = fraction of the particles in X
    that moved less than ``a`` (issue 19: the large particles, a = 0.3 sigma_AA)."""
    qm, qs = [], []
    for k in lags:
        q = np.mean(displacements(X, int(k), origin_stride) < a, axis=1)
        qm.append(q.mean())
        qs.append(np.mean(q * q))
    return np.array(qm), np.array(qs)


def chi4(q_means: np.ndarray, q_sq_means: np.ndarray, n_particles: int) -> tuple[np.ndarray, np.ndarray]:
    """(Q(t), chi_4(t) = N Var Q) over replicas (R, J): TRSP's estimator (trsp_obs.heterogeneity), not a copy."""
    from trsp_obs.heterogeneity import variance_of_q

    q_means, q_sq_means = np.atleast_2d(q_means), np.atleast_2d(q_sq_means)
    return q_means.mean(axis=0), n_particles * variance_of_q(q_means, q_sq_means)
