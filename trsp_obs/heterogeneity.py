"""Dynamical heterogeneity from replicas: Q(t), chi_4(t), tau_chi, chi_4*, S_4(q), xi_4, block chi_4*.

Every estimator here is a function of per-replica origin averages (:class:`trsp_obs.overlap.ReplicaStats`),
so replicas can be simulated anywhere and combined later, and error bars come from a
bootstrap over replicas (replicas are independent; time origins within one replica are not).

chi_4 (Eq. 32): ``chi_4(t) = N Var Q(t)``, the variance of Q(t0, t) over the equilibrium
ensemble (over initial conditions and dynamics; with a stationary start, every time origin
is an equilibrium start).  With ``qbar_r`` and ``qsq_r`` replica r's origin means of Q and Q^2,

    Var Q  =  mean_r (qsq_r - qbar_r^2)  +  var_r(qbar_r; ddof = 1)

is *exactly* unbiased whatever the correlation between origins of one replica (each
replica's within-origin scatter misses Var(qbar_r), which the between-replica term supplies:
law of total variance).  It needs >= 2 replicas with the same origin grid.

S_4 (Eqs. 33-34) for q != 0: ``S_4(q, t) = N <|Q~(q, t)|^2>``; ``<Q~(q)> = 0`` exactly for q != 0
(the ensemble is translation invariant), so no sample mean is subtracted (subtracting one
would bias S_4 low by about S_4 / (number of independent windows)).  S_4(0) = chi_4.
Shell averages over the modes of equal |q|.  xi_4 from the Ornstein-Zernike form
``S_4(q) = S_4(0) / (1 + (q xi_4)^2)`` fitted to the shells with 0 < q <= oz_qmax at the lag
of the grid nearest tau_chi (S_4(0) a free parameter: the q = 0 point is not used).

Block analysis (Appendix H, after Chakrabarty et al., PRL 119, 205502): the block overlap
Q_B of a cube of side L_B sites, at every one of the N periodic positions;
``chi_4^B(L_B, t) = L_B^d Var Q_B``, with ``Var Q_B = E[(Q_B - Q)^2] + Var Q`` (positions average
to Q, so the cross term vanishes); its peak over t is chi_4^B*(L_B).  xi_4 from the
parametric collapse ``chi_4^B*(L_B) = A0 + A1 h(L_B / xi)``: the block average of a
delta (self) term plus a separable exponential correlation ``prod_a exp(-|dx_a| a / xi)``,
``h = [ (1 / L_B) sum_{x, x' < L_B} lam^|x - x'| ]^d``, ``lam = exp(-a / xi)``, fitted for
L_B <= block_fit_max (default L / 2: larger blocks feel the periodic box).
chi_4^B(L) = chi_4 exactly (every q != 0 mode is filtered out).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import scipy.optimize

from trsp_ref.params import ParameterError

from .overlap import ReplicaStats

__all__ = [
    "StackedStats",
    "stack",
    "overlap_and_chi4",
    "variance_of_q",
    "chi4_peak",
    "s4_shells",
    "oz_fit",
    "block_chi4",
    "block_profile",
    "block_fit",
    "Heterogeneity",
    "point_estimates",
    "analyse",
]



def bootstrap_error(draws) -> np.ndarray:
    """Standard error from bootstrap resamples (stacked along axis 0): half the central 68% range,
    NaNs ignored.  For a normal spread it is the standard deviation, and unlike it, it is robust
    to the occasional wild fit in a resample."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        lo, hi = np.nanpercentile(np.asarray(draws, dtype=np.float64), [15.865, 84.135], axis=0)
    return 0.5 * (hi - lo)

