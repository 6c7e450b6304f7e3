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
        np.testing.assert_allclose(ops.mu_prime[idx], f.mu_prime, atol=1e-12)
        np.testing.assert_allclose(ops.H[np.ix_(idx[f.check], idx)], f.H_check, atol=1e-12)
        KD = ops.K_Delta[np.ix_(idx[f.check], idx[f.check])]
        np.testing.assert_allclose(f.chol_check @ f.chol_check.T, KD, atol=1e-12)


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
    names = [c["name"] for c in out["checks"] if c["status"] == "pass"]
    for prefix in ("1 ", "2 ", "3 ", "4 ", "5 ", "6 "):
        assert any(n.startswith(prefix) for n in names), prefix


def test_table_output_names_every_check(fast_runs, capsys):
    from trsp_cli.verify_cmd import run_verify

    assert run_verify(fast_runs[:2]) == 0
    out = capsys.readouterr().out
    assert "detailed balance" in out and "PASS" in out


def test_default_example_simulated_in_memory(capsys):
    """`trsp verify` without files: trsp_fast replicas of the built-in example (small here)."""
    from trsp_cli.verify_cmd import run_verify

    assert run_verify([], json_out=True, replicas=2, events=1500, seed=1) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["simulated"]["seed"] == 1 and len(out["runs"]) == 2


def test_truncated_run_is_tested_against_its_declared_model(tmp_path, capsys):
    """A coarse tolerance gives finite radii: the battery uses the truncated oracle and reports the distance."""
    from trsp_cli.verify_cmd import run_verify

    p = {"lattice": {"dim": 2, "L": 9}}
    files = [_simulate(tmp_path, f"t{k}.h5", seed=60 + k, events=1500, params=p, tolerance=1e-3) for k in range(2)]
    assert run_verify(files, json_out=True) == 0
    out = json.loads(capsys.readouterr().out)
    assert any("truncated" in n for n in out["notes"])
    assert any(c["name"].startswith("truncation") and c["status"] == "info" for c in out["checks"])


def test_light_run_files_skip_what_needs_the_state(tmp_path, capsys):
    from trsp_cli.verify_cmd import run_verify

    files = [
        _simulate(tmp_path, f"l{k}.h5", seed=70 + k, events=1500, mode="light", snapshot_every=500.0) for k in range(2)
    ]
    assert run_verify(files, json_out=True) == 0
    checks = json.loads(capsys.readouterr().out)["checks"]
    assert sum(c["status"] == "skipped" for c in checks) >= 5
    fixed = [c for c in checks if c["name"].startswith("2 equilibrium")]
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
    bad = tmp_path / "bad.h5"
    shutil.copy(fast_runs[0], bad)
    with h5py.File(bad, "r+") as f:
        f["events/before"][5] += 1.0
    err = _exit2(capsys, [bad])
    assert "/events/before" in err


def test_too_few_events(tmp_path, capsys):
    f = _simulate(tmp_path, "short.h5", seed=5, events=10)
    err = _exit2(capsys, [f])
    assert "at least" in err


def test_lattice_beyond_the_oracle(tmp_path, capsys):
    from trsp_runfile.runfile import Implementation, RunWriter, Truncation

    p = params_from_dict({"lattice": {"dim": 3, "L": 17}})
    path = tmp_path / "big.h5"
    w = RunWriter.create(
        path, params=p, truncation=Truncation(math.inf, math.inf, 0.0), S0=np.full(p.N, -1.0),
        implementation=Implementation("test", "0"),
    )  # fmt: skip
    w.commit(np.full(p.N, -1.0), 0.0, 0, 0.0, None, status="finished")
    w.close()
    err = _exit2(capsys, [path])
    assert "4096" in err and "lattice.L" in err


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
    rows = {c["name"]: c for c in json.loads(capsys.readouterr().out)["checks"]}
    row = rows["6 replay: no change outside the kick's support"]
    assert row["status"] == "FAIL" and row["p_value"] == 0.0 and "never moves" in row["detail"]
