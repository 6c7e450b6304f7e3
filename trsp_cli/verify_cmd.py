"""``trsp verify``: the calibrated statistical verification battery (docs/verification.md).

``trsp verify RUN.h5 [RUN2.h5 ...]`` checks run files (one replica each; any implementation
that writes docs/formats.md) against the model they declare.  ``trsp verify`` alone
simulates the built-in example (``trsp_ref.params.Params()``, the same parameter set as
``examples/default_3d_plaquette.toml``) with trsp_fast, several independent replicas from
one SeedSequence, and verifies them.

Exit status: 0 every check passes, 1 a check fails (Holm's procedure, family-wise
false-alarm rate 1e-3), 2 the input is unusable (the message names what is wrong), 3 no check
failed but some were skipped (the verdict names the missing guarantees; ``--accept-skipped``
makes it 0).
"""

from __future__ import annotations

import os

# The oracle's dense linear algebra on small matrices is slower with threaded BLAS, and the
# replicas already run in parallel processes: one BLAS thread each (set before numpy loads).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import json
import math
import sys
from pathlib import Path

__all__ = ["run_verify", "render_table", "DEFAULT_REPLICAS", "DEFAULT_EVENTS"]

#: replicas and events per replica of ``trsp verify`` without run files
DEFAULT_REPLICAS = 4
DEFAULT_EVENTS = 50_000


def _workers(n: int) -> int:
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(n, cpus))


