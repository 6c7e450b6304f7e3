"""Run the whole battery on a set of replicas: :func:`verify` -> :class:`Report`."""

from __future__ import annotations

import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

from trsp_ref.params import ParameterError

from .checks import FAMILY_ALPHA, CheckResult, apply_holm, run_checks
from .data import RunData, VerifyInputError, check_replicas
from .model_side import DEFAULT_MAX_CHECK_SITES, MAX_ORACLE_SITES, ModelSide
from .replay import analyse_replica, make_plan

__all__ = ["Report", "verify", "MIN_EVENTS"]

#: fewer events than this in all replicas together cannot be verified meaningfully
MIN_EVENTS = 50


@dataclass
class Report:
    """The battery's verdict.

    passed  : no check failed after Holm's correction at ``alpha``
    rows    : one CheckResult per check (tests, skipped checks and information rows)
    runs    : one dict per replica (name, implementation, events, mode)
    notes   : what a reader must know to interpret the rows (truncation, windowing, ...)
    alpha, correction, seconds
    """

    passed: bool
    rows: list[CheckResult]
    runs: list[dict]
    notes: list[str] = field(default_factory=list)
    alpha: float = FAMILY_ALPHA
    correction: str = "holm"
    seconds: float = 0.0

    @property
    def exit_code(self) -> int:
        return 0 if self.passed else 1

    def as_dict(self) -> dict:
        return {
            "verdict": "pass" if self.passed else "fail",
            "family_alpha": self.alpha,
            "correction": self.correction,
            "runs": self.runs,
            "notes": self.notes,
            "checks": [r.as_dict() for r in self.rows],
            "seconds": self.seconds,
        }


def _analyse(args):
    run, side, plan, index = args
    return analyse_replica(run, side, plan, index)


def verify(
    runs: list[RunData],
    *,
    alpha: float = FAMILY_ALPHA,
    workers: int = 1,
    max_check_sites: int = DEFAULT_MAX_CHECK_SITES,
    side: ModelSide | None = None,
) -> Report:
    """Verify replicas of one declared model (same parameters and truncation).

    Raises VerifyInputError when the replicas do not belong together, are too short, or the
    lattice is beyond the dense oracle.  ``workers`` > 1 replays replicas in parallel
    processes.  ``side`` may be passed to reuse the oracle's operators across calls.
    """
    t_start = time.perf_counter()
    check_replicas(runs)
    first = runs[0]
    p = first.params
    if p.N > MAX_ORACLE_SITES:
        raise VerifyInputError(
            f"the lattice has N = {p.N} sites; the battery's model side is the dense oracle, which handles at most "
            f"{MAX_ORACLE_SITES} sites: verify a run of the same parameters on a smaller lattice.L"
        )
    total = sum(r.n_events for r in runs)
    if total < MIN_EVENTS:
        raise VerifyInputError(
            f"the runs hold {total} events in all; the battery needs at least {MIN_EVENTS} to test anything"
        )
    if side is None:
        try:
            side = ModelSide(
                p, first.kick_radius, first.precision_radius, max_check_sites=max_check_sites,
                precision_scheme=first.precision_scheme,
            )
        except ParameterError as exc:
            raise VerifyInputError(f"run file {first.name}: its declared model is invalid: {exc}") from None
    plan = make_plan(side, runs)
    jobs = [(r, side, plan, i) for i, r in enumerate(runs)]
    if workers > 1 and len(runs) > 1:
        with ProcessPoolExecutor(max_workers=min(workers, len(runs))) as pool:
            replicas = list(pool.map(_analyse, jobs))
    else:
        replicas = [_analyse(j) for j in jobs]
    rows = run_checks(replicas, side, plan, runs)
    notes = []
    trunc = side.truncation_distance()
    if trunc is None:
        notes.append("declared model: exact (no truncation)")
    else:
        notes.append(
            f"declared model: truncated (kick_radius = {first.kick_radius:g}, precision_radius = "
            f"{first.precision_radius:g}); tested against that truncated model. Distance to the untruncated model: "
            f"||K_t - K||/||K|| = {trunc['equilibrium_relative_error']:.3g}, largest neglected kick variance "
            f"{trunc['neglected_kick_variance']:.3g}, largest neglected precision entry x variance "
            f"{trunc['neglected_precision']:.3g}"
        )
        rows.append(
            CheckResult(
                "truncation: distance to the untruncated model",
                f"{trunc['equilibrium_relative_error']:.3g}",
                None,
                "info",
                "relative 2-norm error of the equilibrium covariance; see notes",
            )
        )
    if side.windowed:
        notes.append(
            f"replay: the kick residual is tested on the {side.frames[0].check.size} sites nearest each firing "
            f"cluster (of {int(side.frames[0].support.sum())} the kick moves): a marginal of the kick law, still exact"
        )
    if not all(r.full for r in runs):
        notes.append("light run files: checks that need the state between events are skipped")
    notes.append(
        f"plan: {plan.windows} detailed-balance batches per replica, {plan.db_edges.size + 1} detailed-balance "
        f"bins, {plan.rate_edges.size + 1} softness bins, states compared with N(mean, K) at t - t0 = "
        + ", ".join(f"{t:.4g}" for t in plan.fixed_times)
    )
    passed = apply_holm(rows, alpha)
    return Report(
        passed=passed,
        rows=rows,
        runs=[
            {"name": r.name, "implementation": r.implementation, "events": r.n_events, "mode": "full" if r.full else "light"}
            for r in runs
        ],
        notes=notes,
        alpha=alpha,
        seconds=time.perf_counter() - t_start,
    )
