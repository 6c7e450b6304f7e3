"""``trsp softness train`` and ``trsp softness apply``: softness from particle trajectories (docs/softness.md).

``train TRAJ... --out MODEL.h5``: a softness model (docs/formats-softness-model.md) from GSD or
LAMMPS-dump trajectories at one temperature.  ``apply MODEL.h5 TRAJ... --out OUT``: one
particle-data file (docs/formats-particles.md) per trajectory, which `trsp fit` reads as is.
Outputs follow the project's one output policy (:mod:`trsp_runfile.outputs`): checked before
any work (a missing or unwritable folder, an output that is one of the inputs or another
trajectory's output, an existing file without ``--force``) and written atomically; `apply`
moves each trajectory's file into place as soon as it is complete.  With several
trajectories, ``--out`` is a folder (``FOLDER/<trajectory stem>.h5``) or a pattern containing
``{stem}``.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from trsp_ref.params import ParameterError

__all__ = ["run_train", "run_apply", "apply_outputs", "register"]


def apply_outputs(trajectories: list[Path], out: Path) -> list[Path]:
    """The output file of each trajectory: ``out`` itself (one trajectory), ``out/<stem>.h5`` (a
    folder), or ``out`` with ``{stem}`` replaced (a pattern)."""
    text = str(out)
    if "{stem}" in text:
        outs = [Path(text.replace("{stem}", t.stem)) for t in trajectories]
    elif out.is_dir():
        outs = [out / f"{t.stem}.h5" for t in trajectories]
    elif len(trajectories) == 1:
        outs = [out]
    else:
        raise ParameterError("--out", f"{len(trajectories)} trajectories need one output each: give a folder or a "
                                      "pattern containing {stem} (e.g. 'out/{stem}.h5')")
    return outs


def _parse_list(text: Optional[str], option: str, cast=str) -> Optional[tuple]:
    if text is None:
        return None
    items = [x.strip() for x in text.split(",") if x.strip()]
    if not items:
        raise ParameterError(option, "must list at least one value, comma-separated", text)
    try:
        return tuple(cast(x) for x in items)
    except ValueError:
        raise ParameterError(option, f"must be a comma-separated list of {cast.__name__} values", text) from None


def run_train(trajectories: list[Path], out: Path, *, force: bool = False, dt: float | None = None,
              temperature: float | None = None, type_names: str | None = None, types: str | None = None,
              positions: str = "auto", p_hop_window: float = 10.0, rearranging_p_hop: float = 0.6,
              event_p_hop: float = 0.2, quiet_p_hop: float = 0.02, slow_window: float | None = None, q: float = 7.25,
              max_examples: int = 2000, min_examples: int = 20, test_fraction: float = 0.2, cv_folds: int = 5,
              c_grid: str | None = None, sigma_max: float = 5.0, min_spread: float = 1e-3, seed: int = 0, progress: bool = True,
              quiet: bool = False):
    """Train and write a model; returns it."""
    from trsp_softness.classifier import DEFAULT_C_GRID
    from trsp_softness.model_file import write_model
    from trsp_softness.train import TrainOptions, train_model
    from trsp_softness.trajectories import open_all
    from trsp_softness.training_set import TrainingThresholds

    from trsp_runfile.outputs import Output, OutputSet, check_distinct_inputs

    if not trajectories:
        raise ParameterError("TRAJ", "give at least one trajectory")
    check_distinct_inputs(trajectories, "TRAJ", "each trajectory counts once")
    outputs = OutputSet([Output("--out", out)], inputs=trajectories, force=force)
    opts = TrainOptions(types=_parse_list(types, "--types"), positions=positions, p_hop_window=p_hop_window,
                        thresholds=TrainingThresholds(rearranging_p_hop, event_p_hop, quiet_p_hop), slow_window=slow_window,
                        q=q, max_per_class=max_examples, min_per_class=min_examples, test_fraction=test_fraction,
                        folds=cv_folds, c_grid=_parse_list(c_grid, "--c-grid", float) or DEFAULT_C_GRID,
                        sigma_max=sigma_max, min_spread=min_spread, seed=seed, progress=progress).check()
    trajs = open_all(trajectories, dt=dt, temperature=temperature, type_names=_parse_list(type_names, "--type-names"))
    try:
        model = train_model(trajs, opts)
    finally:
        for t in trajs:
            t.close()
    with outputs.writing() as w:
        write_model(model, w.path("--out", ".h5"))
    if not quiet:
        s = model.svm
        typer.echo(f"wrote {out}: {model.describe()}; C = {s.C:g}, held-out accuracy {s.test_accuracy:.3f} "
                   f"({sum(s.n_test)} examples), {s.n_train[0]} + {s.n_train[1]} training examples")
    return model


def run_apply(model_path: Path, trajectories: list[Path], out: Path, *, force: bool = False, dt: float | None = None,
              temperature: float | None = None, type_names: str | None = None, p_hop_window: float | None = None,
              p_hop_threshold: float = 0.2, progress: bool = True, quiet: bool = False) -> list[Path]:
    """Apply a model and write one particle-data file per trajectory; returns their paths."""
    from trsp_fit.particles import write_particles
    from trsp_softness.apply import ApplyOptions, apply_all
    from trsp_softness.model_file import read_model
    from trsp_softness.trajectories import open_all

    from trsp_runfile.outputs import Output, OutputSet, check_distinct_inputs, check_outputs

    if not trajectories:
        raise ParameterError("TRAJ", "give at least one trajectory")
    if not (p_hop_threshold > 0 and p_hop_threshold < float("inf")):
        raise ParameterError("--p-hop-threshold", "must be finite and > 0", p_hop_threshold)
    check_distinct_inputs(trajectories, "TRAJ", "each trajectory gets one output")
    outs = apply_outputs(list(trajectories), out)
    inputs = [model_path, *trajectories]
    declared = [Output("--out", o, "" if o == out else f"for {t}") for o, t in zip(outs, trajectories)]
    check_outputs(declared, inputs=inputs, force=force)  # together: two trajectories may not share an output
    sets = {o: OutputSet([d], inputs=inputs, force=force) for o, d in zip(outs, declared)}
    model = read_model(model_path)
    trajs = open_all(trajectories, dt=dt, temperature=temperature, type_names=_parse_list(type_names, "--type-names"))

    def write(data, path):
        with sets[path].writing() as w:
            write_particles(data, w.path("--out", ".h5"))
        if not quiet:
            typer.echo(f"wrote {path}: {data.n_frames} frames x {data.n_particles} particles, T = {data.temperature:g}, "
                       f"<S> = {data.softness.mean():.3f}")

    try:
        return apply_all(model, trajs, outs, ApplyOptions(p_hop_window=p_hop_window, p_hop_threshold=p_hop_threshold,
                                                          progress=progress), write)
    finally:
        for t in trajs:
            t.close()


def register(app: typer.Typer, guarded) -> None:
    """Add the ``softness`` group (``train``, ``apply``) to the ``trsp`` app."""
    softness = typer.Typer(help="Softness from particle trajectories: train a linear SVM, apply it (docs/softness.md).",
                           no_args_is_help=True)

    common_dt = "MD time step, for files that record no frame times (LAMMPS dumps, other GSD files): time = step x dt."
    common_t = "Temperature, for files that record none."
    common_names = "Rename the file's types, in type-id order, e.g. 'A,B' for a LAMMPS dump's types 1, 2."

    @softness.command("train")
    def train(
        trajectories: List[Path] = typer.Argument(..., help="GSD or LAMMPS-dump trajectories of one system at one temperature."),
        out: Path = typer.Option(..., "--out", "-o", help="Model file to write (HDF5, docs/formats-softness-model.md)."),
        force: bool = typer.Option(False, "--force", help="Replace an existing model file."),
        dt: Optional[float] = typer.Option(None, "--dt", help=common_dt),
        temperature: Optional[float] = typer.Option(None, "--temperature", help=common_t),
        type_names: Optional[str] = typer.Option(None, "--type-names", help=common_names),
        types: Optional[str] = typer.Option(None, "--types", help="Types to train on, comma-separated (default: the first type, the paper's A)."),
        positions: str = typer.Option("auto", "--positions", help="'auto' (inherent states when the file has them), 'inherent' or 'thermal'."),
        p_hop_window: float = typer.Option(10.0, "--p-hop-window", help="p_hop window t_R (time units; an even number of frames)."),
        rearranging_p_hop: float = typer.Option(0.6, "--rearranging-p-hop", help="Rearranging example: a p_hop run peaking above this."),
        event_p_hop: float = typer.Option(0.2, "--event-p-hop", help="p_c: a rearrangement is a run of frames with p_hop above this."),
        quiet_p_hop: float = typer.Option(0.02, "--quiet-p-hop", help="Non-rearranging example: p_hop below this through the window."),
        slow_window: Optional[float] = typer.Option(None, "--slow-window", help="Non-rearranging window (time units; default 2 tau_alpha from F_s)."),
        q: float = typer.Option(7.25, "--q", help="Wave number of F_s(q, t) for tau_alpha (1/sigma_AA)."),
        max_examples: int = typer.Option(2000, "--max-examples", help="At most this many examples per class."),
        min_examples: int = typer.Option(20, "--min-examples", help="At least this many examples per class, or an error."),
        test_fraction: float = typer.Option(0.2, "--test-fraction", help="Held-out share of the examples (accuracy)."),
        cv_folds: int = typer.Option(5, "--cv-folds", help="Folds of the cross-validation that picks C."),
        c_grid: Optional[str] = typer.Option(None, "--c-grid", help="Penalties C to try, comma-separated (default 0.0001,0.001,0.01,0.1,1,10)."),
        sigma_max: float = typer.Option(5.0, "--sigma-max", help="Cut-off of the structure functions (Appendix A: 5); smaller is cheaper (quick runs)."),
        min_spread: float = typer.Option(1e-3, "--min-spread", help="Leave out structure functions whose training spread (standard deviation) is below this (0: keep all with any spread)."),
        seed: int = typer.Option(0, "--seed", min=0, help="Seeds the draw of examples and the splits."),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars (stderr)."),
    ) -> None:
        """Train a softness model (Sec. II): p_hop, balanced examples, structure functions, linear SVM."""
        guarded(run_train, list(trajectories), out, force=force, dt=dt, temperature=temperature, type_names=type_names,
                types=types, positions=positions, p_hop_window=p_hop_window, rearranging_p_hop=rearranging_p_hop,
                event_p_hop=event_p_hop, quiet_p_hop=quiet_p_hop, slow_window=slow_window, q=q, max_examples=max_examples,
                min_examples=min_examples, test_fraction=test_fraction, cv_folds=cv_folds, c_grid=c_grid,
                sigma_max=sigma_max, min_spread=min_spread, seed=seed, progress=progress)

    @softness.command("apply")
    def apply(
        model: Path = typer.Argument(..., help="Model file (trsp softness train)."),
        trajectories: List[Path] = typer.Argument(..., help="GSD or LAMMPS-dump trajectories (any temperature)."),
        out: Path = typer.Option(..., "--out", "-o", help="Particle-data file; with several trajectories a folder or a pattern with {stem}."),
        force: bool = typer.Option(False, "--force", help="Replace existing output files."),
        dt: Optional[float] = typer.Option(None, "--dt", help=common_dt),
        temperature: Optional[float] = typer.Option(None, "--temperature", help=common_t),
        type_names: Optional[str] = typer.Option(None, "--type-names", help=common_names),
        p_hop_window: Optional[float] = typer.Option(None, "--p-hop-window", help="p_hop window t_R (default: the model's)."),
        p_hop_threshold: float = typer.Option(0.2, "--p-hop-threshold", help="p_c recorded in the files: rearranging where p_hop > p_c (the paper's 0.2)."),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars (stderr)."),
    ) -> None:
        """Apply a softness model: particle-data files (softness, p_hop, positions) that `trsp fit` reads."""
        guarded(run_apply, model, list(trajectories), out, force=force, dt=dt, temperature=temperature,
                type_names=type_names, p_hop_window=p_hop_window, p_hop_threshold=p_hop_threshold, progress=progress)

    app.add_typer(softness, name="softness")
