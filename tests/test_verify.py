"""trsp verify: the battery's model side, its statistics, the command line and its exit statuses.

Statistical claims (false-alarm rate, power) are measured in tests/test_verify_calibration.py
(not in CI) and tests/test_verify_mutants.py (CI: every mutant fails, the correct
implementations pass).  Everything here runs on small lattices with fixed seeds.
"""

from __future__ import annotations

import json
import math
import shutil
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from trsp_ref.params import dumps_toml, params_from_dict
from trsp_verify import VerifyInputError, load_runs, verify
from trsp_verify import stats
from trsp_verify.model_side import ModelSide

REPO = Path(__file__).resolve().parents[1]
SMALL = {"lattice": {"dim": 2, "L": 5}}


def _simulate(tmp_path: Path, name: str, seed: int, events: int = 1500, params=SMALL, **kw) -> Path:
    """A run file written by `trsp simulate` (trsp_fast)."""
    from trsp_fast.run_job import simulate_to_file as run_simulate

    cfg = tmp_path / "params.toml"
    cfg.write_text(dumps_toml(params_from_dict(params)))
    out = tmp_path / name
    run_simulate(cfg, out, events=events, seed=seed, progress=False, **kw)
    return out


@pytest.fixture(scope="module")
def fast_runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fast")
    return [_simulate(folder, f"run_{k}.h5", seed=40 + k) for k in range(3)]


# ----------------------------------------------------------------------- model side


@pytest.mark.parametrize(
    "params",
    [
        {"lattice": {"dim": 3, "L": 3}},
        {"lattice": {"dim": 2, "L": 4}, "cluster": {"shape": "dimer"}},
    ],
)
def test_translated_operators_are_the_oracles(params):
    """The per-orientation frame, translated to an anchor, gives that cluster's oracle operators."""
    side = ModelSide(params_from_dict(params))
    N = side.N
    rng = np.random.default_rng(0)
    for k in rng.choice(side.n_clusters, size=6, replace=False):
        o, a = divmod(int(k), N)
        f = side.frames[o]
        idx = side.translate(np.arange(N), [a])[0]
        ops = side.model.kick_operators(int(k))
        assert np.array_equal(np.sort(idx[np.flatnonzero(np.isin(np.arange(N), side.clusters[o * N]))]), np.sort(ops.sites))
        S = side.model.sample_equilibrium(rng)
        mean = ops.H @ (ops.mu_prime - S)
        np.testing.assert_allclose(f.kick_mean(S[idx[f.cols]][None])[0], mean[idx[f.check]], atol=1e-12)
        np.testing.assert_allclose(ops.mu_prime[idx[f.near]], f.mu_near, atol=1e-12)
        KD = ops.K_Delta[np.ix_(idx[f.check], idx[f.check])]
        np.testing.assert_allclose(f.chol_check @ f.chol_check.T, KD, atol=1e-12)


#: truncated models on lattices small enough for the dense oracle (radii where the truncated
#: precision stays positive definite)
PERIODIC_CASES = [
    ({"lattice": {"dim": 2, "L": 12}}, 3.5, 5.6),
    ({"lattice": {"dim": 2, "L": 10}, "cluster": {"shape": "dimer"}}, 2.0, 5.6),
    ({"lattice": {"dim": 3, "L": 6}, "cluster": {"shape": "dimer"}}, 1.5, 4.5),
]


@pytest.mark.parametrize("params, kick_radius, precision_radius", PERIODIC_CASES,
                         ids=["2d-plaquette-L12", "2d-dimer-L10", "3d-dimer-L6"])
