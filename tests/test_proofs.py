"""Runs every derivation in proofs/ and asserts its identities (and its errata).

Style: a derived expression minus the printed (or used) one must simplify to 0; for a
misprint, the printed form minus the derived one must NOT simplify to 0, and where that is
shown symbolically it is also shown at an exact rational point (a non-zero number is a
proof; a failure to simplify is not).  Every check can fail: ``test_checker_rejects_*``
shows the zero-test rejects near misses.  Each erratum test names its ERRATA.md entry.
"""

import pytest
import scipy.integrate
import sympy as sp

from proofs import (
    background_subtraction,
    bayes_conditioning,
    drift_solution,
    exact_limits,
    joint_gaussian,
    onset,
    renormalization,
    uncorrelated_limit,
)
from proofs.gaussian import (
    conditional_by_precision,
    decorrelate,
    exp_quadratic_integral_check,
    is_zero,
    is_zero_log,
    is_zero_matrix,
    log_gaussian_average_check,
    symmetric_matrix,
)

# ======================================================================================
# the tools
# ======================================================================================


def test_checker_rejects_near_misses():
    x, y = sp.symbols("x y", real=True)
    assert is_zero((x + y) ** 2 - x**2 - 2 * x * y - y**2)
    assert not is_zero((x + y) ** 2 - x**2 - y**2)
    assert not is_zero(sp.Rational(1, 10**12))
    assert not is_zero_matrix(sp.Matrix([[0, 0], [0, x - y]]))
    assert is_zero_log(sp.log(x**2 + 1) / 2 - sp.log(sp.sqrt(x**2 + 1)))
    assert not is_zero_log(sp.log(x**2 + 1) / 2 - sp.log(x**2 + 1))


def test_exp_quadratic_integral_matches_sympy():
    by_sympy, ours = exp_quadratic_integral_check()
    assert is_zero(by_sympy - ours)


def test_log_gaussian_average():
    assert is_zero(log_gaussian_average_check())


def test_conditioning_formula_two_routes():
    """Decorrelation (Cov(residual, x1) = 0) and the precision route agree (quoted before B18)."""
    K = symmetric_matrix("k", 3)
    for n1 in (1, 2):
        cross, gain, cov = decorrelate(K[:n1, :n1], K[:n1, n1:], K[n1:, :n1], K[n1:, n1:])
        assert is_zero_matrix(cross)
        gain2, cov2 = conditional_by_precision(K, n1)
        assert is_zero_matrix(gain - gain2)
        assert is_zero_matrix(cov - cov2)


# ======================================================================================
# 1. Bayes conditioning, Sherman-Morrison (Eqs. 2, 5-9; B1-B10)
# ======================================================================================


def test_sherman_morrison_general_rank_one():
    assert bayes_conditioning.sherman_morrison_general() == 0


@pytest.fixture(scope="module")
def single_site():
    return bayes_conditioning.single_site_conditioning(3)


@pytest.mark.parametrize("key", ["precision", "sherman_morrison", "eq6", "eq8", "eq9", "eq7_corrected"])
def test_single_site_conditioning(single_site, key):
    """K'^-1 = K^-1 + 2 delta e0 e0^T; Eq. 6 / B10 (Sherman-Morrison); Eq. 8 / B9; Eq. 9."""
    assert is_zero_matrix(single_site[key])


def test_erratum_E2_eq7_missing_sigma2(single_site):
    diff = single_site["eq7_printed_minus_derived"]
    assert not is_zero_matrix(diff)
    # at a rational point: K00 = 2 (sigma^2), K01 = 1, ... delta = 1
    point = {s: v for s, v in zip(sorted(diff.free_symbols, key=str), [2, 1, sp.Rational(1, 2), 3, sp.Rational(1, 3), 2, 1])}
    assert sp.Matrix(diff.subs(point)) != sp.zeros(3, 3)


