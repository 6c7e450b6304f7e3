"""From summed unit statistics to the model's parameters (Sec. V, Appendix E; proofs/fit_kick.py).

Each function takes the sums of :class:`trsp_fit.statistics.UnitStats` arrays and returns
estimates; the pipeline calls them once on the data and once per bootstrap replicate.  The
weights of the least-squares fits (standard errors of the binned values) come from the
bootstrap too, so every ``*_fit`` takes them as an argument.

The pieces a mutant may break (tests/mutants/fit.py) are separate functions on purpose:
:func:`kick_regressors` (which regressors remove the drift H (mu' - S) from dS),
:func:`subtract_background` (Appendix E), :func:`correlation_model` (Eq. 29 with its r = 0
nugget) and :data:`temperature_rates` (Eqs. 27-28 with the sign derived in proofs/onset.py).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.optimize

from trsp_ref.params import Temperature
from trsp_ref.temperature import rates_at_temperature

from .statistics import N_FEATURES

__all__ = [
    "kick_regressors",
    "regression",
    "subtract_background",
    "rate_law_mle",
    "rate_bins",
    "correlation_values",
    "correlation_model",
    "correlation_fit",
    "centring_offset",
    "centred_correlation_model",
    "kick_values",
    "sigma_fit",
    "rho_fit",
    "temperature_rates",
    "temperature_fit",
    "mean_fit",
    "softness_moments",
]


# ---------------------------------------------------------------------------- regressions


def kick_regressors() -> list[int]:
    """Columns of x = [1, S_j, neighbour mean, rearranging mean] regressed out of dS.

    All of them: the residual variance then estimates K_Delta(j, j) (proofs/fit_kick.py:
    Var(dS | S) = K_Delta, while Var(dS) = K_Delta + H K' H^T)."""
    return list(range(N_FEATURES))


def regression(XtX: np.ndarray, Xty: np.ndarray, yty: float, n: float, cols: list[int]) -> tuple[np.ndarray, float]:
    """Least squares of y on the columns ``cols`` of x from its cross-products: (beta (p,), residual variance)."""
    beta = np.zeros(XtX.shape[-1])
    if n <= len(cols):
        return beta, float("nan")
    sub = XtX[np.ix_(cols, cols)]
    b = np.linalg.pinv(sub, rcond=1e-12) @ Xty[cols]
    beta[cols] = b
    rank = np.linalg.matrix_rank(sub)
    return beta, float((yty - b @ Xty[cols]) / (n - rank))


def subtract_background(measured, background, background_var: float, variance: float):
    """Appendix E, Eq. E2 solved for the rearrangement's part (proofs/background_subtraction.py,
    and proofs/fit_kick.py for covariances): (measured - background) / (1 - background_var / variance).

    ``background`` is the background's own (co)variance at the same separation, ``background_var``
    its single-site variance sigma_R2^2, ``variance`` the softness variance sigma^2."""
    return (np.asarray(measured) - np.asarray(background)) / (1.0 - background_var / variance)


# ---------------------------------------------------------------------------- P(R|S)


def _log_p(theta, s):
    logA, g, d = theta
    return logA + g * s - d * s * s


def rate_law_mle(T: np.ndarray, k: np.ndarray, s: np.ndarray, duration: float | None, start=None) -> tuple[np.ndarray, float, int]:
    """Maximum likelihood (logA, gamma, delta) of P(R|S) = A exp(gamma S - delta S^2) from softness bins.

    T: exposure per bin, k: rearrangements, s: mean softness of the bin's exposure.
    ``duration`` given (instantaneous data): T is time and a site rearranges at the rate
    P(S) / duration, so k is Poisson with mean T P(s) / duration (exact exposures of run files;
    for frames k is the extrapolated pseudo-count of trsp_fit.statistics, whose expectation is
    that mean to O(dt^3): the Poisson score is still an unbiased estimating equation, and with
    the log link the objective stays concave for any k).  ``duration`` None (sustained data): T
    counts site-frames and P(S) is the fraction rearranging (a log-link binomial).
    ``start``: a starting point (bootstrap replicates start from the data's estimate).
    Returns (theta, Pearson chi^2, dof) (bins with an expected count >= 5)."""
    use = T > 0
    T, k, s = T[use], k[use], s[use]
    if k.sum() < 3:
        raise ValueError("fewer than 3 rearrangements: P(R|S) cannot be fitted")
    X = np.stack([np.ones_like(s), s, -s * s], axis=1)
    if start is None:  # a weighted quadratic fit of the log frequencies
        f = (np.maximum(k, 0) + 0.5) / (T + 1.0)
        w = np.sqrt(np.maximum(k, 0) + 0.5)
        lf = np.log(f * (duration if duration is not None else 1.0))
        start = np.linalg.lstsq(X * w[:, None], lf * w, rcond=None)[0]
    if duration is not None:
        theta = _poisson_log_link(X, np.log(T / duration), k, np.asarray(start, dtype=np.float64))
        e = T / duration * np.exp(np.clip(X @ theta, -700.0, 700.0))
        ok = e >= 5
        chi2 = float(np.sum((k[ok] - e[ok]) ** 2 / e[ok]))
        return theta, chi2, int(ok.sum()) - 3

    def prob(eta):
        return np.clip(np.exp(np.clip(eta, -700.0, 30.0)), 1e-300, 1 - 1e-12)

    def nll(theta):
        p = prob(X @ theta)
        dl = k - (T - k) * p / (1 - p)  # d loglik / d eta
        return -float(np.sum(k * np.log(p) + (T - k) * np.log1p(-p))), -(X.T @ dl)

    res = scipy.optimize.minimize(nll, np.asarray(start, dtype=np.float64), jac=True, method="BFGS", options={"gtol": 1e-8, "maxiter": 2000})
    theta = res.x
    p = prob(X @ theta)
    e = T * p
    ok = e >= 5
    chi2 = float(np.sum((k[ok] - e[ok]) ** 2 / (e[ok] * (1 - p[ok]))))
    return theta, chi2, int(ok.sum()) - 3


def _poisson_log_link(X: np.ndarray, offset: np.ndarray, k: np.ndarray, theta: np.ndarray, iters: int = 100) -> np.ndarray:
    """argmin of sum(mu - k log mu), mu = exp(offset + X theta): Newton steps with step halving (the
    objective is convex in theta whatever the sign of k)."""

    def f(th):
        eta = np.clip(offset + X @ th, -700.0, 700.0)
        return float(np.sum(np.exp(eta) - k * eta))

    fx = f(theta)
    for _ in range(iters):
        mu = np.exp(np.clip(offset + X @ theta, -700.0, 700.0))
        g = X.T @ (mu - k)
        H = (X * mu[:, None]).T @ X
        try:
            step = np.linalg.solve(H, g)
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(H, g, rcond=None)[0]
        t = 1.0
        while t > 1e-10:
            cand = theta - t * step
            fc = f(cand)
            if fc <= fx:
                break
            t *= 0.5
        else:
            break
        done = abs(fx - fc) <= 1e-13 * max(1.0, abs(fc)) and np.max(np.abs(t * step)) < 1e-10
        theta, fx = cand, fc
        if done:
            break
    return theta


def rate_bins(T: np.ndarray, k: np.ndarray, s: np.ndarray, duration: float | None) -> dict:
    """The binned P(R|S) with Poisson errors, for plots and the report."""
    use = T > 0
    scale = 1.0 if duration is None else duration
    f = np.where(use, k / np.maximum(T, 1e-300), np.nan) * scale
    ef = np.where(use, np.sqrt(np.maximum(np.abs(k), 1)) / np.maximum(T, 1e-300), np.nan) * scale
    return {"s": np.where(use, s / np.maximum(T, 1e-300), np.nan), "P": f, "P_err": ef, "T": T, "k": k}


# ---------------------------------------------------------------------------- C_S(r)


def softness_moments(m: np.ndarray) -> dict:
    """Mean, variance, skewness and excess kurtosis from (count, sum S, S^2, S^3, S^4)."""
    n, s1, s2, s3, s4 = m
    mu = s1 / n
    c2 = s2 / n - mu**2
    c3 = s3 / n - 3 * mu * s2 / n + 2 * mu**3
    c4 = s4 / n - 4 * mu * s3 / n + 6 * mu**2 * s2 / n - 3 * mu**4
    return {"mean": mu, "variance": c2, "skewness": c3 / c2**1.5, "excess_kurtosis": c4 / c2**2 - 3.0, "count": n}


def correlation_values(groups: list[dict]) -> np.ndarray:
    """The frame-centred C_S per distance bin, pooled over temperatures: sum_T sum (S_i - Sbar)(S_j - Sbar)
    / sum_T n, Sbar the site mean of the same frame (its expectation: :func:`centred_correlation_model`)."""
    num = sum(g["corr_sum"] for g in groups)
    den = sum(g["corr_n"] for g in groups)
    return np.where(den > 0, num / np.maximum(den, 1), np.nan)


def correlation_model(r: np.ndarray, variance: float, C1: float, xi: float) -> np.ndarray:
    """Eq. 29: C(0) = variance (the nugget), C(r > 0) = C1 exp(-r / xi)."""
    r = np.asarray(r, dtype=np.float64)
    return np.where(r == 0, variance, C1 * np.exp(-r / xi))


def _first_finite(y: np.ndarray) -> int:
    """Index of the first finite value at r > 0 (particle bins near r = 0 can be empty)."""
    ok = np.flatnonzero(np.isfinite(y[1:]))
    if ok.size == 0:
        raise ValueError("no finite value at r > 0")
    return int(ok[0]) + 1


def _length(log_value: float) -> float:
    """A length from its log, kept finite (the optimizer may try wild steps)."""
    return math.exp(min(max(log_value, -30.0), 30.0))


def _wls(model, x, y, se, p0):
    """Weighted least squares (Levenberg-Marquardt; lengths enter as logs so they stay > 0):
    (parameters, chi^2, dof)."""
    ok = np.isfinite(y) & np.isfinite(se) & (se > 0)
    if ok.sum() < len(p0):
        raise ValueError(f"too few usable points ({int(ok.sum())}) for a {len(p0)}-parameter fit")
    xs = x[..., ok]
    res = scipy.optimize.least_squares(lambda q: (model(xs, *q) - y[ok]) / se[ok], p0, method="lm", x_scale="jac")
    return res.x, float(np.sum(res.fun**2)), int(ok.sum()) - len(p0)


def centring_offset(pair_r: np.ndarray, pair_w: np.ndarray, variance: float, C1: float, xi: float) -> float:
    """1^T K 1 / N^2 = sum_(i,j) C(r_ij) / N^2 over all ordered pairs (self pairs included), from the
    distances ``pair_r`` of all pairs with their fractions ``pair_w`` (summing to 1)."""
    return float(np.dot(pair_w, correlation_model(pair_r, variance, C1, xi)))


def centred_correlation_model(r, variance, C1, xi, pair_r, pair_w) -> np.ndarray:
    """E[(S_i - Sbar)(S_j - Sbar)] for S ~ N(mu, K), Sbar the site mean: K_ij - 1^T K 1 / N^2 when every
    site sees the same distances (a periodic lattice; proofs/fit_centring.py), K_ij = C(r_ij) of Eq. 29."""
    return correlation_model(r, variance, C1, xi) - centring_offset(pair_r, pair_w, variance, C1, xi)


def correlation_fit(r: np.ndarray, c: np.ndarray, se: np.ndarray, pair_r: np.ndarray, pair_w: np.ndarray) -> tuple[dict, float, int]:
    """Eq. 29 fitted to the binned frame-centred C_S(r) (:func:`centred_correlation_model`): (variance, C1, xi), chi^2, dof."""
    k = _first_finite(c)
    p0 = [c[0], c[k] if c[k] > 0 else 0.5, math.log(max(r[k], 1e-3))]
    q, chi2, dof = _wls(lambda x, v, C1, lxi: centred_correlation_model(x, v, C1, _length(lxi), pair_r, pair_w), r, c, se, p0)
    variance = float(correlation_model(np.zeros(1), q[0], q[1], _length(q[2]))[0])  # C(0), the model's own
    return {"variance": variance, "C1": q[1], "xi": _length(q[2])}, chi2, dof


# ---------------------------------------------------------------------------- kicks


#: windows without a detected rearrangement needed to measure the background from them
MIN_BACKGROUND_WINDOWS = 50


def kick_values(t: dict, variance: float) -> dict:
    """Residual (co)variances of dS per rt bin and per (pair distance, rt_j) cell, background-subtracted.

    The background (Appendix E) is measured in windows whose interval holds no detected
    rearrangement when there are at least MIN_BACKGROUND_WINDOWS of them (they see the same
    other-interval and undetected rearrangements as the windows with one, and no tail of it),
    else on particles beyond r_background in the windows with one.

    Returns v (raw residual variance per rt bin), background (its variance), background_source,
    K (subtracted: the K_Delta(j, j) estimate per rt bin), pair_cov (subtracted K_Delta(i, j) per
    (r_ij, rt_j) cell), bg_cov (background covariance per pair distance)."""
    cols = kick_regressors()
    nrt = t["yty"].shape[0] - 2
    betas, v = [], np.full(nrt, np.nan)
    for b in range(nrt):
        beta, var = regression(t["XtX"][b], t["Xty"][b], t["yty"][b], t["kick_n"][b], cols)
        betas.append(beta)
        v[b] = var
    B = np.array(betas)
    bg_cols = [c for c in cols if c != 3]  # no rearranging particle near a background particle
    n_empty = t["windows"][2]
    row = nrt if n_empty >= MIN_BACKGROUND_WINDOWS else nrt + 1
    if t["kick_n"][nrt] + t["kick_n"][nrt + 1] == 0:  # exact event kicks (trsp_fit.events): nothing else moved S
        beta_bg, v_bg, row = np.zeros(N_FEATURES), 0.0, None
    else:
        beta_bg, v_bg = regression(t["XtX"][row], t["Xty"][row], t["yty"][row], t["kick_n"][row], bg_cols)
    b0 = betas[0]
    # mean of e_i e_j = (y_i - x_i b0)(y_j - x_j b_j) from the cross-products, per cell
    pn = t["pn"]
    pc = (t["pyy"] - np.einsum("p,rjp->rj", b0, t["pXy"]) - np.einsum("rjp,jp->rj", t["pyX"], B)
          + np.einsum("p,rjpq,jq->rj", b0, t["pXX"], B))
    pair_cov = np.where(pn > 0, pc / np.maximum(pn, 1), np.nan)
    bc = t["byy"] - t["bXy"] @ beta_bg - t["byX"] @ beta_bg + np.einsum("p,rpq,q->r", beta_bg, t["bXX"], beta_bg)
    bg_cov = np.where(t["bn"] > 0, bc / np.maximum(t["bn"], 1), 0.0)
    bg_cov[0] = v_bg
    return {
        "v": v,
        "background": v_bg,
        "background_source": {nrt: "windows without rearrangement", nrt + 1: "particles beyond r_background", None: "none (each event's own change)"}[row],
        "K": subtract_background(v, v_bg, v_bg, variance),
        "pair_cov": subtract_background(pair_cov, bg_cov[:, None], v_bg, variance),
        "bg_cov": bg_cov,
    }


def sd_model(r: np.ndarray, sigma0: float, sigma1: float, xi_sigma: float) -> np.ndarray:
    """Eq. 30's sigma_Delta(r): sigma0 at r = 0, sigma1 exp(-r / xi_sigma) beyond."""
    r = np.asarray(r, dtype=np.float64)
    return np.where(r == 0, sigma0, sigma1 * np.exp(-r / xi_sigma))


def sigma_fit(r: np.ndarray, K: np.ndarray, se: np.ndarray) -> tuple[dict, float, int]:
    """sigma_Delta^2(r) = K_Delta(r, r): sigma0^2 at r = 0, sigma1^2 exp(-2 r / xi_sigma) beyond (Eq. 30)."""
    k = _first_finite(K)
    p0 = [math.sqrt(max(K[0], 1e-6)), math.sqrt(max(K[k], 1e-6) * math.exp(2 * r[k])), 0.0]
    q, chi2, dof = _wls(lambda x, s0, s1, lxs: sd_model(x, s0, s1, _length(lxs)) ** 2, r, K, se, p0)
    return {"sigma0": abs(q[0]), "sigma1": abs(q[1]), "xi_sigma": _length(q[2])}, chi2, dof


def rho_fit(R: np.ndarray, RT: np.ndarray, cov: np.ndarray, se: np.ndarray, sd: dict) -> tuple[dict, float, int]:
    """K_Delta(i, j) = sigma0 sigma_Delta(rt_j) rho(r_ij) with rho(r > 0) = rho1 exp(-r / xi_rho) (Eq. 30),
    i a rearranging particle; sigma_Delta from :func:`sigma_fit`.  R, RT: the mean r_ij and rt_j of each cell."""
    scale = sd["sigma0"] * sd_model(RT, sd["sigma0"], sd["sigma1"], sd["xi_sigma"])
    keep = (R > 0) & np.isfinite(cov) & np.isfinite(RT)
    x = np.stack([R[keep], scale[keep]])
    q, chi2, dof = _wls(lambda xx, r1, lxr: xx[1] * r1 * np.exp(-xx[0] / _length(lxr)), x, cov[keep], se[keep], [0.3, 0.0])
    return {"rho1": q[0], "xi_rho": _length(q[1])}, chi2, dof


# ---------------------------------------------------------------------------- temperature


def temperature_rates(T: float, Sigma0: float, eps0: float, eps1: float, eps2: float, T0: float) -> tuple[float, float, float]:
    """(log A, gamma, delta) at T from Eqs. 27-28 with the derived sign (trsp_ref.temperature,
    proofs/onset.py): log A = Sigma0 - eps0/T, gamma = eps1 (1/T0 - 1/T), delta = eps2 (1/T - 1/T0)."""
    t = Temperature(T=T, T0=T0, eps0=eps0, eps1=eps1, eps2=eps2, Sigma0=Sigma0, mean_a=0.0, mean_b=0.0)
    A, g, d = rates_at_temperature(t)
    return math.log(A), g, d


def temperature_fit(T: np.ndarray, theta: np.ndarray, se: np.ndarray) -> tuple[dict, float, int]:
    """(Sigma0, eps0, eps1, eps2, T0) from the per-temperature (log A, gamma, delta) and their errors."""
    T = np.asarray(T, dtype=np.float64)
    x = 1.0 / T
    # start: log A linear in 1/T; gamma = eps1/T0 - eps1/T, delta = -eps2/T0 + eps2/T
    b_a, a_a = np.polyfit(x, theta[:, 0], 1)
    b_g, a_g = np.polyfit(x, theta[:, 1], 1)
    b_d, a_d = np.polyfit(x, theta[:, 2], 1)
    eps1, eps2 = -b_g, b_d
    inv_T0 = float(np.clip((a_g / eps1 if abs(eps1) > 1e-12 else 0.0), 1e-4, 1e4))
    p0 = [a_a, -b_a, eps1, eps2, math.log(1.0 / inv_T0)]

    def resid(q):
        S0, e0, e1, e2, lT0 = q
        m = np.array([temperature_rates(t, S0, e0, e1, e2, math.exp(lT0)) for t in T])
        return ((m - theta) / se).ravel()

    res = scipy.optimize.least_squares(resid, p0, bounds=([-np.inf] * 4 + [-10.0], [np.inf] * 4 + [10.0]))
    S0, e0, e1, e2, lT0 = res.x
    return {"Sigma0": S0, "eps0": e0, "eps1": e1, "eps2": e2, "T0": math.exp(lT0)}, float(np.sum(res.fun**2)), theta.size - 5


def mean_fit(T: np.ndarray, mu: np.ndarray, se: np.ndarray) -> tuple[dict, float, int]:
    """<S>(T) = mean_a + mean_b / T, weighted least squares."""
    x = 1.0 / np.asarray(T, dtype=np.float64)
    M = np.stack([np.ones_like(x), x], axis=1) / se[:, None]
    q = np.linalg.lstsq(M, mu / se, rcond=None)[0]
    chi2 = float(np.sum((M @ q - mu / se) ** 2))
    return {"mean_a": q[0], "mean_b": q[1]}, chi2, x.size - 2
