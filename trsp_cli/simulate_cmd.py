"""``trsp simulate``: run the fast simulator into a checkpointed, resumable HDF5 run file.

:func:`run_simulate` is the job behind the CLI subcommand; ``python -m trsp_cli.simulate_cmd``
runs it too (the crash tests start it that way).  The run file's schema and the writer's
crash-safety protocol are in ``docs/formats.md`` and :mod:`trsp_runfile.runfile`.

Reproducibility: the random stream is ``Generator(PCG64(SeedSequence(seed)))``; with no seed
the SeedSequence draws fresh entropy, which is recorded in ``/rng`` so the run can be
repeated.  The stream first draws the initial state (``FastModel.sample_equilibrium``),
then the events.  The trajectory does not depend on the checkpoint or snapshot settings,
nor on where a run was interrupted: ``--resume`` continues bit for bit.
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np

from trsp_ref.params import ParameterError, Params, load_params, params_from_dict, params_to_dict

__all__ = ["run_simulate", "DEFAULT_CHECKPOINT_EVERY", "main"]

#: events between checkpoints
DEFAULT_CHECKPOINT_EVERY = 100_000
#: events per Simulation.run call: how often snapshots, the progress bar and Ctrl-C are
#: looked at.  It does not change the trajectory (run(a) then run(b) == run(a + b)).
BLOCK_EVENTS = 8192
IMPLEMENTATION_NAME = "trsp_fast"


def _fast():
    """The simulator's API (imported late: Numba is slow to import)."""
    try:
        from trsp_fast import FastModel, Simulation
    except ImportError:  # the package may not re-export them
        from trsp_fast.model import FastModel
        from trsp_fast.simulation import Simulation

    return FastModel, Simulation


def _implementation():
    from trsp_runfile.runfile import Implementation

    try:
        from importlib.metadata import version

        v = version("trsp")
    except Exception:  # pragma: no cover - not installed
        v = "unknown"
    return Implementation(IMPLEMENTATION_NAME, v)


# --------------------------------------------------------------------------
# argument checks: every bad value is a ParameterError naming the option
# --------------------------------------------------------------------------


def _check_options(events, time, seed, mode, snapshot_every, checkpoint_every, tolerance) -> int:
    if events is not None and (isinstance(events, bool) or not isinstance(events, (int, np.integer)) or events < 0):
        raise ParameterError("--events", "must be a whole number >= 0", events)
    if time is not None and (not isinstance(time, (int, float)) or not math.isfinite(time) or time < 0):
        raise ParameterError("--time", "must be a finite number >= 0", time)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
        raise ParameterError("--seed", "must be a whole number >= 0", seed)
    if mode is not None and mode not in ("full", "light"):
        raise ParameterError("--mode", "must be 'full' or 'light'", mode)
    if snapshot_every is not None and (not math.isfinite(snapshot_every) or snapshot_every <= 0):
        raise ParameterError("--snapshot-every", "must be a finite time > 0", snapshot_every)
    ce = float(checkpoint_every)
    if not (math.isfinite(ce) and ce >= 1 and ce.is_integer()):
        raise ParameterError("--checkpoint-every", "must be a whole number of events >= 1", checkpoint_every)
    if tolerance is not None and (not math.isfinite(tolerance) or tolerance < 0):
        raise ParameterError("--tolerance", "must be a finite number >= 0", tolerance)
    return int(ce)


def _check_out(out: Path) -> None:
    folder = out.parent if str(out.parent) else Path(".")
    if not folder.is_dir():
        raise ParameterError("--out", f"the folder of the run file does not exist: {folder}")
    if out.is_dir():
        raise ParameterError("--out", f"is a folder, not a file: {out}")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ParameterError("--out", f"cannot write in the folder {folder}")


def _config_params(config: Path | None) -> Params:
    return params_from_dict({}) if config is None else load_params(config)