@dataclass(eq=False)
class StackedStats:
    """Replica statistics stacked along a leading replica axis (R, ...); see ReplicaStats."""

    lags: np.ndarray
    n_origins: np.ndarray
    q_mean: np.ndarray  # (R, J)
    q_sq_mean: np.ndarray  # (R, J)
    shell_power: np.ndarray  # (R, J, n_shells)
    block_var: np.ndarray  # (R, J, n_blocks)
    blocks: np.ndarray
    N: int
    dim: int
    L: int
    spacing: float

    @property
    def R(self) -> int:
        return int(self.q_mean.shape[0])

    def take(self, idx: np.ndarray) -> "StackedStats":
        """The replicas ``idx`` (with repetition: a bootstrap resample)."""
        return StackedStats(
            self.lags, self.n_origins, self.q_mean[idx], self.q_sq_mean[idx], self.shell_power[idx],
            self.block_var[idx], self.blocks, self.N, self.dim, self.L, self.spacing,
        )  # fmt: skip


def stack(stats: list[ReplicaStats]) -> StackedStats:
    """Stack replicas; ParameterError unless they share the lattice, lags and origin grid."""
    if len(stats) == 0:
        raise ParameterError("replicas", "need at least one replica")
    s0 = stats[0]
    for s in stats[1:]:
        same = (
            (s.N, s.dim, s.L, s.spacing) == (s0.N, s0.dim, s0.L, s0.spacing)
            and np.array_equal(s.lags, s0.lags)
            and np.array_equal(s.n_origins, s0.n_origins)
            and np.array_equal(s.blocks, s0.blocks)
        )
        if not same:
            raise ParameterError(
                "replicas", "replicas must share lattice, lags, blocks and time-origin grid (same t_end and origin spacing)"
            )
    return StackedStats(
        s0.lags, s0.n_origins,
        np.stack([s.q_mean for s in stats]), np.stack([s.q_sq_mean for s in stats]),
        np.stack([s.shell_power for s in stats]), np.stack([s.block_var for s in stats]),
        s0.blocks, s0.N, s0.dim, s0.L, s0.spacing,
    )  # fmt: skip


def _variance_of_q(q_mean: np.ndarray, q_sq_mean: np.ndarray) -> np.ndarray:
    """Var Q per lag: mean within-replica scatter + between-replica variance (ddof = 1); module docstring."""
    R = q_mean.shape[0]
    if R < 2:
        raise ParameterError("replicas", "chi_4 needs >= 2 independent replicas (the between-replica variance)", R)
    within = np.maximum(q_sq_mean - q_mean * q_mean, 0.0).mean(axis=0)
    between = q_mean.var(axis=0, ddof=1)
    return within + between


#: the public name (trsp_md.analysis computes the liquid's chi_4 with it)
variance_of_q = _variance_of_q


def overlap_and_chi4(st: StackedStats) -> tuple[np.ndarray, np.ndarray]:
    """(Q(t), chi_4(t)) on the lag grid (Eqs. 31-32)."""
    return st.q_mean.mean(axis=0), st.N * _variance_of_q(st.q_mean, st.q_sq_mean)


def chi4_peak(lags: np.ndarray, chi4: np.ndarray) -> tuple[float, float, bool, int]:
    """(tau_chi, chi_4*, resolved, j): the peak of chi_4 on the lag grid, refined by the parabola
    through the three grid points around the maximum in log t.  ``resolved`` is False when the
    maximum is at either end of the grid (then tau_chi, chi_4* are that grid point's); j is the
    grid index of the maximum."""
    j = int(np.nanargmax(chi4))
    if j == 0 or j == lags.size - 1:
        return float(lags[j]), float(chi4[j]), False, j
    x = np.log(lags[j - 1 : j + 2])
    y = chi4[j - 1 : j + 2]
    # parabola through three points (x need not be evenly spaced)
    d1 = (y[1] - y[0]) / (x[1] - x[0])
    d2 = (y[2] - y[1]) / (x[2] - x[1])
    curv = (d2 - d1) / (x[2] - x[0])
    if not curv < 0:
        return float(lags[j]), float(chi4[j]), True, j
    slope_mid = d1 + curv * (x[1] - x[0])  # derivative at x[1] of y0 + d1 (x-x0) + curv (x-x0)(x-x1)
    dx = float(np.clip(-slope_mid / (2 * curv), x[0] - x[1], x[2] - x[1]))
    return float(math.exp(x[1] + dx)), float(y[1] + slope_mid * dx + curv * dx * dx), True, j


