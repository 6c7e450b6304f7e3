"""proofs/quench_rate.py: the Gaussian pieces of trsp_obs.quench_rate."""

from proofs import quench_rate as qr


def test_rate_weighted_normalisation():
    assert qr.tilt_normalisation_check() == 0


def test_rate_weighted_mean():
    assert qr.tilt_mean_check() == 0


def test_regression_on_the_cluster_mean():
    assert qr.linear_regression_check() == (0, 0)
