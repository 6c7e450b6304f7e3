"""proofs/windowed_kick.py: the identities of the verifier's large-lattice model side
(trsp_verify/periodic_side.py), derived with SymPy; tests/test_verify.py checks the code that
uses them against the dense oracle."""


from proofs import windowed_kick
from proofs.gaussian import is_zero_matrix, lower_triangular, symmetric_matrix


def test_windowed_drift_rows():
    assert windowed_kick.window_rows() == {"rows_outside_the_window_vanish": True, "rows_inside": True}


def test_symmetric_route_on_the_window():
    assert all(windowed_kick.symmetric_route().values())


def test_symmetric_route_checker_rejects_a_near_miss():
    """L f(M) L^T (factors swapped) is not phi(D P) D: the zero test must say so."""
    D, L = symmetric_matrix("d", 2), lower_triangular("l", 2)
    M = L.T * D * L
    assert not is_zero_matrix(M * D - L * M * L.T)
    assert not is_zero_matrix(D * (L * L.T) * D - L * M * L.T)  # the near miss of the degree-2 term
    assert is_zero_matrix(D * (L * L.T) * D - L.inv().T * M * M * L.inv())  # the identity itself


def test_kick_mean_from_the_conditional_precision():
    assert all(windowed_kick.kick_mean().values())


def test_circulant_quadratic_form_and_spectrum():
    assert all(windowed_kick.circulant_quadratic_form().values())