def s4_shells(st: StackedStats, j: int) -> tuple[np.ndarray, np.ndarray]:
    """(q, S_4(q, t_j)) over |q| shells; shell 0 (q = 0) is chi_4(t_j) (Eqs. 33-34, module docstring)."""
    from .lattice import wavevector_shells

    q, _, _ = wavevector_shells(st.dim, st.L, st.spacing)
    s4 = st.N * st.shell_power[:, j, :].mean(axis=0)
    s4[0] = st.N * _variance_of_q(st.q_mean[:, j : j + 1], st.q_sq_mean[:, j : j + 1])[0]
    return q, s4


def oz_fit(q: np.ndarray, s4: np.ndarray, qmax: float) -> tuple[float, float]:
    """(S_4(0), xi_4) of S_4(q) = S_4(0) / (1 + (q xi_4)^2) fitted (least squares) to the points
    with 0 < q <= qmax.  Started from the linear fit of 1/S_4 against q^2; xi_4 >= 0.
    Returns (nan, nan) if fewer than 2 points qualify or S_4 is not positive there."""
    sel = (q > 0) & (q <= qmax) & np.isfinite(s4)
    if sel.sum() < 2 or np.any(s4[sel] <= 0):
        return math.nan, math.nan
    x, y = q[sel], s4[sel]
    slope, intercept = np.polyfit(x * x, 1.0 / y, 1)
    a0 = 1.0 / intercept if intercept > 0 else float(y.max())
    xi0 = math.sqrt(max(slope * a0, 0.0))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            popt, _ = scipy.optimize.curve_fit(
                lambda qq, a, xi: a / (1.0 + (qq * xi) ** 2), x, y, p0=(a0, max(xi0, 1e-3)),
                bounds=([0.0, 0.0], [np.inf, np.inf]), maxfev=20000,
            )  # fmt: skip
        return float(popt[0]), float(popt[1])
    except (RuntimeError, ValueError):
        return (a0, xi0) if intercept > 0 else (math.nan, math.nan)


def block_chi4(st: StackedStats) -> np.ndarray:
    """(J, n_blocks): chi_4^B(L_B, t) = L_B^d (E[(Q_B - Q)^2] + Var Q) (module docstring)."""
    var_q = _variance_of_q(st.q_mean, st.q_sq_mean)  # (J,)
    bv = st.block_var.mean(axis=0)  # (J, nb)
    return (st.blocks.astype(np.float64) ** st.dim)[None, :] * (bv + var_q[:, None])


def block_profile(blocks: np.ndarray, xi: float, dim: int, spacing: float) -> np.ndarray:
    """h(L_B; xi) = [ (1/L_B) sum_{x,x'=0}^{L_B-1} lam^|x-x'| ]^d, lam = exp(-spacing/xi) (h(1) = 1)."""
    lam = math.exp(-spacing / xi) if xi > 0 else 0.0
    out = np.empty(len(blocks))
    for n, b in enumerate(blocks):
        k = np.arange(1, int(b))
        out[n] = (b + 2.0 * ((b - k) * lam**k).sum()) / b
    return out**dim


