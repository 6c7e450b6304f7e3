"""The exact limits of trsp_ref.limits, and the dense Gillespie loop checked against them.

Deterministic part: the closed forms' own properties, special cases and applicability checks.

Statistical part (fixed seeds, so CI is deterministic): R replicas of the dense oracle
(`trsp_ref.dynamics.gillespie`, each replica starting from its own S ~ N(mean, K)) give
Q_r(t) at a few times t_k.

* Mean test.  Z_k = (mean_r Q_r(t_k) - Q(t_k)) / sqrt(chi_4(t_k) / (N R)): by Eq. 32 the
  variance of one replica's Q is chi_4/N, taken from the closed form itself, so Z_k is
  exactly standardized and N(0, 1) up to the CLT over N R site-samples.
* Variance test.  Z_k = (s_k^2 - chi_4(t_k)/N) / sqrt((m4_k - (chi_4/N)^2 (R-3)/(R-1)) / R),
  s^2 the sample variance and m4 the sample fourth central moment of Q_r(t_k) (asymptotic
  variance of s^2, Slutsky).
* Each test rejects when max_k |Z_k| > z_(1 - ALPHA / (2 K)): two-sided, Bonferroni over
  the K times, so its false-alarm rate is at most ALPHA = 1e-3 (the Z_k are positively
  correlated, which makes Bonferroni conservative).  The calibration test (marked
  `calibration`, not run in CI) measures the false-alarm rate over 200 seeds.
* Power: every test has mutants (wrong rate, missing 1/duration, 1 - exp, annealed
  disorder average, wrong chi_4, ...) that the same test, same seed, must reject; their
  power is computed from the closed forms and asserted >= 0.999.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
import scipy.stats

from trsp_ref import limits
from trsp_ref.dynamics import first_participation_times, gillespie, overlap
from trsp_ref.model import ReferenceModel
from trsp_ref.params import ParameterError, params_from_dict
from trsp_ref.renormalization import log_gaussian_average, rate_parameters

#: family-wise false-alarm rate of each statistical test (two-sided, Bonferroni over its times)
ALPHA = 1e-3
#: the seed of the CI runs
CI_SEED = 20240611
#: required power against each mutant
MIN_POWER = 0.999

# ---- the two configurations --------------------------------------------------------------

#: onset: 2D plaquettes (z = 4, overlapping clusters), S-independent rates, default kicks;
#: duration != z so that the 'missing 1/duration' and 'A not A/z' mutants differ
ONSET = params_from_dict(
    {
        "lattice": {"dim": 2, "L": 4},
        "rates": {"A": 0.8, "gamma": 0.0, "delta": 0.0, "duration": 2.0},
        "cluster": {"shape": "plaquette"},
    }
)
ONSET_X = np.array([0.3, 0.8, 1.6])  # z r0 t: Q = 0.74, 0.45, 0.20
ONSET_REPLICAS = 3000

#: frozen single sites: broad rate distribution (gamma = 2, sd = 1), duration != 1
FROZEN = params_from_dict(
    {
        "lattice": {"dim": 2, "L": 6},
        "softness": {"mean": -0.5, "variance": 1.0, "C1": 0.0},
        "rates": {"A": 0.5, "gamma": 2.0, "delta": 0.2, "duration": 2.0},
        "kick": {"facilitation": 0.0},
        "cluster": {"shape": "site"},
    }
)
FROZEN_TIMES = np.array([0.5, 2.0, 8.0])  # Q = 0.87, 0.70, 0.48
FROZEN_REPLICAS = 600


def onset_times(p=ONSET):
    return ONSET_X / (rate_parameters(p).z * limits.onset_rate(p))


# ---- statistics ----------------------------------------------------------------------------


def simulate_overlaps(model: ReferenceModel, times: np.ndarray, replicas: int, seed: int) -> np.ndarray:
    """(replicas, K): Q_r(t_k) of independent replicas, each from its own S0 ~ N(mean, K), one seed for all."""
    rng = np.random.default_rng(seed)
    out = np.empty((replicas, times.size))
    for r in range(replicas):
        S0 = model.sample_equilibrium(rng)
        traj = gillespie(model, S0, rng, t_max=float(times.max()))
        out[r] = overlap(first_participation_times(traj, model.clusters, model.N), times)
    return out


def critical_value(K: int) -> float:
    return float(scipy.stats.norm.isf(ALPHA / (2 * K)))


def mean_z(Q: np.ndarray, N: int, q_claim, chi4_claim) -> np.ndarray:
    R = Q.shape[0]
    return (Q.mean(axis=0) - np.asarray(q_claim)) / np.sqrt(np.asarray(chi4_claim) / (N * R))


def variance_z(Q: np.ndarray, N: int, chi4_claim) -> np.ndarray:
    R = Q.shape[0]
    sigma2 = np.asarray(chi4_claim) / N
    s2 = Q.var(axis=0, ddof=1)
    m4 = ((Q - Q.mean(axis=0)) ** 4).mean(axis=0)
    return (s2 - sigma2) / np.sqrt((m4 - sigma2**2 * (R - 3) / (R - 1)) / R)


def rejects(Z: np.ndarray) -> bool:
    return bool(np.max(np.abs(Z)) > critical_value(Z.size))


def mean_test_power(q_true, chi4_true, q_claim, chi4_claim, N: int, R: int) -> float:
    """Lower bound (best single time) on the mean test's power when the data follow (q_true, chi4_true)."""
    c = critical_value(len(q_true))
    sd_claim = np.sqrt(np.asarray(chi4_claim) / (N * R))
    mu = (np.asarray(q_true) - np.asarray(q_claim)) / sd_claim
    s = np.sqrt(np.asarray(chi4_true) / np.asarray(chi4_claim))
    per_time = scipy.stats.norm.cdf((-c - mu) / s) + scipy.stats.norm.sf((c - mu) / s)
    return float(per_time.max())


