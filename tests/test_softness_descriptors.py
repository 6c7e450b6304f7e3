"""The descriptors: structure functions (Appendix A) against the brute-force oracle, p_hop against
its definition, tau_alpha, the training-set rules, the SVM and the model file."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

from softness_oracle import oracle_structure_functions
from trsp_ref.params import ParameterError
from trsp_softness.classifier import fit_linear_svm
from trsp_softness.definitions import PAPER_ANGULAR, StructureFunctionSet, paper_set
from trsp_softness.kernels import neg_exp, radial_kernel
from trsp_softness.model_file import ModelFileError, SoftnessModel, read_model, write_model
from trsp_softness.p_hop import half_window, p_hop, p_hop_stream
from trsp_softness.relaxation import measure_tau_alpha, self_intermediate_scattering, tau_alpha
from trsp_softness.neighbours import NeighbourList
from trsp_softness.structure import _paper_layout_xi, radial_functions, structure_functions
from trsp_softness.training_set import TrainingThresholds, balance, find_examples, rearrangement_runs

#: below this the oracle's values are subnormal-range exponentials whose relative precision is lost
#: by libm itself; the tests compare them absolutely
TINY = 1e-280


def _image_distances(pos, box, r_max):
    dim = box.shape[0]
    span = [range(-int(math.ceil(r_max / L)) - 1, int(math.ceil(r_max / L)) + 2) for L in box]
    d = pos[None, :, :] - pos[:, None, :]
    out = []
    for n in itertools.product(*span):
        v = d + np.array(n) * box
        r = np.sqrt(np.sum(v * v, axis=-1))
        if not any(n):
            r = r[~np.eye(len(pos), dtype=bool)]  # not a particle with itself
        out.append(r.ravel())
    return np.concatenate(out)


@st.composite
def configurations(draw):
    dim = draw(st.sampled_from([2, 3]))
    n = draw(st.integers(2, 7))
    box = np.array([draw(st.floats(1.2, 3.5)) for _ in range(dim)])
    sigma_max = draw(st.floats(0.8, 2.2))
    n_types = draw(st.integers(1, 3))
    pos = np.array([[draw(st.floats(0.0, 1.0, exclude_max=True)) for _ in range(dim)] for _ in range(n)]) * box
    typeid = np.array([draw(st.integers(0, n_types - 1)) for _ in range(n)])
    expected = n / np.prod(box) * (math.pi * sigma_max**2 if dim == 2 else 4 / 3 * math.pi * sigma_max**3)
    assume(expected <= 30)  # keeps the oracle's triple loop quick
    r = _image_distances(pos, box, sigma_max)
    assume(np.all(np.abs(r - sigma_max) > 1e-9))  # no pair on the cut-off (ambiguous in floating point)
    assume(np.all(r > 1e-3))  # no two points on top of each other (angles undefined: an error, tested below)
    return dim, pos, box, typeid, n_types, sigma_max


@st.composite
def function_sets(draw, n_types, sigma_max):
    m = draw(st.integers(1, 8))
    if draw(st.booleans()):  # equally spaced centres: radial_kernel_uniform where sigma <= 1.46 h
        h = draw(st.floats(0.02, 0.5))
        mu = draw(st.floats(0.0, sigma_max)) + h * np.arange(m)
        sigma = h * draw(st.floats(0.2, 2.0))
    else:
        mu = np.sort(draw(st.lists(st.floats(0.0, sigma_max), min_size=m, max_size=m, unique=True)))
        assume(np.all(np.diff(mu) > 1e-6))
        sigma = draw(st.floats(0.05, 0.6))
    names = tuple("ABC"[:n_types])
    if draw(st.booleans()):  # the paper's 22 triples: the fused kernel
        return StructureFunctionSet(type_names=names, mu=mu, sigma=sigma, sigma_max=sigma_max)
    rows = draw(st.lists(st.tuples(st.floats(0.5, 4.0), st.sampled_from([-1.0, 1.0]),
                                   st.sampled_from([1.0, 2.0, 4.0, 8.0, 16.0, 0.5, 3.0, 1.7])), min_size=1, max_size=6))
    return StructureFunctionSet(type_names=names, mu=mu, sigma=sigma, sigma_max=sigma_max, angular=np.array(rows))


def assert_agree(fast, oracle):
    big = np.abs(oracle) > TINY
    np.testing.assert_allclose(fast[big], oracle[big], rtol=1e-10, atol=0)
    assert np.all(np.abs(fast[~big] - oracle[~big]) <= TINY)


@settings(max_examples=25)
@given(st.data())
def test_structure_functions_agree_with_the_oracle(data):
    dim, pos, box, typeid, n_types, sigma_max = data.draw(configurations())
    fs = data.draw(function_sets(n_types, sigma_max))
    centres = np.arange(pos.shape[0])
    assert_agree(structure_functions(pos, box, typeid, centres, fs), oracle_structure_functions(pos, box, typeid, centres, fs))


@pytest.mark.parametrize("dim", [2, 3])
def test_paper_set_at_sigma_max_5_in_a_small_box(dim):
    """The paper's full set (mu = 0.05 .. 5, sigma_max = 5) through the fused kernel, in a box
    smaller than 2 sigma_max (replicated images, the centre's own images included)."""
    rng = np.random.default_rng(dim)
    box = np.array([3.1, 3.7, 4.3][:dim])
    pos = rng.uniform(0, 1, (5, dim)) * box
    typeid = np.array([0, 1, 0, 0, 1])
    fs = paper_set(("A", "B"))
    assert _paper_layout_xi(fs) is not None
    r = _image_distances(pos, box, 5.0)
    assert np.all(np.abs(r - 5.0) > 1e-9)
    centres = np.array([0, 3, 4])
    assert_agree(structure_functions(pos, box, typeid, centres, fs), oracle_structure_functions(pos, box, typeid, centres, fs))


@pytest.mark.parametrize("sigma_over_h", [0.3, 1.0, 1.46])
def test_radial_recurrence_is_the_direct_sum(sigma_over_h):
    """radial_kernel_uniform (equally spaced mu) against radial_kernel, neighbours everywhere on
    and beyond the grid, up to the largest sigma / h it is used for (UNIFORM_MAX_STEPS)."""
    rng = np.random.default_rng(7)
    n = 400
    offsets = np.array([0, 150, 150, n])
    distance = rng.uniform(0.0, 6.0, n)
    ntype = np.r_[np.zeros(75, int), np.ones(75, int), np.zeros(100, int), np.ones(150, int)]
    h = 0.05
    fs = StructureFunctionSet(type_names=("A", "B"), mu=0.05 + h * np.arange(100), sigma=sigma_over_h * h, sigma_max=6.0)
    nl = NeighbourList(offsets=offsets, index=np.zeros(n, int), vector=np.zeros((n, 3)), distance=distance, ntype=ntype)
    fast = np.zeros((3, fs.n_radial))
    direct = np.zeros((3, fs.n_radial))
    radial_functions(nl, fs, fast)
    radial_kernel(offsets, distance, ntype, fs.mu, 1.0 / fs.sigma, 2, direct)
    big = direct > TINY
    assert big.sum() > 100 and not fast[1].any()
    np.testing.assert_allclose(fast[big], direct[big], rtol=2e-12, atol=0)
    assert np.all(np.abs(fast[~big] - direct[~big]) <= TINY)


def test_paper_set_has_the_papers_266_functions():
    fs = paper_set(("A", "B"))
    assert fs.n_features == 266 and fs.n_radial == 200 and fs.n_angular == 66  # Sec. II: M = 266
    assert np.allclose(fs.mu, 0.05 * np.arange(1, 101)) and fs.sigma == 0.05 and fs.sigma_max == 5.0
    assert PAPER_ANGULAR.shape == (22, 3) and len(set(fs.names())) == 266
    assert fs.names()[0] == "G[A](mu=0.05)" and fs.names()[200] == "Psi[AA](xi=14.638,lambda=-1,zeta=1)"


def test_fast_exponential():
    x = np.r_[0.0, np.logspace(-8, np.log10(744.0), 4000)]
    got = np.array([neg_exp(v) for v in x])
    ref = np.exp(-x)
    normal = ref > 1e-300  # below, libm's own result is subnormal and loses relative precision
    assert np.max(np.abs(got - ref)[normal] / ref[normal]) < 5e-13
    assert np.all(np.abs(got - ref)[~normal] < 1e-300)


def test_coincident_particles_are_an_error():
    pos = np.array([[0.5, 0.5, 0.5], [0.5, 0.5, 0.5], [1.0, 1.2, 0.1]])
    with pytest.raises(ParameterError, match="particles 0 and 1 are at the same place"):
        structure_functions(pos, np.full(3, 2.0), np.zeros(3, int), np.arange(3), paper_set(("A",)))


@pytest.mark.parametrize("bad", [dict(mu=[0.2, 0.1]), dict(sigma=0.0), dict(sigma_max=-1.0),
                                 dict(angular=[[1.0, 0.5, 1.0]]), dict(angular=[[0.0, 1.0, 1.0]])])
def test_bad_definitions(bad):
    with pytest.raises(ParameterError):
        StructureFunctionSet(type_names=("A",), **bad)


# ------------------------------------------------------------------------------- p_hop


def p_hop_oracle(x, h):
    """The definition, literally: for each frame k and particle i, the two windows' averages."""
    K, N, _ = x.shape
    out = np.zeros((K - 2 * h + 1, N))
    for row, k in enumerate(range(h, K - h + 1)):
        for i in range(N):
            A = [x[t, i] for t in range(k - h, k)]
            B = [x[t, i] for t in range(k, k + h)]
            ma = sum(A) / h
            mb = sum(B) / h
            va = sum(float(np.dot(a - mb, a - mb)) for a in A) / h
            vb = sum(float(np.dot(b - ma, b - ma)) for b in B) / h
            out[row, i] = math.sqrt(va * vb)
    return out


@settings(max_examples=25)
@given(st.integers(1, 4), st.integers(0, 6), st.integers(1, 4), st.sampled_from([2, 3]), st.integers(0, 2**31))
def test_p_hop_is_its_definition(h, extra, n, dim, seed):
    x = np.random.default_rng(seed).normal(size=(2 * h + extra, n, dim)).cumsum(axis=0)
    np.testing.assert_allclose(p_hop(x, h), p_hop_oracle(x, h), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("h", [1, 3, 5])
def test_a_single_jump_gives_its_square_length(h):
    """p_hop(k) = |d|^2 at the frame where the particle jumps by d and is otherwise still
    (proofs/softness_descriptors.py); 0 for a particle that never moves."""
    K = 4 * h
    d = np.array([0.3, -0.4, 1.2])
    x = np.zeros((K, 2, 3))
    x[2 * h:, 0] += d
    ph = p_hop(x, h)
    frames = np.arange(h, K - h + 1)
    assert ph[frames == 2 * h, 0][0] == pytest.approx(float(d @ d), rel=1e-14)
    assert np.all(ph[:, 1] == 0) and np.all(ph[:, 0] <= float(d @ d) + 1e-14)


def test_p_hop_stream_needs_nothing_but_the_window():
    x = np.random.default_rng(0).normal(size=(12, 3, 2))
    np.testing.assert_array_equal(np.stack(list(p_hop_stream(iter(x), 2))), p_hop(x, 2))


@pytest.mark.parametrize("t_r,dt,ok", [(10.0, 1.0, 5), (2.0, 1.0, 1), (10.0, 0.5, 10), (3.0, 1.0, None), (1.0, 1.0, None), (-1, 1.0, None)])
def test_half_window(t_r, dt, ok):
    if ok is None:
        with pytest.raises(ParameterError, match="--p-hop-window"):
            half_window(t_r, dt)
    else:
        assert half_window(t_r, dt) == ok


# --------------------------------------------------------------------------- tau_alpha


def test_tau_alpha_from_brownian_motion():
    """Free diffusion: F_s(q, t) = exp(-q^2 D t) in any dimension, so tau_alpha = 1 / (q^2 D)."""
    rng = np.random.default_rng(1)
    D, dt, q = 0.05, 0.1, 2.0
    x = rng.normal(0, math.sqrt(2 * D * dt), (120, 1500, 3)).cumsum(axis=0)
    tau = measure_tau_alpha(x, q, dt)
    assert tau == pytest.approx(1 / (q * q * D), rel=0.05)
    fs = self_intermediate_scattering(x[:5], q)
    assert fs[0] == 1.0 and np.all(np.diff(fs) < 0)
    assert tau_alpha(np.ones(10), 1.0) is None


# ------------------------------------------------------------------------- training set


def test_runs_and_example_frames():
    ph = np.zeros((20, 3))
    ph[5:8, 0] = [0.3, 0.9, 0.25]  # a run peaking above 0.6: rearranging
    ph[12:14, 1] = [0.25, 0.3]  # a run below 0.6: neither class
    ph[:, 2] = 0.001  # quiet throughout
    assert rearrangement_runs(ph > 0.2) == [(0, 5, 7), (1, 12, 13)]
    ex = find_examples(ph, h=3, particles=np.array([10, 11, 12]), window=10, th=TrainingThresholds())
    assert ex.rearranging.tolist() == [[5, 10]]  # row 5 is frame 8; its window A starts at frame 5
    # windows of 10 frames: rows 0-9 and 10-19; particle 10 is quiet in the second, 12 in both
    assert sorted(map(tuple, ex.quiet.tolist())) == [(8, 11), (8, 12), (18, 10), (18, 12)]


def test_too_few_examples_says_how_many():
    rng = np.random.default_rng(0)
    with pytest.raises(ParameterError, match="found 3 .* need at least 10"):
        balance(3, 50, 100, 10, rng)
    with pytest.raises(ParameterError, match="non-rearranging examples: found 4"):
        balance(50, 4, 100, 10, rng)
    a, b = balance(50, 30, 20, 10, rng)
    assert len(a) == len(b) == 20


@pytest.mark.parametrize("th", [TrainingThresholds(0.6, 0.2, 0.3), TrainingThresholds(0.1, 0.2, 0.02), TrainingThresholds(0.6, 0.2, -1)])
def test_inconsistent_thresholds(th):
    with pytest.raises(ParameterError):
        th.check()


# ------------------------------------------------------------------------------ classifier


def test_svm_separates_a_separable_set_and_softness_is_the_hyperplane():
    rng = np.random.default_rng(3)
    M = 6
    w_true = rng.normal(size=M)
    X = rng.normal(size=(600, M)) * np.array([1, 10, 0.1, 1, 5, 2]) + 3.0
    score = (X - 3.0) @ w_true
    pos, neg = X[score > 0.5], X[score < -0.5]
    model = fit_linear_svm(pos, neg, folds=3, seed=1, c_grid=(0.1, 1.0))
    assert model.test_accuracy > 0.95 and model.C in model.cv_accuracy
    g = rng.normal(size=(10, M)) + 3.0
    np.testing.assert_allclose(model.softness(g), model.w0 + g @ model.weights, rtol=1e-12, atol=1e-12)  # Eq. 1


def test_features_without_training_spread_are_dropped_and_do_not_blow_up():
    """A constant feature, a core radial function (~1e-200) and a rarely populated one (spread
    ~1e-5, the lead's 1e143-weight case) are left out: finite weights of the informative
    features' size, weight 0 on the dropped ones, and a particle coming closer than every
    training example (the rare feature = 1, one whole neighbour in its shell) keeps its S."""
    rng = np.random.default_rng(4)
    n = 300
    X = rng.normal(size=(n, 5))
    X[:, 2] = 1e-200 * rng.random(n)  # deep inside the core
    X[:, 3] = 0.7  # constant
    X[:, 4] = 1e-6 * rng.random(n) ** 8  # almost never populated: spread ~1e-7
    X[0, 4] = 1e-4  # ... once a little: spread ~6e-6
    y = X[:, 0] + 0.3 * X[:, 1] > 0
    model = fit_linear_svm(X[y], X[~y], folds=2, c_grid=(0.1, 1.0))
    np.testing.assert_array_equal(model.used, [True, True, False, False, False])
    assert model.min_spread == 1e-3
    assert np.all(np.isfinite(model.weights)) and np.all(model.weights[2:] == 0) and np.all(model.v[2:] == 0)
    assert np.max(np.abs(model.weights)) < 100 and np.all(np.abs(model.scale[2:] - 1) == 0)
    assert model.test_accuracy > 0.9
    g = X[:10].copy()
    closer = g.copy()
    closer[:, 2:] = [1.0, 0.9, 1.0]
    np.testing.assert_allclose(model.softness(closer), model.softness(g), rtol=0, atol=1e-12)
    np.testing.assert_allclose(model.softness(g), model.w0 + g @ model.weights, rtol=1e-12, atol=1e-12)  # Eq. 1
    # without the rule (--min-spread 0) the rare feature is kept and blows S up: the rule is what helps
    raw = fit_linear_svm(X[y], X[~y], folds=2, c_grid=(0.1, 1.0), min_spread=0.0)
    assert raw.used[4]
    assert np.max(np.abs(raw.softness(closer) - raw.softness(g))) > 1e3 * np.max(np.abs(model.softness(g)))
    with pytest.raises(ParameterError, match="--min-spread"):
        fit_linear_svm(X[y], X[~y], folds=2, min_spread=10.0)  # nothing left
    with pytest.raises(ParameterError, match="--min-spread"):
        fit_linear_svm(X[y], X[~y], folds=2, min_spread=-1.0)


def test_model_file_round_trip_and_errors(tmp_path):
    rng = np.random.default_rng(5)
    fs = paper_set(("A", "B"))
    X = rng.normal(size=(80, fs.n_features))
    svm = fit_linear_svm(X[:40] + 0.5, X[40:], folds=2, c_grid=(0.1,))
    m = SoftnessModel(structure=fs, svm=svm, dim=3, trained_types=("A",), positions="inherent", p_hop_window=10.0,
                      frame_interval=1.0, temperature=0.47, training={"sources": ["a.gsd"], "seed": 0, "q": 7.25})
    p = tmp_path / "m.h5"
    write_model(m, p)
    r = read_model(p)
    assert r.structure.same_as(fs) and r.trained_types == ("A",) and r.dim == 3 and r.positions == "inherent"
    np.testing.assert_array_equal(r.softness(X), m.softness(X))
    assert r.training["sources"] == ["a.gsd"] and r.svm.C == 0.1
    np.testing.assert_array_equal(r.svm.used, svm.used) and r.svm.min_spread == svm.min_spread
    import h5py

    # format 1.0 (no /standardisation/used): every feature is used
    with h5py.File(p, "a") as h5:
        del h5["standardisation/used"]
        h5.attrs["format_version"] = "1.0"
    assert read_model(p).svm.used.all()
    with h5py.File(p, "a") as h5:
        h5["standardisation/used"] = np.r_[0, np.ones(fs.n_features - 1)].astype(np.int8)  # unused, yet v != 0
    with pytest.raises(ModelFileError, match="marks unused"):
        read_model(p)
    with h5py.File(p, "a") as h5:
        del h5["standardisation/used"]
        h5["standardisation/used"] = np.full(fs.n_features, 2, dtype=np.int8)
    with pytest.raises(ModelFileError, match="flags 0/1"):
        read_model(p)

    with h5py.File(p, "a") as h5:
        del h5["svm/v"]
        h5["svm/v"] = np.zeros(3)
    with pytest.raises(ModelFileError, match="266 finite values"):
        read_model(p)
    (tmp_path / "x.h5").write_bytes(b"not hdf5")
    with pytest.raises(ModelFileError, match="not an HDF5 file"):
        read_model(tmp_path / "x.h5")


# ------------------------------------------------------------------------------- mutants


def test_mutants_are_rejected():
    """Each mutant of tests/mutants/softness.py gives features (or p_hop) that the tolerance of the
    oracle tests (1e-10 relative) rejects, on one fixed configuration: the tests can fail."""
    from mutants.softness import MUTATIONS, mutant_p_hop, mutant_structure_functions

    rng = np.random.default_rng(8)
    box = np.array([2.3, 2.6, 2.9])
    pos = rng.uniform(0, 1, (6, 3)) * box
    typeid = np.array([0, 1, 0, 1, 0, 0])
    fs = StructureFunctionSet(type_names=("A", "B"), mu=np.linspace(0.3, 1.5, 7), sigma=0.3, sigma_max=1.6,
                              angular=np.array([(1.2, -1, 1), (2.0, 1, 2), (0.9, 1, 4)]))
    centres = np.arange(6)
    fast = structure_functions(pos, box, typeid, centres, fs)
    assert_agree(fast, oracle_structure_functions(pos, box, typeid, centres, fs))
    for name in MUTATIONS:
        if name.startswith("p_hop"):
            x = rng.normal(size=(14, 5, 3)).cumsum(axis=0)
            mut = mutant_p_hop(x, 3)
            assert not np.allclose(mut, p_hop(x, 3)[: len(mut)], rtol=1e-10), name
            continue
        mut = mutant_structure_functions(name, pos, box, typeid, centres, fs)
        big = np.abs(fast) > TINY
        assert not np.allclose(mut[big], fast[big], rtol=1e-10, atol=0), name
