"""``trsp sweep SWEEP.toml --out SWEEP.h5 [--scheduler ADDR] [--resume]``: an ensemble on Dask.

Thin shell over :func:`trsp_obs.sweep.run_sweep` (docs/reproduction.md, docs/sweep-format.md):
prints a one-screen summary; exit status 0 when every member finished, 1 when some failed
(the sweep file is written without them: fix the cause and rerun with --resume), 130 on
Ctrl-C (finished members are kept: rerun with --resume).  Bad input raises ParameterError,
which the CLI reports in one line (exit 2).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["run_sweep"]


def run_sweep(
    config: Path, out: Path, scheduler: str | None = None, resume: bool = False, progress: bool = True, n_workers: int = 2
) -> dict:
    import typer

    from trsp_obs import sweep as _sweep

    try:
        summary = _sweep.run_sweep(config, out, scheduler=scheduler, resume=resume, progress=progress, n_workers=n_workers)
    except _sweep.SweepError as exc:
        typer.echo(f"trsp sweep: {exc}", err=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        typer.echo(f"trsp sweep: interrupted; finished members are kept in {out}.members/ - rerun with --resume", err=True)
        raise typer.Exit(130) from None
    ev, cpu = summary["events"], summary.get("member_cpu_s", 0.0)
    rate = f", {ev / cpu:,.0f} events per worker CPU-second" if cpu > 0 else ""
    typer.echo(
        f"wrote {summary['out']}: {summary['members_done']}/{summary['members_total']} equilibrium members"
        + (f", {summary['aging_members_done']} aging members" if "aging_members_done" in summary else "")
        + f" ({summary['ran']} run now, {summary['skipped']} already done); {ev:,} events{rate}; "
        f"wall {summary['run_wall_s']:.1f} s"
    )
    return summary
