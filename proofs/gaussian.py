"""Gaussian building blocks shared by every derivation in ``proofs/``.

Nothing here is taken on trust: each tool is itself derived from something more basic
(SymPy's own integration, or the definition of a covariance), and ``tests/test_proofs.py``
checks it before the derivations lean on it.

- :func:`exp_quadratic_integral`: the integral over R of exp(-a x^2 + b x + c0), the one
  Gaussian integral the paper does (Eq. D2, Appendix E); the closed form is checked
  against ``sympy.integrate`` by :func:`exp_quadratic_integral_check`.
- :func:`log_gaussian_average`: log E[exp(g X - d X^2)] for X ~ N(m, v), from that integral.
- :func:`decorrelate`: conditioning a joint Gaussian (the formula Appendix B quotes before
  Eq. B18 and Appendix D uses), derived by subtracting from x2 the part of it explained by
  x1; the residual has zero covariance with x1, hence (jointly Gaussian) is independent of it.
- :func:`symmetric_matrix`, :func:`lower_triangular`, :func:`unit_vector`: small explicit
  symbolic matrices, small enough that ``simplify`` finishes in well under a second.
"""

from __future__ import annotations

import functools

import sympy as sp

__all__ = [
    "symmetric_matrix",
    "lower_triangular",
    "unit_vector",
    "is_zero",
    "is_zero_matrix",
    "exp_quadratic_integral",
    "exp_quadratic_integral_check",
    "log_gaussian_average",
    "log_gaussian_average_closed_form",
    "log_gaussian_average_check",
    "decorrelate",
    "conditional_by_precision",
    "quadratic_coefficients",
    "split_logs",
    "is_zero_log",
]


def symmetric_matrix(name: str, n: int) -> sp.Matrix:
    """An n x n symmetric matrix of real symbols ``name_ij`` (i <= j)."""
    entries = {}
    for i in range(n):
        for j in range(i, n):
            entries[i, j] = entries[j, i] = sp.Symbol(f"{name}_{i}{j}", real=True)
    return sp.Matrix(n, n, lambda i, j: entries[i, j])


def lower_triangular(name: str, n: int) -> sp.Matrix:
    """An n x n lower-triangular matrix with positive diagonal symbols (a Cholesky factor)."""

    def entry(i, j):
        if j > i:
            return sp.Integer(0)
        return sp.Symbol(f"{name}_{i}{j}", positive=(i == j), real=True)

    return sp.Matrix(n, n, entry)


def unit_vector(n: int, i: int) -> sp.Matrix:
    """The column vector with 1 at position i (the paper's 0-hat for i = 0)."""
    return sp.Matrix(n, 1, lambda k, _: sp.Integer(1 if k == i else 0))


def is_zero(expr) -> bool:
    """True when ``expr`` simplifies to 0 (rational functions first: cancel is fast and exact)."""
    expr = sp.sympify(expr)
    if expr == 0:
        return True
    if sp.cancel(sp.together(expr)) == 0:
        return True
    return sp.simplify(expr) == 0


def is_zero_matrix(M) -> bool:
    """True when every entry of ``M`` simplifies to 0."""
    return all(is_zero(e) for e in sp.Matrix(M))


def exp_quadratic_integral(exponent, x: sp.Symbol):
    """Integral over x in R of exp(exponent), exponent = -a x^2 + b x + c0 with a > 0.

    = sqrt(pi / a) exp(b^2 / (4 a) + c0)  (completing the square; checked against
    ``sympy.integrate`` in :func:`exp_quadratic_integral_check`).  a, b, c0 are read off
    ``exponent`` as polynomial coefficients in x, so the caller writes the integrand as it is.
    """
    poly = sp.Poly(sp.expand(exponent), x)
    if poly.degree() != 2:
        raise ValueError(f"exponent must be quadratic in {x}, got degree {poly.degree()}")
    a = -poly.coeff_monomial(x**2)
    b = poly.coeff_monomial(x)
    c0 = poly.coeff_monomial(1)
    return sp.sqrt(sp.pi / a) * sp.exp(b**2 / (4 * a) + c0)


def exp_quadratic_integral_check():
    """(SymPy's integral, our closed form) for exp(-a x^2 + b x + c0), a > 0: must be equal."""
    x = sp.Symbol("x", real=True)
    a = sp.Symbol("a", positive=True)
    b, c0 = sp.symbols("b c0", real=True)
    exponent = -a * x**2 + b * x + c0
    by_sympy = sp.integrate(sp.exp(exponent), (x, -sp.oo, sp.oo), conds="none")
    return by_sympy, exp_quadratic_integral(exponent, x)


def log_gaussian_average(g, d, m, v):
    """log E[exp(g X - d X^2)] for X ~ N(m, v), v > 0, 1 + 2 d v > 0.

    Derived by doing the integral of the Gaussian density times the tilt with
    :func:`exp_quadratic_integral`; the result is the closed form
    -1/2 log(1 + 2 d v) + (g m - d m^2 + g^2 v / 2) / (1 + 2 d v)
    (see :func:`log_gaussian_average_closed_form`, compared in the tests).
    """
    x = sp.Symbol("x_integration", real=True)
    exponent = -((x - m) ** 2) / (2 * v) + g * x - d * x**2
    integral = exp_quadratic_integral(exponent, x) / sp.sqrt(2 * sp.pi * v)
    return sp.expand_log(sp.log(integral), force=True)


