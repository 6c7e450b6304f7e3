"""``trsp plot SWEEP.h5 [--outdir DIR]``: PNG figures in the style of the paper's Figs. 4-8 and 12.

Thin shell over :func:`trsp_obs.plots.make_figures`; which figures are made depends on what
the sweep holds (docs/reproduction.md).  A file that is not a sweep file raises
ParameterError('sweep_file'), reported by the CLI in one line.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["run_plot"]


def run_plot(sweep_file: Path, outdir: Path) -> list[Path]:
    import typer

    from trsp_obs.plots import make_figures

    paths = make_figures(sweep_file, outdir)
    for p in paths:
        typer.echo(f"wrote {p}")
    if not paths:
        typer.echo("no figure: the sweep file holds no combined results yet (fewer than 2 replicas everywhere)")
    return paths