def block_fit(blocks: np.ndarray, chi4_star_b: np.ndarray, dim: int, spacing: float, max_block: int) -> tuple[float, float, float]:
    """(xi_4, A0, A1) of chi_4^B*(L_B) = A0 + A1 h(L_B; xi_4) fitted for L_B <= max_block (module
    docstring).  (nan, nan, nan) if fewer than 4 blocks qualify."""
    sel = (blocks <= max_block) & np.isfinite(chi4_star_b)
    b, y = blocks[sel], chi4_star_b[sel]
    if b.size < 4:
        return math.nan, math.nan, math.nan

    def linear_part(xi):  # for fixed xi the model is linear in (A0, A1)
        X = np.stack([np.ones(b.size), block_profile(b, xi, dim, spacing)], axis=1)
        coef, *_ = np.linalg.lstsq(X, y, rcond=None)
        return coef, float(((X @ coef - y) ** 2).sum())

    # profile the least squares over log xi: a grid, then bounded Brent
    grid = np.geomspace(0.05 * spacing, 2.0 * max_block * spacing, 80)
    sse = np.array([linear_part(x)[1] for x in grid])
    k = int(np.argmin(sse))
    lo, hi = grid[max(k - 1, 0)], grid[min(k + 1, grid.size - 1)]
    res = scipy.optimize.minimize_scalar(
        lambda u: linear_part(math.exp(u))[1], bounds=(math.log(lo), math.log(hi)), method="bounded",
        options={"xatol": 1e-9},
    )  # fmt: skip
    xi = math.exp(float(res.x))
    coef, _ = linear_part(xi)
    return xi, float(coef[0]), float(coef[1])


def block_chi4_infinite(xi: float, A0: float, A1: float, dim: int, spacing: float) -> float:
    """The fitted form's L_B -> infinity limit: A0 + A1 ((1 + lam)/(1 - lam))^d."""
    if not (xi > 0 and math.isfinite(xi)):
        return math.nan
    lam = math.exp(-spacing / xi)
    return A0 + A1 * ((1.0 + lam) / (1.0 - lam)) ** dim


@dataclass(eq=False)
class Heterogeneity:
    """Point estimates and bootstrap standard errors (``*_err``: half the central 68% range of the
    values over resamples of the replicas; equals the standard deviation for a normal spread).

    lags, Q, chi4 (J,); tau_chi, chi4_star (peak of chi_4, ``peak_resolved`` False if at a grid
    end); s4_lag (grid lag nearest tau_chi, index s4_index), q (n_shells,), S4 (n_shells,) at
    s4_lag; xi4_oz, S4_0_oz (Ornstein-Zernike fit); blocks, chi4_block (J, n_blocks),
    chi4_block_star (n_blocks) and xi4_block, chi4_block_inf, block_A0, block_A1 (block fit:
    chi4_block_star ~ block_A0 + block_A1 h(L_B; xi4_block)); n_replicas.
    """

    lags: np.ndarray
    Q: np.ndarray
    chi4: np.ndarray
    tau_chi: float
    chi4_star: float
    peak_resolved: bool
    s4_index: int
    s4_lag: float
    q: np.ndarray
    S4: np.ndarray
    xi4_oz: float
    S4_0_oz: float
    blocks: np.ndarray
    chi4_block: np.ndarray
    chi4_block_star: np.ndarray
    xi4_block: float
    chi4_block_inf: float
    block_A0: float
    block_A1: float
    n_replicas: int
    Q_err: np.ndarray = None
    chi4_err: np.ndarray = None
    tau_chi_err: float = math.nan
    chi4_star_err: float = math.nan
    S4_err: np.ndarray = None
    xi4_oz_err: float = math.nan
    chi4_block_star_err: np.ndarray = None
    xi4_block_err: float = math.nan
    settings: dict = field(default_factory=dict)


