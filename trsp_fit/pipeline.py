"""``trsp fit``: a TRSP parameter set from measured softness trajectories (Sec. V, Appendix E).

:func:`fit` takes particle-data files and run files (in any mix; run files are converted by
:func:`trsp_fit.convert.runfile_to_particles`, so both share this one path), computes the
additive statistics of every block of every file (:mod:`trsp_fit.statistics`), estimates
every parameter (:mod:`trsp_fit.estimate`) and bootstraps the blocks within each temperature
for the errors.  The result is a :class:`FitResult`: the parameter set (observed rate law,
``rates.level = "observed"``), a JSON-able report and the data for the plots.
"""

from __future__ import annotations

import math
import os
import warnings as _warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import h5py
import numpy as np

from trsp_ref.params import CLUSTER_SHAPES, ParameterError, Params, params_from_dict

from . import estimate as est
from .convert import DEFAULT_DURATION, DEFAULT_FRAME_INTERVAL, runfile_to_particles
from .neighbours import NEIGHBOUR_BACKEND, distance_bins, lattice_displacement_distances, pair_list
from .particles import ParticleData, ParticleFileError, read_particles
from .statistics import FEATURES, Settings, UnitStats, unit_statistics

__all__ = ["FitOptions", "FitResult", "Collected", "fit", "collect", "estimate", "load_inputs", "FitInputError", "MIN_TEMPERATURES", "NORMALITY_LIMITS"]

#: Eqs. 27-28 have 5 parameters fitted to 3 numbers per temperature; 2 temperatures would fit
#: any data exactly (and T0 is not determined by fewer than 3)
MIN_TEMPERATURES = 3
#: with at least this many files per temperature the bootstrap resamples files, else blocks of frames
MIN_FILES_FOR_FILE_BOOTSTRAP = 4
#: |skewness| and |excess kurtosis| of S beyond which the Gaussian model of S is questioned
NORMALITY_LIMITS = {"skewness": 0.5, "excess_kurtosis": 1.0}


class FitInputError(ParameterError):
    """Input that ``trsp fit`` cannot use (one line, exit 2 from the CLI)."""


@dataclass
class FitOptions:
    """Settings of a fit (defaults in brackets)."""

    blocks_per_file: int = 4  # bootstrap units per file [4]
    bootstrap: int = 200  # bootstrap replicates [200]
    seed: int = 0  # seeds the bootstrap
    rate_bins: int = 40  # softness bins for P(R|S) [40]
    min_rearrangements: int = 10  # fewer rearrangements than this in a P(R|S) bin: warning
    r_background: float | None = None  # background beyond this distance [min(4, L/2 - 0.01) spacings]
    pair_r_max: float | None = None  # largest pair distance for rho [3 spacings]
    neighbour_radius: float = 1.5  # in spacings
    before: int | None = None  # frames before the interval [1]
    after: int | None = None  # frames after [0 instantaneous; the duration in frames sustained]
    at_temperature: float | None = None  # [temperature] T of the written parameter set [lowest]
    cluster_shape: str | None = None  # when the data do not say [plaquette]
    frame_interval: float = DEFAULT_FRAME_INTERVAL  # run files: time between frames
    duration: float = DEFAULT_DURATION  # run files: the given rearrangement duration
    corr_stride: int | None = None  # frames between the samples of C_S(r) and <S> [about 5 time units]
    isolated_only: bool = True  # kick statistics only from intervals with one connected group of rearranging particles
    progress: bool = False


@dataclass
class FitResult:
    params: Params
    report: dict
    plots: dict = field(default_factory=dict)  # data for trsp_fit.report.write_plots


def _fail(name: str, condition: str, value=None):
    return FitInputError(name, condition, value)


def load_inputs(paths: Iterable[str | os.PathLike], opts: FitOptions) -> list[ParticleData]:
    """Read particle-data files and convert run files (told apart by their ``format`` attribute)."""
    out = []
    for p in paths:
        p = Path(p)
        fmt = None
        if p.exists() and h5py.is_hdf5(p):
            with h5py.File(p, "r") as h5:
                fmt = h5.attrs.get("format")
                fmt = fmt.decode() if isinstance(fmt, bytes) else fmt
        if fmt == "trsp-run":
            out.append(runfile_to_particles(p, frame_interval=opts.frame_interval, duration=opts.duration))
        else:
            out.append(read_particles(p))
    return out


