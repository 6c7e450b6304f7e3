"""Numba kernels of the structure functions (Appendix A), behind :mod:`trsp_softness.structure`.

Speed comes from three things, none of which changes the value beyond rounding:

* ``neg_exp_scaled``: exp(-x) as (Taylor polynomial at -x / 2^s)^(2^s), branch-free so that LLVM
  vectorises the loops that call it (libm's exp is a scalar call); relative error below 3e-13
  (``neg_exp``, every x >= 0 whose exp is not subnormal), and for each xi of the paper's set the cheapest (s, degree) with a
  bound below 1e-13 over its range of arguments;
* the angular triple sum is a pair sum over the centre's neighbours {j, k} with
  r_ij^2 + r_ik^2 + r_jk^2 = 2 (r_ij^2 + r_ik^2 - u_j . u_k) (law of cosines) and
  1 +- cos theta_jik = |e_j +- e_k|^2 / 2 for the unit vectors e (no cancellation for nearly
  collinear triples; both identities in proofs/softness_descriptors.py), one exponential per pair
  and distinct xi, and the powers (1 +- cos)^zeta for zeta = 1, 2, 4, 8, 16 by repeated squaring,
  accumulated in registers;
* neighbours arrive sorted by type, so each unordered type pair is a contiguous range of k.

Triples whose zeta is not 1, 2, 4, 8 or 16 go through ``angular_generic`` (math.pow per pair).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["neg_exp", "neg_exp_scaled", "exp_error", "radial_kernel", "radial_kernel_uniform", "angular_kernel", "angular_kernel_paper",
           "angular_generic", "SLOTS", "PAPER_LAYOUT", "PAPER_EXP", "RADIAL_ZERO",
           "UNIFORM_MU_TOL", "UNIFORM_MAX_STEPS", "cell_list_pairs"]

#: accumulator slots of angular_kernel: (lambda, zeta) for slot 0..9
SLOTS = ((1, 1), (1, 2), (1, 4), (1, 8), (1, 16), (-1, 1), (-1, 2), (-1, 4), (-1, 8), (-1, 16))

# reassociation lets LLVM vectorise the reductions; no approximate reciprocals or functions
_FM = {"reassoc", "contract", "nsz", "nnan", "ninf"}


#: 1/k!, the Taylor coefficients of exp
_INV_FACTORIAL = np.array([1.0 / math.factorial(k) for k in range(16)])


@njit(fastmath=_FM, cache=True, inline="always")
def neg_exp_scaled(x, s, deg):
    """exp(-x): the Taylor polynomial of degree ``deg`` at y = -x / 2^s, squared s times.

    Relative error about (x / 2^s)^(deg+1) / (deg+1)! x 2^s (plus rounding): ``s`` and ``deg`` are
    literals at every call site, so the loops unroll and the calling loop vectorises."""
    y = x * (-1.0 / (1 << s))
    p = _INV_FACTORIAL[deg]
    for i in range(deg - 1, -1, -1):
        p = p * y + _INV_FACTORIAL[i]
    for _ in range(s):
        p = p * p
    return p


@njit(fastmath=_FM, cache=True, inline="always")
def neg_exp(x):
    """exp(-x) for every x >= 0, relative error < 3e-13 (x / 2^11 <= 0.36 up to the underflow of exp)."""
    return neg_exp_scaled(x, 11, 12)


def exp_error(x_max: float, s: int, deg: int) -> float:
    """The truncation bound of neg_exp_scaled(x, s, deg) for 0 <= x <= x_max (relative)."""
    y = x_max / 2.0**s
    return y ** (deg + 1) / math.factorial(deg + 1) * 2.0**s


#: (r - mu)^2 / sigma^2 beyond this gives exp = 0 in double precision (exp(-746) underflows):
#: such terms are skipped, which changes no value
RADIAL_ZERO = 746.0


@njit(fastmath=_FM, cache=True)
def radial_kernel(offsets, distance, ntype, mu, inv_sigma, n_types, out):
    """out[c, b * M + m] += sum over neighbours j of type b of exp(-((r_cj - mu_m) / sigma)^2).

    ``mu`` strictly increasing; only the centres within sqrt(RADIAL_ZERO) sigma of r are visited."""
    M = mu.shape[0]
    reach = np.sqrt(RADIAL_ZERO) / inv_sigma
    for c in range(offsets.shape[0] - 1):
        for e in range(offsets[c], offsets[c + 1]):
            r = distance[e]
            base = ntype[e] * M
            m0 = np.searchsorted(mu, r - reach)
            m1 = np.searchsorted(mu, r + reach)
            for m in range(m0, m1):
                z = (r - mu[m]) * inv_sigma
                out[c, base + m] += neg_exp(z * z)


#: radial_kernel_uniform takes mu_m = mu0 + m h where that moves no exponent by more than this
UNIFORM_MU_TOL = 1e-12
#: radial_kernel_uniform walks at most this many centres from the nearest one (sqrt(RADIAL_ZERO)
#: sigma / h <= 40): its relative error grows like steps^2 / 2 roundings, below 2e-13 here
UNIFORM_MAX_STEPS = 40


@njit(fastmath=_FM, cache=True)
def radial_kernel_uniform(offsets, distance, ntype, mu0, h, M, inv_sigma, n_types, out):
    """radial_kernel for equally spaced centres mu_m = mu0 + m h (the paper's grid), two
    exponentials per neighbour instead of one per centre.

    With z_m = (r - mu_m) / sigma, g_m = exp(-z_m^2) obeys g_{m+1} = g_m R_m and
    R_{m+1} = R_m q, where R_m = exp((2 (r - mu_m) h - h^2) / sigma^2) and q = exp(-2 h^2 / sigma^2)
    (proofs/softness_descriptors.py); likewise downwards.  The walk starts at the centre nearest
    to r, so no factor exceeds 1 (nothing overflows); after k steps g carries about k^2 / 2
    roundings (relative error below 2e-13 for k <= UNIFORM_MAX_STEPS; the paper's sigma = h
    needs k <= 28), checked against radial_kernel in the tests.  Only the centres within
    sqrt(RADIAL_ZERO) sigma of r are visited, as there."""
    reach = np.sqrt(RADIAL_ZERO) / inv_sigma
    s2 = inv_sigma * inv_sigma
    q = np.exp(-2.0 * h * h * s2)
    for c in range(offsets.shape[0] - 1):
        for e in range(offsets[c], offsets[c + 1]):
            r = distance[e]
            base = ntype[e] * M
            m0 = max(0, int(np.ceil((r - reach - mu0) / h)))
            m1 = min(M, int(np.floor((r + reach - mu0) / h)) + 1)
            if m0 >= m1:
                continue
            ms = min(max(int(np.rint((r - mu0) / h)), m0), m1 - 1)
            d = r - (mu0 + ms * h)
            g0 = np.exp(-d * d * s2)
            out[c, base + ms] += g0
            g = g0
            ratio = np.exp((2.0 * d * h - h * h) * s2)  # g_{ms+1} / g_ms
            for m in range(ms + 1, m1):
                g *= ratio
                ratio *= q
                out[c, base + m] += g
            g = g0
            ratio = np.exp((-2.0 * d * h - h * h) * s2)  # g_{ms-1} / g_ms
            for m in range(ms - 1, m0 - 1, -1):
                g *= ratio
                ratio *= q
                out[c, base + m] += g


@njit(fastmath=_FM, cache=True)
def _centre_arrays(vector, distance, lo, hi):
    """Neighbour vectors u (x, y, z; z = 0 in 2D), unit vectors e and r^2 of rows lo..hi."""
    n = hi - lo
    dim = vector.shape[1]
    ux = np.zeros(n)
    uy = np.zeros(n)
    uz = np.zeros(n)
    ex = np.zeros(n)
    ey = np.zeros(n)
    ez = np.zeros(n)
    r2 = np.empty(n)
    for e in range(n):
        d = distance[lo + e]
        ux[e] = vector[lo + e, 0]
        uy[e] = vector[lo + e, 1]
        ex[e] = ux[e] / d
        ey[e] = uy[e] / d
        if dim == 3:
            uz[e] = vector[lo + e, 2]
            ez[e] = uz[e] / d
        r2[e] = d * d
    return ux, uy, uz, ex, ey, ez, r2


@njit(fastmath=_FM, cache=True, inline="always")
def _one_plus_minus_cos(exj, eyj, ezj, exk, eyk, ezk):
    """(1 + cos, 1 - cos) of the angle between unit vectors e_j, e_k as |e_j +- e_k|^2 / 2: no
    cancellation near cos = -1 or +1 (nearly collinear triples), unlike 1 +- e_j . e_k."""
    sx = exj + exk
    sy = eyj + eyk
    sz = ezj + ezk
    dx = exj - exk
    dy = eyj - eyk
    dz = ezj - ezk
    return 0.5 * (sx * sx + sy * sy + sz * sz), 0.5 * (dx * dx + dy * dy + dz * dz)


@njit(fastmath=_FM, cache=True)
def _type_blocks(ntype, lo, hi, n_types):
    """start[b]..start[b+1]: rows of neighbour type b (rows lo..hi, sorted by type)."""
    start = np.empty(n_types + 1, np.int64)
    e = lo
    for b in range(n_types):
        start[b] = e
        while e < hi and ntype[e] == b:
            e += 1
    start[n_types] = hi
    return start


@njit(fastmath=_FM, cache=True)
def angular_kernel(offsets, vector, distance, ntype, n_types, pair_index, inv_xi2, mode, out):
    """Angular sums per centre, type pair, distinct xi and slot (SLOTS).

    pair_index[b, c] (b <= c): the type pair's row of ``out``; inv_xi2[g] = 1 / xi_g^2;
    mode[g]: 0 = slots of lambda = +-1 with zeta = 1, 2; 1 = lambda = +1, zeta = 1..16; 2 = all.
    out[c, p, g, s] += sum over unordered pairs {j, k} of types {b, c} (pair p) of
    exp(-(r_j^2 + r_k^2 + r_jk^2) xi_g^-2) (1 + lambda_s cos theta_jk)^zeta_s.
    """
    G = inv_xi2.shape[0]
    for c in range(offsets.shape[0] - 1):
        lo = offsets[c]
        hi = offsets[c + 1]
        n = hi - lo
        if n < 2:
            continue
        ux, uy, uz, ex, ey, ez, r2 = _centre_arrays(vector, distance, lo, hi)
        start = _type_blocks(ntype, lo, hi, n_types) - lo
        plus = np.empty(n)
        minus = np.empty(n)
        tri = np.empty(n)
        for j in range(n - 1):
            xj = ux[j]
            yj = uy[j]
            zj = uz[j]
            r2j = r2[j]
            for k in range(j + 1, n):
                d = xj * ux[k] + yj * uy[k] + zj * uz[k]
                plus[k], minus[k] = _one_plus_minus_cos(ex[j], ey[j], ez[j], ex[k], ey[k], ez[k])
                tri[k] = 2.0 * (r2j + r2[k] - d)
            b = ntype[lo + j]
            for cc in range(b, n_types):
                k0 = max(j + 1, start[cc])
                k1 = start[cc + 1]
                if k0 >= k1:
                    continue
                p = pair_index[b, cc]
                for g in range(G):
                    a = inv_xi2[g]
                    s0 = 0.0
                    s1 = 0.0
                    s2 = 0.0
                    s3 = 0.0
                    s4 = 0.0
                    s5 = 0.0
                    s6 = 0.0
                    s7 = 0.0
                    s8 = 0.0
                    s9 = 0.0
                    if mode[g] == 0:
                        for k in range(k0, k1):
                            w = neg_exp(tri[k] * a)
                            bp = plus[k]
                            bm = minus[k]
                            s0 += w * bp
                            s1 += w * bp * bp
                            s5 += w * bm
                            s6 += w * bm * bm
                    elif mode[g] == 1:
                        for k in range(k0, k1):
                            w = neg_exp(tri[k] * a)
                            bp = plus[k]
                            p2 = bp * bp
                            p4 = p2 * p2
                            p8 = p4 * p4
                            s0 += w * bp
                            s1 += w * p2
                            s2 += w * p4
                            s3 += w * p8
                            s4 += w * (p8 * p8)
                    else:
                        for k in range(k0, k1):
                            w = neg_exp(tri[k] * a)
                            bp = plus[k]
                            bm = minus[k]
                            p2 = bp * bp
                            p4 = p2 * p2
                            p8 = p4 * p4
                            m2 = bm * bm
                            m4 = m2 * m2
                            m8 = m4 * m4
                            s0 += w * bp
                            s1 += w * p2
                            s2 += w * p4
                            s3 += w * p8
                            s4 += w * (p8 * p8)
                            s5 += w * bm
                            s6 += w * m2
                            s7 += w * m4
                            s8 += w * m8
                            s9 += w * (m8 * m8)
                    o = out[c, p, g]
                    o[0] += s0
                    o[1] += s1
                    o[2] += s2
                    o[3] += s3
                    o[4] += s4
                    o[5] += s5
                    o[6] += s6
                    o[7] += s7
                    o[8] += s8
                    o[9] += s9


#: the (lambda, zeta) layout angular_kernel_paper computes, group by group (Cubuk et al. 2015's
#: 22 triples: two xi with lambda = +-1, zeta = 1, 2; one with lambda = 1, zeta = 1, 2; three
#: with lambda = 1, zeta = 1, 2, 4, 16), and the squarings of its exponential per group
PAPER_LAYOUT = (((-1, 1), (1, 1), (-1, 2), (1, 2)), ((-1, 1), (1, 1), (-1, 2), (1, 2)), ((1, 1), (1, 2)),
                ((1, 1), (1, 2), (1, 4), (1, 16)), ((1, 1), (1, 2), (1, 4), (1, 16)), ((1, 1), (1, 2), (1, 4), (1, 16)))
#: (squarings, degree) of the exponential of each group: the cheapest pair with exp_error below
#: 1e-13 for the paper's six xi at sigma_max = 5 (the dispatcher checks it for the set at hand)
PAPER_EXP = ((1, 11), (8, 9), (9, 9), (10, 9), (10, 10), (11, 10))


@njit(fastmath=_FM, cache=True)
def angular_kernel_paper(offsets, vector, distance, ntype, n_types, pair_index, inv_xi2, out):
    """The 22 triples of PAPER_LAYOUT in one pass over the pairs (out[c, p, 0..21] in layout
    order), for six xi whose exponentials are accurate with PAPER_EXP (see exp_error)."""
    a0 = inv_xi2[0]
    a1 = inv_xi2[1]
    a2 = inv_xi2[2]
    a3 = inv_xi2[3]
    a4 = inv_xi2[4]
    a5 = inv_xi2[5]
    for c in range(offsets.shape[0] - 1):
        lo = offsets[c]
        hi = offsets[c + 1]
        n = hi - lo
        if n < 2:
            continue
        ux, uy, uz, ex, ey, ez, r2 = _centre_arrays(vector, distance, lo, hi)
        start = _type_blocks(ntype, lo, hi, n_types) - lo
        for j in range(n - 1):
            xj = ux[j]
            yj = uy[j]
            zj = uz[j]
            exj = ex[j]
            eyj = ey[j]
            ezj = ez[j]
            r2j = r2[j]
            b = ntype[lo + j]
            for cc in range(b, n_types):
                k0 = max(j + 1, start[cc])
                k1 = start[cc + 1]
                if k0 >= k1:
                    continue
                t0 = t1 = t2 = t3 = t4 = t5 = t6 = t7 = t8 = t9 = t10 = 0.0
                t11 = t12 = t13 = t14 = t15 = t16 = t17 = t18 = t19 = t20 = t21 = 0.0
                for k in range(k0, k1):
                    d = xj * ux[k] + yj * uy[k] + zj * uz[k]
                    tr = 2.0 * (r2j + r2[k] - d)
                    bp, bm = _one_plus_minus_cos(exj, eyj, ezj, ex[k], ey[k], ez[k])
                    p2 = bp * bp
                    m2 = bm * bm
                    p4 = p2 * p2
                    p8 = p4 * p4
                    p16 = p8 * p8
                    w = neg_exp_scaled(tr * a0, 1, 11)
                    t0 += w * bm
                    t1 += w * bp
                    t2 += w * m2
                    t3 += w * p2
                    w = neg_exp_scaled(tr * a1, 8, 9)
                    t4 += w * bm
                    t5 += w * bp
                    t6 += w * m2
                    t7 += w * p2
                    w = neg_exp_scaled(tr * a2, 9, 9)
                    t8 += w * bp
                    t9 += w * p2
                    w = neg_exp_scaled(tr * a3, 10, 9)
                    t10 += w * bp
                    t11 += w * p2
                    t12 += w * p4
                    t13 += w * p16
                    w = neg_exp_scaled(tr * a4, 10, 10)
                    t14 += w * bp
                    t15 += w * p2
                    t16 += w * p4
                    t17 += w * p16
                    w = neg_exp_scaled(tr * a5, 11, 10)
                    t18 += w * bp
                    t19 += w * p2
                    t20 += w * p4
                    t21 += w * p16
                o = out[c, pair_index[b, cc]]
                o[0] += t0
                o[1] += t1
                o[2] += t2
                o[3] += t3
                o[4] += t4
                o[5] += t5
                o[6] += t6
                o[7] += t7
                o[8] += t8
                o[9] += t9
                o[10] += t10
                o[11] += t11
                o[12] += t12
                o[13] += t13
                o[14] += t14
                o[15] += t15
                o[16] += t16
                o[17] += t17
                o[18] += t18
                o[19] += t19
                o[20] += t20
                o[21] += t21


@njit(cache=True)
def angular_generic(offsets, vector, distance, ntype, n_types, pair_index, xi, lam, zeta, out):
    """The same sums for arbitrary (xi, lambda, zeta) rows, one math.pow per pair and row:
    out[c, p, t] (the slow path for zeta outside {1, 2, 4, 8, 16})."""
    dim = vector.shape[1]
    T = xi.shape[0]
    for c in range(offsets.shape[0] - 1):
        lo = offsets[c]
        hi = offsets[c + 1]
        for j in range(lo, hi):
            for k in range(j + 1, hi):
                d = 0.0
                plus = 0.0
                minus = 0.0
                rj = distance[j]
                rk = distance[k]
                for a in range(dim):
                    d += vector[j, a] * vector[k, a]
                    s_ = vector[j, a] / rj + vector[k, a] / rk
                    m_ = vector[j, a] / rj - vector[k, a] / rk
                    plus += 0.5 * s_ * s_
                    minus += 0.5 * m_ * m_
                tri = 2.0 * (rj * rj + rk * rk - d)
                b = min(ntype[j], ntype[k])
                cc = max(ntype[j], ntype[k])
                p = pair_index[b, cc]
                for t in range(T):
                    base = plus if lam[t] > 0 else minus
                    out[c, p, t] += np.exp(-tri / (xi[t] * xi[t])) * base ** zeta[t]


@njit(cache=True)
def _cell_coords(x, L, n):
    """The cell (0..n-1) of coordinate x in [0, L) on n cells; rounding at L clipped."""
    c = int(x / L * n)
    return min(max(c, 0), n - 1)


@njit(cache=True)
def cell_list_pairs(positions, box, typeid, n_types, centres, r_max, ncell, reach, fill, type_counts, offsets, index,
                    vector, distance, ntype):
    """Every periodic image of every particle closer than r_max to each centre (the centre itself
    at zero shift excluded), on a cell list with ncell[a] cells per axis; cells up to reach[a]
    away are visited, wrapped with their image shift, so an image is met once whatever the box
    (boxes smaller than r_max included: a cell is then visited once per image).

    fill = False: counts only, type_counts[c, t] = the number of neighbours of type t of centre c.
    fill = True: with offsets (n_centres + 1) from those counts, writes rows offsets[c]..offsets[c+1]
    in type order (index, vector, distance, ntype), in visiting order within a type."""
    N, dim = positions.shape
    n3 = np.ones(3, np.int64)
    k3 = np.zeros(3, np.int64)
    L3 = np.ones(3)
    for a in range(dim):
        n3[a] = ncell[a]
        k3[a] = reach[a]
        L3[a] = box[a]
    n_cells = n3[0] * n3[1] * n3[2]
    cell = np.empty(N, np.int64)
    head = np.zeros(n_cells + 1, np.int64)
    for p in range(N):
        c = 0
        for a in range(dim):
            c = c * n3[a] + _cell_coords(positions[p, a], L3[a], n3[a])
        for a in range(dim, 3):
            c = c * n3[a]
        cell[p] = c
        head[c + 1] += 1
    for c in range(n_cells):
        head[c + 1] += head[c]
    members = np.empty(N, np.int64)
    slot = head[:-1].copy()
    for p in range(N):
        members[slot[cell[p]]] = p
        slot[cell[p]] += 1
    r2max = r_max * r_max
    per_type = np.zeros(n_types, np.int64)
    shift = np.zeros(3)
    v = np.zeros(3)
    for ci in range(centres.shape[0]):
        i = centres[ci]
        own = np.zeros(3, np.int64)
        x = np.zeros(3)
        for a in range(dim):
            own[a] = _cell_coords(positions[i, a], L3[a], n3[a])
            x[a] = positions[i, a]
        at = np.empty(n_types, np.int64)  # fill: the next row of each type
        if fill:
            at[0] = offsets[ci]
            for t in range(1, n_types):
                at[t] = at[t - 1] + type_counts[ci, t - 1]
        per_type[:] = 0
        for ox in range(-k3[0], k3[0] + 1):
            cx = own[0] + ox
            wx = cx // n3[0]
            shift[0] = wx * L3[0]
            cx -= wx * n3[0]
            for oy in range(-k3[1], k3[1] + 1):
                cy = own[1] + oy
                wy = cy // n3[1]
                shift[1] = wy * L3[1]
                cy -= wy * n3[1]
                for oz in range(-k3[2], k3[2] + 1):
                    cz = own[2] + oz
                    wz = cz // n3[2]
                    shift[2] = wz * L3[2]
                    cz -= wz * n3[2]
                    c = (cx * n3[1] + cy) * n3[2] + cz
                    zero = wx == 0 and wy == 0 and wz == 0
                    for m in range(head[c], head[c + 1]):
                        p = members[m]
                        if zero and p == i:
                            continue
                        r2 = 0.0
                        for a in range(dim):
                            v[a] = positions[p, a] + shift[a] - x[a]
                            r2 += v[a] * v[a]
                        if r2 >= r2max:
                            continue
                        d = np.sqrt(r2)
                        if d >= r_max:
                            continue
                        t = typeid[p]
                        if fill:
                            e = at[t]
                            at[t] += 1
                            index[e] = p
                            for a in range(dim):
                                vector[e, a] = v[a]
                            distance[e] = d
                            ntype[e] = t
                        per_type[t] += 1
        if not fill:
            type_counts[ci, :] = per_type
