"""Sufficient statistics of one stretch of a trajectory (a "unit": one block of frames of one file).

Everything ``trsp fit`` estimates is a smooth function of sums over units (histograms,
moments, cross-products of regressions), so a bootstrap over files/blocks only re-adds
unit sums (:mod:`trsp_fit.pipeline`) instead of re-reading data.

Kick data (Sec. V, Appendix E): for every frame k whose interval holds rearranging particles
R_k (instantaneous data: flagged at k; sustained data: onsets, flagged at k and not at k-1),
dS_j = S_j(k + after) - S_j(k - before) for every particle j, with its distance rt_j to the
nearest particle of R_k and the regressors x_j = [1, S_j, mean S of j's neighbours, mean S
of the rearranging particles near j] taken before.  Windows whose interval holds no
rearrangement (and particles farther than ``r_background``) are the background.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse

from .neighbours import DistanceBins, PairList, lattice_pair_sums, pair_list
from .particles import ParticleData

__all__ = ["Settings", "UnitStats", "unit_statistics", "N_FEATURES", "FEATURES"]

#: the kick regressors (module docstring); the model's drift H (mu' - S) at j is linear in the
#: softness near j and near the rearrangement, which these summarize
FEATURES = ("1", "S_j", "neighbour mean S", "rearranging mean S")
N_FEATURES = len(FEATURES)
#: windows processed together (memory: WINDOW_CHUNK x N x N_FEATURES doubles)
WINDOW_CHUNK = 1024
#: up to this many fixed particles the kick statistics use a dense distance matrix (faster)
DENSE_MAX = 2048


@dataclass(frozen=True)
class Settings:
    """What the statistics are binned on (fixed for all units of one fit)."""

    rate_edges: np.ndarray  # softness bin edges for P(R|S)
    corr_bins: DistanceBins  # C_S(r)
    rt_bins: DistanceBins  # distance to the nearest rearranging particle
    pair_bins: DistanceBins  # rearranging particle - neighbour distance (rho)
    r_background: float  # particles farther than this from every rearranging particle are background
    neighbour_radius: float  # the neighbourhood of the "neighbour mean S" regressor
    before: int  # frames before the rearrangement's interval: S before = S(k - before)
    after: int  # frames after: S after = S(k + after)
    bg_pair_windows: int = 100  # background windows used for background pair covariances, per unit
    bg_windows: int = 5000  # background windows (no rearrangement) used per unit, at most
    corr_stride: int = 1  # C_S(r) and the moments of S from every corr_stride-th frame
    isolated_only: bool = True  # kick statistics from intervals with one connected group of rearranging particles


@dataclass
class UnitStats:
    """Additive statistics of one unit (see module docstring); ``+`` adds two units."""

    arrays: dict

    def __add__(self, other: "UnitStats") -> "UnitStats":
        return UnitStats({k: self.arrays[k] + other.arrays[k] for k in self.arrays})

    def scaled(self, w: float) -> "UnitStats":
        return UnitStats({k: v * w for k, v in self.arrays.items()})


def _empty(st: Settings) -> dict:
    nb, nc, nrt, npb, p = st.rate_edges.size - 1, st.corr_bins.n, st.rt_bins.n, st.pair_bins.n, N_FEATURES
    z = np.zeros
    return {
        "rate_n": z(nb), "rate_k": z(nb), "rate_s": z(nb),
        "moments": z(5),  # count, sum S, S^2, S^3, S^4
        "corr_sum": z(nc), "corr_n": z(nc), "corr_r": z(nc),  # corr_r: sum of pair distances (the bin's mean r)
        # kick regressions: one row per rt bin, then the background of windows without rearrangements
        # (row nrt) and of particles beyond r_background in windows with one (row nrt + 1)
        "XtX": z((nrt + 2, p, p)), "Xty": z((nrt + 2, p)), "yty": z(nrt + 2), "kick_n": z(nrt + 2), "rt_sum": z(nrt + 2),
        # pairs (i rearranging, j): by (r_ij bin, rt_j bin)
        "pXX": z((npb, nrt, p, p)), "pXy": z((npb, nrt, p)), "pyX": z((npb, nrt, p)), "pyy": z((npb, nrt)), "pn": z((npb, nrt)), "pr_sum": z((npb, nrt)),
        # background pairs by r bin
        "bXX": z((npb, p, p)), "bXy": z((npb, p)), "byX": z((npb, p)), "byy": z(npb), "bn": z(npb),
        "runs": z(2),  # sustained data: completed runs of rearranging frames, their total length (frames)
        "windows": z(3),  # windows with one rearrangement, rearranging particles in them, windows without
    }


def _add_at(a: np.ndarray, idx: np.ndarray, v: np.ndarray) -> None:
    """a[idx] += v with repeated idx along axis 0 (one bincount; much faster than np.add.at)."""
    n = a.shape[0]
    flat = v.reshape(v.shape[0], -1)
    c = flat.shape[1]
    cell = (idx[:, None] * c + np.arange(c)[None, :]).ravel()
    a.reshape(n, c)[...] += np.bincount(cell, weights=flat.ravel(), minlength=n * c).reshape(n, c)


def _sustained_runs(flags: np.ndarray) -> tuple[float, float]:
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


def unit_statistics(data: ParticleData, frames: slice, st: Settings, lattice: bool, pairs: PairList | None) -> UnitStats:
    """The statistics of frames ``frames`` of ``data`` (windows are centred in the block; their
    before/after frames may reach outside it).  ``lattice``: particles sit exactly on an
    L^dim lattice (FFT for C_S).  ``pairs``: the pair list within the largest cutoff when the
    particles do not move (computed once per file)."""
    out = _empty(st)
    S, F = data.softness, data.rearranging
    K = data.n_frames
    k0, k1 = frames.start, frames.stop
    # ---------------------------------------------------------------- moments, C_S(r)
    block = S[k0:k1:st.corr_stride]  # neighbouring frames are nearly the same field
    c = block
    out["moments"] += [c.size, c.sum(), (c**2).sum(), (c**3).sum(), (c**4).sum()]
    if lattice:
        L, a = data.lattice["L"], data.lattice["spacing"]
        s, n = lattice_pair_sums(block, data.dim, L, a, st.corr_bins)
        out["corr_sum"] += s
        out["corr_n"] += n
        out["corr_r"] += n * st.corr_bins.centers  # lattice bins hold one exact distance
    else:
        out["corr_sum"][0] += (block**2).sum()
        out["corr_n"][0] += block.size
        for k, pl in _frame_pairs(data, range(k0, k1, st.corr_stride), pairs, st.corr_bins.edges[-1]):
            frames_here = block if k is None else S[k : k + 1]
            b = st.corr_bins.index(pl.r)
            ok = b >= 0
            if k is None:  # fixed particles: one Gram matrix for the whole block
                prod = np.einsum("ki,ki->i", frames_here[:, pl.i[ok]], frames_here[:, pl.j[ok]])
                w = frames_here.shape[0]
            else:
                prod = frames_here[0, pl.i[ok]] * frames_here[0, pl.j[ok]]
                w = 1
            out["corr_sum"] += np.bincount(b[ok], weights=prod, minlength=st.corr_bins.n)
            out["corr_n"] += np.bincount(b[ok], minlength=st.corr_bins.n) * float(w)
            out["corr_r"] += np.bincount(b[ok], weights=pl.r[ok], minlength=st.corr_bins.n) * float(w)
    # ---------------------------------------------------------------- P(R|S)
    nb = st.rate_edges.size - 1
    if data.kind == "instantaneous":
        lo = max(k0, 1)
        s_exp, f_exp = S[lo - 1 : k1 - 1], F[lo:k1]
    else:
        s_exp, f_exp = S[k0:k1], F[k0:k1]
    e = st.rate_edges  # equal widths: the bin by arithmetic (a searchsorted costs more)
    bi = np.clip(((s_exp.ravel() - e[0]) * (nb / (e[-1] - e[0]))).astype(np.int64), 0, nb - 1)
    out["rate_n"] += np.bincount(bi, minlength=nb)
    out["rate_k"] += np.bincount(bi, weights=f_exp.ravel().astype(np.float64), minlength=nb)
    out["rate_s"] += np.bincount(bi, weights=s_exp.ravel(), minlength=nb)
    if data.kind == "sustained":
        lo, hi = max(k0 - 1, 0), min(k1 + 1, K)
        out["runs"] += _sustained_runs(F[lo:hi])  # runs seen from this block (edges shared with neighbours)
    # ---------------------------------------------------------------- kicks
    ks = np.arange(max(k0, st.before, 1), min(k1, K - st.after))
    if ks.size:
        if data.kind == "instantaneous":
            R = F[ks]
        else:
            R = F[ks] & ~F[ks - 1]
        _kick_statistics(out, data, ks, R, st, pairs)
    return UnitStats(out)


def _frame_pairs(data: ParticleData, ks, pairs: PairList | None, r_max: float):
    """(None, pairs) once for fixed particles, else (k, pairs at frame k) for each frame."""
    if data.static:
        yield None, pairs if pairs is not None else pair_list(data.positions, data.box, r_max)
        return
    for k in ks:
        yield k, pair_list(data.positions[k], data.box, r_max)


def _kick_statistics(out: dict, data: ParticleData, ks: np.ndarray, R: np.ndarray, st: Settings, pairs: PairList | None) -> None:
    r_cut = max(st.r_background, st.pair_bins.edges[-1], st.neighbour_radius)
    if st.isolated_only:
        if data.n_rearrangements is not None:  # the producer says how many rearrangements each interval holds
            single = data.n_rearrangements[ks] == 1
        else:
            single = _single_group(R, data, ks, st, pairs, r_cut)
        multiple = R.any(axis=1) & ~single
        ks, R = ks[~multiple], R[~multiple]  # neither a rearrangement window nor background
    has = R.any(axis=1)
    empty = np.flatnonzero(~has)
    if empty.size > st.bg_windows:  # background windows are plentiful and alike: an even subsample
        keep = np.zeros(ks.size, dtype=bool)
        keep[has] = True
        keep[empty[np.linspace(0, empty.size - 1, st.bg_windows).astype(np.int64)]] = True
        ks, R, has = ks[keep], R[keep], has[keep]
        empty = np.flatnonzero(~has)
    take = np.zeros(ks.size, dtype=bool)
    if empty.size:
        take[empty[:: max(1, empty.size // st.bg_pair_windows)][: st.bg_pair_windows]] = True
    out["windows"] += [np.count_nonzero(has), np.count_nonzero(R), empty.size]
    if data.static:
        pl = pairs if pairs is not None else pair_list(data.positions, data.box, r_cut)
        nbr_op = _neighbour_mean_operator(pl, data.n_particles, st.neighbour_radius)
        dense = _dense_distances(data) if data.n_particles <= DENSE_MAX else None
        for sel in (np.flatnonzero(has), empty):  # windows with rearrangements; background-only windows
            for c in range(0, sel.size, WINDOW_CHUNK):  # bounded memory: (chunk, N, features) at a time
                w = sel[c : c + WINDOW_CHUNK]
                _kick_windows(out, data, ks[w], R[w], st, pl, nbr_op, take[w], dense)
    else:
        for n, k in enumerate(ks):
            pl = pair_list(data.positions[k - st.before], data.box, r_cut)
            nbr_op = _neighbour_mean_operator(pl, data.n_particles, st.neighbour_radius)
            _kick_windows(out, data, ks[n : n + 1], R[n : n + 1], st, pl, nbr_op, take[n : n + 1])


def _single_group(R: np.ndarray, data: ParticleData, ks: np.ndarray, st: Settings, pairs: PairList | None, r_cut: float) -> np.ndarray:
    """Windows whose rearranging particles form one connected group (links <= neighbour_radius).

    Two rearrangements in one interval superpose their kicks; Eq. 30 describes one.  Windows
    with several groups are left out of the kick statistics (their interval is neither a
    rearrangement window nor background)."""
    from scipy.sparse.csgraph import connected_components

    N = data.n_particles
    if not data.static:
        out = np.zeros(R.shape[0], dtype=bool)
        for w in np.flatnonzero(R.any(axis=1)):
            pl = pair_list(data.positions[ks[w] - st.before], data.box, r_cut)
            out[w] = _single_group(R[w : w + 1], _static_view(data, ks[w] - st.before), ks[w : w + 1], st, pl, r_cut)[0]
        return out
    pl = pairs if pairs is not None else pair_list(data.positions, data.box, r_cut)
    near = pl.r <= st.neighbour_radius
    pi, pj = pl.i[near], pl.j[near]
    off = np.concatenate(([0], np.cumsum(np.bincount(pi, minlength=N))))
    w_m, i_m = np.nonzero(R)
    cnt = off[i_m + 1] - off[i_m]
    rows = np.repeat(off[i_m], cnt) + (np.arange(cnt.sum()) - np.repeat(np.cumsum(cnt) - cnt, cnt))
    ew, ei, ej = np.repeat(w_m, cnt), pi[rows], pj[rows]
    both = R[ew, ej]
    node = np.full(R.shape, -1, dtype=np.int64)
    node[w_m, i_m] = np.arange(w_m.size)
    g = scipy.sparse.csr_matrix((np.ones(int(both.sum())), (node[ew[both], ei[both]], node[ew[both], ej[both]])), shape=(w_m.size, w_m.size))
    _, labels = connected_components(g, directed=False)
    groups = np.bincount(w_m, minlength=R.shape[0])  # members per window
    n_groups = np.zeros(R.shape[0], dtype=np.int64)
    np.add.at(n_groups, w_m[np.unique(labels, return_index=True)[1]], 1)
    return (groups > 0) & (n_groups == 1)


def _static_view(data: ParticleData, k: int) -> ParticleData:
    """The data with the particles frozen at frame k (for per-frame neighbour work)."""
    from dataclasses import replace

    return replace(data, positions=data.positions[k])


def _dense_distances(data: ParticleData) -> np.ndarray:
    """All minimum-image distances between the (fixed) particles, (N, N)."""
    pos = data.positions
    d = pos[:, None, :] - pos[None, :, :]
    d -= data.box * np.round(d / data.box)
    return np.sqrt((d * d).sum(axis=-1))


def _neighbour_mean_operator(pl: PairList, N: int, radius: float) -> scipy.sparse.csr_matrix:
    """The (N, N) matrix that averages a field over each particle's neighbours within ``radius``."""
    near = pl.r <= radius
    A = scipy.sparse.csr_matrix((np.ones(int(near.sum())), (pl.i[near], pl.j[near])), shape=(N, N))
    deg = np.maximum(np.asarray(A.sum(axis=1)).ravel(), 1.0)
    return scipy.sparse.diags(1.0 / deg) @ A


