"""Detailed balance as a joint Gaussian of (S, S') (Eqs. 11-17; Appendix B, Eqs. B11-B26).

Given that R fires, S ~ N(mu', K') (proofs.bayes_conditioning) and the kick is
dS | S ~ N(H (A - S), K_Delta) (Eq. 10 / B11).  Time-reversal symmetry (Eq. 12) says the
joint law of (S, S') is invariant under S <-> S': its covariance has the block form

    K~ = [[K', K2], [K2, K']]                                   (Eq. 13 / B15)

with K2 = Cov(S, S') symmetric (the swap turns Cov(S, S') into its transpose).  The linear
map (S, S') -> (S, dS) = [[1, 0], [-1, 1]] (S, S') gives

    <y> = (mu', 0),  K_y = [[K', K2 - K'], [K2 - K', 2 (K' - K2)]]   (Eq. 14-15 / B16-B17)

(the printed Eq. 15 has K where K' belongs: ERRATA E3), and conditioning on S
(proofs.gaussian.decorrelate) gives <dS | S> = H (mu' - S) with H = 1 - K2 K'^-1 and
K_Delta = (2 - H) H K' (Eqs. 16-17 / B18-B25).

The direct route of Eq. B26 is derived too: writing the swap invariance of the joint
density as equality of the Hessian blocks gives K_Delta^-1 - K'^-1 = (1 - H)^T K_Delta^-1 (1 - H)
together with the symmetry of K_Delta^-1 (1 - H), and these are equivalent to Eq. 17.
The blocks are explicit 2 x 2 symbolic matrices: small enough to simplify quickly, and
non-commuting (which is what the matrix algebra has to respect).
"""

from __future__ import annotations

import sympy as sp

from .gaussian import decorrelate, symmetric_matrix

__all__ = [
    "block_covariance",
    "state_and_kick_covariance",
    "eq15_check",
    "conditional_kick",
    "mean_condition",
    "detailed_balance_hessian_conditions",
    "b26_equivalent_to_eq17",
]


def _general_matrix(name: str, n: int) -> sp.Matrix:
    return sp.Matrix(n, n, lambda i, j: sp.Symbol(f"{name}_{i}{j}", real=True))


def block_covariance(K_prime: sp.Matrix, K2: sp.Matrix) -> sp.Matrix:
    """K~ of (S, S') under time-reversal symmetry (Eq. 13 / B15)."""
    return sp.BlockMatrix([[K_prime, K2], [K2, K_prime]]).as_explicit()


def _difference_map(n: int) -> sp.Matrix:
    """(S, S') -> (S, S' - S)."""
    return sp.BlockMatrix([[sp.eye(n), sp.zeros(n)], [-sp.eye(n), sp.eye(n)]]).as_explicit()


def state_and_kick_covariance(K_prime: sp.Matrix, K2: sp.Matrix, mu_prime: sp.Matrix):
    """(<y>, K_y) for y = (S, dS) = T (S, S'), T = [[1, 0], [-1, 1]]: <y> = T <(S, S')>,
    K_y = T K~ T^T (Eqs. 14-15 / B16-B17)."""
    n = K_prime.shape[0]
    T = _difference_map(n)
    mean = T * sp.Matrix.vstack(mu_prime, mu_prime)  # both S and S' have mean mu' (Eq. 12)
    return mean, T * block_covariance(K_prime, K2) * T.T


