"""The simulate-to-file job: run trsp_fast into a checkpointed, resumable HDF5 run file.

:func:`simulate_to_file` is the library function behind ``trsp simulate`` (the CLI only
maps its options onto it), and what tests and scripts call to make run files.  The run
file's schema and the writer's crash-safety protocol are in ``docs/formats.md`` and
:mod:`trsp_runfile.runfile`.

Reproducibility: the random stream is ``Generator(PCG64(SeedSequence(seed)))``; with no seed
the SeedSequence draws fresh entropy, which is recorded in ``/rng`` so the run can be
repeated.  The stream first draws the initial state (``FastModel.sample_equilibrium``),
then the events.  The trajectory does not depend on the checkpoint or snapshot settings,
nor on where a run was interrupted: ``resume`` continues bit for bit.

Resume protocol: ``resume`` needs an existing run file written by trsp_fast; every option
given must agree with the run's (parameters, seed, mode, tolerances, snapshot interval).  An
unfinished run keeps its target (``events`` / ``time``, when given, must equal it); a
finished run can be extended to a later target, never shortened.

Before allocating anything large the job estimates what the run needs and refuses, naming
the responsible item, a lattice whose state does not fit in memory and a run whose events
and snapshots do not fit on the output's disk.  Snapshots are handed to the writer in
batches of bounded size, so a short snapshot interval never piles up in memory.
"""

from __future__ import annotations

import gc
import math
import os
import re
import shutil
import signal
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np

from trsp_ref.params import ParameterError, Params, load_params, params_from_dict, params_to_dict
from trsp_runfile.outputs import Output, check_outputs
from trsp_runfile.resources import check_memory, gb

__all__ = [
    "simulate_to_file",
    "DEFAULT_CHECKPOINT_EVERY",
    "MODES",
    "BYTES_PER_SITE",
    "estimated_memory_bytes",
    "check_fits_in_memory",
]

#: events between checkpoints (at most this much work is lost to a crash)
DEFAULT_CHECKPOINT_EVERY = 100_000
#: run-file modes: every site change (replayable) or times and clusters only
MODES = ("full", "light")
#: events per Simulation.run call: how often snapshots, the progress bar and Ctrl-C are
#: looked at.  It does not change the trajectory (run(a) then run(b) == run(a + b)).
BLOCK_EVENTS = 8192
#: snapshots held in memory before they are handed to the writer (bytes)
SNAPSHOT_BATCH_BYTES = 32 * 2**20
IMPLEMENTATION_NAME = "trsp_fast"

#: A lower bound on the memory a simulation needs per lattice site, in bytes: the state S
#: and its copies (initial, snapshot cursor, checkpoint: 4 x 8), the complex FFT buffers of
#: the equilibrium draw (3 x 16) and the rate tree (2 nodes x 8 per cluster, per orientation,
#: added in :func:`estimated_memory_bytes`).  A bound from below: the job refuses only runs
#: that certainly cannot fit.
BYTES_PER_SITE = 4 * 8 + 3 * 16
#: bytes per recorded event (time, cluster, change offset) and per site change (site, before, after)
_BYTES_PER_EVENT = 3 * 8
_BYTES_PER_CHANGE = 3 * 8


def _fast():
    """The simulator's classes (imported late: Numba is slow to import)."""
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


def _whole(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, np.integer))


def _finite(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float, np.floating, np.integer)) and math.isfinite(value)


def _check_options(events, time, seed, mode, snapshot_every, checkpoint_every, tolerances) -> int:
    if events is not None and (not _whole(events) or events < 1):
        raise ParameterError("--events", "must be a whole number >= 1", events)
    if time is not None and (not _finite(time) or time < 0):
        raise ParameterError("--time", "must be a finite number >= 0 (not NaN or infinite)", time)
    if seed is not None and (not _whole(seed) or seed < 0):
        raise ParameterError("--seed", "must be a whole number >= 0", seed)
    if mode is not None and mode not in MODES:
        raise ParameterError("--mode", f"must be one of {list(MODES)}", mode)
    if snapshot_every is not None and (not _finite(snapshot_every) or snapshot_every <= 0):
        raise ParameterError("--snapshot-every", "must be a finite time > 0", snapshot_every)
    if checkpoint_every is None:
        checkpoint_every = DEFAULT_CHECKPOINT_EVERY
    ce = float(checkpoint_every) if _finite(checkpoint_every) else math.nan
    if not (math.isfinite(ce) and ce >= 1 and ce.is_integer()):
        raise ParameterError("--checkpoint-every", "must be a whole number of events >= 1", checkpoint_every)
    for option, tol in zip(_TOLERANCE_OPTIONS, tolerances):
        if tol is not None and (not _finite(tol) or tol < 0):
            raise ParameterError(option, "must be a finite number >= 0", tol)
    return int(ce)


