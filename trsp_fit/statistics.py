"""Sufficient statistics of a trajectory, block by block of frames (the frame route of ``trsp fit``).

Everything ``trsp fit`` estimates is a smooth function of sums over bootstrap units (histograms,
moments, cross-products of regressions), so a bootstrap over units only re-adds unit sums
(:mod:`trsp_fit.pipeline`) instead of re-reading data; a unit (a stretch of one file) is itself
the sum of the blocks of frames it is read in (:func:`block_statistics`), so memory is bounded
by a block.  Run files read event by event fill the same sums (:mod:`trsp_fit.events`).

P(R|S) (Eq. 4).  Instantaneous data: exposures are site-intervals (S at the start of the
interval); with the flags of the next two intervals the rate is extrapolated to a zero interval
(proofs/fit_interval.py: the pseudo-count 3/2 k1 - 1/2 k2, k1 the rearrangements in the first
interval, k2 those in the second only, has expectation (exposure x rate) + O(dt^3), where the
plain count carries an O(dt^2) bias that grows with the frame interval).  Sustained data: the
fraction of rearranging particles at fixed S.

Kick data (Sec. V, Appendix E): for every frame k holding rearranging particles, the flagged
particles of frame k are split into connected groups (links <= neighbour radius); a group with
onsets (instantaneous data: every flagged particle; sustained: flagged at k and not at k - 1)
is a rearrangement, "single" when it has the cluster's size (lattice data with a known cluster
shape) or always (MD).  A particle j is used for the kick of its nearest single group g when
rt_j <= r_background and no particle of another group lies within rt_j + isolation_margin of
j (local isolation: other rearrangements anywhere else in the frame do not matter).  For it,
dS_j = S_j(k + after) - S_j(k - before) and the regressors x_j = [1, S_j, mean S of j's
neighbours, mean S of g's particles near j] taken before.  Frames whose interval holds no
rearrangement, and particles farther than ``r_background`` from every rearranging particle,
are the background.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse
from scipy.sparse.csgraph import connected_components

from .neighbours import DistanceBins, PairList, lattice_pair_sums, pair_list
from .sources import Block

__all__ = ["Settings", "UnitStats", "block_statistics", "empty_statistics", "frame_series", "N_FEATURES", "FEATURES", "sustained_runs"]

#: the kick regressors (module docstring); the model's drift H (mu' - S) at j is linear in the
#: softness near j and near the rearrangement, which these summarize
FEATURES = ("1", "S_j", "neighbour mean S", "rearranging mean S")
N_FEATURES = len(FEATURES)
#: kick windows processed together: at most this many (window, particle) values at a time
WINDOW_VALUES = 1 << 20
#: P(R|S) from frames: the pseudo-count w1 k1 + w2 k2, k1 the rearrangements in the interval after the
#: exposure, k2 those in the next one only (proofs/fit_interval.py: expectation exposure x rate + O(dt^3))
INTERVAL_WEIGHTS = (1.5, -0.5)
#: the three-interval combination (k3: rearranged in the third interval only; remainder O(dt^4)): the
#: fit reports the change it makes as the rate law's systematic term
INTERVAL_WEIGHTS_3 = (11.0 / 6.0, -7.0 / 6.0, 1.0 / 3.0)


@dataclass(frozen=True)
class Settings:
    """What the statistics are binned on (fixed for all units of one fit)."""

    rate_edges: np.ndarray  # softness bin edges for P(R|S)
    corr_bins: DistanceBins  # C_S(r)
    rt_bins: DistanceBins  # distance to the nearest rearranging particle
    pair_bins: DistanceBins  # rearranging particle - neighbour distance (rho)
    r_background: float  # particles farther than this from every rearranging particle are background
    neighbour_radius: float  # the neighbourhood of the "neighbour mean S" regressor, and the links of a group
    before: int  # frames before the rearrangement's interval: S before = S(k - before)
    after: int  # frames after: S after = S(k + after)
    bg_pair_stride: int = 1  # background pair covariances from the background windows of frames k = 0 mod this
    bg_stride: int = 1  # background windows (no rearrangement) used: frames k = 0 mod this
    corr_stride: int = 1  # C_S(r) and the moments of S from every corr_stride-th frame
    isolation: bool = True  # local isolation (module docstring); False: every flagged particle is one rearrangement
    isolation_margin: float = 3.0  # length: another group must be farther than rt_j + this from a used particle j
    cluster_size: int | None = None  # lattice data: a single rearrangement flags exactly this many particles
    interval: float = 1.0  # time between frames (instantaneous exposures)


@dataclass
class UnitStats:
    """Additive statistics of one unit (see module docstring); ``+`` adds two units."""

    arrays: dict

    def __add__(self, other: "UnitStats") -> "UnitStats":
        return UnitStats({k: self.arrays[k] + other.arrays[k] for k in self.arrays})

    def add(self, arrays: dict) -> None:
        for k, v in arrays.items():
            self.arrays[k] += v


def empty_statistics(st: Settings) -> dict:
    nb, nc, nrt, npb, p = st.rate_edges.size - 1, st.corr_bins.n, st.rt_bins.n, st.pair_bins.n, N_FEATURES
    z = np.zeros
    return {
        # P(R|S): exposure (time, or site-frames for sustained data), rearrangements (instantaneous:
        # the extrapolated pseudo-count), exposure-weighted softness; raw counts for the report
        "rate_T": z(nb), "rate_k": z(nb), "rate_s": z(nb), "rate_k1": z(nb), "rate_k2": z(nb), "rate_k3": z(nb),
        "repeats": z(2),  # instantaneous frames: flagged particles, and those flagged again in the next frame
        "moments": z(5),  # weight, sum S, S^2, S^3, S^4
        "corr_sum": z(nc), "corr_n": z(nc), "corr_r": z(nc),  # corr_r: sum of pair distances (the bin's mean r)
        # kick regressions: one row per rt bin, then the background of windows without rearrangements
        # (row nrt) and of particles beyond r_background in windows with one (row nrt + 1)
        "XtX": z((nrt + 2, p, p)), "Xty": z((nrt + 2, p)), "yty": z(nrt + 2), "kick_n": z(nrt + 2), "rt_sum": z(nrt + 2),
        # pairs (i rearranging, j): by (r_ij bin, rt_j bin)
        "pXX": z((npb, nrt, p, p)), "pXy": z((npb, nrt, p)), "pyX": z((npb, nrt, p)), "pyy": z((npb, nrt)), "pn": z((npb, nrt)), "pr_sum": z((npb, nrt)),
        # background pairs by r bin
        "bXX": z((npb, p, p)), "bXy": z((npb, p)), "byX": z((npb, p)), "byy": z(npb), "bn": z(npb),
        "runs": z(2),  # sustained data: completed runs of rearranging frames, their total length (frames)
        # rearrangements used for the kick, their particles, windows without rearrangement, rearrangements seen
        "windows": z(4),
    }


def add_at(a: np.ndarray, idx: np.ndarray, v: np.ndarray) -> None:
    """a[idx] += v with repeated idx along axis 0 (one bincount; much faster than np.add.at)."""
    n = a.shape[0]
    flat = v.reshape(v.shape[0], -1)
    c = flat.shape[1]
    cell = (idx[:, None] * c + np.arange(c)[None, :]).ravel()
    a.reshape(n, c)[...] += np.bincount(cell, weights=flat.ravel(), minlength=n * c).reshape(n, c)


def sustained_runs(flags: np.ndarray) -> tuple[float, float]:
    """Completed runs of consecutive flagged frames (not touching either end): (count, total length)."""
    f = flags.astype(np.int8)
    d = np.diff(f, axis=0)
    count = total = 0.0
    for j in range(f.shape[1]):
        starts = np.flatnonzero(d[:, j] == 1) + 1
        ends = np.flatnonzero(d[:, j] == -1) + 1
        if starts.size == 0 or ends.size == 0:
            continue
        ends = ends[ends > starts[0]]
        m = min(starts.size, ends.size)
        count += m
        total += float((ends[:m] - starts[:m]).sum())
    return count, total


def rate_bin(st: Settings, s: np.ndarray) -> np.ndarray:
    """P(R|S) bin of each softness (equal widths: by arithmetic; values outside go to the end bins)."""
    e = st.rate_edges
    nb = e.size - 1
    return np.clip(((s - e[0]) * (nb / (e[-1] - e[0]))).astype(np.int64), 0, nb - 1)


def frame_series(frames: np.ndarray) -> np.ndarray:
    """(n, 2): each frame's site mean and site variance (the slowest modes; trsp_fit.units)."""
    return np.stack([frames.mean(axis=1), frames.var(axis=1)], axis=1) if frames.shape[0] else np.zeros((0, 2))


