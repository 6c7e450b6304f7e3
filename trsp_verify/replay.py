"""One streaming pass over one replica: replay the trajectory and collect every check's sufficient statistics.

The events arrive in chunks (:class:`trsp_runfile.events.EventRecord`, from a run file read
chunk by chunk or from a simulation), so memory is bounded by a chunk and the model side,
not by the run's length.  The state is rebuilt from ``S0`` and the recorded changes
(docs/formats.md: ``S[change_sites] = after`` event after event).  Statistics of the state
between events are kept *incrementally*: after each event only the sites it changed and the
clusters containing them are revisited (the total rate, the per-bin intensities of check 3,
the shell sums of check 2b, the observed-law exposure), and everything is recomputed from
scratch at the start of every block of events so that rounding cannot accumulate.  Nothing
here decides pass or fail: :mod:`trsp_verify.checks` turns the :class:`ReplicaStats` of
all replicas into tests.

Time bookkeeping: the state before event ``e`` is held on ``[tau_e, t_e)`` with
``tau_0 = t0`` and ``tau_e = t_{e-1}``; the state after the last event on
``[t_{n-1}, t_end)``.  A run stopped after n events ends at a random time that depends on
the state (soft states fire faster), so nothing is selected by comparing a time with
``t_end`` where it can be avoided: time averages run over the whole run (one value per
replica), detailed-balance batches are blocks of consecutive events, and the fixed-time
states lie in the first half of the run's expected duration (:class:`Plan`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import scipy.linalg

from trsp_runfile.events import EventRecord

from .model_side import ZERO_CHANGE_TOLERANCE, ModelSideBase
from .stats import UniformSample
from .targeted import TargetedStats
from trsp_ref.lattice import site_index

__all__ = ["Plan", "ReplicaStats", "analyse_replica", "make_plan", "VERIFY_SEED", "BLOCK_EVENTS"]

#: seed of the battery's own randomness (the randomized PIT); fixed so a verdict is repeatable
VERIFY_SEED = 20240531
#: events per block (at most; fewer on large lattices, BLOCK_BUDGET): the statistics are computed in full at every block start and
#: updated from what each event touches within it, vectorized over the block
BLOCK_EVENTS = 4096
#: float64 numbers of the per-block state and rate matrices ((E + 1) x N and E x n_clusters)
BLOCK_BUDGET = 4_000_000

#: the fixed times, as fractions of the expected duration of the shortest replica: early
#: enough that a run of n events almost never ends before them (the state at a fixed time is
#: only known, and only exactly N(mean, K), when the run is still going)
FIXED_TIME_FRACTIONS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)


@dataclass(frozen=True)
class Plan:
    """Choices shared by all replicas (made before looking at the data).

    windows       : number W of detailed-balance batches (blocks of consecutive events) per replica
    fixed_times   : times after t0 at which the state is compared with N(mean, K)
    db_edges      : interior bin edges of a firing cluster's mean softness (detailed balance)
    rate_edges    : interior bin edges of one site's softness (rate law)
    shells        : [(r, frame sites at distance r from site 0, expected C(r))]
    """

    windows: int
    fixed_times: np.ndarray
    db_edges: np.ndarray
    rate_edges: np.ndarray
    shells: list


def make_plan(side: ModelSideBase, runs, *, windows: int | None = None) -> Plan:
    """W (default): as many batches (2..8) as keep >= 20 site participations per site per
    batch; DB bins: 3..6 equiprobable bins, fewer when there are few batches (Hotelling's test
    needs more batches than bin pairs); rate bins: 8 equiprobable bins; fixed times: the
    fractions FIXED_TIME_FRACTIONS of n_min / E[R_tot], the expected duration of the shortest
    replica at the model's mean event rate."""
    n_min = min(r.n_events for r in runs)
    rate = side.mean_total_rate()
    expected = n_min / rate if rate > 0 else 0.0
    participations = n_min * side.m / side.N  # per site over the run
    if windows is None:
        windows = int(np.clip(participations // 20, 2, 8))
    batches = windows * sum(1 for r in runs if r.full)
    n_db = 6
    while n_db > 3 and n_db * (n_db - 1) // 2 > max(batches - 3, 0) // 2:
        n_db -= 1
    return Plan(
        windows=windows,
        fixed_times=np.array(FIXED_TIME_FRACTIONS) * expected,
        db_edges=side.firing_sbar_quantiles(n_db),
        rate_edges=side.site_quantiles(8),
        shells=side.shells(5),
    )


@dataclass(eq=False)
class ReplicaStats:
    """The sufficient statistics of one replica (all arrays; summed or stacked by the checks)."""

    name: str
    n_events: int
    full: bool
    t0: float
    t_end: float
    first_participation: np.ndarray  # (N,) first time each site took part in an event (inf: never)
    # stationarity (time-weighted over the whole run) and fixed-time states
    run_mean: float = 0.0  # integral over [t0, t_end] of the site-mean softness minus the model mean
    run_C: np.ndarray | None = None  # (n_shells,) integral over [t0, t_end] of the centred C(r)
    fixed_states: np.ndarray | None = None  # (len(fixed_times), N) state at t0 + fixed time (NaN row: after t_end)
    # detailed balance
    db_counts: np.ndarray | None = None  # (W, nb, nb) events per batch by (bin before, bin after)
    # rate law
    rate_expected: np.ndarray | None = None  # (nr,) integral over [t0, t_end] of sum_i lambda(S_i) 1[S_i in bin]
    comp_count: np.ndarray | None = None  # (nr,) participations over the whole run
    comp_Lambda: np.ndarray | None = None  # (nr,) their compensator (integrated intensity)
    comp_V: np.ndarray | None = None  # (nr, nr) predictable covariation
    # waiting times and cluster choice
    wait_sum: float = 0.0  # sum over events of R_tot * dt (each ~ Exp(1))
    waits: UniformSample = field(default_factory=UniformSample)  # 1 - exp(-R_tot dt) ~ U(0, 1)
    pit: UniformSample = field(default_factory=UniformSample)  # randomized PIT of the chosen cluster
    lograte_dev: float = 0.0  # sum over events of log r_k - E[log r_k | S] (a martingale)
    lograte_var: float = 0.0  # its predictable variance: sum of Var[log r_k | S]
    # kick: every checked site (frame order), per orientation
    kick_sum: list = field(default_factory=list)  # per orientation (nC,) sum of z
    kick_sumsq: list = field(default_factory=list)  # per orientation (nC,) sum of z^2
    kick_n: list = field(default_factory=list)  # per orientation: events
    # kick: neighbourhood regression, per orientation
    near_XtX: list = field(default_factory=list)
    near_XtZ: list = field(default_factory=list)
    near_ZtZ: list = field(default_factory=list)
    # consistency with the declared model (deterministic)
    violations: int = 0
    violation_examples: list = field(default_factory=list)
    # targeted statistics (trsp_verify.targeted), streamed event by event
    targeted: TargetedStats | None = None


def first_participation_update(first: np.ndarray, clusters_table: np.ndarray, rec: EventRecord) -> None:
    """first[i] = the time of site i's first event so far (inf if none): I_i(t) = 1 iff this > t (Eq. 31)."""
    if len(rec):
        sites = clusters_table[rec.clusters]  # (n, m)
        np.minimum.at(first, sites.ravel(), np.repeat(rec.times, sites.shape[1]))


def _excl_cumsum(d: np.ndarray, start) -> np.ndarray:
    """Values before each event: ``start`` plus the sum of the changes of the earlier events."""
    out = np.cumsum(d, axis=0) - d
    return out + start


class _Replay:
    """Accumulates a :class:`ReplicaStats` from the chunks of one replica, block by block.

    Per block of E events: the states before each event (E+1, N) are rebuilt by applying the
    changes; the time-integrated statistics at the first state are computed in full, and at
    every later state by adding the contributions that changed: the sites each event changed
    and the clusters containing them (the "touched" clusters), vectorized over the block."""

    def __init__(self, side: ModelSideBase, plan: Plan, run, index: int):
        self.side, self.plan, self.run = side, plan, run
        N = side.N
        W = plan.windows
        self.n = run.n_events
        st = ReplicaStats(
            name=run.name, n_events=run.n_events, full=True, t0=run.t0, t_end=run.t0,
            first_participation=np.full(N, np.inf),
        )  # fmt: skip
        self.st = st
        nb, nr = plan.db_edges.size + 1, plan.rate_edges.size + 1
        self.nr, self.nsh = nr, len(plan.shells)
        # code_counts[c] = how many of a cluster's sites are in each rate-law bin, for the bin code c
        digits = (np.arange(nr ** side.m)[:, None] // nr ** np.arange(side.m)[None, :]) % nr
        self.code_counts = np.stack([(digits == b).sum(axis=1) for b in range(nr)], axis=1).astype(np.float64)
        self.shell_sizes = np.array([js.size for _, js, _ in plan.shells], dtype=np.float64)
        st.run_C = np.zeros(self.nsh)
        st.fixed_states = np.full((plan.fixed_times.size, N), np.nan)
        st.db_counts = np.zeros((W, nb, nb), dtype=np.int64)
        st.targeted = TargetedStats.for_side(side, W)
        st.rate_expected = np.zeros(nr)
        st.comp_count = np.zeros(nr)
        st.comp_Lambda = np.zeros(nr)
        st.comp_V = np.zeros((nr, nr))
        for f in side.frames:
            st.kick_sum.append(np.zeros(f.check.size))
            st.kick_sumsq.append(np.zeros(f.check.size))
            st.kick_n.append(0)
            p = f.near.size + 1
            st.near_XtX.append(np.zeros((p, p)))
            st.near_XtZ.append(np.zeros((p, f.near.size)))
            st.near_ZtZ.append(np.zeros((f.near.size, f.near.size)))
        self.fixed_t = run.t0 + plan.fixed_times
        self.next_fixed = 0
        self.rng = np.random.default_rng([VERIFY_SEED, index])
        self.S = np.array(run.S0, dtype=np.float64)
        self.bins = self._site_bins(self.S)
        self.e = 0  # events done
        self.t_prev = run.t0
        self.ids = np.arange(side.n_clusters)
        cl = side.clusters
        # clusters containing each site: (N, z), from the cluster table
        order = np.argsort(cl.ravel(), kind="stable")
        self.site_clusters = np.repeat(np.arange(side.n_clusters), side.m)[order].reshape(N, -1)
        # partners of each shell: partner[s][i] = the sites at the shell's offsets from site i
        self.partners = [side.translate(js, np.arange(N)) for _, js, _ in plan.shells]
        self.all_partners = np.concatenate(self.partners, axis=1)  # (N, sum of shell sizes)
        self.partner_starts = np.cumsum([0] + [p.shape[1] for p in self.partners[:-1]])
        self.block = int(np.clip(BLOCK_BUDGET // max(N, side.n_clusters), 16, BLOCK_EVENTS))

    # ------------------------------------------------------------------ per-cluster parts

    def _cluster_terms(self, states: np.ndarray, bins: np.ndarray, ev: np.ndarray, cid: np.ndarray):
        """For clusters ``cid`` in the states ``states[ev]``: their rates r, mean softness and the
        code of their sites' rate-law bins (``bins``: the bin of every site in every state)."""
        side = self.side
        flat = (ev * side.N)[:, None] + side.clusters[cid]  # (n, m) positions in the raveled states
        sbar = np.take(states, flat).sum(axis=1) / side.m
        return side.rate_of_mean(sbar), sbar, self._bin_code(np.take(bins, flat))

    def _bin_code(self, cb: np.ndarray) -> np.ndarray:
        """One integer per cluster for the bins (n, m) of its sites: sum_j cb_j nr^j."""
        code = cb[:, -1].astype(np.int64)
        for j in range(cb.shape[1] - 2, -1, -1):
            code = code * self.nr + cb[:, j]
        return code

    @staticmethod
    def _log_moments(r: np.ndarray):
        """r log r and r log^2 r (0 where r = 0)."""
        with np.errstate(divide="ignore"):
            logr = np.where(r > 0, np.log(r), 0.0)
        rl = r * logr
        return rl, rl * logr

    def _add_cluster_integrals(self, w: np.ndarray, sbar: np.ndarray, code: np.ndarray) -> None:
        """Add the time integrals carried by held clusters, each row one cluster in one state with
        weight ``w`` = its rate times the time it is held (negative for a term an event removes)
        and ``code`` its sites' bins (:meth:`_bin_code`): the rate law's intensity per bin,
        sum_R r_R n_b(R) (n_b(R): R's sites in bin b), its predictable covariation
        sum_R r_R n_b(R) n_b'(R), and the score's power sums sum_R r_R x_R^j, j = 0..4
        (trsp_verify.targeted).  The weights are first summed per bin code."""
        st = self.st
        per_code = np.bincount(code, weights=w, minlength=self.code_counts.shape[0])
        weighted = self.code_counts * per_code[:, None]
        st.comp_Lambda += weighted.sum(axis=0)
        st.comp_V += self.code_counts.T @ weighted
        ts = st.targeted
        x = (sbar - ts.score_loc) / ts.score_scale
        P = np.empty(5)
        p = w.copy()
        for j in range(5):
            P[j] = p.sum()
            if j < 4:
                p *= x
        ts.add_intensity(P)

    def _site_bins(self, S: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.plan.rate_edges, S, side="right").astype(np.int8)

    # ------------------------------------------------------------------ events

    def chunk(self, rec: EventRecord) -> None:
        first_participation_update(self.st.first_participation, self.side.clusters, rec)
        for lo in range(0, len(rec), self.block):
            self._block(rec.slice(lo, min(len(rec), lo + self.block)))

    def _block(self, rec: EventRecord) -> None:
        side, plan, st = self.side, self.plan, self.st
        N, E, nr = side.N, len(rec), self.nr
        o, cs, after, before = rec.change_offsets, rec.change_sites, rec.after, rec.before
        k = rec.clusters
        t = rec.times
        owner = np.repeat(np.arange(E), np.diff(o))
        # the states before every event, and after the last; and the rate-law bin of every site
        # (each site holds the value of the last change made to it: the changes are numbered in
        # event order, so a running maximum of the change number down the events finds it)
        last = np.full((E + 1, N), -1, dtype=np.int64)
        last[owner + 1, cs] = np.arange(cs.size)
        np.maximum.accumulate(last, axis=0, out=last)
        held = last >= 0
        states = np.where(held, after[last], self.S[None, :])
        bin_after = self._site_bins(after)
        bins = np.where(held, bin_after[last], self.bins[None, :])
        self.S, self.bins = states[E].copy(), bins[E].copy()
        z = self.site_clusters.shape[1]
        delta = after - before
        dt = t - np.concatenate(([self.t_prev], t[:-1]))
        if cs.size * z >= E * side.n_clusters // 2:
            # the events touch most clusters (a kick window comparable to the lattice): updating
            # would cost more than evaluating every state in full
            R, RL, RL2, sumS, rates = self._full(states[:E], bins[:E], dt)
        else:
            R, RL, RL2, sumS, rates = self._incremental(states, bins, last, dt, owner, cs, after, bin_after, delta, E)
        # ---- time integrals that are not linear in the state
        sbar = sumS / N
        st.run_mean += float(dt @ (sbar - side.mean))
        st.run_C -= float(dt @ (sbar * sbar))
        # ---- waiting times, chosen cluster
        st.waits.extend(-np.expm1(-R * dt))
        st.wait_sum += float(R @ dt)
        rows = np.arange(E)
        rk = rates[rows, k]
        below = np.where(rates < rk[:, None], rates, 0.0).sum(axis=1)
        # clusters as fast as the chosen one count as lower when their id is smaller (ties are rare:
        # only the events with another cluster at exactly the chosen rate are looked at again)
        ties = np.flatnonzero((rates == rk[:, None]).sum(axis=1) > 1)
        if ties.size:
            same = (rates[ties] == rk[ties, None]) & (self.ids[None, :] < k[ties, None])
            below[ties] += np.where(same, rates[ties], 0.0).sum(axis=1)
        u = self.rng.random(E)
        st.pit.extend((below + u * rk) / R)
        m1, m2 = RL / R, RL2 / R
        with np.errstate(divide="ignore"):
            logrk = np.where(rk > 0, np.log(rk), 0.0)
        st.lograte_dev += float((logrk - m1).sum())
        st.lograte_var += float(np.maximum(m2 - m1 * m1, 0.0).sum())
        # ---- detailed balance, participations
        members = side.clusters[k]  # (E, m)
        sb = states[rows[:, None], members].mean(axis=1)
        sa = states[rows[:, None] + 1, members].mean(axis=1)
        A = np.searchsorted(plan.db_edges, sb, side="right")
        B = np.searchsorted(plan.db_edges, sa, side="right")
        win = ((self.e + rows) * plan.windows) // max(self.n, 1)
        inw = win < plan.windows
        np.add.at(st.db_counts, (win[inw], A[inw], B[inw]), 1)
        st.targeted.firing_cluster(win[inw], (k // N)[inw], sb[inw], sa[inw])
        st.targeted.fired(sb)
        st.comp_count += np.bincount(bins[rows[:, None], members].ravel(), minlength=nr)
        # ---- kicks, per orientation
        o_of, anchors = np.divmod(k, N)
        for oi, f in enumerate(side.frames):
            sel = np.flatnonzero(o_of == oi)
            if sel.size and f.check.size:
                self._kicks(oi, f, states, sel, anchors[sel])
        # ---- sites the declared model never moves must keep their value (check 6c)
        frame = site_index(side.coords[cs] - side.coords[anchors[owner]], side.L)
        outside = ~side.frames[0].support[frame] if side.n_orientations == 1 else ~np.array(
            [side.frames[oi].support for oi in range(side.n_orientations)])[o_of[owner], frame]
        bad = np.flatnonzero(outside & (np.abs(delta) > ZERO_CHANGE_TOLERANCE))
        if bad.size:
            st.violations += int(np.unique(owner[bad]).size)
            for j in bad[np.r_[True, owner[bad][1:] != owner[bad][:-1]]][: max(0, 3 - len(st.violation_examples))]:
                e = int(owner[j])
                st.violation_examples.append(
                    f"event {self.e + e} (cluster {int(k[e])}) changed site {int(cs[j])} by {float(delta[j]):.3g}, a site "
                    f"the declared model never moves (zero row of K_Delta; kick_radius = {side.kick_radius:g})"
                )
        # ---- fixed-time states (the state in effect at t = the one before the first later event)
        while self.next_fixed < self.fixed_t.size and self.fixed_t[self.next_fixed] < t[-1]:
            i = int(np.searchsorted(t, self.fixed_t[self.next_fixed], side="right"))
            st.fixed_states[self.next_fixed] = states[i]
            self.next_fixed += 1
        self.t_prev = float(t[-1])
        self.e += E

    def _full(self, states: np.ndarray, bins: np.ndarray, dt: np.ndarray):
        """Every statistic of each of ``states`` (n, N), evaluated in full, each state held for
        ``dt`` (n,): adds the time integrals (intensity and covariation per bin, score power
        sums, observed-law exposure, shell sums) and returns, per state, (R, sum r log r,
        sum r log^2 r, sum of S, (n, n_clusters) rates); in pieces of bounded memory."""
        side, nc = self.side, self.side.n_clusters
        step = max(1, BLOCK_BUDGET // (nc * (side.m + self.nr + 4)))
        if states.shape[0] > step:
            parts = [self._full(states[i : i + step], bins[i : i + step], dt[i : i + step])
                     for i in range(0, states.shape[0], step)]  # fmt: skip
            return tuple(np.concatenate(x) for x in zip(*parts))
        n = states.shape[0]
        sbar = np.take(states, side.clusters, axis=1).sum(axis=2).ravel() / side.m
        r = side.rate_of_mean(sbar)
        self._add_cluster_integrals(r * np.repeat(dt, nc), sbar, self._bin_code(np.take(bins, side.clusters, axis=1).reshape(n * nc, -1)))
        rl, rl2 = self._log_moments(r)
        rates = r.reshape(n, nc)
        st = self.st
        w_obs = side.observed_rate(states) * dt[:, None]
        st.rate_expected += np.bincount(bins.ravel(), weights=w_obs.ravel(), minlength=self.nr)
        T = np.stack([np.einsum("ei,ei->e", states, states[:, p].sum(axis=2)) for p in self.partners], axis=1)
        st.run_C += (dt @ T) / (side.N * self.shell_sizes)
        return rates.sum(axis=1), rl.reshape(n, nc).sum(axis=1), rl2.reshape(n, nc).sum(axis=1), states.sum(axis=1), rates

    def _incremental(self, states, bins, last, dt, owner, cs, after, bin_after, delta, E):
        """The same statistics from the first state's and each event's changes (see the class
        docstring).  A change made by event e alters the states held after it, for the time
        W_e = dt_{e+1} + ... + dt_{E-1} left in the block: its time integrals are the first
        state's (held for the whole block) plus every change weighted by its W_e."""
        side, plan, nr, st = self.side, self.plan, self.nr, self.st
        N, z = side.N, self.site_clusters.shape[1]
        left = dt.sum() - np.cumsum(dt)  # W_e
        # ---- the first state in full, held for the whole block
        R0, RL0, RL20, sum0, rates0 = (x[0] for x in self._full(states[:1], bins[:1], np.array([dt.sum()])))
        # ---- what each event changes: its sites, and the clusters containing them
        touched = np.zeros(E * side.n_clusters, dtype=bool)
        touched[((owner * side.n_clusters)[:, None] + self.site_clusters[cs]).ravel()] = True
        te, tc = np.divmod(np.flatnonzero(touched), side.n_clusters)  # sorted by event, then cluster
        r_old, sb_old, cb_old = self._cluster_terms(states, bins, te, tc)
        r_new, sb_new, cb_new = self._cluster_terms(states, bins, te + 1, tc)
        w = left[te]
        self._add_cluster_integrals(np.concatenate([r_new * w, -r_old * w]), np.concatenate([sb_new, sb_old]),
                                    np.concatenate([cb_new, cb_old]))  # fmt: skip
        rl_old, rl2_old = self._log_moments(r_old)
        rl_new, rl2_new = self._log_moments(r_new)
        R = _excl_cumsum(np.bincount(te, weights=r_new - r_old, minlength=E), R0)
        RL = _excl_cumsum(np.bincount(te, weights=rl_new - rl_old, minlength=E), RL0)
        RL2 = _excl_cumsum(np.bincount(te, weights=rl2_new - rl2_old, minlength=E), RL20)
        # observed-law exposure: per site, changes only where a site changed
        wo = left[owner]
        # (a changed site's value before the change: the previous change's, or the block's first state's)
        obs_after = side.observed_rate(after)
        prev = last[owner, cs]
        obs_before = np.where(prev >= 0, obs_after[prev], side.observed_rate(states[0])[cs])
        st.rate_expected += np.bincount(bin_after, weights=obs_after * wo, minlength=nr)
        st.rate_expected -= np.bincount(bins[owner, cs], weights=obs_before * wo, minlength=nr)
        sumS = _excl_cumsum(np.bincount(owner, weights=delta, minlength=E), sum0)
        # shell sums T = S^T A S (A: the shell's adjacency): an event's change d adds 2 d^T A S + d^T A d
        # (2 S_e + d = S_e + S_{e+1}: one gather of every shell's partners from the sum of the two states)
        pair = np.take(states[:-1] + states[1:], (owner * N)[:, None] + self.all_partners[cs])  # (changes, partners)
        dT = np.add.reduceat((delta * wo) @ pair, self.partner_starts)
        st.run_C += dT / (side.N * self.shell_sizes)
        # every cluster's rate before each event, carried from event to event with the touched clusters' new rates
        rates = np.empty((E, side.n_clusters))
        rates[0] = rates0
        bounds = np.searchsorted(te, np.arange(E + 1))
        for e in range(E - 1):
            rates[e + 1] = rates[e]
            rates[e + 1, tc[bounds[e] : bounds[e + 1]]] = r_new[bounds[e] : bounds[e + 1]]
        return R, RL, RL2, sumS, rates

    def _kicks(self, oi: int, f, states: np.ndarray, sel: np.ndarray, anchors: np.ndarray) -> None:
        st, side = self.st, self.side
        drift = side.kick_means(oi, states[sel], anchors)
        at_check = side.translate(f.check, anchors)
        resid = states[sel[:, None] + 1, at_check] - states[sel[:, None], at_check] - drift
        zc = scipy.linalg.solve_triangular(f.chol_check, resid.T, lower=True).T
        st.targeted.kick(oi, zc, drift)
        st.kick_sum[oi] += zc.sum(axis=0)
        st.kick_sumsq[oi] += (zc * zc).sum(axis=0)
        st.kick_n[oi] += sel.size
        # neighbourhood regression of the whitened residual on (1, mu' - S)
        zn = scipy.linalg.solve_triangular(f.chol_near, resid[:, f.near_in_check].T, lower=True).T
        X = np.concatenate([np.ones((sel.size, 1)), f.mu_near[None, :] - states[sel[:, None], side.translate(f.near, anchors)]], axis=1)
        st.near_XtX[oi] += X.T @ X
        st.near_XtZ[oi] += X.T @ zn
        st.near_ZtZ[oi] += zn.T @ zn

    def finish(self, t_end: float) -> ReplicaStats:
        """The last state, held from the last event (or t0) to the end of the observation ``t_end``."""
        side, S = self.side, self.S
        while self.next_fixed < self.fixed_t.size and self.fixed_t[self.next_fixed] <= t_end:
            self.st.fixed_states[self.next_fixed] = S
            self.next_fixed += 1
        dt = np.array([t_end - self.t_prev])
        _, _, _, sumS, _ = self._full(S[None, :], self.bins[None, :], dt)
        sbar = sumS / side.N
        self.st.run_mean += float(dt @ (sbar - side.mean))
        self.st.run_C -= float(dt @ (sbar * sbar))
        self.st.t_end = t_end
        return self.st


def analyse_replica(run, side: ModelSideBase, plan: Plan, index: int, progress: Callable[[int], None] | None = None) -> ReplicaStats:
    """Replay ``run`` (any replica: :mod:`trsp_verify.data`) chunk by chunk and collect its
    :class:`ReplicaStats` (light runs: event statistics only).  ``progress(n)`` is called with
    the number of events done after each chunk."""
    if not run.full:
        st = ReplicaStats(
            name=run.name, n_events=run.n_events, full=False, t0=run.t0, t_end=run.t0,
            first_participation=np.full(side.N, np.inf),
        )  # fmt: skip
        done = 0
        for rec in run.chunks():
            first_participation_update(st.first_participation, side.clusters, rec)
            done += len(rec)
            if progress:
                progress(done)
        st.t_end = run.t_end
        return st
    check = getattr(side, "check_rates_against_oracle", None)
    if check is not None:
        check(run.S0)
    rp = _Replay(side, plan, run, index)
    done = 0
    for rec in run.chunks():
        rp.chunk(rec)
        done += len(rec)
        if progress:
            progress(done)
    return rp.finish(run.t_end)
