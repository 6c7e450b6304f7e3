"""tau_alpha from the self-intermediate scattering function, for the non-rearranging window.

The paper's non-rearranging examples have p_hop < 0.02 for 1000 tau ~ 2 tau_alpha (Sec. II).  The
window defaults to 2 tau_alpha measured on the training trajectory itself:

    F_s(q, t) = < (1/n) sum_i sin(q |dr_i(t)|) / (q |dr_i(t)|) >_origins     (3D; J_0(q |dr|) in 2D),

the isotropic average of cos(q . dr) over directions, on thermal (unwrapped) positions of the
trained types, and tau_alpha is where F_s first falls to 1/e (linear interpolation between frames).
q = 7.25 / sigma_AA is the Kob-Andersen A-A first peak (Kob & Andersen, PRE 51, 4626 (1995)).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import j0

__all__ = ["DEFAULT_Q", "self_intermediate_scattering", "tau_alpha", "measure_tau_alpha"]

#: Kob & Andersen 1995: the position of the first peak of S_AA(q), where they measure F_s
DEFAULT_Q = 7.25


def _fs_at(positions: np.ndarray, q: float, lag: int, max_origins: int) -> float:
    K, _, dim = positions.shape
    n_orig = K - lag
    origins = np.unique(np.linspace(0, n_orig - 1, min(n_orig, max_origins)).round().astype(int))
    dr = positions[origins + lag] - positions[origins]
    x = q * np.sqrt(np.sum(dr * dr, axis=-1))
    val = np.sinc(x / math.pi) if dim == 3 else j0(x)  # sin(x)/x (1 at x = 0), or J_0 in 2D
    return float(np.mean(val))


def self_intermediate_scattering(positions: np.ndarray, q: float, max_origins: int = 200) -> np.ndarray:
    """F_s(q, lag) for lag = 0 .. K - 1 frames, from unwrapped positions (K, n, dim); time origins
    spread evenly, at most ``max_origins`` per lag."""
    positions = np.asarray(positions, dtype=np.float64)
    return np.array([_fs_at(positions, q, lag, max_origins) for lag in range(positions.shape[0])])


def measure_tau_alpha(positions: np.ndarray, q: float, frame_interval: float, max_origins: int = 200) -> float | None:
    """tau_alpha from unwrapped positions (K, n, dim), scanning lags only until F_s reaches 1/e."""
    positions = np.asarray(positions, dtype=np.float64)
    fs = [1.0]
    target = math.exp(-1.0)
    for lag in range(1, positions.shape[0]):
        fs.append(_fs_at(positions, q, lag, max_origins))
        if fs[-1] <= target:
            break
    return tau_alpha(np.asarray(fs), frame_interval)


def tau_alpha(fs: np.ndarray, frame_interval: float) -> float | None:
    """The first time F_s falls to 1/e (linear interpolation), or None if it never does."""
    target = math.exp(-1.0)
    below = np.flatnonzero(fs <= target)
    if below.size == 0:
        return None
    k = int(below[0])
    if k == 0:
        return 0.0
    f0, f1 = fs[k - 1], fs[k]
    frac = (f0 - target) / (f0 - f1) if f0 != f1 else 0.0
    return (k - 1 + frac) * frame_interval