#: the options of (tolerance, kick_tolerance, precision_tolerance)
_TOLERANCE_OPTIONS = ("--tolerance", "--kick-tolerance", "--precision-tolerance")


def _split_tolerance(tolerance, kick_tolerance, precision_tolerance) -> tuple:
    """(tolerance, kick, precision) with a (kick, precision) pair given as ``tolerance`` moved to its
    parts, so that a library caller holding a FastModel-style pair needs no special case."""
    if not isinstance(tolerance, (tuple, list)):
        return tolerance, kick_tolerance, precision_tolerance
    if len(tolerance) != 2:
        raise ParameterError("--tolerance", "must be a number or a (kick, precision) pair", tolerance)
    if kick_tolerance is not None or precision_tolerance is not None:
        raise ParameterError("--tolerance", "a (kick, precision) pair cannot be combined with --kick-tolerance / --precision-tolerance", tolerance)
    return None, *tolerance


def _requested(tolerance, kick_tolerance, precision_tolerance) -> tuple:
    """((kick, option), (precision, option)): the tolerance asked for each part and the option that
    asked (the specific option over ``--tolerance``), or (None, None) where none was given."""
    kick = (float(kick_tolerance), "--kick-tolerance") if kick_tolerance is not None else (
        (float(tolerance), "--tolerance") if tolerance is not None else (None, None))
    precision = (float(precision_tolerance), "--precision-tolerance") if precision_tolerance is not None else (
        (float(tolerance), "--tolerance") if tolerance is not None else (None, None))
    return kick, precision


def _mismatch(out: Path, what: str, in_file, given, option: str):
    from trsp_runfile.runfile import TrspFileError

    return TrspFileError(
        out,
        f"cannot resume: {what} is {in_file!r} in the run but {given!r} was given ({option}); "
        "leave the option out to keep the run's value, or start a new run",
    )


# --------------------------------------------------------------------------
# resource estimates: refuse before allocating
# --------------------------------------------------------------------------


def estimated_memory_bytes(params: Params) -> int:
    """A lower bound on the memory a trsp_fast simulation of ``params`` needs (bytes)."""
    from trsp_runfile.runfile import n_orientations

    return params.N * (BYTES_PER_SITE + 2 * 8 * n_orientations(params))


def check_fits_in_memory(params: Params, available: int | None = None) -> None:
    """ParameterError('lattice.L') when the lattice certainly does not fit in memory."""
    check_memory(estimated_memory_bytes(params), "lattice.L",
                 f"a {params.lattice.dim}D lattice of L = {params.lattice.L} ({params.N:,} sites)", "choose a smaller L", available)


def _check_fits_on_disk(out: Path, model, S: np.ndarray, mode: str, interval, left_events, left_time, first_snapshot) -> None:
    """Refuse a run whose events and snapshots certainly do not fit on the output's disk.

    The run length in time comes from ``left_time`` or, for an event target, from the
    current total rate (the run starts in equilibrium, so the rate stays about the same)."""
    rate = float(np.sum(model.cluster_rates(S)))
    durations = []
    if left_time is not None:
        durations.append(max(left_time, 0.0))
    if left_events is not None and rate > 0:
        durations.append(left_events / rate)
    duration = min(durations) if durations else 0.0
    n_events = left_events if left_events is not None else duration * rate
    event_bytes = n_events * (_BYTES_PER_EVENT + (model.params.m * _BYTES_PER_CHANGE if mode == "full" else 0))
    n_snaps = 0.0
    if interval is not None:
        n_snaps = max(0.0, math.floor(max(0.0, duration - first_snapshot) / interval) + 1)
    snap_bytes = n_snaps * (S.shape[0] + 1) * 8
    folder = out.parent if str(out.parent) else Path(".")
    try:
        free = shutil.disk_usage(folder).free
    except OSError:  # pragma: no cover
        return
    # the writer keeps a work copy beside the run file: twice the data must fit
    if 2 * (event_bytes + snap_bytes) > free:
        if snap_bytes >= event_bytes:
            raise ParameterError(
                "--snapshot-every",
                f"about {n_snaps:.3g} snapshots of {S.shape[0]:,} sites ({gb(snap_bytes)}, twice that while writing) "
                f"do not fit in the {gb(free)} free in {folder}; choose a longer interval",
                interval,
            )
        raise ParameterError(
            "--events/--time",
            f"about {n_events:.3g} events ({gb(event_bytes)}, twice that while writing) do not fit in the "
            f"{gb(free)} free in {folder}; run shorter, or use --mode light",
        )


