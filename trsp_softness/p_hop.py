"""p_hop, the rearrangement indicator of the softness papers (the paper's ref. [23]).

Candelier et al., PRL 105, 135702 (2010), used by Schoenholz et al., Nature Physics 12, 469 (2016)
and by this paper (Sec. II, Sec. III):

    p_hop(i, t) = sqrt( <(r_i - <r_i>_B)^2>_A  <(r_i - <r_i>_A)^2>_B ),

with <.>_A and <.>_B averages over the time windows A = [t - t_R/2, t] and B = [t, t + t_R/2].  On
frames spaced dt apart the windows are h = t_R / (2 dt) frames each, disjoint, meeting at t:
A = frames k - h, ..., k - 1 and B = frames k, ..., k + h - 1, as in the Liu group's
``identifyHopsv2.cpp`` (github.com/SimonsGlass/GBAnalysisData; docs/softness.md).  p_hop has
units of length^2 (sigma_AA^2); a particle that jumps by d between frames k - 1 and k and is
still otherwise has p_hop(k) = |d|^2 (proofs/softness_descriptors.py).  It is defined on frames
h .. K - h of a K-frame trajectory.

Positions must be continuous in time (unwrapped): :meth:`trsp_traj.Trajectory.iter_unwrapped`.
The default window is t_R = 10 tau (h = 5 frames 1 tau apart, the frame spacing of the paper).
"""

from __future__ import annotations

import math
from typing import Iterable, Iterator

import numpy as np

from trsp_ref.params import ParameterError

__all__ = ["DEFAULT_T_R", "half_window", "p_hop", "p_hop_stream"]

#: the default p_hop window t_R (MD time units; docs/softness.md)
DEFAULT_T_R = 10.0


def half_window(t_r: float, frame_interval: float, option: str = "--p-hop-window") -> int:
    """h = t_R / (2 dt) frames per half-window; t_R must be an even multiple of the frame spacing
    (within 1e-6) and at least two frames."""
    if not (math.isfinite(t_r) and t_r > 0):
        raise ParameterError(option, "must be finite and > 0", t_r)
    h = t_r / (2.0 * frame_interval)
    if h < 1 - 1e-6 or abs(h - round(h)) > 1e-6 * max(1.0, h):
        raise ParameterError(
            option, f"t_R must be an even multiple of the frame spacing dt = {frame_interval:g} "
                    f"(t_R / 2dt = {h:g} frames per half-window)", t_r)
    return int(round(h))


def p_hop(positions: np.ndarray, h: int) -> np.ndarray:
    """p_hop of every particle at frames h .. K - h: (K - 2h + 1, N), from unwrapped (K, N, dim)."""
    positions = np.asarray(positions, dtype=np.float64)
    K = positions.shape[0]
    if K < 2 * h:
        raise ValueError(f"p_hop with half-window h = {h} needs at least {2 * h} frames, got {K}")
    return np.stack(list(p_hop_stream(iter(positions), h)), axis=0)


def p_hop_stream(frames: Iterable[np.ndarray], h: int) -> Iterator[np.ndarray]:
    """p_hop(k) for k = h, h + 1, ... from an iterator of unwrapped frames (N, dim): a rolling window
    of 2h frames, so memory does not grow with the trajectory."""
    buf: list[np.ndarray] = []
    for pos in frames:
        buf.append(np.asarray(pos, dtype=np.float64))
        if len(buf) > 2 * h:
            buf.pop(0)
        if len(buf) == 2 * h:
            A = np.stack(buf[:h])
            B = np.stack(buf[h:])
            mean_a = A.mean(axis=0)
            mean_b = B.mean(axis=0)
            var_a = np.mean(np.sum((A - mean_b) ** 2, axis=-1), axis=0)
            var_b = np.mean(np.sum((B - mean_a) ** 2, axis=-1), axis=0)
            yield np.sqrt(var_a * var_b)