def point_estimates(st: StackedStats, j_s4: int | None, oz_qmax: float, block_max: int) -> dict:
    """Every point estimate of :class:`Heterogeneity` from the replicas ``st``: Q, chi4, tau_chi,
    chi4_star, peak_resolved, S_4 at grid index ``j_s4`` (None: the lag nearest tau_chi; the
    index used is ``s4_index``), the OZ and block fits.  One resample of the bootstrap."""
    Q, chi4 = overlap_and_chi4(st)
    tau, star, resolved, j = chi4_peak(st.lags, chi4)
    if j_s4 is None:  # the grid lag nearest tau_chi (in log t)
        j_s4 = int(np.argmin(np.abs(np.log(st.lags) - math.log(tau))))
    have_spatial = bool(np.all(np.isfinite(st.shell_power[:, j_s4, :])))
    q, s4 = s4_shells(st, j_s4) if have_spatial else (np.array([0.0]), np.array([chi4[j_s4]]))
    s0, xi_oz = oz_fit(q, s4, oz_qmax) if have_spatial else (math.nan, math.nan)
    if np.all(np.isfinite(st.block_var)):
        cb = block_chi4(st)
        cb_star = cb.max(axis=0)
        xi_b, A0, A1 = block_fit(st.blocks, cb_star, st.dim, st.spacing, block_max)
        cb_inf = block_chi4_infinite(xi_b, A0, A1, st.dim, st.spacing)
    else:
        cb = np.full((st.lags.size, st.blocks.size), np.nan)
        cb_star = np.full(st.blocks.size, np.nan)
        xi_b = cb_inf = A0 = A1 = math.nan
    return dict(
        Q=Q, chi4=chi4, tau_chi=tau, chi4_star=star, peak_resolved=resolved, s4_index=j_s4,
        q=q, S4=s4, xi4_oz=xi_oz, S4_0_oz=s0, chi4_block=cb, chi4_block_star=cb_star,
        xi4_block=xi_b, chi4_block_inf=cb_inf, block_A0=A0, block_A1=A1,
    )  # fmt: skip


def analyse(
    stats: list[ReplicaStats] | StackedStats,
    *,
    rng: np.random.Generator | None = None,
    n_bootstrap: int = 200,
    oz_qmax: float | None = None,
    block_fit_max: int | None = None,
) -> Heterogeneity:
    """Point estimates over all replicas and bootstrap errors (``n_bootstrap`` resamples of the
    replicas with replacement, drawn from ``rng``; 0 = no errors).

    oz_qmax : largest |q| in the Ornstein-Zernike fit; default ``1.75 / a`` (wavelengths down to
        about 3.6 lattice spacings, where the lattice's own structure is still small).
    block_fit_max : largest block side in the block fit; default L // 2.
    S_4 and the fits in every resample are taken at the point estimate's lag grid index
    (the bootstrap spread of xi_4 does not include the choice of that lag).
    """
    st = stats if isinstance(stats, StackedStats) else stack(list(stats))
    oz_qmax = 1.75 / st.spacing if oz_qmax is None else float(oz_qmax)
    block_fit_max = st.L // 2 if block_fit_max is None else int(block_fit_max)
    pt = point_estimates(st, None, oz_qmax, block_fit_max)
    out = Heterogeneity(
        lags=st.lags, s4_lag=float(st.lags[pt["s4_index"]]), blocks=st.blocks, n_replicas=st.R,
        settings=dict(oz_qmax=oz_qmax, block_fit_max=block_fit_max, n_bootstrap=n_bootstrap),
        **pt,
    )  # fmt: skip
    if n_bootstrap > 0 and st.R >= 2:
        if rng is None:
            raise ParameterError("rng", "a numpy Generator is needed for the bootstrap (randomness is passed in)")
        keys = ("Q", "chi4", "tau_chi", "chi4_star", "S4", "xi4_oz", "chi4_block_star", "xi4_block")
        draws = {k: [] for k in keys}
        for _ in range(n_bootstrap):
            idx = rng.integers(0, st.R, size=st.R)
            b = point_estimates(st.take(idx), pt["s4_index"], oz_qmax, block_fit_max)
            for k in keys:
                draws[k].append(b[k])
        def sd(k):
            return bootstrap_error(draws[k])

        out.Q_err, out.chi4_err = sd("Q"), sd("chi4")
        out.tau_chi_err, out.chi4_star_err = float(sd("tau_chi")), float(sd("chi4_star"))
        out.S4_err, out.xi4_oz_err = sd("S4"), float(sd("xi4_oz"))
        out.chi4_block_star_err, out.xi4_block_err = sd("chi4_block_star"), float(sd("xi4_block"))
    return out