def block_statistics(blk: Block, n_frames: int, kind: str, st: Settings, lattice: dict | None, pairs: PairList | None, box: np.ndarray,
                     series: list | None = None) -> dict:
    """The statistics of the frames ``blk.own`` (windows may read the block's padding frames).

    ``n_frames``: the file's frame count; ``lattice``: {"L", "spacing"} when the particles sit
    exactly on an L^dim lattice (FFT for C_S); ``pairs``: the pair list within the largest cutoff
    when the particles do not move (computed once per file); ``series``: the C_S frames' site
    means and variances are appended to it (:func:`frame_series`)."""
    out = empty_statistics(st)
    S, F = blk.softness, blk.rearranging
    lo, hi = blk.own
    off = blk.start  # local index = global - off
    # ---------------------------------------------------------------- moments, C_S(r)
    first = lo + (-lo) % st.corr_stride
    ks = np.arange(first, hi, st.corr_stride)  # every corr_stride-th frame of the file
    c = S[ks - off]
    out["moments"] += [c.size, c.sum(), (c**2).sum(), (c**3).sum(), (c**4).sum()]
    if series is not None:
        series.append(frame_series(c))
    # C_S(r) from each frame centred on its own site mean: the slow global mode of a small
    # periodic box drops out, and the estimator's expectation is known exactly,
    # C(r) - 1^T K 1 / N^2 (trsp_fit.estimate.correlation_fit, docs/fit.md)
    c = c - c.mean(axis=1, keepdims=True)
    if lattice is not None and c.shape[0]:
        L, a = lattice["L"], lattice["spacing"]
        s, n = lattice_pair_sums(c, box.shape[0], L, a, st.corr_bins)
        out["corr_sum"] += s
        out["corr_n"] += n
        out["corr_r"] += n * st.corr_bins.centers  # lattice bins hold one exact distance
    elif c.shape[0]:
        out["corr_sum"][0] += (c**2).sum()
        out["corr_n"][0] += c.size
        r_max = st.corr_bins.edges[-1]
        if blk.positions.ndim == 2:  # fixed particles: one pair list, one product for all frames
            frame_sets = [(pairs if pairs is not None else pair_list(blk.positions, box, r_max), c)]
        else:
            frame_sets = [(pair_list(blk.positions[k - off], box, r_max), c[i : i + 1]) for i, k in enumerate(ks)]
        for pl, fr in frame_sets:
            b = st.corr_bins.index(pl.r)
            ok = b >= 0
            prod = np.einsum("ki,ki->i", fr[:, pl.i[ok]], fr[:, pl.j[ok]])
            w = float(fr.shape[0])
            out["corr_sum"] += np.bincount(b[ok], weights=prod, minlength=st.corr_bins.n)
            out["corr_n"] += np.bincount(b[ok], minlength=st.corr_bins.n) * w
            out["corr_r"] += np.bincount(b[ok], weights=pl.r[ok], minlength=st.corr_bins.n) * w
    # ---------------------------------------------------------------- P(R|S)
    nb = st.rate_edges.size - 1
    if kind == "instantaneous":
        ks = np.arange(lo, min(hi, n_frames - 3))  # intervals starting at k: S(t_k), flags of k+1, k+2, k+3
        s_exp = S[ks - off].ravel()
        F1, F2, F3 = F[ks + 1 - off], F[ks + 2 - off], F[ks + 3 - off]
        bi = rate_bin(st, s_exp)
        dt = st.interval
        k1 = np.bincount(bi, weights=F1.ravel().astype(np.float64), minlength=nb)
        k2 = np.bincount(bi, weights=(F2 & ~F1).ravel().astype(np.float64), minlength=nb)
        k3 = np.bincount(bi, weights=(F3 & ~F2 & ~F1).ravel().astype(np.float64), minlength=nb)
        out["rate_T"] += np.bincount(bi, minlength=nb) * dt
        out["rate_s"] += np.bincount(bi, weights=s_exp, minlength=nb) * dt
        out["rate_k1"] += k1
        out["rate_k2"] += k2
        out["rate_k3"] += k3
        out["rate_k"] += INTERVAL_WEIGHTS[0] * k1 + INTERVAL_WEIGHTS[1] * k2  # proofs/fit_interval.py
        out["repeats"] += [F1.sum(), (F1 & F2).sum()]
    else:
        s_exp, f_exp = S[lo - off : hi - off].ravel(), F[lo - off : hi - off].ravel()
        bi = rate_bin(st, s_exp)
        out["rate_T"] += np.bincount(bi, minlength=nb)
        out["rate_s"] += np.bincount(bi, weights=s_exp, minlength=nb)
        k = np.bincount(bi, weights=f_exp.astype(np.float64), minlength=nb)
        out["rate_k"] += k
        out["rate_k1"] += k
        a, b = max(lo - 1, 0) - off, min(hi + 1, n_frames) - off
        out["runs"] += sustained_runs(F[a:b])  # runs seen from this block (edges shared with neighbours)
    # ---------------------------------------------------------------- kicks
    ks = np.arange(max(lo, st.before, 1), min(hi, n_frames - st.after))
    if ks.size:
        _kick_statistics(out, blk, ks, kind, st, pairs, box)
    return out


