"""TRSP against the liquid: the verdict table of issue 19 from committed summaries.

``trsp liquid compare LIQUID.h5 TRSP.h5 [TRSP2.h5 ...] --json VERDICT.json`` reads the MD
liquid's summary (trsp_obs.liquid, format trsp-liquid) and TRSP sweep summaries (or sweep
files) of a measured parameter set at the same temperatures, and compares per temperature:

* relaxation time: MD tau_alpha (Q = 1/e) against TRSP tau_chi (the issue's pairing), and the
  like-for-like pairs tau_chi / tau_chi and tau_alpha / tau_alpha (TRSP's tau_alpha from its
  Q(t), :func:`trsp_obs.liquid.overlap_time`, bootstrapped over its replicas);
* chi_4*: TRSP against MD;
* fragility: the slope d ln tau / d(1/T), weighted least squares over the temperatures, MD
  against TRSP;
* growth of chi_4* on cooling: the slope d ln chi_4* / d(1/T), MD against TRSP.

Every ratio r = TRSP / MD is given with se = the standard error of ln r (the two sides'
bootstrap errors are independent, so their relative errors add in quadrature), and two tests:
``z = ln r / se`` (is there any difference?) and ``z2 = (|ln r| - ln 2) / se`` (the factor-2
target: ``within`` when |ln r| <= ln 2; ``outside`` and significant at 2 se when z2 > 2).
Slopes carry the standard error of the weighted fit (weights 1 / se_ln^2, not rescaled by the
scatter; ``chi2_dof`` says how well a line fits).

The matched lattice: L^3 sites with L the integer whose cube is nearest the number of large
particles (:func:`matched_lattice`), spacing the first peak of g_AA (both recorded in the MD
summary); the comparison records each TRSP file's L, N and spacing next to them.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trsp_ref.params import ParameterError
from trsp_runfile.schema import Item

from .liquid import POSITIONS, LiquidData, overlap_time, read_liquid
from .results_schema import check_results, open_results

__all__ = ["VERDICT_FORMAT", "matched_lattice", "TrspSide", "read_trsp", "log_ratio", "weighted_slope", "compare",
           "markdown_table"]

VERDICT_FORMAT = "trsp-liquid-verdict"
LN2 = math.log(2.0)

V, T, R, J = "variant", "temperature", "replica", "lag"
#: what the comparison reads from a TRSP sweep file or summary
TRSP_ITEMS = (
    Item("/variant", "strings", (V,)), Item("/temperature", "real", (T,)), Item("/lag_time", "real", (V, T, J)),
    Item("/member_q_mean", "real", (V, T, R, J)), Item("/member_done", "flag", (V, T, R)),
    *(Item(f"/{n}", "real", (V, T, J)) for n in ("Q", "Q_err", "chi4", "chi4_err")),
    *(Item(f"/{n}", "real", (V, T)) for n in ("tau_chi", "tau_chi_err", "chi4_star", "chi4_star_err", "xi4_oz", "xi4_oz_err",
                                              "xi4_block", "xi4_block_err", "n_replicas", "peak_resolved")),
    Item("/@N", "integer"), Item("/@L", "integer"), Item("/@dim", "integer"), Item("/@spacing", "real"),
)  # fmt: skip


def matched_lattice(n_large: int, dim: int = 3) -> int:
    """The L whose L^dim is nearest ``n_large`` (ties: the larger lattice)."""
    lo = max(1, int(math.floor(n_large ** (1.0 / dim))))
    cands = [L for L in (lo - 1, lo, lo + 1, lo + 2) if L >= 1]
    return min(cands, key=lambda L: (abs(L**dim - n_large), -L))


@dataclass(eq=False)
class TrspSide:
    """One TRSP summary (one variant) at its temperatures."""

    path: str
    variant: str
    L: int
    N: int
    spacing: float
    illustrative: bool
    T: np.ndarray
    lag_time: np.ndarray  # (T, J)
    Q: np.ndarray
    Q_err: np.ndarray
    chi4: np.ndarray
    chi4_err: np.ndarray
    scalars: dict  # name -> (T,)


def read_trsp(path: str | Path, variant: str | None = None, rng: np.random.Generator | None = None,
              n_bootstrap: int = 1000) -> TrspSide:
    """A TRSP sweep file or summary's combined estimates for ``variant`` (default: the first),
    with tau_alpha (Q = 1/e) recomputed from the replicas' Q and bootstrapped over them."""
    path = Path(path)
    with open_results(path, "TRSP") as h5:
        check_results(h5, TRSP_ITEMS, "TRSP")
        names = [v.decode() if isinstance(v, bytes) else str(v) for v in h5["variant"][()]]
        if variant is None:
            v = 0
        elif variant in names:
            v = names.index(variant)
        else:
            raise ParameterError("--variant", f"{path} has variants {names}", variant)
        get = lambda k: h5[k][()][v]  # noqa: E731
        sc = {k: get(k).astype(np.float64) for k in ("tau_chi", "tau_chi_err", "chi4_star", "chi4_star_err", "xi4_oz",
                                                    "xi4_oz_err", "xi4_block", "xi4_block_err", "n_replicas", "peak_resolved")}
        qm, done, lags = get("member_q_mean"), get("member_done"), get("lag_time")
        tau_a, tau_a_err = np.full(lags.shape[0], np.nan), np.full(lags.shape[0], np.nan)
        for i in range(lags.shape[0]):
            rows = qm[i][done[i].astype(bool)]
            if rows.shape[0] >= 1:
                tau_a[i], tau_a_err[i] = overlap_time(lags[i], rows, rng, n_bootstrap)
        sc["tau_alpha"], sc["tau_alpha_err"] = tau_a, tau_a_err
        a = h5.attrs
        return TrspSide(str(path), names[v], int(a["L"]), int(a["N"]), float(a["spacing"]), bool(int(a.get("illustrative", 0))),
                        h5["temperature"][()], lags, get("Q"), get("Q_err"), get("chi4"), get("chi4_err"), sc)


