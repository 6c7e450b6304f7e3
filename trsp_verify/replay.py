"""One pass over one replica: replay the trajectory and collect every check's sufficient statistics.

The state before each event is rebuilt from ``S0`` and the recorded changes (docs/formats.md:
``S[change_sites] = after`` event after event), in blocks of events, so that every model
quantity (all cluster rates, the kick's mean and covariance) is evaluated with numpy on a
block of states at once.  Nothing here decides pass or fail: :mod:`trsp_verify.checks`
turns the :class:`ReplicaStats` of all replicas into tests.

Time bookkeeping: the state before event ``e`` is held on ``[tau_e, t_e)`` with
``tau_0 = t0`` and ``tau_e = t_{e-1}``; the state after the last event on
``[t_{n-1}, t_end)``.  A run stopped after n events ends at a random time that depends on
the state (soft states fire faster), so nothing is selected by comparing a time with
``t_end`` where it can be avoided: time averages run over the whole run (one value per
replica), detailed-balance batches are blocks of consecutive events, and the fixed-time
states lie in the first half of the run's expected duration (:class:`Plan`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.linalg

from .data import RunData
from .model_side import ZERO_CHANGE_TOLERANCE, ModelSide
from .targeted import TargetedStats

__all__ = ["Plan", "ReplicaStats", "analyse_replica", "make_plan", "VERIFY_SEED"]

#: seed of the battery's own randomness (the randomized PIT); fixed so a verdict is repeatable
VERIFY_SEED = 20240531
#: float64 numbers per block of states (bounds memory: about 8 bytes each, times a few)
_BLOCK_BUDGET = 3_000_000


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


#: the fixed times, as fractions of the expected duration of the shortest replica: early
#: enough that a run of n events almost never ends before them (the state at a fixed time is
#: only known, and only exactly N(mean, K), when the run is still going)
FIXED_TIME_FRACTIONS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)


def make_plan(side: ModelSide, runs: list[RunData], *, windows: int | None = None) -> Plan:
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
    waits: np.ndarray | None = None  # (n,) R_tot * dt
    pit: np.ndarray | None = None  # (n,) randomized PIT of the chosen cluster, clusters ordered by rate
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


def first_participation(run: RunData, clusters: np.ndarray) -> np.ndarray:
    """(N,) the time of each site's first event (inf if none): I_i(t) = 1 iff this > t (Eq. 31)."""
    first = np.full(run.N, np.inf)
    if run.n_events:
        sites = clusters[run.clusters]  # (n, m)
        t = np.repeat(run.times, sites.shape[1])
        np.minimum.at(first, sites.ravel(), t)
    return first


