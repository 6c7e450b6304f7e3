"""The schema of sweep files and their summaries (docs/sweep-format.md), checked at the door.

Every reader of these files opens them through :func:`open_results`: a missing file, a folder,
a file that is not HDF5 or is truncated, another format (a run file, a particle-data file) or
another major version is one :class:`~trsp_ref.params.ParameterError` naming the file.  Each
reader then checks the items it uses (:data:`PLOT_ITEMS` for ``trsp plot``,
:data:`PAIRED_ITEMS` for ``trsp paired``) by type and shape from the metadata alone
(:func:`check_results`, :mod:`trsp_runfile.schema`), so a summary given where the per-member
arrays are needed, or a damaged file, is named with the item instead of failing in h5py.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py

from trsp_ref.params import ParameterError
from trsp_runfile.schema import Item, check_items, open_hdf5

__all__ = ["SWEEP_FORMAT", "SUMMARY_FORMAT", "RESULT_FORMATS", "LIQUID_FORMAT", "MEMORY_NAMES", "PLOT_ITEMS", "PAIRED_ITEMS",
           "open_results", "check_results", "check_plot_values", "check_member_values", "analysis_settings"]

SWEEP_FORMAT = "trsp-sweep"
SUMMARY_FORMAT = "trsp-summary"
#: the formats trsp plot reads: sweep files (docs/sweep-format.md) and their summaries (trsp_obs.summaries)
RESULT_FORMATS = (SWEEP_FORMAT, SUMMARY_FORMAT)
#: the MD liquid's summary (trsp liquid summarize; trsp_obs.liquid)
LIQUID_FORMAT = "trsp-liquid"
#: how an error names each format
_FORMAT_NAMES = {SWEEP_FORMAT: "a sweep file", SUMMARY_FORMAT: "a summary", LIQUID_FORMAT: "an MD liquid summary (trsp liquid summarize)"}

V, T, R, J, Q, B = "variant", "temperature", "replica", "lag", "q", "block"
M, F, A = "model", "T_final", "time"

#: softness-memory variables (sweep format 1.1; absent from 1.0 files)
MEMORY_NAMES = (
    "C_SS C_SS_err tau_S tau_S_err tau_S_resolved tau_S_lower css_at_tau_chi css_at_tau_chi_err "
    "tau_S_over_tau_chi tau_S_over_tau_chi_err css_equal_time"
).split()

_AXES = (Item("/variant", "strings", (V,)), Item("/temperature", "real", (T,)), Item("/lag_time", "real", (V, T, J)),
         Item("/block", "real", (B,)))  # fmt: skip


def _combined(names: str, shape: tuple, required: bool = True) -> tuple[Item, ...]:
    return tuple(Item(f"/{n}", "real", shape, required) for n in names.split())


#: what trsp plot reads (trsp_obs.plots.read_sweep): the combined estimates, in sweep files and summaries
PLOT_ITEMS = (
    _AXES
    + (Item("/variant_shape", "strings", (V,)), Item("/variant_facilitation", "real", (V,)), Item("/q", "real", (Q,)))
    + _combined("Q Q_err chi4 chi4_err", (V, T, J))
    + _combined("tau_chi tau_chi_err chi4_star chi4_star_err xi4_oz xi4_oz_err xi4_block xi4_block_err S4_0_oz s4_lag "
                "chi4_block_inf n_replicas peak_resolved mean_S mean_S_err mean_S_expected block_A0 block_A1", (V, T))
    + _combined("S4 S4_err", (V, T, Q))
    + _combined("chi4_block_star chi4_block_star_err", (V, T, B))
    + _combined("member_n_events member_sim_wall_s", (V, T, None))
    + _combined("C_SS C_SS_err", (V, T, J), required=False)
    + _combined(" ".join(n for n in MEMORY_NAMES if not n.startswith("C_SS")), (V, T), required=False)
)  # fmt: skip

#: the /aging group (when present)
AGING_ITEMS = (
    Item("/aging/model", "strings", (M,)), Item("/aging/T_final", "real", (F,)), Item("/aging/time", "real", (A,)),
    Item("/aging/S_mean", "real", (M, F, A)), Item("/aging/S_mean_err", "real", (M, F, A)), Item("/aging/S_equilibrium", "real", (F,)),
    Item("/aging/@T_initial", "real"), Item("/aging/@S_initial", "real"),
)  # fmt: skip

#: what trsp paired reads (trsp_obs.paired.load_ensemble): the per-member arrays of a sweep file
PAIRED_ITEMS = (
    _AXES
    + (Item("/@N", "integer"), Item("/@dim", "integer"), Item("/@L", "integer"), Item("/@spacing", "real"), Item("/@seed", "integer"),
       Item("/@tolerance", "real"), Item("/@analysis", "string"), Item("/@paired", "flag", required=False),
       Item("/n_origins", "real", (V, T, J)), Item("/member_done", "flag", (V, T, R)),
       Item("/member_q_mean", "real", (V, T, R, J)), Item("/member_q_sq_mean", "real", (V, T, R, J)),
       Item("/member_shell_power", "real", (V, T, R, J, None)), Item("/member_block_var", "real", (V, T, R, J, B)),
       Item("/member_initial_digest", "strings", (V, T, R), required=False))
)  # fmt: skip


def _text(v) -> str:
    return v.decode("utf-8", errors="replace") if isinstance(v, bytes) else str(v)


def _failure(parameter: str, path: Path):
    def fail(problem: str, where: str | None = None) -> ParameterError:
        return ParameterError(parameter, f"{path}: {where}: {problem}" if where else f"{path}: {problem}")

    return fail


def open_results(path: str | Path, parameter: str = "sweep_file", formats: tuple = RESULT_FORMATS) -> h5py.File:
    """Open a sweep file (or summary, when ``formats`` allows) and check its format and major
    version; ParameterError(``parameter``) naming the file otherwise.  Use as a context manager."""
    path = Path(path)
    fail = _failure(parameter, path)
    what = " or ".join(_FORMAT_NAMES[f] for f in formats)
    h5 = open_hdf5(path, what, fail)
    try:
        fmt = _text(h5.attrs.get("format", ""))
        if fmt not in formats:
            other = f"a {fmt!r} file" if fmt else "an HDF5 file without a 'format' attribute"
            hint = ""
            if fmt == SUMMARY_FORMAT:
                hint = (f": a summary lacks the per-member spatial arrays; give the sweep file it was made from"
                        f" ({_text(h5.attrs.get('source_file', 'its source_file attribute'))})")
            raise fail(f"is {other}, not {what}{hint}")
        version = _text(h5.attrs.get("format_version", "0"))
        if version.split(".")[0] != "1":
            raise fail(f"has format version {version}; this reader reads 1.x", "/@format_version")
    except BaseException:
        h5.close()
        raise
    return h5


def check_results(h5: h5py.File, items, parameter: str = "sweep_file") -> dict:
    """Check ``items`` (and the /aging group's, when present) in an open results file; return the dimensions."""
    fail = _failure(parameter, Path(h5.filename))
    dims = check_items(h5, items, fail)
    if items is PLOT_ITEMS and "aging" in h5:
        dims.update(check_items(h5, AGING_ITEMS, fail))
    return dims


#: what each coordinate's values must be (besides finite): temperatures and lags > 0, |q| >= 0, block sides >= 1
_AXES_OK = {"temperature": ("> 0", lambda a: a > 0), "lag_time": ("> 0", lambda a: a > 0), "q": (">= 0", lambda a: a >= 0),
            "block": (">= 1", lambda a: a >= 1)}  # fmt: skip


def _check_axes(fail, **axes) -> None:
    import numpy as np

    for name, a in axes.items():
        a = np.asarray(a, dtype=np.float64)
        words, ok = _AXES_OK[name]
        if not (np.all(np.isfinite(a)) and np.all(ok(a))):
            raise fail(f"must be finite and {words}", f"/{name}")


#: combined estimates that are > 0 where they are estimated (NaN: not estimable), drawn on log axes
POSITIVE_ESTIMATES = ("tau_chi", "chi4_star", "xi4_oz", "xi4_block", "s4_lag")


def check_plot_values(path: str | Path, sd_T, lag_time, q, blocks, d: dict, parameter: str = "sweep_file") -> None:
    """The values trsp plot draws with: finite axes (T > 0, lags > 0, |q| >= 0, blocks >= 1),
    Q estimated wherever replicas were combined, the log-axis estimates > 0 where estimated."""
    import numpy as np

    fail = _failure(parameter, Path(path))
    _check_axes(fail, temperature=sd_T, lag_time=lag_time, q=q, block=blocks)
    combined = np.asarray(d["n_replicas"]) >= 2
    if not np.all(np.isfinite(np.asarray(d["Q"], dtype=np.float64)[combined])):
        raise fail("must be finite wherever n_replicas >= 2 (replicas were combined there)", "/Q")
    for name in POSITIVE_ESTIMATES:
        a = np.asarray(d[name], dtype=np.float64)
        if np.any(a[np.isfinite(a)] <= 0) or np.any(np.isinf(a)):
            raise fail("must be > 0 where estimated (NaN where not)", f"/{name}")


def check_member_values(path: str | Path, lag_time, done, arrays: dict, parameter: str = "sweep files") -> None:
    """The values trsp paired computes with: lags finite and > 0, and the overlap statistics of
    every finished member finite (the spatial ones may be NaN: a sweep without spatial origins)."""
    import numpy as np

    fail = _failure(parameter, Path(path))
    _check_axes(fail, lag_time=lag_time)
    finished = np.asarray(done) > 0
    for name in ("member_q_mean", "member_q_sq_mean"):
        if not np.all(np.isfinite(np.asarray(arrays[name])[finished])):
            raise fail("must be finite for every finished member (member_done = 1)", f"/{name}")


def analysis_settings(h5: h5py.File, parameter: str = "sweep_file") -> dict:
    """The ``analysis`` root attribute (JSON) with the keys the readers use, checked."""
    fail = _failure(parameter, Path(h5.filename))
    try:
        doc = json.loads(_text(h5.attrs["analysis"]))
    except (KeyError, ValueError):
        raise fail("must be a JSON object with oz_qmax and block_fit_max", "/@analysis") from None
    if not isinstance(doc, dict):
        raise fail("must be a JSON object with oz_qmax and block_fit_max", "/@analysis")
    for key in ("oz_qmax", "block_fit_max"):
        if not isinstance(doc.get(key), (int, float)) or isinstance(doc.get(key), bool):
            raise fail(f"must hold a number {key}", "/@analysis")
    return doc
