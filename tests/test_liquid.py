"""trsp liquid summarize / compare and the MD-vs-TRSP figure (trsp_obs.liquid, liquid_compare, liquid_figure).

Exact checks on hand-made trajectories (every displacement scripted, so Q(t0, t) is known per
origin and particle and is recomputed here by brute force over origins and particles, not
through the code's vectorised path), the pieces of the verdict on numbers worked by hand, the
door (every bad-input class: one line, exit status 2, nothing written), and the figure entry.
No statistics: nothing here can false-alarm.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import h5py
import numpy as np
import pytest

from trsp_obs.liquid import POSITIONS, frame_lags, overlap_time, read_liquid, summarize_liquid
from trsp_obs.liquid_compare import compare, log_ratio, markdown_table, matched_lattice, weighted_slope
from trsp_ref.params import ParameterError

from softness_synthetic import HoppingSystem, write_gsd
from test_bad_input import assert_one_line, cli  # the project's "one line, exit 2" assertion

pytest.importorskip("gsd")

A_CUT = 0.3
from trsp_obs.liquid import _large_positions as _LARGE  # noqa: E402  (the unmutated function, for the mutants)


def _system(seed: int, frames: int, T: float, n: int = 10) -> HoppingSystem:
    """n particles (the last 2 of type B) on sites; A particles jump by 0.5 now and then and
    sometimes jump back (overlap, not persistence: a return counts as unmoved); B particles
    jump every frame (they must not enter Q); thermal = inherent + jitter below a/2 except
    particle 0, whose thermal position is 0.4 off its site in odd frames (so thermal Q differs)."""
    rng = np.random.default_rng(seed)
    L = 4.0
    sites = rng.uniform(0, L, (n, 3))
    inherent = np.empty((frames, n, 3))
    cur = sites.copy()
    for k in range(frames):
        jump = rng.random(n) < 0.15
        jump[-2:] = True
        cur = cur + jump[:, None] * np.array([0.5, 0.0, 0.0])
        back = (~jump) & (rng.random(n) < 0.1)
        cur = cur - back[:, None] * np.array([0.5, 0.0, 0.0])
        inherent[k] = cur
    thermal = inherent + rng.uniform(-0.05, 0.05, inherent.shape)
    thermal[1::2, 0, 1] += 0.4
    typeid = np.r_[np.zeros(n - 2, np.int64), np.ones(2, np.int64)]
    return HoppingSystem(box=np.full(3, L), typeid=typeid, type_names=("A", "B"), time=np.arange(frames) * 2.0,
                         thermal=thermal, inherent=inherent, temperature=T, step=np.arange(frames) * 400, dt=0.005)


def _brute_q(X: np.ndarray, lag: int) -> np.ndarray:
    """Q(t0, lag) for every origin t0, particle by particle."""
    out = []
    for t0 in range(X.shape[0] - lag):
        moved = [np.linalg.norm(X[t0 + lag, i] - X[t0, i]) < A_CUT for i in range(X.shape[1])]
        out.append(np.mean(moved))
    return np.array(out)


@pytest.fixture(scope="module")
def liquid(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("liquid")
    systems = {("0.6", r): _system(10 + r, 31 if r else 33, 0.6) for r in range(3)}  # run 0 longer: cut to 31
    systems.update({("0.7", r): _system(20 + r, 25, 0.7) for r in range(2)})
    paths = {key: write_gsd(s, tmp / f"T{key[0]}_run{key[1]}.gsd") for key, s in systems.items()}
    out = tmp / "liquid.h5"
    info = summarize_liquid(list(paths.values()), out, n_lags=8, n_bootstrap=50, seed=3)
    return systems, paths, out, info


def test_q_and_chi4_are_the_definitions_run_by_run(liquid):
    systems, _, out, info = liquid
    d = read_liquid(out)
    assert info["temperatures"] == [0.6, 0.7] and info["runs"] == [3, 2]
    assert list(d.temperatures) == [0.6, 0.7]
    for i, T in enumerate(("0.6", "0.7")):
        runs = [s for (t, _), s in sorted(systems.items()) if t == T]
        F = min(s.time.size for s in runs)
        lags = frame_lags(F, 8)
        np.testing.assert_array_equal(d.lag_time[i, : lags.size], lags * 2.0)
        assert np.all(np.isnan(d.lag_time[i, lags.size:]))
        n_a = 8
        for p, kind in enumerate(POSITIONS):
            qbar = np.empty((len(runs), lags.size))
            qsq = np.empty_like(qbar)
            for r, s in enumerate(runs):
                X = (s.inherent if kind == "inherent" else s.thermal)[:F, :n_a]
                for j, k in enumerate(lags):
                    q = _brute_q(X, int(k))
                    qbar[r, j], qsq[r, j] = q.mean(), (q * q).mean()
            np.testing.assert_allclose(d.member_q_mean[p, i, : len(runs), : lags.size], qbar, atol=1e-12)
            np.testing.assert_allclose(d.member_q_sq_mean[p, i, : len(runs), : lags.size], qsq, atol=1e-12)
            # chi_4 = N_A (mean within-run scatter + between-run variance, ddof 1): Eq. 32 over runs
            var = np.mean(qsq - qbar**2, axis=0) + np.var(qbar, axis=0, ddof=1)
            np.testing.assert_allclose(d.chi4[p, i, : lags.size], n_a * var, atol=1e-12)
            np.testing.assert_allclose(d.Q[p, i, : lags.size], qbar.mean(axis=0), atol=1e-12)
            j = int(np.argmax(n_a * var))
            assert d.chi4_star[p, i] >= n_a * var[j] - 1e-12
            if 0 < j < lags.size - 1:
                assert d.peak_resolved[p, i] == 1 and d.lag_time[i, j - 1] <= d.tau_chi[p, i] <= d.lag_time[i, j + 1]
    # thermal and inherent differ (particle 0), so the positions axis is not a copy
    assert not np.allclose(d.member_q_mean[0], d.member_q_mean[1], equal_nan=True)
    assert read_liquid(out).attrs["n_large"] == 8


def _largest_q_error(out: Path, systems: dict) -> float:
    """max |member_q_mean - brute force| over positions, temperatures, runs and lags."""
    d = read_liquid(out)
    worst = 0.0
    for i, T in enumerate(("0.6", "0.7")):
        runs = [s for (t, _), s in sorted(systems.items()) if t == T]
        F = min(s.time.size for s in runs)
        lags = frame_lags(F, 8)
        for p, kind in enumerate(POSITIONS):
            for r, s in enumerate(runs):
                X = (s.inherent if kind == "inherent" else s.thermal)[:F, :8]
                brute = [_brute_q(X, int(k)).mean() for k in lags]
                worst = max(worst, float(np.max(np.abs(d.member_q_mean[p, i, r, : lags.size] - brute))))
    return worst


@pytest.mark.parametrize("mutant", ["every_species", "positions_swapped", "lag_off_by_one"])
def test_mutants_are_caught(liquid, tmp_path, monkeypatch, mutant):
    """The exact check above rejects a summary that takes B particles too, swaps the two kinds of
    positions, or shifts the lags by one frame (house rule 3)."""
    import trsp_md.analysis as an

    import trsp_obs.liquid as lq

    systems, paths, _, _ = liquid
    if mutant == "every_species":  # the last N_A particles: the two B ones among them
        monkeypatch.setattr(lq, "_large_positions", lambda traj, large, inh, F: _LARGE(traj, np.arange(traj.n_particles)[-large.size:], inh, F))
    elif mutant == "positions_swapped":
        monkeypatch.setattr(lq, "_large_positions", lambda traj, large, inh, F: _LARGE(traj, large, not inh, F))
    else:
        orig = an.overlap_origin_means
        monkeypatch.setattr(an, "overlap_origin_means", lambda X, lags, a=0.3: orig(X, np.asarray(lags) + 1, a=a))
    out = tmp_path / "m.h5"
    lq.summarize_liquid(list(paths.values()), out, n_lags=8, n_bootstrap=0)
    assert _largest_q_error(out, systems) > 0.02


def test_runs_are_cut_to_the_shortest_and_recorded(liquid):
    _, _, out, _ = liquid
    with h5py.File(out) as h5:
        assert h5["n_frames_used"][()].tolist() == [31, 25]
        assert h5["member_n_frames"][0].tolist() == [33, 31, 31]
        assert h5["n_origins"][0, 0] == 31 - 1
        src = [s.decode() for s in h5["member_source"][0]]
        assert all("sha256:" in s for s in src)


def test_tau_alpha_is_the_1_over_e_crossing_of_q():
    lags = np.array([1.0, 2.0, 4.0, 8.0])
    q = np.array([[0.9, 0.6, 0.3, 0.1], [0.9, 0.6, 0.3, 0.1]])
    tau, err = overlap_time(lags, q, np.random.default_rng(0), 20)
    frac = (0.6 - math.exp(-1)) / (0.6 - 0.3)
    assert tau == pytest.approx(math.exp(math.log(2) + frac * (math.log(4) - math.log(2))))
    assert err == pytest.approx(0.0)
    tau, err = overlap_time(lags, np.array([[0.9, 0.8, 0.7, 0.5], [0.9, 0.8, 0.3, 0.2]]), np.random.default_rng(0), 50)
    assert math.isfinite(tau) and err == math.inf  # some resamples never reach 1/e


def test_matched_lattice_and_ratios():
    assert matched_lattice(800) == 9 and matched_lattice(1000) == 10 and matched_lattice(240) == 6 and matched_lattice(8000) == 20
    r = log_ratio(2.0, 0.2, 1.0, 0.1)
    assert r["ratio"] == 2.0 and r["se_ln"] == pytest.approx(math.hypot(0.1, 0.1))
    assert r["z"] == pytest.approx(math.log(2) / math.hypot(0.1, 0.1)) and r["within_factor2"]
    r = log_ratio(1.0, 0.01, 8.0, 0.08)
    assert not r["within_factor2"] and r["z_factor2"] > 2 and "significant" in r["verdict"]
    assert log_ratio(1.0, 0.1, 1.0, 0.1, (True, False))["within_factor2"] is None
    x = np.array([1.0, 2.0, 3.0])
    s = weighted_slope(x, 0.5 + 2.0 * x, np.array([0.1, 0.1, 0.2]))
    assert s["slope"] == pytest.approx(2.0) and s["intercept"] == pytest.approx(0.5) and s["chi2_dof"] == pytest.approx(0.0, abs=1e-20)
    w = 1 / np.array([0.1, 0.1, 0.2]) ** 2
    sxx = (w * x * x).sum() - (w * x).sum() ** 2 / w.sum()
    assert s["slope_se"] == pytest.approx(1 / math.sqrt(sxx))


def _trsp_summary(path: Path, T: list, L: int, tau_chi: list, chi4: list, q_rows) -> Path:
    """A minimal TRSP summary (the items trsp liquid compare reads): one variant, given values."""
    nT, R, J = len(T), q_rows.shape[1], q_rows.shape[2]
    with h5py.File(path, "w") as h5:
        h5.attrs.update(format="trsp-summary", format_version="1.0", N=L**3, L=L, dim=3, spacing=1.1, illustrative=0)
        h5["variant"] = np.array(["base"], dtype=object).astype(h5py.string_dtype())
        h5["temperature"] = np.array(T, dtype=float)
        h5["lag_time"] = np.broadcast_to(np.geomspace(1, 100, J), (1, nT, J)).copy()
        h5["member_q_mean"] = q_rows[None]
        h5["member_done"] = np.ones((1, nT, R), np.int8)
        for k in ("Q", "Q_err", "chi4", "chi4_err"):
            h5[k] = np.full((1, nT, J), 0.5)
        vals = dict(tau_chi=tau_chi, tau_chi_err=[0.1 * t for t in tau_chi], chi4_star=chi4, chi4_star_err=[0.1 * c for c in chi4],
                    xi4_oz=[1.0] * nT, xi4_oz_err=[0.1] * nT, xi4_block=[1.0] * nT, xi4_block_err=[0.1] * nT,
                    n_replicas=[R] * nT, peak_resolved=[1] * nT)
        for k, v in vals.items():
            h5[k] = np.array(v, dtype=float)[None]
    return path


def test_compare_reports_every_ratio_and_the_slopes(liquid, tmp_path):
    _, _, out, _ = liquid
    d = read_liquid(out)
    J = 6
    q = np.broadcast_to(np.linspace(0.95, 0.05, J), (3, 2, J)).copy()
    trsp = _trsp_summary(tmp_path / "t.h5", [0.6, 0.7, 0.9], 3, [20.0, 5.0, 1.0], [3.0, 2.0, 1.0], q)
    v = compare(out, [trsp], n_bootstrap=20)
    e = v["trsp"][0]
    assert e["L"] == 3 and not e["matched"] and v["matched_lattice"]["L"] == 2  # 8 large particles: 2^3
    assert [r["T"] for r in e["rows"]] == [0.6, 0.7]  # T = 0.9 has no MD
    p = POSITIONS.index("inherent")
    r0 = e["rows"][0]
    assert r0["tau"]["ratio"] == pytest.approx(20.0 / d.tau_alpha[p, 0])
    assert r0["chi4_star"]["ratio"] == pytest.approx(3.0 / d.chi4_star[p, 0])
    assert e["chi4_growth"]["trsp"]["slope"] == pytest.approx(math.log(3.0 / 2.0) / (1 / 0.6 - 1 / 0.7))
    assert "| 0.60 |" in markdown_table(v)
    json.dumps(v)  # JSON-ready


def test_cli_writes_the_verdict_and_the_figure(liquid, tmp_path):
    from typer.testing import CliRunner

    from trsp_cli.main import app

    _, _, out, _ = liquid
    J = 6
    q = np.broadcast_to(np.linspace(0.95, 0.05, J), (2, 2, J)).copy()
    folder = tmp_path / "res"
    folder.mkdir()
    _trsp_summary(folder / "t.h5", [0.6, 0.7], 2, [20.0, 5.0], [3.0, 2.0], q)
    (folder / "md.h5").write_bytes(Path(out).read_bytes())
    res = CliRunner().invoke(app, ["liquid", "compare", str(folder / "md.h5"), str(folder / "t.h5"), "--json",
                                   str(tmp_path / "v.json"), "--markdown", str(tmp_path / "v.md"), "--bootstrap", "10"])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "v.json").read_text())["format"] == "trsp-liquid-verdict"
    assert (tmp_path / "v.md").read_text().startswith("**t.h5**")
    (folder / "figures.toml").write_text('[[figure]]\nliquid = "md.h5"\ntrsp = ["t.h5"]\nname = "fig_liquid.png"\n')
    res = CliRunner().invoke(app, ["plot", str(folder), "--outdir", str(tmp_path / "figs")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "figs" / "fig_liquid.png").stat().st_size > 10_000


@pytest.mark.parametrize("case", ["one_run", "no_inherent", "bad_a", "exists", "not_liquid", "no_common_T", "bad_positions",
                                  "bad_manifest"])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(liquid, tmp_path, capsys, case):
    systems, paths, out, _ = liquid
    t06 = [str(p) for (T, _), p in sorted(paths.items()) if T == "0.6"]
    target = tmp_path / "new.h5"
    if case == "one_run":
        args, target = ["liquid", "summarize", t06[0], "--out", str(target)], target
    elif case == "no_inherent":
        p = write_gsd(systems[("0.7", 0)], tmp_path / "plain.gsd", inherent=False)
        args = ["liquid", "summarize", str(p), t06[0], "--out", str(target)]
    elif case == "bad_a":
        args = ["liquid", "summarize", *t06, "--out", str(target), "--a", "-1"]
    elif case == "exists":
        target.write_text("keep")
        args = ["liquid", "summarize", *t06, "--out", str(target)]
    elif case == "not_liquid":
        args = ["liquid", "compare", t06[0], str(out), "--json", str(target)]
    elif case == "no_common_T":
        q = np.full((1, 2, 4), 0.5)
        t = _trsp_summary(tmp_path / "t.h5", [0.9], 3, [1.0], [1.0], q)
        args = ["liquid", "compare", str(out), str(t), "--json", str(target)]
    elif case == "bad_positions":
        args = ["liquid", "compare", str(out), str(out), "--json", str(target), "--positions", "both"]
    else:
        folder = tmp_path / "res"
        folder.mkdir()
        (folder / "figures.toml").write_text('[[figure]]\nliquid = "md.h5"\ntrsp = "t.h5"\nname = "f.png"\n')
        args, target = ["plot", str(folder), "--outdir", str(tmp_path / "figs")], tmp_path / "figs" / "f.png"
    before = target.read_text() if target.exists() else None
    assert_one_line(*cli(capsys, *args))
    assert (target.read_text() if target.exists() else None) == before


def test_summarize_refuses_parameters_before_reading(tmp_path):
    with pytest.raises(ParameterError, match="--lags"):
        summarize_liquid([tmp_path / "a.gsd"], tmp_path / "o.h5", n_lags=2)


def test_measured_checks_measure_lam_max_beyond_the_bound():
    """docs/results/ka_measured_checks.check reports lam_max (K_Delta K'^-1, Eq. 19) also for a set
    whose kick breaks detailed balance, which the oracle refuses: measured on a smaller kick and
    scaled back (K_Delta goes with sigma^2).  The fitted 4-T set's 1.49 (docs/liquid.md) rests on this.
    Deterministic (no randomness): a wrong scaling exponent or a probe that leaks into the answer
    moves lam_max by >= 6%, far beyond the 1e-9 tolerance."""
    import sys
    import tomllib

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "docs" / "results"))
    from ka_measured_checks import check

    d = tomllib.loads((Path(__file__).resolve().parents[1] / "examples" / "ka_measured.toml").read_text())
    base = check(d, 0.55, L=6)  # a small lattice: the check is dense
    assert base["valid"] and base["lam_max"] < 1
    f = math.sqrt(1.3 / base["lam_max"])  # a kick 1.3 times over the bound
    big = dict(d, kick=dict(d["kick"], sigma0=d["kick"]["sigma0"] * f, sigma1=d["kick"]["sigma1"] * f))
    row = check(big, 0.55, L=6)
    assert not row["valid"] and "kick" in row["error"]
    assert row["lam_max"] == pytest.approx(1.3, rel=1e-9)
    # invalid for another reason (rho indefinite): no lam_max is claimed
    bad = check(dict(d, kick=dict(d["kick"], rho1=50.0)), 0.55, L=6)
    assert not bad["valid"] and "lam_max" not in bad