def test_erratum_E1_missing_half():
    r = bayes_conditioning.missing_half_erratum()
    assert r["variance_1d_printed"] == r["sigma2"] / 2
    assert r["variance_1d_corrected"] == r["sigma2"]
    assert is_zero_matrix(r["covariance_printed_minus_K_over_2"])
    assert is_zero_matrix(r["covariance_corrected_minus_K"])


def test_appendix_b_line_by_line():
    """B4 (only with the corrected B1), B6 and the corrected B5, B7, B8; errata E1, E11-E13."""
    r = bayes_conditioning.appendix_b_steps(3)
    assert r["B4_ok"]
    assert not r["B4_with_printed_B1_printed"]  # E1
    assert not r["B5_printed"]  # E11
    assert r["B5_corrected_ok"]
    assert r["B6_ok"]
    assert r["B7_printed_shape"] != (1, 1)  # E12
    assert r["B7_corrected_ok"]
    assert not r["B8_printed"]  # E13
    assert r["B8_corrected_ok"]


# ======================================================================================
# 2. multi-site conditioning (Eqs. 24-26)
# ======================================================================================


@pytest.fixture(scope="module")
def multi_site():
    return bayes_conditioning.multi_site_conditioning(3, (0, 1))


@pytest.mark.parametrize("key", ["precision", "eq24", "eq25", "eq26"])
def test_multi_site_conditioning(multi_site, key):
    assert is_zero_matrix(multi_site[key])


def test_erratum_E8_eq24_numerator(multi_site):
    assert not is_zero_matrix(multi_site["eq24_printed_minus_derived"])
    assert not is_zero_matrix(multi_site["eq24_printed_asymmetry"])


def _rational_spd(n):
    """An exact positive definite n x n matrix: B B^T + n 1 with a fixed integer B."""
    B = sp.Matrix(n, n, lambda i, j: ((3 * i + 5 * j + 1) % 7) - 3)
    return B * B.T / 4 + n * sp.eye(n)


@pytest.mark.parametrize("n, cluster", [(5, (0, 1, 2, 3)), (6, (1, 4)), (4, (2,))])
def test_multi_site_conditioning_rational(n, cluster):
    """Secondary check at larger n (plaquette-sized clusters) with an exact rational K."""
    r = bayes_conditioning.multi_site_conditioning(cluster=cluster, K=_rational_spd(n))
    for key in ("precision", "eq24", "eq25", "eq26"):
        assert is_zero_matrix(r[key]), key
    if len(cluster) > 1:
        assert not is_zero_matrix(r["eq24_printed_minus_derived"])


def test_erratum_E9_bare_law_in_eqs_24_26():
    r = bayes_conditioning.multi_site_rate_law_erratum()
    assert not is_zero(r["delta_minus_delta0"])
    assert is_zero(r["delta_minus_delta0"].subs(r["c"], 1))  # m = 1: no distinction
    assert not is_zero_matrix(r["K_prime_with_observed_minus_bare"])


# ======================================================================================
# 3. joint Gaussian and detailed balance (Eqs. 13-17; B15-B26)
# ======================================================================================


def test_state_and_kick_covariance_and_erratum_E3():
    r = joint_gaussian.eq15_check(2)
    assert is_zero_matrix(r["mean_minus_B16"])
    assert is_zero_matrix(r["Ky_minus_B17"])
    assert not is_zero_matrix(r["Ky_minus_eq15_printed"])  # E3: K where K' belongs


@pytest.mark.parametrize("key", ["cross_covariance", "gain_plus_H", "B21", "eq17"])
def test_conditional_kick(key):
    """<dS|S> = H (mu' - S), H = 1 - K2 K'^-1; K_Delta = (2 - H) H K' (B18-B25)."""
    assert is_zero_matrix(joint_gaussian.conditional_kick(2)[key])


def test_target_is_mu_prime():
    r = joint_gaussian.mean_condition(2)
    assert is_zero_matrix(r["mean_of_S_prime_minus_mu_prime"] - r["H_times_A_minus_mu_prime"])
    assert is_zero_matrix(r["at_A_equal_mu_prime"])