def _check_options(replicas, events, seed) -> None:
    from trsp_ref.params import ParameterError

    for name, value in (("--replicas", replicas), ("--events", events)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ParameterError(name, "must be a whole number >= 1", value)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise ParameterError("--seed", "must be a whole number >= 0", seed)


def _json_safe(x):
    if isinstance(x, float) and not math.isfinite(x):
        return None if math.isnan(x) else ("inf" if x > 0 else "-inf")
    if isinstance(x, dict):
        return {k: _json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_safe(v) for v in x]
    return x


#: one line under the table: what the abbreviations in the check names mean
LEGEND = (
    "legend: F1, F2 = the paper's Appendix F tests (F1 detailed balance, F2 stationarity); Z/Y = standardized "
    "site-mean sum ~ N(0,1) / whitened squared norm (S - mean)^T K^-1 (S - mean) ~ chi2(N); PIT = probability "
    "integral transform of the chosen cluster among all clusters ordered by rate, ~ U(0,1); p = the row's "
    "p-value (rows of several sub-tests: Bonferroni, min(1, k min p)); Holm p = adjusted over all rows"
)

_STYLE = {"pass": "green", "FAIL": "bold red", "skipped": "yellow", "info": "cyan"}


def _p(x) -> str:
    return "-" if x is None else f"{x:.3g}"


def render_table(report, console=None, seconds: float | None = None) -> None:
    """The report as a table (a rich table on a terminal, one compact line per check otherwise),
    the legend, the details of failed and skipped checks, the notes and the verdict."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    wrap = not console.is_terminal  # a log or a pipe: long lines stay whole

    def say(text: str, **kw) -> None:
        console.print(text, highlight=False, soft_wrap=wrap, **kw)

    title = f"trsp verify: {len(report.runs)} replica(s), {sum(r['events'] for r in report.runs)} events"
    if console.is_terminal:
        table = Table(title=title)
        table.add_column("check")
        table.add_column("statistic")
        table.add_column("p", justify="right")
        table.add_column("Holm p", justify="right")
        table.add_column("verdict")
        for r in report.rows:
            table.add_row(r.name, r.statistic, _p(r.p_value), _p(r.adjusted_p), f"[{_STYLE.get(r.status, '')}]{r.status}[/]")
        console.print(table)
    else:  # a log or a pipe: one line per check, no wrapping
        say(title)
        width = max(len(r.name) for r in report.rows)
        for r in report.rows:
            say(f"{r.status:7s}  {r.name:{width}s}  p {_p(r.p_value):>8s}  Holm p {_p(r.adjusted_p):>8s}  {r.statistic}",
                markup=False)
    say(LEGEND, markup=False)
    for r in report.rows:
        if r.status in ("FAIL", "skipped"):
            say(f"[{_STYLE[r.status]}]{r.status}[/] {r.name}: {r.detail}")
    for note in report.notes:
        say(f"note: {note}", markup=False)
    secs = report.seconds if seconds is None else seconds
    tail = f"family-wise false-alarm rate {report.alpha:g} ({report.correction}); {secs:.1f} s"
    verdict = report.verdict
    if verdict == "pass":
        say(f"[green]PASS[/]: {tail}")
        from trsp_verify.resolution import resolution_line

        line = resolution_line(report.resolution)
        if line:
            say(line, markup=False)
    elif verdict == "fail":
        say(f"[bold red]FAIL[/]: {tail}")
    else:
        say(
            f"[yellow]INCOMPLETE[/]: no check failed, but {len(report.skipped)} check(s) were skipped, so these "
            f"guarantees are missing: {report.missing_guarantees()}. Exit status 3; --accept-skipped accepts this "
            f"as a pass. {tail}"
        )


class _Progress:
    """A rich progress bar per replica on stderr (nothing when stderr is not a terminal or for --json)."""

    def __init__(self, runs, enabled: bool, simulating: bool):
        self.bar = None
        if not enabled:
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        console = Console(stderr=True)
        if not console.is_terminal:
            return
        self.bar = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console,
            transient=True,
        )  # fmt: skip
        what = "simulating + replaying" if simulating else "replaying"
        self.tasks = [self.bar.add_task(f"replica {i}: {what}", total=r.n_events) for i, r in enumerate(runs)]

    def __enter__(self):
        if self.bar is not None:
            self.bar.start()
        return self

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.stop()
        return False

    def __call__(self, replica: int, done: int) -> None:
        if self.bar is not None:
            self.bar.update(self.tasks[replica], completed=done)


def run_verify(
    files: list[Path],
    json_out: bool = False,
    replicas: int = DEFAULT_REPLICAS,
    events: int = DEFAULT_EVENTS,
    seed: int | None = None,
    accept_skipped: bool = False,
) -> int:
    """Run the battery and print the result; returns the exit status (0 pass, 1 fail, 2 unusable
    input, 3 no check failed but some were skipped, unless ``accept_skipped``).

    ``files``: run files (replicas of one model).  Empty: simulate ``replicas`` replicas of
    ``events`` events of the built-in example with trsp_fast (seeded by ``seed``; a fresh seed
    is drawn and printed when None) and verify them, simulating each replica while it is replayed.
    The reported seconds cover the whole command (reading, simulating, replaying, testing).
    """
    import time

    t_start = time.perf_counter()
    from trsp_ref.params import ParameterError, Params
    from trsp_runfile.runfile import TrspFileError
    from trsp_verify import VerifyInputError, load_runs, verify

    extra: dict = {}
    try:
        _check_options(replicas, events, seed)
        if files:
            runs = load_runs([Path(f) for f in files])
        else:
            from trsp_verify.simulate import simulate_replicas

            runs, entropy = simulate_replicas(Params(), replicas, events, seed)
            extra = {"simulated": {"params": "built-in example (examples/default_3d_plaquette.toml)",
                                   "replicas": replicas, "events": events, "seed": entropy}}
            if not json_out:
                print(
                    f"trsp verify: simulating {replicas} replicas x {events} events of the built-in example with "
                    f"trsp_fast, seed {entropy} (repeat with --seed {entropy})",
                    file=sys.stderr,
                    flush=True,
                )
        with _Progress(runs, not json_out, simulating=not files) as progress:
            report = verify(runs, workers=_workers(len(runs)), accept_skipped=accept_skipped, progress=progress)
    except (VerifyInputError, ParameterError, TrspFileError) as exc:
        print(f"trsp: error: {exc}", file=sys.stderr)
        return 2
    seconds = time.perf_counter() - t_start
    report.seconds = seconds
    if json_out:
        out = dict(report.as_dict(), **extra, exit_code=report.exit_code)
        print(json.dumps(_json_safe(out), indent=2))
    else:
        render_table(report, seconds=seconds)
    return report.exit_code


def main(argv: list[str] | None = None) -> int:  # pragma: no cover - python -m trsp_cli.verify_cmd
    import argparse

    ap = argparse.ArgumentParser(prog="trsp verify", description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="*", type=Path)
    ap.add_argument("--json", action="store_true", dest="json_out")
    ap.add_argument("--replicas", type=int, default=DEFAULT_REPLICAS)
    ap.add_argument("--events", type=int, default=DEFAULT_EVENTS)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--accept-skipped", action="store_true")
    a = ap.parse_args(argv)
    return run_verify(a.runs, a.json_out, a.replicas, a.events, a.seed, a.accept_skipped)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
