"""The event route of ``trsp fit``: a "full" run file read event by event, with exact times.

A run file records every event's time, its cluster and every site change (before and after).
Reading it event by event (``RunFile.iter_events``: checked and replayed chunk by chunk, so
memory is bounded by a chunk) gives, exactly and with no frame interval to choose:

- P(R|S) (Eq. 4) from exact exposures: each site's time at each softness (between two of its
  changes), and each rearranging site's softness just before its event.  The likelihood is a
  Poisson process's, so nothing depends on how the time is cut into frames (the frame route's
  bias that grows with the frame interval does not arise; proofs/fit_interval.py);
- the kick of every event by itself (Sec. V, Eq. 30): dS = the event's own change, with the
  regressors taken just before it.  No other event is mixed in (every event is "isolated"), so
  there is no background to subtract.  Sites outside the run's kick window (its truncation,
  ``/truncation``) are left out: there the truncated model sets K_Delta to 0 by construction;
- C_S(r) and the moments of S from the state sampled every ``corr_time`` time units (the same
  frame-centred estimator as the frame route).

The statistics are the frame route's sums (:mod:`trsp_fit.statistics`), one set per bootstrap
unit (equal stretches of time of each file), so :mod:`trsp_fit.pipeline` estimates from
either route the same way.  The per-event work is a Numba kernel (:mod:`trsp_fit.kernels`).
"""

from __future__ import annotations

import math

import numpy as np

from trsp_ref.lattice import orientation_offsets, site_coords
from trsp_runfile import RunFile

from .kernels import replay_events
from .neighbours import lattice_pair_sums
from .statistics import Settings, UnitStats, empty_statistics, frame_series, rate_bin

__all__ = ["EventGeometry", "run_event_statistics", "kick_window_radius"]


def kick_window_radius(run: RunFile) -> float:
    """The run's kick window radius (inf for the exact model): sites farther than this from the
    firing cluster never change (docs/model.md, "Local kicks")."""
    return float(run.truncation.kick_radius)


class EventGeometry:
    """Per-orientation tables at anchor 0 (integer coordinates) for :func:`trsp_fit.kernels.replay_events`."""

    def __init__(self, dim: int, L: int, spacing: float, shape: str, st: Settings, kick_radius: float):
        coords = site_coords(dim, L)
        N = coords.shape[0]
        c3 = np.zeros((N, 3), np.int64)
        c3[:, :dim] = coords
        self.coords = c3
        tab = np.arange(2 * L) % L
        if dim == 2:
            self.tx, self.ty, self.tz = tab * L, tab, np.zeros(2, np.int64)
        else:
            self.tx, self.ty, self.tz = tab * L * L, tab * L, tab.copy()
        self.N = N

        def dist(a, b):  # minimum-image distances between integer coordinates, (..., dim)
            d = np.abs(a - b)
            d = np.minimum(d, L - d)
            return np.sqrt((d * d).sum(axis=-1).astype(np.float64)) * spacing

        orients = orientation_offsets(dim, shape)
        n_o, m = len(orients), orients[0].shape[0]
        nn = coords[(dist(coords, np.zeros(dim, np.int64)) > 0) & (dist(coords, np.zeros(dim, np.int64)) <= st.neighbour_radius * (1 + 1e-9))]
        self.nn_off = np.zeros((nn.shape[0], 3), np.int64)
        self.nn_off[:, :dim] = nn
        per = []
        nrt = st.rt_bins.n
        for mo in orients:
            mo = np.mod(mo, L)
            d = dist(coords[:, None, :], mo[None, :, :])  # (N, m)
            rt = d.min(axis=1)
            sel = np.flatnonzero((rt <= st.r_background * (1 + 1e-9)) & (rt <= kick_radius * (1 + 1e-9)))
            rtb = st.rt_bins.index(rt[sel])
            ok = (rtb >= 0) & (rtb < nrt)
            sel, rtb = sel[ok], rtb[ok]
            gmask = d[sel] <= rt[sel, None] + st.neighbour_radius * (1 + 1e-9)
            mq = np.array([int(np.flatnonzero(sel == int(np.flatnonzero((coords == mo[a]).all(axis=1))[0]))[0]) for a in range(m)])
            pairs = []
            for a in range(m):
                pb = st.pair_bins.index(d[sel, a])
                keep = np.flatnonzero(pb >= 1)
                pairs.append((keep, pb[keep], d[sel, a][keep]))
            per.append((coords[sel], rtb, rt[sel], gmask, mq, pairs))
        Q = max(p[0].shape[0] for p in per)
        P = max(len(x[0]) for p in per for x in p[5])
        self.members = np.zeros((n_o, m, 3), np.int64)
        self.nb_off = np.zeros((n_o, Q, 3), np.int64)
        self.nb_n = np.zeros(n_o, np.int64)
        self.nb_rtb = np.zeros((n_o, Q), np.int64)
        self.nb_rt = np.zeros((n_o, Q))
        self.nb_g = np.zeros((n_o, Q, m), np.bool_)
        self.member_q = np.zeros((n_o, m), np.int64)
        self.pair_q = np.zeros((n_o, m, max(P, 1)), np.int64)
        self.pair_b = np.zeros((n_o, m, max(P, 1)), np.int64)
        self.pair_r = np.zeros((n_o, m, max(P, 1)))
        self.pair_n = np.zeros((n_o, m), np.int64)
        for o, (off, rtb, rt, gm, mq, pairs) in enumerate(per):
            n = off.shape[0]
            self.members[o, :, :dim] = np.mod(orients[o], L)
            self.nb_off[o, :n, :dim] = off
            self.nb_n[o] = n
            self.nb_rtb[o, :n] = rtb
            self.nb_rt[o, :n] = rt
            self.nb_g[o, :n] = gm
            self.member_q[o] = mq
            for a, (q, pb, r) in enumerate(pairs):
                self.pair_q[o, a, : q.size] = q
                self.pair_b[o, a, : q.size] = pb
                self.pair_r[o, a, : q.size] = r
                self.pair_n[o, a] = q.size
        self.Q = Q