def test_b26_from_detailed_balance():
    r = joint_gaussian.detailed_balance_hessian_conditions(2)
    P, D, G = r["P"], r["D"], r["G"]
    for key in ("block_xx_minus", "block_xpxp_minus", "block_xpx_minus"):
        assert is_zero_matrix(r[key]), key
    assert is_zero_matrix(r["B26_residual"] - (D - P - G.T * D * G))
    assert is_zero_matrix(r["symmetry_residual"] + (D * G - G.T * D))
    # the swap difference of the Hessian is made of exactly these two residuals
    n = 2
    sd = r["swap_difference"]
    assert is_zero_matrix(sd[:n, :n] + r["B26_residual"])
    assert is_zero_matrix(sd[n:, :n] - r["symmetry_residual"])


def test_b26_equivalent_to_eq17():
    r = joint_gaussian.b26_equivalent_to_eq17(2)
    assert is_zero_matrix(r["R17_plus_KDelta_R26_Kprime"])
    assert is_zero_matrix(r["DG_asymmetry"])


# ======================================================================================
# 4. Eq. 19 (drift solution)
# ======================================================================================


def test_scalar_identities():
    r = drift_solution.scalar_identities()
    assert is_zero(r["eq17"]) and is_zero(r["B26"])


def test_principal_root_footnote_40():
    r = drift_solution.quadratic_roots()
    assert r["roots"] == r["expected_roots"]
    assert r["principal"] == 1 - r["s"]
    assert all(sp.im(root) != 0 for root in r["roots_above_one"])


@pytest.fixture(scope="module")
def whitened():
    return drift_solution.whitened_solution()


@pytest.mark.parametrize(
    "key",
    [
        "orthogonality",
        "similarity",
        "eq17",
        "B26",
        "H_Kprime_asymmetry",
        "KDelta_inv_G_asymmetry",
        "K_delta_inverse_check",
    ],
)
def test_whitened_solution_symbolic(whitened, key):
    assert is_zero_matrix(whitened[key])


@pytest.mark.parametrize("n", [2, 3])
def test_whitened_solution_rational(n):
    r = drift_solution.rational_example(n)
    for key in (
        "orthogonality",
        "similarity",
        "eq17",
        "B26",
        "H_Kprime_asymmetry",
        "KDelta_inv_G_asymmetry",
        "principal_root_difference",
        "overshoot_eq17",
        "overshoot_B26",
    ):
        assert is_zero_matrix(r[key]), key
    assert all(0 <= e < 1 for e in r["H_eigenvalues"])
    assert any(e > 1 for e in r["overshoot_H_eigenvalues"])


def test_eigenvalue_condition():
    assert is_zero_matrix(drift_solution.eigenvalue_condition()["difference"])


# ======================================================================================
# 5. uncorrelated limit (Eq. 18)
# ======================================================================================


def test_eq18_from_eq17_diagonal():
    r = uncorrelated_limit.diagonal_eq17(3)
    assert is_zero_matrix(r["residual"]) and is_zero_matrix(r["offdiagonal"])
    inv = uncorrelated_limit.eq18_inverse()
    assert is_zero(inv["residual"]) and inv["eta"] == 1 - inv["s"]


@pytest.mark.parametrize("n, m", [(3, 1), (3, 2), (5, 4)])
def test_eq18_sigma2_is_conditioned_variance(n, m):
    """E4: Eq. 18's sigma^2 is K'_ii: sigma^2 off the cluster, smaller on it."""
    r = uncorrelated_limit.conditioned_variances(n, m)
    assert r["away"] == 0 and r["on_cluster"] == 0
    assert all(e == 0 for e in r["offdiagonal_off_cluster"])
    assert not is_zero(r["on_cluster_minus_sigma2"])
    if m == 1:
        assert r["single_site"] == 0
    else:
        assert is_zero(r["offdiagonal_on_cluster"] - r["offdiagonal_on_cluster_expected"])
        assert not is_zero(r["offdiagonal_on_cluster"])


