"""``trsp fit``: a TRSP parameter set from measured softness trajectories (Sec. V, Appendix E).

:func:`fit` takes particle-data files and run files (in any mix), reads them a block at a
time (:mod:`trsp_fit.sources`; run files event by event, :mod:`trsp_fit.events`, or as frames
at a given interval), computes the additive statistics of every unit (an equal stretch of a
file; :mod:`trsp_fit.statistics`), estimates every parameter (:mod:`trsp_fit.estimate`) and
bootstraps the units within each temperature for the errors.  The result is a :class:`FitResult`: the parameter set (observed rate law,
``rates.level = "observed"``), a JSON-able report and the data for the plots.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import h5py
import numpy as np

from trsp_ref.params import CLUSTER_SHAPES, ParameterError, Params, params_from_dict

from . import estimate as est
from .convert import DEFAULT_DURATION, RunFrames
from .events import kick_window_radius, run_event_statistics
from .neighbours import NEIGHBOUR_BACKEND, all_pair_distances, distance_bins, lattice_displacement_distances, pair_list
from .particles import ParticleData, ParticleFileError
from .sources import FrameSource, MemoryFrames, ParticleFile, check_frame_interval, select_types
from .statistics import FEATURES, INTERVAL_WEIGHTS_3, Settings, UnitStats, block_statistics, empty_statistics, sustained_runs
from .systematics import KICK_PARAMETERS, kick_correction
from .units import SUB_UNITS, UNIT_TAUS, integrated_time, merge_units, units_per_file
from .validity import model_check, model_warnings

__all__ = ["FitOptions", "FitResult", "Collected", "fit", "collect", "estimate", "load_inputs", "FitInputError", "MIN_TEMPERATURES", "NORMALITY_LIMITS",
           "MIN_KICK_REARRANGEMENTS"]

#: Eqs. 27-28 have 5 parameters fitted to 3 numbers per temperature; 2 temperatures would fit
#: any data exactly (and T0 is not determined by fewer than 3)
MIN_TEMPERATURES = 3
#: |skewness| and |excess kurtosis| of S beyond which the Gaussian model of S is questioned
NORMALITY_LIMITS = {"skewness": 0.5, "excess_kurtosis": 1.0}
#: fewer rearrangements usable for the kick statistics than this: an error
MIN_KICK_REARRANGEMENTS = 50
#: fewer bootstrap units than this per temperature: a warning (errors from few units are uncertain)
MIN_UNITS_WARNING = 8
#: at least this many bootstrap units per temperature (files split further when there are fewer files)
MIN_UNITS = 8
#: background windows (frames without rearrangement) used per file, about; of them, for the background pair covariances
BACKGROUND_WINDOWS = 20000
BACKGROUND_PAIR_WINDOWS = 400
#: more than this fraction of a frame's rearranging particles rearranging again in the next frame: a warning
REPEAT_WARNING = 0.05
#: parameters that are positive in every set the model allows: an error larger than
#: |value| means the data do not determine them (a warning)
UNDETERMINED_CHECK = ("variance", "C1", "xi", "sigma0", "sigma1", "xi_sigma", "xi_rho")
#: the P(R|S) bins span the probed mean +- this many standard deviations
RATE_RANGE_SD = 5.0


class FitInputError(ParameterError):
    """Input that ``trsp fit`` cannot use (one line, exit 2 from the CLI)."""


@dataclass
class FitOptions:
    """Settings of a fit (defaults in brackets)."""

    blocks_per_file: int = 8  # bootstrap units per file: equal stretches of its frames / time [8]
    bootstrap: int = 200  # bootstrap replicates [200]
    seed: int = 0  # seeds the bootstrap
    rate_bins: int = 80  # softness bins for P(R|S) [80]
    min_rearrangements: int = 10  # fewer rearrangements than this in a P(R|S) bin: warning
    r_background: float | None = None  # background beyond this distance [min(4, L/2 - 0.01) spacings]
    pair_r_max: float | None = None  # largest pair distance for rho [3 spacings]
    neighbour_radius: float = 1.5  # in spacings
    before: int | None = None  # frames before the interval [1]
    after: int | None = None  # frames after [0 instantaneous; the duration in frames sustained]
    at_temperature: float | None = None  # [temperature] T of the written parameter set [lowest]
    cluster_shape: str | None = None  # when the data do not say [plaquette]
    frame_interval: float | None = None  # run files: None = read event by event (exact); a value = frames this far apart
    duration: float = DEFAULT_DURATION  # run files: the given rearrangement duration
    corr_time: float = 5.0  # time between the frames used for C_S(r) and <S> [5 time units]
    corr_stride: int | None = None  # frames between them (overrides corr_time for frame data)
    isolated_only: bool = True  # kick statistics only from locally isolated single rearrangements (frame data)
    isolation_margin: float = 3.0  # spacings: another rearrangement must be farther than rt_j + this from a used particle j
    types: list | None = None  # particle types to use (names or ids) [all]
    kick_correction: bool = True  # subtract the kick estimator's computed bias (lattice data; trsp_fit.systematics)
    progress: bool = False


@dataclass
class FitResult:
    params: Params
    report: dict
    plots: dict = field(default_factory=dict)  # data for trsp_fit.report.write_plots


def _fail(name: str, condition: str, value=None):
    return FitInputError(name, condition, value)


class EventRun:
    """A "full" run file read event by event (trsp_fit.events); the attributes the pipeline needs."""

    kind = "instantaneous"
    static = True

    def __init__(self, path, duration: float):
        from trsp_runfile import RunFile

        from .convert import run_temperature
        from trsp_ref.lattice import site_coords

        self.run = run = RunFile.open(path)
        lat = run.params.lattice  # geometry only
        self.name = str(path)
        self.temperature = run_temperature(run)
        self.duration = float(duration)
        self.box = np.full(lat.dim, lat.L * lat.spacing)
        self.lattice = {"L": lat.L, "spacing": lat.spacing, "on_lattice": True}
        self.cluster_shape = run.params.cluster.shape
        self.n_particles = run.N
        self.dim = lat.dim
        self.source = f"trsp run file {Path(path).name} (run_id {run.run_id}), read event by event"
        self.types_used = [0]
        self.n_frames = None
        self.kick_radius = kick_window_radius(run)
        self._positions = site_coords(lat.dim, lat.L).astype(np.float64) * lat.spacing

    def spacing(self) -> float:
        return float(self.lattice["spacing"])

    def first_positions(self) -> np.ndarray:
        return self._positions

    def probe(self) -> np.ndarray:
        return np.concatenate([self.run.S0, self.run.checkpoint.S])


def _open(item, opts: FitOptions):
    """A source for one input: ParticleData, a particle-data file, or a run file (event by event, or
    frames when --frame-interval is given, or from its snapshots when it was recorded 'light')."""
    if isinstance(item, ParticleData):
        src = MemoryFrames(item)
    else:
        p = Path(item)
        fmt = None
        if p.exists() and not p.is_dir() and h5py.is_hdf5(p):
            with h5py.File(p, "r") as h5:
                fmt = h5.attrs.get("format")
                fmt = fmt.decode() if isinstance(fmt, bytes) else fmt
        if fmt == "trsp-run":
            run_mode = None
            with h5py.File(p, "r") as h5:
                run_mode = h5.attrs.get("mode")
                run_mode = run_mode.decode() if isinstance(run_mode, bytes) else run_mode
            if opts.frame_interval is None and run_mode == "full":
                src = EventRun(p, opts.duration)
            else:
                src = RunFrames(p, frame_interval=opts.frame_interval or 1.0, duration=opts.duration)
            if opts.types:
                select_types(src, opts.types, None, np.zeros(src.n_particles, np.int64), src.name)
            return src
        src = ParticleFile(p)
    src.selection, src.types_used = select_types(src, opts.types, src.type_names, src.types, src.name)
    return src


def load_inputs(paths: Iterable[str | os.PathLike], opts: FitOptions) -> list:
    """Open every input and read it through once (every value check of its reader, block by block;
    run files read event by event are replayed and checked), computing nothing: the sources."""
    sources = [_open(p, opts) for p in paths]
    for d in sources:
        if isinstance(d, EventRun):
            for _ in d.run.iter_events():
                pass
        else:
            for _ in d.blocks([0, d.n_frames], 0, 0):
                pass
    return sources


def _same_system(data: list) -> None:
    d0 = data[0]
    for d in data[1:]:
        if d.dim != d0.dim or d.n_particles != d0.n_particles or not np.allclose(d.box, d0.box, rtol=1e-9):
            raise ParticleFileError(d.name, f"is not the same system as {d0.name}: dim/particles/box "
                                    f"{d.dim}/{d.n_particles}/{d.box.tolist()} vs {d0.dim}/{d0.n_particles}/{d0.box.tolist()}")


def _frame_interval(src: FrameSource) -> float:
    return float(np.median(np.diff(src.time)))


def _settings(data: list, opts: FitOptions, on_lattice: bool) -> Settings:
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
    # softness bins: the probed mean +- RATE_RANGE_SD sd (values beyond go to the end bins)
    probe = np.concatenate([d.probe() for d in data])
    mu, sd = float(probe.mean()), float(probe.std())
    if not sd > 0:
        sd = 1.0
    edges = np.linspace(mu - RATE_RANGE_SD * sd, mu + RATE_RANGE_SD * sd, opts.rate_bins + 1)
    kinds = {d.kind for d in data}
    if len(kinds) > 1:
        raise _fail("rearrangement_kind", "all inputs must have the same kind of rearrangement indicator", sorted(kinds))
    kind = kinds.pop()
    before = 1 if opts.before is None else opts.before
    if opts.after is not None:
        after = opts.after
    else:
        after = 0  # sustained data: set once the duration is measured
    shapes = {d.cluster_shape for d in data}
    shape = shapes.pop() if len(shapes) == 1 else None
    from trsp_ref.params import CLUSTER_SIZE

    size = CLUSTER_SIZE.get(shape) if (shape is not None and kind == "instantaneous" and all(d.lattice is not None for d in data)) else None
    return Settings(edges, corr, rt, pairs, r_bg, opts.neighbour_radius * a, before, after, isolation=opts.isolated_only,
                    isolation_margin=opts.isolation_margin * a, cluster_size=size)


def _spread(vals: np.ndarray) -> np.ndarray:
    """Standard deviation over bootstrap replicates (axis 0), ignoring NaN; NaN where fewer than 2 are finite."""
    ok = np.isfinite(vals)
    n = ok.sum(axis=0)
    x = np.where(ok, vals, 0.0)
    mean = x.sum(axis=0) / np.maximum(n, 1)
    var = (np.where(ok, vals - mean, 0.0) ** 2).sum(axis=0) / np.maximum(n - 1, 1)
    return np.where(n >= 2, np.sqrt(var), np.nan)


def _small_sample_factor(name: str, groups: dict) -> float:
    """sqrt(n / (n - 1)) for a parameter bootstrapped from n units: resampling n units with replacement
    gives the plug-in variance (divisor n) of their spread, which is (n - 1) / n of the unbiased one
    (for a mean exactly; to first order for any smooth statistic).  Per-temperature parameters
    (``k@T=...``) use that temperature's units; the others the fewest units of any temperature (the
    strata are resampled separately)."""
    if "@T=" in name:
        T = float(name.split("@T=")[1])
        n = next((len(g) for t, g in groups.items() if math.isclose(t, T, rel_tol=1e-6)), min(len(g) for g in groups.values()))
    else:
        n = min(len(g) for g in groups.values())
    return math.sqrt(n / (n - 1)) if n > 1 else 1.0


def _weighted(units: list[UnitStats], w: np.ndarray) -> dict:
    keys = units[0].arrays.keys()
    return {k: sum(wi * u.arrays[k] for wi, u in zip(w, units) if wi) for k in keys}


@dataclass
class Collected:
    """The data's statistics, ready for :func:`estimate` (which a mutant test may call several times)."""

    settings: Settings
    dt: float | None
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
    pair_distances: tuple  # (distances, fractions) of all pairs: the frame-centred C_S's offset
    route: str = "frames"
    units: dict = field(default_factory=dict)  # how the bootstrap units were chosen


