"""The figure of paired comparisons (``trsp paired --json`` files, trsp_obs.paired): the ratio
A/B of tau_chi, chi_4*, xi_4 (OZ) and xi_4 (blocks) against T, one series per comparison and
lattice size, with paired-bootstrap error bars (ratio x exp(+-se_log)); the dotted line is
"no effect".  Drawn by ``trsp plot docs/results`` from a manifest entry ``paired = [...]``
(docs/results/README.md)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from trsp_ref.params import ParameterError

__all__ = ["read_paired", "paired_figure"]

_PANELS = (
    ("tau_chi", "$\\tau_\\chi$"),
    ("chi4_star", "$\\chi_4^*$"),
    ("xi4_oz", "$\\xi_4$ (OZ)"),
    ("xi4_block", "$\\xi_4$ (blocks)"),
)


def read_paired(path: str | Path) -> dict:
    """A ``trsp paired --json`` file; ParameterError('paired') if it is not one."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ParameterError("paired", f"cannot be read as a trsp paired JSON file ({exc})", str(path)) from None
    if not isinstance(doc, dict) or doc.get("format") != "trsp-paired" or not str(doc.get("format_version", "")).startswith("1."):
        raise ParameterError("paired", "is not a trsp-paired 1.x file (made by trsp paired --json)", str(path))
    return doc


def paired_figure(paths: list, out: Path, *, title: str = "", name: str = "fig_paired.png", dpi: int = 110) -> Path:
    """Draw every comparison in the JSON files ``paths`` into ``out/name`` (atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .plots import T_LABEL, _DPI, _save

    series: dict = {}
    for p in paths:
        doc = read_paired(p)
        for c in doc["comparisons"]:
            key = f"{c['variant_a']} / {c['variant_b']}, L = {c['L']}"
            series.setdefault(key, []).append(c)
    fig, axs = plt.subplots(1, len(_PANELS), figsize=(3.2 * len(_PANELS), 3.4))
    markers = "osD^v<>p"
    for k, (key, rows) in enumerate(sorted(series.items())):
        rows = sorted(rows, key=lambda c: c["temperature"])
        T = np.array([c["temperature"] for c in rows])
        shift = (k - 0.5 * (len(series) - 1)) * 0.002  # keep overlapping bars apart
        for ax, (obs, _) in zip(axs, _PANELS):
            r = np.array([c["ratio"][obs] if c["ratio"][obs] is not None else np.nan for c in rows], dtype=float)
            se = np.array([c["se_log"][obs] if c["se_log"][obs] is not None else np.nan for c in rows], dtype=float)
            lo, hi = r * (1 - np.exp(-se)), r * (np.exp(se) - 1)
            ax.errorbar(T + shift, r, yerr=[np.nan_to_num(lo), np.nan_to_num(hi)], marker=markers[k % len(markers)], capsize=2,
                        label=f"{key} ({rows[0]['n_pairs']} pairs)")  # fmt: skip
    from matplotlib.ticker import FormatStrFormatter

    for ax, (obs, label) in zip(axs, _PANELS):
        ax.axhline(1.0, color="k", ls=":", lw=1)
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FormatStrFormatter("%.2g"))
        ax.yaxis.set_minor_formatter(FormatStrFormatter("%.2g"))
        ax.tick_params(axis="y", which="both", labelsize=7)
        ax.set_xlabel(T_LABEL)
        ax.set_title(f"ratio of {label}", fontsize=9)
    handles, labels = axs[0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=7, loc="lower center", ncol=min(3, max(len(labels), 1)), bbox_to_anchor=(0.5, -0.02 - 0.04 * (len(labels) // 3)))
    fig.suptitle((title + "; " if title else "") + "paired ratios, bars: paired bootstrap (1 se) - ILLUSTRATIVE parameters", fontsize=8)
    fig.tight_layout()
    old = dict(_DPI)
    _DPI["dpi"], _DPI["prefix"] = int(dpi), ""  # an earlier manifest entry may have left a prefix
    try:
        return _save(fig, Path(out) / name)
    finally:
        _DPI.update(old)