def variance_test_power(Q: np.ndarray, N: int, chi4_true, chi4_claim) -> float:
    """Approximate lower bound on the variance test's power (Var s^2 from the sample fourth moment)."""
    R = Q.shape[0]
    c = critical_value(Q.shape[1])
    m4 = ((Q - Q.mean(axis=0)) ** 4).mean(axis=0)
    t2, c2 = np.asarray(chi4_true) / N, np.asarray(chi4_claim) / N
    sd_true = np.sqrt((m4 - t2**2 * (R - 3) / (R - 1)) / R)
    sd_claim = np.sqrt(np.maximum(m4 - c2**2 * (R - 3) / (R - 1), 1e-300) / R)
    mu, s = (t2 - c2) / sd_claim, sd_true / sd_claim
    return float((scipy.stats.norm.cdf((-c - mu) / s) + scipy.stats.norm.sf((c - mu) / s)).max())


# ---- the closed forms and their mutants --------------------------------------------------


def onset_claims(p=ONSET):
    """name -> (Q(t_k), chi_4(t_k)) claimed by the closed form and by each mutant, at the onset times."""
    t = onset_times(p)
    q, chi4 = limits.onset_overlap(p, t), limits.onset_chi4(p, t)
    A, duration = p.rates.A, p.rates.duration
    z, m = rate_parameters(p).z, p.m

    def with_rates(**rates):
        p2 = p.replace(rates=rates)
        return limits.onset_overlap(p2, t), limits.onset_chi4(p2, t)

    return {
        "closed_form": (q, chi4),
        "rate_missing_1/duration": with_rates(duration=1.0),
        "cluster_rate_A_not_A/z": with_rates(A=A * z),  # the renormalization's 1/z forgotten
        "rate_10%_high": with_rates(A=1.1 * A),
        "Q_is_1-exp": (1.0 - q, chi4),
    }, {
        "closed_form": chi4,
        "chi4_independent_sites_Q(1-Q)": q * (1.0 - q),
        "chi4_nonoverlapping_clusters_mQ(1-Q)": m * q * (1.0 - q),  # the trap-model reference of Sec. VII.A
    }, duration


