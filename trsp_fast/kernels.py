"""Numba kernels of the fast simulator (docs/fast.md).  Thin wrappers live in model.py / simulation.py.

The model reaches every kernel as one :class:`KernelModel` (a NamedTuple of arrays and numbers,
built by :meth:`trsp_fast.model.FastModel._kernel_model`), so the kernels read as the math:
``M.log_prefactor + exponent < M.log_rate_limit``.  Sites are stored as integer coordinates
at anchor 0 in [0, n) per axis; per event three small tables translate them to the firing
cluster's anchor (``_axis_tables``: site = t0[c0] + t1[c1] + t2[c2], no division, no branch).

Why this shape (docs/fast.md): a kick only needs [K'^-1 (mu' - S)] on the moving sites A,
y = -(Lambda_t (S - mean))_A + (gamma0 - 2 delta0 sbar) w_A; then dS_A = H_A y + R_A zeta_A with
H_A = phi(k Q) k and R_A = k^(1/2).  In the reflection bases U (of A) and V (of Z, the sites
within precision_radius of A) every one of these operators is block diagonal, so

    U^T dS_A = -blockdiag(G_s) V^T (S - mean)_Z + tilt * U^T H_A w_A + blockdiag(R_s) U^T zeta_A,

dense blocks precomputed once per orientation at anchor 0 and translated: an event costs the
same on any lattice size.  The basis changes V^T, U^T and U are done orbit by orbit as
2^d-point Walsh-Hadamard transforms (trsp_fast.symmetry.Orbits), not as sparse products.

Event selection uses a sum tree over the cluster rates (``tree[P + k]`` = rate of cluster k,
``tree[i] = tree[2i] + tree[2i+1]``, root ``tree[1]``).  Every parent is recomputed from its
two children, never adjusted by a difference, so the tree is a pure function of the rates:
no rounding drift accumulates over any number of events, and a tree rebuilt from the state
is bit-identical to one updated event by event (resume is exact).

No BLAS is called per event: the loops below are written so that LLVM vectorizes them
without reordering any sum, so results do not depend on a BLAS build or thread count.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

# status codes returned by the kernels
OK = 0
STOPPED_AT_TIME = 1  # the next event's u1 was drawn and lies beyond t_max: rewind one draw
BUFFER_FULL = 2  # the change buffer cannot hold the next event: yield and come back
RATE_OVERFLOW = 3  # a cluster rate left the representable range (info: cluster id, sbar)
NO_RATE = 4  # every rate underflowed to 0


class KernelModel(NamedTuple):
    """Everything the kernels read, per orientation o where indexed by o (coordinates at anchor 0,
    in [0, n) per axis; "A row" = index in the moving-site list A of the operators).

    grid (3,)                       the lattice as 3 axes; 2D is (1, L, L)
    cluster_offsets (n_orient, m, 3) cluster site offsets from the anchor (docs/model.md order)
    A0, gamma0, delta0, duration    bare rate law (Eq. D1): rate = A0 exp(gamma0 s - delta0 s^2) / duration
    mean                            <S>
    log_rate_limit                  a cluster's log-rate must stay below this (the total stays finite)
    log_prefactor                   log(A0 / duration)
    cluster_coord (n_orient, m, 3)  the firing cluster's sites
    active_coord (n_orient, nA, 3)  A, in A-row order
    -- the kick window W, for the canonical order of its normals (increasing translated site index):
    plane_lo, plane_hi (n_orient,)  its planes (distinct c0, increasing) in plane_c, plane_row_lo/hi
    plane_c, plane_row_lo, plane_row_hi
    row_c, row_el_lo, row_el_hi     rows (distinct c1 within a plane, increasing)
    el_c, el_act                    elements (c2 within a row, increasing) and their A row (-1: sD = 0)
    -- the operators in the reflection bases, shared by all orientations:
    a_images, a_first, a_columns, a_stabilizer   orbits of A (trsp_fast.symmetry.Orbits)
    zone_run_lo (n_orient + 1,)                  the zone Z as runs along axis 2 (contiguous in memory):
    zone_run_c (n_runs, 3), zone_run_len         first site's coordinates and length of each run
    z_images (n_orient, n_zorbits, 2^d)          orbits of Z: position in the gathered zone of g(rep) per g
    z_columns, z_stabilizer                      orbits of Z
    block_lo (n_blocks + 1,), zone_block_lo      block (character) boundaries in the bases of A and Z
    out_lo (n_blocks + 1,), a_out                the blocks' outputs, each padded with zero rows to a
                                                 multiple of OUT_PAD (so the vectorized loop covers them
                                                 all), and where column a_columns[q, s] sits among them
    drift_t_lo, drift_t                          per block G_s^T (n_Z,s x padded n_A,s, row-major), G_s = H_s U_s^T Lambda_t V_s
    noise_lo, noise                              per block R_s = U_s^T R_A U_s (n_A,s x padded n_A,s, row-major; symmetric)
    tilt_drift                                   U^T H_A w_A (padded output order)
    twin (n_blocks,)                             for a primary block k, the block k2 of the character an axis swap
                                                 maps it to (trsp_fast.symmetry.swap_permutations), whose data are
                                                 not stored: G_k2 = P_A G_k P_Z^T, R_k2 = P_A R_k P_A^T; -2 on such
                                                 a mirror block, -1 on a block alone
    mirror_a_perm, mirror_a_sign (nA,)           P_A of a mirror block, in that block's range of the basis of A:
                                                 (P_A y)[i] = sign[i] y[perm[i]] (y in the primary's basis)
    mirror_z_perm, mirror_z_sign (nZ,)           P_Z likewise, in the block's range of the basis of Z
    -- clusters whose rate a kick changes (a site in A), sorted by id at anchor 0, and their sites:
    affected_lo (n_orient + 1,), affected_orientation, affected_local (n, m) (site 0 = anchor):
    positions in the orientation's list of those clusters' distinct sites,
    affected_site_lo (n_orient + 1,), affected_site_coord (n_sites, 3)
    subtree_levels                  the rate updates recompute whole subtrees of 2^subtree_levels leaves
                                    (trsp_fast.model.FastModel._subtree_levels: any value gives the same tree)
    """

    grid: np.ndarray
    cluster_offsets: np.ndarray
    A0: float
    gamma0: float
    delta0: float
    duration: float
    mean: float
    log_rate_limit: float
    log_prefactor: float
    cluster_coord: np.ndarray
    active_coord: np.ndarray
    plane_lo: np.ndarray
    plane_hi: np.ndarray
    plane_c: np.ndarray
    plane_row_lo: np.ndarray
    plane_row_hi: np.ndarray
    row_c: np.ndarray
    row_el_lo: np.ndarray
    row_el_hi: np.ndarray
    el_c: np.ndarray
    el_act: np.ndarray
    a_images: np.ndarray
    a_first: np.ndarray
    a_columns: np.ndarray
    a_stabilizer: np.ndarray
    zone_run_lo: np.ndarray
    zone_run_c: np.ndarray
    zone_run_len: np.ndarray
    z_images: np.ndarray
    z_columns: np.ndarray
    z_stabilizer: np.ndarray
    block_lo: np.ndarray
    zone_block_lo: np.ndarray
    out_lo: np.ndarray
    a_out: np.ndarray
    drift_t_lo: np.ndarray
    drift_t: np.ndarray
    noise_lo: np.ndarray
    noise: np.ndarray
    tilt_drift: np.ndarray
    twin: np.ndarray
    mirror_a_perm: np.ndarray
    mirror_a_sign: np.ndarray
    mirror_z_perm: np.ndarray
    mirror_z_sign: np.ndarray
    affected_lo: np.ndarray
    affected_orientation: np.ndarray
    affected_local: np.ndarray
    affected_site_lo: np.ndarray
    affected_site_coord: np.ndarray
    subtree_levels: int


#: the blocks' output length is padded to a multiple of this: LLVM's vectorized loop body takes
#: 16 doubles per iteration (AVX2, interleaved 4x) and leaves the rest to a scalar loop
OUT_PAD = 8

# field names under the names tests use to change one of them (tests/test_fast_exactness.py)
GT, HW, RB, GAMMA0, MEAN, LOG_RATE_LIMIT = "drift_t", "tilt_drift", "noise", "gamma0", "mean", "log_rate_limit"


# exp(x) in IEEE arithmetic (docs/fast.md, "Rates and event selection"): x = k ln2 + r with
# |r| <= ln2 / 2 (Cody-Waite: k ln2_hi is exact for |k| < 2^20), exp(r) by its Taylor polynomial of
# degree 13 (truncation error < 2e-18 relative), times 2^k from a table.  No libm call, so a loop over
# rates vectorizes (libm's exp is a scalar call: 7.5 ns each, the largest part of the rate updates),
# and the same bits come out on every CPU and in the scalar rebuild (cluster_rates) as in the
# vectorized update (_update_rates): the tree stays a pure function of the state.
_LN2_HI = 6.93147180369123816490e-01  # ln 2 to 32 bits (fdlibm's ln2HI)
_LN2_LO = 1.90821492927058770002e-10  # ln 2 - _LN2_HI
_INV_LN2 = 1.44269504088896338700e00
_EXP_MIN = -746.0  # exp(x) rounds to 0 below about -745.13
_POW2_LO = -1080  # _POW2[k - _POW2_LO] = 2^k for k in [-1080, 1024] (0 below 2^-1074, inf at 2^1024)
_POW2 = np.array([math.ldexp(1.0, k) if k < 1024 else math.inf for k in range(_POW2_LO, 1025)])
_EXP_C = tuple(1.0 / math.factorial(n) for n in range(14))


@njit(cache=True, inline="always")
def _exp(x):
    """exp(x) within 1 ulp of numpy's for -708 < x < 709 (tests/test_fast_exactness.py), 0 for x < -746; the
    callers keep x below log_rate_limit < 700."""
    x = max(x, _EXP_MIN)
    k = math.floor(x * _INV_LN2 + 0.5)
    r = (x - k * _LN2_HI) - k * _LN2_LO
    c = _EXP_C
    q = c[13]
    q = q * r + c[12]
    q = q * r + c[11]
    q = q * r + c[10]
    q = q * r + c[9]
    q = q * r + c[8]
    q = q * r + c[7]
    q = q * r + c[6]
    q = q * r + c[5]
    q = q * r + c[4]
    q = q * r + c[3]
    q = q * r + c[2]
    return (1.0 + (r + (r * r) * q)) * _POW2[int(k) - _POW2_LO]


@njit(cache=True)
def exp_array(x, out):
    """out[i] = _exp(x[i]) (for tests: the kernels' exp against numpy's)."""
    for i in range(x.shape[0]):
        out[i] = _exp(x[i])
    return out


@njit(cache=True)
def _cluster_rate(S, M, o, x0, x1, x2):
    """(rate, sbar, ok) of the cluster of orientation o anchored at (x0, x1, x2) (all in [0, n)).

    rate = A0 exp(gamma0 sbar - delta0 sbar^2) / duration (Eq. D1 over the rate duration), computed
    as exp(log(A0 / duration) + gamma0 sbar - delta0 sbar^2) with the kernels' _exp, the m sites
    summed in cluster order (as in _update_rates: the leaves are bit-identical).  ok is False when
    the log-rate exceeds the limit (which also keeps the sum of all rates finite).
    """
    grid, cl = M.grid, M.cluster_offsets
    m = cl.shape[1]
    s = 0.0
    for j in range(m):
        y0 = (x0 + cl[o, j, 0]) % grid[0]
        y1 = (x1 + cl[o, j, 1]) % grid[1]
        y2 = (x2 + cl[o, j, 2]) % grid[2]
        s += S[(y0 * grid[1] + y1) * grid[2] + y2]
    sbar = s / m
    log_rate = M.log_prefactor + (M.gamma0 * sbar - M.delta0 * sbar * sbar)
    if not log_rate < M.log_rate_limit:
        return 0.0, sbar, False
    return _exp(log_rate), sbar, True


@njit(cache=True)
def cluster_rates(S, M, out):
    """Rates of all clusters in id order into ``out``; returns (status, cluster, sbar)."""
    grid, cl = M.grid, M.cluster_offsets
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
def _axis_tables(grid, anchor, tab):
    """tab[a, c] = the part of the site index of coordinate c along axis a, translated by the anchor:
    site(c0, c1, c2) = tab[0, c0] + tab[1, c1] + tab[2, c2].  Returns the anchor's coordinates."""
    n0, n1, n2 = grid[0], grid[1], grid[2]
    x0 = anchor // (n1 * n2)
    x1 = (anchor // n2) % n1
    x2 = anchor % n2
    for c in range(n0):
        y = x0 + c
        tab[0, c] = (y - n0 if y >= n0 else y) * n1 * n2
    for c in range(n1):
        y = x1 + c
        tab[1, c] = (y - n1 if y >= n1 else y) * n2
    for c in range(n2):
        y = x2 + c
        tab[2, c] = y - n2 if y >= n2 else y
    return x0, x1, x2


@njit(cache=True, inline="always")
def _site(tab, c, i, j):
    """The translated site index of coordinates c[i, j, :] (c a 3-d array of coordinates)."""
    return tab[0, c[i, j, 0]] + tab[1, c[i, j, 1]] + tab[2, c[i, j, 2]]


@njit(cache=True, inline="always")
def _walsh_hadamard(v, n):
    """In place, v[s] <- sum_g (-1)^popcount(g & s) v[g] for the n = 2^d entries of v (straight-line
    butterflies for the 3D and 2D groups, n = 8 and 4)."""
    if n == 8:
        a0, a1, a2, a3, a4, a5, a6, a7 = v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]
        b0, b1, b2, b3, b4, b5, b6, b7 = a0 + a1, a0 - a1, a2 + a3, a2 - a3, a4 + a5, a4 - a5, a6 + a7, a6 - a7
        c0, c1, c2, c3, c4, c5, c6, c7 = b0 + b2, b1 + b3, b0 - b2, b1 - b3, b4 + b6, b5 + b7, b4 - b6, b5 - b7
        v[0], v[1], v[2], v[3] = c0 + c4, c1 + c5, c2 + c6, c3 + c7
        v[4], v[5], v[6], v[7] = c0 - c4, c1 - c5, c2 - c6, c3 - c7
        return
    if n == 4:
        a0, a1, a2, a3 = v[0], v[1], v[2], v[3]
        b0, b1, b2, b3 = a0 + a1, a0 - a1, a2 + a3, a2 - a3
        v[0], v[1], v[2], v[3] = b0 + b2, b1 + b3, b0 - b2, b1 - b3
        return
    h = 1
    while h < n:
        for i in range(0, n, 2 * h):
            for j in range(i, i + h):
                a = v[j]
                b = v[j + h]
                v[j] = a + b
                v[j + h] = a - b
        h *= 2


@njit(cache=True, inline="always")
def _to_basis(x, images, columns, stabilizer, out, v):
    """out = W^T x for the symmetry basis W of a site set given by its orbits (trsp_fast.symmetry.Orbits):
    per orbit q the transform of x[images[q, g]] over g, scaled by 1 / sqrt(2^d |Stab|)
    (proofs/fast_truncation.py), lands in out[columns[q, s]]."""
    n_group = v.shape[0]
    for q in range(columns.shape[0]):
        for g in range(n_group):
            v[g] = x[images[q, g]]
        _walsh_hadamard(v, n_group)
        scale = 1.0 / np.sqrt(n_group * stabilizer[q])
        for c in range(n_group):
            col = columns[q, c]
            if col >= 0:
                out[col] = v[c] * scale


@njit(cache=True, inline="never")
def _column_updates(mt, x, out, n_out, n_in, sign):
    """out += sign * A x for A (n_out x n_in) stored transposed, row-major in ``mt``.

    Four columns per pass over ``out`` (each out[i] still receives its terms one column at a
    time, in column order: the same sums as one axpy per column, with a quarter of the loads
    and stores of out).  A separate function on slices, so that LLVM sees distinct arrays and
    vectorizes the inner loops."""
    j = 0
    while j + 4 <= n_in:
        x0 = sign * x[j]
        x1 = sign * x[j + 1]
        x2 = sign * x[j + 2]
        x3 = sign * x[j + 3]
        r0 = j * n_out
        r1 = r0 + n_out
        r2 = r1 + n_out
        r3 = r2 + n_out
        for i in range(n_out):
            acc = out[i] + mt[r0 + i] * x0
            acc = acc + mt[r1 + i] * x1
            acc = acc + mt[r2 + i] * x2
            out[i] = acc + mt[r3 + i] * x3
        j += 4
    while j < n_in:
        xj = sign * x[j]
        row = j * n_out
        for i in range(n_out):
            out[i] += mt[row + i] * xj
        j += 1


@njit(cache=True, inline="never")
def _column_updates2(mt, x, x2, out, out2, n_out, n_in, sign):
    """out += sign * A x and out2 += sign * A x2 in one pass over A (stored as in _column_updates):
    each output receives its terms in the same order as with _column_updates, so the sums are the
    same; A is read once for both (a primary block and its mirror)."""
    j = 0
    while j + 4 <= n_in:
        x0 = sign * x[j]
        x1 = sign * x[j + 1]
        x2_ = sign * x[j + 2]
        x3 = sign * x[j + 3]
        y0 = sign * x2[j]
        y1 = sign * x2[j + 1]
        y2 = sign * x2[j + 2]
        y3 = sign * x2[j + 3]
        r0 = j * n_out
        r1 = r0 + n_out
        r2 = r1 + n_out
        r3 = r2 + n_out
        for i in range(n_out):
            m0 = mt[r0 + i]
            m1 = mt[r1 + i]
            m2 = mt[r2 + i]
            m3 = mt[r3 + i]
            acc = out[i] + m0 * x0
            acc = acc + m1 * x1
            acc = acc + m2 * x2_
            out[i] = acc + m3 * x3
            acc2 = out2[i] + m0 * y0
            acc2 = acc2 + m1 * y1
            acc2 = acc2 + m2 * y2
            out2[i] = acc2 + m3 * y3
        j += 4
    while j < n_in:
        xj = sign * x[j]
        yj = sign * x2[j]
        row = j * n_out
        for i in range(n_out):
            out[i] += mt[row + i] * xj
            out2[i] += mt[row + i] * yj
        j += 1


@njit(cache=True, inline="always")  # per event: no call (and no reference counting of M's arrays)
def _kick(S, o, zloc, M, tab, work):
    """Apply the kick of a cluster of orientation o at the anchor of the axis tables ``tab``;
    ``zloc`` holds the standard normals of the moving sites (A-row order).  S changes on A only;
    work.old receives their values before the kick.  Returns the number of moving sites.

    dS_A = H_A y + R_A zeta_A with y = -(Lambda_t (S - mean))_A + (gamma0 - 2 delta0 sbar) w_A
    (= [K'^-1 (mu' - S)]_A), computed in the reflection bases (module docstring) as
    U^T dS_A = -G (V^T x_Z) + tilt U^T H_A w_A + R_blocks (U^T zeta_A).   (Eqs. 10, 16, 19, 30; docs/fast.md)
    """
    old, xg, xb, zb, ob, v, xm, zm, ym = work
    ac = M.active_coord
    nA = ac.shape[1]
    if nA == 0:
        return 0
    cc = M.cluster_coord
    m = cc.shape[1]
    s = 0.0
    for j in range(m):
        s += S[_site(tab, cc, o, j)]
    sbar = s / m
    tilt = M.gamma0 - 2.0 * M.delta0 * sbar
    n_group = v.shape[0]
    # xg = (S - mean)_Z, gathered run by run (each run contiguous in S up to one wrap)
    mean = M.mean
    n2 = M.grid[2]
    rc, rlen = M.zone_run_c, M.zone_run_len
    pos = 0
    for r in range(M.zone_run_lo[o], M.zone_run_lo[o + 1]):
        base = tab[0, rc[r, 0]] + tab[1, rc[r, 1]]
        y = tab[2, rc[r, 2]]
        ln = rlen[r]
        first = min(ln, n2 - y)
        for i in range(first):
            xg[pos + i] = S[base + y + i] - mean
        for i in range(first, ln):
            xg[pos + i] = S[base + y + i - n2] - mean
        pos += ln
    # xb = V^T x_Z and zb = U^T zeta_A, one Walsh-Hadamard transform per orbit
    _to_basis(xg, M.z_images[o], M.z_columns, M.z_stabilizer, xb, v)
    aim, afirst, acol, ast = M.a_images, M.a_first, M.a_columns, M.a_stabilizer
    _to_basis(zloc, aim, acol, ast, zb, v)
    # block by block, as column updates (each column a contiguous row of the stored transposes)
    hw, olo = M.tilt_drift, M.out_lo
    for b in range(olo[-1]):
        ob[b] = tilt * hw[b]
    blk, zblk, gt_lo, gt, r_lo, rb = M.block_lo, M.zone_block_lo, M.drift_t_lo, M.drift_t, M.noise_lo, M.noise
    twin = M.twin
    for k in range(blk.shape[0] - 1):
        k2 = twin[k]
        if k2 == -2:
            continue  # a mirror: done with its primary
        lo = blk[k]
        na = blk[k + 1] - lo
        zlo = zblk[k]
        nz = zblk[k + 1] - zlo
        npad = olo[k + 1] - olo[k]
        out = ob[olo[k] : olo[k + 1]]
        g = gt[gt_lo[k] : gt_lo[k] + nz * npad]
        r = rb[r_lo[k] : r_lo[k] + na * npad]
        if k2 < 0:
            _column_updates(g, xb[zlo : zlo + nz], out, npad, nz, -1.0)
            _column_updates(r, zb[lo : lo + na], out, npad, na, 1.0)
            continue
        # the mirror k2 in the primary's basis: P_Z^T x, P_A^T zeta, P_A^T (its tilt term); back by P_A
        lo2, zlo2, o2 = blk[k2], zblk[k2], olo[k2]
        ap, asg, zp, zsg = M.mirror_a_perm, M.mirror_a_sign, M.mirror_z_perm, M.mirror_z_sign
        for i in range(nz):
            xm[zp[zlo2 + i]] = zsg[zlo2 + i] * xb[zlo2 + i]
        for i in range(na):
            zm[ap[lo2 + i]] = asg[lo2 + i] * zb[lo2 + i]
            ym[ap[lo2 + i]] = asg[lo2 + i] * ob[o2 + i]
        for i in range(na, npad):
            ym[i] = 0.0
        _column_updates2(g, xb[zlo : zlo + nz], xm[:nz], out, ym[:npad], npad, nz, -1.0)
        _column_updates2(r, zb[lo : lo + na], zm[:na], out, ym[:npad], npad, na, 1.0)
        for i in range(na):
            ob[o2 + i] = asg[lo2 + i] * ym[ap[lo2 + i]]
    # back to sites: dS = U ob, the inverse transform per orbit of A
    aout = M.a_out
    for q in range(acol.shape[0]):
        for c in range(n_group):
            col = aout[q, c]
            v[c] = ob[col] if col >= 0 else 0.0
        _walsh_hadamard(v, n_group)
        scale = 1.0 / np.sqrt(n_group / ast[q])  # 1 / sqrt(orbit size)
        for g in range(n_group):
            if afirst[q, g]:
                i = aim[q, g]
                site = _site(tab, ac, o, i)
                old[i] = S[site]
                S[site] = old[i] + v[g] * scale
    return nA


@njit(cache=True, inline="never")
def _exp_rates(log_rate, n):
    """log_rate[i] <- _exp(log_rate[i]) for i < n: a separate function on a plain loop, so that LLVM
    vectorizes it (the table read becomes a gather)."""
    for i in range(n):
        log_rate[i] = _exp(log_rate[i])


@njit(cache=True, inline="never")
def _subtree_sums(tree, root, height):
    """Recompute every internal node of the subtree of ``root`` (``height`` levels of children
    below it) from its leaves, bottom up: tree[i] = tree[2i] + tree[2i+1], as a rebuild does."""
    for up in range(height - 1, -1, -1):
        lo = root << up
        for i in range(lo, lo + (1 << up)):
            tree[i] = tree[2 * i] + tree[2 * i + 1]


@njit(cache=True, inline="always")  # per event: no call (and no reference counting of M's arrays)
def _update_rates(S, tree, mark, o, M, tab, level, nxt, site_buf, value_buf, rate_buf):
    """Recompute the rate of every cluster with a site among the kick's moving sites and the
    tree nodes above them (``mark`` flags a node already queued; it is all False again on
    return): each subtree of 2^M.subtree_levels leaves holding a changed leaf whole
    (_subtree_sums), then the ancestors of those subtrees level by level, each node once.
    Every node is recomputed from its children, so the tree stays a pure function of the leaves;
    sites are summed in cluster order, as in cluster_rates, so the leaves are bit-identical to a
    rebuild.  Returns (status, cluster, sbar).

    The clusters' distinct sites are translated and read once into site_buf / value_buf; their
    log-rates go to rate_buf and are exponentiated in one vectorized pass (_exp_rates)."""
    grid = M.grid
    lo, hi = M.affected_lo[o], M.affected_lo[o + 1]
    ao, loc, sc = M.affected_orientation, M.affected_local, M.affected_site_coord
    s_lo = M.affected_site_lo[o]
    for i in range(M.affected_site_lo[o + 1] - s_lo):
        site = tab[0, sc[s_lo + i, 0]] + tab[1, sc[s_lo + i, 1]] + tab[2, sc[s_lo + i, 2]]
        site_buf[i] = site
        value_buf[i] = S[site]
    N = grid[0] * grid[1] * grid[2]
    P = tree.shape[0] // 2
    m = loc.shape[1]
    n_level = 0
    status = OK
    bad_k = -1
    bad_s = 0.0
    for q in range(lo, hi):
        s = value_buf[loc[q, 0]]
        for j in range(1, m):
            s += value_buf[loc[q, j]]
        sbar = s / m
        log_rate = M.log_prefactor + (M.gamma0 * sbar - M.delta0 * sbar * sbar)
        if not log_rate < M.log_rate_limit:
            if status == OK:
                status, bad_k, bad_s = RATE_OVERFLOW, ao[q] * N + site_buf[loc[q, 0]], sbar
            log_rate = -math.inf  # rate 0 for now: the caller undoes the event, which recomputes this leaf
        rate_buf[q - lo] = log_rate
    _exp_rates(rate_buf, hi - lo)
    height = M.subtree_levels
    while (P >> height) == 0:  # a tree of fewer leaves than a subtree
        height -= 1
    for q in range(lo, hi):
        k = ao[q] * N + site_buf[loc[q, 0]]  # site 0 of a cluster is its anchor
        tree[P + k] = rate_buf[q - lo]
        root = (P + k) >> height
        if not mark[root]:
            mark[root] = True
            level[n_level] = root
            n_level += 1
    for e in range(n_level):  # the subtrees, whole
        root = level[e]
        mark[root] = False
        _subtree_sums(tree, root, height)
    n_next = 0
    for e in range(n_level):  # their parents: the node-by-node levels start here
        parent = level[e] >> 1
        if parent >= 1 and not mark[parent]:
            mark[parent] = True
            nxt[n_next] = parent
            n_next += 1
    level, nxt = nxt, level
    n_level = n_next
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


@njit(cache=True, inline="always")
def _rotation_start(c, lo, hi, threshold):
    """First j in [lo, hi) with c[j] >= threshold (c increasing), else hi: translated by an anchor
    x with threshold = n - x, the entries from j on wrap to the front, so sorted by the translated
    coordinate the list reads j .. hi-1, lo .. j-1."""
    j = lo
    while j < hi and c[j] < threshold:
        j += 1
    return j


@njit(cache=True, inline="always")
def _rotated(start, k, lo, hi):
    """The k-th entry of the list [lo, hi) read from ``start`` around the end: start + k, wrapped."""
    i = start + k
    return i - (hi - lo) if i >= hi else i


@njit(cache=True, inline="always")  # per event: no call (and no reference counting of M's arrays)
def _window_normals(rng, o, x0, x1, x2, M, zloc, drawn):
    """Draw the window's standard normals in increasing translated site index (the canonical
    order) without sorting: the window is stored plane by plane (c0), row by row (c1), element by
    element (c2), each increasing, and translation only rotates each of these lists.  The normal
    of an element with a moving site goes to zloc[its A row]; ``drawn`` receives those A rows in
    drawing order.  Returns how many A rows were written."""
    grid = M.grid
    pc, prl, prh, rc, rel, reh, ec, ea = (
        M.plane_c, M.plane_row_lo, M.plane_row_hi, M.row_c, M.row_el_lo, M.row_el_hi, M.el_c, M.el_act
    )  # fmt: skip
    p_lo, p_hi = M.plane_lo[o], M.plane_hi[o]
    n_drawn = 0
    p_start = _rotation_start(pc, p_lo, p_hi, grid[0] - x0)
    for pp in range(p_hi - p_lo):
        p = _rotated(p_start, pp, p_lo, p_hi)
        r_lo, r_hi = prl[p], prh[p]
        r_start = _rotation_start(rc, r_lo, r_hi, grid[1] - x1)
        for rr in range(r_hi - r_lo):
            r = _rotated(r_start, rr, r_lo, r_hi)
            e_lo, e_hi = rel[r], reh[r]
            e_start = _rotation_start(ec, e_lo, e_hi, grid[2] - x2)
            for ee in range(e_hi - e_lo):
                e = _rotated(e_start, ee, e_lo, e_hi)
                z = rng.standard_normal()
                act = ea[e]
                if act >= 0:
                    zloc[act] = z
                    drawn[n_drawn] = act
                    n_drawn += 1
    return n_drawn


@njit(cache=True)
def _scratch(M):
    """Work arrays sized for the model: axis tables, and the kick's (old, xg, xb, zb, ob, v, xm, zm, ym)."""
    grid = M.grid
    nA = max(1, M.active_coord.shape[1])
    nZ = max(1, M.zone_block_lo[-1])
    n_group = max(1, M.a_images.shape[1], M.z_columns.shape[1])
    tab = np.empty((3, max(grid[0], grid[1], grid[2])), dtype=np.int64)
    n_out = max(1, M.out_lo[-1])
    # (old, xg, xb, zb, ob, v) and a mirror block's inputs and output in its primary's basis (xm, zm, ym)
    return tab, (np.empty(nA), np.empty(nZ), np.empty(nZ), np.empty(nA), np.empty(n_out), np.empty(n_group),
                 np.empty(nZ), np.empty(nA), np.empty(n_out))  # fmt: skip


@njit(cache=True)
def _affected_buffers(M):
    """(site_buf, value_buf, rate_buf) for _update_rates, sized for the largest orientation."""
    n = 1
    lo = M.affected_site_lo
    for o in range(lo.shape[0] - 1):
        n = max(n, lo[o + 1] - lo[o])
    n_aff = 1
    for o in range(M.affected_lo.shape[0] - 1):
        n_aff = max(n_aff, M.affected_lo[o + 1] - M.affected_lo[o])
    return np.empty(n, dtype=np.int64), np.empty(n), np.empty(n_aff)


@njit(cache=True)
def apply_kick(S, cluster_id, zeta, M):
    """The canonical kick of cluster ``cluster_id`` with ``zeta`` (N standard normals in site
    order; only the moving sites' entries are used).  Returns the new state (S unchanged)."""
    grid = M.grid
    N = grid[0] * grid[1] * grid[2]
    o = cluster_id // N
    tab, work = _scratch(M)
    _axis_tables(grid, cluster_id % N, tab)
    ac = M.active_coord
    zloc = np.empty(max(1, ac.shape[1]))
    for i in range(ac.shape[1]):
        zloc[i] = zeta[_site(tab, ac, o, i)]
    S_new = S.copy()
    _kick(S_new, o, zloc, M, tab, work)
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
    grid, cl = M.grid, M.cluster_offsets
    ac = M.active_coord
    N = grid[0] * grid[1] * grid[2]
    n_clusters = cl.shape[0] * N
    tab, work = _scratch(M)
    old = work[0]
    nA_max = max(1, ac.shape[1])
    zloc = np.empty(nA_max)
    drawn = np.empty(nA_max, dtype=np.int64)
    n_aff = 1
    for o in range(M.affected_lo.shape[0] - 1):
        n_aff = max(n_aff, M.affected_lo[o + 1] - M.affected_lo[o])
    level = np.empty(n_aff, dtype=np.int64)
    nxt = np.empty(n_aff, dtype=np.int64)
    site_buf, value_buf, rate_buf = _affected_buffers(M)
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
        x0, x1, x2 = _axis_tables(grid, k % N, tab)
        n_drawn = _window_normals(rng, o, x0, x1, x2, M, zloc, drawn)
        nA = _kick(S, o, zloc, M, tab, work)
        status, info_k, info_s = _update_rates(S, tree, mark, o, M, tab, level, nxt, site_buf, value_buf, rate_buf)
        if status != OK:
            # undo the event so the state stays the last good one; the caller raises
            for i in range(nA):
                S[_site(tab, ac, o, i)] = old[i]
            _update_rates(S, tree, mark, o, M, tab, level, nxt, site_buf, value_buf, rate_buf)
            t, comp = t_prev, comp_prev
            break
        if record:
            for p in range(n_drawn):
                act = drawn[p]
                site = _site(tab, ac, o, act)
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
