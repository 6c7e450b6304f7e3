"""Power of trsp verify: every mutant of the catalog (tests/mutants/) is rejected, the correct
implementations (the dense numpy simulator without mutation, and trsp_fast) pass.

Fixed seeds, so CI is deterministic.  Each mutant runs at about twice the smallest size that
killed it for every seed in tests/mutants/kill_table.py (docs/verification.md has the
table), so a seed-to-seed fluctuation does not make the test flaky; the correct ones run at
the largest of these sizes.
"""

from __future__ import annotations

import pytest

from mutants.simulator import MUTATIONS, mutant_params, write_replicas
from trsp_verify import VerifyInputError, load_runs, verify
from trsp_verify.model_side import ModelSide

REPLICAS = 4
SEED = 11
#: events per replica in CI (default CI_DEFAULT); see the kill table for the smallest sizes
CI_DEFAULT = 1000
CI_EVENTS = {
    "K_in_H": 10_000,
    "no_sqrt": 10_000,
    "no_quadratic_rate": 2_000,
    "stale_neighbour_rates": 80_000,
}


@pytest.fixture(scope="module")
def side():
    return ModelSide(mutant_params())


def _verdict(tmp_path, side, mutation, events):
    files = write_replicas(tmp_path, mutant_params(), mutation, REPLICAS, events, SEED)
    return verify(load_runs(files), side=side)


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
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
