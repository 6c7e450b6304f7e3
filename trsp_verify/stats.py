"""The statistical tests of the battery, each returning (statistic, p-value).

Every function states the null distribution it uses and whether it is exact or
asymptotic (docs/verification.md lists, per check, which one applies and why).
p-values are computed with survival functions (``sf``), never ``1 - cdf``, so that
tiny p-values keep their digits.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.linalg
import scipy.stats

__all__ = [
    "UniformSample",
    "two_sided_normal",
    "chi2_upper",
    "chi2_two_sided",
    "sum_of_squares_two_sided",
    "t_test_known_mean",
    "hotelling_zero_mean",
    "ks_uniform",
    "quadratic_form_chi2",
    "regression_chi2",
    "covariance_identity_lr",
    "bonferroni",
    "holm",
]


class UniformSample:
    """Values that should be i.i.d. U(0, 1), collected one by one for a Kolmogorov-Smirnov test,
    in memory bounded independently of their number.

    Up to ``exact_limit`` values are kept exactly; beyond, they are binned into ``bins``
    equal bins, and the KS distance is evaluated at the bin edges, a lower bound within
    1/bins of the exact one (so the test stays valid, with a false-alarm rate at most its
    nominal one: at 2^21 values the critical distance at p = 1e-3 is 1.3e-3, the binning
    error below 1e-6)."""

    def __init__(self, exact_limit: int = 1 << 21, bins: int = 1 << 20):
        self.exact_limit, self.bins = exact_limit, bins
        self._buf: list[float] = []
        self._parts: list[np.ndarray] = []
        self._n_parts = 0
        self._hist: np.ndarray | None = None

    def add(self, u: float) -> None:
        self._buf.append(u)
        if len(self._buf) >= 65536:
            self._flush()

    def extend(self, values: np.ndarray) -> None:
        self._flush()
        self._absorb(np.array(values, dtype=np.float64))

    def _flush(self) -> None:
        if self._buf:
            self._absorb(np.array(self._buf))
            self._buf = []

    def _absorb(self, values: np.ndarray) -> None:
        if self._hist is None:
            self._parts.append(values)
            self._n_parts += values.size
            if self._n_parts > self.exact_limit:
                self._to_hist()
        else:
            idx = np.clip((values * self.bins).astype(np.int64), 0, self.bins - 1)
            self._hist += np.bincount(idx, minlength=self.bins)

    def _to_hist(self) -> None:
        if self._hist is None:
            parts, self._parts, self._n_parts = self._parts, [], 0
            self._hist = np.zeros(self.bins, dtype=np.int64)
            for p in parts:
                self._absorb(p)

    def __len__(self) -> int:
        self._flush()
        return self._n_parts if self._hist is None else int(self._hist.sum())

    @classmethod
    def pooled(cls, samples: list["UniformSample"]) -> "UniformSample":
        """One sample holding the values of all ``samples`` (same limits as the first)."""
        out = cls(samples[0].exact_limit, samples[0].bins) if samples else cls()
        for s in samples:
            s._flush()
            for p in s._parts:
                out._absorb(p)
            if s._hist is not None:
                out._to_hist()
                out._hist += s._hist
        return out

    def values(self) -> np.ndarray | None:
        """All values (None once binned)."""
        self._flush()
        return None if self._hist is not None else (np.concatenate(self._parts) if self._parts else np.zeros(0))

    def ks(self) -> tuple[float, float]:
        """(D, p) of the KS test of U(0, 1) (exact values, or the binned lower bound of D)."""
        v = self.values()
        if v is not None:
            return ks_uniform(v)
        n = int(self._hist.sum())
        cdf = np.cumsum(self._hist) / n
        edges = np.arange(1, self.bins + 1) / self.bins
        lower = np.concatenate(([0.0], cdf[:-1]))
        D = float(max(np.abs(cdf - edges).max(), np.abs(lower - (edges - 1.0 / self.bins)).max()))
        return D, float(scipy.stats.kstwo.sf(D, n))


def two_sided_normal(z: float) -> float:
    """p = P(|N(0,1)| >= |z|)."""
    return float(2.0 * scipy.stats.norm.sf(abs(z)))


def chi2_upper(x: float, dof: float) -> float:
    """p = P(chi2(dof) >= x): for statistics where only large values speak against the null."""
    return float(scipy.stats.chi2.sf(x, dof))


def chi2_two_sided(x: float, dof: float) -> float:
    """p = 2 min(P(chi2 <= x), P(chi2 >= x)), capped at 1: too small and too large both reject."""
    return float(min(1.0, 2.0 * min(scipy.stats.chi2.cdf(x, dof), scipy.stats.chi2.sf(x, dof))))


def sum_of_squares_two_sided(sum_sq: float, n: float) -> tuple[float, float]:
    """sum of n squared standard normals ~ chi2(n): returns (z, p) with z = (sum - n)/sqrt(2n)
    (for display) and the exact two-sided chi2 p-value."""
    if n <= 0:
        return 0.0, 1.0
    return float((sum_sq - n) / math.sqrt(2.0 * n)), chi2_two_sided(sum_sq, n)


def t_test_known_mean(values: np.ndarray, expected: float) -> tuple[float, float]:
    """One-sample Student t test of mean(values) == expected (two-sided), dof = n - 1.

    Exact when the values are i.i.d. normal; the battery feeds it time averages over whole
    runs, one per replica (central limit theorem).  Returns (t, p); p = 1 when undefined (n < 2 or zero spread)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    n = v.size
    if n < 2:
        return 0.0, 1.0
    sd = float(v.std(ddof=1))
    diff = float(v.mean() - expected)
    if sd == 0.0:
        return (0.0, 1.0) if diff == 0.0 else (math.copysign(math.inf, diff), 0.0)
    t = diff / (sd / math.sqrt(n))
    return float(t), float(2.0 * scipy.stats.t.sf(abs(t), n - 1))


