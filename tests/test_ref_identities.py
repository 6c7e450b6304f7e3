"""Identities the oracle's operators must satisfy (Eqs. 17, 19, 24-26, B26; docs/model.md canonical draws).

Tolerances: 1e-9 relative.  The parameter ranges of ``valid_params`` keep K, K' and (for
B26, which inverts K_Delta) K_Delta moderately conditioned: K has a nugget of at least
0.2 variance, the largest eigenvalue of K_Delta K'^-1 stays below ~0.8 (so 1 - M is not
near singular), and ``well_conditioned_kick`` keeps sD(r) from decaying by more than
~e^-6 across the box (xi_sigma >= 1, sigma1 >= 0.4 sigma0), so cond(K_Delta) <~ 1e7 and
the residuals measured are ~1e-14.  Outside such ranges the identities still hold
mathematically, but a relative residual of 1e-9 would measure round-off, not correctness.
"""

import math

import numpy as np
import pytest
import scipy.linalg
from hypothesis import given, strategies as st

from strategies import reference_model, valid_params
from trsp_ref.conditioning import cluster_weights, conditioned_on_cluster
from trsp_ref.kick import drift_matrix, kick_covariance, residual_B26, residual_eq17
from trsp_ref.model import ReferenceModel
from trsp_ref.params import ParameterError, Params

TOL = 1e-9


