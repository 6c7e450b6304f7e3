"""The identities behind the verifier's large-lattice model side (trsp_verify/periodic_side.py).

1. **The windowed drift.**  K_Delta vanishes outside the kick window A (its rows and columns
   of the sites the truncated kick cannot move).  For any power series f with f(0) = 0,
   f(x) = x phi(x), and any P (here P = K'^-1), the matrix function H = f(K_Delta P) of
   Eq. 19 has zero rows outside A and

       H[A, :] = phi(D_AA P_AA) D_AA P[A, :]          (D = K_Delta),

   because (D P)^k[A, :] = (D_AA P_AA)^(k-1) D_AA P[A, :] and (D P)^k[rest, :] = 0.
   :func:`window_rows` checks it for a polynomial of degree 3 with symbolic coefficients.

2. **The symmetric route on the window.**  With P_AA = L L^T and M = L^T D_AA L (symmetric),
   G := phi(D_AA P_AA) D_AA = L^-T f(M) L^-1, since L^-T M^k L^-1 = (D_AA P_AA)^(k-1) D_AA.
   So G is computed from the eigen-decomposition of a symmetric matrix, and the eigenvalues
   of K_Delta K'^-1 (< 1 for Eq. 19) are those of M.  :func:`symmetric_route` checks it.

3. **The kick's mean without mu' on the whole lattice.**  mu' = mean + c K' w with
   c = gamma0 - 2 delta0 mean (Eqs. 25-26 derived, proofs/bayes_conditioning.py), so
   K'^-1 (mu' - S) = c w - K'^-1 (S - mean) and H (mu' - S) = G (c w - P (S - mean))[A]:
   the kick of the conditional Gaussian of S_A given the rest, needing S only where P couples
   to A.  With K'^-1 = K^-1 + 2 delta0 w w^T (Eq. 24 in precision form), K' w =
   K w / (1 + 2 delta0 w^T K w) (Sherman-Morrison).  :func:`kick_mean` checks both.

4. **Circulants.**  A matrix C_ij = c(r_j - r_i) on the periodic lattice (K, rho, Lambda) has
   the eigenvalues lambda_k = sum_j c_j omega^(jk), so x^T C x = (1/N) sum_k lambda_k |x_k^|^2
   (x^ the DFT of x) and C^-1 is the circulant with eigenvalues 1/lambda_k.
   :func:`circulant_quadratic_form` checks it for a symmetric row on a ring of 4 sites.
"""

from __future__ import annotations

import sympy as sp

from .gaussian import is_zero_matrix, lower_triangular, symmetric_matrix

__all__ = ["window_rows", "symmetric_route", "kick_mean", "circulant_quadratic_form"]


def _poly(X: sp.Matrix, coeffs) -> sp.Matrix:
    """sum_k a_k X^k (k >= 1): a power series without constant term, truncated."""
    out = sp.zeros(*X.shape)
    power = sp.eye(X.shape[0])
    for a in coeffs:
        power = power * X
        out += a * power
    return out


def window_rows(n: int = 3, window: int = 2, degree: int = 3) -> dict:
    """f(D P) with D zero outside the window: zero rows outside, phi(D_AA P_AA) D_AA P[A, :] inside."""
    a = sp.symbols(f"a1:{degree + 1}", real=True)
    D_AA = symmetric_matrix("d", window)
    D = sp.zeros(n, n)
    D[:window, :window] = D_AA
    P = symmetric_matrix("p", n)
    H = _poly(D * P, a)
    P_AA = P[:window, :window]
    # phi(x) = f(x) / x = sum_k a_k x^(k-1)
    phi = sp.zeros(window, window)
    power = sp.eye(window)
    for coeff in a:
        phi += coeff * power
        power = power * (D_AA * P_AA)
    inside = phi * D_AA * P[:window, :]
    return {
        "rows_outside_the_window_vanish": is_zero_matrix(H[window:, :]),
        "rows_inside": is_zero_matrix(H[:window, :] - inside),
    }


def symmetric_route(window: int = 2, degree: int = 2) -> dict:
    """G = phi(D P) D equals L^-T f(L^T D L) L^-1 for P = L L^T."""
    a = sp.symbols(f"a1:{degree + 1}", real=True)
    D = symmetric_matrix("d", window)
    L = lower_triangular("l", window)
    P = L * L.T
    M = L.T * D * L
    phi = sp.zeros(window, window)
    power = sp.eye(window)
    for coeff in a:
        phi += coeff * power
        power = power * (D * P)
    G = phi * D
    Linv = L.inv()
    return {"G_by_the_symmetric_route": is_zero_matrix(G - Linv.T * _poly(M, a) * Linv),
            "M_is_symmetric": is_zero_matrix(M - M.T)}


def kick_mean(n: int = 2) -> dict:
    """K'^-1 (mu' - S) = c w - K'^-1 (S - mean), and K' w = K w / (1 + 2 delta0 w^T K w)."""
    K = symmetric_matrix("k", n)
    g0, d0, mean = sp.symbols("gamma0 delta0 mean", real=True)
    w = sp.Matrix([sp.Rational(1, 2)] * 2 + [0] * (n - 2))
    S = sp.Matrix(sp.symbols(f"s0:{n}", real=True))
    ones = sp.ones(n, 1)
    precision = K.inv() + 2 * d0 * w * w.T
    K_prime = precision.inv()
    c = g0 - 2 * d0 * mean
    mu_prime = mean * ones + c * K_prime * w
    wKw = (w.T * K * w)[0, 0]
    return {
        "mean_of_the_kick": is_zero_matrix(precision * (mu_prime - S) - (c * w - precision * (S - mean * ones))),
        "sherman_morrison": is_zero_matrix(K_prime * w - K * w / (1 + 2 * d0 * wKw)),
    }


def circulant_quadratic_form() -> dict:
    """x^T C x = (1/N) sum_k lambda_k |DFT(x)_k|^2, and inv(C) has eigenvalues 1/lambda_k, on a ring of 4."""
    N = 4
    c0, c1, c2 = sp.symbols("c0 c1 c2", positive=True)
    row = [c0, c1, c2, c1]  # even: c(r) = c(-r)
    C = sp.Matrix(N, N, lambda i, j: row[(j - i) % N])
    x = sp.Matrix(sp.symbols(f"x0:{N}", real=True))
    omega = sp.exp(-2 * sp.pi * sp.I / N)
    lam = [sp.simplify(sum(row[j] * omega ** (j * k) for j in range(N))) for k in range(N)]
    xhat = [sum(x[j] * omega ** (j * k) for j in range(N)) for k in range(N)]
    parseval = sum(lam[k] * sp.expand(xhat[k] * sp.conjugate(xhat[k])) for k in range(N)) / N
    # C v_k = lambda_k v_k for the Fourier vectors v_k = (omega^(jk))_j, so inv(C) v_k = v_k / lambda_k
    eigen = all(
        is_zero_matrix(C * sp.Matrix([omega ** (j * k) for j in range(N)]) - lam[k] * sp.Matrix([omega ** (j * k) for j in range(N)]))
        for k in range(N)
    )
    return {"quadratic_form": sp.simplify(sp.expand((x.T * C * x)[0, 0] - parseval)) == 0, "eigenvectors": eigen}