def _same_system(data: list[ParticleData]) -> None:
    d0 = data[0]
    for d in data[1:]:
        if d.dim != d0.dim or d.n_particles != d0.n_particles or not np.allclose(d.box, d0.box, rtol=1e-9):
            raise ParticleFileError(d.name, f"is not the same system as {d0.name}: dim/particles/box "
                                    f"{d.dim}/{d.n_particles}/{d.box.tolist()} vs {d0.dim}/{d0.n_particles}/{d0.box.tolist()}")


def _settings(data: list[ParticleData], opts: FitOptions, on_lattice: bool) -> tuple[Settings, float]:
    d0 = data[0]
    a = d0.spacing()
    half = 0.5 * float(np.min(d0.box))
    r_bg = opts.r_background * a if opts.r_background is not None else min(4.0 * a, half - 0.01 * a)
    r_pair = min(opts.pair_r_max * a if opts.pair_r_max is not None else 3.0 * a, r_bg)
    if not 0 < r_bg < half:
        raise _fail("--r-background", f"must be > 0 and below half the box ({half / a:.4g} spacings)", opts.r_background)
    lat = lattice_displacement_distances(d0.dim, d0.lattice["L"], a).ravel() if on_lattice else None
    corr = distance_bins(r_bg, a, lat)
    rt = distance_bins(r_bg, a, lat)
    pairs = distance_bins(r_pair, a, lat)
    # softness bins: the pooled mean +- 4.5 sd
    n = sum(d.softness.size for d in data)
    mu = sum(d.softness.sum() for d in data) / n
    sd = math.sqrt(sum(((d.softness - mu) ** 2).sum() for d in data) / n)
    edges = np.linspace(mu - 4.5 * sd, mu + 4.5 * sd, opts.rate_bins + 1)
    kinds = {d.kind for d in data}
    if len(kinds) > 1:
        raise _fail("rearrangement_kind", "all inputs must have the same kind of rearrangement indicator", sorted(kinds))
    kind = kinds.pop()
    dt = float(np.median(np.concatenate([np.diff(d.time) for d in data])))
    before = 1 if opts.before is None else opts.before
    if opts.after is not None:
        after = opts.after
    elif kind == "instantaneous":
        after = 0
    else:
        after = None  # set once the duration is measured
    # C_S(r) and <S> from frames about 5 time units apart (neighbouring frames hold nearly the same field)
    stride = max(1, int(round(5.0 / dt))) if opts.corr_stride is None else opts.corr_stride
    st = Settings(edges, corr, rt, pairs, r_bg, opts.neighbour_radius * a, before, after if after is not None else 0,
                  corr_stride=stride, isolated_only=opts.isolated_only)
    return st, dt


def _spread(vals: np.ndarray) -> np.ndarray:
    """Standard deviation over bootstrap replicates (axis 0), ignoring NaN; NaN where fewer than 2 are finite."""
    ok = np.isfinite(vals)
    n = ok.sum(axis=0)
    x = np.where(ok, vals, 0.0)
    mean = x.sum(axis=0) / np.maximum(n, 1)
    var = (np.where(ok, vals - mean, 0.0) ** 2).sum(axis=0) / np.maximum(n - 1, 1)
    return np.where(n >= 2, np.sqrt(var), np.nan)


def _weighted(units: list[UnitStats], w: np.ndarray) -> dict:
    keys = units[0].arrays.keys()
    return {k: sum(wi * u.arrays[k] for wi, u in zip(w, units) if wi) for k in keys}


@dataclass
class Collected:
    """The data's statistics, ready for :func:`estimate` (which a mutant test may call several times)."""

    settings: Settings
    dt: float
    kind: str
    duration: float
    duration_info: dict
    temps: list
    groups: dict
    by_file: bool
    total: dict
    on_lattice: bool
    warnings: list
    inputs: list
    meta: dict


