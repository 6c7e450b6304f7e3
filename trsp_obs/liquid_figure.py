"""The figure of issue 19: MD and TRSP Q(t) and chi_4(t) on shared axes per temperature, and
tau / chi_4* against T (the paper's Figs. 4-5 with both sides drawn).

Drawn from committed summaries by ``trsp plot docs/results`` (a manifest entry
``liquid = "LIQUID.h5"``, ``trsp = ["A.h5", ...]``, ``name = "fig_x.png"``; docs/results/README.md):
top row Q(t), middle row chi_4(t), one column per MD temperature; MD inherent-state curves
solid black with bootstrap bands, MD thermal dotted grey, each TRSP file dashed in its own
colour.  The last column: MD tau_alpha and tau_chi and TRSP tau_chi against T (top), chi_4*
(middle).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from trsp_ref.params import ParameterError

__all__ = ["liquid_figure"]

_TRSP_STYLES = (("tab:purple", "--"), ("tab:orange", "-."), ("tab:green", ":"), ("tab:blue", (0, (5, 1))))


def liquid_figure(md_path: str | Path, trsp_paths: list, out: Path, *, name: str = "fig_liquid.png", title: str = "",
                  dpi: int = 110) -> Path:
    """Draw the figure (module docstring) into ``out/name``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .liquid import POSITIONS, read_liquid
    from .liquid_compare import read_trsp
    from .plots import _DPI, T_LABEL, TIME_UNIT, _save

    md = read_liquid(md_path, "liquid")
    sides = [read_trsp(p, None, None, 0) for p in trsp_paths]
    NT = md.temperatures.size
    if NT == 0:
        raise ParameterError("liquid", f"{md_path} holds no temperature")
    fig, axs = plt.subplots(2, NT + 1, figsize=(2.7 * (NT + 1), 5.6), squeeze=False)
    for i, T in enumerate(md.temperatures):
        ok = np.isfinite(md.lag_time[i])
        t = md.lag_time[i, ok]
        for row, key in enumerate(("Q", "chi4")):
            ax = axs[row, i]
            for p, (style, colour, label) in enumerate((("-", "k", "MD, inherent states"), (":", "0.45", "MD, thermal"))):
                y, e = getattr(md, key)[p, i, ok], getattr(md, key + "_err")[p, i, ok]
                ax.plot(t, y, style, color=colour, lw=1.6 if p == 0 else 1.2, label=label if i == 0 and row == 0 else None)
                if p == POSITIONS.index("inherent"):
                    ax.fill_between(t, y - e, y + e, color=colour, alpha=0.18, lw=0)
            for s, side in enumerate(sides):
                k = np.flatnonzero(np.abs(side.T - T) < 1e-9)
                if k.size == 0:
                    continue
                k = int(k[0])
                colour, ls = _TRSP_STYLES[s % len(_TRSP_STYLES)]
                y, e = getattr(side, key)[k], getattr(side, key + "_err")[k]
                lab = f"TRSP L = {side.L} ({Path(side.path).name})" if i == 0 and row == 0 else None
                ax.plot(side.lag_time[k], y, ls=ls, color=colour, lw=1.4, label=lab)
                ax.fill_between(side.lag_time[k], y - e, y + e, color=colour, alpha=0.15, lw=0)
            ax.set_xscale("log")
            if row == 0:
                ax.axhline(np.exp(-1), color="0.7", lw=0.8, ls=":")
                ax.set_title(f"T = {T:g}", fontsize=10)
            else:
                ax.set_xlabel(f"t ({TIME_UNIT})", fontsize=8)
            ax.tick_params(labelsize=7)
        axs[0, i].set_ylim(-0.02, 1.02)
    axs[0, 0].set_ylabel("Q(t)")
    axs[1, 0].set_ylabel("$\\chi_4(t)$")
    # the last column: tau and chi_4* against T
    ax_t, ax_c = axs[0, NT], axs[1, NT]
    p = POSITIONS.index("inherent")
    T = md.temperatures
    ax_t.errorbar(T, md.tau_alpha[p], yerr=np.nan_to_num(md.tau_alpha_err[p], posinf=0.0), fmt="ko-", ms=4, capsize=2,
                  label="MD $\\tau_\\alpha$ (Q = 1/e)")
    ax_t.errorbar(T, md.tau_chi[p], yerr=np.nan_to_num(md.tau_chi_err[p]), fmt="ks:", ms=4, mfc="none", capsize=2,
                  label="MD $\\tau_\\chi$")
    ax_c.errorbar(T, md.chi4_star[p], yerr=np.nan_to_num(md.chi4_star_err[p]), fmt="ko-", ms=4, capsize=2, label="MD")
    for s, side in enumerate(sides):
        colour, ls = _TRSP_STYLES[s % len(_TRSP_STYLES)]
        g = side.scalars
        ax_t.errorbar(side.T, g["tau_chi"], yerr=np.nan_to_num(g["tau_chi_err"]), color=colour, ls=ls, marker="D", ms=4,
                      capsize=2, label=f"TRSP $\\tau_\\chi$, L = {side.L}")
        ax_c.errorbar(side.T, g["chi4_star"], yerr=np.nan_to_num(g["chi4_star_err"]), color=colour, ls=ls, marker="D", ms=4,
                      capsize=2, label=f"TRSP, L = {side.L}")
    ax_t.set_yscale("log")
    ax_t.set_title("relaxation time", fontsize=10)
    ax_c.set_title("$\\chi_4^*$", fontsize=10)
    ax_c.set_xlabel(T_LABEL, fontsize=8)
    for ax in (ax_t, ax_c):
        ax.legend(fontsize=6)
        ax.tick_params(labelsize=7)
    handles, labels = axs[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=7, loc="lower center", ncol=min(4, max(len(labels), 1)), bbox_to_anchor=(0.5, -0.04))
    illus = any(s.illustrative for s in sides)
    fig.suptitle((title + "; " if title else "") + f"MD: N_A = {int(md.attrs['n_large'])}, a = {float(md.attrs['a']):g}; "
                 "bands and bars: bootstrap over runs / replicas" + (" - TRSP parameters ILLUSTRATIVE" if illus else ""), fontsize=8)
    fig.tight_layout()
    old = dict(_DPI)
    _DPI["dpi"], _DPI["prefix"] = int(dpi), ""
    try:
        return _save(fig, Path(out) / name)
    finally:
        _DPI.update(old)
