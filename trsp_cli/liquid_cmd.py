"""``trsp liquid summarize`` and ``trsp liquid compare``: TRSP against the Kob-Andersen liquid (issue 19).

``summarize TRAJ... --out LIQUID.h5``: the liquid's Q(t), chi_4(t), tau_alpha, tau_chi, chi_4* and
g_AA from MD trajectories, several runs per temperature (trsp_obs.liquid; format trsp-liquid).
``compare LIQUID.h5 TRSP.h5... --json VERDICT.json``: the verdict table against TRSP sweep
summaries (trsp_obs.liquid_compare).  Both follow the one output policy (checked before any
work, written atomically, ``--force`` to replace).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

__all__ = ["run_summarize", "run_compare", "register"]


def run_summarize(trajectories: list[Path], out: Path, **kw) -> dict:
    from trsp_obs.liquid import summarize_liquid

    progress = kw.pop("progress", True)
    info = summarize_liquid(trajectories, out, progress=(lambda m: typer.echo(f"reading {m}", err=True)) if progress else None,
                            **kw)
    runs = ", ".join(f"T = {T:g}: {n}" for T, n in zip(info["temperatures"], info["runs"]))
    typer.echo(f"wrote {out}: runs per temperature {runs}; {info['cpu_s']:.1f} CPU s")
    return info


def run_compare(md: Path, trsp: list[Path], json_out: Path, markdown: Path | None = None, force: bool = False, **kw) -> dict:
    from trsp_obs.liquid_compare import compare, markdown_table
    from trsp_runfile.outputs import Output, OutputSet

    outs = [Output("--json", json_out)] + ([Output("--markdown", markdown, "the table")] if markdown else [])
    outputs = OutputSet(outs, inputs=[md, *trsp], force=force)
    verdict = compare(md, trsp, **kw)
    table = markdown_table(verdict)
    with outputs.writing() as w:
        w.path("--json").write_text(json.dumps(verdict, indent=1) + "\n", encoding="utf-8")
        if markdown:
            w.path("--markdown").write_text(table + "\n", encoding="utf-8")
    typer.echo(table)
    return verdict


def register(app: typer.Typer, guarded) -> None:
    """Add the ``liquid`` group (``summarize``, ``compare``) to the ``trsp`` app."""
    liquid = typer.Typer(help="TRSP against the Kob-Andersen liquid: the liquid's Q(t) and chi_4(t) from MD trajectories, "
                              "and the verdict table (docs/liquid.md).", no_args_is_help=True)

    @liquid.command("summarize")
    def summarize(
        trajectories: List[Path] = typer.Argument(..., help="MD trajectories with inherent states (trsp md), >= 2 runs per temperature."),
        out: Path = typer.Option(..., "--out", "-o", help="The liquid summary to write (HDF5, format trsp-liquid)."),
        a: float = typer.Option(0.3, "--a", help="Overlap cutoff in sigma_AA: unmoved when |r(t0 + t) - r(t0)| < a."),
        lags: int = typer.Option(40, "--lags", help="Log-spaced whole-frame lags up to half the run (duplicates removed)."),
        species: str = typer.Option("A", "--species", help="The particles analysed (the paper: the large ones, A)."),
        n_bootstrap: int = typer.Option(1000, "--bootstrap", help="Bootstrap resamples of the runs."),
        seed: int = typer.Option(0, "--seed", help="SeedSequence entropy of the bootstrap."),
        force: bool = typer.Option(False, "--force", help="Replace an existing summary."),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="Name each trajectory as it is read."),
    ) -> None:
        """The liquid's Q(t), chi_4(t), tau_alpha, tau_chi, chi_4* and g_AA (inherent and thermal positions)."""
        guarded(run_summarize, list(trajectories), out, a=a, n_lags=lags, species=species, n_bootstrap=n_bootstrap, seed=seed,
                force=force, progress=progress)

    @liquid.command("compare")
    def compare_cmd(
        md: Path = typer.Argument(..., help="The liquid summary (trsp liquid summarize)."),
        trsp: List[Path] = typer.Argument(..., help="TRSP sweep files or summaries at the same temperatures."),
        json_out: Path = typer.Option(..., "--json", help="The verdict (JSON, format trsp-liquid-verdict)."),
        markdown: Optional[Path] = typer.Option(None, "--markdown", help="Also write the table as markdown."),
        positions: str = typer.Option("inherent", "--positions", help="MD positions compared: 'inherent' (the paper's) or 'thermal'."),
        variant: Optional[str] = typer.Option(None, "--variant", help="The TRSP variant (default: each file's first)."),
        n_bootstrap: int = typer.Option(1000, "--bootstrap", help="Bootstrap resamples for TRSP's tau_alpha."),
        seed: int = typer.Option(0, "--seed", help="SeedSequence entropy of that bootstrap."),
        force: bool = typer.Option(False, "--force", help="Replace existing outputs."),
    ) -> None:
        """The verdict table: MD tau_alpha, tau_chi, chi_4* against TRSP per temperature, fragility, growth of chi_4*."""
        guarded(run_compare, md, list(trsp), json_out, markdown, force=force, positions=positions, variant=variant,
                n_bootstrap=n_bootstrap, seed=seed)

    app.add_typer(liquid, name="liquid")
