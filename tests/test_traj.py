"""Trajectory readers (trsp_traj): GSD with and without the trsp logs, LAMMPS dumps in every
coordinate convention, 2D and 3D, and every class of bad trajectory (one error naming the file)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from softness_synthetic import hopping_system, write_gsd, write_lammps_dump
from trsp_traj import TrajectoryError, detect_format, open_trajectory


def _unwrapped(traj, inherent=False):
    return np.stack(list(traj.iter_unwrapped(inherent=inherent)))


@pytest.mark.parametrize("dim", [2, 3])
def test_gsd_contract_file(tmp_path, dim):
    s = hopping_system(n=20, dim=dim, frames=6, seed=dim)
    with open_trajectory(write_gsd(s, tmp_path / "t.gsd")) as t:
        assert (t.format, t.dim, t.n_frames, t.n_particles) == ("gsd", dim, 6, 20)
        assert t.type_names == ("A", "B") and np.array_equal(t.typeid, s.typeid)
        np.testing.assert_allclose(t.box, s.box)
        np.testing.assert_allclose(t.time, s.time)
        assert t.temperature == s.temperature and t.has_inherent and t.time_source == "log/trsp/time"
        # positions: float32 in the file, so equal to ~1e-6
        np.testing.assert_allclose(_unwrapped(t), s.thermal, atol=2e-5)
        np.testing.assert_allclose(_unwrapped(t, inherent=True), s.inherent, atol=2e-5)
        p = t.positions(3)
        assert np.all(p >= 0) and np.all(p < t.box)


def test_plain_hoomd_file_needs_dt_and_takes_the_temperature_given(tmp_path):
    s = hopping_system(n=10, frames=4)
    path = write_gsd(s, tmp_path / "plain.gsd", trsp_logs=False, inherent=False)
    with pytest.raises(TrajectoryError, match="--dt"):
        open_trajectory(path)
    with open_trajectory(path, dt=s.dt, temperature=0.7) as t:
        np.testing.assert_allclose(t.time, s.step * s.dt)
        assert t.temperature == 0.7 and not t.has_inherent and "step x dt" in t.time_source


@pytest.mark.parametrize("dim", [2, 3])
@pytest.mark.parametrize("convention", ["images", "unwrapped", "wrapped"])
def test_lammps_dump_matches_the_system(tmp_path, dim, convention):
    s = hopping_system(n=16, dim=dim, frames=5, seed=7, hop=0.4)
    path = write_lammps_dump(s, tmp_path / "t.lammpstrj", images=convention == "images", unwrapped=convention == "unwrapped")
    with open_trajectory(path, dt=s.dt, temperature=1.0) as t:
        assert t.format == "lammps-dump" and t.dim == dim and t.type_names == ("1", "2")
        np.testing.assert_array_equal(t.typeid, s.typeid)
        np.testing.assert_allclose(t.time, s.time)
        u = _unwrapped(t)
        if convention == "wrapped":  # followed by the minimum image: equal up to one fixed image shift
            u = u - (u[0] - s.thermal[0])
        np.testing.assert_allclose(u, s.thermal, atol=1e-4)
        assert not t.has_inherent


@settings(max_examples=10)
@given(st.integers(2, 3), st.integers(0, 10_000))
def test_gsd_and_lammps_give_the_same_frames(tmp_path_factory, dim, seed):
    s = hopping_system(n=8, dim=dim, frames=3, seed=seed, hop=0.5)
    d = tmp_path_factory.mktemp("same")
    with open_trajectory(write_gsd(s, d / "a.gsd")) as g, open_trajectory(write_lammps_dump(s, d / "a.dump"), dt=s.dt) as ld:
        for k in range(3):
            a, b = g.positions(k), ld.positions(k)
            diff = np.abs(a - b)
            diff = np.minimum(diff, g.box - diff)  # a coordinate at 0 may read as L on the other side
            assert diff.max() < 1e-4


def test_detect_format(tmp_path):
    s = hopping_system(n=4, frames=2)
    assert detect_format(write_gsd(s, tmp_path / "x.data")) == "gsd"  # content, not the name
    assert detect_format(write_lammps_dump(s, tmp_path / "y.gsd")) == "lammps-dump"


# ------------------------------------------------------------------ bad trajectories, by class


def _bad(path, match, **kw):
    with pytest.raises(TrajectoryError, match=match) as err:
        open_trajectory(path, **kw).close()
    assert str(path) in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("content,match", [
    (b"", "is empty"), (b"hello, not a trajectory\n", "unknown file format"),
    (b"\x89HDF\r\n\x1a\n" + b"\0" * 64, "unknown file format"), (b"ITEM: TIMESTEP\nnot a number\n", "not a readable LAMMPS dump"),
])
def test_unknown_or_broken_format(tmp_path, content, match):
    p = tmp_path / "f.bin"
    p.write_bytes(content)
    _bad(p, match, dt=1.0)


def test_missing_file_and_folder(tmp_path):
    _bad(tmp_path / "nope.gsd", "no such file")
    _bad(tmp_path, "is a directory")


def test_truncated_gsd(tmp_path):
    s = hopping_system(n=6, frames=3)
    p = write_gsd(s, tmp_path / "t.gsd")
    p.write_bytes(p.read_bytes()[:200])
    _bad(p, "GSD")


@pytest.mark.parametrize("boundary", ["ff pp pp", "pp ss pp", "pp pp fm"])
def test_non_periodic_lammps_box(tmp_path, boundary):
    s = hopping_system(n=6, frames=3)
    _bad(write_lammps_dump(s, tmp_path / "t.dump", boundary=boundary), "not periodic", dt=s.dt)


def _rewrite_boxes(path, boxes):
    """Rewrite a GSD file with frame k's box set to boxes(k) (None: unchanged)."""
    import gsd.hoomd

    frames = list(gsd.hoomd.open(str(path)))
    for k, fr in enumerate(frames):
        if boxes(k) is not None:
            fr.configuration.box = boxes(k)
    with gsd.hoomd.open(str(path), "w") as f:
        for fr in frames:
            f.append(fr)
    return path