def log_ratio(num: float, num_err: float, den: float, den_err: float, resolved: tuple = (True, True)) -> dict:
    """r = num / den with se of ln r, z = ln r / se and the factor-2 test (module docstring).
    ``resolved``: whether each side's chi_4 peak is inside its lag grid; if not, the ratio is
    given but not judged (``within_factor2`` None)."""
    ok = all(math.isfinite(x) for x in (num, den)) and num > 0 and den > 0
    if not ok:
        return {"ratio": math.nan, "se_ln": math.nan, "z": math.nan, "z_factor2": math.nan, "within_factor2": None,
                "verdict": "not measured"}
    if not all(resolved):
        side = " and ".join(n for n, ok_ in zip(("TRSP", "MD"), resolved) if not ok_)
        return {"ratio": num / den, "se_ln": math.nan, "z": math.nan, "z_factor2": math.nan, "within_factor2": None,
                "verdict": f"not judged: {side} chi_4 peak at an end of the lag grid"}
    lr = math.log(num / den)
    se = math.hypot(num_err / num, den_err / den) if math.isfinite(num_err) and math.isfinite(den_err) else math.inf
    z = lr / se if se > 0 else math.copysign(math.inf, lr)
    z2 = (abs(lr) - LN2) / se if se > 0 else math.copysign(math.inf, abs(lr) - LN2)
    within = abs(lr) <= LN2
    if within:
        verdict = "within 2x" + (" (significantly: z2 < -2)" if z2 < -2 else "")
    else:
        verdict = "outside 2x" + (" (significant: z2 > 2)" if z2 > 2 else " (not significant at 2 se)")
    return {"ratio": num / den, "se_ln": se, "z": z, "z_factor2": z2, "within_factor2": within, "verdict": verdict}


def weighted_slope(x: np.ndarray, y: np.ndarray, se: np.ndarray) -> dict:
    """Weighted least-squares line y = c + s x (weights 1/se^2; finite points only): slope, its se,
    intercept, chi^2 per degree of freedom, number of points."""
    x, y, se = (np.asarray(v, dtype=np.float64) for v in (x, y, se))
    m = np.isfinite(x) & np.isfinite(y) & np.isfinite(se) & (se > 0)
    if m.sum() < 2:
        return {"slope": math.nan, "slope_se": math.nan, "intercept": math.nan, "chi2_dof": math.nan, "n": int(m.sum())}
    X = np.stack([np.ones(m.sum()), x[m]], axis=1)
    W = 1.0 / se[m] ** 2
    A = X.T @ (W[:, None] * X)
    cov = np.linalg.inv(A)
    coef = cov @ (X.T @ (W * y[m]))
    res = y[m] - X @ coef
    dof = int(m.sum()) - 2
    return {"slope": float(coef[1]), "slope_se": float(math.sqrt(cov[1, 1])), "intercept": float(coef[0]),
            "chi2_dof": float((W * res**2).sum() / dof) if dof > 0 else math.nan, "n": int(m.sum())}


