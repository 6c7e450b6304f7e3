"""Numba kernels of the fast simulator (docs/fast.md).  Thin wrappers live in model.py / simulation.py.

The model is passed to every kernel as one tuple ``M`` of arrays, built by
:meth:`trsp_fast.model.FastModel._kernel_tuple`; the slot names below are the module
constants used to index it.  "T" is an orientation's list of *touched sites* at anchor 0
(the kick window W plus every site of every cluster whose rate a kick changes); per event
it is translated once and everything else refers to sites by their position in T.

    GRID   (3,) int64               the lattice as 3 axes; 2D is (1, L, L)
    CL     (n_orient, m, 3)         cluster site offsets from the anchor (site 0 = anchor)
    PAR    (7,) float64             A0, gamma0, delta0, duration, mean, log-rate limit, log(A0/duration)
    T_OFF, T_COORD                  T per orientation: coordinates in [0, n)
    W_OFF, W_T, W_ACT               window W (increasing site index at anchor 0) as T positions, and the
                                    row of each window site in A (-1: it never moves, sD = 0)
    A_OFF, A_T                      active sites A (window sites with sD > 0) as T positions
    C_T    (n_orient, m)            the firing cluster's sites as T positions
    Z_OFF, Z_T                      Z (sites within precision_radius of A) as T positions
    UT_*, U_*                       U^T and U in CSR: the reflection basis of A (trsp_fast.symmetry)
    VT_*                            V^T in CSR: the reflection basis of Z
    BLK_OFF, ZBLK_OFF               block (character) boundaries in the bases of A and of Z
    GT_OFF, GT                      per block G_s^T (n_Z,s x n_A,s, row-major), G_s = H_s U_s^T Lambda_t V_s
    R_OFF, RB                       per block R_s = U_s^T R_A U_s (symmetric, row-major)
    HW                              U^T H_A w_A (basis order)
    AFF_OFF, AFF_O, AFF_SITES       clusters with a site in A (their rates change): orientation and
                                    sites (T positions, site 0 = anchor)

Why this shape (docs/fast.md): a kick only needs [K'^-1 (mu' - S)] on A, which is
y = -(Lambda_t (S - mean))_Z + (gamma0 - 2 delta0 sbar) w_A; then dS_A = H_A y + R_A zeta_A with
H_A = phi(k Q) k and R_A = k^(1/2).  In the reflection bases U (of A) and V (of Z) every one
of these operators is block diagonal, so

    U^T dS_A = -blockdiag(G_s) V^T (S - mean)_Z + tilt * U^T H_A w_A + blockdiag(R_s) U^T zeta_A,

dense blocks that are precomputed once per orientation at anchor 0 and translated: an event
costs the same on any lattice size.

Event selection uses a sum tree over the cluster rates (``tree[P + k]`` = rate of cluster k,
``tree[i] = tree[2i] + tree[2i+1]``, root ``tree[1]``).  Every parent is recomputed from its
two children, never adjusted by a difference, so the tree is a pure function of the rates:
no rounding drift accumulates over any number of events, and a tree rebuilt from the state
is bit-identical to one updated event by event (resume is exact).

No BLAS is called per event: the loops below are written so that LLVM vectorizes them
without reordering any sum, so results do not depend on a BLAS build or thread count.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# status codes returned by the kernels
OK = 0
STOPPED_AT_TIME = 1  # the next event's u1 was drawn and lies beyond t_max: rewind one draw
BUFFER_FULL = 2  # the change buffer cannot hold the next event: yield and come back
RATE_OVERFLOW = 3  # a cluster rate left the representable range (info: cluster id, sbar)
NO_RATE = 4  # every rate underflowed to 0

# slots of the model tuple M
GRID, CL, PAR = 0, 1, 2
T_OFF, T_COORD = 3, 4
W_OFF, W_T, W_ACT = 5, 6, 7
A_OFF, A_T, C_T = 8, 9, 10
Z_OFF, Z_T = 11, 12
UT_OFF, UT_IDX, UT_VAL = 13, 14, 15
U_OFF, U_IDX, U_VAL = 16, 17, 18
VT_OFF, VT_IDX, VT_VAL = 19, 20, 21
BLK_OFF, ZBLK_OFF = 22, 23
GT_OFF, GT, R_OFF, RB, HW = 24, 25, 26, 27, 28
AFF_OFF, AFF_O, AFF_SITES = 29, 30, 31
N_SLOTS = 32


@njit(cache=True)
def _cluster_rate(S, M, o, x0, x1, x2):
    """(rate, sbar, ok) of the cluster of orientation o anchored at (x0, x1, x2) (all in [0, n)).

    rate = A0 exp(gamma0 sbar - delta0 sbar^2) / duration (Eq. D1 over the rate duration), the
    m sites summed in cluster order (as in _update_rates: the leaves are bit-identical).  ok is
    False when the log-rate exceeds the limit (which also keeps the sum of all rates finite).
    """
    grid, cl, par = M[GRID], M[CL], M[PAR]
    m = cl.shape[1]
    s = 0.0
    for j in range(m):
        y0 = (x0 + cl[o, j, 0]) % grid[0]
        y1 = (x1 + cl[o, j, 1]) % grid[1]
        y2 = (x2 + cl[o, j, 2]) % grid[2]
        s += S[(y0 * grid[1] + y1) * grid[2] + y2]
    sbar = s / m
    exponent = par[1] * sbar - par[2] * sbar * sbar
    if not par[6] + exponent < par[5]:
        return 0.0, sbar, False
    return par[0] * np.exp(exponent) / par[3], sbar, True


@njit(cache=True)
def cluster_rates(S, M, out):
    """Rates of all clusters in id order into ``out``; returns (status, cluster, sbar)."""
    grid, cl = M[GRID], M[CL]
    k = 0
    for o in range(cl.shape[0]):
        for x0 in range(grid[0]):
            for x1 in range(grid[1]):
                for x2 in range(grid[2]):
                    r, sbar, ok = _cluster_rate(S, M, o, x0, x1, x2)
                    if not ok:
                        return RATE_OVERFLOW, k, sbar
                    out[k] = r
                    k += 1
    return OK, -1, 0.0


@njit(cache=True)
def build_tree(S, M, tree):
    """Fill the sum tree from the state: leaves = cluster rates, parents = left + right."""
    P = tree.shape[0] // 2
    tree[:] = 0.0
    status, k, sbar = cluster_rates(S, M, tree[P:])
    for i in range(P - 1, 0, -1):
        tree[i] = tree[2 * i] + tree[2 * i + 1]
    return status, k, sbar


@njit(cache=True)
def descend(tree, n_clusters, target):
    """The cluster k with prefix_(k-1) <= target < prefix_k: the linear rule's "smallest k with
    r_0 + ... + r_k > target" (docs/model.md), found in O(log n).

    At each node the left subtree is taken iff target < (sum of the left subtree), i.e. iff the
    answer's prefix sum exceeds target within it: the same strict inequality as the linear
    rule, so both pick the same cluster except when target falls within rounding of a
    boundary.  Zero-rate leaves are never chosen (a fallback guards the rounding edge).
    """
    P = tree.shape[0] // 2
    i = 1
    while i < P:
        left = tree[2 * i]
        if target < left:
            i = 2 * i
        else:
            target -= left
            i = 2 * i + 1
    k = i - P
    if k < n_clusters and tree[i] > 0.0:
        return k
    # target reached the end through rounding: the last cluster with a positive rate
    k = min(k, n_clusters - 1)
    while k > 0 and tree[P + k] == 0.0:
        k -= 1
    return k


@njit(cache=True)
def _translate(o, x0, x1, x2, M, tt):
    """Site indices of orientation o's touched sites T for the anchor (x0, x1, x2) into ``tt``.

    T is stored as coordinates at anchor 0 in [0, n); a translated coordinate is in [0, 2n),
    so one comparison folds it (no integer division per site)."""
    grid, t_off, t_coord = M[GRID], M[T_OFF], M[T_COORD]
    n0, n1, n2 = grid[0], grid[1], grid[2]
    t0 = t_off[o]
    for i in range(t_off[o + 1] - t0):
        y0 = x0 + t_coord[t0 + i, 0]
        y1 = x1 + t_coord[t0 + i, 1]
        y2 = x2 + t_coord[t0 + i, 2]
        if y0 >= n0:
            y0 -= n0
        if y1 >= n1:
            y1 -= n1
        if y2 >= n2:
            y2 -= n2
        tt[i] = (y0 * n1 + y1) * n2 + y2


@njit(cache=True, inline="never")
def _column_updates(mt, x, out, n_out, n_in, sign):
    """out += sign * A x for A (n_out x n_in) stored transposed, row-major in ``mt``: one contiguous
    axpy per column.  A separate function on slices, so that LLVM sees distinct arrays and
    vectorizes the inner loop; every out[i] still receives its terms in the same order."""
    for j in range(n_in):
        xj = sign * x[j]
        row = j * n_out
        for i in range(n_out):
            out[i] += mt[row + i] * xj


@njit(cache=True)
def _kick(S, o, zloc, M, W):
    """Apply the kick of a cluster of orientation o whose touched sites are translated in W[0];
    ``zloc`` holds the standard normals of the active sites (A order).  S changes on the active
    sites only; W[1] receives their values before the kick.  Returns the number of active sites.

    dS_A = H_A y + R_A zeta_A with y = -(Lambda_t (S - mean))_A + (gamma0 - 2 delta0 sbar) w_A
    (= [K'^-1 (mu' - S)]_A), computed in the reflection bases (module docstring) as
    U^T dS_A = -G (V^T x_Z) + tilt U^T H_A w_A + R_blocks (U^T zeta_A).   (Eqs. 10, 16, 19, 30; docs/fast.md)
    """
    par = M[PAR]
    a_off, a_t, c_t, z_off, z_t = M[A_OFF], M[A_T], M[C_T], M[Z_OFF], M[Z_T]
    ut_off, ut_idx, ut_val, u_off, u_idx, u_val = M[UT_OFF], M[UT_IDX], M[UT_VAL], M[U_OFF], M[U_IDX], M[U_VAL]
    vt_off, vt_idx, vt_val = M[VT_OFF], M[VT_IDX], M[VT_VAL]
    blk_off, zblk_off, gt_off, gt, r_off, rb, hw = M[BLK_OFF], M[ZBLK_OFF], M[GT_OFF], M[GT], M[R_OFF], M[RB], M[HW]
    tt, old, dS, xg, xb, zb, ob = W[0], W[1], W[2], W[3], W[4], W[5], W[6]
    a0 = a_off[o]
    nA = a_off[o + 1] - a0
    if nA == 0:
        return 0
    m = c_t.shape[1]
    s = 0.0
    for j in range(m):
        s += S[tt[c_t[o, j]]]
    sbar = s / m
    tilt = par[1] - 2.0 * par[2] * sbar
    # x = S - mean on Z, then to the basis V: xb = V^T x_Z
    mean = par[4]
    z0 = z_off[o]
    nZ = z_off[o + 1] - z0
    for i in range(nZ):
        xg[i] = S[tt[z_t[z0 + i]]] - mean
    for b in range(nZ):
        acc = 0.0
        for e in range(vt_off[b], vt_off[b + 1]):
            acc += vt_val[e] * xg[vt_idx[e]]
        xb[b] = acc
    # zeta to the basis U: zb = U^T zeta_A
    for b in range(nA):
        acc = 0.0
        for e in range(ut_off[b], ut_off[b + 1]):
            acc += ut_val[e] * zloc[ut_idx[e]]
        zb[b] = acc
    # block by block, as column updates (each column a contiguous row of the stored transposes)
    for b in range(nA):
        ob[b] = tilt * hw[b]
    for blk in range(blk_off.shape[0] - 1):
        lo = blk_off[blk]
        na = blk_off[blk + 1] - lo
        zlo = zblk_off[blk]
        nz = zblk_off[blk + 1] - zlo
        out = ob[lo : lo + na]
        _column_updates(gt[gt_off[blk] : gt_off[blk] + nz * na], xb[zlo : zlo + nz], out, na, nz, -1.0)
        _column_updates(rb[r_off[blk] : r_off[blk] + na * na], zb[lo : lo + na], out, na, na, 1.0)
    # back to sites: dS = U ob
    for i in range(nA):
        acc = 0.0
        for e in range(u_off[i], u_off[i + 1]):
            acc += u_val[e] * ob[u_idx[e]]
        k = tt[a_t[a0 + i]]
        old[i] = S[k]
        S[k] = old[i] + acc
    return nA


@njit(cache=True)
def _update_rates(S, tree, mark, o, M, tt, level, nxt):
    """Recompute the rate of every cluster with a site among the kick's active sites and the
    tree nodes above them, level by level, each node once (``mark`` flags a node already queued;
    it is all False again on return).  Sites are summed in cluster order, as in cluster_rates,
    so the leaves are bit-identical to a rebuild.  Returns (status, cluster, sbar)."""
    grid, par = M[GRID], M[PAR]
    aff_off, aff_o, aff_sites = M[AFF_OFF], M[AFF_O], M[AFF_SITES]
    N = grid[0] * grid[1] * grid[2]
    P = tree.shape[0] // 2
    m = aff_sites.shape[1]
    n_level = 0
    status = OK
    bad_k = -1
    bad_s = 0.0
    for q in range(aff_off[o], aff_off[o + 1]):
        s = 0.0
        for j in range(m):
            s += S[tt[aff_sites[q, j]]]
        sbar = s / m
        exponent = par[1] * sbar - par[2] * sbar * sbar
        k = aff_o[q] * N + tt[aff_sites[q, 0]]  # site 0 of a cluster is its anchor
        if not par[6] + exponent < par[5]:
            if status == OK:
                status, bad_k, bad_s = RATE_OVERFLOW, k, sbar
            continue
        tree[P + k] = par[0] * np.exp(exponent) / par[3]
        parent = (P + k) >> 1
        if not mark[parent]:
            mark[parent] = True
            level[n_level] = parent
            n_level += 1
    while n_level > 0:
        n_next = 0
        for e in range(n_level):
            i = level[e]
            mark[i] = False
            tree[i] = tree[2 * i] + tree[2 * i + 1]
            parent = i >> 1
            if parent >= 1 and not mark[parent]:
                mark[parent] = True
                nxt[n_next] = parent
                n_next += 1
        level, nxt = nxt, level
        n_level = n_next
    return status, bad_k, bad_s


@njit(cache=True)
def _scratch(M):
    """Work arrays sized for the largest set of any orientation:
    (tt, old, dS, xg, xb, zb, ob, zloc, keys)."""
    t_off, w_off, a_off, z_off = M[T_OFF], M[W_OFF], M[A_OFF], M[Z_OFF]
    nT = nW = nA = nZ = 1
    for o in range(a_off.shape[0] - 1):
        nT = max(nT, t_off[o + 1] - t_off[o])
        nW = max(nW, w_off[o + 1] - w_off[o])
        nA = max(nA, a_off[o + 1] - a_off[o])
        nZ = max(nZ, z_off[o + 1] - z_off[o])
    return (
        np.empty(nT, dtype=np.int64),
        np.empty(nA),
        np.empty(nA),
        np.empty(nZ),
        np.empty(nZ),
        np.empty(nA),
        np.empty(nA),
        np.empty(nA),
        np.empty(nW, dtype=np.int64),
    )


@njit(cache=True)
def apply_kick(S, cluster_id, zeta, M):
    """The canonical kick of cluster ``cluster_id`` with ``zeta`` (N standard normals in site
    order; only the active sites' entries are used).  Returns the new state (S unchanged)."""
    grid, a_off, a_t = M[GRID], M[A_OFF], M[A_T]
    N = grid[0] * grid[1] * grid[2]
    o = cluster_id // N
    anchor = cluster_id % N
    x0 = anchor // (grid[1] * grid[2])
    x1 = (anchor // grid[2]) % grid[1]
    x2 = anchor % grid[2]
    W = _scratch(M)
    tt, zloc = W[0], W[7]
    _translate(o, x0, x1, x2, M, tt)
    for i in range(a_off[o + 1] - a_off[o]):
        zloc[i] = zeta[tt[a_t[a_off[o] + i]]]
    S_new = S.copy()
    _kick(S_new, o, zloc, M, W)
    return S_new


@njit(cache=True)
def run_events(
    S, tree, mark, clock, rng, n_max, t_max, has_t_max, record,
    times, clusters, offsets, sites, before, after, M,
):  # fmt: skip
    """Process up to ``n_max`` events (Gillespie direct method with the canonical draws).

    Per event, from ``rng`` and in this order: u1 = rng.random() -> dt = -log(1 - u1) / R;
    u2 = rng.random() -> cluster (sum tree descent); |W| standard normals in increasing
    site-index order of the translated window (the oracle's N normals when W is the lattice).

    ``clock`` = [time, Kahan compensation]: the running time is a compensated sum of the
    waiting times, so 1e8 events lose no more than a few ulps of the total.

    Stops early, *before* drawing anything, when the change buffer could not hold another
    event (BUFFER_FULL), and right after u1 when the event would happen after ``t_max``
    (STOPPED_AT_TIME: nothing is applied; the caller rewinds that one draw, so the
    stream is as if the event had never been looked at).

    Returns (n_done, status, n_changes, info_cluster, info_sbar).
    """
    grid, cl = M[GRID], M[CL]
    w_off, w_t, w_act, a_off, a_t = M[W_OFF], M[W_T], M[W_ACT], M[A_OFF], M[A_T]
    aff_off = M[AFF_OFF]
    N = grid[0] * grid[1] * grid[2]
    n_clusters = cl.shape[0] * N
    W = _scratch(M)
    tt, old, zloc, keys = W[0], W[1], W[7], W[8]
    n_aff = 1
    for o in range(aff_off.shape[0] - 1):
        n_aff = max(n_aff, aff_off[o + 1] - aff_off[o])
    level = np.empty(n_aff, dtype=np.int64)
    nxt = np.empty(n_aff, dtype=np.int64)
    nA_max = zloc.shape[0]
    cap = sites.shape[0]
    t = clock[0]
    comp = clock[1]
    n_chg = 0
    offsets[0] = 0
    status = OK
    info_k = -1
    info_s = 0.0
    n = 0
    while n < n_max:
        if record and n_chg + nA_max > cap:
            status = BUFFER_FULL
            break
        R = tree[1]
        if not R > 0.0:
            status = NO_RATE
            break
        u1 = rng.random()
        dt = -np.log1p(-u1) / R
        yk = dt - comp
        t_new = t + yk
        if has_t_max and t_new > t_max:
            status = STOPPED_AT_TIME
            break
        comp_prev, t_prev = comp, t
        comp = (t_new - t) - yk
        t = t_new
        u2 = rng.random()
        k = descend(tree, n_clusters, u2 * R)
        o = k // N
        anchor = k % N
        x0 = anchor // (grid[1] * grid[2])
        x1 = (anchor // grid[2]) % grid[1]
        x2 = anchor % grid[2]
        _translate(o, x0, x1, x2, M, tt)
        # the window's normals, in increasing site index of the translated window
        w0 = w_off[o]
        nW = w_off[o + 1] - w0
        for i in range(nW):
            keys[i] = tt[w_t[w0 + i]]
        order = np.argsort(keys[:nW])
        for p in range(nW):
            z = rng.standard_normal()
            act = w_act[w0 + order[p]]
            if act >= 0:
                zloc[act] = z
        nA = _kick(S, o, zloc, M, W)
        status, info_k, info_s = _update_rates(S, tree, mark, o, M, tt, level, nxt)
        if status != OK:
            # undo the event so the state stays the last good one; the caller raises
            for i in range(nA):
                S[tt[a_t[a_off[o] + i]]] = old[i]
            _update_rates(S, tree, mark, o, M, tt, level, nxt)
            t, comp = t_prev, comp_prev
            break
        if record:
            for p in range(nW):
                act = w_act[w0 + order[p]]
                if act >= 0:
                    site = tt[a_t[a_off[o] + act]]
                    sites[n_chg] = site
                    before[n_chg] = old[act]
                    after[n_chg] = S[site]
                    n_chg += 1
            offsets[n + 1] = n_chg
        times[n] = t
        clusters[n] = k
        n += 1
    clock[0] = t
    clock[1] = comp
    return n, status, n_chg, info_k, info_s
