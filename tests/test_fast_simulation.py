"""trsp_fast.Simulation: resumable bit for bit, stopping rules, records, time summation, the sum tree,
equilibrium sampling, and errors.  All deterministic (fixed seeds, exact comparisons)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from trsp_fast import FastModel, Simulation, kernels, simulation
from trsp_fast._blas import single_threaded_blas
from trsp_ref.params import ParameterError, params_from_dict


@pytest.fixture(scope="module", autouse=True)
def _one_blas_thread():
    with single_threaded_blas():
        yield


def _params(dim=2, L=6, shape="dimer", **sections):
    doc = {"lattice": {"dim": dim, "L": L}, "cluster": {"shape": shape}, "rates": {"A": 0.5}}
    for name, values in sections.items():
        doc.setdefault(name, {}).update(values)
    return params_from_dict(doc)


@pytest.fixture(scope="module")
def model():
    # a truncated model (window smaller than the lattice): the general case
    m = FastModel(_params(dim=2, L=12, shape="plaquette"), tolerance=1e-3)
    assert m.window_size < m.N
    return m


@pytest.fixture(scope="module")
def exact_model():
    return FastModel(_params(dim=3, L=4, shape="plaquette"), tolerance=None)


def _collect(chunks):
    out = {"times": [], "clusters": [], "offsets": [], "sites": [], "before": [], "after": []}
    shift = 0
    for c in chunks:
        out["times"].append(c.times)
        out["clusters"].append(c.clusters)
        if c.change_offsets is not None:
            out["offsets"].append(c.change_offsets[1:] + shift)
            shift += int(c.change_offsets[-1])
            out["sites"].append(c.change_sites)
            out["before"].append(c.before)
            out["after"].append(c.after)
    return {k: (np.concatenate(v) if v else np.zeros(0)) for k, v in out.items()}


def _same(a: dict, b: dict):
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype and a[k].tobytes() == b[k].tobytes(), k


def _start(model, seed=1, t0=0.0):
    rng = np.random.default_rng(seed)
    return Simulation(model, model.sample_equilibrium(rng), rng, t0=t0)


def _snapshot(sim):
    st = sim.get_state()
    return st["S"].tobytes(), st["time"], st["n_events"], st["time_compensation"], json.dumps(st["rng_state"], sort_keys=True)


# --------------------------------------------------------------------------- resume


def test_split_runs_and_save_restore_are_bit_identical(model):
    """run(a); run(b) == run(a + b), also through get_state -> JSON -> from_state, for any chunk size."""
    ref = _start(model)
    whole = _collect(ref.run(n_events=700, chunk=1000))
    a = _start(model)
    first = list(a.run(n_events=250, chunk=64))
    state = json.loads(json.dumps(a.get_state(), default=lambda x: x.tolist()))  # as a run file would store it
    state["S"] = np.array(state["S"])
    b = Simulation.from_state(model, state)
    second = list(b.run(n_events=450, chunk=7))
    _same(whole, _collect(first + second))
    assert _snapshot(b) == _snapshot(ref)


def test_record_false_gives_the_same_trajectory(model):
    a, b = _start(model), _start(model)
    ra = _collect(a.run(n_events=300))
    rb = _collect(b.run(n_events=300, record=False))
    assert ra["times"].tobytes() == rb["times"].tobytes() and ra["clusters"].tobytes() == rb["clusters"].tobytes()
    assert _snapshot(a) == _snapshot(b)


def test_small_change_buffer_splits_chunks_only(model, monkeypatch):
    """Chunks end early when the recorded changes would not fit; the trajectory is unchanged."""
    ref = _collect(_start(model).run(n_events=200))
    monkeypatch.setattr(simulation, "MAX_CHUNK_CHANGES", 3 * model.active_size)
    chunks = list(_start(model).run(n_events=200, chunk=50))
    assert len(chunks) > 4 and max(len(c) for c in chunks) <= 3
    _same(ref, _collect(chunks))


def test_t_max_stops_before_the_crossing_event_and_rewinds(model):
    """The event after t_max is not applied and its draw is given back: run(t_max=T1); run(t_max=T2)
    equals run(t_max=T2), and the generator stands where a run of exactly that many events leaves it."""
    ref = _start(model)
    whole = _collect(ref.run(t_max=40.0))
    a = _start(model)
    part1 = list(a.run(t_max=15.0))
    assert a.time <= 15.0 and all((c.times <= 15.0).all() for c in part1)
    n1 = a.n_events
    again = list(a.run(t_max=15.0))  # nothing more happens before 15
    assert again == [] and a.n_events == n1
    b = _start(model)
    list(b.run(n_events=n1))
    assert _snapshot(a) == _snapshot(b)
    part2 = list(a.run(t_max=40.0))
    _same(whole, _collect(part1 + part2))
    assert _snapshot(a) == _snapshot(ref)
    assert whole["times"][-1] <= 40.0


def test_n_events_and_t_max_together(model):
    sim = _start(model)
    chunks = list(sim.run(n_events=10, t_max=1e9))
    assert sim.n_events == 10 and sum(len(c) for c in chunks) == 10
    assert list(sim.run(n_events=0)) == [] and sim.n_events == 10


def test_changes_are_consistent_with_the_state(model):
    sim = _start(model)
    S = sim.S.copy()
    for c in sim.run(n_events=300, chunk=41):
        o = c.change_offsets
        assert o[0] == 0 and np.all(np.diff(o) == model.active_size)
        for e in range(len(c)):
            sl = slice(o[e], o[e + 1])
            sites = c.change_sites[sl]
            assert np.all(np.diff(sites) > 0)  # increasing site index within an event
            assert c.before[sl].tobytes() == S[sites].tobytes()
            S[sites] = c.after[sl]
            assert set(model.cluster_sites(int(c.clusters[e]))) <= set(sites)
    assert S.tobytes() == sim.S.tobytes()


def test_sum_tree_stays_equal_to_a_rebuild(model):
    """Parents are recomputed from children, never adjusted: after many events the tree is
    bit-identical to one built from scratch at the final state (no drift of the total rate)."""
    sim = _start(model)
    list(sim.run(n_events=3000, record=False))
    assert sim._tree.tobytes() == model.new_tree(sim.S).tobytes()
    assert not sim._mark.any()


def test_time_is_a_compensated_sum():
    """With t0 = 1e14 (ulp 0.016), plain summation of 3000 waiting times of ~5e-3 never moves the clock;
    the Kahan sum stays within 2 ulp of math.fsum of the recomputed waits (a plain '+=' mutant fails)."""
    m = FastModel(_params(dim=2, L=4, shape="site", rates={"A": 1.0, "duration": 0.05}), tolerance=None)
    sim = _start(m, seed=4, t0=1e14)
    S = sim.S.copy()
    rng = np.random.default_rng(4)
    rng.standard_normal(m.N)  # the initial state's draw
    chunks = list(sim.run(n_events=3000))
    waits = []
    for c in chunks:
        for e in range(len(c)):
            u1 = rng.random()
            rng.random()
            rng.standard_normal(m.window_size)
            waits.append(-math.log1p(-u1) / math.fsum(m.cluster_rates(S)))
            sl = slice(c.change_offsets[e], c.change_offsets[e + 1])
            S[c.change_sites[sl]] = c.after[sl]
    exact = math.fsum([1e14] + waits)
    naive = 1e14
    for w in waits:
        naive += w
    ulp = math.ulp(exact)
    assert abs(sim.time - exact) <= 2 * ulp
    assert abs(naive - exact) > 100 * ulp  # the test has power: plain summation is far off here


def test_descend_is_the_linear_rule():
    """The tree descent picks the smallest k with r_0 + ... + r_k > u R (docs/model.md), zeros included."""
    rng = np.random.default_rng(0)
    for n in (1, 2, 3, 5, 17, 100):
        rates = rng.exponential(size=n) * (rng.random(n) > 0.3)
        rates[rng.integers(n)] += 0.5  # at least one positive
        P = 1 << max(0, (n - 1).bit_length())
        tree = np.zeros(2 * P)
        tree[P : P + n] = rates
        for i in range(P - 1, 0, -1):
            tree[i] = tree[2 * i] + tree[2 * i + 1]
        cum = np.cumsum(rates)
        for u in rng.random(200):
            k = kernels.descend(tree, n, u * tree[1])
            if np.min(np.abs(cum - u * cum[-1])) > 1e-12:
                assert k == int(np.searchsorted(cum, u * cum[-1], side="right"))
            assert rates[k] > 0


def test_window_stream(model):
    """Per event: u1, u2, then one normal per window site; the exact model draws N (the oracle's stream)."""
    for m, n_normals in ((model, model.window_size), (FastModel(_params(), tolerance=None), 36)):
        sim = _start(m, seed=8)
        mirror = np.random.default_rng(8)
        mirror.standard_normal(m.N)
        list(sim.run(n_events=5))
        for _ in range(5):
            mirror.random(), mirror.random(), mirror.standard_normal(n_normals)
        assert sim.rng.bit_generator.state == mirror.bit_generator.state


# --------------------------------------------------------------------------- equilibrium sampling


class _Probe:
    """Stands in for a Generator: standard_normal(N) returns a unit vector, to read off a linear map."""

    def __init__(self, i):
        self.i = i

    def standard_normal(self, n):
        e = np.zeros(n)
        e[self.i] = 1.0
        return e


@pytest.mark.parametrize("tol", [None, 1e-3])
def test_sample_equilibrium_is_the_symmetric_root_of_the_model_covariance(tol):
    """S = mean + K_t^(1/2) xi exactly: the map xi -> S - mean is symmetric and squares to K_t (= K
    untruncated), K_t = Lambda_t^-1 the simulated model's equilibrium covariance."""
    m = FastModel(_params(dim=2, L=9, shape="plaquette"), tolerance=tol)
    B = np.array([m.sample_equilibrium(_Probe(i)) - m.mean for i in range(m.N)]).T
    from trsp_fast import geometry as geo

    c = geo.coords_of(np.arange(m.N), m.grid)
    Kt = m.covariance_row[geo.index_of(c[:, None, :] - c[None, :, :], m.grid)]
    np.testing.assert_allclose(B, B.T, atol=1e-14)
    np.testing.assert_allclose(B @ B, Kt, atol=1e-13)
    if tol is None:
        from trsp_ref.model import ReferenceModel

        np.testing.assert_allclose(Kt, ReferenceModel(m.params).K, atol=1e-13)
    rng = np.random.default_rng(2)
    m.sample_equilibrium(rng)
    mirror = np.random.default_rng(2)
    mirror.standard_normal(m.N)
    assert rng.bit_generator.state == mirror.bit_generator.state


# --------------------------------------------------------------------------- errors


def test_rate_overflow_is_a_clear_error():
    """A state whose rates leave the floating-point range: ParameterError naming rates.gamma, never inf/NaN;
    all rates underflowing to 0: ParameterError naming rates.A when the run needs a rate."""
    m = FastModel(_params(rates={"delta": 0.0}), tolerance=None)
    S = np.full(m.N, m.mean)
    S[0] = 1e4
    for call in (lambda: m.cluster_rates(S), lambda: Simulation(m, S, np.random.default_rng(0))):
        with pytest.raises(ParameterError) as err:
            call()
        assert err.value.parameter == "rates.gamma" and "overflow" in str(err.value)
    # during a run (forced by lowering the kernel's overflow guard just above the current rates):
    # the event that would overflow is undone, the state and tree stay consistent, the error names rates.gamma
    import copy

    from trsp_fast import kernels as kn

    m3 = copy.copy(m)
    S0 = m.sample_equilibrium(np.random.default_rng(1))
    limit = float(np.log(m.cluster_rates(S0)).max()) + 1e-3
    m3._M = m._M._replace(**{kn.LOG_RATE_LIMIT: limit})
    sim = Simulation(m3, S0, np.random.default_rng(0))
    with pytest.raises(ParameterError) as err:
        list(sim.run(n_events=10_000))
    assert err.value.parameter == "rates.gamma"
    assert np.all(np.isfinite(sim.S)) and sim._tree.tobytes() == m3.new_tree(sim.S).tobytes()
    m2 = FastModel(_params(), tolerance=None)
    sim = Simulation(m2, np.full(m2.N, 1e6), np.random.default_rng(0))
    with pytest.raises(ParameterError) as err:
        list(sim.run(n_events=1))
    assert err.value.parameter == "rates.A"


def test_bad_simulation_arguments(exact_model):
    S0 = exact_model.sample_equilibrium(np.random.default_rng(0))
    with pytest.raises(TypeError):
        Simulation(exact_model, S0, np.random.Generator(np.random.MT19937(1)))
    with pytest.raises(TypeError):
        Simulation(exact_model, S0, np.random.RandomState(1))
    with pytest.raises(ValueError):
        Simulation(exact_model, S0[:-1], np.random.default_rng(0))
    bad = S0.copy()
    bad[3] = np.nan
    with pytest.raises(ValueError):
        Simulation(exact_model, bad, np.random.default_rng(0))
    sim = Simulation(exact_model, S0, np.random.default_rng(0))
    for kw in ({}, {"n_events": -1}, {"n_events": 1.5}, {"n_events": 3, "chunk": 0}, {"t_max": float("nan")}):
        with pytest.raises(ValueError):
            sim.run(**kw)
