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
from trsp_ref.lattice import site_index

__all__ = ["Plan", "ReplicaStats", "analyse_replica", "make_plan", "VERIFY_SEED", "BLOCK_EVENTS"]

#: seed of the battery's own randomness (the randomized PIT); fixed so a verdict is repeatable
VERIFY_SEED = 20240531
#: events per block (at most; fewer on large lattices, BLOCK_BUDGET): the statistics are computed in full at every block start and
#: updated from what each event touches within it, vectorized over the block
BLOCK_EVENTS = 4096
#: float64 numbers of the per-block state and rate matrices ((E + 1) x N and E x n_clusters)
BLOCK_BUDGET = 4_000_000
#: up to this many clusters, the rates of every state of a block are recomputed at once
SMALL_CLUSTERS = 4096

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
        self.shell_sizes = np.array([js.size for _, js, _ in plan.shells], dtype=np.float64)
        st.run_C = np.zeros(self.nsh)
        st.fixed_states = np.full((plan.fixed_times.size, N), np.nan)
        st.db_counts = np.zeros((W, nb, nb), dtype=np.int64)
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
        self.e = 0  # events done
        self.t_prev = run.t0
        self.ids = np.arange(side.n_clusters)
        cl = side.clusters
        # clusters containing each site: (N, z), from the cluster table
        order = np.argsort(cl.ravel(), kind="stable")
        self.site_clusters = np.repeat(np.arange(side.n_clusters), side.m)[order].reshape(N, -1)
        # partners of each shell: partner[s][i] = the sites at the shell's offsets from site i
        self.partners = [side.translate(js, np.arange(N)) for _, js, _ in plan.shells]
        self.block = int(np.clip(BLOCK_BUDGET // max(N, side.n_clusters), 16, BLOCK_EVENTS))
        self.pos_check = [np.searchsorted(f.cols, f.check) for f in side.frames]
        self.pos_near = [np.searchsorted(f.cols, f.near) for f in side.frames]

    # ------------------------------------------------------------------ per-cluster parts

    def _parts(self, states: np.ndarray, ev: np.ndarray, cid: np.ndarray):
        """For clusters ``cid`` in the states ``states[ev]``: rates, r log r, r log^2 r, and their
        bins' indices for the intensity (E*nr) and covariation (E*nr*nr) tallies of event ``ev``."""
        side, nr = self.side, self.nr
        members = side.clusters[cid]  # (n, m)
        vals = states[ev[:, None], members]
        r = side.rate_of_mean(vals.sum(axis=1) / side.m)
        with np.errstate(divide="ignore"):
            logr = np.where(r > 0, np.log(r), 0.0)
        cb = np.searchsorted(self.plan.rate_edges, vals, side="right")  # (n, m)
        return r, r * logr, r * logr * logr, cb

    def _tally(self, ev: np.ndarray, r, rl, rl2, cb, E: int):
        """Per event: (sum r, sum r log r, sum r log^2 r, (E, nr) intensity, (E, nr*nr) covariation)."""
        nr, m = self.nr, cb.shape[1]
        lam = np.bincount((ev[:, None] * nr + cb).ravel(), weights=np.repeat(r, m), minlength=E * nr).reshape(E, nr)
        joint = (cb[:, :, None] * nr + cb[:, None, :]).reshape(cb.shape[0], -1)
        V = np.bincount((ev[:, None] * nr * nr + joint).ravel(), weights=np.repeat(r, m * m), minlength=E * nr * nr)
        return (
            np.bincount(ev, weights=r, minlength=E), np.bincount(ev, weights=rl, minlength=E),
            np.bincount(ev, weights=rl2, minlength=E), lam, V.reshape(E, nr * nr),
        )  # fmt: skip

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
        # the states before every event, and after the last
        states = np.empty((E + 1, N))
        states[0] = self.S
        for e in range(E):
            states[e + 1] = states[e]
            states[e + 1, cs[o[e] : o[e + 1]]] = after[o[e] : o[e + 1]]
        self.S = states[E].copy()
        z = self.site_clusters.shape[1]
        delta = after - before
        self._new_rates = None
        if cs.size * z >= E * side.n_clusters // 2:
            # the events touch most clusters (a kick window comparable to the lattice): updating
            # would cost more than evaluating every state in full
            R, RL, RL2, lam, V, obs, sumS, T = self._full(states[:E])
        else:
            R, RL, RL2, lam, V, obs, sumS, T = self._incremental(states, owner, cs, after, before, delta, E)
        # ---- time integrals over the held states
        dt = t - np.concatenate(([self.t_prev], t[:-1]))
        sbar = sumS / N
        self._integrate(dt, sbar, T, lam, V, obs)
        # ---- waiting times, chosen cluster
        st.waits.extend(-np.expm1(-R * dt))
        st.wait_sum += float(R @ dt)
        # every cluster's rate before each event: on small lattices recomputed (one vectorized
        # expression), on large ones carried from event to event with the touched clusters' new rates
        if side.n_clusters <= SMALL_CLUSTERS or self._new_rates is None:
            rates = side.rate_of_mean(states[:E][:, side.clusters].sum(axis=2) / side.m)
        else:
            te, tc, r_new = self._new_rates
            rates = np.empty((E, side.n_clusters))
            rates[0] = side.rate_of_mean(states[0][side.clusters].sum(axis=1) / side.m)
            bounds = np.searchsorted(te, np.arange(E + 1))
            for e in range(E - 1):
                rates[e + 1] = rates[e]
                rates[e + 1, tc[bounds[e] : bounds[e + 1]]] = r_new[bounds[e] : bounds[e + 1]]
        rows = np.arange(E)
        rk = rates[rows, k]
        lower = (rates < rk[:, None]) | ((rates == rk[:, None]) & (self.ids[None, :] < k[:, None]))
        u = self.rng.random(E)
        st.pit.extend((np.where(lower, rates, 0.0).sum(axis=1) + u * rk) / R)
        m1, m2 = RL / R, RL2 / R
        with np.errstate(divide="ignore"):
            logrk = np.where(rk > 0, np.log(rk), 0.0)
        st.lograte_dev += float((logrk - m1).sum())
        st.lograte_var += float(np.maximum(m2 - m1 * m1, 0.0).sum())
        # ---- detailed balance, participations
        members = side.clusters[k]  # (E, m)
        A = np.searchsorted(plan.db_edges, states[rows[:, None], members].mean(axis=1), side="right")
        B = np.searchsorted(plan.db_edges, states[rows[:, None] + 1, members].mean(axis=1), side="right")
        win = ((self.e + rows) * plan.windows) // max(self.n, 1)
        inw = win < plan.windows
        np.add.at(st.db_counts, (win[inw], A[inw], B[inw]), 1)
        pb = np.searchsorted(plan.rate_edges, states[rows[:, None], members], side="right")
        st.comp_count += np.bincount(pb.ravel(), minlength=nr)
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

    def _full(self, states: np.ndarray):
        """Every time-integrated statistic of each of ``states`` (n, N), evaluated in full:
        (R, sum r log r, sum r log^2 r, (n, nr) intensity, (n, nr^2) covariation, (n, nr)
        observed-law exposure, sum of S, (n, n_shells) shell sums); in pieces of bounded memory."""
        side = self.side
        step = max(1, BLOCK_BUDGET // (side.n_clusters * side.m * side.m))
        if states.shape[0] > step:
            parts = [self._full(states[i : i + step]) for i in range(0, states.shape[0], step)]
            return tuple(np.concatenate(x) for x in zip(*parts))
        n = states.shape[0]
        ev = np.repeat(np.arange(n), side.n_clusters)
        cid = np.tile(self.ids, n)
        R, RL, RL2, lam, V = self._tally(ev, *self._parts(states, ev, cid), n)
        bins = np.searchsorted(self.plan.rate_edges, states, side="right")
        obs = np.bincount((bins + self.nr * np.arange(n)[:, None]).ravel(), weights=side.observed_rate(states).ravel(),
                          minlength=n * self.nr).reshape(n, self.nr)
        T = np.stack([np.einsum("ei,ei->e", states, states[:, p].sum(axis=2)) for p in self.partners], axis=1)
        return R, RL, RL2, lam, V, obs, states.sum(axis=1), T

    def _incremental(self, states, owner, cs, after, before, delta, E):
        """The same statistics from the first state's and each event's changes (see the class docstring)."""
        side, plan, nr = self.side, self.plan, self.nr
        z = self.site_clusters.shape[1]
        # ---- the first state in full
        S0 = states[0]
        R0, RL0, RL20, lam0, V0, obs0, sum0, T0 = (x[0] for x in self._full(states[:1]))
        # ---- what each event changes: its sites, and the clusters containing them
        touched = np.zeros((E, side.n_clusters), dtype=bool)
        touched[np.repeat(owner, z), self.site_clusters[cs].ravel()] = True
        te, tc = np.nonzero(touched)  # sorted by event, then cluster
        old = self._parts(states, te, tc)
        new = self._parts(states, te + 1, tc)
        d = [a - b for a, b in zip(self._tally(te, *new, E), self._tally(te, *old, E))]
        R = _excl_cumsum(d[0], R0)
        RL, RL2 = _excl_cumsum(d[1], RL0), _excl_cumsum(d[2], RL20)
        lam, V = _excl_cumsum(d[3], lam0), _excl_cumsum(d[4], V0)
        bin_b, bin_a = (np.searchsorted(plan.rate_edges, x, side="right") for x in (before, after))
        d_obs = np.bincount(owner * nr + bin_a, weights=side.observed_rate(after), minlength=E * nr)
        d_obs -= np.bincount(owner * nr + bin_b, weights=side.observed_rate(before), minlength=E * nr)
        obs = _excl_cumsum(d_obs.reshape(E, nr), obs0)
        sumS = _excl_cumsum(np.bincount(owner, weights=delta, minlength=E), sum0)
        D = np.diff(states, axis=0)  # (E, N): each event's change, 0 elsewhere
        dT = np.empty((E, self.nsh))
        for s, p in enumerate(self.partners):
            ps = p[cs]  # (changes, |shell|)
            # T = S^T A S (A: the shell's adjacency): dT = 2 d^T A S + d^T A d
            per = delta * (2.0 * states[owner[:, None], ps].sum(axis=1) + D[owner[:, None], ps].sum(axis=1))
            dT[:, s] = np.bincount(owner, weights=per, minlength=E)
        T = _excl_cumsum(dT, T0)
        self._new_rates = (te, tc, new[0])
        return R, RL, RL2, lam, V, obs, sumS, T

    def _kicks(self, oi: int, f, states: np.ndarray, sel: np.ndarray, anchors: np.ndarray) -> None:
        st, side = self.st, self.side
        idx = side.translate(f.cols, anchors)  # (n, nB): lattice site of each frame column
        Sc = states[sel[:, None], idx]
        pc = self.pos_check[oi]
        resid = states[sel[:, None] + 1, idx[:, pc]] - Sc[:, pc] - f.kick_mean(Sc)
        zc = scipy.linalg.solve_triangular(f.chol_check, resid.T, lower=True).T
        st.kick_sum[oi] += zc.sum(axis=0)
        st.kick_sumsq[oi] += (zc * zc).sum(axis=0)
        st.kick_n[oi] += sel.size
        # neighbourhood regression of the whitened residual on (1, mu' - S)
        zn = scipy.linalg.solve_triangular(f.chol_near, resid[:, f.near_in_check].T, lower=True).T
        X = np.concatenate([np.ones((sel.size, 1)), f.mu_near[None, :] - Sc[:, self.pos_near[oi]]], axis=1)
        st.near_XtX[oi] += X.T @ X
        st.near_XtZ[oi] += X.T @ zn
        st.near_ZtZ[oi] += zn.T @ zn

    def _integrate(self, dt, sbar, T, lam, V, obs) -> None:
        """Add the time integrals of held states (one row per state, held for ``dt``)."""
        st, side, nr = self.st, self.side, self.nr
        st.run_mean += float(dt @ (sbar - side.mean))
        # centred C(r) = T_s / (N |shell|) - Sbar^2 (the site mean's own fluctuation is check 2a's)
        st.run_C += (dt @ T) / (side.N * self.shell_sizes) - float(dt @ (sbar * sbar))
        st.comp_Lambda += dt @ lam
        st.comp_V += (dt @ V).reshape(nr, nr)
        st.rate_expected += dt @ obs

    def finish(self, t_end: float) -> ReplicaStats:
        """The last state, held from the last event (or t0) to the end of the observation ``t_end``."""
        side, plan, S = self.side, self.plan, self.S
        while self.next_fixed < self.fixed_t.size and self.fixed_t[self.next_fixed] <= t_end:
            self.st.fixed_states[self.next_fixed] = S
            self.next_fixed += 1
        dt = np.array([t_end - self.t_prev])
        _, _, _, lam, V, obs, sumS, T = self._full(S[None, :])
        self._integrate(dt, sumS / side.N, T, lam, V, obs)
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
