"""``trsp verify``: the calibrated statistical verification battery (docs/verification.md).

``trsp verify RUN.h5 [RUN2.h5 ...]`` checks run files (one replica each; any implementation
that writes docs/formats.md) against the model they declare.  ``trsp verify`` alone
simulates the built-in example (``trsp_ref.params.Params()``, the same parameter set as
``examples/default_3d_plaquette.toml``) with trsp_fast, several independent replicas from
one SeedSequence, and verifies them.

Exit status: 0 every check passes, 1 a check fails (Holm's procedure, family-wise
false-alarm rate 1e-3), 2 the input is unusable (the message names what is wrong).
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


def render_table(report, console=None) -> None:
    """The report as a rich table, then the details of failed and skipped checks and the notes."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    table = Table(title=f"trsp verify: {len(report.runs)} replica(s), {sum(r['events'] for r in report.runs)} events")
    table.add_column("check")
    table.add_column("statistic")
    table.add_column("p-value", justify="right")
    table.add_column("Holm p", justify="right")
    table.add_column("verdict")
    style = {"pass": "green", "FAIL": "bold red", "skipped": "yellow", "info": "cyan"}
    for r in report.rows:
        p = "-" if r.p_value is None else f"{r.p_value:.3g}"
        adj = "-" if r.adjusted_p is None else f"{r.adjusted_p:.3g}"
        table.add_row(r.name, r.statistic, p, adj, f"[{style.get(r.status, '')}]{r.status}[/]")
    console.print(table)
    for r in report.rows:
        if r.status in ("FAIL", "skipped"):
            console.print(f"[{style[r.status]}]{r.status}[/] {r.name}: {r.detail}", highlight=False)
    for note in report.notes:
        console.print(f"note: {note}", highlight=False)
    verdict = "[green]PASS[/]" if report.passed else "[bold red]FAIL[/]"
    console.print(
        f"{verdict}: family-wise false-alarm rate {report.alpha:g} ({report.correction}); {report.seconds:.1f} s",
        highlight=False,
    )


def run_verify(
    files: list[Path],
    json_out: bool = False,
    replicas: int = DEFAULT_REPLICAS,
    events: int = DEFAULT_EVENTS,
    seed: int | None = None,
) -> int:
    """Run the battery and print the result; returns the exit status (0 pass, 1 fail, 2 unusable input).

    ``files``: run files (replicas of one model).  Empty: simulate ``replicas`` replicas of
    ``events`` events of the built-in example with trsp_fast (seeded by ``seed``; a fresh seed
    is drawn and printed when None) and verify them.
    """
    from trsp_ref.params import ParameterError, Params

    try:
        from trsp_runfile.runfile import TrspFileError
    except ImportError:  # pragma: no cover
        TrspFileError = ParameterError  # type: ignore[misc,assignment]
    from trsp_verify import VerifyInputError, load_runs, verify

    extra: dict = {}
    try:
        _check_options(replicas, events, seed)
        if files:
            runs = load_runs([Path(f) for f in files])
        else:
            from trsp_verify.simulate import simulate_replicas

            if not json_out:
                print(
                    f"trsp verify: simulating {replicas} replicas x {events} events of the built-in example "
                    "with trsp_fast ...",
                    file=sys.stderr,
                    flush=True,
                )
            runs, entropy = simulate_replicas(Params(), replicas, events, seed, workers=_workers(replicas))
            extra = {"simulated": {"params": "built-in example (examples/default_3d_plaquette.toml)",
                                   "replicas": replicas, "events": events, "seed": entropy}}
            if not json_out:
                print(f"trsp verify: seed {entropy} (repeat with --seed {entropy})", file=sys.stderr, flush=True)
        report = verify(runs, workers=_workers(len(runs)))
    except (VerifyInputError, ParameterError, TrspFileError) as exc:
        print(f"trsp: error: {exc}", file=sys.stderr)
        return 2
    if json_out:
        out = dict(report.as_dict(), **extra, exit_code=report.exit_code)
        print(json.dumps(_json_safe(out), indent=2))
    else:
        render_table(report)
    return report.exit_code


def main(argv: list[str] | None = None) -> int:  # pragma: no cover - python -m trsp_cli.verify_cmd
    import argparse

    ap = argparse.ArgumentParser(prog="trsp verify", description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="*", type=Path)
    ap.add_argument("--json", action="store_true", dest="json_out")
    ap.add_argument("--replicas", type=int, default=DEFAULT_REPLICAS)
    ap.add_argument("--events", type=int, default=DEFAULT_EVENTS)
    ap.add_argument("--seed", type=int, default=None)
    a = ap.parse_args(argv)
    return run_verify(a.runs, a.json_out, a.replicas, a.events, a.seed)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
