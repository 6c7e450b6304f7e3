"""Sweeps: temperatures x replicas x variants (and aging quenches) on Dask, resumable, into one HDF5 file.

A sweep is described by a TOML file (docs/reproduction.md, "Sweep files"); every
(kind, variant, temperature, replica) is a *member*.  :func:`run_sweep` is the job:

=============  ================================================================
``config``     the sweep file, validated into a :class:`SweepConfig`
``members``    typed member specs and results; :func:`run_member` runs one on a worker
``store``      :class:`MemberStore` (``OUT.members/``): finished members, saved atomically
``execute``    Dask execution (a LocalCluster or an existing scheduler)
``assemble``   the combined observables, written atomically as the sweep file (docs/sweep-format.md)
=============  ================================================================

A crash loses at most the members that were running; ``resume=True`` skips the members
already stored (after checking that the sweep file is the same).
"""

from __future__ import annotations

import time as _time
from pathlib import Path

from trsp_ref.params import ParameterError
from trsp_runfile.outputs import Output, check_outputs

from .assemble import FORMAT_VERSION, assemble
from .config import TRAP_NAME, AgingConfig, SweepConfig, Variant, load_sweep_config, sweep_config_from_dict, tomllib, variant_error
from .execute import execute
from .members import (
    KIND_AGING,
    KIND_EQUILIBRIUM,
    KIND_TRAP,
    EquilibriumResult,
    EquilibriumSpec,
    MemberSpec,
    QuenchResult,
    QuenchSpec,
    member_id,
    member_rng,
    member_specs,
    run_member,
)
from .store import FORMAT, MemberStore

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "TRAP_NAME",
    "KIND_EQUILIBRIUM",
    "KIND_AGING",
    "KIND_TRAP",
    "member_id",
    "SweepConfig",
    "Variant",
    "AgingConfig",
    "SweepError",
    "load_sweep_config",
    "sweep_config_from_dict",
    "MemberSpec",
    "EquilibriumSpec",
    "QuenchSpec",
    "EquilibriumResult",
    "QuenchResult",
    "member_specs",
    "member_rng",
    "run_member",
    "MemberStore",
    "execute",
    "run_sweep",
    "assemble",
]


class SweepError(RuntimeError):
    """Some members of a sweep failed (the sweep file was written without them)."""


def check_models(cfg: SweepConfig) -> None:
    """Build each (variant, temperature) model once on the client: lattice-level ParameterErrors
    (K not positive definite, kick eigenvalues, rate overflow, a lattice too large for memory)
    surface before any work, naming the variant and the temperature."""
    from trsp_fast import FastModel
    from trsp_fast.run_job import check_fits_in_memory

    temps = set(cfg.temperatures) | (set(cfg.aging.T_final) if cfg.aging else set())
    for v in range(len(cfg.variants)):
        for T in sorted(temps):
            p = cfg.variant_params(v, T)
            try:
                check_fits_in_memory(p)
                FastModel(p, tolerance=cfg.tolerance)
            except ParameterError as err:
                raise variant_error(cfg, v, T, err) from None


def check_output(out: Path, resume: bool, config: str | Path | None = None) -> None:
    """Refuse, before any work, an output the sweep could not write or would overwrite (the one
    output policy, trsp_runfile.outputs; an existing sweep file is finished with --resume)."""
    check_outputs([Output("--out", out)], inputs=[config], force=resume,
                  exists_hint="pass --resume to finish/rebuild it, or choose another name")


def run_sweep(
    config: str | Path,
    out: str | Path,
    *,
    scheduler: str | None = None,
    resume: bool = False,
    progress: bool = True,
    n_workers: int = 2,
    client=None,
) -> dict:
    """Run (or resume) a sweep and write ``out``; return a summary dict.

    scheduler : address of a running Dask scheduler (e.g. from dask-jobqueue); default a
        LocalCluster of ``n_workers`` single-threaded worker processes.
    client : an existing ``dask.distributed.Client`` (tests); overrides ``scheduler``.
    Raises ParameterError for bad input, SweepError (after writing the members that finished)
    if members failed.
    """
    out = Path(out)
    check_output(out, resume, config)
    cfg = load_sweep_config(config)
    store = MemberStore(out.with_name(out.name + ".members"))
    store.open(cfg, resume)
    check_models(cfg)
    specs = member_specs(cfg)
    done = store.done()
    todo = [s for s in specs if s.id not in done]
    failures: list[tuple[str, str]] = []
    t_start = _time.perf_counter()
    if todo:
        failures = execute(todo, store, scheduler=scheduler, progress=progress, n_workers=n_workers, client=client)
    wall = _time.perf_counter() - t_start
    summary = assemble(cfg, store, out)
    summary.update(run_wall_s=wall, ran=len(todo) - len(failures), skipped=len(specs) - len(todo), failed=failures)
    if failures:
        raise SweepError(
            f"{len(failures)} of {len(specs)} members failed (first: {failures[0][0]}: {failures[0][1]}); "
            f"{out} was written without them; fix the cause and rerun with --resume"
        )
    return summary