def eq15_check(n: int = 2) -> dict:
    """Derived K_y against B17 (K') and the printed Eq. 15 (K).

    - ``mean_minus_B16``: <y> - (mu', 0): zero.
    - ``Ky_minus_B17``: zero matrix.
    - ``Ky_minus_eq15_printed``: non-zero whenever K' != K, i.e. for every delta != 0
      (K' = K - 2 delta K e0 e0^T K / (1 + 2 delta K00)); returned with K' written that way.
    """
    K = symmetric_matrix("K", n)
    K2 = symmetric_matrix("K2", n)
    delta = sp.Symbol("delta", positive=True)
    e0 = sp.Matrix(n, 1, lambda i, _: 1 if i == 0 else 0)
    K_prime = K - 2 * delta * K * e0 * e0.T * K / (1 + 2 * delta * K[0, 0])
    mu_prime = sp.Matrix(sp.symbols(f"mu_prime0:{n}", real=True))
    mean, Ky = state_and_kick_covariance(K_prime, K2, mu_prime)
    b17 = sp.BlockMatrix([[K_prime, K2 - K_prime], [K2 - K_prime, 2 * (K_prime - K2)]]).as_explicit()
    eq15 = sp.BlockMatrix([[K, K2 - K], [K2 - K, 2 * (K - K2)]]).as_explicit()
    return {
        "mean_minus_B16": mean - sp.Matrix.vstack(mu_prime, sp.zeros(n, 1)),
        "Ky_minus_B17": Ky - b17,
        "Ky_minus_eq15_printed": Ky - eq15,
    }


def conditional_kick(n: int = 2) -> dict:
    """P(dS | S) from K_y by conditioning (B18-B25), with symmetric n x n blocks K', K2.

    With H := 1 - K2 K'^-1 (the identification after Eq. 15):

    - ``cross_covariance``: Cov(S, dS - gain S) = 0 (so the residual is independent of S).
    - ``gain_plus_H``: gain + H = 0, i.e. <dS | S> = gain (S - mu') = H (mu' - S)  (B18-B20),
      so the target is A = mu' (Eq. 16 / B24).
    - ``B21``: conditional covariance - [2 (K' - K2) - (K2 - K') K'^-1 (K2 - K')]: zero.
    - ``eq17``: conditional covariance - (2 - H) H K': zero (B22-B23, Eq. 17 / B25).
    """
    K_prime = symmetric_matrix("Kp", n)
    K2 = symmetric_matrix("K2", n)
    _, Ky = state_and_kick_covariance(K_prime, K2, sp.zeros(n, 1))
    cross, gain, conditional_cov = decorrelate(Ky[:n, :n], Ky[:n, n:], Ky[n:, :n], Ky[n:, n:])
    H = sp.eye(n) - K2 * K_prime.inv()
    b21 = 2 * (K_prime - K2) - (K2 - K_prime) * K_prime.inv() * (K2 - K_prime)
    return {
        "cross_covariance": cross,
        "gain_plus_H": gain + H,
        "B21": conditional_cov - b21,
        "eq17": conditional_cov - (2 * sp.eye(n) - H) * H * K_prime,
    }


def mean_condition(n: int = 2) -> dict:
    """Eq. 16 from the means: S' = S + H (A - S) + noise has E[S'] = mu' + H (A - mu'); Eq. 12
    needs E[S'] = E[S] = mu', i.e. H (A - mu') = 0, so A = mu' wherever H is invertible.

    Returns ``mean_of_S_prime_minus_mu_prime`` = H (A - mu') (derived by taking expectations;
    zero at A = mu') and ``at_A_equal_mu_prime`` (the same with A = mu': zero).
    """
    H = _general_matrix("H", n)
    A = sp.Matrix(sp.symbols(f"A0:{n}", real=True))
    mu_prime = sp.Matrix(sp.symbols(f"mu_prime0:{n}", real=True))
    S = sp.Matrix(sp.symbols(f"S0:{n}", real=True))
    S_prime_mean_given_S = S + H * (A - S)  # the noise has mean zero
    # E over S ~ N(mu', K'): linear in S, so substitute the mean
    mean_S_prime = S_prime_mean_given_S.subs(dict(zip(S, mu_prime)))
    residual = sp.expand(mean_S_prime - mu_prime)
    return {
        "mean_of_S_prime_minus_mu_prime": residual,
        "H_times_A_minus_mu_prime": sp.expand(H * (A - mu_prime)),
        "at_A_equal_mu_prime": residual.subs(dict(zip(A, mu_prime))),
    }


