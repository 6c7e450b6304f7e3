"""``trsp simulate``: runs users can rely on (docs/formats.md).

- Real processes (``python -m trsp_cli.main simulate``) killed with SIGKILL at random moments
  (fixed seed) leave a run file that opens and replays consistently; ``--resume`` then
  finishes a run byte-for-byte equal to the uninterrupted one (events, changes, snapshots,
  final state, RNG state).  SIGTERM writes a checkpoint first.
- In-process: the trajectory does not depend on checkpoint or snapshot settings, on the
  mode, or on being extended; the seed is recorded; mismatching resumes and bad options are
  clear errors.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time as _time
from pathlib import Path

import numpy as np
import pytest

from trsp_fast.model import DEFAULT_KICK_TOLERANCE, DEFAULT_PRECISION_TOLERANCE
from trsp_fast.run_job import simulate_to_file
from trsp_runfile.runfile import RunFile, TrspFileError, side_files
from trsp_ref.params import ParameterError

REPO = Path(__file__).resolve().parents[1]

# A small, fast model: 2D, 8 x 8 sites, dimers.
CONFIG = """\
[lattice]
dim = 2
L = 8

[cluster]
shape = "dimer"
"""

#: kill test: events per run, checkpoint interval, snapshot interval, kills
KILL_EVENTS = 20_000
KILL_CHECKPOINT = 500
KILL_SNAPSHOT = 200.0
N_KILLS = 6


@pytest.fixture(scope="module")
def config(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cfg") / "small.toml"
    path.write_text(CONFIG)
    return path


def _arrays(path: Path) -> dict[str, np.ndarray]:
    """Everything that must be bit-identical between two runs of the same seed."""
    run = RunFile.open(path)
    ev, sn, cp = run.events, run.snapshots, run.checkpoint
    out = {"S0": run.S0, "time": ev.times, "cluster": ev.clusters, "snap_t": sn.time, "snap_S": sn.S, "S": cp.S}
    if ev.has_changes:
        out.update(offsets=ev.change_offsets, sites=ev.change_sites, before=ev.before, after=ev.after)
    out["scalars"] = np.array([cp.time, cp.time_compensation, cp.n_events, cp.n_changes, cp.n_snapshots])
    out["rng"] = np.frombuffer(json.dumps(cp.rng_state, sort_keys=True).encode(), np.uint8)
    return out


def _assert_same(a: Path, b: Path) -> None:
    x, y = _arrays(a), _arrays(b)
    assert x.keys() == y.keys()
    for key in x:
        assert x[key].dtype == y[key].dtype and x[key].shape == y[key].shape, key
        assert x[key].tobytes() == y[key].tobytes(), f"{key} differs"


def _simulate(config, out, **kw) -> None:
    kw.setdefault("progress", False)
    simulate_to_file(config, out, **kw)


# --------------------------------------------------------------------------
# real processes, killed
# --------------------------------------------------------------------------


def _command(config: Path, out: Path) -> list[str]:
    """Start the run, or continue it once it exists (--resume refuses a missing file)."""
    return [
        sys.executable, "-m", "trsp_cli.main", "simulate", str(config), "--out", str(out),
        "--events", str(KILL_EVENTS), "--seed", "7", "--checkpoint-every", str(KILL_CHECKPOINT),
        "--snapshot-every", str(KILL_SNAPSHOT), "--no-progress",
    ] + (["--resume"] if out.exists() else [])


def _start(cmd: list[str], lock: Path) -> subprocess.Popen:
    """Start the simulation and return once it has begun writing (its lock appeared)."""
    # A killed writer leaves its (released) lock file behind; remove it so that the lock's
    # appearance marks the new process's start of work.  (Resuming with a stale lock file
    # present is covered by test_runfile.py's crash tests.)
    lock.unlink(missing_ok=True)
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = _time.monotonic() + 120
    while not lock.exists() and proc.poll() is None:
        if _time.monotonic() > deadline:  # pragma: no cover
            proc.kill()
            raise AssertionError("the simulation never started writing")
        _time.sleep(0.001)
    return proc


def _version(path: Path):
    """Identifies the file under the name: it changes at every checkpoint (a new file is renamed in)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def _wait_for_checkpoints(proc: subprocess.Popen, path: Path, k: int) -> int:
    """Wait until ``k`` more checkpoints have replaced ``path`` (or the process ended); count them."""
    seen, last = 0, _version(path)
    while seen < k and proc.poll() is None:
        v = _version(path)
        if v != last:
            seen, last = seen + 1, v
        _time.sleep(0.0005)
    return seen


