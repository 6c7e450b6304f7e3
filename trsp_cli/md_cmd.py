"""``trsp md``: Kob-Andersen molecular dynamics into a GSD trajectory with inherent states (docs/md.md).

A thin shell over :func:`trsp_md.protocol.run_md`; every problem a user can fix is a
ParameterError (one line, exit 2 from the CLI).  Ctrl-C / SIGTERM writes a checkpoint and exits
with 130 / 143.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

__all__ = ["register"]


def register(app: typer.Typer, guarded) -> None:
    """Add ``md`` to the ``trsp`` app (``guarded`` turns user errors into one line, exit 2)."""

    @app.command()
    def md(
        params: Optional[Path] = typer.Argument(None, help="Parameter file (TOML, docs/md.md). Default: the embedded "
                                                "small example (new run) or the run's own (--resume)."),
        out: Path = typer.Option(..., "--out", "-o", help="Trajectory to write (GSD, HOOMD schema; docs/formats-trajectory.md)."),
        seed: Optional[int] = typer.Option(None, "--seed", "-s", help="SeedSequence entropy (>= 0; default: fresh, recorded in the file)."),
        resume: bool = typer.Option(False, "--resume", help="Continue the run from its checkpoint (OUT.checkpoint), bit for bit."),
        force: bool = typer.Option(False, "--force", help="Replace an existing trajectory (atomically, at the new run's first checkpoint)."),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar (the disk and memory estimates are printed either way)."),
    ) -> None:
        """Kob-Andersen 80:20 MD (LAMMPS): melt, equilibrate, NVE production; frames with inherent states (GSD)."""
        from trsp_md.protocol import MdInterrupted, run_md

        try:
            summary = guarded(run_md, params, out, seed=seed, resume=resume, force=force, progress=progress)
        except MdInterrupted as exc:
            typer.echo(f"trsp md: {exc}", err=True)
            raise typer.Exit(128 + exc.signum) from None
        if summary and not summary.get("nothing"):
            typer.echo(f"wrote {out} ({summary['frames']} frames)")