def frozen_claims(p=FROZEN):
    t = FROZEN_TIMES
    q = limits.frozen_site_overlap(p, t)
    chi4 = limits.frozen_site_chi4(p, t)
    A, gamma, delta = p.rates.A, p.rates.gamma, p.rates.delta
    mean = p.softness.mean
    q_annealed = np.exp(-A * math.exp(gamma * mean - delta * mean**2) / p.rates.duration * t)

    def with_rates(**rates):
        p2 = p.replace(rates=rates)
        q2 = limits.frozen_site_overlap(p2, t)
        return q2, q2 * (1.0 - q2)

    return {
        "closed_form": (q, chi4),
        "annealed_rate_at_mean_S": (q_annealed, q_annealed * (1.0 - q_annealed)),
        "rate_missing_1/duration": with_rates(duration=1.0),
        "gamma_sign_flipped": with_rates(gamma=-gamma),
        "Q_is_1-E[exp]": (1.0 - q, chi4),
    }, {
        "closed_form": chi4,
        "chi4_over_dynamics_only": limits.frozen_site_chi4(p, t, variance_over="dynamics"),
    }


@pytest.fixture(scope="module")
def onset_data():
    model = ReferenceModel(ONSET)
    return simulate_overlaps(model, onset_times(), ONSET_REPLICAS, CI_SEED), model.N


@pytest.fixture(scope="module")
def frozen_data():
    model = ReferenceModel(FROZEN)
    return simulate_overlaps(model, FROZEN_TIMES, FROZEN_REPLICAS, CI_SEED), model.N


# ---- statistical tests (CI: one fixed seed) ------------------------------------------------


#: the two exactly solvable limits: their simulated overlaps (fixture) and their claims
#: (closed form and mutants) for the mean of Q and for chi_4
LIMITS = {
    "onset": ("onset_data", lambda: onset_claims()[:2]),
    "frozen": ("frozen_data", frozen_claims),
}


@pytest.mark.parametrize("limit", sorted(LIMITS))
def test_gillespie_agrees_with_closed_form(limit, request):
    fixture, claims = LIMITS[limit]
    Q, N = request.getfixturevalue(fixture)
    mean_claims, _ = claims()
    q, chi4 = mean_claims["closed_form"]
    assert not rejects(mean_z(Q, N, q, chi4)), f"mean test Z = {mean_z(Q, N, q, chi4)}"
    assert not rejects(variance_z(Q, N, chi4)), f"variance test Z = {variance_z(Q, N, chi4)}"


@pytest.mark.parametrize("limit", sorted(LIMITS))
def test_mutants_are_rejected(limit, request):
    """Every mutant claim (the mean of Q, or chi_4 alone) is rejected, by a test whose power
    against it is at least MIN_POWER."""
    fixture, claims = LIMITS[limit]
    Q, N = request.getfixturevalue(fixture)
    mean_claims, chi4_claims = claims()
    q, chi4 = mean_claims["closed_form"]
    for name, (q_mut, chi4_mut) in mean_claims.items():
        if name == "closed_form":
            continue
        power = mean_test_power(q, chi4, q_mut, chi4_mut, N, Q.shape[0])
        assert power >= MIN_POWER, f"{name}: power {power:.4f}"
        assert rejects(mean_z(Q, N, q_mut, chi4_mut)), f"mutant {name} not rejected"
    for name, chi4_mut in chi4_claims.items():
        if name == "closed_form":
            continue
        power = variance_test_power(Q, N, chi4, chi4_mut)
        assert power >= MIN_POWER, f"{name}: power {power:.4f}"
        assert rejects(variance_z(Q, N, chi4_mut)), f"mutant {name} not rejected"


# ---- calibration (not in CI): the measured false-alarm rate --------------------------------

CALIBRATION_SEEDS = int(os.environ.get("TRSP_CALIBRATION_SEEDS", "200"))