def test_periodic_side_equals_the_dense_oracle(params, kick_radius, precision_radius):
    """The large-lattice model side (kick window + FFT, no N x N matrix) equals the dense oracle's
    side operator by operator, to 1e-10, where both run."""
    from trsp_verify.periodic_side import PeriodicModelSide

    p = params_from_dict(params)
    dense = ModelSide(p, kick_radius, precision_radius)
    per = PeriodicModelSide(p, kick_radius, precision_radius)
    np.testing.assert_allclose(per.K_row, dense.K_row, atol=1e-10)
    assert (per.mean, per.A0, per.gamma0, per.delta0) == pytest.approx((dense.mean, dense.A0, dense.gamma0, dense.delta0), rel=1e-12)
    rng = np.random.default_rng(5)
    S = dense.model.sample_equilibrium(rng)
    for fd, fp in zip(dense.frames, per.frames):
        assert np.array_equal(fd.support, fp.support) and np.array_equal(fd.check, fp.check)
        assert np.array_equal(fd.near, fp.near)
        np.testing.assert_allclose(fp.kick_mean(S[fp.cols][None]), fd.kick_mean(S[fd.cols][None]), atol=1e-10)
    # the replay's route to the kick mean (the periodic side's through Lambda_t by FFT), at several anchors
    anchors = np.array([0, 1, p.N // 2, p.N - 1])
    states = np.stack([S, dense.model.sample_equilibrium(rng), S, S[::-1].copy()])
    for o in range(per.n_orientations):
        np.testing.assert_allclose(per.kick_means(o, states, anchors), dense.kick_means(o, states, anchors), atol=1e-10)
    for fd, fp in zip(dense.frames, per.frames):
        np.testing.assert_allclose(fp.chol_check, fd.chol_check, atol=1e-10)
        np.testing.assert_allclose(fp.chol_near, fd.chol_near, atol=1e-10)
        np.testing.assert_allclose(fp.mu_near, fd.mu_near, atol=1e-10)
        assert (fp.sbar_mean, fp.sbar_var) == pytest.approx((fd.sbar_mean, fd.sbar_var), abs=1e-10)
    X = rng.standard_normal((3, p.N))
    assert per.inverse_quadratic(X) == pytest.approx(dense.inverse_quadratic(X), rel=1e-10)
    assert per.one_K_one() == pytest.approx(dense.one_K_one(), rel=1e-10)
    s = np.linspace(-3, 1, 9)
    np.testing.assert_allclose(per.observed_rate(s), dense.observed_rate(s), rtol=1e-10)
    assert per.mean_total_rate() == pytest.approx(dense.mean_total_rate(), rel=1e-10)
    for (r1, js1, c1), (r2, js2, c2) in zip(per.shells(), dense.shells()):
        assert r1 == r2 and np.array_equal(js1, js2) and c1 == pytest.approx(c2, abs=1e-10)
    td, tp = dense.truncation_distance(), per.truncation_distance()
    for key in td:
        assert tp[key] == pytest.approx(td[key], rel=1e-8, abs=1e-14), key


def test_observed_rate_is_the_observed_law():
    """Untruncated model: E[participation rate | S_i = s] = A exp(gamma s - delta s^2) / duration (Eq. D2)."""
    p = params_from_dict(SMALL)
    side = ModelSide(p)
    s = np.linspace(-4, 2, 13)
    A, g, d = side.model.rates.observed
    np.testing.assert_allclose(side.observed_rate(s), A * np.exp(g * s - d * s * s) / p.rates.duration, rtol=1e-10)


def test_vectorized_rates_are_the_oracles():
    side = ModelSide(params_from_dict(SMALL))
    S = side.model.sample_equilibrium(np.random.default_rng(1))
    np.testing.assert_allclose(side.rates_of_states(S[None])[0], side.model.cluster_rates(S), rtol=1e-13)


def test_mean_total_rate_matches_monte_carlo():
    side = ModelSide(params_from_dict(SMALL))
    rng = np.random.default_rng(2)
    S = np.array([side.model.sample_equilibrium(rng) for _ in range(4000)])
    R = side.rates_of_states(S).sum(axis=1)
    assert abs(R.mean() - side.mean_total_rate()) < 5 * R.std() / math.sqrt(R.size)


# ----------------------------------------------------------------------- statistics


def test_holm_matches_the_textbook_example():
    rejected, adjusted = stats.holm([0.01, 0.04, 0.03, 0.005], alpha=0.05)
    assert rejected == [True, False, False, True]
    np.testing.assert_allclose(adjusted, [0.03, 0.06, 0.06, 0.02])


def test_hotelling_and_regression_reject_a_shift_and_accept_noise():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((40, 3))
    assert stats.hotelling_zero_mean(x)[1] > 1e-3
    assert stats.hotelling_zero_mean(x + 1.0)[1] < 1e-6
    X = np.column_stack([np.ones(500), rng.standard_normal(500)])
    Z = rng.standard_normal((500, 2))
    assert stats.regression_chi2(X.T @ X, X.T @ Z)[1] > 1e-3
    assert stats.regression_chi2(X.T @ X, X.T @ (Z + 0.5 * X[:, 1:]))[1] < 1e-6


def test_covariance_lr_detects_ten_percent_variance():
    rng = np.random.default_rng(4)
    Z = rng.standard_normal((20000, 4))
    assert stats.covariance_identity_lr(Z.T @ Z, 20000)[1] > 1e-3
    Z2 = Z * math.sqrt(1.1)
    assert stats.covariance_identity_lr(Z2.T @ Z2, 20000)[1] < 1e-6


# ----------------------------------------------------------------------- the battery on run files


def test_trsp_fast_run_files_pass(fast_runs, capsys):
    from trsp_cli.verify_cmd import run_verify

    assert run_verify(fast_runs, json_out=True) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["verdict"] == "pass" and out["exit_code"] == 0
    assert out["family_alpha"] == 1e-3 and out["correction"] == "holm"
    passed = {c["key"] for c in out["checks"] if c["status"] == "pass"}
    assert passed >= {"detailed_balance", "stationarity_mean", "stationarity_correlation", "equilibrium_fixed_times",
                      "rate_law_intensity", "rate_law_per_bin", "kick_mean", "kick_covariance", "waiting_times",
                      "replay_choice", "replay_kick", "replay_support"}
    # the resolution law at this run's size (issue 20): e99 = k / sqrt(n), n = events / 4
    from trsp_verify.resolution import COMPONENTS, load_spec

    spec, res = load_spec(), out["resolution"]
    n = sum(r["events"] for r in out["runs"]) / 4
    assert res["events_per_replica"] == n and set(res["components"]) == set(COMPONENTS)
    for name, c in res["components"].items():
        assert c["e99"] == pytest.approx(spec["components"][name]["k"] / math.sqrt(n))


def test_table_output_names_every_check(fast_runs, capsys):
    from trsp_cli.verify_cmd import run_verify

    assert run_verify(fast_runs[:2]) == 0
    out = capsys.readouterr().out
    assert "detailed balance" in out and "PASS" in out


def test_default_example_simulated_in_memory(capsys):
    """`trsp verify` without files: trsp_fast replicas of the built-in example (small here)."""
    from trsp_cli.verify_cmd import run_verify

    assert run_verify([], json_out=True, replicas=2, events=1500, seed=1, accept_skipped=True) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["simulated"]["seed"] == 1 and len(out["runs"]) == 2
    # 2 x 1500 events give too few batches for detailed balance: without --accept-skipped that
    # verdict is "incomplete" (exit 3), naming the missing check
    # 1b (the targeted antisymmetric moments) needs as many batches as check 1
    assert out["skipped"] == ["detailed_balance", "1b_db_moments"] and out["verdict"] == "pass"


def test_truncated_run_is_tested_against_its_declared_model(tmp_path, capsys):
    """A coarse tolerance gives finite radii: the battery uses the truncated oracle and reports the distance."""
    from trsp_cli.verify_cmd import run_verify

    p = {"lattice": {"dim": 2, "L": 9}}
    files = [_simulate(tmp_path, f"t{k}.h5", seed=60 + k, events=1500, params=p, tolerance=1e-3) for k in range(2)]
    assert run_verify(files, json_out=True) == 0
    out = json.loads(capsys.readouterr().out)
    assert any("truncated" in n for n in out["notes"])
    assert any(c["key"] == "truncation_distance" and c["status"] == "info" for c in out["checks"])


def test_light_run_files_skip_what_needs_the_state(tmp_path, capsys):
    from trsp_cli.verify_cmd import run_verify

    files = [
        _simulate(tmp_path, f"l{k}.h5", seed=70 + k, events=1500, mode="light", snapshot_every=500.0) for k in range(2)
    ]
    # no check fails, but the checks needing the state between events are skipped: exit 3,
    # naming what is missing, unless --accept-skipped
    assert run_verify(files) == 3
    out = capsys.readouterr().out
    assert "INCOMPLETE" in out and "guarantees are missing" in out and "kick residual" in out
    assert run_verify(files, json_out=True, accept_skipped=True) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["verdict"] == "pass" and len(report["skipped"]) >= 5
    fixed = [c for c in report["checks"] if c["key"] == "equilibrium_fixed_times"]
    assert fixed and fixed[0]["status"] == "pass"


def test_toy_example_writer_is_rejected(tmp_path, capsys):
    """examples/write_runfile_numpy.py writes a valid file with made-up dynamics: it must fail."""
    sys.path.insert(0, str(REPO / "examples"))
    try:
        import write_runfile_numpy
    finally:
        sys.path.pop(0)
    from trsp_cli.verify_cmd import run_verify

    files = []
    for k in range(2):
        f = tmp_path / f"toy{k}.h5"
        write_runfile_numpy.write_run(str(f), n_events=400, seed=k)
        files.append(f)
    # the toy writer records no /rng group, so two files are two replicas
    assert run_verify(files, json_out=True) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["verdict"] == "fail"
    assert out["resolution"] is None  # a resolution is stated only after a pass


# ----------------------------------------------------------------------- unusable input: exit 2


def _exit2(capsys, files, **kw) -> str:
    from trsp_cli.verify_cmd import run_verify

    assert run_verify(files, **kw) == 2
    return capsys.readouterr().err


def test_missing_file(tmp_path, capsys):
    err = _exit2(capsys, [tmp_path / "nope.h5"])
    assert "nope.h5" in err and "no such file" in err


def test_same_file_twice_and_same_seed(fast_runs, tmp_path, capsys):
    err = _exit2(capsys, [fast_runs[0], fast_runs[0]])
    assert "same" in err
    copy = tmp_path / "copy.h5"
    shutil.copy(fast_runs[0], copy)
    err = _exit2(capsys, [fast_runs[0], copy])
    assert "same seed" in err and "copy.h5" in err


def test_mismatched_parameters(fast_runs, tmp_path, capsys):
    other = _simulate(tmp_path, "other.h5", seed=99, events=300, params={"lattice": {"dim": 2, "L": 6}})
    err = _exit2(capsys, [fast_runs[0], other])
    assert "lattice.L" in err


def test_corrupt_change_record(fast_runs, tmp_path, capsys):
    """A changed value makes the replay disagree with the recorded final state (found while streaming;
    files with /events/before also have each change checked, tests/test_runfile.py)."""
    bad = tmp_path / "bad.h5"
    shutil.copy(fast_runs[0], bad)
    with h5py.File(bad, "r+") as f:
        n = int(f["checkpoint"].attrs["n_changes"])
        f["events/after"][n - 1] += 1.0
    err = _exit2(capsys, [bad])
    assert "/checkpoint/S" in err and "bad.h5" in err


def test_too_few_events_per_replica(tmp_path, capsys, fast_runs):
    """The 50-event minimum is per replica, not over all files together."""
    f = _simulate(tmp_path, "short.h5", seed=5, events=10)
    err = _exit2(capsys, [fast_runs[0], f])
    assert "short.h5 holds 10 events" in err and "at least 50 per replica" in err


def test_site_listed_twice_in_one_event(fast_runs, tmp_path, capsys):
    bad = tmp_path / "twice.h5"
    shutil.copy(fast_runs[0], bad)
    with h5py.File(bad, "r+") as f:
        o = f["events/change_offsets"][:3]
        sites = f["events/change_sites"]
        sites[o[1] + 1] = sites[o[1]]  # event 1 lists its first site twice
    err = _exit2(capsys, [bad])
    assert "event 1 lists site" in err and "more than once" in err and "/events/change_sites" in err


def test_nan_in_initial_state(fast_runs, tmp_path, capsys):
    bad = tmp_path / "nan.h5"
    shutil.copy(fast_runs[0], bad)
    with h5py.File(bad, "r+") as f:
        f["initial/S"][3] = np.nan
    err = _exit2(capsys, [bad])
    assert "/initial/S" in err and "nan at site 3" in err and "/events/before" not in err


def test_lattice_too_large_for_this_machine(tmp_path, capsys, monkeypatch):
    """Memory is estimated before anything N-sized is allocated; the message names it."""
    from trsp_runfile.runfile import Implementation, RunWriter, Truncation

    p = params_from_dict({"lattice": {"dim": 3, "L": 17}})
    path = tmp_path / "big.h5"
    w = RunWriter.create(
        path, params=p, truncation=Truncation(3.0, 5.0, 0.0), S0=np.full(p.N, -1.0),
        implementation=Implementation("test", "0"),
    )  # fmt: skip
    w.append_events(np.arange(1.0, 61.0), np.zeros(60, np.int64), np.zeros(61, np.int64), np.zeros(0, np.int64),
                    np.zeros(0), np.zeros(0))
    w.commit(np.full(p.N, -1.0), 60.0, 60, 0.0, None, status="finished")
    w.close()
    import trsp_verify.periodic_side as ps

    monkeypatch.setattr(ps, "available_memory", lambda: 10_000_000)
    err = _exit2(capsys, [path])
    assert "lattice.L = 17" in err and "N = 4913" in err and "GB" in err and "available" in err


def test_bad_options(capsys):
    err = _exit2(capsys, [], replicas=0)
    assert "--replicas" in err


def test_verify_api_rejects_an_empty_list():
    with pytest.raises(VerifyInputError):
        verify([])


def test_load_runs_names_the_file(tmp_path):
    f = tmp_path / "x.h5"
    f.write_bytes(b"not hdf5")
    with pytest.raises(VerifyInputError, match="x.h5"):
        load_runs([f])


def test_kicks_wider_than_declared_are_caught(tmp_path, capsys):
    """Check 6c on its own: a run that moves sites outside the kick window it declares fails,
    deterministically (here: trsp_fast's window, declared as kick_radius = 1)."""
    from trsp_cli.verify_cmd import run_verify

    p = {"lattice": {"dim": 2, "L": 9}}
    files = [_simulate(tmp_path, f"w{k}.h5", seed=80 + k, events=600, params=p, tolerance=1e-3) for k in range(2)]
    for f in files:
        with h5py.File(f, "r+") as h5:
            h5["truncation"].attrs["kick_radius"] = 1.0
    assert run_verify(files, json_out=True) == 1
    rows = {c["key"]: c for c in json.loads(capsys.readouterr().out)["checks"]}
    row = rows["replay_support"]
    assert row["status"] == "FAIL" and row["p_value"] == 0.0 and "never moves" in row["detail"]


# ----------------------------------------------------------------------- beyond the dense oracle


def test_a_lattice_beyond_the_dense_oracle_is_verified_on_the_periodic_side(tmp_path, capsys):
    """N = 4225 > 4096: a truncated trsp_fast run is verified with the periodic model side; a run
    declaring a narrower window than it used still fails check 6c there."""
    from trsp_cli.verify_cmd import run_verify

    p = {"lattice": {"dim": 2, "L": 65}}
    files = [_simulate(tmp_path, f"big{k}.h5", seed=90 + k, events=400, params=p, tolerance=1e-3) for k in range(2)]
    assert run_verify(files, json_out=True, accept_skipped=True) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["verdict"] == "pass" and any("truncated" in n for n in out["notes"])
    with h5py.File(files[1], "r+") as h5:
        h5["truncation"].attrs["kick_radius"] = 1.0
    with h5py.File(files[0], "r+") as h5:
        h5["truncation"].attrs["kick_radius"] = 1.0
    assert run_verify(files, json_out=True, accept_skipped=True) == 1
    rows = {c["key"]: c for c in json.loads(capsys.readouterr().out)["checks"]}
    assert rows["replay_support"]["status"] == "FAIL"


def test_untruncated_model_beyond_the_dense_oracle_gets_a_stand_in():
    """An exact declared model on N > 4096 is tested against a truncated stand-in whose distance
    is far below the run's resolution; both numbers are reported. No stand-in that fits: exit 2."""
    from trsp_verify.model_side import model_side_for
    from trsp_verify.periodic_side import LargeLatticeError, PeriodicModelSide

    p = params_from_dict({"lattice": {"dim": 2, "L": 65}})
    side = model_side_for(p, math.inf, math.inf, resolution=1e-4)
    sur = side.surrogate
    assert isinstance(side, PeriodicModelSide) and sur is not None
    assert sur["resolution"] == 1e-4 and sur["tolerance"] == 1e-8
    assert max(sur["neglected_kick_variance"], sur["neglected_precision"]) <= 1e-8 * p.softness.variance
    assert sur["equilibrium_relative_error"] < 1e-6
    with pytest.raises(LargeLatticeError, match=r"N = 4225 .* needs about .* GB, more than the .* GB available"):
        model_side_for(p, math.inf, math.inf, resolution=1e-4, memory_limit=1000)


def test_output_for_a_log_is_compact_with_a_legend(fast_runs, capsys):
    """stdout not a terminal: one unwrapped line per check, the legend, Bonferroni rows showing
    their smallest sub-test p-value, and the whole command's seconds."""
    from trsp_cli.verify_cmd import run_verify

    assert run_verify(fast_runs) == 0
    out = capsys.readouterr().out.splitlines()
    rows = [line for line in out if line.startswith(("pass ", "FAIL ", "skipped ", "info "))]
    assert len(rows) == 12 + 5 and all("Holm p" in line for line in rows)  # + 5 targeted rows (issue 13)
    assert any(line.startswith("legend: F1, F2") and "Z/Y" in line and "PIT" in line for line in out)
    per_bin = next(line for line in rows if "per softness bin" in line)
    assert "min p = " in per_bin
    assert out[-2].startswith("PASS: ") and out[-2].endswith(" s")
    # after PASS, what the pass rules out (issue 20): the resolution law at this run's n
    assert out[-1].startswith("this run would have rejected, with 99% power: H off by >= ")
    assert "kick noise by >= " in out[-1] and "rates by >= " in out[-1] and "docs/resolution.toml" in out[-1]


def test_progress_reaches_every_replica_from_worker_processes(fast_runs):
    """The progress callback (rich bars on a terminal) hears from each replica's worker."""
    seen: dict[int, int] = {}
    report = verify(load_runs(fast_runs[:2]), workers=2, progress=lambda i, n: seen.__setitem__(i, n),
                    accept_skipped=True)
    assert report.exit_code == 0 and seen == {0: 1500, 1: 1500}