def fit(inputs: Iterable, opts: FitOptions | None = None) -> FitResult:
    """Fit a TRSP model to trajectories (paths of particle-data or run files, or ParticleData objects)."""
    opts = opts or FitOptions()
    return estimate(collect(inputs, opts), opts)


def _progress(opts: FitOptions, total: int, what: str):
    """A rich progress bar on stderr (a no-op unless opts.progress and stderr is a terminal)."""
    import contextlib
    import sys

    if not opts.progress or not sys.stderr.isatty():
        return contextlib.nullcontext(lambda n: None)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    @contextlib.contextmanager
    def bar():
        with Progress(TextColumn(what), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(), transient=True) as p:
            task = p.add_task(what, total=total)
            yield lambda n: p.advance(task, n)

    return bar()


def collect(inputs: Iterable, opts: FitOptions | None = None) -> Collected:
    """Read the inputs (streamed: a block at a time) and compute the additive statistics of every unit."""
    opts = opts or FitOptions()
    if opts.blocks_per_file < 1:
        raise _fail("--blocks", "must be >= 1", opts.blocks_per_file)
    if opts.bootstrap < 20:
        raise _fail("--bootstrap", "must be >= 20 replicates (the errors come from their spread)", opts.bootstrap)
    check_frame_interval(opts.frame_interval)
    if not (math.isfinite(opts.isolation_margin) and opts.isolation_margin >= 0):
        raise _fail("--isolation-margin", "must be a finite number >= 0 (spacings)", opts.isolation_margin)
    if not (math.isfinite(opts.corr_time) and opts.corr_time > 0):
        raise _fail("corr_time", "must be a finite number > 0", opts.corr_time)
    items = list(inputs)
    if not items:
        raise _fail("DATA", "give at least one particle-data or run file")
    data = [_open(x, opts) for x in items]
    _same_system(data)
    warnings: list[str] = []
    d0 = data[0]
    on_lattice = all(d.lattice is not None and d.lattice.get("on_lattice") for d in data)
    st = _settings(data, opts, on_lattice)
    frames = [d for d in data if not isinstance(d, EventRun)]
    events = [d for d in data if isinstance(d, EventRun)]
    by_count = [d for d in events if d.run.checkpoint.target_events is not None and d.run.checkpoint.target_time is None]
    if len(by_count) >= 2:
        warnings.append(f"{len(by_count)} run files stopped at a number of events, not at a time: a file whose slow modes sit low "
                        "fires less, runs longer and weighs more in the pooled exposures, which biases <S> and A low on small "
                        "boxes (about 1 error at 16 files of 1000 events on 2D L = 12; docs/fit.md, \"Coverage\"): simulate to a "
                        "time (trsp simulate --time)")
    dts = sorted({round(_frame_interval(d), 12) for d in frames})
    dt = dts[0] if len(dts) == 1 else (float(np.median(dts)) if dts else None)

    # ---------------------------------------------------------------- duration
    kind = d0.kind
    if kind == "instantaneous":
        given = {d.duration for d in data}
        if len(given) > 1:
            raise _fail("duration", "instantaneous inputs must give the same duration", sorted(given))
        duration = given.pop()
        duration_info = {"value": duration, "source": "given (instantaneous events: the data fix only A / duration)"}
        for d in frames:
            steps = np.diff(d.time)
            if float(np.ptp(steps)) > 1e-6 * float(np.median(steps)):
                raise _fail("/frames/time", f"{d.name}: instantaneous data need equally spaced frames (the exposure of a frame interval is dt)")
    else:
        duration = None

    # ---------------------------------------------------------------- statistics per unit
    r_cut = max(st.r_background, st.pair_bins.edges[-1], st.neighbour_radius, st.corr_bins.edges[-1])
    if kind == "sustained":
        # the duration first: it sets how far after a rearrangement the softness is read (a pass over the flags)
        count = total = 0.0
        for d in frames:
            for lo in range(0, d.n_frames, d.rows_per_block()):
                hi = min(d.n_frames, lo + d.rows_per_block() + 1)
                c, t = sustained_runs(d.flags(lo, hi))
                count, total = count + c, total + t
        if count == 0:
            raise _fail("/frames/rearranging", "no completed run of rearranging frames: the duration cannot be measured")
        nframes = total / count
        duration = nframes * dt
        duration_info = {"value": duration, "source": f"measured: mean run of {nframes:.3g} consecutive rearranging frames x dt {dt:.4g}"}
        if nframes < 2.0:
            warnings.append(f"frames too far apart to resolve the duration: a rearrangement lasts {nframes:.3g} frames on average "
                            f"(need >= 2; frame interval {dt:.4g}); the duration {duration:.4g} is an upper-resolution estimate")
        if opts.after is None:
            st = Settings(**{**st.__dict__, "after": max(1, int(round(nframes)))})
    # every file is read in n_fine stretches (memory: a block at a time), merged into bootstrap units below
    per_file: list[tuple[float, list[UnitStats]]] = []
    series: list[np.ndarray] = []  # per file: the sampled frames' site mean and variance (trsp_fit.units)
    n_fine = SUB_UNITS * opts.blocks_per_file
    n_events = sum(d.run.n_events for d in events)
    with _progress(opts, n_events, "trsp fit: reading events") as tick:
        for d in events:
            ser: list = []
            per_file.append((d.temperature, run_event_statistics(d.run, st, n_fine, opts.corr_time, tick, ser)))
            series.append(np.concatenate(ser) if ser else np.zeros((0, 2)))
    for d in frames:
        ddt = _frame_interval(d)
        stride = max(1, int(round(opts.corr_time / ddt))) if opts.corr_stride is None else opts.corr_stride
        K = d.n_frames
        sd = Settings(**{**st.__dict__, "interval": ddt, "corr_stride": stride,
                         "bg_stride": max(1, K // BACKGROUND_WINDOWS), "bg_pair_stride": max(1, BACKGROUND_WINDOWS // BACKGROUND_PAIR_WINDOWS)})
        pl = pair_list(d.first_positions(), d.box, r_cut) if d.static else None
        lat = d.lattice if (on_lattice and d.lattice is not None) else None
        K = d.n_frames
        nb = min(n_fine, K - 1)
        cuts = np.linspace(0, K, nb + 1).astype(int)
        units = [UnitStats(empty_statistics(sd)) for _ in range(nb)]
        pad_after = max(sd.after, 3)
        ser = []
        for u, blk in d.blocks(cuts, max(sd.before, 1), pad_after):
            units[u].add(block_statistics(blk, K, kind, sd, lat, pl, d.box, ser))
        per_file.append((d.temperature, units))
        series.append(np.concatenate(ser) if ser else np.zeros((0, 2)))
    # bootstrap units: stretches at least UNIT_TAUS correlation times of the slowest mode long
    tau, resolved = integrated_time(series)
    n_units = []
    for T in sorted({t for t, _ in per_file}):  # at least MIN_UNITS per temperature
        idx = [i for i, (t, _) in enumerate(per_file) if t == T]
        n_T = units_per_file([series[i].shape[0] for i in idx], tau, resolved, opts.blocks_per_file, MIN_UNITS)
        n_units += list(zip(idx, n_T))
    n_units = [n for _, n in sorted(n_units)]
    short = [i for i, n in enumerate(n_units) if n > 1 and (not resolved or series[i].shape[0] / n < UNIT_TAUS * tau)]
    if short:
        warnings.append(f"too few files for independent bootstrap units: {len(short)} file(s) split into units shorter than "
                        f"{UNIT_TAUS:g} correlation times of the slowest mode (tau = {tau:.3g} frames"
                        f"{'' if resolved else ', not resolved: the files are shorter than a few tau'}); the errors of the "
                        "slow quantities (<S>, A, C_S) may be too small: give more files")
    per_file = [(t, merge_units(fine, n)) for (t, fine), n in zip(per_file, n_units)]
    unit_info = {"correlation_time_frames": tau, "correlation_time": tau * opts.corr_time if not frames else None,
                 "resolved": resolved, "units_per_file": n_units,
                 "rule": f"units of >= {UNIT_TAUS:g} integrated autocorrelation times of the site mean and variance "
                         f"(at most {opts.blocks_per_file} per file; one per file when unresolved)"}
    temps = sorted({t for t, _ in per_file})
    units = [(t, b) for t, blocks in per_file for b in blocks]
    for T in temps:
        n_T = sum(1 for t, _ in units if t == T)
        if n_T < MIN_UNITS_WARNING:
            warnings.append(f"T = {T:g}: only {n_T} bootstrap units (files, or stretches of files longer than "
                            f"{UNIT_TAUS:g} correlation times): the errors are themselves uncertain (give more files, or longer ones)")
    groups = {T: [u for t, u in units if t == T] for T in temps}
    total = _weighted([u for _, u in units], np.ones(len(units)))
    used = int(total["windows"][0])
    if used < MIN_KICK_REARRANGEMENTS:
        seen = int(total["windows"][3])
        hint = ("give more data" if not frames else
                "give more data, or frames closer together (run files: leave out --frame-interval to read them event by event, "
                "or give a smaller one), or a smaller --isolation-margin")
        raise _fail("/frames/rearranging", f"too few rearrangements for the kick statistics: {used} usable of {seen} seen "
                    f"(need >= {MIN_KICK_REARRANGEMENTS}; a rearrangement is usable when it has the cluster's size and no other "
                    f"rearrangement of its frame lies within rt + isolation margin of the particles measured): {hint}")

    meta = {"dim": d0.dim, "lattice": d0.lattice, "n_particles": d0.n_particles, "box": d0.box.tolist(), "cluster_shape": d0.cluster_shape,
            "kick_radius": min(getattr(d, "kick_radius", math.inf) for d in data)}
    inputs_info = [{"name": d.name, "temperature": d.temperature, "particles": d.n_particles, "kind": d.kind, "source": d.source,
                    "route": "events" if isinstance(d, EventRun) else "frames",
                    **({"events": d.run.n_events, "kick_radius": d.kick_radius} if isinstance(d, EventRun) else {"frames": d.n_frames}),
                    "types_used": list(d.types_used) if d.types_used is not None else None} for d in data]
    pair_distances = all_pair_distances(d0.first_positions(), d0.box, d0.spacing(), d0.lattice if on_lattice else None)
    route = "events" if not frames else ("frames" if not events else "events and frames")
    return Collected(st, dt, kind, duration, duration_info, temps, groups, True, total, on_lattice, warnings, inputs_info, meta,
                     pair_distances, route, unit_info)


def estimate(col: Collected, opts: FitOptions | None = None) -> FitResult:
    """Every parameter, with bootstrap errors, from collected statistics."""
    opts = opts or FitOptions()
    st, dt, kind, duration, temps, groups, total = col.settings, col.dt, col.kind, col.duration, col.temps, col.groups, col.total
    warnings = list(col.warnings)
    units = [(T, u) for T in temps for u in groups[T]]
    rate_duration = None if kind == "sustained" else duration
    # each bin stands for the mean distance of what it holds (exact on a lattice)
    rt_r = np.where(total["kick_n"][:-2] > 0, total["rt_sum"][:-2] / np.maximum(total["kick_n"][:-2], 1), st.rt_bins.centers)
    rt_r[0] = 0.0
    pn = total["pn"]
    pr_r = np.where(pn > 0, total["pr_sum"] / np.maximum(pn, 1), np.nan)
    rt_cell = np.broadcast_to(rt_r[None, :], pn.shape)
    corr_r = np.where(total["corr_n"] > 0, total["corr_r"] / np.maximum(total["corr_n"], 1), st.corr_bins.centers)

    # ---------------------------------------------------------------- stage 1: binned values, per replicate
    def stage1(weights: dict, starts=None, counts: str = "rate_k") -> dict:
        per_T = []
        for i, T in enumerate(temps):
            g = _weighted(groups[T], weights[T])
            mom = est.softness_moments(g["moments"])
            s_mean = g["rate_s"] / np.where(g["rate_T"] > 0, g["rate_T"], 1.0)
            k = g[counts] if counts in g else sum(w * g[f"rate_k{i + 1}"] for i, w in enumerate(INTERVAL_WEIGHTS_3))
            theta, chi2, dof = est.rate_law_mle(g["rate_T"], k, s_mean, rate_duration, None if starts is None else starts[i])
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

    # ---------------------------------------------------------------- stage 2: the fits
    def stage2(s1: dict) -> dict:
        out: dict = {}
        cf, *gof_c = est.correlation_fit(corr_r, s1["c"], se_c, *col.pair_distances)
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
    # the rate law from frames: the change from the two- to the three-interval extrapolation is its
    # systematic term (0 for exact exposures and for sustained data)
    systematic: dict = {}
    if kind == "instantaneous" and total["rate_k2"].any():
        try:
            best3 = stage2(stage1(ones, [p["theta"] for p in point["per_T"]], counts="order 3"))
            rate_keys = [k for k in best if k.split("@")[0] in ("A", "gamma", "delta") or k in ("T0", "eps0", "eps1", "eps2", "Sigma0")]
            systematic.update({k: abs(float(best3[k]) - float(best[k])) for k in rate_keys})
        except (ValueError, OverflowError, np.linalg.LinAlgError):
            warnings.append("the three-interval extrapolation of P(R|S) could not be fitted: no systematic term for the rate law")
    repeats = total["repeats"][1] / total["repeats"][0] if total["repeats"][0] > 0 else 0.0
    if repeats > REPEAT_WARNING:
        warnings.append(f"{100 * repeats:.3g}% of the rearranging particles of a frame rearrange again in the next frame: rearrangements "
                        "repeat faster than the frames resolve (the same particles may rearrange twice within one interval, which frames "
                        "cannot show): P(R|S) and the kick from frames are then biased; use frames closer together (run files: leave out "
                        "--frame-interval, the exact event times need none)")
    boot = []
    for _, r in reps:
        try:
            boot.append(stage2(r))
        except (ValueError, OverflowError, np.linalg.LinAlgError):
            continue
    names = [k for k in best if not k.startswith("_")]
    errors = {k: float(_spread(np.array([b[k] for b in boot], dtype=np.float64))) * _small_sample_factor(k, groups) for k in names}

    # ---------------------------------------------------------------- warnings about the data
    for k in UNDETERMINED_CHECK:
        if k in errors and not errors[k] <= abs(float(best[k])):
            warnings.append(f"{k} is not determined by the data: error {errors[k]:.3g} >= |value| {abs(float(best[k])):.3g} "
                            "(its fit is degenerate or the data too few): give more data (more files, frames or particles)")
    for k, p in enumerate(point["per_T"]):
        g = p["g"]
        mom = p["moments"]
        for key, lim in NORMALITY_LIMITS.items():
            if abs(mom[key]) > lim:
                warnings.append(f"T = {p['T']:g}: softness far from Gaussian: {key} = {mom[key]:.3g} (|.| > {lim:g}); "
                                "the model assumes S Gaussian (Eq. 2)")
        # bins inside the fitted range with too few rearrangements
        used = g["rate_T"] > 0
        few = used & (g["rate_k1"] < opts.min_rearrangements)
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

    def parameter_set() -> Params:
        doc = {
            "lattice": {"dim": meta["dim"], "L": L, "spacing": spacing},
            "softness": {"variance": best["variance"], "C1": best["C1"], "xi": best["xi"]},
            "rates": {"level": "observed", "duration": duration},
            "kick": {k: best[k] for k in KICK_PARAMETERS} | {"facilitation": 1.0},
            "cluster": {"shape": shape},
        }
        if len(temps) >= MIN_TEMPERATURES:
            doc["temperature"] = {"T": T_out, **{k: best[k] for k in ("T0", "eps0", "eps1", "eps2", "Sigma0", "mean_a", "mean_b")}}
        else:
            T = temps[int(np.argmin(np.abs(np.array(temps) - T_out)))]
            doc["softness"]["mean"] = best[f"mean@T={T:g}"]
            doc["rates"].update(A=best[f"A@T={T:g}"], gamma=best[f"gamma@T={T:g}"], delta=best[f"delta@T={T:g}"])
        try:
            return params_from_dict(doc)
        except ParameterError as exc:
            raise _fail(exc.parameter, f"the fitted value is not a valid parameter: {exc.condition}", exc.value) from None

    params = parameter_set()
    # the kick estimator's known bias at the fitted set (trsp_fit.systematics): corrected, with the
    # uncertainty of the correction as the kick parameters' systematic term
    systematic.update({k: 0.0 for k in KICK_PARAMETERS})
    correction = None
    if opts.kick_correction and meta["lattice"] is not None and meta["cluster_shape"] is not None:
        try:
            correction = kick_correction(params, st, se_K, se_pair, meta.get("kick_radius", math.inf))
        except (ParameterError, ValueError, np.linalg.LinAlgError) as exc:
            warnings.append(f"the kick estimator's bias correction could not be computed at the fitted parameters ({exc}); "
                            "sigma0 ... xi_rho are uncorrected (their bias is about 0.1% in the sets of docs/fit.md)")
        else:
            for k in KICK_PARAMETERS:
                best[k] -= correction["bias"][k]
            systematic.update(correction["systematic"])
            params = parameter_set()
    elif opts.kick_correction:
        warnings.append("not lattice data: the kick estimator's bias (about 0.1% of sigma0 in the sets of docs/fit.md, from the "
                        "part of the drift the regressors miss) is not corrected")
    # the written set must be a model on its lattice: K and rho positive definite, the kick within the
    # detailed-balance bound (trsp_fit.validity)
    check = model_check(params)
    warnings.extend(model_warnings(check))

    gof = {k[6:]: {"chi2": v[0], "dof": v[1]} for k, v in best.items() if k.startswith("_chi2_")}
    for k, p in enumerate(point["per_T"]):
        gof[f"rate_law T={p['T']:g}"] = {"chi2": p["rate_chi2"][0], "dof": p["rate_chi2"][1]}
    report = {
        "inputs": col.inputs,
        "temperatures": temps,
        "settings": {"neighbour_backend": NEIGHBOUR_BACKEND, "on_lattice": col.on_lattice, "blocks_per_file": opts.blocks_per_file,
                     "bootstrap_replicates": len(boot),
                     "bootstrap_units_per_temperature": {f"{T:g}": len(groups[T]) for T in temps},
                     "route": col.route, "isolation": st.isolation, "isolation_margin": st.isolation_margin, "cluster_size_rule": st.cluster_size,
                     "rate_estimator": {"events": "exact exposures (Poisson process)", "frames": "interval extrapolated to zero (proofs/fit_interval.py)" if kind == "instantaneous" else "fraction rearranging", "events and frames": "exact exposures (run files) and interval extrapolation (frames)"}[col.route],
                     "C_centring": "each frame on its own site mean; model C(r) - 1^T K 1 / N^2",
                     "C_centring_offset": est.centring_offset(*col.pair_distances, best["variance"], best["C1"], best["xi"]), "bootstrap_unit": "stretch of a file, resampled within each temperature", "bootstrap_units": col.units,
                     "before_frames": st.before, "after_frames": st.after, "r_background": st.r_background,
                     "frame_interval": dt, "seed": opts.seed},
        "duration": col.duration_info,
        "estimates": {k: {"value": float(best[k]), "error": errors[k], **({"systematic": systematic[k]} if k in systematic else {})}
                      for k in names},
        "goodness_of_fit": gof,
        "softness_moments": {f"T={p['T']:g}": {k: float(v) for k, v in p["moments"].items()} for p in point["per_T"]},
        "kick": {"background_variance": float(point["kick"]["background"]), "background_source": point["kick"]["background_source"],
                 "rearrangements_used": int(total["windows"][0]), "rearrangements_seen": int(total["windows"][3]),
                 "windows_without_rearrangement": int(total["windows"][2]),
                 "repeat_fraction": float(repeats),
                 "regressors": list(FEATURES),
                 "bias_correction": None if correction is None else {
                     "subtracted": correction["bias"], "computed_on_L": correction["lattice"],
                     "what": "the kick estimator's population bias at the fitted parameters (trsp_fit.systematics); the systematic "
                             "term is its change on a lattice two sites per side smaller (0 when computed on the data's own lattice)"}},
        "model_check": check,
        "particle_types": sorted({str(t) for i in col.inputs for t in (i.get("types_used") or [])}),
        "warnings": warnings,
    }
    plots = {"pair_distances": col.pair_distances, "rt_r": rt_r, "pr_r": pr_r, "corr_r": corr_r, "point": point, "best": best, "errors": errors, "temps": temps, "se_c": se_c, "se_K": se_K, "se_pair": se_pair,
             "se_theta": se_theta, "se_mean": se_mean, "settings": st, "duration": rate_duration}
    return FitResult(params, report, plots)