def _calibrate(model, times, replicas, q, chi4):
    Z_mean, Z_var = [], []
    for seed in range(1, CALIBRATION_SEEDS + 1):
        Q = simulate_overlaps(model, times, replicas, seed)
        Z_mean.append(mean_z(Q, model.N, q, chi4))
        Z_var.append(variance_z(Q, model.N, chi4))
    return np.array(Z_mean), np.array(Z_var)


def _check_calibration(label: str, Z: np.ndarray) -> None:
    """Family-wise rejections at ALPHA, per-time rejections at 5%, and N(0, 1)-ness of each time's Z."""
    n, K = Z.shape
    family = int(sum(rejects(row) for row in Z))
    at_5 = (np.abs(Z) > scipy.stats.norm.isf(0.025)).sum(axis=0)
    ks = [scipy.stats.kstest(Z[:, k], "norm").pvalue for k in range(K)]
    print(
        f"\n{label}: {n} seeds; family-wise rejections at alpha={ALPHA:g}: {family} ({family / n:.4f}); "
        f"per-time rejections at 5%: {at_5.tolist()} (expected {0.05 * n:.1f} each); "
        f"mean Z {Z.mean(axis=0).round(3).tolist()}, sd Z {Z.std(axis=0, ddof=1).round(3).tolist()}; "
        f"KS p-values {np.round(ks, 3).tolist()}"
    )
    # P(Binomial(n, ALPHA) > limit) < 1e-3 when the nominal rate holds
    limit = int(scipy.stats.binom.isf(1e-3, n, ALPHA))
    assert family <= limit, f"{label}: {family} family-wise false alarms in {n} seeds"
    lo, hi = scipy.stats.binom.interval(0.999, n, 0.05)
    assert np.all((at_5 >= lo) & (at_5 <= hi)), f"{label}: per-time 5% rejections {at_5} outside [{lo}, {hi}]"
    assert min(ks) > 1e-3 / K, f"{label}: Z not N(0, 1) (KS p-values {ks})"


@pytest.mark.calibration
def test_calibration_onset():
    model = ReferenceModel(ONSET)
    q, chi4 = onset_claims()[0]["closed_form"]
    Z_mean, Z_var = _calibrate(model, onset_times(), ONSET_REPLICAS, q, chi4)
    _check_calibration("onset mean test", Z_mean)
    _check_calibration("onset variance test", Z_var)


@pytest.mark.calibration
def test_calibration_frozen():
    model = ReferenceModel(FROZEN)
    q, chi4 = frozen_claims()[0]["closed_form"]
    Z_mean, Z_var = _calibrate(model, FROZEN_TIMES, FROZEN_REPLICAS, q, chi4)
    _check_calibration("frozen mean test", Z_mean)
    _check_calibration("frozen variance test", Z_var)


# ---- deterministic properties of the closed forms -------------------------------------------


def _onset(shape, dim=2, L=4, **rates):
    return params_from_dict(
        {
            "lattice": {"dim": dim, "L": L},
            "rates": {"A": 0.8, "gamma": 0.0, "delta": 0.0, "duration": 4.0, **rates},
            "cluster": {"shape": shape},
        }
    )


@pytest.mark.parametrize("dim,L,shape", [(2, 4, "site"), (2, 3, "dimer"), (2, 5, "plaquette"), (3, 3, "plaquette"), (3, 4, "dimer")])
def test_onset_pair_counts_and_overlap(dim, L, shape):
    p = _onset(shape, dim, L)
    rates = rate_parameters(p)
    counts = limits.onset_pair_counts(p)
    assert counts[0] == rates.z and counts.sum() == rates.z * p.m
    # every site sees the same counts (translation invariance), checked against the cluster list directly
    clusters = ReferenceModel(p).clusters
    incidence = np.zeros((clusters.shape[0], p.N), dtype=int)
    np.put_along_axis(incidence, clusters, 1, axis=1)
    shared = incidence.T @ incidence
    assert np.array_equal(shared[0], counts)
    assert sorted(shared[5 % p.N]) == sorted(counts)
    # A0 = A/z at gamma = delta = 0, so z r0 = A / duration: Q does not depend on the shape
    t = np.array([0.0, 1.0, 7.5])
    np.testing.assert_allclose(limits.onset_overlap(p, t), np.exp(-p.rates.A * t / p.rates.duration), rtol=1e-14)
    chi4 = limits.onset_chi4(p, t)
    assert chi4[0] == 0.0
    # the brute-force double sum (1/N) sum_ij Cov(I_i, I_j) from the shared-cluster matrix
    r0 = limits.onset_rate(p)
    for ti, ci in zip(t, chi4):
        brute = np.sum(np.exp(-2 * rates.z * r0 * ti) * (np.exp(shared * r0 * ti) - 1.0)) / p.N
        assert math.isclose(ci, brute, rel_tol=1e-12, abs_tol=1e-15)


