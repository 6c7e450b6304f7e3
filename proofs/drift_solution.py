"""Eq. 19, H = 1 - sqrt(1 - K_Delta K'^-1), solves Eq. 17 and Eq. B26 (footnotes 39-40).

The proof goes through the whitened symmetric form the code uses (docs/model.md):
K' = L L^T (Cholesky), M = L^-1 K_Delta L^-T (symmetric), so K_Delta K'^-1 = L M L^-1 has the
eigenvalues of M, and for the principal square root

    sqrt(1 - K_Delta K'^-1) = L sqrt(1 - M) L^-1,      H = L g(M) L^-1,   g(x) = 1 - sqrt(1 - x).

For a symmetric M = V diag(l) V^T every function of M is V diag(f(l)) V^T, products of such
functions are functions of M, and conjugating by L preserves products; so

    (2 - H) H K' = L [(2 - g) g](M) L^T,       K_Delta = L M L^T,
    (1 - H^T) K_Delta^-1 (1 - H) = L^-T [(1 - g)^2 / x](M) L^-1,   K_Delta^-1 - K'^-1 = L^-T [1/x - 1](M) L^-1,

and Eq. 17 and B26 reduce to the scalar identities (2 - g(x)) g(x) = x and
(1 - g(x))^2 / x = 1/x - 1 at every eigenvalue (:func:`scalar_identities`).  The symmetry
that B26's derivation needs (K_Delta^-1 (1 - H) and H K' symmetric) holds because both are
L^-T f(M) L^-1 or L f(M) L^T with f(M) symmetric.

:func:`whitened_solution` carries this out with explicit 2 x 2 matrices: a general rotation
V (rational parametrization), symbolic eigenvalues and a symbolic Cholesky factor;
:func:`rational_example` repeats it with exact rationals (n = 2 and 3), where SymPy's own
matrix square root of 1 - K_Delta K'^-1 (computed from the non-symmetric matrix) gives an
independent check of the principal branch.
"""

from __future__ import annotations

import sympy as sp

from .gaussian import lower_triangular, symmetric_matrix

__all__ = [
    "g",
    "scalar_identities",
    "quadratic_roots",
    "whitened_solution",
    "rational_example",
    "eigenvalue_condition",
]


def g(x):
    """g(x) = 1 - sqrt(1 - x): H = g(K_Delta K'^-1) (Eq. 19), principal root."""
    return 1 - sp.sqrt(1 - x)


def scalar_identities() -> dict:
    """The eigenvalue-wise content of Eq. 17 and B26, and of the symmetry argument.

    - ``eq17``: (2 - g) g - x            (must vanish)
    - ``B26``: (1 - g)^2 / x - (1/x - 1)  (must vanish)
    """
    x = sp.Symbol("x", real=True)
    return {
        "eq17": sp.expand((2 - g(x)) * g(x) - x),
        "B26": sp.simplify((1 - g(x)) ** 2 / x - (1 / x - 1)),
    }


def quadratic_roots() -> dict:
    """Eq. 17 eigenvalue-wise: h^2 - 2 h + x = 0, roots 1 -+ sqrt(1 - x) (footnote 40).

    Parametrize an eigenvalue x < 1 as x = 1 - s^2 with s > 0:
    - ``roots``: the two roots, {1 - s, 1 + s};
    - ``principal``: g(1 - s^2) = 1 - s: in [0, 1) exactly when s in (0, 1], i.e. x in [0, 1)
      (x >= 0 because K_Delta is positive semi-definite);
    - ``other``: 1 + s > 1: the overshooting solution footnote 40 excludes (the mean of
      S' - mu' = (1 - h)(S - mu') would flip sign).
    For x > 1, write x = 1 + t^2, t > 0: ``roots_above_one`` are 1 -+ i t, not real: no real
    H exists, which is why every eigenvalue of K_Delta K'^-1 must be < 1 (end of Sec. III).
    """
    h = sp.Symbol("h")
    s, t = sp.symbols("s t", positive=True)
    x = 1 - s**2
    roots = sp.solve(sp.Eq(h**2 - 2 * h + x, 0), h)
    roots_above_one = sp.solve(sp.Eq(h**2 - 2 * h + 1 + t**2, 0), h)
    return {
        "roots": set(roots),
        "expected_roots": {1 - s, 1 + s},
        "principal": sp.simplify(g(x)),
        "roots_above_one": roots_above_one,
        "s": s,
        "t": t,
    }


def _rotation(t) -> sp.Matrix:
    """A general 2 x 2 rotation in rational form: cos = (1 - t^2)/(1 + t^2), sin = 2t/(1 + t^2)."""
    c = (1 - t**2) / (1 + t**2)
    s = 2 * t / (1 + t**2)
    return sp.Matrix([[c, -s], [s, c]])


def _function_of(V: sp.Matrix, eigenvalues, f) -> sp.Matrix:
    """f(M) for M = V diag(eigenvalues) V^T, V orthogonal."""
    return V * sp.diag(*[f(lam) for lam in eigenvalues]) * V.T


