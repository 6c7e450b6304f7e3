"""The ``trsp`` command line: typed (typer), one subcommand per job.

Each subcommand is a thin shell over a ``run_*`` function in its own module, imported
lazily so that ``trsp --help`` does not pay for Numba or SymPy.  Errors a user can fix
(bad parameters, unusable files) are printed as one clear line and exit with status 2,
never as a traceback.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import List, Optional

import typer

app = typer.Typer(
    name="trsp",
    help="Time-Reversible Structuro-Plastic (TRSP) models: reference oracle, fast simulator, verification.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

#: exit status for input a user can fix (documented in README.md)
EXIT_BAD_INPUT = 2


def _user_errors() -> tuple[type[BaseException], ...]:
    from trsp_ref.params import ParameterError

    errors: list[type[BaseException]] = [ParameterError]
    try:
        from trsp_runfile.runfile import TrspFileError

        errors.append(TrspFileError)
    except ImportError:  # pragma: no cover - run files not built yet
        pass
    return tuple(errors)


def _guarded(fn, *args, **kwargs):
    """Run a job; turn a user-fixable error into one line on stderr and exit status 2.

    Besides the project's own errors, two classes of failure are the user's to fix and are
    reported the same way, whatever job hit them: an operating-system error on a file (a
    folder that is not writable, a path that is not a folder, a full disk) and running out
    of memory."""
    errors = _user_errors()
    unclosable = False
    try:
        return fn(*args, **kwargs)
    except errors as exc:
        message = str(exc)
        unclosable = getattr(exc, "hdf5_left_unclosable", False)
    except MemoryError:
        message = "out of memory: the job needs more memory than this machine has (choose a smaller lattice or run)"
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        message = f"{where}{exc.strerror or exc}"
    typer.echo(f"trsp: error: {' '.join(message.split())}", err=True)
    if unclosable:
        # A write failed (full disk): libhdf5 would crash flushing the abandoned work file at
        # exit.  Everything of ours is closed and the run file is intact: leave now.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_BAD_INPUT)
    raise typer.Exit(EXIT_BAD_INPUT)


@app.command()
def reference(
    params: Optional[Path] = typer.Argument(
        None, help="Parameter file (TOML, docs/model.md). Default: the built-in example."
    ),
    out: Path = typer.Option(Path("reference.json"), "--out", "-o", help="JSON file to write (atomically)."),
    force: bool = typer.Option(False, "--force", help="Replace an existing output file."),
) -> None:
    """Write the oracle's conformance vectors for a parameter set (docs/formats.md, "Conformance vectors")."""
    from trsp_cli.reference_cmd import run_reference

    _guarded(run_reference, params, out, force=force)
    typer.echo(f"wrote {out}")