def hotelling_zero_mean(x: np.ndarray) -> tuple[float, float, int]:
    """Hotelling's T^2 test that the rows of ``x`` (n batches x p components) have mean zero.

    T^2 = n xbar^T S^-1 xbar, and (n - p) T^2 / (p (n - 1)) ~ F(p, n - p) exactly for i.i.d.
    normal rows.  Directions in which the batches do not vary at all are dropped (p counts
    the rest: the rank of the batch covariance).
    Returns (T^2, p-value, p_used); p-value 1 when n <= p_used.
    """
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[0]
    if x.shape[1] == 0 or n < 2:
        return 0.0, 1.0, 0
    xbar = x.mean(axis=0)
    S = np.cov(x, rowvar=False, ddof=1).reshape(x.shape[1], x.shape[1])
    # pseudo-inverse on the directions the batches actually vary in (a linear combination of
    # the components can be constant, e.g. counts that always sum to the same total)
    lam, U = np.linalg.eigh(0.5 * (S + S.T))
    keep = lam > 1e-10 * max(lam.max(initial=0.0), 1e-300)
    p = int(keep.sum())
    if p == 0 or n <= p:
        return 0.0, 1.0, p
    proj = U[:, keep].T @ xbar
    T2 = float(n * np.sum(proj * proj / lam[keep]))
    F = (n - p) * T2 / (p * (n - 1))
    return T2, float(scipy.stats.f.sf(F, p, n - p)), p


def ks_uniform(u: np.ndarray) -> tuple[float, float]:
    """Kolmogorov-Smirnov test of u ~ Uniform(0, 1) (exact distribution for n <= 10^4, asymptotic above)."""
    u = np.asarray(u, dtype=np.float64).ravel()
    if u.size == 0:
        return 0.0, 1.0
    res = scipy.stats.kstest(u, "uniform", method="auto")
    return float(res.statistic), float(res.pvalue)


def quadratic_form_chi2(d: np.ndarray, V: np.ndarray) -> tuple[float, float, int]:
    """d^T V^+ d ~ chi2(rank V) for d ~ N(0, V): returns (statistic, upper p, rank).

    Directions with eigenvalue below 1e-12 of the largest are left out (pseudo-inverse)."""
    d = np.asarray(d, dtype=np.float64)
    lam, U = np.linalg.eigh(0.5 * (V + V.T))
    keep = lam > 1e-12 * max(lam.max(initial=0.0), 1e-300)
    if not keep.any():
        return 0.0, 1.0, 0
    proj = U[:, keep].T @ d
    stat = float(np.sum(proj * proj / lam[keep]))
    k = int(keep.sum())
    return stat, chi2_upper(stat, k), k


def regression_chi2(XtX: np.ndarray, XtZ: np.ndarray) -> tuple[float, float, int]:
    """tr(Z^T X (X^T X)^-1 X^T Z) for Z with i.i.d. N(0, 1) entries given the regressors X.

    Each column of Z projected on the column space of X gives chi2(rank X); the k columns
    are independent, so the statistic is chi2(k rank X) (exact for X fixed; asymptotic,
    by the martingale central limit theorem, when row e of X depends on rows < e of Z,
    as the state before an event depends on earlier kicks).  Returns (statistic, p, dof)."""
    lam, U = np.linalg.eigh(0.5 * (XtX + XtX.T))
    keep = lam > 1e-10 * max(lam.max(initial=0.0), 1e-300)
    if not keep.any():
        return 0.0, 1.0, 0
    W = U[:, keep] / np.sqrt(lam[keep])  # X^T X pseudo-inverse = W W^T
    proj = W.T @ XtZ
    stat = float(np.sum(proj * proj))
    dof = int(keep.sum()) * XtZ.shape[1]
    return stat, chi2_upper(stat, dof), dof


def covariance_identity_lr(ZtZ: np.ndarray, n: int) -> tuple[float, float, int]:
    """Likelihood-ratio test that rows z_e ~ N(0, I_k) have covariance I (mean known to be 0):

    LR = n (tr C - log det C - k), C = Z^T Z / n, asymptotically chi2(k (k + 1) / 2)."""
    k = ZtZ.shape[0]
    if n <= k:
        return 0.0, 1.0, 0
    C = ZtZ / n
    sign, logdet = np.linalg.slogdet(0.5 * (C + C.T))
    if sign <= 0:
        return math.inf, 0.0, k * (k + 1) // 2
    stat = float(n * (np.trace(C) - logdet - k))
    dof = k * (k + 1) // 2
    return stat, chi2_upper(stat, dof), dof


def bonferroni(pvalues) -> float:
    """min(1, k min p): one p-value for a check made of k sub-tests (valid under any dependence)."""
    p = [float(x) for x in pvalues]
    if not p:
        return 1.0
    return float(min(1.0, len(p) * min(p)))


def holm(pvalues, alpha: float) -> tuple[list[bool], list[float]]:
    """Holm's step-down procedure: which hypotheses are rejected at family-wise error ``alpha``
    (under any dependence between the tests), and the Holm-adjusted p-values."""
    p = np.asarray(list(pvalues), dtype=np.float64)
    m = p.size
    order = np.argsort(p, kind="stable")
    adjusted = np.empty(m)
    running = 0.0
    for rank, idx in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[idx]))
        adjusted[idx] = running
    return [bool(a <= alpha) for a in adjusted], [float(a) for a in adjusted]
