"""Paired comparisons of two sweep variants, their significance, and the replicas a target needs.

In a paired sweep (``[sweep] paired = true``, trsp_obs.sweep.members) replica r at
temperature T starts from the same initial softness field in every variant.  Because the
field remembers its initial condition far longer than tau_chi, most of chi_4* is the
between-replica term (docs/reproduction.md): replica r's time-averaged Q is high or low in
*every* variant together.  Comparing the variants on the *same* resampled replicas then
cancels that common part.

For two variants a, b at one temperature, with X one of tau_chi, chi_4*, xi_4 (OZ), xi_4
(blocks) (trsp_obs.heterogeneity.point_estimates, estimated over all R pairs):

* the effect is ``ratio = X_a / X_b``, and its uncertainty comes from a bootstrap over the
  pairs: each resample draws R pair indices with replacement and recomputes X_a and X_b on
  the *same* indices (the paired bootstrap).  ``se_log`` is half the central 68% range of
  ``ln(X_a / X_b)`` over the resamples; ``z = ln(ratio) / se_log``; ``p`` the two-sided normal
  tail of z.
* ``se_log_unpaired`` redraws the indices independently for a and b: the uncertainty the
  same number of *independent* replicas would give.  ``variance_reduction =
  (se_log_unpaired / se_log)^2`` is what the pairing buys (the factor on the replicas an
  unpaired design would need for the same precision).
* the validity of the pairing: ``initial_fields_identical`` compares the members' initial-field
  fingerprints (``member_initial_digest``: sha256 of the field's bits); ``q_correlation`` is the
  Pearson correlation over pairs of the replicas' time-averaged Q at the lag nearest tau_chi of
  b (what the pairing relies on), ``boot_correlation`` that of X_a and X_b over the paired
  resamples.
* with few pairs the bootstrap is crude (R = 3 pairs have 10 distinct resamples), so the
  log ratio also gets a jackknife standard error over pairs, ``se_log_jackknife``
  (leave one pair out; sqrt((R - 1)/R sum (theta_i - mean)^2)), with ``t_jackknife =
  ln(ratio) / se_log_jackknife`` (roughly Student t with R - 1 degrees of freedom).
* power: with the standard error falling as 1/sqrt(R), an effect ``ratio = 1 + effect`` shows
  at ``n_sigma`` standard errors once ``R >= R_now (n_sigma se_log / ln(1 + effect))^2``
  (:func:`replicas_needed`); the smallest effect the present R resolves at ``n_sigma`` is
  ``exp(n_sigma se_log) - 1`` (:func:`resolvable_effect`).  Both inherit the bootstrap error's
  own uncertainty (about 1/sqrt(2R) relative, plus its small-R bias low).

Several sweep files with the same variants, temperatures, lags and lattice but different
seeds can be pooled (:func:`load_ensemble`): their replicas are independent, so a pilot
extends into the main run.
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from trsp_ref.params import ParameterError

from .heterogeneity import StackedStats, bootstrap_error, point_estimates

__all__ = [
    "OBSERVABLES",
    "Ensemble",
    "load_ensemble",
    "PairedComparison",
    "compare",
    "replicas_needed",
    "resolvable_effect",
    "size_difference",
]

#: the observables compared (keys of heterogeneity.point_estimates)
OBSERVABLES = ("tau_chi", "chi4_star", "xi4_oz", "xi4_block")

_MEMBER_VARS = ("member_q_mean", "member_q_sq_mean", "member_shell_power", "member_block_var", "member_done")


@dataclass(eq=False)
class Ensemble:
    """Per-member arrays of one or more pooled sweep files (replicas of the files concatenated)."""

    sources: list
    variants: list
    temperatures: np.ndarray
    lag_time: np.ndarray  # (V, NT, J)
    n_origins: np.ndarray  # (V, NT, J)
    blocks: np.ndarray
    arrays: dict  # name -> (V, NT, R, ...)
    digests: np.ndarray | None  # (V, NT, R) str, or None when a file predates them
    N: int
    dim: int
    L: int
    spacing: float
    oz_qmax: float
    block_fit_max: int
    paired: bool
    tolerance: float

    def variant_index(self, name: str) -> int:
        if name not in self.variants:
            raise ParameterError("variant", f"names no variant of the sweep; its variants are {self.variants}", name)
        return self.variants.index(name)

    def temperature_index(self, T: float) -> int:
        hits = np.flatnonzero(np.isclose(self.temperatures, T, rtol=0, atol=1e-9))
        if hits.size == 0:
            raise ParameterError("temperature", f"is not a temperature of the sweep ({self.temperatures.tolist()})", T)
        return int(hits[0])

    def stacked(self, v: int, i: int, replicas: np.ndarray) -> StackedStats:
        a = self.arrays
        return StackedStats(
            self.lag_time[v, i], self.n_origins[v, i], a["member_q_mean"][v, i, replicas], a["member_q_sq_mean"][v, i, replicas],
            a["member_shell_power"][v, i, replicas], a["member_block_var"][v, i, replicas], self.blocks,
            self.N, self.dim, self.L, self.spacing,
        )  # fmt: skip


def load_ensemble(paths) -> Ensemble:
    """Read sweep files (docs/sweep-format.md) and pool their replicas.  Pooled files must share
    variants, temperatures, lag grids, lattice, tolerance and pairing, and have distinct seeds
    (the same seed would repeat the same replicas)."""
    from trsp_runfile.outputs import check_distinct_inputs

    from .results_schema import PAIRED_ITEMS, SWEEP_FORMAT, analysis_settings, check_member_values, check_results, open_results

    paths = [Path(p) for p in ([paths] if isinstance(paths, (str, Path)) else paths)]
    if not paths:
        raise ParameterError("sweep files", "need at least one")
    check_distinct_inputs(paths, "sweep files", "its replicas would be pooled with themselves as if independent")
    parts = []
    for path in paths:
        with open_results(path, "sweep files", (SWEEP_FORMAT,)) as h5:
            check_results(h5, PAIRED_ITEMS, "sweep files")
            attrs = {k: h5.attrs[k] for k in ("N", "dim", "L", "spacing", "seed", "tolerance")}
            # one tolerance per part since issue 21 (absent in older files: both = tolerance)
            attrs.update({k: h5.attrs.get(k, attrs["tolerance"]) for k in ("kick_tolerance", "precision_tolerance")})
            analysis = analysis_settings(h5, "sweep files")
            part = dict(
                source=str(path), attrs=attrs, analysis=analysis, paired=bool(h5.attrs.get("paired", 0)),
                variants=[v.decode() if isinstance(v, bytes) else str(v) for v in h5["variant"][()]],
                temperatures=np.asarray(h5["temperature"][()]), lag_time=np.asarray(h5["lag_time"][()]),
                n_origins=np.asarray(h5["n_origins"][()]), blocks=np.asarray(h5["block"][()]),
                arrays={k: np.asarray(h5[k][()]) for k in _MEMBER_VARS},
                digests=(np.vectorize(lambda x: x.decode() if isinstance(x, bytes) else str(x), otypes=[object])(h5["member_initial_digest"][()])
                         if "member_initial_digest" in h5 else None),
            )  # fmt: skip
        check_member_values(path, part["lag_time"], part["arrays"]["member_done"], part["arrays"])
        parts.append(part)
    p0 = parts[0]
    for p in parts[1:]:
        same = (
            p["variants"] == p0["variants"] and np.array_equal(p["temperatures"], p0["temperatures"])
            and np.allclose(p["lag_time"], p0["lag_time"], rtol=1e-12) and np.array_equal(p["n_origins"], p0["n_origins"])
            and np.array_equal(p["blocks"], p0["blocks"]) and p["paired"] == p0["paired"]
            and all(p["attrs"][k] == p0["attrs"][k] for k in ("N", "dim", "L", "spacing", "kick_tolerance", "precision_tolerance"))
        )  # fmt: skip
        if not same:
            raise ParameterError("sweep files", f"{p['source']} cannot be pooled with {p0['source']}: variants, temperatures, lags, lattice, tolerance or pairing differ")
    seeds = [int(p["attrs"]["seed"]) for p in parts]
    if len(set(seeds)) != len(seeds):
        raise ParameterError("sweep files", "pooled sweep files must have distinct seeds (the same seed repeats the same replicas)", seeds)
    arrays = {k: np.concatenate([p["arrays"][k] for p in parts], axis=2) for k in _MEMBER_VARS}
    digests = None if any(p["digests"] is None for p in parts) else np.concatenate([p["digests"] for p in parts], axis=2)
    a0 = p0["attrs"]
    return Ensemble(
        sources=[p["source"] for p in parts], variants=p0["variants"], temperatures=p0["temperatures"],
        lag_time=p0["lag_time"], n_origins=p0["n_origins"], blocks=p0["blocks"], arrays=arrays, digests=digests,
        N=int(a0["N"]), dim=int(a0["dim"]), L=int(a0["L"]), spacing=float(a0["spacing"]),
        oz_qmax=float(p0["analysis"]["oz_qmax"]), block_fit_max=int(p0["analysis"]["block_fit_max"]),
        paired=p0["paired"], tolerance=float(a0["tolerance"]),
    )  # fmt: skip


@dataclass
class PairedComparison:
    """Variant a against variant b at one temperature (module docstring).  Per observable (dicts
    keyed by OBSERVABLES): value_a, value_b, ratio, se_log, z, p, se_log_unpaired,
    variance_reduction, boot_correlation."""

    temperature: float
    variant_a: str
    variant_b: str
    n_pairs: int
    paired: bool
    initial_fields_identical: bool | None
    q_correlation: float
    value_a: dict = field(default_factory=dict)
    value_b: dict = field(default_factory=dict)
    ratio: dict = field(default_factory=dict)
    se_log: dict = field(default_factory=dict)
    z: dict = field(default_factory=dict)
    p: dict = field(default_factory=dict)
    se_log_unpaired: dict = field(default_factory=dict)
    variance_reduction: dict = field(default_factory=dict)
    boot_correlation: dict = field(default_factory=dict)
    se_log_jackknife: dict = field(default_factory=dict)
    t_jackknife: dict = field(default_factory=dict)
    n_bootstrap: int = 0
    L: int = 0
    sources: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return _finite(asdict(self))


def _finite(obj):
    """JSON-safe: NaN and inf as None."""
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


def _half_68(a: np.ndarray) -> float:
    """bootstrap_error over the finite resamples only (NaN with fewer than 3)."""
    a = np.asarray(a, dtype=np.float64)
    a = a[np.isfinite(a)]
    if a.size < 3:
        return math.nan
    return float(bootstrap_error(a))


def _log_ratio(x: float, y: float) -> float:
    return math.log(x / y) if (x > 0 and y > 0 and math.isfinite(x) and math.isfinite(y)) else math.nan


def compare(
    ens: Ensemble, variant_a: str, variant_b: str, temperature: float, *, rng: np.random.Generator, n_bootstrap: int = 400
) -> PairedComparison:
    """Variant a against b at ``temperature`` over the replicas finished in both (module docstring).
    In an unpaired sweep the paired bootstrap is still computed but means nothing; ``paired`` says which."""
    va, vb, i = ens.variant_index(variant_a), ens.variant_index(variant_b), ens.temperature_index(temperature)
    done = ens.arrays["member_done"]
    both = np.flatnonzero((done[va, i] > 0) & (done[vb, i] > 0))
    if both.size < 2:
        raise ParameterError("replicas", f"need >= 2 replicas finished in both {variant_a!r} and {variant_b!r} at T = {temperature:g}", int(both.size))
    R = both.size
    sta, stb = ens.stacked(va, i, both), ens.stacked(vb, i, both)
    pa = point_estimates(sta, None, ens.oz_qmax, ens.block_fit_max)
    pb = point_estimates(stb, None, ens.oz_qmax, ens.block_fit_max)
    identical = None
    if ens.digests is not None:
        da, db = ens.digests[va, i, both], ens.digests[vb, i, both]
        if all(d for d in da) and all(d for d in db):
            identical = bool(np.all(da == db))
    # the pairing's lever: replicas' time-averaged Q at the lag nearest b's tau_chi
    j = pb["s4_index"]
    qa, qb = sta.q_mean[:, j], stb.q_mean[:, j]
    q_corr = float(np.corrcoef(qa, qb)[0, 1]) if qa.std() > 0 and qb.std() > 0 else math.nan

    out = PairedComparison(
        temperature=float(ens.temperatures[i]), variant_a=variant_a, variant_b=variant_b, n_pairs=int(R), paired=ens.paired,
        initial_fields_identical=identical, q_correlation=q_corr, n_bootstrap=int(n_bootstrap), L=ens.L, sources=list(ens.sources),
    )  # fmt: skip
    jack = {k: [] for k in OBSERVABLES}
    for drop in range(R):
        keep = np.delete(np.arange(R), drop)
        ja = point_estimates(sta.take(keep), pa["s4_index"], ens.oz_qmax, ens.block_fit_max)
        jb = point_estimates(stb.take(keep), pb["s4_index"], ens.oz_qmax, ens.block_fit_max)
        for k in OBSERVABLES:
            jack[k].append(_log_ratio(float(ja[k]), float(jb[k])))
    for k in OBSERVABLES:
        th = np.asarray(jack[k])
        se_j = math.sqrt((R - 1) / R * float(((th - th.mean()) ** 2).sum())) if np.all(np.isfinite(th)) else math.nan
        out.se_log_jackknife[k] = se_j
        lr0 = _log_ratio(float(pa[k]), float(pb[k]))
        out.t_jackknife[k] = lr0 / se_j if se_j > 0 else math.nan
    draws = {k: {"a": [], "b": [], "b_unpaired": []} for k in OBSERVABLES}
    for _ in range(n_bootstrap):
        idx = rng.integers(0, R, size=R)
        idx_u = rng.integers(0, R, size=R)
        ra = point_estimates(sta.take(idx), pa["s4_index"], ens.oz_qmax, ens.block_fit_max)
        rb = point_estimates(stb.take(idx), pb["s4_index"], ens.oz_qmax, ens.block_fit_max)
        ru = point_estimates(stb.take(idx_u), pb["s4_index"], ens.oz_qmax, ens.block_fit_max)
        for k in OBSERVABLES:
            draws[k]["a"].append(ra[k])
            draws[k]["b"].append(rb[k])
            draws[k]["b_unpaired"].append(ru[k])
    for k in OBSERVABLES:
        xa, xb = float(pa[k]), float(pb[k])
        out.value_a[k], out.value_b[k] = xa, xb
        out.ratio[k] = xa / xb if xb != 0 else math.nan
        a, b, bu = (np.asarray(draws[k][s], dtype=np.float64) for s in ("a", "b", "b_unpaired"))
        with np.errstate(divide="ignore", invalid="ignore"):
            lr = np.where((a > 0) & (b > 0), np.log(a / b), np.nan)
            lru = np.where((a > 0) & (bu > 0), np.log(a / bu), np.nan)
        se, se_u = _half_68(lr), _half_68(lru)
        out.se_log[k], out.se_log_unpaired[k] = se, se_u
        lr0 = _log_ratio(xa, xb)
        out.z[k] = lr0 / se if se > 0 else math.nan
        out.p[k] = math.erfc(abs(out.z[k]) / math.sqrt(2.0)) if math.isfinite(out.z[k]) else math.nan
        out.variance_reduction[k] = (se_u / se) ** 2 if se > 0 else math.nan
        ok = np.isfinite(a) & np.isfinite(b)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            out.boot_correlation[k] = float(np.corrcoef(a[ok], b[ok])[0, 1]) if ok.sum() > 2 else math.nan
    return out


def replicas_needed(se_log: float, n_now: int, *, effect: float = 0.2, n_sigma: float = 3.0) -> int:
    """Replicas (pairs) for a ratio 1 + ``effect`` to show at ``n_sigma`` standard errors, given the
    standard error ``se_log`` of the log ratio measured with ``n_now`` (se ~ 1/sqrt(R))."""
    if not (se_log > 0 and n_now >= 2 and effect > -1 and effect != 0):
        raise ParameterError("se_log", "need se_log > 0, n_now >= 2 and an effect != 0", (se_log, n_now, effect))
    return int(math.ceil(n_now * (n_sigma * se_log / abs(math.log1p(effect))) ** 2))


def resolvable_effect(se_log: float, n_now: int, n_then: int | None = None, *, n_sigma: float = 3.0) -> float:
    """The smallest ratio - 1 that shows at ``n_sigma`` standard errors with ``n_then`` replicas
    (default ``n_now``), given ``se_log`` measured with ``n_now``."""
    n_then = n_now if n_then is None else n_then
    return math.expm1(n_sigma * se_log * math.sqrt(n_now / n_then))


def size_difference(c1: PairedComparison, c2: PairedComparison, key: str) -> tuple[float, float, float]:
    """(d, se, z) for d = ln(ratio_2) - ln(ratio_1) of two comparisons from independent sweeps
    (e.g. L = 20 and L = 40): does the effect of a against b change?  se adds in quadrature."""
    d = math.log(c2.ratio[key]) - math.log(c1.ratio[key]) if c1.ratio[key] > 0 and c2.ratio[key] > 0 else math.nan
    se = math.hypot(c1.se_log[key], c2.se_log[key])
    return d, se, d / se if se > 0 else math.nan