@app.command()
def simulate(
    config: Optional[Path] = typer.Argument(None, help="Parameter file (TOML). Default: the built-in example."),
    out: Path = typer.Option(..., "--out", "-o", help="HDF5 run file (docs/formats.md)."),
    events: Optional[int] = typer.Option(None, "--events", "-n", help="Stop after this many events (>= 1)."),
    time: Optional[float] = typer.Option(None, "--time", "-t", help="Stop at this simulated time (finite, >= 0)."),
    seed: Optional[int] = typer.Option(None, "--seed", "-s", help="SeedSequence entropy (>= 0; default: fresh, recorded in the file)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the existing run file from its last checkpoint, bit-exactly."),
    mode: Optional[str] = typer.Option(None, "--mode", help="'full' (default) records every change (replayable); 'light' only times and clusters. On resume: the run's own."),
    snapshot_every: Optional[float] = typer.Option(None, "--snapshot-every", help="Simulated time between full snapshots of S (> 0)."),
    checkpoint_every: Optional[int] = typer.Option(None, "--checkpoint-every", help="Events between checkpoints (>= 1). Default: trsp_fast.run_job.DEFAULT_CHECKPOINT_EVERY."),
    tolerance: Optional[float] = typer.Option(None, "--tolerance", help="Truncation tolerance of both the kick window and the precision (docs/fast.md); 0 = the exact model. Default: trsp_fast.model.DEFAULT_TOLERANCE (kick 3e-5, precision: see docs/fast.md), or the run's own on resume."),
    kick_tolerance: Optional[float] = typer.Option(None, "--kick-tolerance", help="Tolerance of the kick window alone (overrides --tolerance for it); 0 = untruncated kick."),
    precision_tolerance: Optional[float] = typer.Option(None, "--precision-tolerance", help="Tolerance of the truncated precision alone (overrides --tolerance for it); 0 = exact equilibrium covariance."),
    force: bool = typer.Option(False, "--force", help="Replace an existing run file (atomically)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Run the fast simulator and write an HDF5 run file (checkpointed, resumable)."""
    from trsp_cli.simulate_cmd import run_simulate

    _guarded(
        run_simulate,
        config,
        out,
        events=events,
        time=time,
        seed=seed,
        resume=resume,
        mode=mode,
        snapshot_every=snapshot_every,
        checkpoint_every=checkpoint_every,
        tolerance=tolerance,
        kick_tolerance=kick_tolerance,
        precision_tolerance=precision_tolerance,
        progress=progress,
        force=force,
    )


@app.command()
def verify(
    runs: Optional[List[Path]] = typer.Argument(None, help="Run files (replicas). None: simulate the default example and verify it."),
    json_out: bool = typer.Option(False, "--json", help="Print the results as JSON instead of a table."),
    replicas: int = typer.Option(4, "--replicas", min=1, help="Replicas to simulate when no run file is given."),
    events: int = typer.Option(50_000, "--events", min=1, help="Events per simulated replica when no run file is given."),
    seed: Optional[int] = typer.Option(None, "--seed", min=0, help="Seed for the simulated replicas."),
    accept_skipped: bool = typer.Option(
        False, "--accept-skipped", help="Exit 0 when no check fails even if some were skipped (default: exit 3)."
    ),
) -> None:
    """Run the statistical verification battery; exit 0 pass, 1 fail, 2 unusable input, 3 no check failed
    but some were skipped (docs/verification.md)."""
    from trsp_cli.verify_cmd import run_verify

    code = _guarded(
        run_verify, list(runs or []), json_out=json_out, replicas=replicas, events=events, seed=seed,
        accept_skipped=accept_skipped,
    )  # fmt: skip
    raise typer.Exit(int(code or 0))


@app.command()
def sweep(
    config: Path = typer.Argument(..., help="Sweep file (TOML): temperatures x seeds x variants."),
    out: Path = typer.Option(..., "--out", "-o", help="HDF5 file holding every member's observables."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Address of an existing Dask scheduler (default: a LocalCluster)."),
    resume: bool = typer.Option(False, "--resume", help="Skip members already finished in OUT."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
    workers: int = typer.Option(2, "--workers", min=1, help="Worker processes of the LocalCluster (ignored with --scheduler)."),
) -> None:
    """Run an ensemble of simulations on Dask and collect Q, chi_4, S_4 and aging observables."""
    from trsp_cli.sweep_cmd import run_sweep

    _guarded(run_sweep, config, out, scheduler=scheduler, resume=resume, progress=progress, n_workers=workers)


@app.command()
def plot(
    sweep_file: Path = typer.Argument(..., help="Sweep output or summary (HDF5), or a folder with a figures.toml manifest (docs/results)."),
    outdir: Path = typer.Option(Path("figures"), "--outdir", "-o", help="Folder for the PNG figures."),
) -> None:
    """Write PNG figures in the style of the paper's Figs. 4-8 and 12 (and the softness memory)."""
    from trsp_cli.plot_cmd import run_plot

    _guarded(run_plot, sweep_file, outdir)


@app.command()
def summarize(
    sweep_file: Path = typer.Argument(..., help="Sweep output (HDF5, docs/sweep-format.md)."),
    out: Path = typer.Option(..., "--out", "-o", help="Summary file to write (HDF5; e.g. docs/results/NAME.h5)."),
    force: bool = typer.Option(False, "--force", help="Replace an existing summary."),
) -> None:
    """Write a small summary of a sweep file (observables, no raw spatial statistics) to commit and plot from."""
    from trsp_cli.plot_cmd import run_summarize

    _guarded(run_summarize, sweep_file, out, force=force)


@app.command()
def paired(
    sweep_files: List[Path] = typer.Argument(..., help="Sweep output(s) (HDF5); files with distinct seeds are pooled."),
    compare: Optional[List[str]] = typer.Option(None, "--compare", help='"VARIANT_A|VARIANT_B" (repeatable; default every variant against the first).'),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the comparisons (and power) as JSON."),
    force: bool = typer.Option(False, "--force", help="Replace an existing --json file."),
    n_bootstrap: int = typer.Option(400, "--n-bootstrap", min=10, help="Paired bootstrap resamples (10 to 10 000)."),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of the bootstrap."),
    effect: float = typer.Option(0.2, "--effect", help="Relative effect the power calculation sizes for (0.2 = 20%; > -1, != 0)."),
    sigmas: float = typer.Option(3.0, "--sigmas", help="Standard errors at which that effect must show (> 0)."),
) -> None:
    """Compare sweep variants replica by replica (paired sweeps): ratios, significance, replicas needed."""
    from trsp_cli.paired_cmd import run_paired

    _guarded(run_paired, list(sweep_files), list(compare or []), json_out, n_bootstrap=n_bootstrap, seed=seed, effect=effect,
             sigmas=sigmas, force=force)  # fmt: skip


from trsp_cli.fit_cmd import register as _register_fit  # noqa: E402  (trsp fit, trsp to-particles)

_register_fit(app, _guarded)
from trsp_cli.md_cmd import register as _register_md  # noqa: E402  (trsp md)

_register_md(app, _guarded)

from trsp_cli.softness_cmd import register as _register_softness  # noqa: E402  (trsp softness train / apply)

_register_softness(app, _guarded)
from trsp_cli.liquid_cmd import register as _register_liquid  # noqa: E402  (trsp liquid summarize / compare)

_register_liquid(app, _guarded)


def main(argv: list[str] | None = None) -> int:
    """The ``trsp`` console entry point: a usage error (unknown option, a value of the wrong
    type) is one line on stderr and exit status 2, like every other bad input."""
    _notes_in_one_line()
    try:
        code = app(args=argv, standalone_mode=False)
    except _usage_error() as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # bare ``trsp``: the help, as before
            exc.show()
            return EXIT_BAD_INPUT
        hint = f" (see 'trsp {exc.ctx.info_name} --help')" if exc.ctx is not None and exc.ctx.parent is not None else ""
        typer.echo(f"trsp: error: {' '.join(exc.format_message().split())}{hint}", err=True)
        return EXIT_BAD_INPUT
    except typer.Abort:
        typer.echo("trsp: interrupted", err=True)
        return 130
    return int(code or 0)


def _usage_error() -> type[BaseException]:
    """click's UsageError, found through typer (some typer versions vendor their own click)."""
    return next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")


def _notes_in_one_line() -> None:
    """Library notes (trsp_ref.params.DefaultedSections: a parameter file that leaves out
    sections) as one ``trsp: note:`` line, not Python's two-line warning format."""
    import warnings

    plain = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        from trsp_ref.params import DefaultedSections  # late: trsp --help stays light

        if issubclass(category, DefaultedSections):
            print(f"trsp: note: {message}", file=sys.stderr)
        else:  # pragma: no cover - other warnings keep Python's format
            plain(message, category, filename, lineno, file, line)

    warnings.showwarning = show


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