def _mismatch(out: Path, what: str, in_file, given, option: str):
    from trsp_runfile.runfile import TrspFileError

    return TrspFileError(
        out,
        f"cannot resume: {what} is {in_file!r} in the run but {given!r} was given ({option}); "
        "leave the option out to keep the run's value, or start a new run",
    )


# --------------------------------------------------------------------------
# snapshots: the state in effect at t0 + k * interval
# --------------------------------------------------------------------------


class _SnapshotTaker:
    """Cuts the snapshots at t0 + k*interval out of the event stream.

    The snapshot at t is the state after the last event with time <= t, known once an event
    later than t has been seen or the run stopped at a time limit >= t.  Times are computed as
    t0 + k*interval (not by summation) so every run and every resume agrees on them.
    """

    def __init__(self, interval: float, t0: float, k: int):
        self.interval, self.t0, self.k = interval, t0, k

    def next_time(self) -> float:
        return self.t0 + self.k * self.interval

    def take(self, S_start: np.ndarray, chunk, t_known: float | None) -> tuple[list[float], list[np.ndarray]]:
        """Snapshots inside ``chunk`` (whose events start from ``S_start``); ``t_known``: the run
        stopped at this time limit after the chunk (every t <= t_known is then known)."""
        from trsp_runfile.runfile import apply_changes

        times: list[float] = []
        states: list[np.ndarray] = []
        ev_t = chunk.times
        o = chunk.change_offsets
        S = S_start.copy()
        done = 0
        while True:
            t = self.next_time()
            if ev_t.shape[0] and t < ev_t[-1]:
                n = int(np.searchsorted(ev_t, t, side="right"))
            elif t_known is not None and t <= t_known:
                n = ev_t.shape[0]
            else:
                break
            apply_changes(S, chunk.change_sites[o[done] : o[n]], chunk.after[o[done] : o[n]])
            done = n
            times.append(t)
            states.append(S.copy())
            self.k += 1
        return times, states


def _advance(S: np.ndarray, chunk) -> None:
    from trsp_runfile.runfile import apply_changes

    o = chunk.change_offsets
    apply_changes(S, chunk.change_sites[o[0] : o[-1]], chunk.after[o[0] : o[-1]])


# --------------------------------------------------------------------------
# Ctrl-C / SIGTERM: finish the block, write a checkpoint, exit
# --------------------------------------------------------------------------


@contextmanager
def _deferred_signals() -> Iterator[list[int]]:
    """Turn SIGINT/SIGTERM into a flag checked between blocks (so a checkpoint can be written)."""
    caught: list[int] = []
    previous = {}

    def handler(signum, frame):  # noqa: ARG001
        caught.append(signum)

    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, handler)
    except ValueError:  # not the main thread: leave signals alone
        pass
    try:
        yield caught
    finally:
        for sig, h in previous.items():
            signal.signal(sig, h)


@contextmanager
def _progress_bar(enabled: bool, total: float, completed: float, what: str):
    if not enabled:
        yield lambda completed: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    columns = [TextColumn("[bold]simulate"), BarColumn(), TextColumn(what)]
    columns += [MofNCompleteColumn()] if what == "events" else [TextColumn("{task.completed:.4g}/{task.total:.4g}")]
    columns += [TimeElapsedColumn(), TimeRemainingColumn()]
    with Progress(*columns, transient=False) as bar:
        task = bar.add_task("simulate", total=total, completed=completed)
        yield lambda completed: bar.update(task, completed=completed)


# --------------------------------------------------------------------------
# the job
# --------------------------------------------------------------------------


