"""Figures in the style of Ridout & Liu's Figs. 4, 5, 6, 7, 8 and 12 (and S_4 / block-collapse
diagnostics, Figs. 13-16 style) from a sweep file (docs/sweep-format.md).

Only the model's curves are drawn (no MD data).  A figure is made when the sweep holds what
it needs: Figs. 4-6 from the baseline variant (the first with f = 1 and the most common
shape, plaquette if present), Fig. 7 from variants that differ from it only in the
facilitation f, Fig. 12 from variants with f = 1 and another cluster shape, Fig. 8 from the
aging group.  Every PNG is written atomically.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trsp_ref.params import ParameterError
from trsp_runfile.outputs import Output, OutputSet

from .results_schema import MEMORY_NAMES, PLOT_ITEMS, RESULT_FORMATS, check_plot_values, check_results, open_results  # noqa: F401

__all__ = ["SweepData", "read_sweep", "make_figures"]


@dataclass
class SweepData:
    """The arrays of a sweep file that the figures use (names as in the file)."""

    path: Path
    attrs: dict
    variants: list
    shape: np.ndarray
    facilitation: np.ndarray
    T: np.ndarray
    lag_time: np.ndarray
    d: dict
    q: np.ndarray
    blocks: np.ndarray
    aging: dict | None


def read_sweep(path: str | Path) -> SweepData:
    """Read a sweep file or its summary; ParameterError('sweep_file') if it is neither."""
    path = Path(path)
    with open_results(path) as h5:
        check_results(h5, PLOT_ITEMS)
        attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in h5.attrs.items()}
        names = (
            "Q Q_err chi4 chi4_err tau_chi tau_chi_err chi4_star chi4_star_err xi4_oz xi4_oz_err xi4_block xi4_block_err "
            "S4 S4_err S4_0_oz s4_lag chi4_block_star chi4_block_star_err chi4_block_inf n_replicas peak_resolved "
            "mean_S mean_S_err mean_S_expected member_n_events member_sim_wall_s block_A0 block_A1"
        ).split()
        d = {k: h5[k][()] for k in names}
        d.update({k: h5[k][()] for k in MEMORY_NAMES if k in h5})
        aging = None
        if "aging" in h5:
            g = h5["aging"]
            aging = {k: g[k][()] for k in ("model", "T_final", "time", "S_mean", "S_mean_err", "S_equilibrium")}
            aging["model"] = [m.decode() if isinstance(m, bytes) else str(m) for m in aging["model"]]
            aging["T_initial"] = float(g.attrs["T_initial"])
            aging["S_initial"] = float(g.attrs["S_initial"])
        check_plot_values(path, h5["temperature"][()], h5["lag_time"][()], h5["q"][()], h5["block"][()], d)
        return SweepData(
            path=path, attrs=attrs,
            variants=[v.decode() if isinstance(v, bytes) else str(v) for v in h5["variant"][()]],
            shape=np.array([s.decode() if isinstance(s, bytes) else str(s) for s in h5["variant_shape"][()]]),
            facilitation=h5["variant_facilitation"][()], T=h5["temperature"][()], lag_time=h5["lag_time"][()],
            d=d, q=h5["q"][()], blocks=h5["block"][()], aging=aging,
        )  # fmt: skip


def _baseline(sd: SweepData) -> int:
    full = np.flatnonzero(sd.facilitation == 1.0)
    cands = full if full.size else np.arange(len(sd.variants))
    plaq = [v for v in cands if sd.shape[v] == "plaquette"]
    return int(plaq[0] if plaq else cands[0])


def _temperature_colors(T: np.ndarray):
    import matplotlib.pyplot as plt

    cmap = plt.get_cmap("viridis")
    order = np.argsort(T)
    cols = {}
    for rank, i in enumerate(order):
        cols[i] = cmap(0.9 * rank / max(len(T) - 1, 1))
    cols[int(order[-1])] = "tab:red"  # the highest temperature in red, as in Fig. 4
    return cols


_DPI = {"dpi": 110, "prefix": ""}  # set by make_figures for the figures it draws


def _save(fig, path: Path) -> Path:
    """Write ``fig`` as ``path`` (with the current prefix).  ``path``'s folder is the staging
    folder of an OutputSet (make_figures, figures_from_folder): the figures appear in --outdir
    together, or not at all."""
    import matplotlib.pyplot as plt

    path = path.with_name(_DPI["prefix"] + path.name)
    try:
        fig.savefig(path, dpi=_DPI["dpi"], bbox_inches="tight")
    finally:
        plt.close(fig)
    return path


#: axis labels with units: the paper's MD units (times in sqrt(m sigma_AA^2 / epsilon_AA),
#: temperatures in epsilon_AA / k_B, lengths in sigma_AA)
TIME_UNIT = "$\\sqrt{m\\sigma_{AA}^2/\\epsilon_{AA}}$"
T_LABEL = "T ($\\epsilon_{AA}/k_B$)"
TAU_CHI_LABEL = f"$\\tau_\\chi$ ({TIME_UNIT})"


def _label(sd: SweepData) -> str:
    s = f"L = {sd.attrs.get('L')}, {sd.attrs.get('dim')}D"
    if int(sd.attrs.get("illustrative", 0)):
        s += " - ILLUSTRATIVE parameters (not the paper's fits)"
    return s


def _errbar(ax, x, y, e, **kw):
    e = np.where(np.isfinite(e), e, 0.0) if e is not None else None
    return ax.errorbar(x, y, yerr=e, capsize=2, **kw)


def fig4(sd: SweepData, out: Path) -> Path:
    import matplotlib.pyplot as plt

    v = _baseline(sd)
    cols = _temperature_colors(sd.T)
    fig, axs = plt.subplots(1, 2, figsize=(10, 4))
    for i, T in enumerate(sd.T):
        if sd.d["n_replicas"][v, i] < 2:
            continue
        t = sd.lag_time[v, i]
        for ax, key, label in ((axs[0], "Q", f"T = {T:g}"), (axs[1], "chi4", None)):
            y, e = sd.d[key][v, i], sd.d[key + "_err"][v, i]
            ax.plot(t, y, "--", color=cols[i], label=label)
            ax.fill_between(t, y - e, y + e, color=cols[i], alpha=0.2, lw=0)
    for ax, lab in zip(axs, ("(a) overlap Q(t)", "(b) $\\chi_4(t)$")):
        ax.set_xscale("log")
        ax.set_xlabel(f"t ({TIME_UNIT})")
        ax.set_title(lab, loc="left")
    axs[0].set_ylabel("Q(t)")
    axs[1].set_ylabel("$\\chi_4(t)$")
    axs[0].legend(fontsize=8)
    fig.suptitle(f"TRSP model, {sd.variants[v]} ({_label(sd)}); bands: bootstrap standard errors", fontsize=9)
    return _save(fig, out / "fig4_overlap_chi4.png")


def fig5(sd: SweepData, out: Path) -> Path:
    import matplotlib.pyplot as plt

    v = _baseline(sd)
    ok = sd.d["n_replicas"][v] >= 2
    T = sd.T[ok]
    fig, axs = plt.subplots(1, 3, figsize=(13, 3.8))
    _errbar(axs[0], T, sd.d["tau_chi"][v, ok], sd.d["tau_chi_err"][v, ok], fmt="o--", color="purple")
    axs[0].set_yscale("log")
    axs[0].set_ylabel(TAU_CHI_LABEL)
    _errbar(axs[1], T, sd.d["chi4_star"][v, ok], sd.d["chi4_star_err"][v, ok], fmt="o--", color="purple")
    axs[1].set_ylabel("$\\chi_4^*$")
    _errbar(axs[2], T, sd.d["xi4_oz"][v, ok], sd.d["xi4_oz_err"][v, ok], fmt="o--", color="purple", label="Ornstein-Zernike fit of $S_4(q,\\tau_\\chi)$")
    _errbar(axs[2], T, sd.d["xi4_block"][v, ok], sd.d["xi4_block_err"][v, ok], fmt="s:", color="darkorange", label="block analysis")
    axs[2].set_ylabel("$\\xi_4$ ($\\sigma_{AA}$)")
    axs[2].legend(fontsize=8)
    for ax, lab in zip(axs, ("(a)", "(b)", "(c)")):
        ax.set_xlabel(T_LABEL)
        ax.set_title(lab, loc="left")
    fig.suptitle(f"{sd.variants[v]} ({_label(sd)}); error bars and bands: bootstrap over replicas", fontsize=9)
    return _save(fig, out / "fig5_tau_chi4_xi4.png")


def _linear_fit(x, y):
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3:
        return None
    A = np.stack([x[ok], np.ones(ok.sum())], axis=1)
    coef, *_ = np.linalg.lstsq(A, y[ok], rcond=None)
    resid = y[ok] - A @ coef
    r2 = 1.0 - (resid**2).sum() / ((y[ok] - y[ok].mean()) ** 2).sum()
    return coef, r2


def fig6(sd: SweepData, out: Path) -> Path:
    import matplotlib.pyplot as plt

    v = _baseline(sd)
    T0 = float(sd.attrs["T0"])  # NaN for a one-temperature set (no [temperature]): plot against 1/T
    ok = sd.d["n_replicas"][v] >= 2
    x = 1.0 / sd.T[ok] - (1.0 / T0 if math.isfinite(T0) else 0.0)
    fig, ax = plt.subplots(figsize=(5, 4))
    for key, mk, col, lab in (("xi4_oz", "o", "purple", "OZ fit"), ("xi4_block", "s", "darkorange", "block analysis")):
        y = sd.d[key][v, ok]
        _errbar(ax, x, y, sd.d[key + "_err"][v, ok], fmt=mk, color=col, label=lab)
        fit = _linear_fit(x, y)
        if fit is not None:
            (s, c), r2 = fit
            xx = np.linspace(0, x.max() * 1.05, 50)
            ax.plot(xx, s * xx + c, "--", color=col, lw=1, label=f"linear: {s:.2f} x + {c:.2f} ($R^2$ = {r2:.3f})")
    ax.set_xlabel("$1/T - 1/T_0$ ($k_B/\\epsilon_{AA}$)")
    ax.set_ylabel("$\\xi_4$ ($\\sigma_{AA}$)")
    ax.legend(fontsize=7)
    ax.set_title(f"{sd.variants[v]}, $T_0$ = {T0:g} ({_label(sd)})", fontsize=9)
    return _save(fig, out / "fig6_xi4_vs_inverse_T.png")


def _variant_panels(sd: SweepData, vs: list, labels: list, out: Path, fname: str, title: str, ratio_to: int | None = None) -> Path:
    import matplotlib.pyplot as plt

    shades = plt.get_cmap("Purples")
    n = 4 if ratio_to is not None else 3
    fig, axs = plt.subplots(1, n, figsize=(4.2 * n, 3.8))
    for k, (v, lab) in enumerate(zip(vs, labels)):
        ok = sd.d["n_replicas"][v] >= 2
        col = shades(0.95 - 0.55 * k / max(len(vs) - 1, 1))
        _errbar(axs[0], sd.T[ok], sd.d["tau_chi"][v, ok], sd.d["tau_chi_err"][v, ok], fmt="o--", color=col, label=lab)
        _errbar(axs[1], sd.T[ok], sd.d["chi4_star"][v, ok], sd.d["chi4_star_err"][v, ok], fmt="o--", color=col, label=lab)
        _errbar(axs[2], sd.T[ok], sd.d["xi4_oz"][v, ok], sd.d["xi4_oz_err"][v, ok], fmt="o--", color=col, label=lab)
        if ratio_to is not None and v != ratio_to:
            r = sd.d["chi4_star"][ratio_to] / sd.d["chi4_star"][v]
            re = r * np.hypot(sd.d["chi4_star_err"][ratio_to] / sd.d["chi4_star"][ratio_to], sd.d["chi4_star_err"][v] / sd.d["chi4_star"][v])
            _errbar(axs[3], sd.T[ok], r[ok], re[ok], fmt="o--", color=col, label=f"{sd.variants[ratio_to]} / {lab}")
    axs[0].set_yscale("log")
    for ax, lab, yl in zip(axs, "abcd", (TAU_CHI_LABEL, "$\\chi_4^*$", "$\\xi_4$ (OZ, $\\sigma_{AA}$)", "ratio of $\\chi_4^*$")):
        ax.set_xlabel(T_LABEL)
        ax.set_ylabel(yl)
        ax.set_title(f"({lab})", loc="left")
        ax.legend(fontsize=7)
    fig.suptitle(f"{title} ({_label(sd)})", fontsize=9)
    return _save(fig, out / fname)


def fig7(sd: SweepData, out: Path) -> Path | None:
    v0 = _baseline(sd)
    vs = [v for v in range(len(sd.variants)) if sd.shape[v] == sd.shape[v0]]
    if len({float(sd.facilitation[v]) for v in vs}) < 2:
        return None
    vs.sort(key=lambda v: -sd.facilitation[v])
    labels = [f"f = {sd.facilitation[v]:g}" for v in vs]
    return _variant_panels(sd, vs, labels, out, "fig7_facilitation.png", f"weakening facilitation ({sd.shape[v0]})")


def fig12(sd: SweepData, out: Path) -> Path | None:
    v0 = _baseline(sd)
    vs = [v0] + [v for v in range(len(sd.variants)) if v != v0 and sd.facilitation[v] == sd.facilitation[v0] and sd.shape[v] != sd.shape[v0]]
    if len(vs) < 2:
        return None
    labels = [f"{sd.shape[v]} (m = {dict(site=1, dimer=2, plaquette=4)[sd.shape[v]]})" for v in vs]
    return _variant_panels(sd, vs, labels, out, "fig12_cluster_size.png", "single-site vs multi-site rearrangements", ratio_to=v0)


def fig8(sd: SweepData, out: Path) -> Path | None:
    ag = sd.aging
    if ag is None:
        return None
    import matplotlib.pyplot as plt

    models = ag["model"]
    order = sorted(range(len(models)), key=lambda a: 0 if models[a] == "trap model" else 1)
    fig, axs = plt.subplots(1, len(models), figsize=(5 * len(models), 4), sharey=True)
    axs = np.atleast_1d(axs)
    cols = _temperature_colors(ag["T_final"])
    for ax, a, lab in zip(axs, order, "abcdefg"):
        for i, TF in enumerate(ag["T_final"]):
            y, e = ag["S_mean"][a, i], ag["S_mean_err"][a, i]
            ax.plot(ag["time"], y, "-", color=cols[i], label=f"$T_F$ = {TF:g}")
            ax.fill_between(ag["time"], y - e, y + e, color=cols[i], alpha=0.25, lw=0)
            ax.axhline(ag["S_equilibrium"][i], ls=":", color=cols[i], lw=1)
        ax.axhline(ag["S_initial"], ls="--", color="grey", lw=1)
        ax.set_xscale("log")
        ax.set_xlabel(f"t since the quench ({TIME_UNIT})")
        name = "trap model (independent sites)" if models[a] == "trap model" else f"TRSP model: {models[a]}"
        ax.set_title(f"({lab}) {name}", loc="left", fontsize=9)
    axs[0].set_ylabel("$\\langle S(t) \\rangle$")
    axs[0].legend(fontsize=8)
    fig.suptitle(
        f"aging after a quench from $T_I$ = {ag['T_initial']:g} (dashed: <S>($T_I$); dotted: <S>($T_F$)); {_label(sd)}", fontsize=9
    )
    return _save(fig, out / "fig8_aging.png")


def fig_s4(sd: SweepData, out: Path) -> Path:
    import matplotlib.pyplot as plt

    v = _baseline(sd)
    cols = _temperature_colors(sd.T)
    qmax = json.loads(sd.attrs.get("analysis", "{}")).get("oz_qmax", np.inf)
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for i, T in enumerate(sd.T):
        if sd.d["n_replicas"][v, i] < 2:
            continue
        s4 = sd.d["S4"][v, i]
        sel = (sd.q > 0) & (sd.q <= 2.5 * qmax)
        _errbar(ax, sd.q[sel], s4[sel], sd.d["S4_err"][v, i, sel], fmt="o", ms=3, color=cols[i], label=f"T = {T:g}")
        ax.plot([0], [s4[0]], "*", color=cols[i], ms=8)
        xi, s0 = sd.d["xi4_oz"][v, i], sd.d["S4_0_oz"][v, i]
        if np.isfinite(xi):
            qq = np.linspace(0, qmax, 60)
            ax.plot(qq, s0 / (1 + (qq * xi) ** 2), "-", color=cols[i], lw=1)
    ax.axvline(qmax, color="grey", ls=":", lw=1)
    ax.set_yscale("log")
    ax.set_xlabel("q ($\\sigma_{AA}^{-1}$)")
    ax.set_ylabel("$S_4(q, \\tau_\\chi)$")
    ax.set_title("S_4 at tau_chi, Ornstein-Zernike fits (lines, fit range left of dotted); stars: chi_4", fontsize=8)
    ax.legend(fontsize=7)
    return _save(fig, out / "fig_s4_oz.png")


def fig_blocks(sd: SweepData, out: Path) -> Path:
    import matplotlib.pyplot as plt

    from .heterogeneity import block_profile

    v = _baseline(sd)
    cols = _temperature_colors(sd.T)
    a = float(sd.attrs["spacing"])
    dim = int(sd.attrs["dim"])
    bmax = json.loads(sd.attrs.get("analysis", "{}")).get("block_fit_max", sd.blocks.max())
    fig, axs = plt.subplots(1, 2, figsize=(10, 4))
    for i, T in enumerate(sd.T):
        if sd.d["n_replicas"][v, i] < 2:
            continue
        y, e = sd.d["chi4_block_star"][v, i], sd.d["chi4_block_star_err"][v, i]
        _errbar(axs[0], sd.blocks, y, e, fmt="o", ms=3, color=cols[i], label=f"T = {T:g}")
        xi, inf = sd.d["xi4_block"][v, i], sd.d["chi4_block_inf"][v, i]
        A0, A1 = sd.d["block_A0"][v, i], sd.d["block_A1"][v, i]
        if np.isfinite(xi) and np.isfinite(inf):
            bb = np.arange(1, int(bmax) + 1)
            axs[0].plot(bb, A0 + A1 * block_profile(bb, xi, dim, a), "-", color=cols[i], lw=1)
            sel = sd.blocks <= bmax
            axs[1].plot(sd.blocks[sel] * a / xi, y[sel] / inf, "o", ms=3, color=cols[i])
    axs[0].set_xlabel("block side $L_B$ (sites)")
    axs[0].set_ylabel("$\\chi_4^{B*}(L_B)$")
    axs[0].axvline(bmax + 0.5, color="grey", ls=":", lw=1)
    axs[0].legend(fontsize=7)
    axs[0].set_title("(a) block $\\chi_4^*$ and fits (fit uses blocks left of dotted)", loc="left", fontsize=9)
    axs[1].set_xlabel("$L_B a / \\xi_4$")
    axs[1].set_ylabel("$\\chi_4^{B*} / \\chi_4^{B*}(\\infty)$")
    axs[1].set_title("(b) collapse with the fitted $\\xi_4$", loc="left", fontsize=9)
    return _save(fig, out / "fig14_block_collapse.png")


def fig_memory(sd: SweepData, out: Path) -> Path | None:
    """Softness memory (trsp_obs.softness_memory): (a) C_SS(t) of the baseline variant per T,
    tau_chi marked; (b) tau_S / tau_chi against T for every variant (lower bounds as triangles
    where C_SS does not reach 1/e); (c) C_SS(tau_chi)."""
    if "C_SS" not in sd.d:
        return None
    import matplotlib.pyplot as plt

    v0 = _baseline(sd)
    cols = _temperature_colors(sd.T)
    fig, axs = plt.subplots(1, 3, figsize=(14, 4))
    for i, T in enumerate(sd.T):
        c = sd.d["C_SS"][v0, i]
        if not np.any(np.isfinite(c)):
            continue
        t, e = sd.lag_time[v0, i], sd.d["C_SS_err"][v0, i]
        axs[0].plot(t, c, "-", color=cols[i], label=f"T = {T:g}")
        axs[0].fill_between(t, c - e, c + e, color=cols[i], alpha=0.2, lw=0)
        tc = sd.d["tau_chi"][v0, i]
        if np.isfinite(tc):
            axs[0].plot([tc], [np.interp(np.log(tc), np.log(t), c)], "o", color=cols[i], ms=5)
    axs[0].axhline(np.exp(-1.0), color="grey", ls=":", lw=1)
    axs[0].set_xscale("log")
    axs[0].set_xlabel(f"t ({TIME_UNIT})")
    axs[0].set_ylabel("$C_{SS}(t)$")
    axs[0].set_title(f"(a) {sd.variants[v0]}; dots: $\\tau_\\chi$; dotted: 1/e", loc="left", fontsize=9)
    axs[0].legend(fontsize=7)
    shades = plt.get_cmap("tab10")
    for k, v in enumerate(range(len(sd.variants))):
        col = shades(k % 10)
        ok = np.isfinite(sd.d["css_at_tau_chi"][v])
        if not ok.any():
            continue
        res = sd.d["tau_S_resolved"][v].astype(bool) & ok
        if res.any():
            _errbar(axs[1], sd.T[res], sd.d["tau_S_over_tau_chi"][v, res], sd.d["tau_S_over_tau_chi_err"][v, res],
                    fmt="o--", color=col, label=sd.variants[v])  # fmt: skip
        low = ~res & ok
        if low.any():
            axs[1].plot(sd.T[low], sd.d["tau_S_lower"][v, low] / sd.d["tau_chi"][v, low], "^", color=col, ms=7,
                        label=f"{sd.variants[v]}: lower bound")  # fmt: skip
        _errbar(axs[2], sd.T[ok], sd.d["css_at_tau_chi"][v, ok], sd.d["css_at_tau_chi_err"][v, ok], fmt="o--", color=col, label=sd.variants[v])
    axs[1].set_yscale("log")
    axs[1].set_ylabel("$\\tau_S / \\tau_\\chi$")
    axs[1].set_title("(b) softness memory time over $\\tau_\\chi$", loc="left", fontsize=9)
    axs[2].set_ylabel("$C_{SS}(\\tau_\\chi)$")
    axs[2].set_title("(c) memory left at the $\\chi_4$ peak", loc="left", fontsize=9)
    for ax in axs[1:]:
        ax.set_xlabel(T_LABEL)
        ax.legend(fontsize=7)
    fig.suptitle(f"softness autocorrelation ({_label(sd)}); bands and bars: bootstrap over replicas", fontsize=9)
    return _save(fig, out / "fig_softness_memory.png")


#: every figure make_figures can draw, by name
FIGURES = ("fig4", "fig5", "fig6", "s4", "blocks", "fig7", "fig12", "memory", "fig8")
#: the manifest that lets ``trsp plot FOLDER`` redraw every figure from the summaries in FOLDER
MANIFEST = "figures.toml"


def make_figures(sweep_file: str | Path, outdir: str | Path, *, dpi: int = 110, only: tuple | None = None, prefix: str = "") -> list[Path]:
    """Write every figure the sweep file supports into ``outdir`` (created); return the paths.

    only : names of the figures to make (:data:`FIGURES`); default all that the file supports.
    prefix : put before every file name (two summaries drawing the same figure in one folder).
    The figures are one output set (trsp_runfile.outputs): checked before reading, written
    together or not at all; figures are derived data, so existing ones are redrawn.
    """
    outputs = _figure_outputs(outdir, [sweep_file])
    sd = read_sweep(sweep_file)
    with outputs.writing() as w:
        names = _draw(sd, w.path("--outdir"), dpi=dpi, only=only, prefix=prefix)
    return [Path(outdir) / n for n in names]


def _figure_outputs(outdir: str | Path, inputs: list) -> OutputSet:
    """--outdir as an output folder whose figures are redrawn (no --force: figures are derived data)."""
    return OutputSet([Output("--outdir", Path(outdir), folder=True)], inputs=inputs, force=True)


def _draw(sd: SweepData, folder: Path, *, dpi: int, only: tuple | None, prefix: str) -> list[str]:
    """Draw the figures of ``sd`` into ``folder``; return their file names."""
    import matplotlib

    matplotlib.use("Agg")
    _DPI["dpi"] = int(dpi)
    _DPI["prefix"] = str(prefix)
    want = (lambda name: only is None or name in only)
    written = []
    v = _baseline(sd)
    if np.any(sd.d["n_replicas"][v] >= 2):
        for name, fn in (("fig4", fig4), ("fig5", fig5), ("fig6", fig6), ("s4", fig_s4), ("blocks", fig_blocks), ("fig7", fig7),
                         ("fig12", fig12), ("memory", fig_memory)):  # fmt: skip
            if want(name):
                written.append(fn(sd, folder))
    if want("fig8"):
        written.append(fig8(sd, folder))
    return [p.name for p in written if p is not None]


def _paired_entry(folder: Path, outdir: Path, e: dict, where: str, dpi: int) -> Path:
    """A manifest entry ``paired = ["A.json", ...]``, ``name = "fig_x.png"``, optional ``title``."""
    from .paired_figure import paired_figure

    files, name, title = e["paired"], e.get("name"), e.get("title", "")
    if not isinstance(files, list) or not files or not all(isinstance(f, str) for f in files):
        raise ParameterError(f"{where}.paired", "must be a nonempty list of trsp paired JSON file names in the folder", files)
    if not isinstance(name, str) or not name.endswith(".png") or "/" in name or "\\" in name:
        raise ParameterError(f"{where}.name", "is required with paired: a PNG file name (no path separators)", name)
    return paired_figure([folder / f for f in files], outdir, title=str(title), name=name, dpi=dpi)


def _liquid_entry(folder: Path, outdir: Path, e: dict, where: str, dpi: int) -> Path:
    """A manifest entry ``liquid = "LIQUID.h5"``, ``trsp = ["A.h5", ...]``, ``name = "fig_x.png"``, optional ``title``."""
    from .liquid_figure import liquid_figure

    md, trsp, name, title = e["liquid"], e.get("trsp", []), e.get("name"), e.get("title", "")
    if not isinstance(md, str):
        raise ParameterError(f"{where}.liquid", "must be the file name of a liquid summary (trsp liquid summarize) in the folder", md)
    if not isinstance(trsp, list) or not all(isinstance(x, str) for x in trsp):
        raise ParameterError(f"{where}.trsp", "must be a list of TRSP summary file names in the folder", trsp)
    if not isinstance(name, str) or not name.endswith(".png") or "/" in name or "\\" in name:
        raise ParameterError(f"{where}.name", "is required with liquid: a PNG file name (no path separators)", name)
    return liquid_figure(folder / md, [folder / x for x in trsp], outdir, name=name, title=str(title), dpi=dpi)


def figures_from_folder(folder: str | Path, outdir: str | Path, *, dpi: int = 110) -> list[Path]:
    """Every figure listed in ``folder/figures.toml`` (the committed results, docs/results/README.md):

        [[figure]]
        summary = "ka_fig4_5.h5"           # a summary (or sweep) file in the folder
        only = ["fig4", "fig5", "fig6"]    # which of its figures (FIGURES); default all
        prefix = "control_"                # optional: put before the PNG names

    or, for paired comparisons (trsp paired --json files in the folder; trsp_obs.paired_figure):

        [[figure]]
        paired = ["ka_size_L20_paired.json", "ka_size_L40_paired.json"]
        name = "fig_size_facilitation.png"
        title = "f = 0.2 against f = 1"

    or, for the MD liquid against TRSP (trsp_obs.liquid_figure):

        [[figure]]
        liquid = "ka_liquid_md.h5"          # trsp liquid summarize
        trsp = ["ka_measured_L9.h5", "ka_measured_L20.h5"]
        name = "fig_liquid_vs_trsp.png"

    Returns the written paths; ParameterError naming the manifest entry on bad input."""
    from .sweep.config import tomllib

    folder = Path(folder)
    manifest = folder / MANIFEST
    if not manifest.is_file():
        raise ParameterError("sweep_file", f"is a folder without a {MANIFEST} manifest (docs/results/README.md)", str(folder))
    try:
        doc = tomllib.loads(manifest.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ParameterError(str(manifest), f"is not valid TOML ({exc})") from None
    entries = doc.get("figure")
    if not isinstance(entries, list) or not entries:
        raise ParameterError(f"{MANIFEST}.figure", "must be a nonempty array of tables [[figure]]")
    outputs = _figure_outputs(outdir, [manifest])
    written: list[str] = []
    with outputs.writing() as w:  # every figure of the manifest, or none (a bad entry stops them all)
        stage = w.path("--outdir")
        for k, e in enumerate(entries):
            where = f"{MANIFEST}.figure[{k}]"
            if isinstance(e, dict) and "paired" in e:  # paired comparisons (trsp paired --json; trsp_obs.paired_figure)
                written.append(_paired_entry(folder, stage, e, where, dpi).name)
                continue
            if isinstance(e, dict) and "liquid" in e:  # MD liquid against TRSP (trsp_obs.liquid_figure)
                written.append(_liquid_entry(folder, stage, e, where, dpi).name)
                continue
            if not isinstance(e, dict) or not isinstance(e.get("summary"), str):
                raise ParameterError(f"{where}.summary", "is required: a file name in the folder")
            only = e.get("only")
            if only is not None and (not isinstance(only, list) or any(x not in FIGURES for x in only)):
                raise ParameterError(f"{where}.only", f"must be a list of figure names from {list(FIGURES)}", only)
            prefix = e.get("prefix", "")
            if not isinstance(prefix, str) or "/" in prefix or "\\" in prefix:
                raise ParameterError(f"{where}.prefix", "must be a file-name prefix (no path separators)", prefix)
            written += _draw(read_sweep(folder / e["summary"]), stage, dpi=dpi, only=None if only is None else tuple(only), prefix=prefix)
    return [Path(outdir) / n for n in written]
