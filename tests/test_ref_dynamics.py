"""The dense Gillespie loop (trsp_ref.dynamics): canonical draw order, stopping rules, purity, observables.

Deterministic tests (fixed seeds, exact comparisons).  The statistical checks of the
dynamics against exact results are in tests/test_limits.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from trsp_ref.dynamics import ReplayStream, first_participation_times, gillespie, overlap
from trsp_ref.model import ReferenceModel
from trsp_ref.params import params_from_dict


def _params(shape="dimer", dim=2, L=4, **sections):
    doc = {"lattice": {"dim": dim, "L": L}, "cluster": {"shape": shape}}
    for name, values in sections.items():
        doc[name] = values
    return params_from_dict(doc)


@pytest.fixture(scope="module")
def model():
    # rates large enough for many events in a short run
    return ReferenceModel(_params(rates={"A": 0.5}))


def test_canonical_stream_order(model):
    """Per event: u1 = rng.random(), u2 = rng.random(), zeta = rng.standard_normal(N), in that order."""
    S0 = model.sample_equilibrium(np.random.default_rng(1))
    traj = gillespie(model, S0, np.random.default_rng(7), n_events=25, record_states=True, record_draws=True)
    # the same loop written out by hand from the model's two canonical functions
    rng = np.random.default_rng(7)
    S, t = S0.copy(), 0.0
    for k in range(25):
        u1, u2 = rng.random(), rng.random()
        cluster_id, dt = model.choose_event(S, u1, u2)
        S = model.apply_kick(S, cluster_id, rng.standard_normal(model.N))
        t += dt
        assert traj.clusters[k] == cluster_id and traj.waits[k] == dt and traj.times[k] == t
        assert traj.u1[k] == u1 and traj.u2[k] == u2
        np.testing.assert_array_equal(traj.states_after[k], S)
    np.testing.assert_array_equal(traj.S_final, S)
    assert traj.t_end == t and traj.n_events == 25


def test_mutant_draw_order_is_detected(model):
    """The same check catches a loop that draws zeta first (the mutant an implementation could make)."""
    S0 = model.sample_equilibrium(np.random.default_rng(1))
    traj = gillespie(model, S0, np.random.default_rng(7), n_events=5)
    rng = np.random.default_rng(7)
    zeta = rng.standard_normal(model.N)
    u1, u2 = rng.random(), rng.random()
    cluster_id, dt = model.choose_event(S0, u1, u2)
    assert (cluster_id, dt) != (traj.clusters[0], traj.waits[0])


def test_replay_reproduces_bitwise_and_checks_order(model):
    S0 = model.sample_equilibrium(np.random.default_rng(2))
    traj = gillespie(model, S0, np.random.default_rng(3), n_events=10, record_states=True, record_draws=True)
    replay = gillespie(model, S0, ReplayStream(traj.u1, traj.u2, traj.zeta), n_events=10, record_states=True)
    np.testing.assert_array_equal(replay.states, traj.states)
    np.testing.assert_array_equal(replay.clusters, traj.clusters)
    np.testing.assert_array_equal(replay.times, traj.times)
    stream = ReplayStream(traj.u1, traj.u2, traj.zeta)
    with pytest.raises(RuntimeError, match="canonical order"):
        stream.standard_normal(model.N)
    stream.random()
    stream.random()
    with pytest.raises(RuntimeError, match="canonical order"):
        stream.random()
    with pytest.raises(IndexError):
        gillespie(model, S0, ReplayStream(traj.u1, traj.u2, traj.zeta), n_events=11)


def test_t_max_stops_before_the_first_event_past_it(model):
    S0 = model.sample_equilibrium(np.random.default_rng(4))
    long = gillespie(model, S0, np.random.default_rng(5), n_events=40)
    t_max = 0.5 * (long.times[19] + long.times[20])
    rng = np.random.default_rng(5)
    short = gillespie(model, S0, rng, t_max=t_max)
    assert short.n_events == 20 and short.t_end == t_max
    np.testing.assert_array_equal(short.times, long.times[:20])
    assert short.times[-1] <= t_max
    # the rejected event consumed u1 and u2 but no zeta: the stream continues from there
    reference = np.random.default_rng(5)
    for _ in range(20):
        reference.random(), reference.random(), reference.standard_normal(model.N)
    reference.random(), reference.random()
    assert rng.random() == reference.random()
    # both limits: whichever comes first
    both = gillespie(model, S0, np.random.default_rng(5), n_events=7, t_max=t_max)
    assert both.n_events == 7 and both.t_end == long.times[6]


def test_no_events_and_purity(model):
    S0 = model.sample_equilibrium(np.random.default_rng(6))
    keep = S0.copy()
    empty = gillespie(model, S0, np.random.default_rng(0), n_events=0, record_states=True)
    assert empty.n_events == 0 and empty.t_end == 0.0 and empty.states.shape == (1, model.N)
    np.testing.assert_array_equal(empty.S_final, S0)
    gillespie(model, S0, np.random.default_rng(0), n_events=5)
    np.testing.assert_array_equal(S0, keep)  # the input is not modified
    a = gillespie(model, S0, np.random.default_rng(9), n_events=5)
    b = gillespie(model, S0, np.random.default_rng(9), n_events=5)
    np.testing.assert_array_equal(a.S_final, b.S_final)  # no hidden state between calls
    with pytest.raises(ValueError, match="record_states"):
        a.states_after  # noqa: B018 - only recorded with record_states=True


def test_bad_arguments(model):
    S0 = np.zeros(model.N)
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="must stop"):
        gillespie(model, S0, rng)
    with pytest.raises(ValueError, match="shape"):
        gillespie(model, np.zeros(model.N + 1), rng, n_events=1)
    with pytest.raises(ValueError, match="NaN"):
        gillespie(model, np.full(model.N, np.nan), rng, n_events=1)
    with pytest.raises(ValueError, match="t_max"):
        gillespie(model, S0, rng, t_max=-1.0)
    with pytest.raises(ValueError, match="n_events"):
        gillespie(model, S0, rng, n_events=2.5)


def test_no_facilitation_freezes_the_field():
    """facilitation = 0: K_Delta = 0, H = 0, so every kick leaves S exactly unchanged (the frozen limit)."""
    m = ReferenceModel(_params(shape="site", rates={"A": 0.5}, kick={"facilitation": 0.0}))
    S0 = m.sample_equilibrium(np.random.default_rng(0))
    traj = gillespie(m, S0, np.random.default_rng(1), n_events=30, record_states=True)
    assert (traj.states == S0).all()


def test_first_participation_and_overlap(model):
    S0 = model.sample_equilibrium(np.random.default_rng(8))
    traj = gillespie(model, S0, np.random.default_rng(8), n_events=30)
    first = first_participation_times(traj, model.clusters, model.N)
    for i in range(model.N):  # brute force: the earliest event whose cluster contains i
        hits = [t for t, k in zip(traj.times, traj.clusters) if i in model.clusters[k]]
        assert first[i] == (min(hits) if hits else np.inf)
    ts = np.array([0.0, traj.times[3], traj.times[-1], 2 * traj.times[-1]])
    q = overlap(first, ts)
    expected = [np.mean([f > t for f in first]) for t in ts]
    np.testing.assert_array_equal(q, expected)
    assert q[0] == 1.0 and isinstance(overlap(first, 0.0), float)
