"""Run the whole battery on a set of replicas: :func:`verify` -> :class:`Report`."""

from __future__ import annotations

import math
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Callable

from trsp_ref.params import ParameterError

from .checks import FAMILY_ALPHA, CheckResult, apply_holm, run_checks
from .data import Replica, VerifyInputError, check_replicas
from .model_side import DEFAULT_MAX_CHECK_SITES, ModelSideBase, model_side_for
from .replay import analyse_replica, make_plan

__all__ = ["Report", "verify", "MIN_EVENTS", "EXIT_PASS", "EXIT_FAIL", "EXIT_UNUSABLE", "EXIT_INCOMPLETE"]

#: fewer events than this in one replica cannot be verified meaningfully
MIN_EVENTS = 50

#: exit statuses of ``trsp verify`` (docs/verification.md)
EXIT_PASS, EXIT_FAIL, EXIT_UNUSABLE, EXIT_INCOMPLETE = 0, 1, 2, 3


@dataclass
class Report:
    """The battery's verdict.

    passed  : no check failed after Holm's correction at ``alpha``
    rows    : one CheckResult per check (tests, skipped checks and information rows)
    runs    : one dict per replica (name, implementation, events, mode)
    notes   : what a reader must know to interpret the rows (truncation, windowing, ...)
    accept_skipped : a pass resting on skipped checks counts as a pass (exit 0) instead of
              "incomplete" (exit 3)
    alpha, correction, seconds
    """

    passed: bool
    rows: list[CheckResult]
    runs: list[dict]
    notes: list[str] = field(default_factory=list)
    alpha: float = FAMILY_ALPHA
    correction: str = "holm"
    seconds: float = 0.0
    accept_skipped: bool = False

    @property
    def skipped(self) -> list[CheckResult]:
        return [r for r in self.rows if r.status == "skipped"]

    @property
    def verdict(self) -> str:
        """"pass", "fail", or "incomplete" (no check failed, but some were skipped)."""
        if not self.passed:
            return "fail"
        return "incomplete" if self.skipped and not self.accept_skipped else "pass"

    @property
    def exit_code(self) -> int:
        return {"pass": EXIT_PASS, "fail": EXIT_FAIL, "incomplete": EXIT_INCOMPLETE}[self.verdict]

    def missing_guarantees(self) -> str:
        """The guarantees the skipped checks would have given, one phrase each."""
        return "; ".join(f"{r.name} ({r.detail})" for r in self.skipped)

    def row(self, key: str) -> CheckResult:
        """The row of the check with stable ``key`` (:data:`trsp_verify.checks.CHECK_KEYS`)."""
        for r in self.rows:
            if r.key == key:
                return r
        raise KeyError(key)

    @property
    def resolution(self) -> dict | None:
        """After a pass, the errors this run would have rejected with 99% power: the published
        resolution law (docs/resolution.toml) at this run's size (:func:`trsp_verify.resolution.resolution_summary`)."""
        from .resolution import resolution_summary

        return resolution_summary(self)

    def as_dict(self) -> dict:
        return {
            "verdict": self.verdict,
            "family_alpha": self.alpha,
            "correction": self.correction,
            "runs": self.runs,
            "notes": self.notes,
            "checks": [r.as_dict() for r in self.rows],
            "skipped": [r.key for r in self.skipped],
            "resolution": self.resolution,
            "seconds": self.seconds,
        }


def _analyse(args):
    run, side, plan, index, queue = args
    report = (lambda n: queue.put((index, n))) if queue is not None else None
    return analyse_replica(run, side, plan, index, progress=report)


def resolution_of(runs: list[Replica]) -> float:
    """The smallest relative model error the runs could resolve: 1/sqrt(events x sites) over all
    replicas (every statistic of the battery averages at most one value per site and event)."""
    n = sum(r.n_events for r in runs)
    return 1.0 / math.sqrt(max(1, n) * runs[0].params.N)