def detailed_balance_hessian_conditions(n: int = 2) -> dict:
    """Eq. B26 derived directly from detailed balance.

    With x = S - mu', x' = S' - mu', A = mu', P = K'^-1, D = K_Delta^-1 and G = 1 - H,
    -2 log[P(S | R) P(S -> S')] = x^T P x + (x' - G x)^T D (x' - G x) + const.
    Detailed balance (Eq. 12 with the kick law) says this quadratic form is unchanged by
    x <-> x'.  Its Hessian in (x, x') is [[P + G^T D G, -G^T D], [-D G, D]]; invariance
    under the swap means the two diagonal blocks are equal and the off-diagonal block is
    symmetric:

        D - P = G^T D G          (B26: K_Delta^-1 - K'^-1 = (1 - H^T) K_Delta^-1 (1 - H))
        D G = (D G)^T            (K_Delta^-1 (1 - H) symmetric; the paper's symmetry remark)

    Returns the Hessian blocks computed by SymPy from the quadratic form, and their
    differences from the forms above (must vanish), so the tests can check the reading.
    """
    P = symmetric_matrix("P", n)
    D = symmetric_matrix("D", n)
    G = _general_matrix("G", n)
    x = sp.Matrix(sp.symbols(f"x0:{n}", real=True))
    xp = sp.Matrix(sp.symbols(f"xp0:{n}", real=True))
    r = xp - G * x
    form = (x.T * P * x + r.T * D * r)[0, 0]
    variables = list(x) + list(xp)
    hess = sp.hessian(form, variables) / 2
    swapped = sp.hessian(form.subs(dict(zip(list(x) + list(xp), list(xp) + list(x))), simultaneous=True), variables) / 2
    return {
        "swap_difference": sp.expand(hess - swapped),
        "block_xx_minus": sp.expand(hess[:n, :n] - (P + G.T * D * G)),
        "block_xpxp_minus": sp.expand(hess[n:, n:] - D),
        "block_xpx_minus": sp.expand(hess[n:, :n] + D * G),
        # swap invariance <=> these two vanish:
        "B26_residual": sp.expand(hess[n:, n:] - hess[:n, :n]),  # = D - P - G^T D G
        "symmetry_residual": sp.expand(hess[n:, :n] - hess[n:, :n].T),  # = -(D G - G^T D)
        "P": P,
        "D": D,
        "G": G,
    }


def b26_equivalent_to_eq17(n: int = 2) -> dict:
    """B26 plus the symmetry of K_Delta^-1 (1 - H) is equivalent to Eq. 17 (K_Delta, K' invertible).

    Every G = 1 - H with D G symmetric is G = K_Delta Y with Y symmetric (Y = D G).  With that
    parametrization, the Eq. 17 residual R17 = K_Delta - (2 - H) H K' and the B26 residual
    R26 = D - P - G^T D G satisfy R17 = -K_Delta R26 K' identically, so one vanishes exactly
    when the other does.  Returns ``R17_plus_KDelta_R26_Kprime`` (must vanish) and
    ``DG_asymmetry`` (must vanish: the parametrization covers the symmetric case).
    """
    K_delta = symmetric_matrix("KD", n)
    K_prime = symmetric_matrix("Kp", n)
    Y = symmetric_matrix("Y", n)
    G = K_delta * Y
    H = sp.eye(n) - G
    D = K_delta.inv()
    P = K_prime.inv()
    R17 = K_delta - (2 * sp.eye(n) - H) * H * K_prime
    R26 = D - P - G.T * D * G
    return {
        "R17_plus_KDelta_R26_Kprime": R17 + K_delta * R26 * K_prime,
        "DG_asymmetry": D * G - (D * G).T,
    }
