"""Run files (docs/formats.md): schema, reader errors, and the writer's crash safety.

These tests need no simulator: the events are the toy trajectory of
``examples/write_runfile_numpy.py`` (which also shows the format written by plain h5py).
The simulator-level resume tests (real processes killed with SIGKILL) are in test_resume.py.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest

from trsp_runfile import runfile
from trsp_runfile.runfile import (
    FORMAT_VERSION,
    Implementation,
    RunFile,
    RunWriter,
    SeedRecord,
    Truncation,
    TrspFileError,
    side_files,
)
from trsp_ref.params import params_from_dict

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "write_runfile_numpy.py"


def _example():
    spec = importlib.util.spec_from_file_location("write_runfile_numpy", EXAMPLE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


ex = _example()


@pytest.fixture
def example_file(tmp_path) -> Path:
    path = tmp_path / "toy.h5"
    ex.write_run(path, n_events=120, seed=3)
    return path


# --------------------------------------------------------------------------
# the example writer: a file from plain h5py is a valid run file
# --------------------------------------------------------------------------


def test_plain_h5py_example_writes_a_valid_run_file(example_file):
    run = RunFile.open(example_file)
    run.check()  # replays every change, snapshot and the final state bit for bit
    assert run.format_version == "1.0"
    assert run.implementation == Implementation("toy-numpy", "0.0")
    assert run.params == params_from_dict(ex.PARAMS)
    assert run.truncation.exact and run.truncation.tolerance == 0.0
    assert run.n_events == len(run.events) == 120
    assert run.mode == "full" and run.events.has_changes
    assert len(run.snapshots) > 5 and run.snapshots.interval == 1.0
    assert not os.path.exists(f"{example_file}.tmp")


def test_replay_reproduces_events_and_final_state(example_file):
    run = RunFile.open(example_file)
    S = run.S0.copy()
    n = 0
    for event in run.replay():
        assert np.array_equal(S[event.sites], event.before)
        S[event.sites] = event.after
        n += 1
    assert n == run.n_events
    assert np.array_equal(S, run.checkpoint.S)
    assert np.array_equal(run.state_at(run.n_events), S)


# --------------------------------------------------------------------------
# unusable files: a TrspFileError naming the object and the problem
# --------------------------------------------------------------------------


def _mutate(path: Path, fn) -> None:
    with h5py.File(path, "r+") as f:
        fn(f)


def _set_attr(obj, key, value):
    return lambda f: f[obj].attrs.__setitem__(key, value)


def _replace_dataset(name, data):
    def fn(f):
        del f[name]
        f[name] = data

    return fn


BAD_FILES = {
    "missing group": (lambda f: f.__delitem__("events"), "/events", "missing group"),
    "missing checkpoint": (lambda f: f.__delitem__("checkpoint"), "/checkpoint", "missing group"),
    "wrong format": (_set_attr("/", "format", "something-else"), "/@format", "not a trsp run file"),
    "newer major version": (_set_attr("/", "format_version", "2.0"), "/@format_version", "not readable"),
    "garbled version": (_set_attr("/", "format_version", "one"), "/@format_version", "MAJOR.MINOR"),
    "short events": (_replace_dataset("events/time", np.zeros(50)), "/events/time", "inconsistent lengths"),
    "short changes": (_replace_dataset("events/after", np.zeros(3)), "/events/after", "inconsistent lengths"),
    "float32 state": (_replace_dataset("initial/S", np.zeros(16, np.float32)), "/initial/S", "float64"),
    "wrong S0 shape": (_replace_dataset("initial/S", np.zeros(15)), "/initial/S", "shape"),
    "bad mode": (_set_attr("/", "mode", "medium"), "/@mode", "must be one of"),
    "params disagree": (_set_attr("params/softness", "C1", 0.25), "/params", "softness.C1"),
    "invalid params": (
        lambda f: (f["params/lattice"].attrs.__setitem__("L", 1), f["params"].attrs.__setitem__("toml", "[lattice]\nL = 1\ndim = 2\n")),
        "/params/@toml",
        "lattice.L",
    ),
    "bad toml": (_set_attr("params", "toml", "[lattice\n"), "/params/@toml", "not valid TOML"),
    "negative count": (_set_attr("checkpoint", "n_events", np.int64(-1)), "/checkpoint/@n_events", ">= 0"),
    "bad rng json": (_set_attr("checkpoint", "rng_state", "{nope"), "/checkpoint/@rng_state", "JSON"),
    "snapshots missing": (lambda f: f.__delitem__("snapshots"), "/snapshots", "n_snapshots"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_unusable_file_is_named_precisely(example_file, case):
    fn, where, words = BAD_FILES[case]
    _mutate(example_file, fn)
    with pytest.raises(TrspFileError) as info:
        RunFile.open(example_file)
    assert info.value.where == where, str(info.value)
    assert words in str(info.value)
    assert str(example_file) in str(info.value)


LATE_BAD = {
    # value problems found when the arrays are read (RunFile.events) ...
    "decreasing offsets": ("/events/change_offsets", "never decrease", lambda f: f["events/change_offsets"].__setitem__(5, 0)),
    "cluster out of range": ("/events/cluster", "out of range", lambda f: f["events/cluster"].__setitem__(7, 16)),
    "site out of range": ("/events/change_sites", "out of range", lambda f: f["events/change_sites"].__setitem__(7, -1)),
    "time goes back": ("/events/time", "must not decrease", lambda f: f["events/time"].__setitem__(9, 0.0)),
    # ... and by the deep replay check (RunFile.check): these are the mutants check() catches
    "before corrupted": ("/events/before", "before the change", lambda f: f["events/before"].__setitem__(40, 123.0)),
    "after corrupted": ("/events/before", "before the change", lambda f: f["events/after"].__setitem__(40, 123.0)),
    "snapshot corrupted": ("/snapshots/S", "snapshot 3", lambda f: f["snapshots/S"].__setitem__((3, 2), 9.0)),
    "final state corrupted": ("/checkpoint/S", "replayed", lambda f: f["checkpoint/S"].__setitem__(0, 9.0)),
}


@pytest.mark.parametrize("case", sorted(LATE_BAD))
def test_inconsistent_values_are_caught(example_file, case):
    where, words, fn = LATE_BAD[case]
    RunFile.open(example_file).check()  # the unmutated file passes
    _mutate(example_file, fn)
    with pytest.raises(TrspFileError) as info:
        RunFile.open(example_file).check()
    assert info.value.where == where, str(info.value)
    assert words in str(info.value)


def test_not_a_file(tmp_path):
    with pytest.raises(TrspFileError, match="no such file"):
        RunFile.open(tmp_path / "absent.h5")
    text = tmp_path / "text.h5"
    text.write_text("hello")
    with pytest.raises(TrspFileError, match="not an HDF5 file"):
        RunFile.open(text)
    with pytest.raises(TrspFileError, match="folder"):
        RunFile.open(tmp_path)


def test_truncated_file_is_an_error_not_a_traceback(example_file):
    data = example_file.read_bytes()
    example_file.write_bytes(data[: len(data) // 2])
    with pytest.raises(TrspFileError):
        RunFile.open(example_file).check()


def test_light_file_cannot_be_replayed(example_file):
    def to_light(f):
        f.attrs["mode"] = "light"
        for name in ("change_offsets", "change_sites", "before", "after"):
            del f[f"events/{name}"]

    _mutate(example_file, to_light)
    run = RunFile.open(example_file)
    run.check()  # value checks only
    assert not run.events.has_changes
    with pytest.raises(TrspFileError, match="light"):
        next(run.replay())


def test_rows_beyond_the_committed_length_are_ignored(example_file):
    """An in-place writer that died after appending but before committing leaves extra rows."""

    def grow(f):
        for name in ("time", "cluster"):
            data = f[f"events/{name}"][...]
            del f[f"events/{name}"]
            f[f"events/{name}"] = np.concatenate((data, data[-1:] + (1 if name == "time" else 0)))

    _mutate(example_file, grow)
    run = RunFile.open(example_file)
    run.check()
    assert len(run.events) == 120


def test_reader_sees_a_consistent_prefix_and_refuses_a_replaced_run(example_file, tmp_path):
    run = RunFile.open(example_file)  # bulk data not read yet
    other = tmp_path / "other.h5"
    ex.write_run(other, n_events=120, seed=4)
    _mutate(other, _set_attr("/", "run_id", "another-run"))
    _mutate(example_file, _set_attr("/", "run_id", "this-run"))
    run = RunFile.open(example_file)
    os.replace(other, example_file)
    with pytest.raises(TrspFileError, match="replaced by a different run"):
        run.events


# --------------------------------------------------------------------------
# the writer: round trip, crash safety, locking
# --------------------------------------------------------------------------

N_EVENTS, SEGMENT = 240, 40


def _toy():
    """The toy trajectory, and everything the writer is given for it."""
    params = params_from_dict(ex.PARAMS)
    N = params.N
    S0, t, cl, off, sites, before, after, S_end = ex.fake_trajectory(N, N_EVENTS, np.random.default_rng(11))
    return params, S0, t, cl, off, sites, before, after


# The child process that writes the toy run segment by segment (continuing the run when the
# file exists) and, when asked, dies with os._exit at the nth passage through a protocol step:
# no flush, no cleanup, as under SIGKILL.
CHILD = textwrap.dedent(
    """
    import os, sys
    sys.path.insert(0, {tests!r})
    import test_runfile as t
    from trsp_runfile import runfile
    step, nth, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    seen = [0]
    def hook(s):
        if s == step:
            seen[0] += 1
            if seen[0] == nth:
                os._exit(137)
    runfile._fault_hook = hook
    t.write_toy_run(path)
    """
).format(tests=str(Path(__file__).parent))


def _snapshots_known(t, upto):
    """Snapshot times 0, 1, 2, ... known once ``upto`` events are written (strictly before the last)."""
    return int(np.floor(t[upto - 1])) + (0 if float(t[upto - 1]).is_integer() else 1) if upto else 0


def write_toy_run(path) -> None:
    """Write (or continue) the toy run in segments of SEGMENT events, a checkpoint after each."""
    params, S0, t, cl, off, sites, before, after = _toy()
    path = Path(path)
    if path.exists():
        run = RunFile.open(path)
        w = RunWriter.reopen(run)
        start = run.n_events
    else:
        w = RunWriter.create(
            path,
            params=params,
            truncation=Truncation(2.5, 1.5, 1e-8),
            S0=S0,
            mode="full",
            snapshot_interval=1.0,
            implementation=Implementation("toy", "1"),
            seed=SeedRecord("PCG64", 2**100 + 7, (1, 2)),
            rng_state={"bit_generator": "toy", "at": 0},
            target_events=N_EVENTS,
        )
        start = 0
    with w:
        S = S0.copy()
        runfile.apply_changes(S, sites[: off[start]], after[: off[start]])
        for a in range(start, N_EVENTS, SEGMENT):
            b = a + SEGMENT
            o = off[a : b + 1]
            w.append_events(t[a:b], cl[a:b], o, sites, before, after)  # offsets index the full arrays
            for k in range(w.n_snapshots, _snapshots_known(t, b)):
                n = int(np.searchsorted(t, float(k), side="right"))
                Sk = S0.copy()
                runfile.apply_changes(Sk, sites[: off[n]], after[: off[n]])
                w.append_snapshots(np.array([float(k)]), Sk[None, :])
            runfile.apply_changes(S, sites[off[a] : off[b]], after[off[a] : off[b]])
            w.commit(
                S, float(t[b - 1]), b, 0.125, {"bit_generator": "toy", "at": b},
                status="finished" if b == N_EVENTS else "running", target_events=N_EVENTS,
            )


def _arrays(path):
    run = RunFile.open(path)
    ev, sn, cp = run.events, run.snapshots, run.checkpoint
    return {
        "S0": run.S0, "time": ev.times, "cluster": ev.clusters, "offsets": ev.change_offsets,
        "sites": ev.change_sites, "before": ev.before, "after": ev.after, "snap_t": sn.time,
        "snap_S": sn.S, "S": cp.S, "cp": np.array([cp.time, cp.n_events, cp.n_changes, cp.n_snapshots]),
        "rng": np.frombuffer(json.dumps(cp.rng_state).encode(), np.uint8),
    }


def _assert_same_run(a, b):
    for key in a:
        assert a[key].dtype == b[key].dtype and a[key].shape == b[key].shape, key
        assert a[key].tobytes() == b[key].tobytes(), key


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ref") / "ref.h5"
    write_toy_run(path)
    return path


def test_writer_round_trip(reference_run):
    run = RunFile.open(reference_run)
    run.check()
    params, S0, t, cl, off, sites, before, after = _toy()
    assert run.params == params and run.mode == "full"
    assert run.truncation == Truncation(2.5, 1.5, 1e-8)
    assert run.seed == SeedRecord("PCG64", 2**100 + 7, (1, 2))
    assert run.checkpoint.status == "finished" and run.checkpoint.target_events == N_EVENTS
    assert run.checkpoint.target_time is None
    assert run.checkpoint.rng_state == {"bit_generator": "toy", "at": N_EVENTS}
    assert run.checkpoint.time_compensation == 0.125
    assert np.array_equal(run.events.times, t) and np.array_equal(run.events.clusters, cl)
    assert np.array_equal(run.events.change_offsets, off) and np.array_equal(run.events.after, after)
    assert np.array_equal(run.S0, S0)
    assert run.snapshots.time.tolist() == [float(k) for k in range(_snapshots_known(t, N_EVENTS))]
    # the writer's side files are gone after a clean close
    assert not any(p.exists() for p in side_files(reference_run).values())
    with h5py.File(reference_run, "r") as f:  # portable types only
        assert f.attrs["format_version"] == FORMAT_VERSION
        assert f["params/lattice"].attrs["L"].dtype == np.int64
        assert isinstance(f["checkpoint"].attrs["rng_state"], str)


PROTOCOL_STEPS = ["work-ready", "events-written", "checkpoint-written", "work-closed", "linked", "replaced", "recycled"]


@pytest.mark.parametrize("step", PROTOCOL_STEPS)
def test_dying_at_any_step_of_a_checkpoint_leaves_a_usable_run(tmp_path, step, reference_run):
    """Kill the writer (os._exit, no cleanup) at the 3rd passage through each step of the
    commit protocol: the run file must open, be consistent, hold the last or the new
    checkpoint (never anything in between), and continuing it must give the uninterrupted run."""
    path = tmp_path / "run.h5"
    proc = subprocess.run([sys.executable, "-c", CHILD, step, "3", str(path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 137, proc.stderr
    run = RunFile.open(path)
    run.check()
    # Passages: create commits 0 events (steps from events-written on), then one commit per
    # segment; work-ready happens only from the second segment on.
    if step == "work-ready":
        expected = 2 * SEGMENT
    elif step in ("replaced", "recycled"):
        expected = 2 * SEGMENT  # the 3rd commit (events 0, 40, 80) is in place
    else:
        expected = SEGMENT  # died before the rename: the previous checkpoint stands
    assert run.n_events == expected
    assert run.checkpoint.status == "running"
    assert side_files(path)["lock"].exists()  # left behind by the dead writer, and harmless:
    write_toy_run(path)  # continue the run (in this process)
    _assert_same_run(_arrays(path), _arrays(reference_run))
    assert not any(p.exists() for p in side_files(path).values())


def test_a_reader_holding_the_old_version_is_not_disturbed(tmp_path):
    """The displaced version is recycled as the work file only when nobody has it open."""
    params, S0, t, cl, off, sites, before, after = _toy()
    path = tmp_path / "run.h5"
    w = RunWriter.create(path, params=params, truncation=Truncation(1, 1, 0), S0=S0,
                         implementation=Implementation("toy", "1"), rng_state=None, target_events=80)
    w.append_events(t[:40], cl[:40], off[:41], sites, before, after)
    S = S0.copy()
    runfile.apply_changes(S, sites[: off[40]], after[: off[40]])
    w.commit(S, float(t[39]), 40, 0.0, None)
    held = h5py.File(path, "r")  # a reader keeps version "40 events" open ...
    w.append_events(t[40:80], cl[40:80], off[40:81], sites, before, after)
    runfile.apply_changes(S, sites[off[40] : off[80]], after[off[40] : off[80]])
    w.commit(S, float(t[79]), 80, 0.0, None)
    w.append_events(t[80:120], cl[80:120], off[80:121], sites, before, after)  # ... across two commits
    assert held["events/time"].shape == (40,) and held["checkpoint"].attrs["n_events"] == 40
    held.close()
    w.close()
    run = RunFile.open(path)
    run.check()
    assert run.n_events == 80


def test_two_writers_on_one_run_are_refused(tmp_path, reference_run):
    path = tmp_path / "run.h5"
    params, S0, *_ = _toy()
    kwargs = dict(params=params, truncation=Truncation(1, 1, 0), S0=S0, implementation=Implementation("toy", "1"))
    with RunWriter.create(path, **kwargs):
        with pytest.raises(TrspFileError, match="another process is writing"):
            RunWriter.reopen(RunFile.open(path))
    with pytest.raises(TrspFileError, match="already exists"):
        RunWriter.create(path, **kwargs)
    with RunWriter.create(path, overwrite=True, **kwargs) as w:  # --force
        assert w.run_id == RunFile.open(path).run_id


# --------------------------------------------------------------------------
# format 1.1: streaming, optional `before`, compression; 1.0 files stay readable
# --------------------------------------------------------------------------


def test_a_1_0_file_streams_in_chunks_like_a_whole_read(example_file):
    """The example writer's 1.0 file (with `before`): chunked reading gives the same events and
    the chunked check passes, whatever the chunk size."""
    run = RunFile.open(example_file)
    assert run.format_version == "1.0"
    whole = run.events
    for size in (1, 7, 1000):
        chunks = list(RunFile.open(example_file).iter_events(size))
        assert sum(len(c) for c in chunks) == len(whole)
        assert np.array_equal(np.concatenate([c.times for c in chunks]), whole.times)
        assert np.array_equal(np.concatenate([c.before for c in chunks]), whole.before)
        assert all(c.change_offsets[0] == 0 for c in chunks)
        RunFile.open(example_file).check(events_per_chunk=size)


def test_before_is_optional_from_1_1_and_filled_in_by_the_replay(reference_run):
    """trsp writes 1.1 files without `before` (compressed integer datasets); readers rebuild it."""
    params, S0, t, cl, off, sites, before, after = _toy()
    with h5py.File(reference_run, "r") as f:
        assert "before" not in f["events"] and f["events/change_sites"].compression == "gzip"
    run = RunFile.open(reference_run)
    assert np.array_equal(run.events.before, before)
    assert all(np.array_equal(e.before, before[off[i]:off[i + 1]]) for i, e in enumerate(run.replay()))


def test_a_1_0_file_without_before_is_refused(example_file):
    _mutate(example_file, lambda f: f["events"].__delitem__("before"))
    with pytest.raises(TrspFileError, match=r"/events/before.*missing dataset"):
        RunFile.open(example_file)


def test_a_site_listed_twice_in_one_event_is_refused(example_file):
    def twice(f):
        o = f["events/change_offsets"][:4]
        f["events/change_sites"][o[2] + 1] = f["events/change_sites"][o[2]]

    _mutate(example_file, twice)
    with pytest.raises(TrspFileError, match=r"/events/change_sites.*event 2 lists site \d+ more than once"):
        RunFile.open(example_file).check()


def test_non_finite_initial_state_is_named(example_file):
    _mutate(example_file, lambda f: f["initial/S"].__setitem__(4, np.inf))
    with pytest.raises(TrspFileError, match=r"/initial/S: inf at site 4"):
        RunFile.open(example_file)