class _Accumulator:
    """Statistics of blocks of consecutive states (state i held on [a_i, b_i))."""

    def __init__(self, side: ModelSide, plan: Plan, run: RunData, index: int):
        self.side, self.plan, self.run = side, plan, run
        W = plan.windows
        self.st = ReplicaStats(
            name=run.name,
            n_events=run.n_events,
            full=True,
            t0=run.t0,
            t_end=run.t_end,
            first_participation=first_participation(run, side.clusters),
        )
        st = self.st
        nb = plan.db_edges.size + 1
        nr = plan.rate_edges.size + 1
        self.nr = nr
        st.run_C = np.zeros(len(plan.shells))
        st.fixed_states = np.full((plan.fixed_times.size, run.N), np.nan)
        st.db_counts = np.zeros((W, nb, nb), dtype=np.int64)
        st.rate_expected = np.zeros(nr)
        st.comp_count = np.zeros(nr)
        st.comp_Lambda = np.zeros(nr)
        st.comp_V = np.zeros((nr, nr))
        st.waits = np.zeros(run.n_events)
        st.pit = np.zeros(run.n_events)
        st.targeted = TargetedStats.for_side(side, W)
        for f in side.frames:
            st.kick_sum.append(np.zeros(f.check.size))
            st.kick_sumsq.append(np.zeros(f.check.size))
            st.kick_n.append(0)
            p = f.near.size + 1
            st.near_XtX.append(np.zeros((p, p)))
            st.near_XtZ.append(np.zeros((p, f.near.size)))
            st.near_ZtZ.append(np.zeros((f.near.size, f.near.size)))
        # fixed times: the state in effect at t0 + t_j is the one before the first event after it
        fixed_t = run.t0 + plan.fixed_times
        self.fixed_index = np.searchsorted(run.times, fixed_t, side="right")
        self.fixed_valid = fixed_t <= run.t_end
        # translation tables of the shells' offsets: partner[j][i] = site at offset j from site i
        self.partners = [side.translate(js, np.arange(run.N)) for _, js, _ in plan.shells]  # (N, |shell|)
        self.rng = np.random.default_rng([VERIFY_SEED, index])

    # -------------------------------------------------------------- states held over time

    def held_states(self, states: np.ndarray, a: np.ndarray, b: np.ndarray, rates: np.ndarray) -> None:
        """Time-weighted statistics of states (E, N) held on [a, b) with cluster rates ``rates``."""
        side, plan, st = self.side, self.plan, self.st
        dt = b - a
        site_mean = states.mean(axis=1)
        st.run_mean += float(dt @ (site_mean - side.mean))
        # C(r) about the instantaneous site mean: the site mean's own squared fluctuation (tested
        # in 2a) made the plain estimator strongly skewed (skewness 2-3 over replicas), which a
        # t test over a few replicas cannot absorb; centred, the skewness is below 0.7
        X = states - site_mean[:, None]
        for s, (_, js, _) in enumerate(plan.shells):
            partner = self.partners[s]  # (N, k)
            c = np.einsum("ei,eik->e", X, X[:, partner]) / (X.shape[1] * partner.shape[1])
            st.run_C[s] += float(dt @ c)
        # rate law: per-site participation intensity rho_s = sum of the rates of the clusters holding s
        bins = np.searchsorted(plan.rate_edges, states, side="right")  # (E, N)
        rho = np.zeros_like(states)
        cl = side.clusters
        N = side.N
        for o in range(side.n_orientations):
            block = slice(o * N, (o + 1) * N)
            for pos in range(side.m):
                rho[:, cl[block, pos]] += rates[:, block]  # a permutation of the sites: no repeats
        nr = self.nr
        flat = bins + nr * np.arange(states.shape[0])[:, None]
        lam_rate = np.bincount(flat.ravel(), weights=(rho * dt[:, None]).ravel(), minlength=nr * states.shape[0])
        st.comp_Lambda += lam_rate.reshape(-1, nr).sum(axis=0)
        # predictable covariation: sum_R r_R n_Rb n_Rc dt, n_Rb = sites of R in bin b
        cb = bins[:, cl]  # (E, n_clusters, m)
        w_rc = (rates * dt[:, None]).ravel()
        for p1 in range(side.m):
            for p2 in range(side.m):
                joint = (cb[:, :, p1] * nr + cb[:, :, p2]).ravel()
                st.comp_V += np.bincount(joint, weights=w_rc, minlength=nr * nr).reshape(nr, nr)
        # the observed law: integral of lambda(S_i) 1[S_i in b] over the run
        lam = side.observed_rate(states)  # (E, N)
        st.rate_expected += np.bincount(bins.ravel(), weights=(lam * dt[:, None]).ravel(), minlength=nr)
        st.targeted.held(states, dt, rates)

    # -------------------------------------------------------------- events

    def events(self, e0: int, before: np.ndarray, after: np.ndarray, rates: np.ndarray, a: np.ndarray) -> None:
        """Events e0 .. e0+E-1: ``before``/``after`` (E, N) states, ``rates`` (E, n_clusters) before each."""
        side, plan, st, run = self.side, self.plan, self.st, self.run
        E = before.shape[0]
        ev = slice(e0, e0 + E)
        k = run.clusters[ev]
        t = run.times[ev]
        rows = np.arange(E)
        R = rates.sum(axis=1)
        # waiting times: R_tot dt ~ Exp(1)
        st.waits[ev] = R * (t - a)
        # randomized PIT of the chosen cluster, clusters ordered by rate (ties by id)
        rk = rates[rows, k]
        ids = np.arange(side.n_clusters)
        lower = (rates < rk[:, None]) | ((rates == rk[:, None]) & (ids[None, :] < k[:, None]))
        below = np.where(lower, rates, 0.0).sum(axis=1)
        st.pit[ev] = (below + self.rng.random(E) * rk) / R
        # log-rate of the chosen cluster against its model expectation: a chosen cluster that is
        # not as fast (or slow) as the rates say shows here first (a score test of the choice)
        with np.errstate(divide="ignore"):
            logr = np.log(rates)
        logr = np.where(rates > 0, logr, 0.0)
        prob = rates / R[:, None]
        m1 = (prob * logr).sum(axis=1)
        m2 = (prob * logr * logr).sum(axis=1)
        st.lograte_dev += float((logr[rows, k] - m1).sum())
        st.lograte_var += float(np.maximum(m2 - m1 * m1, 0.0).sum())
        # detailed balance: bins of the firing cluster's mean softness before and after
        sites = side.clusters[k]  # (E, m)
        sb = before[rows[:, None], sites].mean(axis=1)
        sa = after[rows[:, None], sites].mean(axis=1)
        A = np.searchsorted(plan.db_edges, sb, side="right")
        B = np.searchsorted(plan.db_edges, sa, side="right")
        # batches of consecutive events (by index, so that every batch is complete; time windows
        # would select on the run's duration, which depends on the state)
        win = ((e0 + rows) * plan.windows) // max(run.n_events, 1)
        inw = win < plan.windows
        np.add.at(st.db_counts, (win[inw], A[inw], B[inw]), 1)
        st.targeted.firing_cluster(win[inw], (k // side.N)[inw], sb[inw], sa[inw])
        st.targeted.fired(sb)
        # rate law: participations by the participant's softness before the event
        pb = np.searchsorted(plan.rate_edges, before[rows[:, None], sites], side="right")  # (E, m)
        st.comp_count += np.bincount(pb.ravel(), minlength=self.nr)
        # kicks, per orientation
        o_of = k // side.N
        anchors = k % side.N
        for o, f in enumerate(side.frames):
            sel = np.flatnonzero(o_of == o)
            if sel.size == 0:
                continue
            idx = side.translate(np.arange(side.N), anchors[sel])  # (n, N): lattice site of each frame site
            S_f = before[sel[:, None], idx]
            dS_f = after[sel[:, None], idx] - S_f
            y = f.mu_prime[None, :] - S_f
            mean = y @ f.H_check.T  # (n, nC) = H (mu' - S) on the checked sites
            r = dS_f[:, f.check] - mean
            z = scipy.linalg.solve_triangular(f.chol_check, r.T, lower=True).T
            st.targeted.kick(o, z, mean)
            st.kick_sum[o] += z.sum(axis=0)
            st.kick_sumsq[o] += (z * z).sum(axis=0)
            st.kick_n[o] += sel.size
            # neighbourhood regression of the whitened residual on (1, mu' - S)
            zn = scipy.linalg.solve_triangular(f.chol_near, r[:, f.near_in_check].T, lower=True).T
            X = np.concatenate([np.ones((sel.size, 1)), y[:, f.near]], axis=1)
            st.near_XtX[o] += X.T @ X
            st.near_XtZ[o] += X.T @ zn
            st.near_ZtZ[o] += zn.T @ zn
            # sites the declared model never moves must not change
            outside = ~f.support
            if outside.any():
                moved = np.abs(dS_f[:, outside]) > ZERO_CHANGE_TOLERANCE
                bad = np.flatnonzero(moved.any(axis=1))
                st.violations += int(bad.size)
                for b in bad[: max(0, 3 - len(st.violation_examples))]:
                    j = np.flatnonzero(outside)[np.flatnonzero(moved[b])[0]]
                    e = e0 + int(sel[b])
                    st.violation_examples.append(
                        f"event {e} (cluster {int(k[sel[b]])}) changed site {int(idx[b, j])} by "
                        f"{float(dS_f[b, j]):.3g}, a site the declared model never moves (zero row of K_Delta; "
                        f"kick_radius = {side.kick_radius:g})"
                    )

    def fixed(self, first_state_index: int, states: np.ndarray) -> None:
        """Record the fixed-time states among states number first .. first + len - 1."""
        for j, (i, ok) in enumerate(zip(self.fixed_index, self.fixed_valid)):
            if ok and first_state_index <= i < first_state_index + states.shape[0]:
                self.st.fixed_states[j] = states[i - first_state_index]


def analyse_replica(run: RunData, side: ModelSide, plan: Plan, index: int) -> ReplicaStats:
    """Replay ``run`` and collect its :class:`ReplicaStats` (light runs: event statistics only)."""
    if not run.full:
        return ReplicaStats(
            name=run.name,
            n_events=run.n_events,
            full=False,
            t0=run.t0,
            t_end=run.t_end,
            first_participation=first_participation(run, side.clusters),
        )
    acc = _Accumulator(side, plan, run, index)
    N, n = run.N, run.n_events
    side.check_rates_against_oracle(run.S0)
    per_state = side.n_clusters * (side.m + 3) + 8 * N
    block = int(max(16, min(4096, _BLOCK_BUDGET // per_state)))
    o, cs, after_v = run.change_offsets, run.change_sites, run.after
    S = run.S0.copy()
    times = run.times
    for e0 in range(0, n, block):
        e1 = min(n, e0 + block)
        E = e1 - e0
        states = np.empty((E + 1, N))
        states[0] = S
        for i in range(E):
            e = e0 + i
            row = states[i + 1]
            row[:] = states[i]
            lo, hi = o[e], o[e + 1]
            row[cs[lo:hi]] = after_v[lo:hi]  # a site appears at most once per event (docs/formats.md)
        S = states[E].copy()
        before = states[:E]
        rates = side.rates_of_states(before)
        a = np.concatenate(([run.t0], times[:-1]))[e0:e1]
        acc.held_states(before, a, times[e0:e1], rates)
        acc.events(e0, before, states[1:], rates, a)
        acc.fixed(e0, before)
    # the last state, held from the last event (or t0) to the end of the observation (t_end)
    last = S[None, :]
    t_last = times[-1] if n else run.t0
    acc.held_states(last, np.array([t_last]), np.array([run.t_end]), side.rates_of_states(last))
    acc.fixed(n, last)
    return acc.st
