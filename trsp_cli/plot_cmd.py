"""``trsp plot SWEEP.h5|FOLDER [--outdir DIR]`` and ``trsp summarize SWEEP.h5 -o SUMMARY.h5``.

Thin shells over :func:`trsp_obs.plots.make_figures` (one sweep or summary file: the figures
it supports), :func:`trsp_obs.plots.figures_from_folder` (a folder such as docs/results with
a ``figures.toml`` manifest: every figure listed there) and
:func:`trsp_obs.summaries.summarize`.  A file that is not a sweep or summary file raises
ParameterError('sweep_file'), reported by the CLI in one line.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["run_plot", "run_summarize"]


def run_plot(sweep_file: Path, outdir: Path) -> list[Path]:
    import typer

    from trsp_obs.plots import figures_from_folder, make_figures

    sweep_file = Path(sweep_file)
    paths = figures_from_folder(sweep_file, outdir) if sweep_file.is_dir() else make_figures(sweep_file, outdir)
    for p in paths:
        typer.echo(f"wrote {p}")
    if not paths:
        typer.echo("no figure: the sweep file holds no combined results yet (fewer than 2 replicas everywhere)")
    return paths


def run_summarize(sweep_file: Path, out: Path, force: bool = False) -> dict:
    import typer

    from trsp_obs.summaries import summarize

    info = summarize(sweep_file, out, force=force)
    typer.echo(
        f"wrote {info['out']}: {info['bytes'] / 1e3:,.0f} kB (sweep file {info['source_bytes'] / 1e3:,.0f} kB; "
        f"left out {', '.join(info['dropped'])})"
    )
    return info
