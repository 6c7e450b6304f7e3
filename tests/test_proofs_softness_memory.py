"""proofs/softness_memory.py: the frozen and onset limits of C_SS(t) (trsp_obs.softness_memory)."""

import sympy as sp

from proofs import softness_memory as sm


def test_frozen_field_has_no_drift():
    assert sm.frozen_limit() == sp.zeros(2, 2)


def test_onset_target_is_the_mean():
    assert sm.onset_mean_target() == sp.zeros(2, 1)


def test_onset_autocorrelation_solves_the_linear_ode():
    residual, initial = sm.onset_linear_ode()
    assert residual == sp.zeros(2, 2) and initial == sp.zeros(2, 2)


def test_trace_through_the_cholesky_similarity():
    assert all(d == 0 for d in sm.onset_trace_similarity())


def test_power_series_identity_behind_the_symmetry_of_H_K():
    assert all(d == sp.zeros(2, 2) for d in sm.power_series_transpose())
