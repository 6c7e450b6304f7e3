"""Power of trsp verify: every mutant of the catalog (tests/mutants/) is rejected, the correct
implementations (the dense numpy simulator without mutation, and trsp_fast) pass.

Fixed seeds, so CI is deterministic.  Each mutant runs at about twice the smallest size that
killed it for every seed in tests/mutants/kill_table.py (docs/verification.md has the
table), so a seed-to-seed fluctuation does not make the test flaky; the correct ones run at
the largest of these sizes.  Mutants whose kill size makes that run long (SLOW) are marked
``slow``; each keeps a CI variant that still shows the battery rejecting it.
"""

from __future__ import annotations

import pytest

from mutants.simulator import MUTATIONS, mutant_params, write_replicas
from trsp_verify import VerifyInputError, load_runs, verify
from trsp_verify.model_side import ModelSide
from trsp_verify.targeted import ROW_KEYS

REPLICAS = 4
SEED = 11
#: events per replica in CI (default CI_DEFAULT); see the kill table for the smallest sizes
CI_DEFAULT = 1000
CI_EVENTS = {
    "K_in_H": 10_000,
    "no_sqrt": 2_000,  # 10 000 before the targeted rows (kill size 5000 -> 1000)
    "stale_neighbour_rates": 80_000,
    "H_scaled_3pct": 20_000,
    "inexact_sqrt": 20_000,
    "kick_variance_2pct": 4_000,
    "gamma0_2pct": 20_000,
}
#: mutants whose CI size takes long (about 1 s of simulation and verification per 4 x 1000 events):
#: run with ``-m slow``.  stale_neighbour_rates has a CI variant below; the targeted rows that
#: catch inexact_sqrt and gamma0_2pct are shown in CI by H_scaled_3pct and no_quadratic_rate
SLOW = {"stale_neighbour_rates", "inexact_sqrt", "gamma0_2pct"}


@pytest.fixture(scope="module")
def side():
    return ModelSide(mutant_params())


def _verdict(tmp_path, side, mutation, events):
    files = write_replicas(tmp_path, mutant_params(), mutation, REPLICAS, events, SEED)
    return verify(load_runs(files), side=side)


@pytest.mark.parametrize(
    "mutation", [pytest.param(m, marks=pytest.mark.slow) if m in SLOW else m for m in sorted(MUTATIONS)]
)
def test_mutant_is_rejected(mutation, tmp_path, side):
    try:
        report = _verdict(tmp_path, side, mutation, CI_EVENTS.get(mutation, CI_DEFAULT))
    except VerifyInputError as exc:
        # an unstable mutant can blow up before a replica holds the 50 events the battery needs
        # (exit 2, as the kill table counts it); anything else unusable is a bug
        assert "events; the battery needs at least" in str(exc), f"mutant {mutation} gave unusable run files: {exc}"
        return
    failed = [r.name for r in report.rows if r.status == "FAIL"]
    assert not report.passed, f"mutant {mutation} ({MUTATIONS[mutation]}) passed the battery"
    assert failed


def test_correct_dense_simulator_passes(tmp_path, side):
    report = _verdict(tmp_path, side, None, 20_000)
    assert report.passed, [(r.name, r.p_value) for r in report.rows if r.status == "FAIL"]
    tested = {r.name for r in report.rows if r.status == "pass"}
    assert set(ROW_KEYS.values()) <= tested  # the targeted statistics are in the Holm family


#: a kick reaching farther (xi_sigma 2, sigma1 0.6): more clusters around the fired one change
#: their rates, so stale rates show much sooner than on the catalog's parameters
FAR_KICK = {"lattice": {"dim": 2, "L": 5}, "kick": {"xi_sigma": 2.0, "sigma1": 0.6}}


def test_stale_neighbour_rates_rejected_with_a_far_reaching_kick(tmp_path):
    """CI variant of the slow ``stale_neighbour_rates`` case (4 x 80 000 events on the catalog's
    parameters): with a kick that reaches farther the same bug is rejected at 4 x 1000 events
    (rate law 3a, the chosen cluster 6a and the rate-law score 3c each fail on their own), and
    the correct simulator passes at the same parameters and seed."""
    from trsp_ref.params import params_from_dict

    p = params_from_dict(FAR_KICK)
    side = ModelSide(p)
    good = verify(load_runs(write_replicas(tmp_path / "good", p, None, REPLICAS, 1000, SEED)), side=side)
    bad = verify(load_runs(write_replicas(tmp_path / "bad", p, "stale_neighbour_rates", REPLICAS, 1000, SEED)), side=side)
    assert good.passed, [(r.name, r.p_value) for r in good.rows if r.status == "FAIL"]
    assert not bad.passed
    assert {r.name for r in bad.rows if r.status == "FAIL"} >= {"6 replay: chosen cluster (randomized PIT)"}


def test_trsp_fast_passes_on_the_catalog_parameters(side):
    from trsp_verify.simulate import simulate_replicas

    runs, _ = simulate_replicas(mutant_params(), REPLICAS, 20_000, seed=SEED)
    report = verify(runs, side=side)
    assert report.passed, [(r.name, r.p_value) for r in report.rows if r.status == "FAIL"]


@pytest.mark.parametrize(
    "limit, params",
    [
        ("onset", {"lattice": {"dim": 2, "L": 5}, "rates": {"gamma": 0.0, "delta": 0.0}}),
        ("frozen", {"lattice": {"dim": 2, "L": 6}, "cluster": {"shape": "site"}, "kick": {"facilitation": 0.0},
                    "softness": {"C1": 0.0}}),
    ],
)
def test_exact_limit_check_rejects_missing_duration(limit, params, tmp_path):
    """Check 7 on its own: in the exact limits, rates without 1/duration make Q(t) decay 4x too fast."""
    from trsp_ref.params import params_from_dict

    p = params_from_dict(params)
    good = verify(load_runs(write_replicas(tmp_path / "good", p, None, REPLICAS, 2000, SEED)))
    bad = verify(load_runs(write_replicas(tmp_path / "bad", p, "no_duration", REPLICAS, 2000, SEED)))
    row = lambda rep: rep.row(f"exact_limit_{limit}")  # noqa: E731
    assert good.passed and row(good).status == "pass"
    assert row(bad).status == "FAIL"
