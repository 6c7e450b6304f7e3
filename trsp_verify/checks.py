"""The battery: turn the replicas' sufficient statistics into tests, one p-value per check.

Each check is one row of the report (:class:`CheckResult`).  A check made of several
sub-tests reports their Bonferroni combination (min(1, k min p)), valid under any
dependence.  The family of all checks is then corrected with Holm's procedure at
``FAMILY_ALPHA`` (docs/verification.md, "Error rates"): the battery's false-alarm rate on
a correct implementation is at most FAMILY_ALPHA (up to the accuracy of the asymptotic
null distributions, which tests/test_verify_calibration.py measures).

Numbering follows the issue: 1 detailed balance (App. F1), 2 stationarity (App. F2),
3 rate law, 4 kick law, 5 waiting times, 6 replay, 7 exact limits.  Every row carries a
stable ``key`` (:data:`CHECK_KEYS`; tests and scripts select rows by key, never by their
display text).

Registering a check: append a :class:`CheckSpec` to :data:`CHECKS` (or call
:func:`register_check`); :func:`run_checks` runs them in order.  A spec says whether the check
needs the state between events (``needs_state``: skipped on light run files, with the reason).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import scipy.optimize

from trsp_ref.params import ParameterError

from . import stats
from .model_side import ModelSideBase as ModelSide
from .replay import Plan, ReplicaStats

__all__ = ["CheckResult", "CheckSpec", "CHECKS", "CHECK_KEYS", "FAMILY_ALPHA", "register_check", "run_checks", "apply_holm"]

#: family-wise false-alarm rate of the whole battery (Holm's procedure over every check)
FAMILY_ALPHA = 1e-3


@dataclass
class CheckResult:
    """One row of the report.

    name      : the check
    statistic : its value, as text (e.g. "T2 = 12.3 (F 6, 26)")
    p_value   : None for rows that are not tests (skipped, info)
    status    : "pass" | "FAIL" | "skipped" | "info" (set by :func:`apply_holm` for tests)
    detail    : what was compared, or why it was skipped
    adjusted_p: Holm-adjusted p-value
    key       : the check's stable identifier (:data:`CHECK_KEYS`), independent of the wording
    """

    name: str
    statistic: str
    p_value: float | None
    status: str = "pending"
    detail: str = ""
    adjusted_p: float | None = None
    key: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def _skip(name: str, why: str) -> CheckResult:
    return CheckResult(name, "-", None, "skipped", why)


def _min_p(ps: list[float], what: str, worst: str) -> str:
    """Statistic text of a Bonferroni row: the smallest sub-test p-value itself (the row's p-value
    is the combination min(1, k min p), which is often 1)."""
    return f"min p = {min(ps):.3g} over {len(ps)} {what} ({worst})"


def _fmt(x: float) -> str:
    return f"{x:.4g}"


# ---------------------------------------------------------------------- 1. detailed balance


def detailed_balance(full: list[ReplicaStats], plan: Plan) -> CheckResult:
    """App. F1: N_AB - N_BA over bin pairs A < B has mean zero (stationary + reversible: an
    event's (before, after) pair is exchangeable); Hotelling's T^2 over the batches of
    consecutive events of every replica."""
    name = "1 detailed balance N_AB = N_BA (F1)"
    rows = []
    for st in full:
        for c in st.db_counts:
            iu = np.triu_indices(c.shape[0], 1)
            rows.append((c - c.T)[iu])
    nb = plan.db_edges.size + 1
    pairs = nb * (nb - 1) // 2
    if len(rows) <= pairs + 1:
        return _skip(name, f"needs more than {pairs + 1} batches, has {len(rows)}")
    T2, p, used = stats.hotelling_zero_mean(np.array(rows, dtype=np.float64))
    total = int(sum(st.db_counts.sum() for st in full))
    return CheckResult(
        name,
        f"T2 = {_fmt(T2)} (F {used}, {len(rows) - used})",
        p,
        detail=f"{nb} equiprobable bins of the firing cluster's mean softness before/after; {total} events in "
        f"{len(rows)} batches of consecutive events",
    )


# ---------------------------------------------------------------------- 2. stationarity


def _replica_averages(full: list[ReplicaStats], attr: str) -> np.ndarray:
    """Per replica, the holding-time-weighted average over the whole run: one value per replica.

    Replicas are independent, so these are i.i.d. under the null.  Batches within a replica
    are not (slow modes of the field, e.g. the site mean on a small lattice, correlate them:
    batch means were measured to give 10x too many false alarms), and time windows that must
    end before the run does select on the run's duration (measured: 2x too many)."""
    return np.array([np.asarray(getattr(st, attr)) / (st.t_end - st.t0) for st in full if st.t_end > st.t0])


def stationarity_mean(full: list[ReplicaStats], plan: Plan, side: ModelSide) -> CheckResult:
    name = "2 stationarity <S>, time-weighted (F2)"
    v = _replica_averages(full, "run_mean")
    if v.shape[0] < 2:
        return _skip(name, f"needs >= 2 replicas (one time average each), has {v.shape[0]}")
    t, p = stats.t_test_known_mean(v, 0.0)
    return CheckResult(
        name,
        f"t = {_fmt(t)} (dof {v.size - 1})",
        p,
        detail=f"holding-time-weighted site mean, one value per replica: {side.mean + v.mean():.5g} vs model "
        f"{side.mean:.5g}",
    )


def stationarity_correlation(full: list[ReplicaStats], plan: Plan) -> CheckResult:
    name = "2 stationarity C_S(r), time-weighted (F2)"
    v = _replica_averages(full, "run_C")
    if v.shape[0] < 2:
        return _skip(name, f"needs >= 2 replicas (one time average each), has {v.shape[0]}")
    ps, parts = [], []
    for s, (r, _, expected) in enumerate(plan.shells):
        t, p = stats.t_test_known_mean(v[:, s], expected)
        ps.append(p)
        parts.append(f"C({r:.3g}) {v[:, s].mean():.4g} vs {expected:.4g}")
    parts.append("C(r) about the instantaneous site mean; model K_0r - 1^T K 1 / N^2")
    worst = int(np.argmin(ps))
    return CheckResult(
        name,
        _min_p(ps, "shells", f"r = {plan.shells[worst][0]:.3g}; t, dof {v.shape[0] - 1}"),
        stats.bonferroni(ps),
        detail="; ".join(parts),
    )


def stationarity_fixed_times(samples: list[tuple[float, np.ndarray]], side: ModelSide, what: str) -> CheckResult:
    """DSMTS-style Z (site mean) and Y (whitened squared norm) at fixed times: the state at a
    deterministic time of a run started in equilibrium is exactly N(mean, K)."""
    name = "2 equilibrium N(mean, K) at fixed times (Z, Y)"
    samples = [(t, S) for t, S in samples if S.shape[0] > 0]
    if not samples:
        return _skip(name, f"no state at a fixed time ({what})")
    one_K_one = side.one_K_one()
    ps, worst = [], (1.0, "")
    for t, S in samples:
        X = S - side.mean  # (R, N)
        R = X.shape[0]
        Z = float(X.sum() / math.sqrt(R * one_K_one))
        y, pY = stats.sum_of_squares_two_sided(side.inverse_quadratic(X), R * side.N)
        pZ = stats.two_sided_normal(Z)
        ps += [pZ, pY]
        if min(pZ, pY) < worst[0]:
            worst = (min(pZ, pY), f"t = {t:.4g}: Z = {Z:.3g}, Y = {y:.3g}")
    return CheckResult(
        name,
        worst[1] or f"{len(samples)} times",
        stats.bonferroni(ps),
        detail=f"{len(samples)} fixed times ({what}), {sum(S.shape[0] for _, S in samples)} states; Z: site mean, "
        "Y: (S - mean)^T K^-1 (S - mean) vs chi2(N)",
    )


# ---------------------------------------------------------------------- 3. rate law


def rate_law_compensator(full: list[ReplicaStats]) -> CheckResult:
    name = "3 rate law: participations vs intensity"
    count = sum(st.comp_count for st in full)
    lam = sum(st.comp_Lambda for st in full)
    V = sum(st.comp_V for st in full)
    if lam.sum() < 50:
        return _skip(name, "too few events")
    stat, p, k = stats.quadratic_form_chi2(count - lam, V)
    worst = int(np.argmax(np.abs(count - lam) / np.sqrt(np.maximum(np.diag(V), 1e-300))))
    return CheckResult(
        name,
        f"chi2 = {_fmt(stat)} (dof {k})",
        p,
        detail=f"site participations per softness bin vs the integrated model intensity sum_R r_R(S) dt; "
        f"worst bin {worst}: {count[worst]:.0f} vs {lam[worst]:.1f}",
    )


def rate_law_observed(full: list[ReplicaStats], side: ModelSide) -> CheckResult:
    """Participations per softness bin vs the exposure weighted by the observed law lambda(S_i):
    one value per replica and bin, a t test per bin over replicas (the difference includes a
    time average of the neighbours' fluctuations, correlated over long times), Bonferroni over bins."""
    name = "3 rate law P(R|S)/duration per softness bin"
    if len(full) < 2:
        return _skip(name, f"needs >= 2 replicas (one value each), has {len(full)}")
    C = np.array([st.comp_count for st in full])
    E = np.array([st.rate_expected for st in full])
    ps = [stats.t_test_known_mean((C[:, b] - E[:, b]) / max(E[:, b].mean(), 1e-300), 0.0)[1] for b in range(C.shape[1])]
    ratio = C.sum(axis=0) / np.maximum(E.sum(axis=0), 1e-300)
    worst = int(np.argmin(ps))
    return CheckResult(
        name,
        _min_p(ps, "bins", f"bin {worst}; t, dof {len(full) - 1}"),
        stats.bonferroni(ps),
        detail="observed/expected participations per bin (low S to high S): " + " ".join(f"{x:.3f}" for x in ratio),
    )


# ---------------------------------------------------------------------- 4. kick law


def kick_mean(full: list[ReplicaStats], side: ModelSide) -> CheckResult:
    name = "4 kick mean H(mu' - S) near the cluster"
    tot, dof = 0.0, 0
    n = 0
    for o, f in enumerate(side.frames):
        if f.near.size == 0:
            continue
        XtX = sum(st.near_XtX[o] for st in full)
        XtZ = sum(st.near_XtZ[o] for st in full)
        n += int(round(XtX[0, 0]))
        s, _, d = stats.regression_chi2(XtX, XtZ)
        tot += s
        dof += d
    if dof == 0 or n < 20:
        return _skip(name, "no kicks (the model's kick is zero) or too few events")
    return CheckResult(
        name,
        f"chi2 = {_fmt(tot)} (dof {dof})",
        stats.chi2_upper(tot, dof),
        detail=f"whitened residual on the {side.frames[0].near.size} sites within one spacing of the cluster, "
        f"regressed on (1, mu' - S) there; {n} events",
    )


def kick_covariance(full: list[ReplicaStats], side: ModelSide) -> CheckResult:
    name = "4 kick covariance K_Delta near the cluster"
    tot, dof, n_all = 0.0, 0, 0
    for o, f in enumerate(side.frames):
        if f.near.size == 0:
            continue
        ZtZ = sum(st.near_ZtZ[o] for st in full)
        n = int(sum(st.kick_n[o] for st in full))
        s, _, d = stats.covariance_identity_lr(ZtZ, n)
        tot += s
        dof += d
        n_all += n
    if dof == 0:
        return _skip(name, "no kicks (the model's kick is zero) or too few events")
    return CheckResult(
        name,
        f"LR = {_fmt(tot)} (dof {dof})",
        stats.chi2_upper(tot, dof),
        detail=f"covariance of the whitened residual vs identity (likelihood ratio); {n_all} events",
    )


# ---------------------------------------------------------------------- 5. waiting times


def waiting_times(full: list[ReplicaStats]) -> CheckResult:
    name = "5 waiting times R_tot dt ~ Exp(1)"
    U = stats.UniformSample.pooled([st.waits for st in full])
    n = len(U)
    if n < 20:
        return _skip(name, "too few events")
    total = sum(st.wait_sum for st in full)
    z = float((total - n) / math.sqrt(n))
    D, pks = U.ks()
    p = stats.bonferroni([stats.two_sided_normal(z), pks])
    return CheckResult(
        name,
        f"Z(mean) = {_fmt(z)}, KS D = {_fmt(D)}",
        p,
        detail=f"{n} waiting times times the total rate of the replayed state; mean {total / n:.4f} (model 1)",
    )


# ---------------------------------------------------------------------- 6. replay


def replay_choice(full: list[ReplicaStats]) -> CheckResult:
    name = "6 replay: chosen cluster (randomized PIT)"
    U = stats.UniformSample.pooled([st.pit for st in full])
    if len(U) < 20:
        return _skip(name, "too few events")
    D, pks = U.ks()
    var = sum(st.lograte_var for st in full)
    zl = float(sum(st.lograte_dev for st in full) / math.sqrt(var)) if var > 0 else 0.0
    return CheckResult(
        name,
        f"KS D = {_fmt(D)}, Z(log r) = {_fmt(zl)}",
        stats.bonferroni([pks, stats.two_sided_normal(zl)]),
        detail=f"{len(U)} events; clusters ordered by rate, u = (sum of smaller rates + U r_k) / R ~ U(0, 1); "
        "Z(log r): log-rate of the chosen cluster vs its mean under the model's choice probabilities (the score "
        "test of choice probabilities proportional to r^beta at beta = 1; Z < 0: choice too flat)",
    )


def replay_kick(full: list[ReplicaStats], side: ModelSide) -> CheckResult:
    name = "6 replay: kick residual ~ N(0, K_Delta)"
    total_sq, total_n = 0.0, 0
    p_comp, p_mean = [], []
    for o, f in enumerate(side.frames):
        n = int(sum(st.kick_n[o] for st in full))
        if n == 0 or f.check.size == 0:
            continue
        s1 = sum(st.kick_sum[o] for st in full)
        s2 = sum(st.kick_sumsq[o] for st in full)
        total_sq += float(s2.sum())
        total_n += n * f.check.size
        p_comp += [stats.chi2_two_sided(float(x), n) for x in s2]
        p_mean.append(stats.chi2_upper(float((s1 * s1).sum() / n), f.check.size))
    if total_n == 0:
        return _skip(name, "no kicks (the model's kick is zero) or no events")
    z, p_all = stats.sum_of_squares_two_sided(total_sq, total_n)
    p = stats.bonferroni([p_all, stats.bonferroni(p_comp), stats.bonferroni(p_mean)])
    window = (
        f"the {side.frames[0].check.size} sites nearest the cluster (of {int(side.frames[0].support.sum())} the kick moves)"
        if side.windowed
        else f"all {side.frames[0].check.size} sites the kick moves"
    )
    return CheckResult(
        name,
        f"Z(sum z^2) = {_fmt(z)}",
        p,
        detail=f"residual after - before - H(mu' - before) whitened by chol(K_Delta) on {window}; "
        f"{total_n} components; mean of z^2 {total_sq / total_n:.5f} (model 1); sub-tests: total, per component, mean",
    )


def replay_support(full: list[ReplicaStats]) -> CheckResult:
    name = "6 replay: no change outside the kick's support"
    v = sum(st.violations for st in full)
    ex = [e for st in full for e in st.violation_examples][:3]
    if v == 0:
        return CheckResult(name, "0 events", 1.0, detail="every site the declared model never moves kept its value")
    return CheckResult(name, f"{v} events", 0.0, detail="; ".join(ex))


# ---------------------------------------------------------------------- 7. exact limits


def _limit_row(ctx: CheckContext, which: str) -> CheckResult | None:
    """Check 7 in one exact limit (None when the parameters are not in it)."""
    from trsp_ref import limits

    side, stats_all = ctx.side, ctx.replicas
    p = side.params
    label, Q_of, chi_of, times_of = {
        "onset": ("onset T = T0", limits.onset_overlap, limits.onset_chi4, _onset_times),
        "frozen": ("frozen sites", limits.frozen_site_overlap, limits.frozen_site_chi4, _frozen_times),
    }[which]
    name = f"7 exact limit ({label}): Q(t), chi_4(t)"
    # the cheap conditions first (the limit functions build the dense covariance to say why not)
    if which == "onset" and (side.gamma0 != 0.0 or side.delta0 != 0.0):
        return None
    if which == "frozen" and (p.cluster.shape != "site" or p.kick.facilitation != 0.0 or p.softness.C1 != 0.0):
        return None
    try:
        times = times_of(p)
    except ParameterError:
        return None  # not in this limit (the parameter set says why; nothing to report)
    R = len(stats_all)
    horizon = min(st.t_end - st.t0 for st in stats_all)
    times = [t for t in times if 0 < t <= horizon]
    if not times:
        return _skip(name, "the runs are shorter than the time where Q = 0.8")
    ps, parts = [], []
    for t in times:
        Qth, chi = float(Q_of(p, t)), float(chi_of(p, t))
        Qr = np.array([np.mean(st.first_participation - st.t0 > t) for st in stats_all])
        var = chi / side.N
        Z = float((Qr.mean() - Qth) / math.sqrt(var / R))
        Y = float(((Qr - Qth) ** 2).sum() / var)
        ps += [stats.two_sided_normal(Z), stats.chi2_two_sided(Y, R)]
        parts.append(f"t = {t:.4g}: Q {Qr.mean():.4f} vs {Qth:.4f}, N Var Q {side.N * Qr.var():.3g} vs chi_4 {chi:.3g}")
    return CheckResult(name, f"{len(times)} times, {R} replicas", stats.bonferroni(ps), detail="; ".join(parts))


def _onset_times(p) -> list[float]:
    from trsp_ref import limits

    r0 = limits.onset_rate(p)  # raises ParameterError outside the limit
    from trsp_ref.renormalization import rate_parameters

    z = rate_parameters(p).z
    return [-math.log(q) / (z * r0) for q in (0.8, 0.5, 0.2)]


def _frozen_times(p) -> list[float]:
    from trsp_ref import limits

    limits.frozen_site_rate_law(p)  # raises ParameterError outside the limit
    out = []
    for q in (0.8, 0.5, 0.2):
        f = lambda u: float(limits.frozen_site_overlap(p, math.exp(u))) - q  # noqa: E731
        lo, hi = -5.0, 5.0
        while f(lo) < 0:
            lo -= 5.0
        while f(hi) > 0:
            hi += 5.0
        out.append(math.exp(scipy.optimize.brentq(f, lo, hi, xtol=1e-6)))
    return out


# ---------------------------------------------------------------------- the battery


@dataclass
class CheckContext:
    """What a check sees: every replica's statistics (``full``: those with the state between
    events), the model side, the plan and the replicas themselves (headers, snapshots)."""

    replicas: list
    full: list
    side: object
    plan: Plan
    runs: list


@dataclass(frozen=True)
class CheckSpec:
    """One registered check: stable ``key``, display ``name``, whether it ``needs_state`` (the
    state between events: skipped on light run files), and ``run(ctx)`` -> CheckResult, a list
    of them, or None (does not apply: no row)."""

    key: str
    name: str
    needs_state: bool
    run: object


def _fixed_time_samples(ctx: CheckContext) -> CheckResult:
    samples = []
    if ctx.full:
        for j, t in enumerate(ctx.plan.fixed_times):
            S = np.array([st.fixed_states[j] for st in ctx.full if not np.isnan(st.fixed_states[j, 0])])
            samples.append((float(t), S.reshape(-1, ctx.side.N)))
        return stationarity_fixed_times(samples, ctx.side, "0 to 0.5 of the expected duration, from the replay")
    samples = _snapshot_samples(ctx.runs, float(ctx.plan.fixed_times[-1]))
    return stationarity_fixed_times(samples, ctx.side, "recorded snapshots in the first half of the run")


#: the battery, in report order
CHECKS: list[CheckSpec] = [
    CheckSpec("detailed_balance", "1 detailed balance N_AB = N_BA (F1)", True, lambda c: detailed_balance(c.full, c.plan)),
    CheckSpec("stationarity_mean", "2 stationarity <S>, time-weighted (F2)", True,
              lambda c: stationarity_mean(c.full, c.plan, c.side)),
    CheckSpec("stationarity_correlation", "2 stationarity C_S(r), time-weighted (F2)", True,
              lambda c: stationarity_correlation(c.full, c.plan)),
    CheckSpec("equilibrium_fixed_times", "2 equilibrium N(mean, K) at fixed times (Z, Y)", False, _fixed_time_samples),
    CheckSpec("rate_law_intensity", "3 rate law: participations vs intensity", True, lambda c: rate_law_compensator(c.full)),
    CheckSpec("rate_law_per_bin", "3 rate law P(R|S)/duration per softness bin", True,
              lambda c: rate_law_observed(c.full, c.side)),
    CheckSpec("kick_mean", "4 kick mean H(mu' - S) near the cluster", True, lambda c: kick_mean(c.full, c.side)),
    CheckSpec("kick_covariance", "4 kick covariance K_Delta near the cluster", True, lambda c: kick_covariance(c.full, c.side)),
    CheckSpec("waiting_times", "5 waiting times R_tot dt ~ Exp(1)", True, lambda c: waiting_times(c.full)),
    CheckSpec("replay_choice", "6 replay: chosen cluster (randomized PIT)", True, lambda c: replay_choice(c.full)),
    CheckSpec("replay_kick", "6 replay: kick residual ~ N(0, K_Delta)", True, lambda c: replay_kick(c.full, c.side)),
    CheckSpec("replay_support", "6 replay: no change outside the kick's support", True, lambda c: replay_support(c.full)),
    CheckSpec("exact_limit_onset", "7 exact limit (onset T = T0): Q(t), chi_4(t)", False,
              lambda c: _limit_row(c, "onset")),
    CheckSpec("exact_limit_frozen", "7 exact limit (frozen sites): Q(t), chi_4(t)", False,
              lambda c: _limit_row(c, "frozen")),
]


def register_check(spec: CheckSpec) -> None:
    """Add a check to the battery (after the built-in ones); its key must be new."""
    if any(c.key == spec.key for c in CHECKS):
        raise ValueError(f"a check with key {spec.key!r} is already registered")
    CHECKS.append(spec)


def __getattr__(name):
    if name == "CHECK_KEYS":  # computed, so registered checks are included
        return tuple(c.key for c in CHECKS)
    raise AttributeError(name)


def run_checks(replicas: list[ReplicaStats], side, plan: Plan, runs) -> list[CheckResult]:
    """Every registered check on the replicas' statistics (the Holm correction is applied by
    :func:`apply_holm`); each row gets its spec's key."""
    full = [st for st in replicas if st.full]
    ctx = CheckContext(replicas, full, side, plan, runs)
    no_state = "light run files record no site changes, so the state between events is unknown"
    rows: list[CheckResult] = []
    for spec in CHECKS:
        out = _skip(spec.name, no_state) if spec.needs_state and not full else spec.run(ctx)
        for row in [] if out is None else out if isinstance(out, list) else [out]:
            row.key = row.key or spec.key
            rows.append(row)
    return rows


def _snapshot_samples(runs, horizon: float) -> list[tuple[float, np.ndarray]]:
    """Snapshots of light runs at most ``horizon`` after t0 (the first half of the expected run,
    as for the fixed times: a later snapshot exists only if the run lasted, which selects on
    the state), grouped by index, at most 10 evenly spaced indices."""
    n = max((int(np.sum(r.snapshot_times - r.t0 <= horizon)) for r in runs), default=0)
    if n == 0:
        return []
    out = []
    for j in np.unique(np.linspace(0, n - 1, min(n, 10)).astype(int)):
        have = [r for r in runs if j < len(r.snapshot_times) and r.snapshot_times[j] - r.t0 <= horizon]
        if have:
            t = float(np.mean([r.snapshot_times[j] - r.t0 for r in have]))
            out.append((t, np.array([r.snapshot_state(j) for r in have])))
    return out


def apply_holm(rows: list[CheckResult], alpha: float = FAMILY_ALPHA) -> bool:
    """Holm's procedure over every row with a p-value; sets status and adjusted_p. True = all pass."""
    tests = [r for r in rows if r.p_value is not None]
    if not tests:
        return True
    rejected, adjusted = stats.holm([r.p_value for r in tests], alpha)
    for r, rej, adj in zip(tests, rejected, adjusted):
        r.status = "FAIL" if rej else "pass"
        r.adjusted_p = adj
    return not any(rejected)