def run_simulate(
    config: Path | None,
    out: Path,
    events: int | None = None,
    time: float | None = None,
    seed: int | None = None,
    resume: bool = False,
    mode: str | None = None,
    snapshot_every: float | None = None,
    checkpoint_every: int | float = DEFAULT_CHECKPOINT_EVERY,
    tolerance: float | None = None,
    progress: bool = True,
    force: bool = False,
) -> None:
    """Simulate with trsp_fast and write the HDF5 run file ``out`` (docs/formats.md).

    Parameters
    ----------
    config : parameter file (TOML, docs/model.md); None = the built-in example (new runs) or
        the run's own parameters (``resume``; when given it must match them).
    out : the run file.  An existing file is refused unless ``resume`` or ``force``.
    events, time : stop after this many events in total / at this simulated time (both:
        whichever comes first).  A new run needs one; on ``resume`` they default to the run's.
    seed : SeedSequence entropy; None = fresh entropy (recorded in ``/rng``).
    resume : continue ``out`` from its last checkpoint (a missing ``out`` starts a new run).
        Resuming reproduces the uninterrupted run bit for bit.
    mode : "full" (every site change, replayable) or "light" (times and clusters only);
        None = "full" for a new run, the run's mode on resume.
    snapshot_every : simulated time between snapshots of S (from t0 = 0); None = none, or the
        run's on resume.
    checkpoint_every : events between checkpoints (at most this much work is lost to a crash).
    tolerance : truncation tolerance of the local kicks (docs/fast.md); 0 = exact model; None =
        trsp_fast.DEFAULT_TOLERANCE for a new run, the run's on resume.
    progress : show a progress bar and a summary line.
    force : replace an existing ``out`` by a new run (atomically, once the new one exists).

    Raises ParameterError (bad option or parameter) or TrspFileError (unusable or mismatching
    run file).  Ctrl-C or SIGTERM writes a checkpoint and exits with status 130 / 143.
    """
    from trsp_runfile.runfile import RunFile, RunWriter, SeedRecord, Truncation, TrspFileError

    out = Path(out)
    ce = _check_options(events, time, seed, mode, snapshot_every, checkpoint_every, tolerance)
    _check_out(out)
    FastModel, Simulation = _fast()

    existing = resume and out.exists()
    if existing:
        run = RunFile.open(out)
        if run.implementation.name != IMPLEMENTATION_NAME:
            raise TrspFileError(out, f"cannot resume: written by {run.implementation.name!r}, not {IMPLEMENTATION_NAME!r}")
        if run.checkpoint.rng_state is None:
            raise TrspFileError(out, "cannot resume: the checkpoint holds no RNG state", "/checkpoint/@rng_state")
        params = run.params
        if config is not None:
            given = load_params(config)
            if given != params:
                from trsp_runfile.runfile import first_difference

                diff = first_difference(params_to_dict(params), params_to_dict(given))
                raise TrspFileError(
                    out, f"cannot resume: the parameter file {config} differs from the run's parameters: {diff} "
                    "(run vs file)", "/params"
                )
        if seed is not None and (run.seed is None or run.seed.entropy != seed):
            raise _mismatch(out, "the seed", None if run.seed is None else run.seed.entropy, seed, "--seed")
        if mode is not None and mode != run.mode:
            raise _mismatch(out, "the mode", run.mode, mode, "--mode")
        if tolerance is not None and tolerance != run.truncation.tolerance:
            raise _mismatch(out, "the tolerance", run.truncation.tolerance, tolerance, "--tolerance")
        interval = run.snapshots.interval
        if snapshot_every is not None and snapshot_every != interval:
            raise _mismatch(out, "the snapshot interval", interval, snapshot_every, "--snapshot-every")
        mode, t0 = run.mode, run.t0
        target_events = events if events is not None else run.checkpoint.target_events
        target_time = time if time is not None else run.checkpoint.target_time
        if target_events is None and target_time is None:
            raise ParameterError("--events/--time", "the run records no target: give --events N or --time T")
        if run.implementation.version != _implementation().version:
            print(
                f"trsp: warning: {out} was written by {run.implementation.name} {run.implementation.version}, "
                f"this is {_implementation().version}; bit-exact continuation is only promised within one version",
                file=sys.stderr,
            )
        # Rebuild the very truncation the run used (radii given explicitly, not re-derived).
        tr = run.truncation
        model = FastModel(
            params, tolerance=tr.tolerance, kick_radius=tr.kick_radius, precision_radius=tr.precision_radius,
            precision_scheme=tr.scheme,
        )
        if (model.kick_radius, model.precision_radius) != (tr.kick_radius, tr.precision_radius):
            raise TrspFileError(out, "cannot resume: this trsp_fast builds a different truncation", "/truncation")
        try:
            sim = Simulation.from_state(model, run.checkpoint.simulation_state())
        except (ValueError, KeyError, TypeError) as exc:
            raise TrspFileError(out, f"cannot resume: unusable checkpoint state ({exc})", "/checkpoint") from None
        observed = run.checkpoint.observed_until
        already = run.checkpoint.status == "finished" and (
            target_events == run.checkpoint.target_events and target_time == run.checkpoint.target_time
        )
        if already:
            if progress:
                print(f"{out}: already finished ({run.n_events} events, t = {run.checkpoint.time:.6g})", file=sys.stderr)
            return
        writer = RunWriter.reopen(run)
    else:
        if out.exists() and not force:
            raise TrspFileError(out, "already exists (continue it with --resume, or replace it with --force)")
        if events is None and time is None:
            raise ParameterError("--events/--time", "give a stopping condition: --events N and/or --time T")
        params = _config_params(config)
        mode = mode or "full"
        interval = snapshot_every
        target_events, target_time, t0 = events, time, 0.0
        from trsp_fast import DEFAULT_TOLERANCE

        tol = DEFAULT_TOLERANCE if tolerance is None else float(tolerance)
        model = FastModel(params, tolerance=tol)
        seq = np.random.SeedSequence(seed)
        rng = np.random.Generator(np.random.PCG64(seq))
        S0 = model.sample_equilibrium(rng)
        sim = Simulation(model, S0, rng, t0=t0)
        observed = t0
        writer = RunWriter.create(
            out,
            params=params,
            truncation=Truncation(float(model.kick_radius), float(model.precision_radius), tol, model.precision_scheme),
            S0=S0,
            t0=t0,
            mode=mode,
            snapshot_interval=interval,
            implementation=_implementation(),
            seed=SeedRecord("PCG64", int(seq.entropy), tuple(int(k) for k in seq.spawn_key)),
            rng_state=sim.rng.bit_generator.state,
            target_events=target_events,
            target_time=target_time,
            overwrite=force,
        )

    with writer:
        try:
            _drive(sim, writer, mode, interval, t0, observed, target_events, target_time, ce, progress, out)
        except OSError as exc:  # e.g. the disk is full: the run file keeps its last checkpoint
            raise TrspFileError(
                out, f"cannot write ({exc.strerror or exc}); the file holds the run up to its last "
                "checkpoint: free space and continue with --resume"
            ) from None