def _ln_with_se(v: np.ndarray, e: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(v), e / v


def _slope_comparison(T: np.ndarray, md: tuple, trsp: tuple) -> dict:
    """Slopes of ln(value) against 1/T for both sides and their ratio / difference."""
    x = 1.0 / np.asarray(T)
    a = weighted_slope(x, *_ln_with_se(*md))
    b = weighted_slope(x, *_ln_with_se(*trsp))
    out = {"md": a, "trsp": b}
    if all(math.isfinite(s[k]) for s in (a, b) for k in ("slope", "slope_se")):
        d = b["slope"] - a["slope"]
        se = math.hypot(a["slope_se"], b["slope_se"])
        out.update(ratio=b["slope"] / a["slope"] if a["slope"] != 0 else math.nan, difference=d, difference_se=se,
                   z=d / se if se > 0 else math.nan)
    return out


def compare(md_path: str | Path, trsp_paths: list[str | Path], *, positions: str = "inherent", variant: str | None = None,
            seed: int = 0, n_bootstrap: int = 1000) -> dict:
    """The verdict (module docstring) as a JSON-ready dict."""
    if positions not in POSITIONS:
        raise ParameterError("--positions", f"must be one of {list(POSITIONS)}", positions)
    if not trsp_paths:
        raise ParameterError("TRSP", "give at least one TRSP sweep file or summary")
    md: LiquidData = read_liquid(md_path)
    p = md.positions_index(positions)
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    n_large = int(md.attrs["n_large"])
    L_match = matched_lattice(n_large)
    spacing = float(np.nanmean(md.gaa_peak))
    out = {
        "format": VERDICT_FORMAT, "format_version": "1.0",
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "md": {"file": Path(md_path).name, "positions": positions, "a": float(md.attrs["a"]), "n_large": n_large,
               "box": float(md.attrs["box"]), "temperatures": md.temperatures.tolist(), "runs": md.n_runs.tolist(),
               "gAA_peak": md.gaa_peak.tolist(), "gAA_peak_mean": spacing},
        "matched_lattice": {"L": L_match, "N": L_match**3, "n_large": n_large, "relative_difference": L_match**3 / n_large - 1,
                            "spacing": spacing, "box": L_match * spacing,
                            "rule": "L = the integer whose L^3 is nearest N_A; spacing = g_AA's first peak (mean over T)"},
        "seed": seed, "n_bootstrap": n_bootstrap, "trsp": [],
    }
    for path in trsp_paths:
        side = read_trsp(path, variant, rng, n_bootstrap)
        rows, common = [], []
        for i, T in enumerate(md.temperatures):
            k = np.flatnonzero(np.abs(side.T - T) < 1e-9)
            if k.size == 0:
                continue
            k = int(k[0])
            common.append((i, k))
            g = side.scalars
            mdv = {n: float(getattr(md, n)[p, i]) for n in ("tau_alpha", "tau_alpha_err", "tau_chi", "tau_chi_err", "chi4_star",
                                                           "chi4_star_err", "peak_resolved")}
            tv = {n: float(g[n][k]) for n in ("tau_alpha", "tau_alpha_err", "tau_chi", "tau_chi_err", "chi4_star", "chi4_star_err",
                                              "xi4_oz", "xi4_oz_err", "xi4_block", "xi4_block_err", "n_replicas", "peak_resolved")}
            peaks = (bool(tv["peak_resolved"]), bool(mdv["peak_resolved"]))
            rows.append({
                "T": float(T), "md": mdv, "trsp": tv,
                "tau": log_ratio(tv["tau_chi"], tv["tau_chi_err"], mdv["tau_alpha"], mdv["tau_alpha_err"], (peaks[0], True)),
                "tau_chi": log_ratio(tv["tau_chi"], tv["tau_chi_err"], mdv["tau_chi"], mdv["tau_chi_err"], peaks),
                "tau_alpha": log_ratio(tv["tau_alpha"], tv["tau_alpha_err"], mdv["tau_alpha"], mdv["tau_alpha_err"]),
                "chi4_star": log_ratio(tv["chi4_star"], tv["chi4_star_err"], mdv["chi4_star"], mdv["chi4_star_err"], peaks),
            })  # fmt: skip
        if not rows:
            raise ParameterError("TRSP", f"{path} shares no temperature with {md_path} (MD: {md.temperatures.tolist()}, "
                                         f"TRSP: {side.T.tolist()})")
        Ts = np.array([r["T"] for r in rows])
        col = lambda side_, n: np.array([r[side_][n] for r in rows])  # noqa: E731
        entry = {
            "file": Path(path).name, "variant": side.variant, "L": side.L, "N": side.N, "spacing": side.spacing,
            "illustrative": side.illustrative, "matched": side.L == L_match, "rows": rows,
            "fragility": {
                "tau_alpha_vs_tau_chi": _slope_comparison(Ts, (col("md", "tau_alpha"), col("md", "tau_alpha_err")),
                                                          (col("trsp", "tau_chi"), col("trsp", "tau_chi_err"))),
                "tau_chi": _slope_comparison(Ts, (col("md", "tau_chi"), col("md", "tau_chi_err")),
                                             (col("trsp", "tau_chi"), col("trsp", "tau_chi_err"))),
                "tau_alpha": _slope_comparison(Ts, (col("md", "tau_alpha"), col("md", "tau_alpha_err")),
                                               (col("trsp", "tau_alpha"), col("trsp", "tau_alpha_err"))),
            },
            "chi4_growth": _slope_comparison(Ts, (col("md", "chi4_star"), col("md", "chi4_star_err")),
                                             (col("trsp", "chi4_star"), col("trsp", "chi4_star_err"))),
            "met": {q: all(r[q]["within_factor2"] is True for r in rows) for q in ("tau", "tau_chi", "tau_alpha", "chi4_star")},
        }  # fmt: skip
        out["trsp"].append(entry)
    return json.loads(json.dumps(out, default=float, allow_nan=True))


def _fmt(v: float, e: float) -> str:
    if not math.isfinite(v):
        return "n/a"
    digits = 3 if abs(v) < 10 else (1 if abs(v) < 100 else 0)
    es = "inf" if math.isinf(e) else (f"{e:.{digits}f}" if math.isfinite(e) else "?")
    return f"{v:.{digits}f} +- {es}"


def _ratio(d: dict) -> str:
    if not math.isfinite(d["ratio"]):
        return "n/a"
    if d["within_factor2"] is None:
        return f"{d['ratio']:.2f} ({d['verdict']})"
    return f"{d['ratio']:.2f} (se_ln {d['se_ln']:.2f}; z {d['z']:+.1f}; {d['verdict']})"


def markdown_table(verdict: dict) -> str:
    """The verdict as markdown: one table per TRSP file, then the slopes."""
    lines = []
    for e in verdict["trsp"]:
        lines.append(f"**{e['file']}** (L = {e['L']}, N = {e['N']}, spacing {e['spacing']:.3f}; "
                     f"{'matched to the MD system' if e['matched'] else 'not the matched lattice'}):")
        lines.append("")
        lines.append("| T | MD tau_alpha | MD tau_chi | TRSP tau_chi | TRSP tau_alpha | tau: TRSP tau_chi / MD tau_alpha | "
                     "tau_chi / tau_chi | MD chi_4* | TRSP chi_4* | chi_4*: TRSP / MD | TRSP xi_4 (OZ) |")
        lines.append("|---|---|---|---|---|---|---|---|---|---|---|")
        for r in e["rows"]:
            m, t = r["md"], r["trsp"]
            lines.append(f"| {r['T']:.2f} | {_fmt(m['tau_alpha'], m['tau_alpha_err'])} | {_fmt(m['tau_chi'], m['tau_chi_err'])} | "
                         f"{_fmt(t['tau_chi'], t['tau_chi_err'])} | {_fmt(t['tau_alpha'], t['tau_alpha_err'])} | {_ratio(r['tau'])} | "
                         f"{_ratio(r['tau_chi'])} | {_fmt(m['chi4_star'], m['chi4_star_err'])} | "
                         f"{_fmt(t['chi4_star'], t['chi4_star_err'])} | {_ratio(r['chi4_star'])} | "
                         f"{_fmt(t['xi4_oz'], t['xi4_oz_err'])} |")
        lines.append("")
        if len(e["rows"]) < 2:  # a slope against 1/T needs two temperatures; say so rather than print nan
            lines.append(f"- slopes against 1/T (fragility, growth of chi_4*): not defined with {len(e['rows'])} temperature")
            lines.append("")
            continue
        for name, key in (("fragility d ln tau / d(1/T): MD tau_alpha vs TRSP tau_chi", ("fragility", "tau_alpha_vs_tau_chi")),
                          ("fragility, tau_chi vs tau_chi", ("fragility", "tau_chi")),
                          ("growth d ln chi_4* / d(1/T)", ("chi4_growth",))):
            s = e
            for k in key:
                s = s[k]
            md_, tr_ = s["md"], s["trsp"]
            extra = f"; TRSP / MD {s['ratio']:.2f}, difference z {s['z']:+.1f}" if "z" in s else ""
            lines.append(f"- {name}: MD {md_['slope']:.2f} +- {md_['slope_se']:.2f} (chi2/dof {md_['chi2_dof']:.1f}), "
                         f"TRSP {tr_['slope']:.2f} +- {tr_['slope_se']:.2f} (chi2/dof {tr_['chi2_dof']:.1f}){extra}")
        lines.append("")
    return "\n".join(lines)