def fit(inputs: Iterable, opts: FitOptions | None = None) -> FitResult:
    """Fit a TRSP model to trajectories (paths of particle-data or run files, or ParticleData objects)."""
    opts = opts or FitOptions()
    return estimate(collect(inputs, opts), opts)


def collect(inputs: Iterable, opts: FitOptions | None = None) -> Collected:
    """Read the inputs and compute the additive statistics of every block of every file."""
    opts = opts or FitOptions()
    if opts.blocks_per_file < 1:
        raise _fail("--blocks", "must be >= 1", opts.blocks_per_file)
    if opts.bootstrap < 20:
        raise _fail("--bootstrap", "must be >= 20 replicates (the errors come from their spread)", opts.bootstrap)
    items = list(inputs)
    if not items:
        raise _fail("DATA", "give at least one particle-data or run file")
    paths = [x for x in items if not isinstance(x, ParticleData)]
    data = [x for x in items if isinstance(x, ParticleData)] + load_inputs(paths, opts)
    _same_system(data)
    warnings: list[str] = []
    d0 = data[0]
    on_lattice = all(d.lattice is not None and d.lattice.get("on_lattice") for d in data)
    st, dt = _settings(data, opts, on_lattice)

    # ---------------------------------------------------------------- duration
    kind = d0.kind
    if kind == "instantaneous":
        given = {d.duration for d in data}
        if len(given) > 1:
            raise _fail("duration", "instantaneous inputs must give the same duration", sorted(given))
        duration = given.pop()
        duration_info = {"value": duration, "source": "given (instantaneous events: the data fix only A / duration)"}
        irregular = max(float(np.ptp(np.diff(d.time))) for d in data)
        if irregular > 1e-6 * dt:
            raise _fail("/frames/time", "instantaneous data need equally spaced frames (the exposure of a frame interval is dt)")
    else:
        duration = None

    # ---------------------------------------------------------------- statistics per unit
    pairs_cache: dict[int, object] = {}
    r_cut = max(st.r_background, st.pair_bins.edges[-1], st.neighbour_radius, st.corr_bins.edges[-1])
    per_file: list[tuple[float, list[UnitStats]]] = []
    if kind == "sustained":
        # the duration first: it sets how far after a rearrangement the softness is read
        from .statistics import _sustained_runs

        count = total = 0.0
        for d in data:
            c, t = _sustained_runs(d.rearranging)
            count, total = count + c, total + t
        if count == 0:
            raise _fail("/frames/rearranging", "no completed run of rearranging frames: the duration cannot be measured")
        frames = total / count
        duration = frames * dt
        duration_info = {"value": duration, "source": f"measured: mean run of {frames:.3g} consecutive rearranging frames x dt {dt:.4g}"}
        if frames < 2.0:
            warnings.append(f"frames too far apart to resolve the duration: a rearrangement lasts {frames:.3g} frames on average "
                            f"(need >= 2; frame interval {dt:.4g}); the duration {duration:.4g} is an upper-resolution estimate")
        if opts.after is None:
            st = Settings(**{**st.__dict__, "after": max(1, int(round(frames)))})
    for fi, d in enumerate(data):
        pl = None
        if d.static:
            pl = pair_list(d.positions, d.box, r_cut)
        K = d.n_frames
        nb = min(opts.blocks_per_file, K - 1)
        cuts = np.linspace(0, K, nb + 1).astype(int)
        blocks = [unit_statistics(d, slice(int(cuts[b]), int(cuts[b + 1])), st, on_lattice, pl) for b in range(nb)]
        per_file.append((d.temperature, blocks))
    temps = sorted({t for t, _ in per_file})
    # bootstrap units: whole files when every temperature has at least MIN_FILES_FOR_FILE_BOOTSTRAP
    # of them (slow fluctuations then stay inside a unit), else blocks of frames
    by_file = all(sum(1 for t, _ in per_file if t == T) >= MIN_FILES_FOR_FILE_BOOTSTRAP for T in temps)
    if by_file:
        units = [(t, sum(blocks[1:], blocks[0])) for t, blocks in per_file]
    else:
        units = [(t, b) for t, blocks in per_file for b in blocks]
    groups = {T: [u for t, u in units if t == T] for T in temps}
    total = _weighted([u for _, u in units], np.ones(len(units)))
    if total["windows"][0] < 50:
        raise _fail("/frames/rearranging", f"too few rearrangements for the kick statistics: {int(total['windows'][0])} intervals (need >= 50)")

    meta = {"dim": d0.dim, "lattice": d0.lattice, "n_particles": d0.n_particles, "box": d0.box.tolist(), "cluster_shape": d0.cluster_shape}
    inputs_info = [{"name": d.name, "temperature": d.temperature, "frames": d.n_frames, "particles": d.n_particles,
                    "kind": d.kind, "source": d.source} for d in data]
    return Collected(st, dt, kind, duration, duration_info, temps, groups, by_file, total, on_lattice, warnings, inputs_info, meta)