#: room kept free beyond the estimate of the next block: HDF5 allocates whole chunks
#: (128 KiB per dataset) and writes metadata at each checkpoint
_ROOM_MARGIN = 4 * 2**20


class _NoRoom(OSError):
    """The next block would not fit: stopped before writing it (so libhdf5 never meets a full disk)."""


def _room(out: Path) -> float:
    """Bytes the run's work file can still grow by: free disk space, and the file-size limit
    (``ulimit -f``) less the size of the file being written."""
    from trsp_runfile.runfile import side_files

    folder = out.parent if str(out.parent) else Path(".")
    try:
        room = float(shutil.disk_usage(folder).free)
    except OSError:  # pragma: no cover
        return math.inf
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    except (ImportError, OSError, ValueError):  # pragma: no cover - not POSIX
        return room
    if soft != resource.RLIM_INFINITY:
        work = side_files(out)["work"]
        biggest = max((p.stat().st_size for p in (work, out) if p.exists()), default=0)
        room = min(room, float(soft - biggest))
    return room


def _room_check(out: Path, model, mode: str, interval, S: np.ndarray):
    """A function ``check(n_events, t_left)`` raising :class:`_NoRoom` when the next ``n_events``
    events (with their site changes, the snapshots they span, at most ``t_left`` of simulated
    time, and a checkpoint) may not fit."""
    N = S.shape[0]
    per_event = _BYTES_PER_EVENT + (getattr(model, "window_size", N) * _BYTES_PER_CHANGE if mode == "full" else 0)
    rate = float(np.sum(model.cluster_rates(S)))
    checkpoint = N * 8 + 2**16

    def check(n_events: int, t_left: float = math.inf) -> None:
        n_snaps = 0.0
        if interval is not None:
            span = min(n_events / rate if rate > 0 else math.inf, t_left)
            n_snaps = (span / interval + 1.0) if math.isfinite(span) else 0.0
        need = n_events * per_event + n_snaps * (N + 1) * 8 + N * 8 + checkpoint + _ROOM_MARGIN
        room = _room(out)
        if need > room:
            raise _NoRoom(28, f"about {need / 1e6:.3g} MB needed for the next events, {max(room, 0) / 1e6:.3g} MB left")

    return check


# --------------------------------------------------------------------------
# snapshots: the state in effect at t0 + k * interval
# --------------------------------------------------------------------------


class _EmptyChunk:
    """No events: lets the snapshot taker fill in snapshots up to a time limit."""

    times = np.zeros(0)
    change_offsets = np.zeros(1, np.int64)
    change_sites = np.zeros(0, np.int64)
    after = np.zeros(0)