# ======================================================================================
# 6. renormalization (Eqs. 20-23; D1-D3)
# ======================================================================================


@pytest.mark.parametrize("shape", ["dimer", "plaquette", "general3"])
def test_cluster_conditional(shape):
    r = renormalization.cluster_conditional(shape)
    assert r["slope_minus_row_average"] == 0
    assert r["variance_minus_general"] == 0
    assert is_zero_matrix(r["gain_minus_corrected_D"])
    assert is_zero_matrix(r["conditional_cov_minus_D"])
    assert not is_zero_matrix(r["gain_minus_printed_D"])  # E14
    if shape == "general3":  # unequal row sums: c of Eq. 23 is not the slope
        assert not is_zero(r["slope_minus_c"])
    else:
        assert r["slope_minus_c"] == 0 and r["variance_minus_eq"] == 0


def test_dimer_direct_integral():
    assert is_zero(renormalization.dimer_direct_integral()["difference"])


def test_observed_from_bare():
    r = renormalization.observed_from_bare_derivation()
    for key in ("log_A", "gamma", "delta"):
        assert is_zero(r[f"{key}_minus_closed_form"]), key


@pytest.fixture(scope="module")
def inverse():
    return renormalization.bare_from_observed_derivation()


def test_eqs_20_21_as_printed(inverse):
    assert is_zero(inverse["eq20_difference"])
    assert is_zero(inverse["eq21_difference"])


def test_eq22_corrected_equals_coefficient_matched(inverse):
    assert is_zero(inverse["eq22_corrected_sqrt_argument_minus_q"])
    assert is_zero(inverse["eq22_corrected_exponent"])
    assert is_zero_log(inverse["mean_rate_identity"])


def test_erratum_E6_eq22_printed(inverse):
    e = inverse["eq22_printed_exponent"]
    assert not is_zero(e)
    assert is_zero(e.subs(renormalization.SYMBOLS["c"], 1))
    num = renormalization.eq22_numeric()
    assert abs(num["matched"] - num["corrected"]) < 1e-25
    assert abs(num["matched"] - num["mean_rate"]) < 1e-25
    assert abs(num["printed"] / num["matched"] - 1) > 0.5  # a factor ~10 at this point


def test_solvability(inverse):
    r = renormalization.solvability()
    assert is_zero(r["q_minus_c2_over_D"]) and is_zero(r["one_plus_2_delta_sigma2"])


def test_erratum_E5_order_estimates():
    r = renormalization.order_estimates()
    S = renormalization.SYMBOLS
    assert is_zero(r["delta0_zeroth"] - 1 / S["c"] ** 2)
    assert is_zero(r["delta0_second_order"] - r["expected_delta0_second_order"])
    assert is_zero(r["gamma0_first_order"] - r["expected_gamma0_first_order"])
    # the delta^2 term carries sigma^2, not sigma^4; the delta term of gamma0 carries mu
    assert sp.degree(sp.numer(sp.together(r["delta0_second_order"])), S["sigma2"]) == 1
    assert r["gamma0_first_order"].has(S["mu"])


@pytest.mark.parametrize(
    "dim, shape, z, n_orient",
    [
        (2, "site", 1, 1),
        (2, "dimer", 4, 2),
        (2, "plaquette", 4, 1),
        (3, "site", 1, 1),
        (3, "dimer", 6, 3),
        (3, "plaquette", 12, 3),
    ],
)
def test_erratum_E7_z(dim, shape, z, n_orient):
    r = renormalization.clusters_per_site(dim, shape)
    assert r["uniform"] and r["z"] == z and r["n_orientations"] == n_orient
    assert r["z"] == r["m"] * r["N_m_over_N"]
    if r["m"] > 1:
        assert r["z"] != r["N_m_over_N"]


