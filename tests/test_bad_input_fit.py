"""`trsp fit`, `trsp to-particles` and `trsp paired` keep the README's promise (issue 22): every
input a user can fix is exit status 2 and one line naming the item and the condition, and
nothing the user wrote is lost.  One section per class of the issue; each class is tested on
its instances and, where a class has many members (wrong-typed items, bad option values,
unusable output paths), by enumerating them: every schema item of a particle-data and a sweep
file mutated in every way (:data:`MUTATIONS`), every numeric option given every kind of bad
value.

Cheap by construction (CI): the inputs are tiny synthetic files (12 frames of 64 particles; a
sweep file made from a committed summary), and a job that passes the door is stopped there (a
sentinel in place of the computation), so no fit or bootstrap runs except in the tests of the
output set, which share one small fit.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from trsp_cli.main import main as trsp_main
from trsp_fit import FitOptions, ParticleData, fit, runfile_to_particles, write_particles
from trsp_fit.schema import ITEMS as PARTICLE_ITEMS
from trsp_obs.results_schema import PAIRED_ITEMS
from trsp_runfile.outputs import Output, OutputSet
from trsp_ref.params import ParameterError

REPO = Path(__file__).resolve().parents[1]
K, L = 12, 8
N = L * L


class Door(Exception):
    """Raised in place of the computation: the job got past every check at the door."""


@pytest.fixture(autouse=True)
def door(monkeypatch):
    """Stop fit, to-particles and paired where the work would start (after the inputs are read
    and checked): a test sees either an error at the door or :class:`Door`."""
    import trsp_fit
    import trsp_fit.pipeline as pl
    import trsp_obs.paired as paired

    real_load = pl.load_inputs

    def collect(inputs, opts=None):
        real_load([x for x in inputs if not isinstance(x, ParticleData)], opts or FitOptions())  # the readers' value checks
        raise Door

    monkeypatch.setattr(pl, "collect", collect)
    monkeypatch.setattr(trsp_fit, "runfile_to_particles", lambda *a, **k: (_ for _ in ()).throw(Door()))
    monkeypatch.setattr(paired, "compare", lambda *a, **k: (_ for _ in ()).throw(Door()))


def cli(capsys, *args) -> tuple[int | str, str]:
    """``trsp ARGS`` in-process: (exit status or "door", stderr)."""
    try:
        code = trsp_main([str(a) for a in args])
    except Door:
        code = "door"
    return code, capsys.readouterr().err


def assert_one_line(code, err: str, *words) -> str:
    assert code == 2, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("trsp: error:"), err
    assert "Traceback" not in err and ".tmp" not in err, err
    for w in words:
        assert str(w) in err, f"{w!r} not in {err!r}"
    return lines[0]


def snapshot(folder: Path) -> dict:
    """Every file under ``folder`` with its bytes: nothing lost, nothing left behind."""
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------------------- inputs


def particle_data(**overrides) -> ParticleData:
    rng = np.random.default_rng(1)
    grid = np.stack(np.meshgrid(np.arange(L), np.arange(L), indexing="ij"), -1).reshape(-1, 2).astype(float)
    kw = dict(time=np.arange(K, dtype=float), box=np.full(2, float(L)), positions=grid, types=np.zeros(N, np.int64),
              softness=rng.normal(size=(K, N)), rearranging=rng.random((K, N)) < 0.05, temperature=0.5, kind="instantaneous",
              duration=4.0, lattice={"L": L, "spacing": 1.0, "on_lattice": True}, cluster_shape="site", source="test")  # fmt: skip
    kw.update(overrides)
    return ParticleData(**kw)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict:
    """Tiny inputs of each kind: particle files (a lattice one; a sustained p_hop one), run files
    (L = 6, and L = 3: a box too small to fit), a sweep file (a committed summary with the two
    spatial arrays added back, as NaN: what a sweep without spatial origins holds)."""
    from trsp_fast.run_job import simulate_to_file

    d = tmp_path_factory.mktemp("inputs")
    out = {"particles": d / "particles.h5", "p_hop": d / "p_hop.h5", "run": d / "run.h5", "run_L3": d / "run_L3.h5", "sweep": d / "sweep.h5"}
    write_particles(particle_data(), out["particles"])
    write_particles(particle_data(kind="sustained", duration=None, lattice=None, cluster_shape=None), out["p_hop"])
    with h5py.File(out["p_hop"], "r+") as h5:
        flags = h5["/frames/rearranging"][()]
        del h5["/frames/rearranging"]
        h5["/frames/p_hop"] = np.where(flags > 0, 0.5, 0.05)
    for name, side in (("run", 6), ("run_L3", 3)):
        cfg = d / f"{name}.toml"
        cfg.write_text(f'[lattice]\ndim = 2\nL = {side}\n[softness]\n[rates]\n[kick]\n[cluster]\nshape = "site"\n')
        simulate_to_file(cfg, out[name], events=200, seed=1, progress=False)
    out["light"] = d / "light.h5"  # a 'light' run without snapshots: no frames to convert
    simulate_to_file(d / "run.toml", out["light"], events=50, seed=2, mode="light", progress=False)
    out["converted"] = d / "converted.h5"  # run.h5 as particle data: the same trajectory
    write_particles(runfile_to_particles(out["run"], frame_interval=0.5), out["converted"])
    shutil.copy(REPO / "docs" / "results" / "ka_size_L20.h5", out["sweep"])
    with h5py.File(out["sweep"], "r+") as h5:
        h5.attrs["format"] = "trsp-sweep"
        shape = h5["member_q_mean"].shape
        h5.create_dataset("member_shell_power", data=np.full(shape + (2,), np.nan))
        h5.create_dataset("member_block_var", data=np.full(shape + (h5["block"].shape[0],), np.nan))
    return out


@pytest.fixture
def work(tmp_path, files) -> Path:
    """A folder with a private copy of every input (so a test may find out whether one changed)."""
    for name, path in files.items():
        shutil.copy(path, tmp_path / path.name)
    return tmp_path


# ------------------------------------------------------------- 1. data loss (exit 0 before)


@pytest.mark.parametrize(
    "args, option",
    [
        (["fit", "particles.h5", "--out", "particles.h5"], "--out"),
        (["fit", "particles.h5", "--out", "link.h5"], "--out"),  # a symbolic link to the input
        (["fit", "particles.h5", "--out", "hard.h5", "--force"], "--out"),  # a hard link to the input, even with --force
        (["fit", "particles.h5", "--out", "x.toml", "--report", "particles.h5", "--force"], "--report"),
        (["fit", "particles.h5", "--out", "x.toml", "--plots", ".", "--force"], None),  # the folder itself is fine...
        (["to-particles", "run.h5", "--out", "run.h5", "--force"], "--out"),
        (["paired", "sweep.h5", "--json", "sweep.h5", "--force"], "--json"),
        (["fit", "particles.h5", "--out", "x.json"], "--report"),  # the report would be x.json too
    ],
    ids=["fit --out input", "fit --out symlink", "fit --out hard link", "fit --report input", "fit --plots input folder",
         "to-particles --out input", "paired --json input", "fit report over --out"],
)
def test_an_output_never_replaces_an_input(work, capsys, args, option):
    (work / "link.h5").symlink_to(work / "particles.h5")
    os.link(work / "particles.h5", work / "hard.h5")
    before = snapshot(work)
    os.chdir(work)
    code, err = cli(capsys, *args)
    if option is None:  # ...and its members are plots, not the input
        assert code == "door", err
    else:
        assert_one_line(code, err, option)
    assert snapshot(work) == before


@pytest.mark.parametrize(
    "existing, args, option",
    [
        ("x.toml", ["fit", "particles.h5", "--out", "x.toml"], "--out"),
        ("x.json", ["fit", "particles.h5", "--out", "x.toml"], "--report"),
        ("x_plots/rho.png", ["fit", "particles.h5", "--out", "x.toml"], "--plots"),
        ("p.h5", ["to-particles", "run.h5", "--out", "p.h5"], "--out"),
        ("c.json", ["paired", "sweep.h5", "--json", "c.json"], "--json"),
    ],
)
def test_existing_outputs_need_force(work, capsys, existing, args, option):
    (work / existing).parent.mkdir(exist_ok=True)
    (work / existing).write_text("precious")
    os.chdir(work)
    assert_one_line(*cli(capsys, *args), option, "already", "--force")
    assert (work / existing).read_text() == "precious"
    assert cli(capsys, *args, "--force")[0] == "door"  # with --force the job starts (and replaces them at the end)


# ------------------------------------------------------------ 2. half-written output sets


@pytest.fixture(scope="module")
def fitted():
    """One small fit (two CI-size plaquette runs, 20 replicates) for the tests of what is written."""
    from test_fit_roundtrip import ci_set

    return fit([runfile_to_particles(f) for f in ci_set("plaquette")[:2]], FitOptions(bootstrap=20))


def test_fit_outputs_are_one_set(tmp_path, fitted, monkeypatch):
    import matplotlib.figure

    from trsp_fit import write_outputs
    from trsp_fit.report import PLOTS

    # an earlier fit's set, with a plot this fit does not draw (temperature.png needs >= 3
    # temperatures) and a file of the user's in the plot folder
    out, plots = tmp_path / "f.toml", tmp_path / "f_plots"
    plots.mkdir()
    for name in [out.name, "f.json"] + [f"f_plots/{n}" for n in PLOTS] + ["f_plots/notes.txt"]:
        (tmp_path / name).write_text("old")
    with pytest.raises(ParameterError) as info:
        write_outputs(fitted, out)
    assert info.value.parameter == "--out" and "--force" in str(info.value)
    # a failure while writing (a full disk at the third plot): the previous set stays whole, no temporary file
    before = snapshot(tmp_path)
    real, calls = matplotlib.figure.Figure.savefig, []

    def full_disk(self, *a, **k):
        calls.append(1)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, *a, **k)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", full_disk)
    with pytest.raises(ParameterError) as info:
        write_outputs(fitted, out, force=True)
    assert info.value.parameter == "--plots" and "No space left" in str(info.value) and ".tmp" not in str(info.value)
    assert snapshot(tmp_path) == before and not list(tmp_path.rglob(".*"))
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", real)
    # with --force the new set replaces the old one whole: the stale plot goes, the user's file stays
    paths = write_outputs(fitted, out, force=True)
    names = sorted(p.name for p in paths["plots"])
    assert "temperature.png" not in names and sorted(p.name for p in plots.iterdir()) == sorted(names + ["notes.txt"])
    assert out.read_text().startswith("# written by trsp fit") and (plots / "notes.txt").read_text() == "old"
    assert all((plots / n).read_bytes()[:4] == b"\x89PNG" for n in names)


def test_a_bad_member_of_the_set_stops_the_command_before_anything_is_written(work, capsys):
    os.chdir(work)
    before = snapshot(work)
    (work / "r.json").mkdir()
    assert_one_line(*cli(capsys, "fit", "particles.h5", "--out", "x.toml", "--report", "r.json"), "--report", "folder")
    assert_one_line(*cli(capsys, "fit", "particles.h5", "--out", "x.toml", "--plots", "run.h5/x"), "--plots", "not a folder")
    assert snapshot(work) == before and not (work / "x.toml").exists()


def test_output_set_is_all_or_nothing(tmp_path):
    outs = [Output("--out", tmp_path / "a.txt"), Output("--plots", tmp_path / "p", folder=True, members=("1.png", "2.png"))]
    with pytest.raises(RuntimeError):
        with OutputSet(outs).writing() as w:
            w.path("--out").write_text("a")
            (w.path("--plots") / "1.png").write_text("1")
            raise RuntimeError("the job failed")
    assert list(tmp_path.iterdir()) == []
    with OutputSet(outs).writing() as w:
        w.path("--out").write_text("a")
        (w.path("--plots") / "1.png").write_text("1")
    assert snapshot(tmp_path) == {Path("a.txt"): b"a", Path("p/1.png"): b"1"}
    # a library's error text that names the temporary file (h5py does) names the output instead
    with pytest.raises(ParameterError) as info:
        with OutputSet(outs, force=True).writing() as w:
            raise OSError(f"Unable to synchronously create file (name = '{w.path('--out')}', errno = 28)")
    assert info.value.parameter == "--out" and str(tmp_path / "a.txt") in str(info.value) and ".tmp" not in str(info.value)
    assert snapshot(tmp_path) == {Path("a.txt"): b"a", Path("p/1.png"): b"1"}


# ---------------------------------------------------------- 3. late and wrong output errors


@pytest.mark.parametrize("option", ["--out", "--report", "--plots", "to-particles --out", "--json"])
@pytest.mark.parametrize("place", ["missing folder", "under a file", "a folder", "permission denied"])
def test_unusable_outputs_are_named_before_any_work(work, capsys, monkeypatch, option, place):
    os.chdir(work)
    (work / "afile").write_text("")
    (work / "adir").mkdir()
    path = {"missing folder": "nope/x", "under a file": "afile/x", "a folder": "adir", "permission denied": "adir/x"}[place]
    if option == "--plots":  # a folder is what --plots wants, created with its parents: a file where it belongs is wrong
        path = {"a folder": "afile", "missing folder": "afile/x/y"}.get(place, path)
    if place == "permission denied":  # (the suite may run as root, who may write anywhere: simulate the refusal)
        real_access = os.access
        monkeypatch.setattr("os.access", lambda p, mode: real_access(p, mode) and not (Path(p).name == "adir" and mode & os.W_OK))
    args = {"--out": ["fit", "particles.h5", "--out", path], "--report": ["fit", "particles.h5", "--out", "x.toml", "--report", path],
            "--plots": ["fit", "particles.h5", "--out", "x.toml", "--plots", path], "to-particles --out": ["to-particles", "run.h5", "--out", path],
            "--json": ["paired", "sweep.h5", "--json", path]}[option]  # fmt: skip
    before = snapshot(work)
    assert_one_line(*cli(capsys, *args), option.split()[-1])  # the door stops before the work: no Door
    assert snapshot(work) == before


# ---------------------------------------------------------------- 4. tracebacks on inputs


DELETE, GROUP = object(), object()
#: every way an item can be wrong (an optional item deleted may leave a valid file)
MUTATIONS = {
    "deleted": DELETE, "a group": GROUP, "a string": "abc", "complex": 1 + 1j, "NaN": np.nan, "one more axis": "extra",
    "empty": "empty", "booleans": True, "negative": -1.0, "zero": 0.0, "huge": 1e300, "a scalar": 3.0,
}  # fmt: skip
#: the ways CI tries on every item (the classes: absent, wrong kind, wrong shape, wrong value); the rest
#: run with ``-m slow`` (test_every_item_in_every_way)
CI_MUTATIONS = ("deleted", "a group", "a string", "complex", "NaN", "one more axis", "empty", "booleans")


def _mutate(path: Path, where: str, how: str, shape: tuple) -> None:
    value = MUTATIONS[how]
    with h5py.File(path, "r+") as h5:
        if "/@" in where:
            owner, name = where.split("/@")
            attrs = h5[owner or "/"].attrs
            if name in attrs:
                del attrs[name]
            if value is GROUP:
                value = 1 + 1j
        else:
            owner, name = h5, where
            if where in h5:
                del h5[where]
        if value is DELETE:
            return
        if isinstance(value, str) and value in ("extra", "empty"):
            value = np.zeros(shape + (2,)) if value == "extra" else np.zeros((0,) * max(1, len(shape)))
        elif value is not GROUP and not isinstance(value, str) and how != "a scalar":
            value = np.full(shape, value)
        if "/@" in where:
            attrs[name] = value
        elif value is GROUP:
            h5.create_group(where)
        else:
            h5.create_dataset(where, data=value, dtype=h5py.string_dtype() if isinstance(value, str) else None)


def _item_shape(item, dims) -> tuple:
    return tuple(dims.get(d, 2) if isinstance(d, str) else (d or 2) for d in (item.shape or ()))


def job(capsys, fn, *args, **kwargs) -> tuple[int | str, str]:
    """A command's job through the CLI's guard (what ``trsp`` does after parsing): (exit status or "door", stderr)."""
    import typer

    from trsp_cli.main import _guarded

    try:
        _guarded(fn, *args, **kwargs)
        code = 0
    except Door:
        code = "door"
    except typer.Exit as exc:
        code = exc.exit_code
    return code, capsys.readouterr().err


def _fuzz(work, capsys, base: str, items, dims: dict, run, must_reject, ways) -> list[str]:
    """Every item of ``items`` mutated every way; each run must be one line naming the file
    and the item (exit 2) or get past the door with a valid file; the input never changes."""
    problems = []
    for item in items:
        for how in ways:
            f = work / "m.h5"
            shutil.copy(work / base, f)
            _mutate(f, item.where, how, _item_shape(item, dims))
            before = f.read_bytes()
            code, err = job(capsys, run, f)
            lines = [ln for ln in err.splitlines() if ln.strip()]
            rejected = code == 2 and len(lines) == 1 and "m.h5" in lines[0] and "Traceback" not in err
            if not (rejected or (code == "door" and not must_reject(item, how))) or f.read_bytes() != before:
                problems.append(f"{item.where} {how}: {code} {err.strip()[-300:]}")
            elif rejected and how != "deleted" and item.where not in lines[0] and "/@format" not in item.where:
                problems.append(f"{item.where} {how}: the error does not name the item: {lines[0]}")
    return problems


def _must_reject(item, how) -> bool:
    """A required item missing, or any item of the wrong kind or shape (used by this file or not)."""
    if how == "deleted":
        return item.required
    if how == "a string":
        return item.kind not in ("string", "strings")
    return how in ("a group", "complex", "one more axis", "empty")


P_HOP_ITEMS = ("/frames/p_hop", "/frames/rearranging", "/@p_hop_threshold", "/@rearrangement_kind", "/@duration", "/@lattice_L",
               "/@lattice_spacing", "/@box", "/frames/position", "/particles/position")


def _fit_door(f):
    from trsp_cli.fit_cmd import run_fit

    run_fit([f], f.with_name("o.toml"), quiet=True)


def _paired_door(f):
    from trsp_cli.paired_cmd import run_paired

    run_paired([f], [], f.with_name("o.json"))


@pytest.mark.parametrize("ways", [CI_MUTATIONS, pytest.param(tuple(MUTATIONS), marks=pytest.mark.slow)], ids=["ci", "all"])
def test_every_particle_file_item_in_every_wrong_way(work, capsys, ways):
    # a lattice file with flags; a sustained one with p_hop, no lattice: the items whose use differs between the two
    for base, items in (("particles.h5", PARTICLE_ITEMS), ("p_hop.h5", [it for it in PARTICLE_ITEMS if it.where in P_HOP_ITEMS])):
        problems = _fuzz(work, capsys, base, items, {"K": K, "N": N, "d": 2}, _fit_door, _must_reject, ways)
        assert not problems, "\n".join(problems)
    assert not (work / "o.toml").exists()


@pytest.mark.parametrize("ways", [CI_MUTATIONS, pytest.param(tuple(MUTATIONS), marks=pytest.mark.slow)], ids=["ci", "all"])
def test_every_sweep_file_item_in_every_wrong_way(work, capsys, ways):
    problems = _fuzz(work, capsys, "sweep.h5", PAIRED_ITEMS, {"variant": 2, "temperature": 2, "replica": 12, "lag": 33, "block": 20},
                     _paired_door, _must_reject, ways)  # fmt: skip
    assert not problems, "\n".join(problems)
    assert not (work / "o.json").exists()


@pytest.mark.parametrize(
    "name, edit, words",
    [
        ("tiny box (run file, L = 3)", None, ["DATA", "run_L3.h5", "box", "3 spacings"]),
        ("tiny box (9 particles)", dict(box=np.full(2, 3.0), positions=np.zeros((9, 2)), softness=np.random.default_rng(0).normal(size=(K, 9)),
                                        rearranging=np.zeros((K, 9), bool), types=np.zeros(9, np.int64), lattice=None), ["DATA", "box", "3 spacings"]),
        ("lattice_L not N's lattice", "lattice_L", ["/@lattice_L", "N = 64"]),
    ],
)
def test_inputs_that_used_to_end_in_a_traceback(work, capsys, name, edit, words):
    os.chdir(work)
    if edit is None:
        f = "run_L3.h5"
    elif edit == "lattice_L":
        f = "particles.h5"
        with h5py.File(f, "r+") as h5:
            h5.attrs["lattice_L"] = 7
    else:
        f = "small.h5"
        write_particles(particle_data(**edit), work / f)
    line = assert_one_line(*cli(capsys, "fit", f, "--out", "x.toml"), *words)
    assert "--r-background" not in line


# ----------------------------------------------------------------- 5. paired validates its input


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda w: REPO / "docs" / "results" / "ka_fig12.h5", ["trsp-summary", "not a sweep file"]),
        (lambda w: w / "run.h5", ["trsp-run", "not a sweep file"]),
        (lambda w: w / "particles.h5", ["trsp-particles", "not a sweep file"]),
        (lambda w: w, ["is a folder"]),
        (lambda w: w / "missing.h5", ["no such file"]),
        (lambda w: _truncated(w / "sweep.h5", w / "t.h5"), ["t.h5", "truncated"]),
        (lambda w: _text(w / "notes.h5"), ["notes.h5", "not an HDF5 file"]),
        (lambda w: _text(w / "empty.h5", ""), ["empty.h5", "not an HDF5 file"]),
    ],
    ids=["summary", "run file", "particle file", "folder", "missing", "truncated", "text", "empty"],
)
def test_paired_names_a_file_it_cannot_compare(work, capsys, make, words):
    path = make(work)
    assert_one_line(*cli(capsys, "paired", path), "sweep files", *words)


def _truncated(src: Path, dst: Path) -> Path:
    dst.write_bytes(src.read_bytes()[: src.stat().st_size // 3])
    return dst


def _text(path: Path, content: str = "not data\n") -> Path:
    path.write_text(content)
    return path


@pytest.mark.parametrize("command", ["fit", "to-particles"])
@pytest.mark.parametrize("kind", ["truncated", "text", "folder", "missing", "sweep file"])
def test_fit_and_to_particles_name_a_file_they_cannot_read(work, capsys, command, kind):
    src = work / ("particles.h5" if command == "fit" else "run.h5")
    path = {"truncated": lambda: _truncated(src, work / "t.h5"), "text": lambda: _text(work / "t.h5"), "folder": lambda: work,
            "missing": lambda: work / "t.h5", "sweep file": lambda: work / "sweep.h5"}[kind]()  # fmt: skip
    assert_one_line(*cli(capsys, command, path, "--out", work / "o.x"), str(path))


# ------------------------------------------------------------- 6. messages naming the wrong thing


def test_messages_name_the_users_option_or_item(work, capsys):
    os.chdir(work)
    line = assert_one_line(*cli(capsys, "fit", "particles.h5", "--out", "x.toml", "--before", "100"), "--before", "12 frames")
    assert "/frames/rearranging" not in line
    line = assert_one_line(*cli(capsys, "fit", "particles.h5", "--out", "x.toml", "--at-temperature", "0.7"), "--at-temperature", "does not apply")
    assert "fitted value" not in line
    assert_one_line(*cli(capsys, "paired", "sweep.h5", "--effect", "0"), "--effect")
    assert_one_line(*cli(capsys, "paired", "sweep.h5", "--effect", "-1"), "--effect")
    assert_one_line(*cli(capsys, "fit", "particles.h5", "--out", "x.toml", "--r-background", "2"), "--r-background")  # not an option of fit


def test_zero_variance_softness_is_one_line_naming_it(work, capsys):
    write_particles(particle_data(), work / "flat.h5")
    with h5py.File(work / "flat.h5", "r+") as h5:
        h5["/frames/softness"][...] = 0.3
    assert_one_line(*cli(capsys, "fit", work / "flat.h5", "--out", work / "x.toml"), "/frames/softness", "zero variance")


# --------------------------------------------------------------------- 7. accepted silently


@pytest.mark.parametrize(
    "args, words",
    [
        (["fit", "particles.h5", "--out", "x.toml", "--at-temperature", "nan"], ["--at-temperature", "finite"]),
        (["fit", "particles.h5", "--out", "x.toml", "--at-temperature", "-1"], ["--at-temperature", "> 0"]),
        (["fit", "particles.h5", "--out", "x.toml", "--frame-interval", "2"], ["--frame-interval", "run files"]),
        (["fit", "particles.h5", "--out", "x.toml", "--duration", "3"], ["--duration", "run files"]),
        (["fit", "particles.h5", "--out", "x.toml", "--cluster-shape", "dimer"], ["--cluster-shape", "'site'"]),
        (["fit", "particles.h5", "particles.h5", "--out", "x.toml"], ["DATA", "same file"]),
        (["fit", "particles.h5", "./link.h5", "--out", "x.toml"], ["DATA", "same file"]),
        (["fit", "particles.h5", "copy.h5", "--out", "x.toml"], ["DATA", "copy.h5 is a copy of particles.h5"]),
        (["fit", "run.h5", "converted.h5", "--out", "x.toml"], ["DATA", "same trajectory", "run_id"]),
        (["to-particles", "light.h5", "--out", "x.h5", "--frame-interval", "2"], ["--frame-interval", "does not apply", "light"]),
        (["fit", "light.h5", "--out", "x.toml", "--frame-interval", "2"], ["--frame-interval", "does not apply", "light"]),
        (["to-particles", "light.h5", "--out", "x.h5"], ["light.h5", "/snapshots", "at least 2"]),
        (["paired", "sweep.h5", "sweep.h5"], ["sweep files", "same file"]),
        (["paired", "sweep.h5", "--sigmas", "0"], ["--sigmas"]),
        (["paired", "sweep.h5", "--sigmas", "-2"], ["--sigmas"]),
        (["paired", "sweep.h5", "--sigmas", "nan"], ["--sigmas"]),
        (["paired", "sweep.h5", "--compare", "f=1|f=1"], ["--compare", "with itself"]),
        (["paired", "sweep.h5", "--compare", "f=1 | f=1"], ["--compare", "with itself"]),
        (["paired", "sweep.h5", "--compare", "f=0.2|nope"], ["--compare", "nope"]),
    ],
)
def test_values_once_accepted_silently(work, capsys, args, words):
    (work / "link.h5").symlink_to(work / "particles.h5")
    shutil.copy(work / "particles.h5", work / "copy.h5")
    os.chdir(work)
    assert_one_line(*cli(capsys, *args), *words)


@pytest.mark.parametrize("where, value, words", [("/frames/softness", 1 + 0.5j, ["complex"]), ("/frames/p_hop", np.nan, ["p_hop", "finite"])])
def test_complex_softness_and_nan_p_hop(work, capsys, where, value, words):
    f = work / "p_hop.h5"
    with h5py.File(f, "r+") as h5:
        a = h5[where][()]
        del h5[where]
        h5[where] = np.where(np.arange(a.size).reshape(a.shape) == 5, value, a)
    assert_one_line(*cli(capsys, "fit", f, "--out", work / "x.toml"), where, *words)


#: every numeric option of the three commands, with values it must refuse
BAD_VALUES = {
    ("fit", "--bootstrap"): ["0", "19", "-5", "1e3", "abc", "1000000000"],
    ("fit", "--seed"): ["-1", "x"],
    ("fit", "--before"): ["0", "-1", "1.5", "13"],
    ("fit", "--after"): ["-1", "nan", "12"],
    ("fit", "--at-temperature"): ["nan", "inf", "-inf", "0", "-1", "0.4"],
    ("fit", "--frame-interval"): ["nan", "0", "-1", "1"],
    ("fit", "--duration"): ["nan", "inf", "0", "4"],
    ("fit", "--cluster-shape"): ["hexagon", "", "dimer"],
    ("to-particles", "--frame-interval"): ["nan", "inf", "0", "-1", "1e-12"],
    ("to-particles", "--duration"): ["nan", "inf", "0", "-4"],
    ("to-particles", "--jitter"): ["nan", "inf", "-0.1"],
    ("to-particles", "--seed"): ["-1"],
    ("paired", "--n-bootstrap"): ["0", "9", "-1", "nan", "100000000"],
    ("paired", "--seed"): ["-3"],
    ("paired", "--effect"): ["nan", "inf", "0", "-1", "-2"],
    ("paired", "--sigmas"): ["nan", "inf", "0", "-3"],
}


def test_every_option_is_checked_for_its_class(work, capsys):
    os.chdir(work)
    base = {"fit": ["fit", "particles.h5", "--out", "x.toml"], "to-particles": ["to-particles", "run.h5", "--out", "x.h5"],
            "paired": ["paired", "sweep.h5", "--json", "x.json"]}  # fmt: skip
    problems = []
    for (command, option), values in BAD_VALUES.items():
        for v in values:
            code, err = cli(capsys, *base[command], option, v)
            lines = [ln for ln in err.splitlines() if ln.strip()]
            if not (code == 2 and len(lines) == 1 and option in lines[0] and "Traceback" not in err):
                problems.append(f"{command} {option} {v!r}: {code} {err.strip()[-200:]}")
    assert not problems, "\n".join(problems)
    assert snapshot(work) == snapshot(work) and not any(work.glob("x.*"))


# ------------------------------------------------------------------------ 8. bounds on work


def test_work_and_memory_are_bounded_before_starting(work, capsys, monkeypatch):
    os.chdir(work)
    assert_one_line(*cli(capsys, "fit", "particles.h5", "--out", "x.toml", "--bootstrap", "1000000000"), "--bootstrap", "10,000")
    assert_one_line(*cli(capsys, "paired", "sweep.h5", "--n-bootstrap", "100000000"), "--n-bootstrap", "10,000")
    for command in ("fit", "to-particles"):
        assert_one_line(*cli(capsys, command, "run.h5", "--out", "x.h5", "--frame-interval", "1e-9"), "--frame-interval", "memory", "frames")
    # the fit's bootstrap keeps its replicates' statistics: bounded by the memory there is
    import trsp_fit.pipeline as pl
    import trsp_runfile.resources as res
    from types import SimpleNamespace

    monkeypatch.setattr(pl, "collect", lambda *a, **k: SimpleNamespace(temps=[0.5], total={"XtX": np.zeros(10_000)}))
    monkeypatch.setattr(res, "available_memory", lambda: 10**8)
    assert_one_line(*cli(capsys, "fit", "particles.h5", "--out", "x.toml", "--bootstrap", "5000"), "--bootstrap", "memory", "fewer")
    assert not any(work.glob("x*"))


# ------------------------------------------------------------------ the same promise in trsp plot


def test_plot_draws_a_manifest_whole_or_not_at_all(tmp_path, capsys):
    """A bad entry after a good one (a summary whose tau_chi is negative: a log axis would fail
    deep inside matplotlib) is one line naming the file and the item; nothing is drawn, and
    figures already in the folder stay as they were."""
    for name in ("ka_aging.h5", "ka_fig12.h5"):
        shutil.copy(REPO / "docs" / "results" / name, tmp_path / name)
    with h5py.File(tmp_path / "ka_fig12.h5", "r+") as h5:
        h5["tau_chi"][0, 0] = -1.0
    (tmp_path / "figures.toml").write_text('[[figure]]\nsummary = "ka_aging.h5"\nonly = ["fig8"]\n'
                                           '[[figure]]\nsummary = "ka_fig12.h5"\nonly = ["fig12"]\n')
    (tmp_path / "figs").mkdir()
    (tmp_path / "figs" / "fig8_aging.png").write_text("an earlier figure")
    assert_one_line(*cli(capsys, "plot", tmp_path, "--outdir", tmp_path / "figs"), "ka_fig12.h5", "/tau_chi", "> 0")
    assert snapshot(tmp_path / "figs") == {Path("fig8_aging.png"): b"an earlier figure"}
    assert not [p for p in tmp_path.rglob(".*")]
