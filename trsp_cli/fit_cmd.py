"""``trsp fit`` and ``trsp to-particles``: a TRSP model measured from softness data (docs/fit.md).

:func:`run_fit` and :func:`run_to_particles` are the jobs behind the subcommands; every
problem a user can fix is a ParameterError / TrspFileError (one line, exit 2 from the CLI).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

from trsp_ref.params import ParameterError

__all__ = ["run_fit", "run_to_particles", "register"]


def _check_out(path: Path, option: str) -> None:
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ParameterError(option, f"the folder does not exist: {folder}")
    if path.is_dir():
        raise ParameterError(option, f"is a folder, not a file: {path}")


def run_fit(data: list[Path], out: Path, *, report: Path | None = None, plots: Path | None = None, bootstrap: int = 200,
            seed: int = 0, blocks: int = 8, before: int | None = None, after: int | None = None,
            at_temperature: float | None = None, cluster_shape: str | None = None, frame_interval: float | None = None,
            duration: float = 4.0, types: list | None = None, isolation_margin: float = 3.0, progress: bool = False,
            quiet: bool = False) -> dict:
    """Fit, write the parameter TOML, the JSON report and the plots; print the warnings."""
    from trsp_fit import FitOptions, fit, write_outputs

    if not data:
        raise ParameterError("DATA", "give at least one particle-data or run file")
    _check_out(out, "--out")
    opts = FitOptions(bootstrap=bootstrap, seed=seed, blocks_per_file=blocks, before=before, after=after,
                      at_temperature=at_temperature, cluster_shape=cluster_shape, frame_interval=frame_interval, duration=duration,
                      types=types, isolation_margin=isolation_margin, progress=progress)
    result = fit(data, opts)
    paths = write_outputs(result, out, report, plots)
    if not quiet:
        for w in result.report["warnings"]:
            print(f"trsp fit: warning: {w}", file=sys.stderr)
        print(f"wrote {paths['toml']}, {paths['report']} and {len(paths['plots'])} plots in {paths['plots'][0].parent}" if paths["plots"]
              else f"wrote {paths['toml']} and {paths['report']}")
    return paths


def run_to_particles(run: Path, out: Path, *, frame_interval: float = 1.0, duration: float = 4.0, jitter: float = 0.0,
                     seed: int = 0, temperature: float | None = None) -> None:
    """Convert a run file to a particle-data file (docs/formats-particles.md)."""
    from trsp_fit import runfile_to_particles, write_particles

    _check_out(out, "--out")
    data = runfile_to_particles(run, frame_interval=frame_interval, duration=duration, jitter=jitter, seed=seed, temperature=temperature)
    write_particles(data, out)


def register(app: typer.Typer, guarded) -> None:
    """Add ``fit`` and ``to-particles`` to the ``trsp`` app (``guarded`` turns user errors into one line, exit 2)."""

    @app.command()
    def fit(
        data: List[Path] = typer.Argument(..., help="Particle-data files (docs/formats-particles.md) and/or run files, any mix."),
        out: Path = typer.Option(..., "--out", "-o", help="Parameter file to write (TOML); the report goes beside it (.json)."),
        bootstrap: int = typer.Option(200, "--bootstrap", min=20, help="Bootstrap replicates (files, or blocks of frames)."),
        seed: int = typer.Option(0, "--seed", min=0, help="Seeds the bootstrap."),
        before: Optional[int] = typer.Option(None, "--before", min=1, help="Frames before a rearrangement's interval for dS (default 1)."),
        after: Optional[int] = typer.Option(None, "--after", min=0, help="Frames after it (default 0; sustained data: the duration)."),
        at_temperature: Optional[float] = typer.Option(None, "--at-temperature", help="[temperature] T of the written set (default: lowest)."),
        cluster_shape: Optional[str] = typer.Option(None, "--cluster-shape", help="Cluster shape when the data do not say."),
        frame_interval: Optional[float] = typer.Option(None, "--frame-interval", help="Run files: read them as frames this far apart "
                                                       "(default: event by event, exact times)."),
        duration: float = typer.Option(4.0, "--duration", help="Run files: the given rearrangement duration."),
        types: Optional[List[str]] = typer.Option(None, "--types", help="Particle types to use (names from the file's type_names, "
                                                  "or ids; repeat the option; default: every particle)."),
        isolation_margin: float = typer.Option(3.0, "--isolation-margin", help="Frames: another rearrangement must be farther than "
                                               "rt + this (spacings) from a particle used for a kick."),
        blocks: int = typer.Option(8, "--blocks", min=1, help="Bootstrap units per file (equal stretches of it)."),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
    ) -> None:
        """Measure a TRSP model from softness trajectories (Sec. V, App. E): parameter TOML, JSON report, plots."""
        guarded(run_fit, list(data), out, bootstrap=bootstrap, seed=seed, blocks=blocks, before=before, after=after,
                at_temperature=at_temperature, cluster_shape=cluster_shape, frame_interval=frame_interval, duration=duration,
                types=types, isolation_margin=isolation_margin, progress=progress)

    @app.command("to-particles")
    def to_particles(
        run: Path = typer.Argument(..., help="Run file (trsp simulate)."),
        out: Path = typer.Option(..., "--out", "-o", help="Particle-data file to write (HDF5)."),
        frame_interval: float = typer.Option(1.0, "--frame-interval", help="Time between frames."),
        duration: float = typer.Option(4.0, "--duration", help="The rearrangement duration to record."),
        jitter: float = typer.Option(0.0, "--jitter", min=0.0, help="Gaussian displacement of the particles, in spacings."),
        seed: int = typer.Option(0, "--seed", min=0, help="Seeds the jitter."),
    ) -> None:
        """Convert a run file to particle data (docs/formats-particles.md)."""
        guarded(run_to_particles, run, out, frame_interval=frame_interval, duration=duration, jitter=jitter, seed=seed)
        typer.echo(f"wrote {out}")