def test_derived_renormalization_export():
    d = renormalization.derived_renormalization()
    S = renormalization.SYMBOLS
    for key in ("A0", "gamma0", "delta0"):
        assert not d[key].has(S["gamma0"], S["delta0"], S["A0"]), key
    kw = dict(mean=-0.8, variance=1.3, c=0.37, z=12)
    bare = d["bare_from_observed"](0.07, 1.1, 0.04, **kw)
    back = d["observed_from_bare"](*bare, **kw)
    assert back == pytest.approx((0.07, 1.1, 0.04), rel=1e-12)


_RENORM_POINTS = [
    (0.07, 1.1, 0.04, dict(mean=-0.8, variance=1.3, c=0.37, z=12)),
    (2.5, -0.3, 0.0, dict(mean=0.4, variance=0.5, c=0.6, z=4)),
    (0.9, 2.0, -0.1, dict(mean=-1.5, variance=0.8, c=0.3, z=6)),
    (1.0, 0.5, 0.2, dict(mean=0.0, variance=1.0, c=1.0, z=1)),
]


@pytest.mark.parametrize("A, gamma, delta, kw", _RENORM_POINTS)
def test_oracle_renormalization_matches_derivation(A, gamma, delta, kw):
    from trsp_ref.renormalization import bare_from_observed, observed_from_bare

    d = renormalization.derived_renormalization()
    assert bare_from_observed(A, gamma, delta, **kw) == pytest.approx(d["bare_from_observed"](A, gamma, delta, **kw), rel=1e-10)
    assert observed_from_bare(A, gamma, delta, **kw) == pytest.approx(d["observed_from_bare"](A, gamma, delta, **kw), rel=1e-10)


@pytest.mark.parametrize(
    "dim, shape, L", [(2, "site", 4), (2, "dimer", 4), (2, "plaquette", 3), (3, "dimer", 3), (3, "plaquette", 3)]
)
def test_oracle_clusters_match_spec(dim, shape, L):
    """The oracle's cluster list follows docs/model.md exactly as enumerated here."""
    from trsp_ref.lattice import cluster_sites, clusters_per_site

    ours = renormalization.cluster_sites(dim, L, shape)
    assert [tuple(int(i) for i in row) for row in cluster_sites(dim, L, shape)] == ours
    assert clusters_per_site(dim, shape) == renormalization.clusters_per_site(dim, shape)["z"]


# ======================================================================================
# 7. background subtraction (E1-E2)
# ======================================================================================


def test_background_subtraction():
    comp = background_subtraction.composite_kick()
    assert comp["mean_residual"] == 0
    r = background_subtraction.background_identities()
    for key in ("E1", "E2_given_eq18_second", "composite_eq18", "order_symmetry_given_eq18"):
        assert is_zero(r[key]), key
    for key in ("E2_without_eq18", "order_dependence_without_eq18", "naive_eta"):
        assert not is_zero(r[key]), key
    inv = background_subtraction.subtract_background()
    assert is_zero(inv["eta1_residual"]) and is_zero(inv["sigma_R1sq_residual"])


# ======================================================================================
# 8. onset (Eqs. 27-28)
# ======================================================================================


def test_erratum_E10_eq28_sign():
    r = onset.onset_sign()
    assert not is_zero(r["printed"])
    assert r["derived"] == 0


def test_temperature_rates():
    r = onset.rates_from_coefficients()
    for key in ("A_difference", "gamma_difference", "delta_difference"):
        assert is_zero(r[key]), key
    assert r["gamma_over_onset_factor"] == -onset.SYMBOLS["eps1"]