def run_event_statistics(run: RunFile, st: Settings, n_units: int, corr_time: float, progress=None, series: list | None = None) -> list[UnitStats]:
    """The statistics of a "full" run file, one :class:`UnitStats` per bootstrap unit (``n_units``
    equal stretches of the observed time).  ``corr_time``: time between the sampled states of
    C_S(r) (> 0).  ``progress``: called with the number of events of each chunk read; ``series``:
    the sampled states' site means and variances are appended to it."""
    lat, shape = run.params.lattice, run.params.cluster.shape  # geometry only (never the softness, rate or kick values)
    geo = EventGeometry(lat.dim, lat.L, lat.spacing, shape, st, kick_window_radius(run))
    N = run.N
    t0, t_end = run.t0, run.checkpoint.observed_until
    cuts = t0 + (t_end - t0) * np.arange(n_units + 1) / n_units
    units = [empty_statistics(st) for _ in range(n_units)]
    S = run.S0.copy()
    last_t = np.full(N, t0)
    D = np.zeros(N)
    xq = np.zeros((geo.Q, 4))
    yq = np.zeros(geo.Q)
    nb = st.rate_edges.size - 1
    lo_edge, scale = float(st.rate_edges[0]), nb / float(st.rate_edges[-1] - st.rate_edges[0])
    n_corr = int(math.floor((t_end - t0) / corr_time + 1e-9)) + 1
    corr_t = t0 + corr_time * np.arange(n_corr)
    lattice = {"L": lat.L, "spacing": lat.spacing}
    box = np.full(lat.dim, lat.L * lat.spacing)
    frames: list[np.ndarray] = []
    state = {"unit": 0, "next_corr": 0}

    def flush_corr(u: dict) -> None:
        if frames:
            c = np.array(frames)
            frames.clear()
            if series is not None:
                series.append(frame_series(c))
            c = c - c.mean(axis=1, keepdims=True)
            s, n = lattice_pair_sums(c, lat.dim, lat.L, lat.spacing, st.corr_bins)
            u["corr_sum"] += s
            u["corr_n"] += n
            u["corr_r"] += n * st.corr_bins.centers

    def close_exposures(u: dict, t: float) -> None:
        """Every site's open stretch up to time t, at its current value."""
        seg = t - last_t
        bi = rate_bin(st, S)
        u["rate_T"] += np.bincount(bi, weights=seg, minlength=nb)
        u["rate_s"] += np.bincount(bi, weights=seg * S, minlength=nb)
        u["moments"] += [seg.sum(), (seg * S).sum(), (seg * S**2).sum(), (seg * S**3).sum(), (seg * S**4).sum()]
        last_t[:] = t

    def replay(rec, a: int, b: int) -> None:
        if b <= a:
            return
        u = units[state["unit"]]
        replay_events(rec.times, rec.clusters, rec.change_offsets, rec.change_sites, rec.after, a, b, S, last_t,
                      geo.coords, geo.tx, geo.ty, geo.tz, N, geo.members,
                      geo.nb_off, geo.nb_n, geo.nb_rtb, geo.nb_rt, geo.nb_g, geo.member_q,
                      geo.pair_q, geo.pair_b, geo.pair_r, geo.pair_n, geo.nn_off,
                      lo_edge, scale, nb,
                      u["rate_T"], u["rate_s"], u["rate_k1"], u["moments"],
                      u["XtX"], u["Xty"], u["yty"], u["kick_n"], u["rt_sum"],
                      u["pXX"], u["pXy"], u["pyX"], u["pyy"], u["pn"], u["pr_sum"],
                      D, xq, yq, True)
        u["windows"] += [b - a, (b - a) * geo.members.shape[1], 0, b - a]

    def advance_to(rec, a: int, t: float) -> int:
        """Replay the events of ``rec`` from index a with time <= t; handle the sampled states and unit
        boundaries before t on the way.  Returns the index of the first event not replayed."""
        while True:
            tc = corr_t[state["next_corr"]] if state["next_corr"] < n_corr else math.inf
            tb = cuts[state["unit"] + 1] if state["unit"] < n_units - 1 else math.inf
            stop = min(tc, tb)
            if stop > t:
                b = int(np.searchsorted(rec.times, t, side="right"))
                replay(rec, a, b)
                return b
            b = int(np.searchsorted(rec.times, stop, side="right"))
            replay(rec, a, b)
            a = b
            if tc <= tb:
                frames.append(S.copy())
                state["next_corr"] += 1
                if len(frames) >= 256:
                    flush_corr(units[state["unit"]])
            else:
                u = units[state["unit"]]
                flush_corr(u)
                close_exposures(u, tb)
                state["unit"] += 1

    for rec in run.iter_events():
        rec = rec.compact()
        k = advance_to(rec, 0, float(rec.times[-1]))
        replay(rec, k, len(rec))
        if progress is not None:
            progress(len(rec))
    advance_to(_EMPTY, 0, t_end)
    u = units[state["unit"]]
    flush_corr(u)
    close_exposures(u, t_end)
    for u in units:
        u["rate_k2"][:] = 0.0
        u["rate_k"][:] = u["rate_k1"]  # exact counts
    return [UnitStats(u) for u in units]


class _Empty:
    times = np.zeros(0)


_EMPTY = _Empty()
