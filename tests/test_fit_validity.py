"""trsp_fit.validity: the fitted set's K and rho checked on the written lattice (circulant eigenvalues
by FFT against the oracle's dense matrices), and the kick's detailed-balance bound (largest eigenvalue
of K_Delta K'^-1 by FFT products and Lanczos against the oracle's dense one)."""

from __future__ import annotations

import numpy as np
import pytest

from trsp_fit.validity import circulant_eigenvalues, largest_kick_eigenvalue, model_check, model_warnings, rates_of
from trsp_ref.covariance import exponential_tail
from trsp_ref.lattice import distance_matrix
from trsp_ref.params import params_from_dict


def _params(dim, L, spacing, variance, C1, xi, rho1=0.3, xi_rho=1.0, sigma0=0.6, shape="plaquette"):
    return params_from_dict({
        "lattice": {"dim": dim, "L": L, "spacing": spacing},
        "softness": {"mean": 0.0, "variance": variance, "C1": C1, "xi": xi},
        "rates": {"level": "observed", "A": 0.05, "gamma": 1.0, "delta": 0.05, "duration": 4.0},
        "kick": {"sigma0": sigma0, "sigma1": 0.5, "xi_sigma": 1.0, "rho1": rho1, "xi_rho": xi_rho, "facilitation": 1.0},
        "cluster": {"shape": shape},
    })


@pytest.mark.parametrize("dim, L, spacing, variance, C1, xi", [(2, 6, 1.0, 1.0, 0.6, 1.0), (3, 4, 1.046, 1.95, 4.4, 0.71),
                                                               (2, 5, 0.9, 1.0, 0.9, 2.0)])
def test_circulant_eigenvalues_are_the_dense_ones(dim, L, spacing, variance, C1, xi):
    p = _params(dim, L, spacing, variance, C1, xi)
    dense = np.linalg.eigvalsh(exponential_tail(distance_matrix(p.lattice), variance, C1, xi))
    fast = np.sort(circulant_eigenvalues(dim, L, spacing, variance, C1, xi))
    np.testing.assert_allclose(fast, dense, atol=1e-10 * np.abs(dense).max())


def test_model_check_flags_an_indefinite_K():
    """The liquid stream's fit (variance 1.95, C1 4.40, xi 0.71 at spacing 1.046 = box / 9): K indefinite."""
    bad = model_check(_params(3, 9, 1.046, 1.95, 4.40, 0.71))
    assert not bad["K"]["positive_definite"] and bad["K"]["smallest_eigenvalue"] < 0
    assert bad["rho"]["positive_definite"]
    good = model_check(_params(3, 9, 1.0, 1.0, 0.6, 1.0))
    assert good["K"]["positive_definite"] and good["rho"]["positive_definite"]


@pytest.mark.parametrize("dim, L, spacing, shape, sigma0", [(2, 6, 1.0, "plaquette", 0.6), (2, 9, 0.9, "dimer", 0.7),
                                                            (3, 5, 1.0, "plaquette", 0.6), (3, 4, 1.1, "dimer", 0.5)])
def test_largest_kick_eigenvalue_is_the_oracles(dim, L, spacing, shape, sigma0):
    """The FFT/Lanczos lam_max of K_Delta K'^-1 (N = 81 and 125 take the Lanczos path, N <= 64 the dense
    one) equals trsp_ref's dense one (Cholesky-whitened eigvalsh), and rates_of equals rate_parameters."""
    from trsp_ref.kick import largest_kick_eigenvalue as dense
    from trsp_ref.model import ReferenceModel
    from trsp_ref.renormalization import rate_parameters

    p = _params(dim, L, spacing, 1.0, 0.6, 1.0, shape=shape, sigma0=sigma0)
    ops = ReferenceModel(p).kick_operators(0)
    assert largest_kick_eigenvalue(p) == pytest.approx(dense(ops.K_Delta, ops.K_prime), rel=1e-9)
    assert rates_of(p).bare == pytest.approx(rate_parameters(p).bare, rel=1e-12)


def test_largest_kick_eigenvalue_finds_a_top_eigenvector_without_the_clusters_symmetry():
    """The KA-measured set (strong C1, long-range kick, bare delta0 0.09) at 3D L = 6 (N = 216, the Lanczos
    path): its top eigenvector of K_Delta K'^-1 is not symmetric under the cluster's point group, so a
    symmetric Lanczos start (ones) found the symmetric subspace's top, 0.227 against the oracle's 0.2405."""
    from trsp_ref.kick import largest_kick_eigenvalue as dense
    from trsp_ref.model import ReferenceModel

    p = params_from_dict({
        "lattice": {"dim": 3, "L": 6, "spacing": 1.057},
        "softness": {"mean": 0.0, "variance": 1.9886, "C1": 3.7966, "xi": 0.76667},
        "rates": {"level": "bare", "A": 0.0004588, "gamma": 1.23457, "delta": 0.09193, "duration": 3.6204},
        "kick": {"sigma0": 0.5632, "sigma1": 0.8303, "xi_sigma": 3.0805, "rho1": 2.3692, "xi_rho": 0.6094, "facilitation": 1.0},
        "cluster": {"shape": "plaquette"},
    })
    ops = ReferenceModel(p, cache_size=1).kick_operators(0)
    assert largest_kick_eigenvalue(p) == pytest.approx(dense(ops.K_Delta, ops.K_prime), rel=1e-9)


def test_a_kick_beyond_detailed_balance_is_reported_and_warned():
    """sigma0 = 1.6 on this set puts lam_max above 1: the oracle refuses the set ('kick'), the check says
    below_one False and the fit's warning names the kick parameters; a valid set gives no warning."""
    from trsp_ref.model import ReferenceModel
    from trsp_ref.params import ParameterError

    bad = _params(2, 8, 1.0, 1.0, 0.6, 1.0, sigma0=1.6)
    with pytest.raises(ParameterError) as err:
        ReferenceModel(bad).kick_operators(0)
    assert err.value.parameter == "kick"
    check = model_check(bad)
    assert check["kick"]["below_one"] is False and check["kick"]["largest_eigenvalue"] >= 1.0
    (warning,) = model_warnings(check)
    assert warning.startswith("kick: ") and "kick.sigma0" in warning and "K_Delta K'^-1" in warning
    good = model_check(_params(2, 8, 1.0, 1.0, 0.6, 1.0))
    assert good["kick"]["below_one"] is True and model_warnings(good) == []
    indefinite = model_check(_params(3, 9, 1.046, 1.95, 4.40, 0.71))  # K not positive definite: one warning, about K
    assert indefinite["kick"]["below_one"] is None and [w[:14] for w in model_warnings(indefinite)] == ["the fitted K ("]
