"""The ``trsp md`` job: melt, equilibrate, produce; frames with inherent states; checkpoint and resume.

Protocol (docs/md.md), in LJ units of the A-A pair:

1. *start*: a random lattice start (:func:`trsp_md.initial.lattice_start`);
2. *melt* at ``melt_temperature`` for ``melt_time``, then *equilibrate* at ``temperature`` for
   ``equilibration_time``; both with an Andersen thermostat: the run goes in blocks of
   ``thermostat_interval`` of velocity-Verlet (NVE) steps, every velocity redrawn from the
   Maxwell-Boltzmann distribution at the start of each block (a stochastic heat bath; the draws
   come from the run's generator, so the thermostat resumes bit for bit);
3. *produce*: velocities drawn once more, rescaled to exactly ``temperature`` with zero total
   momentum, then NVE (no thermostat, as Kob & Andersen 1995 and the paper do).  A frame is
   saved at t = k * frame_interval, k = 0, 1, ..., production_time / frame_interval, with the
   inherent state of its positions (conjugate-gradient minimisation in a separate instance).

Reproducibility: the random stream is ``Generator(PCG64(SeedSequence(seed)))`` (no seed: fresh
entropy, recorded in the trajectory and the checkpoint).  It draws the start, then the
velocities of every thermostat block, then the production velocities.  At every checkpoint the
engine is rebuilt from its exact state, so a resumed run continues bit for bit
(:mod:`trsp_md.engine`).

Output safety (the policy of ``trsp simulate``): an existing output, or its checkpoint, is
refused unless ``--resume`` or ``--force``; an output that is the parameter file is refused;
the trajectory is replaced atomically at each checkpoint (:mod:`trsp_md.trajectory`); Ctrl-C or
SIGTERM writes a checkpoint and stops (exit 130 / 143 from the CLI).
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import signal
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from trsp_ref.params import ParameterError
from trsp_runfile.atomic import unwritable_reason
from trsp_runfile.outputs import Output, check_outputs

from .checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from .engine import Engine, MdState, engine_version
from .initial import kinetic_temperature, lattice_start, maxwell_boltzmann
from .params import MdParams, load_md_params, md_params_to_dict, params_from_dict, steps
from .resources import check_resources, total_frames
from .trajectory import FORMAT, FORMAT_VERSION, TrajectoryWriter, make_frame, run_lock, side_files

__all__ = ["run_md", "MdInterrupted"]


class MdInterrupted(Exception):
    """Ctrl-C / SIGTERM: a checkpoint was written; ``signum`` says which."""

    def __init__(self, signum: int):
        self.signum = signum
        super().__init__(f"interrupted by signal {signum}: checkpoint written, continue with --resume")


def _trsp_version() -> str:
    try:
        from importlib.metadata import version

        return version("trsp")
    except Exception:  # pragma: no cover
        return "unknown"


def _check_paths(params_path: Path | None, out: Path, resume: bool, force: bool) -> None:
    """The one output policy (trsp_runfile.outputs), before any work; an existing run is continued
    (--resume) or replaced (--force)."""
    if resume and force:
        raise ParameterError("--resume", "and --force exclude each other (continue the run, or replace it)")
    if out.suffix.lower() != ".gsd":
        raise ParameterError("--out", f"must be a .gsd file (the trajectory is GSD, HOOMD schema): {out}")
    check_outputs([Output("--out", out)], inputs=[params_path], force=force or resume,
                  exists_hint="continue its run with --resume, or replace it with --force")
    ck = side_files(out)["checkpoint"]
    if resume and not ck.exists():
        raise ParameterError("--resume", f"there is no run to resume: {ck} does not exist")
    if not resume and not force and ck.exists():
        raise ParameterError("--out", f"an unfinished run's checkpoint {ck} exists: continue it with --resume, or start again with --force")


def _plan(p: MdParams) -> dict:
    pr = p.protocol
    return {
        "block_steps": steps(pr.thermostat_interval, pr.timestep, "protocol.thermostat_interval", allow_zero=False),
        "frame_steps": steps(pr.frame_interval, pr.timestep, "protocol.frame_interval", allow_zero=False),
        "melt_blocks": int(round(pr.melt_time / pr.thermostat_interval)),
        "eq_blocks": int(round(pr.equilibration_time / pr.thermostat_interval)),
        "frames": total_frames(p),
        "blocks_per_checkpoint": max(1, int(round(pr.checkpoint_every * pr.frame_interval / pr.thermostat_interval))),
    }


def _resume_params(ck: Checkpoint, given: MdParams | None, ck_path: Path) -> MdParams:
    """The run's parameters; ``given`` (a file on the command line) must match them except for a
    production_time that is not shorter than what the trajectory holds."""
    recorded = params_from_dict(ck.params)
    if given is None:
        return recorded
    a, b = md_params_to_dict(recorded), md_params_to_dict(given)
    for section in a:
        for key in a[section]:
            if (section, key) == ("protocol", "production_time"):
                continue
            if a[section][key] != b[section][key]:
                raise ParameterError(f"{section}.{key}", f"cannot resume: the run has {a[section][key]!r}, the file "
                                     f"gives {b[section][key]!r} (only protocol.production_time may change, to extend a run)")
    if ck.frames > total_frames(given):
        raise ParameterError("protocol.production_time", f"cannot shorten the run: {ck_path.name} holds {ck.frames} frames",
                             given.protocol.production_time)
    return given


def _run_md(params: str | os.PathLike | None, out: str | os.PathLike, *, seed: int | None = None, resume: bool = False,
            force: bool = False, progress: bool = True, echo=print) -> dict:
    out = Path(out)
    params_path = Path(params) if params is not None else None
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
        raise ParameterError("--seed", "must be a whole number >= 0", seed)
    _check_paths(params_path, out, resume, force)
    given = load_md_params(params_path) if params_path is not None else None
    ck_path = side_files(out)["checkpoint"]
    engine_name = engine_version()
    if resume:
        ck = load_checkpoint(ck_path)
        if seed is not None and seed != ck.seed:
            raise ParameterError("--seed", f"cannot resume: the run's seed is {ck.seed}", seed)
        p = _resume_params(ck, given, ck_path)
        if ck.engine != engine_name:
            raise ParameterError("--resume", f"the run was made with {ck.engine}, this is {engine_name}: a resumed run "
                                 "would not continue bit for bit; start a new run")
        seed_value, state, phase, blocks_done, frames_done = ck.seed, ck.state, ck.phase, ck.blocks_done, ck.frames
        rng = np.random.Generator(np.random.PCG64())
        rng.bit_generator.state = ck.rng_state
    else:
        p = given if given is not None else load_md_params(None)
        ss = np.random.SeedSequence(seed)
        seed_value = int(ss.entropy)
        rng = np.random.Generator(np.random.PCG64(ss))
        state, phase, blocks_done, frames_done = None, "melt", 0, 0
    plan = _plan(p)
    est = check_resources(p, out, frames_done)  # before anything large is allocated
    if state is None:
        if force:  # the earlier run's checkpoint and work files go; its trajectory stays until replaced
            for f in side_files(out).values():
                if f.name.endswith((".checkpoint", ".work", ".prev")):
                    f.unlink(missing_ok=True)
        state = lattice_start(p, rng)
    if echo is not None:  # the estimates, always (with or without the progress bar)
        echo(f"trsp md: N = {p.system.n_particles}, T = {p.protocol.temperature:g}, {plan['frames']} frames: "
             f"about {est.trajectory_bytes / 1e6:.3g} MB trajectory ({est.disk_bytes / 1e6:.3g} MB on disk while writing), "
             f"{est.memory_bytes / 1e6:.3g} MB memory; engine {engine_name}; seed {seed_value}")
    if frames_done >= plan["frames"] and phase == "produce":
        if echo is not None:
            echo(f"trsp md: {out} is complete ({frames_done} frames); nothing to do")
        return {"frames": frames_done, "complete": True, "seed": seed_value, "nothing": True}
    provenance = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "params": md_params_to_dict(p), "seed": str(seed_value),
        "engine": engine_name, "trsp": _trsp_version(), "model": "Kob-Andersen 80:20 (PRE 51, 4626 (1995))",
        "units": "LJ units of the A-A pair (sigma_AA, eps_AA, m, tau)", "created": _dt.datetime.now(_dt.timezone.utc).isoformat(),
    }  # fmt: skip
    job = _Job(p, plan, out, ck_path, rng, seed_value, engine_name, provenance)
    return job.drive(state, phase, blocks_done, frames_done, progress)


def run_md(params: str | os.PathLike | None, out: str | os.PathLike, **kwargs) -> dict:
    """Run the KA protocol into the GSD trajectory ``out`` (module docstring); returns a summary dict.

    ``params``: a TOML file (docs/md.md), None = the embedded default (new run) or the run's own
    (resume).  ``seed``: SeedSequence entropy (>= 0), None = fresh.  ``resume``, ``force``,
    ``progress``, ``echo`` as the CLI's options.  Raises ParameterError for every input a user can
    fix (another job on the same output included), MdInterrupted after a checkpoint on
    SIGINT/SIGTERM."""
    with run_lock(_lock_target(out)):
        return _run_md(params, out, **kwargs)


def _lock_target(out) -> Path:
    out = Path(out)
    folder = out.parent if str(out.parent) else Path(".")
    if not folder.is_dir():  # let the output checks name the problem
        raise ParameterError("--out", unwritable_reason(out) or f"the folder {folder} does not exist")
    return out


class _Job:
    def __init__(self, p, plan, out, ck_path, rng, seed, engine_name, provenance):
        self.p, self.plan, self.out, self.ck_path = p, plan, out, ck_path
        self.rng, self.seed, self.engine_name, self.provenance = rng, seed, engine_name, provenance
        self.caught: list[int] = []

    def checkpoint(self, state: MdState, phase: str, blocks: int, frames: int) -> None:
        save_checkpoint(self.ck_path, Checkpoint(state, phase, blocks, frames, md_params_to_dict(self.p), self.seed,
                                                 self.rng.bit_generator.state, self.engine_name))

    def drive(self, state: MdState, phase: str, blocks: int, frames: int, progress: bool) -> dict:
        from trsp_fast.run_job import _deferred_signals, _progress_bar

        p, plan = self.p, self.plan
        pr = p.protocol
        dt = pr.timestep
        n_blocks = plan["melt_blocks"] + plan["eq_blocks"]
        t_total = pr.melt_time + pr.equilibration_time + pr.production_time

        def elapsed() -> float:
            return blocks * pr.thermostat_interval + max(frames - 1, 0) * pr.frame_interval

        engine = Engine(state, dt)
        writer = None
        try:
            with _deferred_signals() as caught, _progress_bar(progress, t_total, elapsed(), "time", label="md") as update:
                # melt and equilibration: Andersen blocks
                while phase != "produce":
                    if blocks >= n_blocks:
                        # production velocities: exactly T, zero total momentum
                        engine.set_velocities(maxwell_boltzmann(self.rng, state.typeid.shape[0], pr.temperature, exact=True))
                        phase = "produce"
                        state = engine.state()
                        self.checkpoint(state, phase, blocks, frames)
                        engine.close()
                        engine = Engine(state, dt)
                        break
                    T = pr.melt_temperature if blocks < plan["melt_blocks"] else pr.temperature
                    engine.set_velocities(maxwell_boltzmann(self.rng, state.typeid.shape[0], T))
                    engine.run(plan["block_steps"])
                    blocks += 1
                    update(elapsed())
                    if blocks % plan["blocks_per_checkpoint"] == 0 or blocks == n_blocks or caught:
                        state = engine.state()
                        self.checkpoint(state, "melt" if blocks < plan["melt_blocks"] else "equilibrate", blocks, frames)
                        engine.close()
                        engine = Engine(state, dt)
                        if caught:
                            raise MdInterrupted(caught[0])
                # production
                writer = TrajectoryWriter(self.out, frames)
                while frames < plan["frames"]:
                    if frames > 0:
                        engine.run(plan["frame_steps"])
                    self._save_frame(engine, writer, frames)
                    frames += 1
                    update(elapsed())
                    if frames % pr.checkpoint_every == 0 or frames == plan["frames"] or caught:
                        writer.commit()
                        state = engine.state()
                        self.checkpoint(state, "produce", blocks, frames)
                        engine.close()
                        engine = Engine(state, dt)
                        if caught and frames < plan["frames"]:
                            raise MdInterrupted(caught[0])
        finally:
            engine.close()
            if writer is not None:
                writer.close()
        return {"frames": frames, "complete": True, "seed": self.seed}

    def _save_frame(self, engine: Engine, writer: TrajectoryWriter, k: int) -> None:
        p = self.p
        st = engine.state()
        pe, _ = engine.thermo()
        inherent, e_is, fnorm, iters = engine.inherent_state(st.unwrapped, p.minimize.force_tolerance, p.minimize.max_iterations)
        N = st.typeid.shape[0]
        logs = {"potential_energy": pe / N, "kinetic_temperature": kinetic_temperature(st.v),
                "inherent_energy": e_is / N, "inherent_force_norm": fnorm, "inherent_iterations": int(iters)}
        frame = make_frame(unwrapped=st.unwrapped, inherent=inherent, typeid=st.typeid, L=st.L, step=st.step,
                           time=k * p.protocol.frame_interval, temperature=p.protocol.temperature, logs=logs,
                           provenance=self.provenance if k == 0 else None)
        writer.append(frame)