def log_gaussian_average_closed_form(g, d, m, v):
    """The closed form that :func:`log_gaussian_average` must reduce to (the one the oracle uses)."""
    q = 1 + 2 * d * v
    return -sp.log(q) / 2 + (g * m - d * m**2 + g**2 * v / 2) / q



def log_gaussian_average_check():
    """:func:`log_gaussian_average` minus its closed form, with d written as (q - 1)/(2 v),
    q = 1 + 2 d v > 0 (the convergence condition), so that SymPy knows every square root's
    argument is positive.  Must simplify to 0."""
    g, m = sp.symbols("g m", real=True)
    v, q = sp.symbols("v q", positive=True)
    d = (q - 1) / (2 * v)
    return log_gaussian_average(g, d, m, v) - log_gaussian_average_closed_form(g, d, m, v)


def decorrelate(K11: sp.Matrix, K12: sp.Matrix, K21: sp.Matrix, K22: sp.Matrix):
    """Condition x2 on x1 for a joint Gaussian with covariance [[K11, K12], [K21, K22]].

    The linear map B = [[1, 0], [-K21 K11^-1, 1]] sends (x1, x2) to (x1, r) with
    r = x2 - K21 K11^-1 x1.  Its covariance B K B^T is block diagonal (the returned
    ``cross`` block is zero), so r is independent of x1 and
    x2 | x1 = r + K21 K11^-1 x1: mean mu2 + K21 K11^-1 (x1 - mu1) (``gain`` = K21 K11^-1),
    covariance K22 - K21 K11^-1 K12 (``conditional_cov``), as quoted before Eq. B18.

    Returns (cross, gain, conditional_cov).
    """
    n1, n2 = K11.shape[0], K22.shape[0]
    gain = K21 * K11.inv()
    B = sp.BlockMatrix([[sp.eye(n1), sp.zeros(n1, n2)], [-gain, sp.eye(n2)]]).as_explicit()
    K = sp.BlockMatrix([[K11, K12], [K21, K22]]).as_explicit()
    transformed = B * K * B.T
    cross = transformed[n1:, :n1]
    conditional_cov = transformed[n1:, n1:]
    return cross, gain, conditional_cov


def conditional_by_precision(K: sp.Matrix, n1: int):
    """Independent route to the conditional covariance of the last block given the first n1:
    with P = K^-1, log p(x2 | x1) = -1/2 x2^T P22 x2 + (linear in x2), so Cov(x2 | x1) = P22^-1
    and the mean is -P22^-1 P21 (x1 - mu1) + mu2, i.e. gain = -P22^-1 P21.

    Returns (gain, conditional_cov) for comparison with :func:`decorrelate`.
    """
    P = K.inv()
    P22 = P[n1:, n1:]
    P21 = P[n1:, :n1]
    P22_inv = P22.inv()
    return -P22_inv * P21, P22_inv


def split_logs(expr):
    """Write ``expr`` as log(R) + Q, R and Q free of logs (logs expanded with force=True, i.e.
    all arguments taken positive, as they are for the rates and variances here).

    Returns (R, Q), with R a product of powers of the logs' arguments; ``expr`` vanishes
    when R = 1 and Q = 0 (see :func:`is_zero_log`).
    """
    pairs, Q = _log_terms(expr)
    R = sp.Integer(1)
    for argument, power in pairs:
        R *= argument**power
    return R, Q


def _log_terms(expr):
    """([(argument, coefficient), ...], rest) with expr = sum coefficient log(argument) + rest."""
    expanded = sp.expand(sp.expand_log(sp.expand(expr), force=True))
    pairs = []
    Q = sp.Integer(0)
    for term in sp.Add.make_args(expanded):
        coeff, rest = term.as_independent(sp.log, as_Add=False)
        if isinstance(rest, sp.log):
            pairs.append((rest.args[0], coeff))
        elif rest.has(sp.log):
            raise ValueError(f"cannot split the logarithms out of {term}")
        else:
            Q += term
    return pairs, Q


def is_zero_log(expr) -> bool:
    """True when ``expr`` = sum_i a_i log(b_i) + Q vanishes identically: Q cancels to 0 and
    prod_i b_i^(n a_i) cancels to 1, n the common denominator of the (rational) a_i, so that
    only integer powers of rational functions are compared (no square roots)."""
    pairs, Q = _log_terms(expr)
    if not is_zero(Q):
        return False
    if not pairs:
        return True
    coefficients = [sp.nsimplify(a) for _, a in pairs]
    if not all(a.is_Rational for a in coefficients):
        return is_zero(sp.simplify(expr))
    n = functools.reduce(sp.ilcm, [a.q for a in coefficients], 1)
    R = sp.Integer(1)
    for (argument, _), a in zip(pairs, coefficients):
        R *= argument ** (a * n)
    return is_zero(R - 1)


def quadratic_coefficients(expr, x: sp.Symbol):
    """(c0, c1, c2) with expr = c0 + c1 x + c2 x^2 (raises unless expr is such a polynomial in x)."""
    poly = sp.Poly(sp.expand(expr), x)
    if poly.degree() > 2:
        raise ValueError(f"not quadratic in {x}: degree {poly.degree()}")
    return tuple(poly.coeff_monomial(x**k) for k in range(3))
