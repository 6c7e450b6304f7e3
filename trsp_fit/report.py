"""What ``trsp fit`` writes: the parameter TOML, the JSON report and one PNG per fit (atomically)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from trsp_ref.params import dumps_toml
from trsp_runfile.outputs import Output, OutputSet

from . import estimate as est
from .pipeline import FitResult

__all__ = ["write_outputs", "fit_outputs", "PLOTS"]

#: file name -> what the figure shows
PLOTS = {
    "rate_law.png": "P(R|S) per softness bin (Poisson errors) and the fitted A exp(gamma S - delta S^2), per temperature",
    "correlation.png": "C_S(r) per distance bin (bootstrap errors) and Eq. 29 with its r = 0 nugget",
    "sigma_delta.png": "K_Delta(r, r) = sigma_Delta(r)^2 after Appendix E's background subtraction, raw residual variance, and Eq. 30's fit",
    "rho.png": "K_Delta(i, j) / (sigma0 sigma_Delta(rt_j)) against r_ij and rho(r) of Eq. 30",
    "temperature.png": "log A, gamma, delta and <S> against 1/T with the fits of Eqs. 27-28 and a + b/T (>= 3 temperatures)",
}


def _json_default(x):
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(type(x).__name__)


def fit_outputs(out_toml: str | Path, report_json: str | Path | None = None, plot_dir: str | Path | None = None, *,
                inputs=(), force: bool = False) -> OutputSet:
    """The outputs of a fit as one set (trsp_runfile.outputs), checked now: the parameter file,
    the report (default: beside it, ``.json``) and the plot folder (default: ``<stem>_plots/``),
    which owns the PNGs of :data:`PLOTS` (an earlier fit's that this one does not draw go)."""
    out_toml = Path(out_toml)
    beside = ", beside --out" if report_json is None else ""
    report_json = Path(report_json) if report_json is not None else out_toml.with_suffix(".json")
    plot_beside = ", beside --out" if plot_dir is None else ""
    plot_dir = Path(plot_dir) if plot_dir is not None else out_toml.with_name(out_toml.stem + "_plots")
    return OutputSet([Output("--out", out_toml), Output("--report", report_json, f"the report{beside}"),
                      Output("--plots", plot_dir, f"the plots{plot_beside}", folder=True, members=tuple(PLOTS))],
                     inputs=inputs, force=force)  # fmt: skip


def write_outputs(result: FitResult, out_toml: str | Path, report_json: str | Path | None = None, plot_dir: str | Path | None = None,
                  *, inputs=(), force: bool = False) -> dict:
    """Write the parameter file, the report and the plots (:func:`fit_outputs`) as one set: all
    of them or none, existing ones only with ``force``.  Returns {"toml", "report", "plots": [...]} paths."""
    outputs = fit_outputs(out_toml, report_json, plot_dir, inputs=inputs, force=force)
    out_toml, report_json, plot_dir = (outputs[o].path for o in ("--out", "--report", "--plots"))
    header = ("# written by trsp fit (docs/fit.md): the observed rate law (rates.level = \"observed\"),\n"
              f"# estimates with bootstrap errors in {report_json.name}\n")
    with outputs.writing() as w:
        w.path("--out").write_text(header + dumps_toml(result.params), encoding="utf-8", newline="\n")
        names = _plots(result, w.path("--plots"))
        report = dict(result.report)
        report["plots"] = {n: PLOTS[n] for n in names}
        report["parameter_file"] = str(out_toml)
        w.path("--report").write_text(json.dumps(report, indent=2, default=_json_default, allow_nan=True) + "\n", encoding="utf-8", newline="\n")
    return {"toml": out_toml, "report": report_json, "plots": [plot_dir / n for n in names]}


def _plots(result: FitResult, folder: Path) -> list[str]:
    """Draw the fit's plots into ``folder`` (the plot folder's staging folder); return their names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    P = result.plots
    st, best, point = P["settings"], P["best"], P["point"]
    written = []

    def save(fig, name):
        try:
            fig.savefig(folder / name, dpi=110, bbox_inches="tight")
        finally:
            plt.close(fig)
        written.append(name)

    gof = result.report["goodness_of_fit"]

    def finish(fig, ax, name, xlabel, ylabel, fit_key=None):
        """Labels, the fit's chi^2/dof as the title, legend; write the PNG."""
        if fit_key is not None:
            c = gof.get(fit_key, {})
            ax.set_title(f"chi2/dof = {c.get('chi2', math.nan):.3g}/{c.get('dof', 0)}", fontsize=9)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=7)
        save(fig, name)
    # P(R|S)
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for p in point["per_T"]:
        g = p["g"]
        b = est.rate_bins(g["rate_T"], g["rate_k"], g["rate_s"], P["duration"])
        ok = (b["k"] > 0)
        line = ax.errorbar(b["s"][ok], b["P"][ok], yerr=b["P_err"][ok], fmt="o", ms=3, label=f"T = {p['T']:g}")
        s = np.linspace(np.nanmin(b["s"][ok]), np.nanmax(b["s"][ok]), 200)
        th = p["theta"]
        c = gof.get(f"rate_law T={p['T']:g}", {})
        ax.plot(s, np.exp(th[0] + th[1] * s - th[2] * s * s), color=line[0].get_color(),
                label=f"fit, chi2/dof = {c.get('chi2', math.nan):.3g}/{c.get('dof', 0)}")
    ax.set_yscale("log")
    finish(fig, ax, "rate_law.png", "S", "P(R|S)")
    # C_S(r)
    fig, ax = plt.subplots(figsize=(5.5, 4))
    r = P["corr_r"]
    offset = est.centring_offset(*P["pair_distances"], best["variance"], best["C1"], best["xi"])
    # frame-centred data, the fitted offset 1^T K 1 / N^2 added back, against Eq. 29 itself
    ax.errorbar(r, point["c"] + offset, yerr=P["se_c"], fmt="o", ms=3, label=f"data + centring offset {offset:.3g}")
    rr = np.concatenate(([0.0], np.linspace(r[1] if r.size > 1 else 0.5, r[-1], 200)))
    ax.plot(rr[1:], est.correlation_model(rr[1:], best["variance"], best["C1"], best["xi"]), label="Eq. 29, r > 0")
    ax.plot([0], [best["variance"]], "s", label="Eq. 29 nugget C(0)")
    finish(fig, ax, "correlation.png", "r", "C_S(r)", "C")
    # sigma_Delta
    fig, ax = plt.subplots(figsize=(5.5, 4))
    rt = P["rt_r"]
    k = point["kick"]
    ax.errorbar(rt, k["K"], yerr=P["se_K"], fmt="o", ms=3, label="K_Delta(r,r), background subtracted")
    ax.plot(rt, k["v"], "x", label="residual variance before subtraction")
    ax.axhline(k["background"], ls=":", color="grey", label="background")
    rr = np.linspace(rt[1] if rt.size > 1 else 0.5, rt[-1], 200)
    ax.plot(rr, est.sd_model(rr, best["sigma0"], best["sigma1"], best["xi_sigma"]) ** 2, label="Eq. 30 sigma_Delta^2, r > 0")
    ax.plot([0], [best["sigma0"] ** 2], "s", label="sigma0^2")
    ax.set_yscale("symlog", linthresh=1e-4)
    finish(fig, ax, "sigma_delta.png", "distance to the nearest rearranging particle", "variance of dS", "sigma")
    # rho
    fig, ax = plt.subplots(figsize=(5.5, 4))
    pr_all = P["pr_r"]
    scale = best["sigma0"] * est.sd_model(rt, best["sigma0"], best["sigma1"], best["xi_sigma"])
    cov, se = k["pair_cov"], P["se_pair"]
    for jb in range(min(4, rt.size)):
        pr = pr_all[:, jb]
        ok = np.isfinite(cov[:, jb]) & np.isfinite(pr) & (np.nan_to_num(pr) > 0)
        if ok.any() and scale[jb] > 0:
            ax.errorbar(pr[ok], cov[ok, jb] / scale[jb], yerr=se[ok, jb] / scale[jb], fmt="o", ms=3, label=f"rt_j = {rt[jb]:.3g}")
    rr = np.linspace(0.5, np.nanmax(pr_all), 200)
    ax.plot(rr, best["rho1"] * np.exp(-rr / best["xi_rho"]), "k-", label="Eq. 30 rho(r)")
    finish(fig, ax, "rho.png", "r_ij (i rearranging)", "rho", "rho")
    # temperature
    if "T0" in best:
        T = np.array(P["temps"])
        th = np.array([p["theta"] for p in point["per_T"]])
        mu = np.array([p["mean"] for p in point["per_T"]])
        se = P["se_theta"]
        fig, axes = plt.subplots(1, 4, figsize=(13, 3.4))
        TT = np.linspace(T.min() * 0.95, T.max() * 1.05, 100)
        model = np.array([est.temperature_rates(t, best["Sigma0"], best["eps0"], best["eps1"], best["eps2"], best["T0"]) for t in TT])
        for i, name in enumerate(("log A", "gamma", "delta")):
            axes[i].errorbar(1 / T, th[:, i], yerr=se[:, i], fmt="o")
            axes[i].plot(1 / TT, model[:, i])
            axes[i].set_xlabel("1/T")
            axes[i].set_ylabel(name)
        axes[3].errorbar(1 / T, mu, yerr=P["se_mean"], fmt="o")
        axes[3].plot(1 / TT, best["mean_a"] + best["mean_b"] / TT)
        axes[3].set_xlabel("1/T")
        axes[3].set_ylabel("<S>")
        c = gof.get("temperature", {})
        fig.suptitle(f"Eqs. 27-28 (derived sign), T0 = {best['T0']:.4g}; chi2/dof = {c.get('chi2', math.nan):.3g}/{c.get('dof', 0)}", fontsize=9)
        save(fig, "temperature.png")
    return written
