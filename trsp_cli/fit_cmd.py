"""``trsp fit`` and ``trsp to-particles``: a TRSP model measured from softness data (docs/fit.md).

:func:`run_fit` and :func:`run_to_particles` are the jobs behind the subcommands.  Everything a
user can fix is found at the door, before any data are read or computed, and is a
ParameterError / TrspFileError (one line, exit 2 from the CLI): the outputs (the one output
policy, :mod:`trsp_runfile.outputs`), the inputs' schemas (:mod:`trsp_fit.schema`), each option
for its class (finite, in range, meaningful for the inputs given) and the resources the job
needs (:mod:`trsp_runfile.resources`).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import List, Optional

import typer

from trsp_ref.params import ParameterError
from trsp_runfile.runfile import TrspFileError

__all__ = ["run_fit", "run_to_particles", "register"]

#: bytes per particle and frame that a conversion holds at least (softness float64, flag bool)
_BYTES_PER_VALUE = 8 + 1


def _positive(option: str, value: float | None) -> None:
    if value is not None and not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise ParameterError(option, "must be a finite number > 0", value)


def _check_frames(infos, frame_interval: float | None, what: str, held: bool = True) -> None:
    """The run files' conversions: ``--frame-interval`` applies to "full" runs only (a "light"
    run's frames are its snapshots); each must give >= 2 frames, and (``held``: to-particles holds
    the whole conversion; trsp fit streams it a block at a time) they must fit in memory."""
    from trsp_runfile.resources import check_memory

    runs = [i for i in infos if i.format == "trsp-run"]
    if frame_interval is not None and runs and all(i.light for i in runs):
        raise ParameterError("--frame-interval", "does not apply: the run files are 'light' runs, whose frames are their "
                             "snapshots (trsp simulate --mode light --snapshot-every)", frame_interval)  # fmt: skip
    for i in runs:
        if i.n_frames < 2:
            if i.light:
                raise TrspFileError(i.path, f"a 'light' run's frames are its snapshots and it holds {i.n_frames}: at least 2 "
                                    "are needed (record it in 'full' mode, or with --snapshot-every)", "/snapshots")  # fmt: skip
            raise ParameterError("--frame-interval", f"gives {i.n_frames} frame(s) of {i.path}; at least 2 are needed: "
                                 "choose a shorter --frame-interval", frame_interval)
    full = [i for i in runs if not i.light]
    if not runs or (not held and frame_interval is None and not any(i.light for i in runs)):
        return  # nothing converted: run files read event by event hold one chunk of events at a time
    if held:
        values = sum(float(i.n_frames) * i.n_particles for i in runs)
    else:  # streamed: each run's frame times (float64) and one block of frames (trsp_fit.sources.ROWS_BUDGET values) at a time
        from trsp_fit.sources import ROWS_BUDGET

        values = max((float(i.n_frames) for i in runs), default=0.0) * 8 / _BYTES_PER_VALUE + 4 * ROWS_BUDGET
    check_memory(values * _BYTES_PER_VALUE, "--frame-interval" if full else "DATA",
                 f"{what} ({sum(i.n_frames for i in runs):.3g} frames of {runs[0].n_particles:,} particles)" if runs else what,
                 "choose a longer --frame-interval" if full else "convert fewer runs at once")


def run_fit(data: list[Path], out: Path, *, report: Path | None = None, plots: Path | None = None, bootstrap: int = 200,
            seed: int = 0, blocks: int = 8, before: int | None = None, after: int | None = None,
            at_temperature: float | None = None, cluster_shape: str | None = None, frame_interval: float | None = None,
            duration: float | None = None, types: list | None = None, isolation_margin: float = 3.0, progress: bool = False,
            force: bool = False, quiet: bool = False) -> dict:
    """Check everything at the door, fit, write the parameter TOML, the JSON report and the plots
    as one set; print the warnings.  ``frame_interval`` None: run files are read event by event
    (exact times); a value: as frames that far apart (streamed)."""
    from trsp_fit import FitOptions
    from trsp_fit.convert import DEFAULT_DURATION, DEFAULT_FRAME_INTERVAL
    from trsp_fit.pipeline import MIN_TEMPERATURES, collect, estimate
    from trsp_fit.report import fit_outputs, write_outputs
    from trsp_fit.schema import check_fit_inputs, inspect_input
    from trsp_runfile.resources import check_bootstrap_count, check_memory

    if not data:
        raise ParameterError("DATA", "give at least one particle-data or run file")
    fit_outputs(out, report, plots, inputs=data, force=force)  # the outputs, before any work
    check_bootstrap_count(bootstrap, "--bootstrap")
    _positive("--frame-interval", frame_interval)
    _positive("--duration", duration)
    if at_temperature is not None:
        _positive("--at-temperature", at_temperature)
    if not (isinstance(isolation_margin, (int, float)) and math.isfinite(isolation_margin) and isolation_margin >= 0):
        raise ParameterError("--isolation-margin", "must be a finite number >= 0 (spacings)", isolation_margin)
    opts = FitOptions(bootstrap=bootstrap, seed=seed, blocks_per_file=blocks, before=before, after=after, at_temperature=at_temperature,
                      cluster_shape=cluster_shape, frame_interval=frame_interval,
                      duration=DEFAULT_DURATION if duration is None else duration, types=list(types) if types else None,
                      isolation_margin=isolation_margin, progress=progress)  # fmt: skip
    infos = [inspect_input(p, DEFAULT_FRAME_INTERVAL if frame_interval is None else frame_interval) for p in data]
    check_fit_inputs(infos, opts.neighbour_radius, cluster_shape)
    if not any(i.format == "trsp-run" for i in infos):
        for option, value in (("--frame-interval", frame_interval), ("--duration", duration)):
            if value is not None:
                raise ParameterError(option, "does not apply: it is for run files, and every input is a particle-data file "
                                     "(its frames and rearrangements are its own)", value)  # fmt: skip
    _check_frames(infos, frame_interval, "converting the run files", held=False)
    temps = sorted({i.temperature for i in infos})
    if at_temperature is not None and len(temps) < MIN_TEMPERATURES and not any(math.isclose(at_temperature, t, rel_tol=1e-9) for t in temps):
        raise ParameterError("--at-temperature", f"does not apply: the data hold {len(temps)} temperature(s) "
                             f"({', '.join(f'{t:g}' for t in temps)}), so the parameter set is measured at one of them; "
                             f"another temperature needs Eqs. 27-28, from data at >= {MIN_TEMPERATURES} temperatures", at_temperature)
    framed = [i for i in infos if i.format != "trsp-run" or i.light or frame_interval is not None]  # run files are read event by event
    shortest = min(framed, key=lambda i: i.n_frames) if framed else None
    reach = (1 if before is None else before) + (0 if after is None else after)
    if shortest is not None and reach >= shortest.n_frames:
        option = "--before" if before is not None else "--after"
        raise ParameterError(option, f"--before {1 if before is None else before} + --after {0 if after is None else after} frames "
                             f"leave no rearrangement window in {shortest.path} ({shortest.n_frames} frames): "
                             f"their sum must be below the frames of every input", before if option == "--before" else after)

    col = collect(data, opts)
    # every bootstrap replicate keeps the per-temperature statistics it resamples: bound them before starting
    per_replicate = len(col.temps) * sum(v.nbytes for v in col.total.values())
    check_memory(bootstrap * per_replicate, "--bootstrap", f"{bootstrap:,} bootstrap replicates", "give fewer replicates")
    result = estimate(col, opts)
    paths = write_outputs(result, out, report, plots, inputs=data, force=force)
    if not quiet:
        for w in result.report["warnings"]:
            print(f"trsp fit: warning: {w}", file=sys.stderr)
        print(f"wrote {paths['toml']}, {paths['report']} and {len(paths['plots'])} plots in {paths['plots'][0].parent}" if paths["plots"]
              else f"wrote {paths['toml']} and {paths['report']}")
    return paths


def run_to_particles(run: Path, out: Path, *, frame_interval: float | None = None, duration: float = 4.0, jitter: float = 0.0,
                     seed: int = 0, temperature: float | None = None, force: bool = False) -> None:
    """Convert a run file to a particle-data file (docs/formats-particles.md); ``frame_interval``
    None: :data:`trsp_fit.convert.DEFAULT_FRAME_INTERVAL` ("full" runs; a "light" run's frames are its snapshots)."""
    from trsp_fit import runfile_to_particles, write_particles
    from trsp_fit.convert import DEFAULT_FRAME_INTERVAL
    from trsp_fit.schema import inspect_input
    from trsp_runfile.outputs import Output, OutputSet

    outputs = OutputSet([Output("--out", out)], inputs=[run], force=force)
    _positive("--frame-interval", frame_interval)
    _positive("--duration", duration)
    if not (isinstance(jitter, (int, float)) and math.isfinite(jitter) and jitter >= 0):
        raise ParameterError("--jitter", "must be a finite number >= 0", jitter)
    info = inspect_input(run, DEFAULT_FRAME_INTERVAL if frame_interval is None else frame_interval, "RUN")
    if info.format != "trsp-run":
        raise ParameterError("RUN", f"{run} is a particle-data file already: to-particles converts run files (trsp simulate)")
    _check_frames([info], frame_interval, "the particle data")
    data = runfile_to_particles(run, frame_interval=DEFAULT_FRAME_INTERVAL if frame_interval is None else frame_interval,
                                duration=duration, jitter=jitter, seed=seed, temperature=temperature)
    with outputs.writing() as w:
        write_particles(data, w.path("--out", ".h5"))


def register(app: typer.Typer, guarded) -> None:
    """Add ``fit`` and ``to-particles`` to the ``trsp`` app (``guarded`` turns user errors into one line, exit 2)."""

    @app.command()
    def fit(
        data: List[Path] = typer.Argument(..., help="Particle-data files (docs/formats-particles.md) and/or run files, any mix; each once."),
        out: Path = typer.Option(..., "--out", "-o", help="Parameter file to write (TOML)."),
        report: Optional[Path] = typer.Option(None, "--report", help="The JSON report (default: beside --out, .json)."),
        plots: Optional[Path] = typer.Option(None, "--plots", help="Folder for the plots (default: beside --out, <stem>_plots)."),
        force: bool = typer.Option(False, "--force", help="Replace existing outputs (the parameter file, report and plots, as a set)."),
        bootstrap: int = typer.Option(200, "--bootstrap", min=20, help="Bootstrap replicates (files, or blocks of frames); 20 to 10 000."),
        seed: int = typer.Option(0, "--seed", min=0, help="Seeds the bootstrap."),
        before: Optional[int] = typer.Option(None, "--before", min=1, help="Frames before a rearrangement's interval for dS (default 1)."),
        after: Optional[int] = typer.Option(None, "--after", min=0, help="Frames after it (default 0; sustained data: the duration)."),
        at_temperature: Optional[float] = typer.Option(None, "--at-temperature", help="\\[temperature] T of the written set (default: lowest)."),
        cluster_shape: Optional[str] = typer.Option(None, "--cluster-shape", help="Cluster shape (site, dimer, plaquette) when the data do not say."),
        frame_interval: Optional[float] = typer.Option(None, "--frame-interval", help="Run files only: read them as frames this far "
                                                       "apart (default: event by event, with their exact times)."),
        duration: Optional[float] = typer.Option(None, "--duration", help="Run files only: the given rearrangement duration (default 4)."),
        types: Optional[List[str]] = typer.Option(None, "--types", help="Particle types to use: names (the file's type_names) or ids; "
                                                  "repeat the option (default: every particle)."),
        isolation_margin: float = typer.Option(3.0, "--isolation-margin", help="Frames: a particle is used for a rearrangement's kick "
                                               "when no other rearrangement of its frame is within rt + this (spacings)."),
        blocks: int = typer.Option(8, "--blocks", min=1, help="Bootstrap units per file, at most (docs/fit.md, 'Errors')."),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="A progress bar while run files are read."),
    ) -> None:
        """Measure a TRSP model from softness trajectories (Sec. V, App. E): parameter TOML, JSON report, plots."""
        guarded(run_fit, list(data), out, report=report, plots=plots, force=force, bootstrap=bootstrap, seed=seed, before=before,
                after=after, at_temperature=at_temperature, cluster_shape=cluster_shape, frame_interval=frame_interval,
                duration=duration, types=types, isolation_margin=isolation_margin, blocks=blocks, progress=progress)  # fmt: skip

    @app.command("to-particles")
    def to_particles(
        run: Path = typer.Argument(..., help="Run file (trsp simulate)."),
        out: Path = typer.Option(..., "--out", "-o", help="Particle-data file to write (HDF5)."),
        force: bool = typer.Option(False, "--force", help="Replace an existing output file."),
        frame_interval: Optional[float] = typer.Option(None, "--frame-interval", help="Time between frames (> 0; default 1). 'Light' runs: their snapshots."),
        duration: float = typer.Option(4.0, "--duration", help="The rearrangement duration to record (> 0)."),
        jitter: float = typer.Option(0.0, "--jitter", min=0.0, help="Gaussian displacement of the particles, in spacings."),
        seed: int = typer.Option(0, "--seed", min=0, help="Seeds the jitter."),
    ) -> None:
        """Convert a run file to particle data (docs/formats-particles.md)."""
        guarded(run_to_particles, run, out, frame_interval=frame_interval, duration=duration, jitter=jitter, seed=seed, force=force)
        typer.echo(f"wrote {out}")
