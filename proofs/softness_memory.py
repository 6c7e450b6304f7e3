"""The softness autocorrelation C_SS(t) in two exactly solvable limits (trsp_obs.softness_memory).

C_SS(t) = (1/(N sigma^2)) sum_i E[dS_i(0) dS_i(t)], dS = S - <S>, in equilibrium.

(a) Frozen field (f = 0, :func:`frozen_limit`): K_Delta = 0, so H = 1 - sqrt(1 - 0) = 0 and
    the kick's noise is 0: every event leaves S unchanged, S(t) = S(0), and
    C_SS(t) = (1/(N sigma^2)) sum_i E[dS_i^2] = 1 for every t (replica by replica:
    C_SS(t) = C_SS(0)).

(b) The onset T = T0 (:func:`onset_limit`).  gamma0 = delta0 = 0 (proofs.exact_limits), so
    every cluster c fires at the S-independent rate r0, and conditioning on the firing cluster
    changes nothing: mu'_c = <S> + (gamma0 - 2 delta0 <S>) K'_c w_c = <S>, K'_c = K.  The kick
    S -> S + H_c (mu'_c - S) + K_Delta^(1/2) zeta has conditional mean change H_c (<S> - S),
    so the generator acting on the linear function dS gives

        d/dt E[dS(t) | S(0)] = - r0 M E[dS(t) | S(0)],   M = sum_c H_c,

    a linear ODE: E[dS(t) | S(0)] = exp(-r0 M t) dS(0).  With E[dS(0) dS(0)^T] = K:

        C_SS(t) = tr(exp(-r0 M t) K) / (N sigma^2),   exactly, at every t.

    Numerically: M K is symmetric (H_c K = K - sqrt(1 - K_Delta K^-1) K = K - K sqrt(1 - K^-1 K_Delta),
    because f(X Y) X = X f(Y X) for a power series f, and (K_Delta K^-1)^T = K^-1 K_Delta), so
    with K = L L^T, A = L^-1 M L = L^-1 (M K) L^-T is symmetric and
    tr(exp(-r0 M t) K) = tr(L exp(-r0 A t) L^-1 L L^T) = tr(exp(-r0 A t) L^T L).

The checks below are SymPy derivations on small symbolic cases; tests/test_proofs_softness_memory.py
runs them, and tests/test_softness_memory.py compares trsp_fast runs with (a) and (b).
"""

from __future__ import annotations

import sympy as sp

__all__ = ["frozen_limit", "onset_mean_target", "onset_linear_ode", "onset_trace_similarity", "power_series_transpose"]


def frozen_limit() -> sp.Expr:
    """H at K_Delta = 0 from Eq. 19, H = 1 - sqrt(1 - K_Delta K'^-1), for a symbolic 2 x 2 K':
    returns H (the zero matrix), so that E[dS | S] = H (mu' - S) = 0 and the noise
    K_Delta^(1/2) zeta = 0: the field is frozen."""
    a, b, d = sp.symbols("a b d", positive=True)
    Kp = sp.Matrix([[a, b], [b, d]])
    KD = sp.zeros(2, 2)
    X = KD * Kp.inv()
    # sqrt(1 - X) with X = 0 is the identity (principal root); H = 1 - sqrt(1 - X)
    H = sp.eye(2) - sp.sqrt(1) * (sp.eye(2) - X)
    return sp.simplify(H)


def onset_mean_target() -> sp.Expr:
    """mu' - <S> = (gamma0 - 2 delta0 <S>) K' w at gamma0 = delta0 = 0 (docs/model.md,
    "Conditioning"): returns that difference for a symbolic 2 x 2 K' and weights w (zero)."""
    a, b, d, mu, g0, d0 = sp.symbols("a b d mu gamma0 delta0", real=True)
    Kinv = sp.Matrix([[a, b], [b, d]]).inv()
    w = sp.Matrix([sp.Rational(1, 2), sp.Rational(1, 2)])
    Kp = (Kinv + 2 * d0 * w * w.T).inv()
    diff = (g0 - 2 * d0 * mu) * Kp * w
    return sp.simplify(diff.subs({g0: 0, d0: 0}))


def onset_linear_ode():
    """C(t) = exp(-r M t) K solves C' = -r M C with C(0) = K (the ODE of the module docstring),
    for a symbolic diagonalizable 2 x 2 M = P diag(l1, l2) P^-1: returns C' + r M C (zero) and
    C(0) - K (zero)."""
    r, t, l1, l2 = sp.symbols("r t l1 l2", positive=True)
    p12, p21, k11, k12, k22 = sp.symbols("p12 p21 k11 k12 k22", real=True)
    P = sp.Matrix([[1, p12], [p21, 1]])  # any diagonalizable M, up to the scale of its eigenvectors
    M = P * sp.diag(l1, l2) * P.inv()
    E = P * sp.diag(sp.exp(-r * l1 * t), sp.exp(-r * l2 * t)) * P.inv()
    K = sp.Matrix([[k11, k12], [k12, k22]])
    C = E * K
    return sp.simplify(sp.expand(C.diff(t) + r * M * C)), sp.simplify(C.subs(t, 0) - K)


def onset_trace_similarity(order: int = 3):
    """tr(M^k K) = tr(A^k L^T L) for A = L^-1 M L, K = L L^T, k = 0 .. order (so the two traces
    agree term by term in the exponential series): returns the list of differences (zeros)
    for a symbolic lower-triangular 2 x 2 L and a general 2 x 2 M."""
    l11, l21, l22 = sp.symbols("l11 l21 l22", positive=True)
    m = sp.symbols("m11 m12 m21 m22", real=True)
    L = sp.Matrix([[l11, 0], [l21, l22]])
    M = sp.Matrix([[m[0], m[1]], [m[2], m[3]]])
    K = L * L.T
    A = L.inv() * M * L
    return [sp.simplify((M**k * K).trace() - (A**k * L.T * L).trace()) for k in range(order + 1)]


def power_series_transpose(order: int = 3):
    """(X Y)^k X = X (Y X)^k, k = 0 .. order, for symbolic 2 x 2 X, Y, so f(XY) X = X f(YX) for a
    power series f.  With X = K, Y = K^-1 K_Delta K^-1 (XY = K_Delta K^-1, YX = K^-1 K_Delta =
    (K_Delta K^-1)^T): f(K_Delta K^-1) K = K f(K_Delta K^-1)^T = (f(K_Delta K^-1) K)^T, so H K and
    M K are symmetric.  Returns the differences (zero matrices)."""
    x = sp.symbols("x0:4", real=True)
    y = sp.symbols("y0:4", real=True)
    X = sp.Matrix(2, 2, x)
    Y = sp.Matrix(2, 2, y)
    return [sp.expand((X * Y) ** k * X - X * (Y * X) ** k) for k in range(order + 1)]
