"""SymPy derivations of every identity the trsp code relies on (Ridout & Liu, Secs. III-V, Apps. B, D, E).

One module per concept; each is a set of pure functions that build SymPy objects and
return the expressions (usually differences) whose vanishing -- or, for a misprint, whose
non-vanishing -- ``tests/test_proofs.py`` asserts.  ``ERRATA.md`` lists every place where
the printed paper is wrong and the function that settles it.

- :mod:`proofs.gaussian`: shared Gaussian tools (integral of exp(quadratic), conditioning).
- :mod:`proofs.bayes_conditioning`: Eqs. 2, 5-9, 24-26; B1-B10 (Sherman-Morrison).
- :mod:`proofs.joint_gaussian`: Eqs. 13-17; B15-B26 (detailed balance).
- :mod:`proofs.drift_solution`: Eq. 19 solves Eq. 17 and B26; principal root; eigenvalue condition.
- :mod:`proofs.uncorrelated_limit`: Eq. 18.
- :mod:`proofs.renormalization`: Eqs. 20-23, D1-D3; exports :func:`derived_renormalization`.
- :mod:`proofs.background_subtraction`: Eqs. E1-E2.
- :mod:`proofs.onset`: Eqs. 27-28; exports :func:`derived_temperature_rates`.
- :mod:`proofs.fit_kick`: what ``trsp fit`` measures about the kick: Var(dS) vs K_Delta, the
  regression that recovers K_Delta, Appendix E for covariances.
- :mod:`proofs.fit_interval`: P(R|S) from frames: the one-interval estimator's O(dt) bias and the
  interval extrapolation (pseudo-count 3/2 k1 - 1/2 k2) that removes it.
- :mod:`proofs.exact_limits`: the onset and frozen-site limits of Q(t), chi_4(t).
- :mod:`proofs.targeted_statistics`: the battery's targeted statistics (score tests of the
  drift scale, the noise scale and the rate law; Hermite moments); run by tests/test_verify_targeted.py.
"""