@pytest.mark.parametrize("T", [0.45, 0.74, 1.2])
def test_oracle_temperature_matches_derivation(T):
    from trsp_ref.params import Temperature
    from trsp_ref.temperature import rates_at_temperature

    values = dict(Sigma0=1.3, eps0=2.1, eps1=-3.0, eps2=0.4, T=T, T0=0.74)
    ours = onset.derived_temperature_rates()["rates_at_temperature"](**values)
    theirs = rates_at_temperature(Temperature(**values, mean_a=0.0, mean_b=0.0))
    assert theirs == pytest.approx(ours, rel=1e-12, abs=1e-15)


# ======================================================================================
# 9. exact limits used by the oracle
# ======================================================================================


@pytest.mark.parametrize("dim, shape, L", [(2, "site", 5), (2, "dimer", 5), (2, "plaquette", 5), (3, "plaquette", 4)])
def test_onset_limit(dim, shape, L):
    r = exact_limits.onset_limit(dim, shape, L)
    assert r["Q_minus_closed"] == 0 and r["cov_minus_closed"] == 0
    assert r["union_check"]
    assert r["chi4_small_t"] == r["z"] * r["m"]
    assert r["site_peak"] == (sp.log(2), sp.Rational(1, 4))
    # chi4 equals sum_j exp(-2 z r0 t)(exp(n_0j r0 t) - 1) with the counted n_0j
    r0, t = r["r0"], r["t"]
    closed = sum(sp.exp(-2 * r["z"] * r0 * t) * (sp.exp(n * r0 * t) - 1) for n in r["n"])
    assert is_zero(r["chi4"] - closed)


def test_onset_bare_law():
    r = exact_limits.onset_bare_law()
    assert all(v == 0 for v in r.values())


def test_oracle_pair_counts_match_derivation():
    from trsp_ref.limits import onset_pair_counts
    from trsp_ref.params import Params, params_from_dict, params_to_dict

    d = params_to_dict(Params())
    d["lattice"].update(dim=2, L=5)
    d["cluster"]["shape"] = "plaquette"
    p = params_from_dict(d)
    assert [int(v) for v in onset_pair_counts(p)] == exact_limits.shared_cluster_counts(2, "plaquette", 5)["n"]


def test_frozen_site_limit():
    r = exact_limits.frozen_site_limit()
    assert all(v == 0 for v in r["bare_equals_observed"])
    assert r["H_without_kick"] == 0
    assert r["Q_at_zero_slope"] == 0
    assert is_zero_log(r["log_mean_rate_minus_closed"])
    assert is_zero(r["chi4_bernoulli"] - r["p"] * (1 - r["p"]))


def test_frozen_site_overlap_numeric_against_oracle():
    """Q(t) = E_S[exp(-t r(S))] by SymPy quadrature vs the oracle's frozen_site_overlap, if it can be built."""
    from trsp_ref.limits import frozen_site_overlap, frozen_site_rate_law
    from trsp_ref.params import Params, params_from_dict, params_to_dict

    d = params_to_dict(Params())
    d["lattice"].update(dim=2, L=4)
    d["cluster"]["shape"] = "site"
    d["kick"]["facilitation"] = 0.0
    d["softness"]["C1"] = 0.0
    p = params_from_dict(d)
    law = frozen_site_rate_law(p)
    S = renormalization.SYMBOLS
    A, gamma, delta, mu, sd = law  # frozen_site_rate_law returns the standard deviation
    t_value = 3.0
    Q = exact_limits.frozen_site_limit()["Q"]
    values = {
        S["A"]: A, S["gamma"]: gamma, S["delta"]: delta, S["mu"]: mu, S["sigma2"]: sd**2,
        sp.Symbol("t", positive=True): t_value, sp.Symbol("duration", positive=True): p.rates.duration,
    }  # fmt: skip
    integrand = Q.function.subs(values)
    assert integrand.free_symbols == set(Q.variables)
    f = sp.lambdify(Q.variables[0], integrand, "math")
    ours, _ = scipy.integrate.quad(f, mu - 12 * sd, mu + 12 * sd, limit=200, epsabs=1e-13)
    assert frozen_site_overlap(p, t_value) == pytest.approx(ours, abs=1e-10)
