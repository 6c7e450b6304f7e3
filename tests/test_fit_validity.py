"""trsp_fit.validity: the fitted set's K and rho checked on the written lattice (circulant eigenvalues
by FFT against the oracle's dense matrices)."""

from __future__ import annotations

import numpy as np
import pytest

from trsp_fit.validity import circulant_eigenvalues, model_check
from trsp_ref.covariance import exponential_tail
from trsp_ref.lattice import distance_matrix
from trsp_ref.params import params_from_dict


def _params(dim, L, spacing, variance, C1, xi, rho1=0.3, xi_rho=1.0):
    return params_from_dict({
        "lattice": {"dim": dim, "L": L, "spacing": spacing},
        "softness": {"mean": 0.0, "variance": variance, "C1": C1, "xi": xi},
        "rates": {"level": "observed", "A": 0.05, "gamma": 1.0, "delta": 0.05, "duration": 4.0},
        "kick": {"sigma0": 0.6, "sigma1": 0.5, "xi_sigma": 1.0, "rho1": rho1, "xi_rho": xi_rho, "facilitation": 1.0},
        "cluster": {"shape": "plaquette"},
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