def test_killed_runs_resume_bit_for_bit(tmp_path, config):
    """Signals at random moments (seeded) during the work of real processes: after a random
    number of checkpoints, plus a random fraction of the time between two checkpoints, so the
    kills land at different stages of the run and of the writer's cycle (appending, copying,
    committing, renaming) whatever the machine's speed.  After every kill the file opens,
    replays consistently and sits at a checkpoint; resuming to the end gives the
    uninterrupted run byte for byte.  One signal is SIGTERM, which must write a checkpoint
    and exit with 128 + 15."""
    ref, run = tmp_path / "ref.h5", tmp_path / "run.h5"
    proc = _start(_command(config, ref), side_files(ref)["lock"])
    began = _time.monotonic()
    n_commits = _wait_for_checkpoints(proc, ref, 10**9)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    between = (_time.monotonic() - began) / max(n_commits, 1)  # seconds between checkpoints
    RunFile.open(ref).check()

    rng = np.random.default_rng(20240611)
    live_kills, sizes, interrupted_at = 0, set(), set()
    for i in range(N_KILLS):
        sig = signal.SIGTERM if i == 2 else signal.SIGKILL
        done = RunFile.open(run).n_events if run.exists() else 0
        left = (KILL_EVENTS - done) // KILL_CHECKPOINT  # checkpoints still to come
        wait_commits = int(rng.integers(0, max(1, left // 2)))
        fraction = rng.uniform(0.0, 1.0)
        proc = _start(_command(config, run), side_files(run)["lock"])
        _wait_for_checkpoints(proc, run, wait_commits)
        _time.sleep(fraction * between)
        alive = proc.poll() is None
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=300)
        if alive and proc.returncode == -sig:
            live_kills += 1
        elif alive and sig == signal.SIGTERM and proc.returncode == 128 + signal.SIGTERM:
            live_kills += 1
            assert "checkpoint written" in err
            assert RunFile.open(run).checkpoint.status == "interrupted"
            interrupted_at.add(RunFile.open(run).n_events)
        else:
            assert proc.returncode == 0, err  # it had finished before the signal
        r = RunFile.open(run)
        r.check()  # bit-exact replay of every before, snapshot and the checkpoint state
        sizes.add(r.n_events)
        if r.checkpoint.status == "finished":
            break
        assert r.n_events % KILL_CHECKPOINT == 0 or r.n_events in interrupted_at
    # the test only means something if it interrupted real work, at different points
    assert live_kills >= 4, f"only {live_kills} signals hit a working process"
    assert len(sizes) >= 3, f"interrupted runs held only {sorted(sizes)} events"

    proc = subprocess.run(_command(config, run), cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert RunFile.open(run).checkpoint.status == "finished"
    _assert_same(run, ref)
    assert not any(p.exists() for p in side_files(run).values())


def test_command_line_reports_errors_in_one_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[lattice]\nL = 1\n")
    proc = subprocess.run(
        [sys.executable, "-m", "trsp_cli.main", "simulate", str(bad), "--out", str(tmp_path / "x.h5"), "--events", "5"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "lattice.L" in proc.stderr
    assert not (tmp_path / "x.h5").exists()


# --------------------------------------------------------------------------
# in-process: the trajectory is a function of the seed alone
# --------------------------------------------------------------------------


def test_checkpoints_and_resume_do_not_change_the_trajectory(tmp_path, config):
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    _simulate(config, a, events=1500, seed=3, snapshot_every=50.0, checkpoint_every=100_000)
    _simulate(config, b, events=400, seed=3, snapshot_every=50.0, checkpoint_every=37)
    assert RunFile.open(b).checkpoint.status == "finished"
    _simulate(None, b, events=1500, resume=True, checkpoint_every=211)  # extend the finished run
    _assert_same(a, b)
    RunFile.open(b).check()


def test_time_limited_runs_extend_bit_for_bit(tmp_path, config):
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    _simulate(config, a, time=3000.0, seed=5, snapshot_every=25.0)
    _simulate(config, b, time=1250.0, seed=5, snapshot_every=25.0)
    rb = RunFile.open(b)
    assert rb.events.times[-1] <= 1250.0 and rb.snapshots.time[-1] == 1250.0  # snapshot at the limit
    assert rb.checkpoint.observed_until == 1250.0 and rb.checkpoint.time == rb.events.times[-1]
    _simulate(config, b, time=3000.0, resume=True)
    _assert_same(a, b)
    ra = RunFile.open(a)
    ra.check()
    assert ra.snapshots.time.tolist() == [25.0 * k for k in range(121)]
    assert ra.n_events > 300


def test_light_mode_records_the_same_run_without_changes(tmp_path, config):
    full, light = tmp_path / "full.h5", tmp_path / "light.h5"
    _simulate(config, full, events=800, seed=9, snapshot_every=50.0, checkpoint_every=300)
    _simulate(config, light, events=800, seed=9, snapshot_every=50.0, checkpoint_every=300, mode="light")
    f, l = RunFile.open(full), RunFile.open(light)
    assert l.mode == "light" and not l.events.has_changes
    for x, y in [(f.events.times, l.events.times), (f.events.clusters, l.events.clusters),
                 (f.snapshots.S, l.snapshots.S), (f.checkpoint.S, l.checkpoint.S)]:
        assert x.tobytes() == y.tobytes()
    l.check()


def test_fresh_entropy_is_recorded_and_repeats_the_run(tmp_path, config):
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    _simulate(config, a, events=300)
    seed = RunFile.open(a).seed
    assert seed.bit_generator == "PCG64" and seed.entropy is not None and seed.entropy > 2**64
    _simulate(config, b, events=300, seed=seed.entropy)
    _assert_same(a, b)


# --------------------------------------------------------------------------
# refusals and clear errors
# --------------------------------------------------------------------------


def test_existing_runs_are_protected(tmp_path, config):
    out = tmp_path / "run.h5"
    _simulate(config, out, events=50, seed=1)
    before = out.read_bytes()
    with pytest.raises(ParameterError, match="already exists.*--resume.*--force"):
        _simulate(config, out, events=50, seed=2)
    assert out.read_bytes() == before
    _simulate(config, out, events=50, seed=1, resume=True)  # finished: nothing to do
    assert out.read_bytes() == before
    _simulate(config, out, events=60, seed=2, force=True)
    assert RunFile.open(out).seed.entropy == 2


@pytest.mark.parametrize(
    "change, words",
    [
        (dict(seed=2), "seed"),
        (dict(mode="light"), "mode"),
        (dict(tolerance=1e-4), "tolerance"),
        # other than the defaults the first run used, whatever they are
        (dict(precision_tolerance=3 * DEFAULT_PRECISION_TOLERANCE), "precision tolerance .*--precision-tolerance"),
        (dict(kick_tolerance=3 * DEFAULT_KICK_TOLERANCE), "kick tolerance .*--kick-tolerance"),
        (dict(snapshot_every=30.0), "snapshot interval"),
        ("params", "softness.C1"),
    ],
    ids=["seed", "mode", "tolerance", "precision tolerance", "kick tolerance", "snapshot interval", "parameter file"],
)
def test_mismatching_resume_is_refused(tmp_path, config, change, words):
    out = tmp_path / "run.h5"
    _simulate(config, out, events=40, seed=1, checkpoint_every=20)
    kw = dict(events=80, resume=True)
    cfg = config
    if change == "params":
        cfg = tmp_path / "other.toml"
        cfg.write_text(CONFIG + "\n[softness]\nC1 = 0.25\n")
    else:
        kw.update(change)
    with pytest.raises(TrspFileError, match=words):
        _simulate(cfg, out, **kw)
    assert RunFile.open(out).n_events == 40


@pytest.mark.parametrize(
    "kw, name",
    [
        (dict(), "--events/--time"),
        (dict(events=-1), "--events"),
        (dict(events=10, time=float("nan")), "--time"),
        (dict(events=10, seed=-3), "--seed"),
        (dict(events=10, mode="heavy"), "--mode"),
        (dict(events=10, snapshot_every=0.0), "--snapshot-every"),
        (dict(events=10, checkpoint_every=2.5), "--checkpoint-every"),
        (dict(events=10, tolerance=-1.0), "--tolerance"),
        (dict(events=10, precision_tolerance=float("inf")), "--precision-tolerance"),
        (dict(events=10, tolerance=(1e-3, 1e-2, 1e-1)), "--tolerance"),
        (dict(events=10, tolerance=(1e-3, 1e-2), kick_tolerance=1e-3), "--tolerance"),
        (dict(events=10, tolerance=(-1.0, 1e-2)), "--kick-tolerance"),
    ],
    ids=["no target", "negative events", "nan time", "negative seed", "unknown mode", "zero snapshot interval",
         "fractional checkpoint interval", "negative tolerance", "infinite precision tolerance",
         "tolerance triple", "tolerance pair and a part", "negative kick part of a pair"],
)
def test_bad_options_name_the_option(tmp_path, config, kw, name):
    with pytest.raises(ParameterError) as info:
        _simulate(config, tmp_path / "x.h5", **kw)
    assert info.value.parameter == name
    assert not (tmp_path / "x.h5").exists()


def test_unwritable_output_is_a_clear_error(tmp_path, config):
    with pytest.raises(ParameterError, match="does not exist"):
        _simulate(config, tmp_path / "no" / "such" / "dir.h5", events=5)
    with pytest.raises((ParameterError, TrspFileError)):
        _simulate(config, tmp_path, events=5)


def test_resume_of_a_missing_file_is_refused(tmp_path, config):
    # a mistyped path must not silently start a new run
    with pytest.raises(TrspFileError, match="does not exist: there is no run to resume"):
        _simulate(config, tmp_path / "typo.h5", events=100, seed=4, resume=True)
    assert not (tmp_path / "typo.h5").exists()


def test_resume_refuses_foreign_files(tmp_path, config):
    import importlib.util

    spec = importlib.util.spec_from_file_location("ex", REPO / "examples" / "write_runfile_numpy.py")
    ex = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ex)
    out = tmp_path / "toy.h5"
    ex.write_run(out)
    with pytest.raises(TrspFileError, match="written by 'toy-numpy'"):
        _simulate(None, out, events=500, resume=True)