class SnapshotTaker:
    """Cuts the snapshots at t0 + k*interval out of the event stream.

    The snapshot at t is the state after the last event with time <= t, known once an event
    later than t has been seen or the run stopped at a time limit >= t.  Times are computed as
    t0 + k*interval (not by summation) so every run and every resume agrees on them.
    Snapshots go to ``emit(times, states)`` in batches of at most ``batch`` states.
    """

    def __init__(self, interval: float, t0: float, k: int, N: int, emit):
        self.interval, self.t0, self.k = interval, t0, k
        self.emit = emit
        self.batch = max(1, SNAPSHOT_BATCH_BYTES // (8 * max(N, 1)))

    def next_time(self) -> float:
        return self.t0 + self.k * self.interval

    def take(self, S_start: np.ndarray, chunk, t_known: float | None) -> None:
        """Emit the snapshots inside ``chunk`` (whose events start from ``S_start``); ``t_known``:
        the run stopped at this time limit after the chunk (every t <= t_known is then known)."""
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
            if len(times) >= self.batch:
                self.emit(np.array(times), np.array(states))
                times, states = [], []
        if times:
            self.emit(np.array(times), np.array(states))


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
def _progress_bar(enabled: bool, total: float, completed: float, what: str, label: str = "simulate"):
    if not enabled:
        yield lambda completed: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    columns = [TextColumn(f"[bold]{label}"), BarColumn(), TextColumn(what)]
    columns += [MofNCompleteColumn()] if what == "events" else [TextColumn("{task.completed:.4g}/{task.total:.4g}")]
    columns += [TimeElapsedColumn(), TimeRemainingColumn()]
    with Progress(*columns, transient=False) as bar:
        task = bar.add_task(label, total=total, completed=completed)
        yield lambda completed: bar.update(task, completed=completed)


# --------------------------------------------------------------------------
# the job
# --------------------------------------------------------------------------


def simulate_to_file(
    config: str | os.PathLike | None,
    out: str | os.PathLike,
    events: int | None = None,
    time: float | None = None,
    seed: int | None = None,
    resume: bool = False,
    mode: str | None = None,
    snapshot_every: float | None = None,
    checkpoint_every: int | None = None,
    tolerance: float | tuple | None = None,
    progress: bool = True,
    force: bool = False,
    kick_tolerance: float | None = None,
    precision_tolerance: float | None = None,
) -> None:
    """Simulate with trsp_fast and write the HDF5 run file ``out`` (docs/formats.md).

    Parameters
    ----------
    config : parameter file (TOML, docs/model.md); None = the built-in example (new runs) or
        the run's own parameters (``resume``; when given it must match them).
    out : the run file.  An existing file is refused unless ``resume`` or ``force``.
    events, time : stop after this many events in total / at this simulated time (both:
        whichever comes first).  A new run needs one.  On ``resume`` they default to the
        run's; an unfinished run keeps its target, a finished one may be extended.
    seed : SeedSequence entropy; None = fresh entropy (recorded in ``/rng``).
    resume : continue the existing run file ``out`` from its last checkpoint, bit-exactly.
    mode : "full" (every site change, replayable) or "light" (times and clusters only);
        None = "full" for a new run, the run's mode on resume.
    snapshot_every : simulated time between snapshots of S (from t0 = 0); None = none, or the
        run's on resume.
    checkpoint_every : events between checkpoints (at most this much work is lost to a crash);
        None = :data:`DEFAULT_CHECKPOINT_EVERY`.
    tolerance : truncation tolerance of both the kick window and the precision (docs/fast.md), or a
        (kick, precision) pair as trsp_fast.FastModel takes it (a None part: as if not given); 0 =
        exact model; None = :data:`trsp_fast.model.DEFAULT_TOLERANCE` for a new run, the run's on resume.
    kick_tolerance, precision_tolerance : the tolerance of one part (overrides ``tolerance`` for it);
        None = ``tolerance``'s, else the default's part (new run) or the run's (resume).
    progress : show a progress bar and a summary line (stderr).
    force : replace an existing ``out`` by a new run (atomically, once the new one exists).

    Raises ParameterError (bad option or parameter, a run that cannot fit in memory or on
    disk) or TrspFileError (unusable or mismatching run file, a write that failed: the file
    then keeps its last checkpoint).  Ctrl-C or SIGTERM writes a checkpoint and exits with
    status 130 / 143.
    """
    from trsp_runfile.runfile import TrspFileError

    out = Path(out)
    tolerances = _split_tolerance(tolerance, kick_tolerance, precision_tolerance)
    ce = _check_options(events, time, seed, mode, snapshot_every, checkpoint_every, tolerances)
    tolerance = _requested(*tolerances)
    # the one output policy (trsp_runfile.outputs); an existing run is continued (--resume) or replaced (--force)
    check_outputs([Output("--out", out)], inputs=[config], force=force or resume,
                  exists_hint="continue it with --resume, or replace it with --force")
    if resume and not out.exists():
        raise TrspFileError(out, "does not exist: there is no run to resume (check the path, or start a new run without --resume)")
    failure, unclosable = None, False
    previous_hooks = sys.unraisablehook, sys.excepthook
    sys.unraisablehook, sys.excepthook = _quiet_hdf5_dealloc(*previous_hooks)
    try:
        if resume:
            job = _resume_job(config, out, events, time, seed, mode, snapshot_every, tolerance, progress)
        else:
            job = _new_job(config, out, events, time, seed, mode, snapshot_every, tolerance, force)
        if job is None:
            return
        with job["writer"] as writer:
            try:
                _drive(job["sim"], writer, job["mode"], job["interval"], job["t0"], job["observed"],
                       job["target_events"], job["target_time"], ce, progress, out, job["room"])  # fmt: skip
            except (OSError, RuntimeError) as exc:
                if not _is_write_failure(exc):
                    raise
                failure, unclosable = _write_failure(exc), not isinstance(exc, _NoRoom)
                job.clear()
                gc.collect()  # release every HDF5 object of the failed work file before the writer closes it
    except (OSError, RuntimeError) as exc:  # e.g. the disk filled while the run file was being created
        if not _is_write_failure(exc):
            raise
        failure, unclosable = _write_failure(exc), not isinstance(exc, _NoRoom)
    finally:
        if failure is None or not unclosable:
            sys.unraisablehook, sys.excepthook = previous_hooks
    if failure is not None:
        gc.collect()
        err = TrspFileError(
            out, f"cannot write ({failure}); the file holds the run up to its last checkpoint "
            "(if it exists): free space and continue with --resume (or start again)"
        )
        # libhdf5 keeps the failed work file open with unwritable metadata and crashes when it
        # flushes it at interpreter exit; a command-line caller should end with os._exit
        # (trsp_cli does).  The run file itself is complete at its last checkpoint.
        err.hdf5_left_unclosable = unclosable
        raise err


def _quiet_hdf5_dealloc(unraisable_hook, except_hook):
    """Hooks that drop h5py's reports of objects it cannot release after a failed write
    ("Exception ignored in ObjectID.__dealloc__" with a traceback, printed through both
    hooks): the job's one-line error says it all.  Everything else goes to the previous hooks."""

    def from_h5py_dealloc(tb) -> bool:
        while tb is not None:
            if "h5py" in tb.tb_frame.f_code.co_filename and "dealloc" in tb.tb_frame.f_code.co_name:
                return True
            tb = tb.tb_next
        return False

    def unraisable(u):
        if not ("h5py" in repr(getattr(u, "object", "")) or from_h5py_dealloc(u.exc_traceback)):
            unraisable_hook(u)

    def excepthook(kind, value, tb):
        if not from_h5py_dealloc(tb):
            except_hook(kind, value, tb)

    return unraisable, excepthook


def _is_write_failure(exc: BaseException) -> bool:
    """An OSError, or h5py's RuntimeError for a failed flush (it carries the C errno in its text)."""
    return isinstance(exc, OSError) or (isinstance(exc, RuntimeError) and re.search(r"errno = \d+", str(exc)) is not None)


def _write_failure(exc: BaseException) -> str:
    """The reason of a failed write, in one line (libhdf5's own text spans several lines).

    The exception's traceback is dropped: its frames hold HDF5 objects of the failed file,
    which libhdf5 cannot release safely later (it crashed at interpreter exit)."""
    if isinstance(exc, _NoRoom):
        return f"no room left on the disk or under the file-size limit: {exc.strerror}"
    errno = getattr(exc, "errno", None)
    if not errno:  # h5py: the C errno is only in the text ("... errno = 28, ...")
        found = re.search(r"errno = (\d+)", str(exc))
        errno = int(found.group(1)) if found else None
    reason = os.strerror(errno) if errno else (str(exc).splitlines() or ["I/O error"])[0]
    exc.__traceback__ = None
    return reason


def _new_job(config, out, events, time, seed, mode, snapshot_every, requested, force) -> dict:
    from trsp_runfile.runfile import RunWriter, SeedRecord, Truncation

    if events is None and time is None:
        raise ParameterError("--events/--time", "give a stopping condition: --events N and/or --time T")
    params = params_from_dict({}) if config is None else load_params(config)
    check_fits_in_memory(params)
    FastModel, Simulation = _fast()
    from trsp_fast.model import DEFAULT_TOLERANCE

    mode = mode or "full"
    (kick, _), (precision, _) = requested
    tol = (DEFAULT_TOLERANCE.kick if kick is None else kick, DEFAULT_TOLERANCE.precision if precision is None else precision)
    model = FastModel(params, tolerance=tol)
    seq = np.random.SeedSequence(seed)
    rng = np.random.Generator(np.random.PCG64(seq))
    S0 = model.sample_equilibrium(rng)
    _check_fits_on_disk(out, model, S0, mode, snapshot_every, events, time, 0.0)
    sim = Simulation(model, S0, rng, t0=0.0)
    room = _room_check(out, model, mode, snapshot_every, S0)
    room(0)  # the new file's initial state and checkpoint
    writer = RunWriter.create(
        out,
        params=params,
        truncation=Truncation.of(model.kick_radius, model.precision_radius, *model.tolerance, model.precision_scheme),
        S0=S0,
        t0=0.0,
        mode=mode,
        snapshot_interval=snapshot_every,
        implementation=_implementation(),
        seed=SeedRecord("PCG64", int(seq.entropy), tuple(int(k) for k in seq.spawn_key)),
        rng_state=sim.rng.bit_generator.state,
        target_events=events,
        target_time=time,
        overwrite=force,
    )
    return dict(writer=writer, sim=sim, mode=mode, interval=snapshot_every, t0=0.0, observed=0.0,
                target_events=events, target_time=time, room=room)  # fmt: skip


def _resume_targets(out: Path, run, events, time):
    """The targets of a resumed run: an unfinished run keeps its own; a finished one may be extended."""
    cp = run.checkpoint
    if events is None and time is None:
        if cp.target_events is None and cp.target_time is None:
            raise ParameterError("--events/--time", "the run records no target: give --events N or --time T")
        return cp.target_events, cp.target_time
    if cp.status != "finished":
        for option, given, recorded in (("--events", events, cp.target_events), ("--time", time, cp.target_time)):
            if given is not None and given != recorded:
                raise ParameterError(
                    option,
                    f"differs from the target of the unfinished run {out} ({option} {recorded}); leave it out to "
                    "finish the run as started (a finished run can then be extended)",
                    given,
                )
        return (cp.target_events if events is None else events), (cp.target_time if time is None else time)
    if events is not None and events < run.n_events:
        raise ParameterError("--events", f"is below the {run.n_events} events the run {out} already holds: a run cannot be shortened", events)
    if time is not None and time < cp.observed_until:
        raise ParameterError("--time", f"is before t = {cp.observed_until:.6g}, up to which the run {out} is complete: a run cannot be shortened", time)
    return events, time


def _resume_job(config, out, events, time, seed, mode, snapshot_every, requested, progress) -> dict | None:
    from trsp_runfile.runfile import RunFile, RunWriter, TrspFileError, first_difference

    run = RunFile.open(out)
    if run.implementation.name != IMPLEMENTATION_NAME:
        raise TrspFileError(out, f"cannot resume: written by {run.implementation.name!r}, not {IMPLEMENTATION_NAME!r}")
    if run.checkpoint.rng_state is None:
        raise TrspFileError(out, "cannot resume: the checkpoint holds no RNG state", "/checkpoint/@rng_state")
    params = run.params
    if config is not None:
        given = load_params(config)
        if given != params:
            diff = first_difference(params_to_dict(params), params_to_dict(given))
            raise TrspFileError(
                out, f"cannot resume: the parameter file {config} differs from the run's parameters: {diff} (run vs file)", "/params"
            )
    if seed is not None and (run.seed is None or run.seed.entropy != seed):
        raise _mismatch(out, "the seed", None if run.seed is None else run.seed.entropy, seed, "--seed")
    if mode is not None and mode != run.mode:
        raise _mismatch(out, "the mode", run.mode, mode, "--mode")
    tr = run.truncation
    for (given, option), part, recorded in zip(requested, ("kick", "precision"), (tr.kick_tolerance, tr.precision_tolerance)):
        if given is not None and given != recorded:
            raise _mismatch(out, f"the {part} tolerance", recorded, given, option)
    interval = run.snapshots.interval
    if snapshot_every is not None and snapshot_every != interval:
        raise _mismatch(out, "the snapshot interval", interval, snapshot_every, "--snapshot-every")
    target_events, target_time = _resume_targets(out, run, events, time)
    cp = run.checkpoint
    if cp.status == "finished" and (target_events, target_time) == (cp.target_events, cp.target_time):
        if progress:
            print(f"{out}: already finished ({run.n_events} events, t = {cp.time:.6g})", file=sys.stderr)
        return None
    if run.implementation.version != _implementation().version:
        print(
            f"trsp: warning: {out} was written by {run.implementation.name} {run.implementation.version}, "
            f"this is {_implementation().version}; bit-exact continuation is only promised within one version",
            file=sys.stderr,
        )
    check_fits_in_memory(params)
    FastModel, Simulation = _fast()
    # Rebuild the very truncation the run used (radii given explicitly, not re-derived).
    model = FastModel(
        params, tolerance=(tr.kick_tolerance, tr.precision_tolerance), kick_radius=tr.kick_radius,
        precision_radius=tr.precision_radius,
        precision_scheme=tr.scheme,
    )
    if (model.kick_radius, model.precision_radius) != (tr.kick_radius, tr.precision_radius):
        raise TrspFileError(out, "cannot resume: this trsp_fast builds a different truncation", "/truncation")
    try:
        sim = Simulation.from_state(model, cp.simulation_state())
    except (ValueError, KeyError, TypeError) as exc:
        raise TrspFileError(out, f"cannot resume: unusable checkpoint state ({exc})", "/checkpoint") from None
    next_snapshot = run.t0 + run.snapshots.time.shape[0] * interval if interval is not None else 0.0
    _check_fits_on_disk(
        out, model, sim.S, run.mode, interval,
        None if target_events is None else target_events - run.n_events,
        None if target_time is None else target_time - cp.time, next_snapshot - cp.time,
    )  # fmt: skip
    room = _room_check(out, model, run.mode, interval, sim.S)
    writer = RunWriter.reopen(run)
    return dict(writer=writer, sim=sim, mode=run.mode, interval=interval, t0=run.t0, observed=cp.observed_until,
                target_events=target_events, target_time=target_time, room=room)  # fmt: skip


def _drive(sim, writer, mode, interval, t0, observed, target_events, target_time, ce, progress, out, room) -> None:
    """The event loop: blocks of events, snapshots cut out, a checkpoint every ``ce`` events.

    ``observed``: the time up to which the trajectory is already complete (the checkpoint's
    observed_until); a stop at the time limit extends it to the limit."""
    snaps = SnapshotTaker(interval, t0, writer.n_snapshots, sim.S.shape[0], writer.append_snapshots) if interval is not None else None
    record = mode == "full" or snaps is not None
    observed = [observed]

    def commit(status: str) -> None:
        st = sim.get_state()
        observed[0] = max(observed[0], st["time"])
        writer.commit(
            st["S"], st["time"], st["n_events"], st["time_compensation"], st["rng_state"],
            status=status, target_events=target_events, target_time=target_time, observed_until=observed[0],
        )  # fmt: skip

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
            room(n_block, math.inf if target_time is None else target_time - sim.time)
            S_start = sim.S.copy() if snaps is not None else None
            n_got = 0
            for chunk in sim.run(n_events=n_block, t_max=target_time, record=record, chunk=n_block):
                n_got += chunk.times.shape[0]
                if mode == "full":
                    writer.append_events(
                        chunk.times, chunk.clusters, chunk.change_offsets, chunk.change_sites, chunk.before, chunk.after
                    )
                else:
                    writer.append_events(chunk.times, chunk.clusters)
                if snaps is not None:
                    # Only after the last chunk can the time limit vouch for later times.
                    snaps.take(S_start, chunk, None)
                    _advance(S_start, chunk)
            if S_start is not None and not np.array_equal(S_start, sim.S):
                # The recorded changes must rebuild the state, or the snapshots would be wrong.
                raise RuntimeError("trsp_fast's recorded site changes do not reproduce its state (a bug)")
            stopped_by_time = target_time is not None and n_got < n_block
            if stopped_by_time:
                observed[0] = max(observed[0], target_time)
                if snaps is not None:
                    snaps.take(S_start, _EmptyChunk(), target_time)
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
