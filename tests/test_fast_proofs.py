"""Runs proofs/fast_truncation.py: the identities trsp_fast's truncated model and kernel rely on."""

import sympy as sp

from proofs import fast_truncation as ft


def test_circulant_zero_mode_is_the_row_sum():
    r = ft.circulant_zero_mode()
    assert r["eigen_residual"] == sp.zeros(6, 1) and r["inverse_residual"] == sp.zeros(6, 1)


def test_cut_error_of_the_zero_mode_is_the_neglected_sum_amplified_by_K0():
    r = ft.cut_zero_mode_error()
    assert r["exact"] == 0 and r["first_order"] == 0


def test_row_sum_scheme_keeps_the_row_sum_and_the_cut_does_not():
    r = ft.row_sum_scheme()
    assert r["row_sum_change"] == 0 and r["cut_change_plus_tail"] == 0
    # the check can fail: a shell correction of tau / (n_shell + 1) leaves a residual
    kept, tail = sp.symbols("k0:3", real=True), sp.symbols("t0:2", real=True)
    tau = sum(tail)
    wrong = list(kept[:1]) + [k + tau / 3 for k in kept[1:]]
    assert sp.simplify(sum(wrong) - (sum(kept) + tau)) != 0


def test_walsh_hadamard_transform_is_the_symmetry_basis_change():
    for d in (2, 3):
        residuals = ft.walsh_hadamard_basis(d)
        assert residuals and all(r == 0 for r in residuals)
