"""proofs/softness_descriptors.py: the identities of trsp_softness and errata E15-E16 (Appendix A)."""

import sympy as sp

from proofs import softness_descriptors as sd


def test_law_of_cosines():
    assert sd.law_of_cosines_check() == 0


def test_one_plus_minus_cos():
    assert sd.one_plus_minus_cos_check() == (0, 0)


def test_p_hop_of_a_single_jump():
    for h in (1, 3, 5):
        assert sd.p_hop_single_jump_check(h) == 0


def test_softness_in_raw_units():
    assert sd.softness_raw_weights_check() == 0


def test_standardisation_invariant_under_scaling():
    assert all(x == 0 for x in sd.standardisation_invariance_check())


def test_isotropic_average():
    assert sd.isotropic_average_check() == 0


def test_erratum_E15_a1_reading():
    slope, peak, width, other1, other2 = sd.a1_reading_check()
    assert slope == 0 and peak == 1 and width == 0
    assert other1 != 0 and other2 != 0  # the other bracketings are not bumps at mu


def test_erratum_E16_a2_domain():
    printed_jk, printed_kj, corrected_jk, corrected_kj, asym = sd.a2_printed_domain_check()
    assert printed_jk and not printed_kj  # the printed domain is not symmetric ...
    assert asym == 0  # ... although the summand is
    assert corrected_jk == corrected_kj  # the corrected one is


def test_feature_count_is_the_papers_M():
    assert sd.feature_count_check() == 266
    assert sd.feature_count_check(n_types=1) != 266 and sd.feature_count_check(n_mu=50) == 166


def test_radial_recurrence():
    assert sd.radial_recurrence_check() == (0, 0, 0, 0)