def _kick_windows(out: dict, data: ParticleData, ks: np.ndarray, R: np.ndarray, st: Settings, pl: PairList,
                  nbr_op, take: np.ndarray, dense: np.ndarray | None = None) -> None:
    S = data.softness
    N = data.n_particles
    W = ks.size
    if W == 0:
        return
    Sb = S[ks - st.before]  # (W, N) before
    dS = S[ks + st.after] - Sb
    nbr = np.asarray((nbr_op @ Sb.T).T)  # (W, N)
    nrt = st.rt_bins.n
    if not R.any():  # background only: every particle, no rearranging-mean regressor
        X = np.stack([np.ones((W, N)), Sb, nbr, np.zeros((W, N))], axis=-1)
        Xb, yb = X.reshape(-1, X.shape[-1]), dS.ravel()
        out["XtX"][nrt] += Xb.T @ Xb
        out["Xty"][nrt] += Xb.T @ yb
        out["yty"][nrt] += yb @ yb
        out["kick_n"][nrt] += yb.size
        _background_pairs(out, st, pl, X[take], dS[take])
        return
    w_m, i_m = np.nonzero(R)
    if dense is not None:  # small systems: distances from a dense matrix, (window, member, particle) at once
        counts = np.bincount(w_m, minlength=W)
        slot = np.arange(w_m.size) - np.repeat(np.cumsum(counts) - counts, counts)
        M = np.full((W, int(counts.max())), -1, dtype=np.int64)
        M[w_m, slot] = i_m
        valid = M >= 0
        Mi = np.where(valid, M, 0)
        Dm = np.where(valid[..., None], dense[Mi], np.inf)  # (W, m, N)
        rt = Dm.min(axis=1)
        selm = Dm <= rt[:, None, :] + st.neighbour_radius
        Sm = np.where(valid, np.take_along_axis(Sb, Mi, axis=1), 0.0)
        gsum = np.einsum("wm,wmn->wn", Sm, selm)
        gcnt = selm.sum(axis=1).astype(np.float64)
        pw, ps, pj = np.nonzero((Dm > 0) & (Dm <= st.pair_bins.edges[-1]))
        pi, pr = M[pw, ps], Dm[pw, ps, pj]
    else:  # rearranging particles (w, i) joined with their neighbour lists (w, i, j, r)
        off = pl.offsets()
        cnt = off[i_m + 1] - off[i_m]
        rows = np.repeat(off[i_m], cnt) + (np.arange(cnt.sum()) - np.repeat(np.cumsum(cnt) - cnt, cnt))
        pw, pi, pj, pr = np.repeat(w_m, cnt), pl.i[rows], pl.j[rows], pl.r[rows]
        rt = np.full((W, N), np.inf)
        if pr.size:  # the smallest r per (window, particle): sort by r, keep the first of each
            flat = pw * N + pj
            order = np.lexsort((pr, flat))
            first = np.ones(order.size, dtype=bool)
            first[1:] = flat[order][1:] != flat[order][:-1]
            rt.ravel()[flat[order][first]] = pr[order][first]
        rt[w_m, i_m] = 0.0
        # mean S of the rearranging particles within rt_j + neighbour_radius of j (itself included)
        gsum = np.zeros((W, N))
        gcnt = np.zeros((W, N))
        gsum[w_m, i_m] += Sb[w_m, i_m]
        gcnt[w_m, i_m] += 1.0
        sel = pr <= rt[pw, pj] + st.neighbour_radius
        flat = pw[sel] * N + pj[sel]
        gsum += np.bincount(flat, weights=Sb[pw[sel], pi[sel]], minlength=W * N).reshape(W, N)
        gcnt += np.bincount(flat, minlength=W * N).reshape(W, N)
    g = np.where(gcnt > 0, gsum / np.maximum(gcnt, 1.0), 0.0)
    background = rt > st.r_background
    g[background] = 0.0
    X = np.stack([np.ones((W, N)), Sb, nbr, g], axis=-1)  # (W, N, p)
    rtb = st.rt_bins.index(np.where(np.isfinite(rt), rt, 0.0))
    rtb = np.where(background, nrt, rtb)
    # particles far from the rearrangement: the second kind of background
    Xb, yb = X[background], dS[background]
    out["XtX"][nrt + 1] += Xb.T @ Xb
    out["Xty"][nrt + 1] += Xb.T @ yb
    out["yty"][nrt + 1] += yb @ yb
    out["kick_n"][nrt + 1] += yb.size
    use = (rtb >= 0) & ~background
    idx, Xu, yu = rtb[use], X[use], dS[use]
    if idx.size:
        _add_at(out["XtX"], idx, Xu[:, :, None] * Xu[:, None, :])
        _add_at(out["Xty"], idx, Xu * yu[:, None])
        out["yty"] += np.bincount(idx, weights=yu * yu, minlength=nrt + 2)
        out["kick_n"] += np.bincount(idx, minlength=nrt + 2)
        out["rt_sum"] += np.bincount(idx, weights=rt[use], minlength=nrt + 2)
    # pairs for rho: i rearranging, j within the pair bins (j = i excluded: that is sigma0^2)
    pb = st.pair_bins.index(pr)
    jb = rtb[pw, pj]
    ok = (pb >= 1) & (jb >= 0) & (jb < nrt)
    p = N_FEATURES
    if ok.any():
        xi_, xj_ = X[pw[ok], pi[ok]], X[pw[ok], pj[ok]]
        yi_, yj_ = dS[pw[ok], pi[ok]], dS[pw[ok], pj[ok]]
        cell = pb[ok] * nrt + jb[ok]
        ncell = st.pair_bins.n * nrt
        _add_at(out["pXX"].reshape(ncell, p, p), cell, xi_[:, :, None] * xj_[:, None, :])
        _add_at(out["pXy"].reshape(ncell, p), cell, xi_ * yj_[:, None])
        _add_at(out["pyX"].reshape(ncell, p), cell, yi_[:, None] * xj_)
        out["pyy"] += np.bincount(cell, weights=yi_ * yj_, minlength=ncell).reshape(out["pyy"].shape)
        out["pn"] += np.bincount(cell, minlength=ncell).reshape(out["pn"].shape)
        out["pr_sum"] += np.bincount(cell, weights=pr[ok], minlength=ncell).reshape(out["pn"].shape)


def _background_pairs(out: dict, st: Settings, pl: PairList, X: np.ndarray, dS: np.ndarray) -> None:
    """Pair cross-products by distance in background windows (X: (w, N, p), dS: (w, N))."""
    if X.shape[0] == 0:
        return
    pbb = st.pair_bins.index(pl.r)
    okb = pbb >= 1
    bi_, bj_ = pl.i[okb], pl.j[okb]
    bb = np.tile(pbb[okb], X.shape[0])
    xi_, xj_ = X[:, bi_].reshape(-1, X.shape[-1]), X[:, bj_].reshape(-1, X.shape[-1])
    yi_, yj_ = dS[:, bi_].ravel(), dS[:, bj_].ravel()
    _add_at(out["bXX"], bb, xi_[:, :, None] * xj_[:, None, :])
    _add_at(out["bXy"], bb, xi_ * yj_[:, None])
    _add_at(out["byX"], bb, yi_[:, None] * xj_)
    out["byy"] += np.bincount(bb, weights=yi_ * yj_, minlength=st.pair_bins.n)
    out["bn"] += np.bincount(bb, minlength=st.pair_bins.n)