# ---------------------------------------------------------------------------- kicks


def _neighbour_mean_operator(pl: PairList, N: int, radius: float) -> scipy.sparse.csr_matrix:
    """The (N, N) matrix that averages a field over each particle's neighbours within ``radius``."""
    near = pl.r <= radius
    A = scipy.sparse.csr_matrix((np.ones(int(near.sum())), (pl.i[near], pl.j[near])), shape=(N, N))
    deg = np.maximum(np.asarray(A.sum(axis=1)).ravel(), 1.0)
    return scipy.sparse.diags(1.0 / deg) @ A


def _first_min(key: np.ndarray, r: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Per key in [0, size): the smallest r (inf where none) and the row holding it (-1 where none)."""
    best = np.full(size, np.inf)
    row = np.full(size, -1, dtype=np.int64)
    if key.size:
        order = np.lexsort((r, key))
        ks = key[order]
        first = np.r_[True, ks[1:] != ks[:-1]]
        best[ks[first]] = r[order][first]
        row[ks[first]] = order[first]
    return best, row


def _kick_statistics(out: dict, blk: Block, ks: np.ndarray, kind: str, st: Settings, pairs: PairList | None, box: np.ndarray) -> None:
    off = blk.start
    F = blk.rearranging
    U = F[ks - off]  # the detected rearranging particles of frame k
    R = U if kind == "instantaneous" else U & ~F[ks - 1 - off]  # onsets
    has = R.any(axis=1)
    quiet = ~U.any(axis=1)  # no detected rearrangement: background windows
    # background windows are plentiful and alike: every bg_stride-th frame's (by frame index, so the
    # choice does not depend on how the file is cut into blocks); frames with flagged particles but no
    # onset are neither kick nor background windows
    keep = has | (quiet & (ks % st.bg_stride == 0))
    ks, U, R, has, quiet = ks[keep], U[keep], R[keep], has[keep], quiet[keep]
    empty = np.flatnonzero(quiet)
    out["windows"][2] += empty.size
    take = quiet & (ks % (st.bg_stride * st.bg_pair_stride) == 0)
    r_cut = max(st.r_background, st.pair_bins.edges[-1], st.neighbour_radius)
    N = blk.softness.shape[1]
    if blk.positions.ndim == 2:
        pl = pairs if pairs is not None else pair_list(blk.positions, box, r_cut)
        nbr_op = _neighbour_mean_operator(pl, N, st.neighbour_radius)
        step = max(1, WINDOW_VALUES // N)
        for sel in (np.flatnonzero(has), empty):
            for c in range(0, sel.size, step):
                w = sel[c : c + step]
                _kick_windows(out, blk, ks[w], U[w], R[w], st, pl, nbr_op, take[w])
    else:
        for n, k in enumerate(ks):
            pl = pair_list(blk.positions[k - st.before - off], box, r_cut)
            nbr_op = _neighbour_mean_operator(pl, N, st.neighbour_radius)
            _kick_windows(out, blk, ks[n : n + 1], U[n : n + 1], R[n : n + 1], st, pl, nbr_op, take[n : n + 1])


def _groups(U: np.ndarray, R: np.ndarray, pl: PairList, st: Settings):
    """Connected groups of the flagged particles of each window (links <= neighbour radius).

    Returns (w_u, i_u, label, good): the flagged (window, particle) entries, each one's group
    label, and per label whether the group is a single rearrangement (has onsets, and the cluster's
    size on lattice data)."""
    W, N = U.shape
    w_u, i_u = np.nonzero(U)
    node = np.full(U.shape, -1, dtype=np.int64)
    node[w_u, i_u] = np.arange(w_u.size)
    if not st.isolation:  # every window's flagged particles are one rearrangement
        label = w_u.copy()
    else:
        near = pl.r <= st.neighbour_radius
        off = np.concatenate(([0], np.cumsum(np.bincount(pl.i[near], minlength=N))))
        pi, pj = pl.i[near], pl.j[near]
        cnt = off[i_u + 1] - off[i_u]
        rows = np.repeat(off[i_u], cnt) + (np.arange(cnt.sum()) - np.repeat(np.cumsum(cnt) - cnt, cnt))
        ew, ej = np.repeat(w_u, cnt), pj[rows]
        ei = pi[rows]
        both = U[ew, ej]
        g = scipy.sparse.csr_matrix((np.ones(int(both.sum())), (node[ew[both], ei[both]], node[ew[both], ej[both]])), shape=(w_u.size, w_u.size))
        _, label = connected_components(g, directed=False)
    n_lab = int(label.max()) + 1 if label.size else 0
    onset = R[w_u, i_u]
    n_on = np.bincount(label, weights=onset.astype(np.float64), minlength=n_lab)
    size = np.bincount(label, minlength=n_lab)
    good = n_on > 0
    if st.isolation and st.cluster_size is not None:
        good &= (n_on == st.cluster_size) & (size == st.cluster_size)
    return w_u, i_u, label, good, onset


def _kick_windows(out: dict, blk: Block, ks: np.ndarray, U: np.ndarray, R: np.ndarray, st: Settings, pl: PairList,
                  nbr_op, take: np.ndarray) -> None:
    off = blk.start
    S = blk.softness
    W, N = U.shape
    if W == 0:
        return
    Sb = S[ks - st.before - off]  # (W, N) before
    dS = S[ks + st.after - off] - Sb
    nbr = np.asarray((nbr_op @ Sb.T).T)  # (W, N)
    nrt = st.rt_bins.n
    if not U.any():  # background only: every particle, no rearranging-mean regressor
        X = np.stack([np.ones((W, N)), Sb, nbr, np.zeros((W, N))], axis=-1)
        Xb, yb = X.reshape(-1, X.shape[-1]), dS.ravel()
        out["XtX"][nrt] += Xb.T @ Xb
        out["Xty"][nrt] += Xb.T @ yb
        out["yty"][nrt] += yb @ yb
        out["kick_n"][nrt] += yb.size
        _background_pairs(out, st, pl, X[take], dS[take])
        return
    w_u, i_u, label, good, onset = _groups(U, R, pl, st)
    lab_of = np.full((W, N), -1, dtype=np.int64)
    lab_of[w_u, i_u] = label
    # flagged particles joined with their neighbour lists: rows (w, u, j, r), plus u itself at r = 0
    po = pl.offsets()
    cnt = po[i_u + 1] - po[i_u]
    rows = np.repeat(po[i_u], cnt) + (np.arange(cnt.sum()) - np.repeat(np.cumsum(cnt) - cnt, cnt))
    rw = np.concatenate([np.repeat(w_u, cnt), w_u])
    ru = np.concatenate([np.repeat(i_u, cnt), i_u])
    rj = np.concatenate([pl.j[rows], i_u])
    rr = np.concatenate([pl.r[rows], np.zeros(i_u.size)])
    rl = lab_of[rw, ru]
    ron = np.concatenate([np.repeat(onset, cnt), onset])
    key = rw * N + rj
    # nearest onset of a single rearrangement: rt_j and j's rearrangement
    src = good[rl] & ron
    rt, row = _first_min(key[src], rr[src], W * N)
    own = np.full(W * N, -1, dtype=np.int64)
    own[row >= 0] = rl[src][row[row >= 0]]
    rt_all, _ = _first_min(key, rr, W * N)  # nearest flagged particle of any group
    used = (rt <= st.r_background) & (st.rt_bins.index(np.where(np.isfinite(rt), rt, 0.0)) >= 0)
    if st.isolation:  # no other group within rt_j + margin (as far as the neighbour lists reach)
        other = rl != own[key]
        d_other, _ = _first_min(key[other], rr[other], W * N)
        reach = np.minimum(rt + st.isolation_margin, np.max(pl.r) if pl.r.size else 0.0)
        used &= d_other > reach
    used = used.reshape(W, N)
    rt, own, rt_all = rt.reshape(W, N), own.reshape(W, N), rt_all.reshape(W, N)
    n_used = np.unique(own[used])
    out["windows"][0] += n_used.size
    out["windows"][1] += np.isin(label, n_used)[onset].sum() if n_used.size else 0
    out["windows"][3] += int((np.bincount(label) > 0).sum()) if label.size else 0
    # the rearranging-mean regressor: onsets of j's own rearrangement within rt_j + neighbour radius
    g_sel = src & (rr <= rt.ravel()[key] + st.neighbour_radius) & (own.ravel()[key] == rl)
    gsum = np.bincount(key[g_sel], weights=Sb[rw[g_sel], ru[g_sel]], minlength=W * N).reshape(W, N)
    gcnt = np.bincount(key[g_sel], minlength=W * N).reshape(W, N)
    g = np.where(gcnt > 0, gsum / np.maximum(gcnt, 1), 0.0)
    # particles far from every flagged particle: the second kind of background
    far = rt_all > st.r_background
    wf, jf = np.nonzero(far)
    if wf.size:
        Xb = np.stack([np.ones(wf.size), Sb[wf, jf], nbr[wf, jf], np.zeros(wf.size)], axis=-1)
        yb = dS[wf, jf]
        out["XtX"][nrt + 1] += Xb.T @ Xb
        out["Xty"][nrt + 1] += Xb.T @ yb
        out["yty"][nrt + 1] += yb @ yb
        out["kick_n"][nrt + 1] += yb.size
    wu, ju = np.nonzero(used)
    if wu.size == 0:
        return
    Xu = np.stack([np.ones(wu.size), Sb[wu, ju], nbr[wu, ju], g[wu, ju]], axis=-1)
    yu = dS[wu, ju]
    idx = st.rt_bins.index(rt[wu, ju])
    add_at(out["XtX"], idx, Xu[:, :, None] * Xu[:, None, :])
    add_at(out["Xty"], idx, Xu * yu[:, None])
    out["yty"] += np.bincount(idx, weights=yu * yu, minlength=nrt + 2)
    out["kick_n"] += np.bincount(idx, minlength=nrt + 2)
    out["rt_sum"] += np.bincount(idx, weights=rt[wu, ju], minlength=nrt + 2)
    # pairs for rho: i an onset of a single rearrangement, j used for the same one (j = i excluded: sigma0^2)
    slot = np.full((W, N), -1, dtype=np.int64)
    slot[wu, ju] = np.arange(wu.size)
    pb = st.pair_bins.index(rr)
    pair = src & (pb >= 1) & (slot[rw, rj] >= 0) & (own[rw, rj] == rl) & (slot[rw, ru] >= 0)
    if pair.any():
        a, b = slot[rw[pair], ru[pair]], slot[rw[pair], rj[pair]]
        xi_, xj_, yi_, yj_ = Xu[a], Xu[b], yu[a], yu[b]
        cell = pb[pair] * nrt + idx[b]
        p = N_FEATURES
        ncell = st.pair_bins.n * nrt
        add_at(out["pXX"].reshape(ncell, p, p), cell, xi_[:, :, None] * xj_[:, None, :])
        add_at(out["pXy"].reshape(ncell, p), cell, xi_ * yj_[:, None])
        add_at(out["pyX"].reshape(ncell, p), cell, yi_[:, None] * xj_)
        out["pyy"] += np.bincount(cell, weights=yi_ * yj_, minlength=ncell).reshape(out["pyy"].shape)
        out["pn"] += np.bincount(cell, minlength=ncell).reshape(out["pn"].shape)
        out["pr_sum"] += np.bincount(cell, weights=rr[pair], minlength=ncell).reshape(out["pn"].shape)


def _background_pairs(out: dict, st: Settings, pl: PairList, X: np.ndarray, dS: np.ndarray) -> None:
    """Pair cross-products by distance in background windows (X: (w, N, p), dS: (w, N)).

    Per pair bin b with A_b the (N, N) matrix of the pairs (i, j) in b: sum x_i x_j^T = sum_w X_w^T A_b X_w,
    and likewise with dS; one sparse product per bin instead of a row per (window, pair)."""
    w, N, p = X.shape
    if w == 0:
        return
    pbb = st.pair_bins.index(pl.r)
    Z = np.concatenate([X, dS[..., None]], axis=-1).transpose(1, 0, 2).reshape(N, w * (p + 1))  # (N, w (p + 1))
    for b in range(1, st.pair_bins.n):
        sel = pbb == b
        if not sel.any():
            continue
        A = scipy.sparse.csr_matrix((np.ones(int(sel.sum())), (pl.i[sel], pl.j[sel])), shape=(N, N))
        AZ = (A @ Z).reshape(N, w, p + 1).reshape(N * w, p + 1)
        G = Z.reshape(N, w, p + 1).reshape(N * w, p + 1).T @ AZ  # (p + 1, p + 1): [x; y]_i [x; y]_j^T summed
        out["bXX"][b] += G[:p, :p]
        out["bXy"][b] += G[:p, p]
        out["byX"][b] += G[p, :p]
        out["byy"][b] += G[p, p]
        out["bn"][b] += sel.sum() * w
