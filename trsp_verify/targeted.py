"""Targeted statistics: a few model-derived directions in which a few-percent error shows.

The kick checks 4a and 6b spread a wrong drift over hundreds of degrees of freedom (check 4a
is a chi2 with |B| (|B| + 1) dof); a test aimed at the direction the model itself names
needs 10-100x fewer events for the same error (power ~ effect^2 x events / sqrt(dof)).
docs/verification.md ("Targeted statistics") derives every null distribution below;
proofs/targeted_statistics.py checks the algebra.

Per event e (cluster k of orientation o, state S before, S' after), on the checked sites of
the kick (``OrientationFrame.check``, lower Cholesky factor L of K_Delta there):

* z = L^-1 (S' - S - H(mu' - S)), the whitened kick residual (check 6b's z): N(0, I) given
  everything before the kick under the model;
* three whitened directions, each known before the kick (predictable):
  u_drift = L^-1 H(mu' - S) (the predicted drift), u_off = L^-1 H(mu' - mean) (its offset
  part: the restoring target mu'; one vector per orientation) and
  u_dev = L^-1 H(S - mean) = u_off - u_drift (its state-deviation part);
* a_j = (u_j / |u_j|) . z, exactly N(0, 1) given the past, so the a_j of successive events
  are i.i.d. N(0, 1): sum_e a_j / sqrt(n) ~ N(0, 1) and sum_e a_j^2 ~ chi2(n), exactly.

and of the firing cluster's mean softness before (x) and after (x'), standardized by the
model's law of a firing cluster's mean softness N(w.mu', w^T K' w): the antisymmetric
Hermite moments He_k(x') - He_k(x), k = 1, 2, 3, whose mean is zero in a stationary
reversible run (the event's (before, after) pair is exchangeable; App. F1), summed per
batch of consecutive events (the batches of check 1).

And the rate law's score (row 3c): with f = (1, x, x^2) of a cluster's standardized mean
softness, M = sum over events of f(x_k) - integral sum_R f(x_R) r_R dt is a martingale with
predictable covariation V = integral sum_R f f^T r_R dt; M^T V^-1 M ~ chi2(3) asymptotically.
It is the score test of (log A0, gamma0, delta0).

Streaming: :class:`TargetedStats` is updated block by block with the events' own
quantities (:meth:`~TargetedStats.kick`, :meth:`~TargetedStats.firing_cluster`,
:meth:`~TargetedStats.fired`) and, per held state, the cluster rates
(:meth:`~TargetedStats.held`, or five power sums via :meth:`~TargetedStats.add_intensity`);
it stores a few numbers per direction and per batch, nothing whole-lattice, so a replay of
any length and lattice size feeds it, and the statistics of blocks and replicas add.
:func:`targeted_rows` turns the statistics of all replicas into the battery's rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.linalg

from . import stats

__all__ = ["TargetedStats", "targeted_rows", "targeted_row", "offset_directions", "ROW_KEYS", "DIRECTIONS"]

#: the three kick directions, in the order of TargetedStats' arrays
DIRECTIONS = ("drift H(mu' - S)", "offset H(mu' - mean)", "deviation H(S - mean)")
#: stable key -> row name of each targeted row (the key does not change when a name is reworded)
ROW_KEYS = {
    "6d_drift_scale": "6d kick drift scale: residual along the predicted drift",
    "6e_drift_parts": "6e kick drift parts: residual along the offset and the deviation",
    "6f_noise_scale": "6f kick noise scale along the drift directions",
    "1b_db_moments": "1b detailed balance: antisymmetric moments of the firing cluster",
    "3c_rate_score": "3c rate law: score of (A0, gamma0, delta0)",
}
#: a whitened direction shorter than this (in noise standard deviations) has no direction
_MIN_NORM = 1e-9
#: Hermite polynomials He_1..He_3 of the standardized mean softness (E He_k(X) = 0 for X ~ N(0, 1))
_HERMITE = (lambda x: x, lambda x: x * x - 1.0, lambda x: x * (x * x - 3.0))


def offset_directions(side) -> list[np.ndarray]:
    """Per orientation, u_off = L^-1 H(mu' - mean) on the checked sites (a model constant)."""
    out = []
    for f in side.frames:
        off = f.kick_mean(np.full((1, f.cols.size), side.mean))[0]  # H (mu' - mean) on the checked sites
        out.append(scipy.linalg.solve_triangular(f.chol_check, off, lower=True) if off.size else off)
    return out


@dataclass(eq=False)
class TargetedStats:
    """Sufficient statistics of one replica (summed over replicas by :func:`targeted_rows`).

    proj_n, proj_sum, proj_sumsq : (3,) per direction of DIRECTIONS: events, sum of a, sum of a^2
    db_sum : (W, 3) per batch, sum over its events of He_k(x') - He_k(x), k = 1, 2, 3
    db_n   : (W,) events per batch
    """

    u_offset: list
    chol: list
    sbar_loc: np.ndarray
    sbar_scale: np.ndarray
    clusters: np.ndarray
    score_loc: float
    score_scale: float
    proj_n: np.ndarray = field(default_factory=lambda: np.zeros(3, dtype=np.int64))
    proj_sum: np.ndarray = field(default_factory=lambda: np.zeros(3))
    proj_sumsq: np.ndarray = field(default_factory=lambda: np.zeros(3))
    db_sum: np.ndarray | None = None
    db_n: np.ndarray | None = None
    score_count: np.ndarray = field(default_factory=lambda: np.zeros(3))
    score_comp: np.ndarray = field(default_factory=lambda: np.zeros(3))
    score_V: np.ndarray = field(default_factory=lambda: np.zeros((3, 3)))

    @classmethod
    def for_side(cls, side, windows: int) -> "TargetedStats":
        """Empty statistics for the model ``side`` (a ModelSide) and ``windows`` batches per replica."""
        return cls(
            u_offset=offset_directions(side),
            chol=[f.chol_check for f in side.frames],
            sbar_loc=np.array([f.sbar_mean for f in side.frames]),
            sbar_scale=np.sqrt([f.sbar_var for f in side.frames]),
            db_sum=np.zeros((windows, len(_HERMITE))),
            db_n=np.zeros(windows, dtype=np.int64),
            clusters=side.clusters,
            score_loc=side.mean,
            score_scale=float(np.sqrt(side.K[np.ix_(side.clusters[0], side.clusters[0])].mean())),
        )

    def _score_basis(self, sbar: np.ndarray) -> np.ndarray:
        """(..., 3) the rate law's score functions 1, x, x^2 of a cluster's mean softness
        (x standardized by its equilibrium law): d log r / d(log A0, gamma0, -delta0) up to a
        fixed linear map."""
        x = (sbar - self.score_loc) / self.score_scale
        return np.stack([np.ones_like(x), x, x * x], axis=-1)

    def held(self, states: np.ndarray, dt: np.ndarray, rates: np.ndarray) -> None:
        """States (E, N) held for dt (E,) with all cluster rates (E, n_clusters): the compensator
        sum_R integral f(sbar_R) r_R dt and its predictable covariation sum_R integral f f^T r_R dt.

        With f = (1, x, x^2) both are the power sums P_j = sum_R integral x_R^j r_R dt, j = 0..4
        (compensator P_0..P_2, covariation P_{k+l})."""
        cl = self.clusters
        x = states[:, cl[:, 0]]
        for pos in range(1, cl.shape[1]):
            x += states[:, cl[:, pos]]
        x *= 1.0 / (cl.shape[1] * self.score_scale)
        x -= self.score_loc / self.score_scale
        w = rates * dt[:, None]
        P = np.empty(5)
        for j in range(5):
            P[j] = w.sum()
            if j < 4:
                w *= x
        self.add_intensity(P)

    def add_intensity(self, P: np.ndarray) -> None:
        """Add the intensity's power sums P_j = sum over held states of dt sum_R x_R^j r_R, j = 0..4.

        For a replay that keeps the rates up to date incrementally: P changes only through the
        clusters whose rates changed, like the total rate R_tot, so it can be kept the same way
        and handed over here instead of the states (:meth:`held`)."""
        self.score_comp += P[:3]
        self.score_V += P[np.add.outer(np.arange(3), np.arange(3))]

    def fired(self, sbar_before: np.ndarray) -> None:
        """The firing clusters' mean softness before their events (n,): the counting side of the score."""
        self.score_count += self._score_basis(sbar_before).sum(axis=0)

    def kick(self, o: int, z: np.ndarray, drift: np.ndarray) -> None:
        """Events of orientation ``o``: z (n, nC) whitened residuals, drift (n, nC) = H(mu' - S) on the
        checked sites (the kick's predicted mean, before whitening)."""
        u = scipy.linalg.solve_triangular(self.chol[o], drift.T, lower=True).T  # u_drift
        u_off = self.u_offset[o]
        # the three directions' squared norms and projections of z, from five row-wise products
        # (u_dev = u_off - u_drift needs no array of its own)
        uu = np.einsum("ij,ij->i", u, u)
        uz = np.einsum("ij,ij->i", u, z)
        oz = z @ u_off
        ou = u @ u_off
        oo = np.full(uu.shape, float(u_off @ u_off))
        for j, (sq, proj) in enumerate(((uu, uz), (oo, oz), (oo - 2.0 * ou + uu, oz - uz))):
            ok = sq > _MIN_NORM**2
            if not ok.any():
                continue
            a = proj[ok] / np.sqrt(sq[ok])
            self.proj_n[j] += int(ok.sum())
            self.proj_sum[j] += float(a.sum())
            self.proj_sumsq[j] += float(a @ a)

    def firing_cluster(self, batch: np.ndarray, o: np.ndarray, before: np.ndarray, after: np.ndarray) -> None:
        """Events in ``batch`` (n,) of orientations ``o`` (n,): the firing cluster's mean softness
        before and after each event."""
        x = (before - self.sbar_loc[o]) / self.sbar_scale[o]
        xp = (after - self.sbar_loc[o]) / self.sbar_scale[o]
        d = np.stack([h(xp) - h(x) for h in _HERMITE], axis=1)
        np.add.at(self.db_sum, batch, d)
        np.add.at(self.db_n, batch, 1)


def _row(key: str, statistic: str, p: float | None, detail: str, skip: str | None = None):
    from .checks import CheckResult  # checks imports replay imports this module

    if skip is not None:
        return CheckResult(ROW_KEYS[key], "", None, "skipped", skip, key=key)
    return CheckResult(ROW_KEYS[key], statistic, p, detail=detail, key=key)


def targeted_rows(full: list) -> list:
    """The targeted rows from the ReplicaStats of the full replicas (their ``targeted`` field)."""
    ts = [st.targeted for st in full if st.targeted is not None]
    n = sum(t.proj_n for t in ts) if ts else np.zeros(3, dtype=np.int64)
    s1 = sum(t.proj_sum for t in ts) if ts else np.zeros(3)
    s2 = sum(t.proj_sumsq for t in ts) if ts else np.zeros(3)
    rows = []
    have = n > 0
    Z = np.where(have, s1 / np.sqrt(np.maximum(n, 1)), 0.0)
    no_kick = "no kicks (the model's kick is zero) or no events"
    # 6d: the drift's scale.  Under H -> c H the residual's whitened mean is (c - 1) u_drift:
    # a_drift is the (normalized) score of c at c = 1
    if have[0]:
        rows.append(_row(
            "6d_drift_scale", f"Z = {Z[0]:.4g}", stats.two_sided_normal(float(Z[0])),
            f"{int(n[0])} events; mean of the whitened residual along the whitened predicted drift "
            f"{s1[0] / n[0]:+.4f} (model 0; a drift c H(mu' - S) gives about (c - 1) |L^-1 H(mu' - S)|)"))
    else:
        rows.append(_row("6d_drift_scale", "", None, "", skip=no_kick))
    # 6e: the offset (restoring target mu') and the state-deviation parts of the drift
    if have[1] or have[2]:
        parts = [(DIRECTIONS[j], Z[j]) for j in (1, 2) if have[j]]
        p = stats.bonferroni([stats.two_sided_normal(float(z)) for _, z in parts])
        rows.append(_row(
            "6e_drift_parts", ", ".join(f"Z({d.split()[0]}) = {z:.4g}" for d, z in parts), p,
            "whitened residual along " + " and ".join(d for d, _ in parts) + f"; {int(n.max())} events; "
            "each Z ~ N(0, 1) exactly; Bonferroni"))
    else:
        rows.append(_row("6e_drift_parts", "", None, "", skip=no_kick))
    # 6f: the noise scale along the same directions: sum a^2 ~ chi2(n), two-sided
    if have.any():
        ps, parts = [], []
        for j in np.flatnonzero(have):
            ps.append(stats.chi2_two_sided(float(s2[j]), float(n[j])))
            parts.append(f"{DIRECTIONS[j].split()[0]} {s2[j] / n[j]:.4f}")
        rows.append(_row(
            "6f_noise_scale", f"min p over {len(ps)} directions", stats.bonferroni(ps),
            "variance of the whitened residual along each direction (model 1): " + ", ".join(parts)
            + "; sum of squares ~ chi2(events) exactly, two-sided; Bonferroni"))
    else:
        rows.append(_row("6f_noise_scale", "", None, "", skip=no_kick))
    rows.append(_db_row(ts))
    rows.append(_score_row(ts))
    return rows


def targeted_row(key: str, full: list):
    """The row of one key (the battery registers one check per key: trsp_verify.checks.CHECKS)."""
    return next(r for r in targeted_rows(full) if r.key == key)


def _score_row(ts: list):
    """3c: M = sum over events of f(sbar_k) - integral sum_R f(sbar_R) r_R dt is a martingale
    (f = 1, x, x^2) with predictable covariation V; M^T V^-1 M ~ chi2(3) (martingale CLT)."""
    if not ts:
        return _row("3c_rate_score", "", None, "", skip="no events")
    M = sum(t.score_count - t.score_comp for t in ts)
    V = sum(t.score_V for t in ts)
    count = sum(t.score_count for t in ts)
    if count[0] < 50:
        return _row("3c_rate_score", "", None, "", skip="too few events")
    stat, p, k = stats.quadratic_form_chi2(M, V)
    z = M / np.sqrt(np.maximum(np.diag(V), 1e-300))
    return _row(
        "3c_rate_score", f"chi2 = {stat:.4g} (dof {k})", p,
        f"{count[0]:.0f} events; score of the rate law in (log A0, gamma0, delta0): events minus compensator of "
        "1, x, x^2 (x: the cluster's standardized mean softness), standardized: "
        + " ".join(f"{v:+.3g}" for v in z))


def _db_row(ts: list):
    batches = [(t.db_sum[w] / t.db_n[w]) for t in ts for w in range(t.db_n.size) if t.db_n[w] > 0]
    k = len(_HERMITE)
    if len(batches) <= k + 1:
        return _row("1b_db_moments", "", None, "", skip=f"needs more than {k + 1} batches, has {len(batches)}")
    X = np.array(batches)
    T2, p, used = stats.hotelling_zero_mean(X)
    total = int(sum(t.db_n.sum() for t in ts))
    means = sum(t.db_sum.sum(axis=0) for t in ts) / max(total, 1)
    return _row(
        "1b_db_moments", f"T2 = {T2:.4g} (F {used}, {len(batches) - used})", p,
        f"{total} events in {len(batches)} batches; mean of He_k(x') - He_k(x), k = 1, 2, 3 (model 0): "
        + " ".join(f"{m:+.4f}" for m in means) + "; x = the firing cluster's standardized mean softness")