def estimate(col: Collected, opts: FitOptions | None = None) -> FitResult:
    """Every parameter, with bootstrap errors, from collected statistics."""
    opts = opts or FitOptions()
    st, dt, kind, duration, temps, groups, total = col.settings, col.dt, col.kind, col.duration, col.temps, col.groups, col.total
    warnings = list(col.warnings)
    units = [(T, u) for T in temps for u in groups[T]]
    exposure = None if kind == "sustained" else dt / duration
    # each bin stands for the mean distance of what it holds (exact on a lattice)
    rt_r = np.where(total["kick_n"][:-2] > 0, total["rt_sum"][:-2] / np.maximum(total["kick_n"][:-2], 1), st.rt_bins.centers)
    rt_r[0] = 0.0
    pn = total["pn"]
    pr_r = np.where(pn > 0, total["pr_sum"] / np.maximum(pn, 1), np.nan)
    rt_cell = np.broadcast_to(rt_r[None, :], pn.shape)
    corr_r = np.where(total["corr_n"] > 0, total["corr_r"] / np.maximum(total["corr_n"], 1), st.corr_bins.centers)

    # ---------------------------------------------------------------- stage 1: binned values, per replicate
    def stage1(weights: dict, starts=None) -> dict:
        per_T = []
        for i, T in enumerate(temps):
            g = _weighted(groups[T], weights[T])
            mom = est.softness_moments(g["moments"])
            s_mean = g["rate_s"] / np.maximum(g["rate_n"], 1)
            theta, chi2, dof = est.rate_law_mle(g["rate_n"], g["rate_k"], s_mean, exposure, None if starts is None else starts[i])
            per_T.append({"T": T, "mean": mom["mean"], "moments": mom, "theta": theta, "rate_chi2": (chi2, dof),
                          "corr_sum": g["corr_sum"], "corr_n": g["corr_n"], "g": g})
        c = est.correlation_values(per_T)
        pooled = _weighted([u for _, u in units], np.concatenate([weights[T] for T in temps]))
        kv = est.kick_values(pooled, c[0])
        return {"per_T": per_T, "c": c, "kick": kv}

    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(opts.seed)))
    ones = {T: np.ones(len(groups[T])) for T in temps}
    point = stage1(ones)
    reps = []
    for _ in range(opts.bootstrap):
        w = {T: rng.multinomial(len(groups[T]), np.full(len(groups[T]), 1.0 / len(groups[T]))).astype(float) for T in temps}
        try:
            reps.append((w, stage1(w, [p["theta"] for p in point["per_T"]])))
        except (ValueError, np.linalg.LinAlgError):
            continue
    if len(reps) < 20:
        raise _fail("DATA", f"only {len(reps)} of {opts.bootstrap} bootstrap replicates could be analysed: too little data")

    def sd_over(f):
        return _spread(np.array([f(r) for _, r in reps], dtype=np.float64))

    se_c = sd_over(lambda r: r["c"])
    se_K = sd_over(lambda r: r["kick"]["K"])
    se_pair = sd_over(lambda r: r["kick"]["pair_cov"])
    se_theta = sd_over(lambda r: np.array([p["theta"] for p in r["per_T"]]))
    se_mean = sd_over(lambda r: np.array([p["mean"] for p in r["per_T"]]))

    # C_S(r) is centred on the estimated mean: E[mu_hat^2] = mu^2 + Var(mu_hat) biases every bin by
    # -Var(mu_hat), which the bootstrap measures (it matters on small systems, where the mean
    # itself fluctuates slowly); the pooled correction weighs each temperature by its pairs
    n_T = np.array([point["per_T"][i]["corr_n"].sum() for i in range(len(temps))])
    mean_var = float(np.sum(n_T * np.nan_to_num(se_mean) ** 2) / max(n_T.sum(), 1.0))

    # ---------------------------------------------------------------- stage 2: the fits
    def stage2(s1: dict) -> dict:
        out: dict = {}
        cf, *gof_c = est.correlation_fit(corr_r, s1["c"] + mean_var, se_c)
        out.update(cf)
        out["_chi2_C"] = tuple(gof_c)
        kf, *gof_s = est.sigma_fit(rt_r, s1["kick"]["K"], se_K)
        out.update(kf)
        out["_chi2_sigma"] = tuple(gof_s)
        rf, *gof_r = est.rho_fit(pr_r, rt_cell, s1["kick"]["pair_cov"], se_pair, kf)
        out.update(rf)
        out["_chi2_rho"] = tuple(gof_r)
        th = np.array([p["theta"] for p in s1["per_T"]])
        mu = np.array([p["mean"] for p in s1["per_T"]])
        for k, T in enumerate(temps):
            out[f"A@T={T:g}"], out[f"gamma@T={T:g}"], out[f"delta@T={T:g}"] = math.exp(th[k, 0]), th[k, 1], th[k, 2]
            out[f"mean@T={T:g}"] = mu[k]
        if len(temps) >= MIN_TEMPERATURES:
            tf, *gof_t = est.temperature_fit(np.array(temps), th, se_theta)
            out.update(tf)
            out["_chi2_temperature"] = tuple(gof_t)
            mf, *gof_m = est.mean_fit(np.array(temps), mu, np.maximum(se_mean, 1e-12))
            out.update(mf)
            out["_chi2_mean"] = tuple(gof_m)
        return out

    try:
        best = stage2(point)
    except (ValueError, OverflowError, np.linalg.LinAlgError) as exc:
        raise _fail("DATA", f"a fit to the measured curves failed ({exc}); see the report's binned values with more data") from exc
    boot = []
    for _, r in reps:
        try:
            boot.append(stage2(r))
        except (ValueError, OverflowError, np.linalg.LinAlgError):
            continue
    names = [k for k in best if not k.startswith("_")]
    errors = {k: float(_spread(np.array([b[k] for b in boot], dtype=np.float64))) for k in names}

    # ---------------------------------------------------------------- warnings about the data
    for k, p in enumerate(point["per_T"]):
        g = p["g"]
        mom = p["moments"]
        for key, lim in NORMALITY_LIMITS.items():
            if abs(mom[key]) > lim:
                warnings.append(f"T = {p['T']:g}: softness far from Gaussian: {key} = {mom[key]:.3g} (|.| > {lim:g}); "
                                "the model assumes S Gaussian (Eq. 2)")
        # bins inside the fitted range with too few rearrangements
        used = g["rate_n"] > 0
        few = used & (g["rate_k"] < opts.min_rearrangements)
        if few.any():
            lo = st.rate_edges[:-1][few]
            warnings.append(f"T = {p['T']:g}: {int(few.sum())} of {int(used.sum())} softness bins hold fewer than "
                            f"{opts.min_rearrangements} rearrangements (S from {lo.min():.3g} to {lo.max() + (st.rate_edges[1] - st.rate_edges[0]):.3g} "
                            "at the edges); their P(R|S) is unreliable (the likelihood fit still uses them, with their weight)")
    if len(temps) < MIN_TEMPERATURES:
        msg = (f"too few temperatures for Eqs. 27-28 (Delta E, Sigma, T0) and <S>(T): {len(temps)} "
               f"({', '.join(f'{t:g}' for t in temps)}), need >= {MIN_TEMPERATURES}; the parameter set has no [temperature]")
        if len(temps) > 1 or opts.at_temperature is not None:
            warnings.append(msg)
        else:
            warnings.append(msg.replace("too few", "one temperature: too few"))

    # ---------------------------------------------------------------- the parameter set
    meta = col.meta
    shape = opts.cluster_shape or meta["cluster_shape"]
    if shape is None:
        shape = "plaquette"
        warnings.append("the data do not say which cluster rearranges: cluster.shape = 'plaquette' (give --cluster-shape)")
    if shape not in CLUSTER_SHAPES:
        raise _fail("--cluster-shape", f"must be one of {list(CLUSTER_SHAPES)}", shape)
    if meta["lattice"] is not None:
        L, spacing = int(meta["lattice"]["L"]), float(meta["lattice"]["spacing"])
    else:
        L = int(round(meta["n_particles"] ** (1.0 / meta["dim"])))
        spacing = float(np.mean(meta["box"])) / L
        warnings.append(f"particle data placed on a lattice of L = {L} sites per side, spacing {spacing:.4g} (N = {meta['n_particles']})")
    T_out = opts.at_temperature if opts.at_temperature is not None else temps[0]
    doc = {
        "lattice": {"dim": meta["dim"], "L": L, "spacing": spacing},
        "softness": {"variance": best["variance"], "C1": best["C1"], "xi": best["xi"]},
        "rates": {"level": "observed", "duration": duration},
        "kick": {k: best[k] for k in ("sigma0", "sigma1", "xi_sigma", "rho1", "xi_rho")} | {"facilitation": 1.0},
        "cluster": {"shape": shape},
    }
    if len(temps) >= MIN_TEMPERATURES:
        doc["temperature"] = {"T": T_out, **{k: best[k] for k in ("T0", "eps0", "eps1", "eps2", "Sigma0", "mean_a", "mean_b")}}
    else:
        T = temps[int(np.argmin(np.abs(np.array(temps) - T_out)))]
        doc["softness"]["mean"] = best[f"mean@T={T:g}"]
        doc["rates"].update(A=best[f"A@T={T:g}"], gamma=best[f"gamma@T={T:g}"], delta=best[f"delta@T={T:g}"])
    try:
        params = params_from_dict(doc)
    except ParameterError as exc:
        raise _fail(exc.parameter, f"the fitted value is not a valid parameter: {exc.condition}", exc.value) from None

    gof = {k[6:]: {"chi2": v[0], "dof": v[1]} for k, v in best.items() if k.startswith("_chi2_")}
    for k, p in enumerate(point["per_T"]):
        gof[f"rate_law T={p['T']:g}"] = {"chi2": p["rate_chi2"][0], "dof": p["rate_chi2"][1]}
    report = {
        "inputs": col.inputs,
        "temperatures": temps,
        "settings": {"neighbour_backend": NEIGHBOUR_BACKEND, "on_lattice": col.on_lattice, "blocks_per_file": opts.blocks_per_file,
                     "bootstrap_replicates": len(boot),
                     "bootstrap_units_per_temperature": {f"{T:g}": len(groups[T]) for T in temps},
                     "mean_variance_correction_of_C": mean_var, "bootstrap_unit": ("file" if col.by_file else "block of frames") + ", resampled within each temperature",
                     "before_frames": st.before, "after_frames": st.after, "r_background": st.r_background,
                     "frame_interval": dt, "seed": opts.seed},
        "duration": col.duration_info,
        "estimates": {k: {"value": float(best[k]), "error": errors[k]} for k in names},
        "goodness_of_fit": gof,
        "softness_moments": {f"T={p['T']:g}": {k: float(v) for k, v in p["moments"].items()} for p in point["per_T"]},
        "kick": {"background_variance": float(point["kick"]["background"]), "background_source": point["kick"]["background_source"],
                 "single_rearrangement_windows": int(total["windows"][0]), "windows_without_rearrangement": int(total["windows"][2]),
                 "regressors": list(FEATURES)},
        "warnings": warnings,
    }
    plots = {"mean_var": mean_var, "rt_r": rt_r, "pr_r": pr_r, "corr_r": corr_r, "point": point, "best": best, "errors": errors, "temps": temps, "se_c": se_c, "se_K": se_K, "se_pair": se_pair,
             "se_theta": se_theta, "se_mean": se_mean, "settings": st, "exposure": exposure}
    return FitResult(params, report, plots)