def _residuals(L: sp.Matrix, V: sp.Matrix, eigenvalues, h=g) -> dict:
    """The matrix residuals of Eq. 17, B26 and the symmetry facts for H = L h(M) L^-1."""
    n = L.shape[0]
    I = sp.eye(n)
    M = _function_of(V, eigenvalues, lambda lam: lam)
    K_prime = L * L.T
    K_delta = L * M * L.T
    L_inv = L.inv()
    H = L * _function_of(V, eigenvalues, h) * L_inv
    K_prime_inv = L_inv.T * L_inv
    K_delta_inv = L_inv.T * _function_of(V, eigenvalues, lambda lam: 1 / lam) * L_inv
    return {
        "orthogonality": V.T * V - I,
        "similarity": K_delta * K_prime_inv - L * M * L_inv,  # K_Delta K'^-1 = L M L^-1
        "eq17": (2 * I - H) * H * K_prime - K_delta,
        "B26": K_delta_inv - K_prime_inv - (I - H.T) * K_delta_inv * (I - H),
        "H_Kprime_asymmetry": H * K_prime - (H * K_prime).T,
        "KDelta_inv_G_asymmetry": K_delta_inv * (I - H) - (K_delta_inv * (I - H)).T,
        "K_delta_inverse_check": K_delta_inv * K_delta - I,
        "_H": H,
        "_K_delta": K_delta,
        "_K_prime": K_prime,
    }


def whitened_solution() -> dict:
    """Eq. 19 solves Eq. 17 and B26, with symbols: 2 x 2 K' = L L^T (L symbolic lower
    triangular), M = V diag(l1, l2) V^T (V a general rotation, l1, l2 symbols in (0, 1)).

    Returns residual matrices that must all vanish: ``orthogonality``, ``similarity``,
    ``eq17``, ``B26``, ``H_Kprime_asymmetry``, ``KDelta_inv_G_asymmetry``,
    ``K_delta_inverse_check`` (entries prefixed ``_`` are the matrices themselves).
    """
    t = sp.Symbol("t", real=True)
    l1, l2 = sp.symbols("l1 l2", positive=True)
    L = lower_triangular("L", 2)
    return _residuals(L, _rotation(t), (l1, l2))


def rational_example(n: int = 3) -> dict:
    """Eq. 19 with exact rationals, n = 2 or 3, eigenvalues of M chosen so sqrt(1 - l) is rational.

    Besides the residuals of :func:`whitened_solution` (all zero), returns:
    - ``principal_root_difference``: H - (1 - sqrt(1 - K_Delta K'^-1)) with SymPy's own
      matrix square root of the non-symmetric matrix (principal branch): zero;
    - ``H_eigenvalues``: the eigenvalues of H, all in [0, 1);
    - ``overshoot_*``: the same with the other root (1 + sqrt(1 - l)) on one eigenvalue:
      it still solves Eq. 17 and B26 (zero residuals) but H has an eigenvalue > 1
      (footnote 40: the principal root is the physical one).
    """
    if n == 2:
        V = sp.Matrix([[3, -4], [4, 3]]) / 5
        eigenvalues = (sp.Rational(9, 25), sp.Rational(3, 4))  # 1 - l = 16/25, 1/4
        L = sp.Matrix([[2, 0], [sp.Rational(1, 2), sp.Rational(3, 2)]])
    elif n == 3:
        V = sp.Matrix([[1, 2, 2], [2, 1, -2], [2, -2, 1]]) / 3
        eigenvalues = (sp.Rational(5, 9), sp.Rational(3, 4), sp.Rational(9, 25))  # 1 - l = 4/9, 1/4, 16/25
        L = sp.Matrix([[1, 0, 0], [sp.Rational(1, 3), 2, 0], [sp.Rational(-1, 2), sp.Rational(1, 4), sp.Rational(3, 2)]])
    else:
        raise ValueError("n must be 2 or 3")
    out = _residuals(L, V, eigenvalues)
    I = sp.eye(n)
    sympy_sqrt = (I - out["_K_delta"] * out["_K_prime"].inv()) ** sp.Rational(1, 2)
    out["principal_root_difference"] = out["_H"] - (I - sympy_sqrt)
    out["H_eigenvalues"] = list(out["_H"].eigenvals(multiple=True))

    def other_root_on_first(lam, first=eigenvalues[0]):
        return 1 + sp.sqrt(1 - lam) if lam == first else g(lam)

    overshoot = _residuals(L, V, eigenvalues, other_root_on_first)
    out["overshoot_eq17"] = overshoot["eq17"]
    out["overshoot_B26"] = overshoot["B26"]
    out["overshoot_H_eigenvalues"] = list(overshoot["_H"].eigenvals(multiple=True))
    return out


def eigenvalue_condition() -> dict:
    """Why every eigenvalue of K_Delta K'^-1 (= of M) must be < 1 (end of Sec. III).

    Any real H satisfying Eq. 17 with (1 - H) K' symmetric (the time-reversal symmetry of K2,
    K2 = (1 - H) K') gives K' - K_Delta = (1 - H)^2 K' = (1 - H) K' (1 - H)^T, positive
    semi-definite; whitened, 1 - M = (L^-1 (1 - H) L)(L^-1 (1 - H) L)^T, so every eigenvalue
    of M is <= 1, and < 1 when 1 - H is invertible.

    With (1 - H) K' symmetric written as 1 - H = Z K'^-1, Z symmetric, returns
    ``difference`` = (1 - H)^2 K' - (1 - H) K' (1 - H)^T: must vanish.
    """
    K_prime = symmetric_matrix("Kp", 2)
    Z = symmetric_matrix("Z", 2)
    G = Z * K_prime.inv()
    return {"difference": G * G * K_prime - G * K_prime * G.T}