def _drive(sim, writer, mode, interval, t0, observed, target_events, target_time, ce, progress, out) -> None:
    """The event loop: blocks of events, snapshots cut out, a checkpoint every ``ce`` events.

    ``observed``: the time up to which the trajectory is already complete (the checkpoint's
    observed_until); a stop at the time limit extends it to the limit."""
    snaps = _SnapshotTaker(interval, t0, writer.n_snapshots) if interval is not None else None
    record = mode == "full" or snaps is not None
    observed = [observed]

    def commit(status: str) -> None:
        st = sim.get_state()
        observed[0] = max(observed[0], st["time"])
        writer.commit(
            st["S"], st["time"], st["n_events"], st["time_compensation"], st["rng_state"],
            status=status, target_events=target_events, target_time=target_time, observed_until=observed[0],
        )

    if target_events is not None:
        total, what, done = float(target_events), "events", lambda: float(sim.n_events)
    else:
        total, what, done = float(target_time - t0), "time", lambda: float(sim.time - t0)
    with _deferred_signals() as caught, _progress_bar(progress, total, min(done(), total), what) as update:
        while True:
            left = None if target_events is None else target_events - sim.n_events
            if left is not None and left <= 0:
                break
            next_cp = (sim.n_events // ce + 1) * ce
            n_block = min(BLOCK_EVENTS, next_cp - sim.n_events, left if left is not None else BLOCK_EVENTS)
            S_start = sim.S.copy() if snaps is not None else None
            n_got = 0
            for chunk in sim.run(n_events=n_block, t_max=target_time, record=record, chunk=n_block):
                n = chunk.times.shape[0]
                n_got += n
                if mode == "full":
                    writer.append_events(
                        chunk.times, chunk.clusters, chunk.change_offsets, chunk.change_sites, chunk.before, chunk.after
                    )
                else:
                    writer.append_events(chunk.times, chunk.clusters)
                if snaps is not None:
                    # Only after the last chunk can the time limit vouch for later times.
                    t_snap, S_snap = snaps.take(S_start, chunk, None)
                    if t_snap:
                        writer.append_snapshots(np.array(t_snap), np.array(S_snap))
                    _advance(S_start, chunk)
            if S_start is not None and not np.array_equal(S_start, sim.S):
                # The recorded changes must rebuild the state, or the snapshots would be wrong.
                raise RuntimeError("trsp_fast's recorded site changes do not reproduce its state (a bug)")
            stopped_by_time = target_time is not None and n_got < n_block
            if stopped_by_time:
                observed[0] = max(observed[0], target_time)
            if stopped_by_time and snaps is not None:
                empty = _EmptyChunk()
                t_snap, S_snap = snaps.take(S_start, empty, target_time)
                if t_snap:
                    writer.append_snapshots(np.array(t_snap), np.array(S_snap))
            update(min(done(), total))
            if stopped_by_time:
                break
            if caught:
                commit("interrupted")
                signum = caught[0]
                print(
                    f"trsp: interrupted ({signal.Signals(signum).name}); checkpoint written at {sim.n_events} events; "
                    f"continue with --resume",
                    file=sys.stderr,
                )
                raise SystemExit(128 + signum)
            if sim.n_events >= next_cp:
                commit("running")
        commit("finished")
        update(total)
    if progress:
        print(
            f"{out}: {sim.n_events} events, t = {sim.time:.6g}; checkpoints took {writer.commit_seconds:.3g} s "
            f"({writer.n_commits} commits)",
            file=sys.stderr,
        )


class _EmptyChunk:
    """No events: lets the snapshot taker fill in snapshots up to a time limit."""

    times = np.zeros(0)
    change_offsets = np.zeros(1, np.int64)
    change_sites = np.zeros(0, np.int64)
    after = np.zeros(0)


# --------------------------------------------------------------------------
# python -m trsp_cli.simulate_cmd
# --------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """``python -m trsp_cli.simulate_cmd``: the same job as ``trsp simulate`` (same options)."""
    from trsp_runfile.runfile import TrspFileError

    ap = argparse.ArgumentParser(prog="python -m trsp_cli.simulate_cmd", description=run_simulate.__doc__.split("\n")[0])
    ap.add_argument("config", nargs="?", type=Path, default=None)
    ap.add_argument("--out", "-o", type=Path, required=True)
    ap.add_argument("--events", "-n", type=int)
    ap.add_argument("--time", "-t", type=float)
    ap.add_argument("--seed", "-s", type=int)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--force", action="store_true")
    ap.add_argument("--mode", choices=("full", "light"))
    ap.add_argument("--snapshot-every", type=float)
    ap.add_argument("--checkpoint-every", type=int, default=DEFAULT_CHECKPOINT_EVERY)
    ap.add_argument("--tolerance", type=float)
    ap.add_argument("--no-progress", dest="progress", action="store_false")
    a = ap.parse_args(argv)
    try:
        run_simulate(
            a.config, a.out, events=a.events, time=a.time, seed=a.seed, resume=a.resume, mode=a.mode,
            snapshot_every=a.snapshot_every, checkpoint_every=a.checkpoint_every, tolerance=a.tolerance,
            progress=a.progress, force=a.force,
        )
    except (ParameterError, TrspFileError) as exc:
        print(f"trsp: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
