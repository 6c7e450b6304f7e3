"""trsp fit: the particle-data format, bad input (clear errors, clear warnings), the commands."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import h5py
import numpy as np
import pytest

from trsp_fit import FitInputError, FitOptions, ParticleData, ParticleFileError, fit, read_particles, runfile_to_particles, write_particles
from trsp_fit.pipeline import collect, estimate
from trsp_fit.roundtrip import simulate_set

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def lattice_runs(tmp_path_factory):
    """Two small plaquette runs (2D L = 8)."""
    return simulate_set("plaquette", tmp_path_factory.mktemp("fit_bad"), L=8, replicas=2, events=400, seed=3)


@pytest.fixture(scope="module")
def particles(lattice_runs):
    return [runfile_to_particles(f) for f in lattice_runs]


def _opts(**kw):
    return FitOptions(**{"bootstrap": 20, **kw})


def test_particle_file_round_trip(particles, tmp_path):
    p = tmp_path / "a.h5"
    write_particles(particles[0], p)
    back = read_particles(p)
    for key in ("time", "softness", "rearranging", "positions", "n_rearrangements"):
        assert np.array_equal(getattr(back, key), getattr(particles[0], key)), key
    assert back.kind == "instantaneous" and back.duration == 4.0 and back.cluster_shape == "plaquette"


@pytest.mark.parametrize(
    "item, expect",
    [("/frames/softness", "/frames/softness"), ("/frames/rearranging", "rearrangement indicator"), ("temperature", "/@temperature")],
)
def test_missing_fields_are_named(particles, tmp_path, item, expect):
    p = tmp_path / "b.h5"
    write_particles(particles[0], p)
    with h5py.File(p, "r+") as h5:
        if item.startswith("/"):
            del h5[item]
        else:
            del h5.attrs[item]
    with pytest.raises(ParticleFileError, match=expect.replace("/", ".")):
        read_particles(p)


def test_p_hop_indicator_with_threshold(particles, tmp_path):
    p = tmp_path / "c.h5"
    write_particles(particles[0], p)
    with h5py.File(p, "r+") as h5:
        flags = h5["/frames/rearranging"][()]
        del h5["/frames/rearranging"]
        h5["/frames/p_hop"] = np.where(flags > 0, 0.5, 0.1)
    assert np.array_equal(read_particles(p).rearranging, particles[0].rearranging)


def test_warnings_in_the_report(particles):
    """Too few rearrangements in edge bins, two temperatures only: warnings, not failures."""
    hot = replace(particles[1], temperature=1.2)
    res = fit([particles[0], hot], _opts())
    text = " ".join(res.report["warnings"])
    assert "fewer than 10 rearrangements" in text
    assert any("too few temperatures for Eqs. 27-28" in w and "<S>(T): 2 (" in w for w in res.report["warnings"])
    assert res.params.temperature is None


def test_non_gaussian_softness_is_reported(particles):
    skewed = [replace(p, softness=np.exp(p.softness)) for p in particles]
    res = fit(skewed, _opts())
    stats = res.report["softness_moments"]["T=1"]
    assert stats["skewness"] > 0.5
    assert any("far from Gaussian: skewness" in w for w in res.report["warnings"])


def test_duration_needs_frames_close_enough(particles):
    """Sustained data whose rearrangements last one frame: the duration is not resolved (warning)."""
    sus = [replace(p, kind="sustained", duration=None, n_rearrangements=None) for p in particles]
    col = collect(sus, _opts())
    assert col.duration_info["value"] == pytest.approx(1.0, rel=0.2)
    assert any("frames too far apart to resolve the duration" in w for w in col.warnings)


def test_too_few_rearrangements_is_an_error(particles):
    quiet = replace(particles[0], rearranging=np.zeros_like(particles[0].rearranging),
                    n_rearrangements=np.zeros_like(particles[0].n_rearrangements))
    with pytest.raises(FitInputError, match="too few rearrangements"):
        fit([quiet], _opts())


def test_mixed_systems_are_refused(particles):
    other = replace(particles[1], box=particles[1].box * 2)
    with pytest.raises(ParticleFileError, match="not the same system"):
        fit([particles[0], other], _opts())


def test_cli_fit_and_convert(lattice_runs, tmp_path):
    """`trsp to-particles` and `trsp fit` (bad input: one line, exit 2); the fit job in-process."""
    from trsp_cli.fit_cmd import run_fit

    run = [sys.executable, "-m", "trsp_cli.main"]
    part = tmp_path / "p.h5"
    r = subprocess.run(run + ["to-particles", str(lattice_runs[0]), "-o", str(part), "--jitter", "0.02"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert read_particles(part).lattice == {"L": 8, "spacing": 1.0, "on_lattice": False}
    bad = tmp_path / "not.h5"
    bad.write_text("no")
    out = tmp_path / "fitted.toml"
    r = subprocess.run(run + ["fit", str(bad), "-o", str(out)], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "not an HDF5 file" in r.stderr
    paths = run_fit([lattice_runs[1]], out, bootstrap=20, quiet=True)
    assert out.exists() and out.with_suffix(".json").exists() and (tmp_path / "fitted_plots" / "sigma_delta.png") in paths["plots"]
