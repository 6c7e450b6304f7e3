"""Numba kernels of ``trsp fit``'s event route (run files read event by event; docs/fit.md).

The thin wrapper is :mod:`trsp_fit.events`.  One call replays a stretch of consecutive events
of a "full" run file on the state ``S`` (advanced in place) and adds, per event:

- the exact exposure of every site whose value the event changes: the time since its last
  change, spent at its old value (P(R|S) of Eq. 4 as a Poisson rate per unit time; the
  wrapper closes the open stretches at block ends);
- the rearranging sites' softness just before the event (the rearrangements of P(R|S));
- the kick statistics (Sec. V, Eq. 30): for every site j of the event's neighbourhood
  (rt_j <= r_background, inside the run's kick window), the regressors x_j = [1, S_j, mean S
  of j's neighbours, mean S of the cluster sites within rt_j + neighbour radius] taken just
  before the event and dS_j = the event's own change (exact: no other event is mixed in,
  so there is no background), added to the same cross-product sums as the frame route
  (:mod:`trsp_fit.statistics`), and the pair sums behind rho.

The geometry is a table per cluster orientation at anchor 0 (integer coordinates in [0, L)),
translated to the event's anchor with per-axis lookup tables (no division in the loop).
"""

from __future__ import annotations

from numba import njit

__all__ = ["replay_events"]


@njit(cache=True)
def _site(ax, ay, az, ox, oy, oz, tx, ty, tz):
    return tx[ax + ox] + ty[ay + oy] + tz[az + oz]


@njit(cache=True)
def replay_events(
    times, clusters, offsets, sites, after,  # the events (change offsets from 0)
    e0, e1,  # replay events e0 .. e1-1
    S, last_t,  # state and the time of each site's last change (in place)
    coords,  # (N, 3) integer coordinates of every site (third 0 in 2D)
    tx, ty, tz,  # (2L,) axis tables: site index contribution of coordinate c (mod L)
    n_sites,  # N
    members,  # (n_orient, m, 3) cluster offsets at anchor 0
    nb_off, nb_n, nb_rtb, nb_rt, nb_g, member_q,  # neighbourhood per orientation: offsets (o, q, 3), count, rt bin, rt, (o, q, m) regressor mask, (o, m) q of each member
    pair_q, pair_b, pair_r, pair_n,  # pairs per orientation and member: (o, m, P) q, pair bin, distance; count (o, m)
    nn_off,  # (T, 3) neighbour offsets (0 < r <= neighbour radius)
    rate_lo, rate_scale, n_rate,  # rate bins: bin = clip((s - lo) * scale, 0, n - 1)
    expo, expo_s, kcount, moments,  # rate/moment accumulators
    XtX, Xty, yty, kick_n, rt_sum,  # kick accumulators per rt bin
    pXX, pXy, pyX, pyy, pn, pr_sum,  # pair accumulators per (pair bin, rt bin)
    D, xq, yq,  # scratch: (N,) zeros, (Q, 4), (Q,)
    use_kicks,
):
    m = members.shape[1]
    n_nn = nn_off.shape[0]
    for e in range(e0, e1):
        t = times[e]
        c = clusters[e]
        o = c // n_sites
        anc = c - o * n_sites
        ax, ay, az = coords[anc, 0], coords[anc, 1], coords[anc, 2]
        # exposures of the changed sites, then the event's change into D
        for k in range(offsets[e], offsets[e + 1]):
            s = sites[k]
            v = S[s]
            seg = t - last_t[s]
            b = int((v - rate_lo) * rate_scale)
            b = 0 if b < 0 else (n_rate - 1 if b >= n_rate else b)
            expo[b] += seg
            expo_s[b] += seg * v
            p = seg
            for q in range(5):
                moments[q] += p
                p *= v
            last_t[s] = t
            D[s] = after[k] - v
        # the rearranging sites: their softness just before the event
        for a in range(m):
            s = _site(ax, ay, az, members[o, a, 0], members[o, a, 1], members[o, a, 2], tx, ty, tz)
            v = S[s]
            b = int((v - rate_lo) * rate_scale)
            b = 0 if b < 0 else (n_rate - 1 if b >= n_rate else b)
            kcount[b] += 1.0
        if use_kicks:
            nq = nb_n[o]
            for q in range(nq):
                j = _site(ax, ay, az, nb_off[o, q, 0], nb_off[o, q, 1], nb_off[o, q, 2], tx, ty, tz)
                jx, jy, jz = coords[j, 0], coords[j, 1], coords[j, 2]
                acc = 0.0
                for u in range(n_nn):
                    acc += S[_site(jx, jy, jz, nn_off[u, 0], nn_off[u, 1], nn_off[u, 2], tx, ty, tz)]
                gs = 0.0
                gc = 0.0
                for a in range(m):
                    if nb_g[o, q, a]:
                        gs += S[_site(ax, ay, az, members[o, a, 0], members[o, a, 1], members[o, a, 2], tx, ty, tz)]
                        gc += 1.0
                xq[q, 0] = 1.0
                xq[q, 1] = S[j]
                xq[q, 2] = acc / n_nn
                xq[q, 3] = gs / gc if gc > 0 else 0.0
                y = D[j]
                yq[q] = y
                rb = nb_rtb[o, q]
                for u in range(4):
                    Xty[rb, u] += xq[q, u] * y
                    for w in range(4):
                        XtX[rb, u, w] += xq[q, u] * xq[q, w]
                yty[rb] += y * y
                kick_n[rb] += 1.0
                rt_sum[rb] += nb_rt[o, q]
            for a in range(m):
                qa = member_q[o, a]
                ya = yq[qa]
                for p_ in range(pair_n[o, a]):
                    q = pair_q[o, a, p_]
                    pb = pair_b[o, a, p_]
                    jb = nb_rtb[o, q]
                    yj = yq[q]
                    for u in range(4):
                        pXy[pb, jb, u] += xq[qa, u] * yj
                        pyX[pb, jb, u] += ya * xq[q, u]
                        for w in range(4):
                            pXX[pb, jb, u, w] += xq[qa, u] * xq[q, w]
                    pyy[pb, jb] += ya * yj
                    pn[pb, jb] += 1.0
                    pr_sum[pb, jb] += pair_r[o, a, p_]
        # apply the event
        for k in range(offsets[e], offsets[e + 1]):
            s = sites[k]
            S[s] = after[k]
            D[s] = 0.0
    return 0