def test_onset_single_site_exact_peak():
    p = _onset("site")
    r0 = limits.onset_rate(p)
    x = np.linspace(0.01, 5.0, 50)
    np.testing.assert_allclose(limits.onset_chi4(p, x / r0), np.exp(-x) * (1 - np.exp(-x)), rtol=1e-13)
    tau, peak = limits.onset_chi4_peak(p)
    assert math.isclose(tau, math.log(2) / r0, rel_tol=1e-14) and math.isclose(peak, 0.25, rel_tol=1e-14)


@pytest.mark.parametrize("dim,shape", [(2, "dimer"), (2, "plaquette"), (3, "plaquette")])
def test_onset_peak_is_the_maximum(dim, shape):
    p = _onset(shape, dim, 4)
    tau, peak = limits.onset_chi4_peak(p)
    grid = np.linspace(0.2 * tau, 5 * tau, 4001)
    assert peak >= limits.onset_chi4(p, grid).max() - 1e-14
    assert limits.onset_chi4(p, tau * (1 - 1e-4)) < peak and limits.onset_chi4(p, tau * (1 + 1e-4)) < peak
    # overlapping clusters: chi_4* between the independent-site value 1/4 and the trap value m/4
    assert 0.25 < peak < p.m / 4


def test_onset_with_temperature_at_T0():
    doc = {
        "lattice": {"dim": 2, "L": 4},
        "cluster": {"shape": "dimer"},
        "temperature": {"T": 0.74, "T0": 0.74, "eps0": 1.5, "eps1": -0.8, "eps2": 0.05, "Sigma0": 0.0,
                        "mean_a": 0.5, "mean_b": -0.75},
    }
    p = params_from_dict(doc)
    A = math.exp(0.0 - 1.5 / 0.74)
    assert math.isclose(limits.onset_overlap(p, 3.0), math.exp(-A * 3.0 / p.rates.duration), rel_tol=1e-14)
    doc["temperature"]["T"] = 0.6
    with pytest.raises(ParameterError) as err:
        limits.onset_overlap(params_from_dict(doc), 1.0)
    assert err.value.parameter == "temperature.T"


@pytest.mark.parametrize("rates,name", [({"gamma": 0.1}, "rates.gamma"), ({"delta": -0.01}, "rates.delta")], ids=["gamma", "delta"])
def test_onset_refuses_S_dependent_rates(rates, name):
    p = _onset("plaquette", **rates)
    for fn in (limits.onset_overlap, limits.onset_chi4):
        with pytest.raises(ParameterError) as err:
            fn(p, 1.0)
        assert err.value.parameter == name
    with pytest.raises(ParameterError):
        limits.onset_chi4_peak(p)


@pytest.mark.parametrize("t", [-1.0, float("nan"), float("inf"), [0.0, -2.0]], ids=["negative", "nan", "inf", "list with a negative"])
def test_bad_times(t):
    for fn, p in ((limits.onset_overlap, ONSET), (limits.frozen_site_overlap, FROZEN), (limits.frozen_site_chi4, FROZEN)):
        with pytest.raises(ParameterError) as err:
            fn(p, t)
        assert err.value.parameter == "t"