def _check_sizes(runs: list[Replica], workers: int) -> None:
    """Each replica needs MIN_EVENTS events; the lattice must fit in memory (estimated first)."""
    for r in runs:
        if r.n_events < MIN_EVENTS:
            raise VerifyInputError(
                f"{r.name} holds {r.n_events} events; the battery needs at least {MIN_EVENTS} per replica to test anything"
            )
    from .periodic_side import available_memory

    p = runs[0].params
    m = p.m
    n_orient = {"site": 1, "dimer": p.lattice.dim, "plaquette": p.lattice.dim * (p.lattice.dim - 1) // 2}[p.cluster.shape]
    # per replica: cluster tables and rates (n_clusters x m), shell partners, states, site tables
    per_replica = 8 * p.N * (3 * m * n_orient + 48)
    need = per_replica * max(1, min(workers, len(runs))) + 8 * p.N * 16
    have = available_memory()
    if need > have:
        raise VerifyInputError(
            f"lattice.L = {p.lattice.L} ({p.lattice.dim}D, N = {p.N} sites): verifying needs an estimated "
            f"{need / 1e9:.3g} GB of memory, more than the {have / 1e9:.3g} GB available on this machine"
        )


def verify(
    runs: list[Replica],
    *,
    alpha: float = FAMILY_ALPHA,
    workers: int = 1,
    max_check_sites: int = DEFAULT_MAX_CHECK_SITES,
    side: ModelSideBase | None = None,
    accept_skipped: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> Report:
    """Verify replicas of one declared model (same parameters and truncation).

    Raises VerifyInputError when the replicas do not belong together, are too short, or do
    not fit in memory.  ``workers`` > 1 replays replicas in parallel processes.  ``side`` may
    be passed to reuse the model side across calls.  ``progress(replica, events_done)`` is
    called as the replay goes.  A file found corrupt while it is streamed raises
    :class:`trsp_runfile.runfile.TrspFileError`.
    """
    t_start = time.perf_counter()
    check_replicas(runs)
    _check_sizes(runs, workers)
    first = runs[0]
    p = first.params
    if side is None:
        from .periodic_side import LargeLatticeError

        try:
            side = model_side_for(
                p, first.kick_radius, first.precision_radius, scheme=first.scheme, max_check_sites=max_check_sites,
                resolution=resolution_of(runs),
            )  # fmt: skip
        except ParameterError as exc:
            raise VerifyInputError(f"run file {first.name}: its declared model is invalid: {exc}") from None
        except LargeLatticeError as exc:
            raise VerifyInputError(str(exc)) from None
    plan = make_plan(side, runs)
    replicas = _run_replicas(runs, side, plan, workers, progress)
    rows = run_checks(replicas, side, plan, runs)
    notes = _notes(side, runs, plan, rows)
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
        accept_skipped=accept_skipped,
    )


def _one_blas_thread() -> None:
    """Worker initializer: one BLAS thread per worker process.

    The workers already use every core; each forked worker otherwise inherits a BLAS pool of one
    thread per core, and on 2 cores the 4 spinning threads doubled the CPU time and the wall time
    of an L = 20 verify (measured: 276 CPU s / 151 s wall against 128 CPU s / 77 s wall).
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


def _run_replicas(runs, side, plan, workers, progress):
    if workers <= 1 or len(runs) <= 1:
        out = []
        for i, r in enumerate(runs):
            cb = (lambda n, i=i: progress(i, n)) if progress else None
            out.append(analyse_replica(r, side, plan, i, progress=cb))
        return out
    import multiprocessing

    with multiprocessing.Manager() if progress else _Null() as manager:
        queue = manager.Queue() if progress else None
        with ProcessPoolExecutor(max_workers=min(workers, len(runs)), initializer=_one_blas_thread) as pool:
            futures = [pool.submit(_analyse, (r, side, plan, i, queue)) for i, r in enumerate(runs)]
            pending = set(futures)
            while pending:
                _, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                while queue is not None and not queue.empty():
                    progress(*queue.get())
            while queue is not None and not queue.empty():
                progress(*queue.get())
            return [f.result() for f in futures]


class _Null:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def _chosen_for(run: Replica) -> str:
    """", chosen for tolerances kick K, precision P" when the run says (run files 1.2, trsp_fast replicas)."""
    tol = getattr(run, "tolerances", None)
    return "" if tol is None else f", chosen for tolerances kick {tol[0]:g}, precision {tol[1]:g}"


def _notes(side: ModelSideBase, runs: list[Replica], plan, rows: list[CheckResult]) -> list[str]:
    first = runs[0]
    notes = []
    sur = side.surrogate
    if sur is not None:
        notes.append(
            f"declared model: untruncated, on a lattice beyond the dense oracle (N = {side.N}); tested against the "
            f"truncated stand-in kick_radius = {sur['kick_radius']:g}, precision_radius = {sur['precision_radius']:g}, "
            f"whose distance from it (||K_t - K||/||K|| = {sur['equilibrium_relative_error']:.3g}, largest neglected "
            f"kick variance {sur['neglected_kick_variance']:.3g}, largest neglected precision entry x variance "
            f"{sur['neglected_precision']:.3g}) is far below the run's resolution {sur['resolution']:.3g} "
            "(1/sqrt(events x sites))"
        )
        worst = max(sur["equilibrium_relative_error"], sur["neglected_kick_variance"], sur["neglected_precision"])
        rows.append(
            CheckResult(
                "truncation: stand-in distance vs resolution", f"{worst:.3g} vs {sur['resolution']:.3g}", None, "info",
                "largest distance of the truncated stand-in from the declared untruncated model, and the run's "
                "resolution; see notes", key="truncation_distance",
            )  # fmt: skip
        )
    else:
        trunc = side.truncation_distance()
        if trunc is None:
            notes.append("declared model: exact (no truncation)")
        else:
            notes.append(
                f"declared model: truncated (kick_radius = {first.kick_radius:g}, precision_radius = "
                f"{first.precision_radius:g}, scheme {first.scheme}{_chosen_for(first)}); tested against that truncated "
                "model. Distance to "
                f"the untruncated model: ||K_t - K||/||K|| = {trunc['equilibrium_relative_error']:.3g}, largest "
                f"neglected kick variance {trunc['neglected_kick_variance']:.3g}, largest neglected precision entry x "
                f"variance {trunc['neglected_precision']:.3g}"
            )
            rows.append(
                CheckResult(
                    "truncation: distance to the untruncated model", f"{trunc['equilibrium_relative_error']:.3g}",
                    None, "info", "relative 2-norm error of the equilibrium covariance; see notes",
                    key="truncation_distance",
                )  # fmt: skip
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
    return notes