def _some_clusters(model, data):
    """Cluster 0 of every orientation plus one drawn cluster."""
    ids = [o * model.N for o in range(model.n_clusters // model.N)]
    ids.append(data.draw(st.integers(0, model.n_clusters - 1), label="cluster_id"))
    return ids


def _rel(a, b, scale=None):
    """||a - b|| relative to ``scale`` (default: the larger of ||a||, ||b||; 0 when both vanish)."""
    diff = np.linalg.norm(a - b)
    scale = max(np.linalg.norm(a), np.linalg.norm(b)) if scale is None else scale
    return diff / scale if scale > 0 else diff


@given(p=valid_params(), data=st.data())
def test_eq17_holds_for_H_from_drift_matrix(p, data):
    model = reference_model(p)
    for cid in _some_clusters(model, data):
        ops = model.kick_operators(cid)
        assert residual_eq17(ops.H, ops.K_Delta, ops.K_prime) < TOL


@given(p=valid_params(well_conditioned_kick=True), data=st.data())
def test_eq_B26_holds_for_H_from_drift_matrix(p, data):
    model = reference_model(p)
    for cid in _some_clusters(model, data):
        ops = model.kick_operators(cid)
        assert residual_B26(ops.H, ops.K_Delta, ops.K_prime) < TOL


@given(p=valid_params(), data=st.data())
def test_kick_is_time_reversible_given_the_cluster(p, data):
    """With S ~ N(mu', K') and S' = S + H(mu' - S) + K_Delta^(1/2) zeta: S' ~ N(mu', K') and
    Cov(S, S') = K'(1 - H)^T is symmetric, i.e. (S, S') and (S', S) have the same law (Eq. 12)."""
    model = reference_model(p)
    I = np.eye(model.N)
    for cid in _some_clusters(model, data):
        ops = model.kick_operators(cid)
        B = I - ops.H
        cov_after = B @ ops.K_prime @ B.T + ops.noise_factor @ ops.noise_factor.T
        assert _rel(cov_after, ops.K_prime) < TOL
        cross = ops.K_prime @ B.T
        assert _rel(cross, cross.T) < TOL


@given(p=valid_params(max_N=64), data=st.data())
def test_H_equals_the_direct_matrix_square_root(p, data):
    """Eq. 19 evaluated the plain way, 1 - sqrtm(1 - K_Delta inv(K')), agrees with the symmetric route;
    the principal root has real eigenvalues in [0, 1)."""
    model = reference_model(p)
    cid = data.draw(st.integers(0, model.n_clusters - 1))
    ops = model.kick_operators(cid)
    I = np.eye(model.N)
    direct = I - scipy.linalg.sqrtm(I - ops.K_Delta @ np.linalg.inv(ops.K_prime))
    assert np.max(np.abs(np.imag(direct))) < 1e-9
    assert np.max(np.abs(ops.H - np.real(direct))) < 1e-9  # H is dimensionless, O(1)
    eig = np.linalg.eigvals(ops.H)
    assert np.max(np.abs(eig.imag)) < 1e-9
    assert np.all(eig.real > -1e-9) and np.all(eig.real < 1.0)


@given(p=valid_params(), data=st.data())
def test_conditioning_matches_joint_gaussian_of_S_and_cluster_mean(p, data):
    """K', mu' (dense inverse of the tilted precision) against the other route: the rate
    depends on S only through sbar = w^T S, so P(S | fires) keeps P(S | sbar) and tilts
    the marginal of sbar ~ N(mean, v), v = w^T K w, to precision 1/v + 2 delta0 and mean
    (mean/v + gamma0) / (1/v + 2 delta0).  No N x N inverse is involved."""
    model = reference_model(p)
    _, gamma0, delta0 = model.rates.bare
    K, mean = model.K, model.mean
    for cid in _some_clusters(model, data):
        ops = model.kick_operators(cid)
        w = cluster_weights(model.N, ops.sites)
        Kw = K @ w
        v = w @ Kw
        v_tilted = 1.0 / (1.0 / v + 2.0 * delta0)
        m_tilted = (mean / v + gamma0) * v_tilted
        K_expected = K - np.outer(Kw, Kw) / v + np.outer(Kw, Kw) * v_tilted / v**2
        mu_expected = mean + Kw * (m_tilted - mean) / v
        assert _rel(ops.K_prime, K_expected) < TOL
        assert np.max(np.abs(ops.mu_prime - mu_expected)) < TOL * max(1.0, np.max(np.abs(mu_expected)))


def test_uncorrelated_site_model_reduces_to_eq18():
    """No correlations, single sites: H diagonal, sigma_Delta^2 = sigma'^2 eta (2 - eta) (Eq. 18)."""
    p = Params().replace(
        lattice={"dim": 2, "L": 5},
        softness={"C1": 0.0, "variance": 1.4},
        kick={"rho1": 0.0, "sigma0": 0.8, "sigma1": 0.5},
        cluster={"shape": "site"},
    )
    model = ReferenceModel(p)
    ops = model.kick_operators(7)
    assert np.max(np.abs(ops.H - np.diag(np.diag(ops.H)))) < 1e-15
    var_prime = np.diag(ops.K_prime)
    var_kick = np.diag(ops.K_Delta)
    eta = 1.0 - np.sqrt(1.0 - var_kick / var_prime)
    np.testing.assert_allclose(np.diag(ops.H), eta, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(var_kick, var_prime * eta * (2 - eta), rtol=1e-12, atol=1e-15)
    # Eqs. 7, 9 at the firing site: sigma'^2 = sigma^2 / (1 + 2 delta0 sigma^2)
    _, gamma0, delta0 = model.rates.bare
    assert var_prime[7] == pytest.approx(1.4 / (1 + 2 * delta0 * 1.4), rel=1e-12)
    mu = model.mean
    assert ops.mu_prime[7] == pytest.approx(mu + (gamma0 - 2 * delta0 * mu) * 1.4 / (1 + 2 * delta0 * 1.4), rel=1e-12)


def test_identity_checks_can_fail():
    """Mutants: H built from K instead of K' (Eq. 15's misprint) or without the square root fails Eq. 17."""
    model = reference_model(Params().replace(lattice={"dim": 2, "L": 5}))
    ops = model.kick_operators(0)
    wrong_K = drift_matrix(ops.K_Delta, model.K)
    assert residual_eq17(wrong_K, ops.K_Delta, ops.K_prime) > 1e-3
    linearized = 0.5 * ops.K_Delta @ np.linalg.inv(ops.K_prime)  # first order of Eq. 19
    assert residual_eq17(linearized, ops.K_Delta, ops.K_prime) > 1e-3
    assert residual_B26(linearized, ops.K_Delta, ops.K_prime) > 1e-5


# --------------------------------------------------------------------------------------
# truncations (the model trsp_fast claims)
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("radius", [0.0, 1.0, 1.5, 2.3])
def test_kick_radius_leaves_sites_outside_the_window_untouched(radius):
    p = Params().replace(lattice={"dim": 2, "L": 7})
    model = ReferenceModel(p, kick_radius=radius)
    cid = 9
    ops = model.kick_operators(cid)
    rt = model.dist[:, ops.sites].min(axis=1)
    outside = rt > radius
    assert np.all(ops.K_Delta[outside] == 0) and np.all(ops.K_Delta[:, outside] == 0)
    full = kick_covariance(p, model.dist, ops.sites)
    inside = ~outside
    np.testing.assert_array_equal(ops.K_Delta[np.ix_(inside, inside)], full[np.ix_(inside, inside)])
    assert residual_eq17(ops.H, ops.K_Delta, ops.K_prime) < TOL
    rng = np.random.default_rng(3)
    S = model.sample_equilibrium(rng)
    S_new = model.apply_kick(S, cid, rng.standard_normal(model.N))
    assert np.all(S_new[outside] == S[outside])
    assert np.any(S_new[inside] != S[inside])


@pytest.mark.parametrize("dim,L,radius", [(2, 7, 1.0), (2, 7, 1.5), (2, 7, 2.3), (3, 5, 1.0), (3, 5, 3.0)])
def test_precision_radius_truncates_the_precision(dim, L, radius):
    p = Params().replace(lattice={"dim": dim, "L": L})
    full = ReferenceModel(p)
    model = ReferenceModel(p, precision_radius=radius)
    P_full = np.linalg.inv(full.K)
    P = np.linalg.inv(model.K)
    far = model.dist > radius
    assert np.max(np.abs(P[far])) < 1e-12 * np.max(np.abs(P_full))
    np.testing.assert_allclose(P[~far], P_full[~far], rtol=1e-10, atol=1e-12)
    assert np.all(np.linalg.eigvalsh(model.K) > 0)
    ops = model.kick_operators(5)
    assert residual_eq17(ops.H, ops.K_Delta, ops.K_prime) < TOL
    # the rate law is a parameter-level quantity: the same as for the full model
    assert model.rates == full.rates


def test_precision_radius_that_breaks_positive_definiteness_is_refused():
    """In 3D on small tori inv(K) has sizeable entries out to the box size: truncating it
    at radius 2 leaves an indefinite matrix (smallest eigenvalue ~ -0.16 for the defaults)."""
    p = Params().replace(lattice={"dim": 3, "L": 5})
    with pytest.raises(ParameterError) as err:
        ReferenceModel(p, precision_radius=2.0)
    assert err.value.parameter == "precision_radius" and "positive definite" in str(err.value)


def test_infinite_radii_give_the_full_model():
    p = Params().replace(lattice={"dim": 2, "L": 5})
    a, b = ReferenceModel(p), ReferenceModel(p, kick_radius=math.inf, precision_radius=math.inf)
    np.testing.assert_array_equal(a.K, b.K)
    np.testing.assert_array_equal(a.kick_operators(3).H, b.kick_operators(3).H)


# --------------------------------------------------------------------------------------
# canonical draws (docs/model.md) and purity
# --------------------------------------------------------------------------------------


def test_cluster_rates_are_the_bare_law_of_the_cluster_mean():
    model = reference_model(Params().replace(lattice={"dim": 2, "L": 4}))
    S = model.sample_equilibrium(np.random.default_rng(0))
    A0, g0, d0 = model.rates.bare
    rates = model.cluster_rates(S)
    for k, row in enumerate(model.clusters):
        s = sum(S[i] for i in row) / len(row)
        assert rates[k] == pytest.approx(A0 * math.exp(g0 * s - d0 * s * s) / model.params.rates.duration, rel=1e-13)


@given(u1=st.floats(0.0, 1.0, exclude_max=True), u2=st.floats(0.0, 1.0, exclude_max=True), seed=st.integers(0, 10))
def test_choose_event_follows_the_canonical_rule(u1, u2, seed):
    model = reference_model(Params().replace(lattice={"dim": 2, "L": 4}))
    S = model.sample_equilibrium(np.random.default_rng(seed))
    rates = model.cluster_rates(S)
    total = sum(rates)
    k_expected, running = None, 0.0
    for k, r in enumerate(rates):  # the smallest k with r_0 + ... + r_k > u2 R
        running += r
        if running > u2 * total:
            k_expected = k
            break
    k, dt = model.choose_event(S, u1, u2)
    assert k == k_expected
    # -log(1 - u1) evaluated as -log1p(-u1): exact also for tiny u1, where log(1 - u1) loses digits
    assert dt == pytest.approx(-math.log1p(-u1) / total, rel=1e-12, abs=0)


def test_choose_event_rejects_bad_uniforms():
    model = reference_model(Params().replace(lattice={"dim": 2, "L": 4}))
    S = np.full(model.N, model.mean)
    for bad in (1.0, -0.1, math.nan):
        with pytest.raises(ValueError):
            model.choose_event(S, bad, 0.5)
        with pytest.raises(ValueError):
            model.choose_event(S, 0.5, bad)
    with pytest.raises(ValueError):
        model.cluster_rates(np.full(model.N, math.nan))


@given(p=valid_params(max_N=64), data=st.data())
def test_apply_kick_is_the_canonical_draw(p, data):
    """S + H(mu' - S) + K_Delta^(1/2) zeta, K_Delta^(1/2) the symmetric PSD root.

    The root is checked through the properties that make it unique (symmetric, positive
    semi-definite, squares to K_Delta) rather than against scipy's sqrtm, which for a
    singular K_Delta (sD underflowing far away) may return a different, non-PSD root.
    Its accuracy for near-singular K_Delta is tested against 50-digit arithmetic below.
    """
    model = reference_model(p)
    cid = data.draw(st.integers(0, model.n_clusters - 1))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    S = model.sample_equilibrium(rng)
    zeta = rng.standard_normal(model.N)
    S_before = S.copy()
    ops = model.kick_operators(cid)
    root = ops.noise_factor
    assert np.array_equal(root, root.T)
    eig = np.linalg.eigvalsh(root)
    assert eig[0] > -1e-12 * max(1.0, eig[-1])
    assert _rel(root @ root, ops.K_Delta) < TOL
    expected = S + ops.H @ (ops.mu_prime - S) + root @ zeta
    np.testing.assert_array_equal(model.apply_kick(S, cid, zeta), expected)
    assert np.array_equal(S, S_before)  # pure


def test_noise_factor_is_accurate_when_K_Delta_is_near_singular():
    """The root from the factor C (polar decomposition) against the root of C C^T in 50-digit
    arithmetic, on the parameter set that made CI fail when the oracle took it from eigh(K_Delta):
    sD(r > 0) ~ 4e-17, so K_Delta has eight eigenvalues ~1e-33 and its float eigenvalues carry
    errors ~1e-18, whose square roots (~1e-9) would spoil the root."""
    import mpmath

    from trsp_ref.kick import kick_covariance_factor

    p = Params().replace(
        lattice={"dim": 2, "L": 3},
        softness={"C1": 0.0},
        kick={"sigma0": 0.16237976320958225, "sigma1": 3.6055550369691825e-17, "rho1": 0.5, "xi_rho": 1.0},
        cluster={"shape": "site"},
    )
    model = reference_model(p)
    sites = model.kick_operators(4).sites
    C = kick_covariance_factor(p, model.dist, sites, rho_cholesky=np.linalg.cholesky(model.rho))
    with mpmath.workdps(50):
        Cm = mpmath.matrix(C.tolist())
        lam, V = mpmath.eigsy(Cm * Cm.T)
        root = V * mpmath.diag([mpmath.sqrt(max(x, 0)) for x in lam]) * V.T
        exact = np.array(root.tolist(), dtype=float)
    np.testing.assert_allclose(model.kick_operators(4).noise_factor, exact, rtol=0, atol=1e-15)


def test_noise_factor_matches_an_independent_root_when_K_Delta_is_well_conditioned():
    model = reference_model(Params().replace(lattice={"dim": 2, "L": 5}))
    ops = model.kick_operators(3)
    assert np.linalg.cond(ops.K_Delta) < 1e8
    np.testing.assert_allclose(ops.noise_factor, np.real(scipy.linalg.sqrtm(ops.K_Delta)), rtol=0, atol=1e-12)


def test_sample_equilibrium_is_mean_plus_cholesky_times_normals():
    model = reference_model(Params().replace(lattice={"dim": 2, "L": 4}))
    S = model.sample_equilibrium(np.random.default_rng(42))
    z = np.random.default_rng(42).standard_normal(model.N)
    np.testing.assert_allclose(S, model.mean + np.linalg.cholesky(model.K) @ z, rtol=1e-13, atol=1e-13)


def test_cached_operators_are_read_only_and_recomputed_identically():
    p = Params().replace(lattice={"dim": 2, "L": 4})
    model = ReferenceModel(p, cache_size=1)
    first = model.kick_operators(5)
    with pytest.raises(ValueError):
        first.H[0, 0] = 1.0
    model.kick_operators(6)  # evicts 5
    again = model.kick_operators(5)
    assert again is not first
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(IndexError):
        model.kick_operators(model.n_clusters)
    with pytest.raises(TypeError):
        model.kick_operators(1.0)


def test_conditioned_on_cluster_without_precomputed_inverse():
    model = reference_model(Params().replace(lattice={"dim": 2, "L": 4}))
    ops = model.kick_operators(2)
    _, g0, d0 = model.rates.bare
    mu, Kp = conditioned_on_cluster(model.K, model.mean, ops.sites, g0, d0)
    np.testing.assert_allclose(Kp, ops.K_prime, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(mu, ops.mu_prime, rtol=1e-12, atol=1e-14)