@pytest.mark.parametrize(
    "change,name",
    [
        ({"cluster": {"shape": "dimer"}}, "cluster.shape"),
        ({"kick": {"facilitation": 0.5}}, "kick.facilitation"),
        ({"softness": {"C1": 0.3}}, "softness.C1"),
    ],
    ids=["dimer", "weak facilitation", "correlated softness"],
)
def test_frozen_refuses_other_models(change, name):
    p = FROZEN.replace(**change)
    for fn in (limits.frozen_site_overlap, limits.frozen_site_chi4):
        with pytest.raises(ParameterError) as err:
            fn(p, 1.0)
        assert err.value.parameter == name
    with pytest.raises(ParameterError):
        limits.frozen_site_chi4(FROZEN, 1.0, variance_over="time")


def test_frozen_quadrature_accuracy():
    """Against Gauss-Hermite (200 nodes; the integrand is smooth at these times) to 1e-11, and exact special cases."""
    A0, g0, d0, mean, sd = limits.frozen_site_rate_law(FROZEN)
    assert (A0, g0, d0) == (FROZEN.rates.A, FROZEN.rates.gamma, FROZEN.rates.delta)  # m = 1: bare = observed
    x, w = np.polynomial.hermite_e.hermegauss(200)
    w = w / w.sum()
    S = mean + sd * x
    rate = A0 * np.exp(g0 * S - d0 * S * S) / FROZEN.rates.duration
    for t in (0.1, 1.0, 3.0):
        q_gh = float(np.sum(w * np.exp(-rate * t)))
        q2_gh = float(np.sum(w * np.exp(-2 * rate * t)))
        q = limits.frozen_site_overlap(FROZEN, t)
        assert abs(q - q_gh) < 1e-11
        assert abs(limits.frozen_site_chi4(FROZEN, t, variance_over="dynamics") - (q - q2_gh)) < 1e-11
    # small t: Q = 1 - t E[r] + O(t^2), E[r] in closed form (Gaussian integral)
    mean_rate = A0 / FROZEN.rates.duration * math.exp(log_gaussian_average(g0, d0, mean, sd * sd))
    h = 1e-6
    assert math.isclose((1.0 - limits.frozen_site_overlap(FROZEN, h)) / h, mean_rate, rel_tol=1e-4)
    # no disorder in the rate (gamma = delta = 0): Q = exp(-A t / duration) and both chi_4 agree
    flat = FROZEN.replace(rates={"gamma": 0.0, "delta": 0.0})
    t = np.array([0.0, 0.5, 4.0, 40.0])
    q = np.exp(-0.5 * t / 2.0)
    np.testing.assert_allclose(limits.frozen_site_overlap(flat, t), q, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(limits.frozen_site_chi4(flat, t), q * (1 - q), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(limits.frozen_site_chi4(flat, t, variance_over="dynamics"), q * (1 - q), atol=1e-13)


def test_frozen_chi4_peaks():
    tau, peak = limits.frozen_site_chi4_peak(FROZEN)
    assert peak == pytest.approx(0.25, abs=1e-15)
    assert abs(limits.frozen_site_overlap(FROZEN, tau) - 0.5) < 1e-12
    tau_d, peak_d = limits.frozen_site_chi4_peak(FROZEN, variance_over="dynamics")
    grid = tau_d * np.exp(np.linspace(-3, 3, 121))
    assert peak_d >= limits.frozen_site_chi4(FROZEN, grid, variance_over="dynamics").max() - 1e-12
    # disorder adds variance: the dynamics-only part is smaller everywhere
    assert np.all(limits.frozen_site_chi4(FROZEN, grid, variance_over="dynamics") < limits.frozen_site_chi4(FROZEN, grid))
    # scalar in, float out; array in, array of the same shape out
    assert isinstance(limits.frozen_site_overlap(FROZEN, 1.0), float)
    assert limits.frozen_site_overlap(FROZEN, np.ones((2, 3))).shape == (2, 3)