def test_changing_box(tmp_path):
    s = hopping_system(n=6, frames=3)
    L = s.box
    _bad(_rewrite_boxes(write_gsd(s, tmp_path / "t.gsd"), lambda k: [L[0] * 1.01, L[1], L[2], 0, 0, 0] if k == 2 else None), "box changes")


def test_tilted_box(tmp_path):
    s = hopping_system(n=6, frames=2)
    L = s.box
    _bad(_rewrite_boxes(write_gsd(s, tmp_path / "t.gsd"), lambda k: [L[0], L[1], L[2], 0.1, 0, 0]), "triclinic")


def test_unequal_frame_spacing(tmp_path):
    s = hopping_system(n=6, frames=4)
    s.time[3] += 0.5
    _bad(write_gsd(s, tmp_path / "t.gsd"), "not equally spaced")
    s = hopping_system(n=6, frames=4)
    s.step[2] += 3
    _bad(write_lammps_dump(s, tmp_path / "t.dump"), "not equally spaced", dt=s.dt)


def test_nan_positions(tmp_path):
    s = hopping_system(n=6, frames=3)
    s.thermal[1, 2, 0] = np.nan
    with open_trajectory(write_gsd(s, tmp_path / "t.gsd")) as t:
        t.positions(0)
        with pytest.raises(TrajectoryError, match="particle 2 is not finite"):
            t.positions(1)
        with pytest.raises(TrajectoryError, match="not finite"):
            list(t.iter_unwrapped())
    s = hopping_system(n=6, frames=3)
    s.inherent[2, 4, 1] = np.inf
    with open_trajectory(write_gsd(s, tmp_path / "u.gsd")) as t:
        with pytest.raises(TrajectoryError, match="inherent position of particle 4 is not finite"):
            t.positions(2, inherent=True)


def test_inconsistent_images_or_frames_too_far_apart(tmp_path):
    s = hopping_system(n=6, frames=3, hop=0.0)
    s.thermal[2, 1] += 0.6 * s.box  # a jump of more than L/2 between frames
    with open_trajectory(write_gsd(s, tmp_path / "t.gsd")) as t:
        with pytest.raises(TrajectoryError, match="half a box length"):
            list(t.iter_unwrapped())


def test_particle_count_or_types_change(tmp_path):
    s = hopping_system(n=6, frames=3)
    p = write_lammps_dump(s, tmp_path / "t.dump")
    text = p.read_text().split("ITEM: TIMESTEP")
    text[2] = text[2].replace("NUMBER OF ATOMS\n6", "NUMBER OF ATOMS\n5", 1)
    p.write_text("ITEM: TIMESTEP".join(text))
    _bad(p, "number of atoms changes|not a readable", dt=s.dt)


def test_dump_without_types_or_coordinates(tmp_path):
    p = tmp_path / "t.dump"
    p.write_text("ITEM: TIMESTEP\n0\nITEM: NUMBER OF ATOMS\n1\nITEM: BOX BOUNDS pp pp pp\n0 1\n0 1\n0 1\nITEM: ATOMS id x y z\n1 0.1 0.2 0.3\n")
    _bad(p, "no 'type' column", dt=1.0)
    p.write_text("ITEM: TIMESTEP\n0\nITEM: NUMBER OF ATOMS\n1\nITEM: BOX BOUNDS pp pp pp\n0 1\n0 1\n0 1\nITEM: ATOMS id type vx\n1 1 0.3\n")
    _bad(p, "no coordinate columns", dt=1.0)
