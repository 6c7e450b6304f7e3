"""The liquid's own dynamical heterogeneity, from MD trajectories (issue 19; the paper's Sec. VII.A).

``trsp liquid summarize TRAJ... --out LIQUID.h5`` reads ``trsp md`` trajectories (any trajectory
:func:`trsp_traj.open_trajectory` reads; several runs per temperature) and writes a small
committable file (format ``trsp-liquid`` 1.0, :data:`ITEMS`; docs/results/README.md) from which
the comparison with TRSP (:mod:`trsp_obs.liquid_compare`) and its figure are made in seconds.

Definitions (the paper's, for the liquid; the lattice's are in trsp_obs.overlap):

* only the large particles (type A: "we consider only the large particles"), N_A of them;
* a particle is unmoved over (t0, t0 + t] when |r_i(t0 + t) - r_i(t0)| < a, a = 0.3 sigma_AA
  (the issue's cutoff), on **inherent-state** positions (the paper compares TRSP with the
  inherent-state Q and chi_4: the model describes transitions between inherent states, and
  thermal vibrations only add noise) and, for reference, on thermal positions;
* Q(t0, t) = (1/N_A) sum_i I_i(t0, t) (Eq. 31); every saved frame is a time origin t0 with
  t0 + t inside the run (a window past the end is never counted, as on the lattice); the lags
  are whole frames, log-spaced up to half the run (TRSP's lag grid also stops at t_max / 2);
* per run: the origin means of Q and Q^2 (trsp_md.analysis.overlap_origin_means);
* over the runs at one temperature (independent equilibrium runs, the replicas):
  chi_4(t) = N_A Var Q(t) (Eq. 32), tau_chi and chi_4* (the peak, refined by a parabola in
  log t) and bootstrap errors over runs: :func:`trsp_obs.heterogeneity.analyse`, TRSP's own
  estimator, on the runs stacked as replicas (no spatial arrays: S_4 and blocks are not
  defined here), not a second copy;
* tau_alpha: the first time Q(t) = 1/e, linear in log t between grid lags
  (:func:`trsp_obs.softness_memory.decay_time`, the one 1/e crossing of trsp_obs), with a
  bootstrap over runs (:func:`overlap_time`, used for TRSP's Q too).

Runs at one temperature must have the same frame interval and number of large particles; runs
of different lengths are cut to the shortest (the estimator needs one origin grid), which the
file records (``member_n_frames`` against ``n_frames_used``).  g_AA(r) and its first peak (the
TRSP lattice spacing, Sec. VI) come from the thermal positions of ``rdf_frames`` frames per run.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import sys
import time as _time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from trsp_ref.params import ParameterError
from trsp_runfile.schema import Item

from .results_schema import LIQUID_FORMAT

__all__ = [
    "LIQUID_FORMAT",
    "LIQUID_VERSION",
    "POSITIONS",
    "ITEMS",
    "frame_lags",
    "RunOverlap",
    "run_overlap",
    "runs_as_replicas",
    "overlap_time",
    "LiquidData",
    "summarize_liquid",
    "read_liquid",
]

LIQUID_VERSION = "1.0"
#: the two kinds of positions, in the order of the file's ``positions`` axis
POSITIONS = ("inherent", "thermal")
INV_E = math.exp(-1.0)


def frame_lags(n_frames: int, n_lags: int = 40, max_fraction: float = 0.5) -> np.ndarray:
    """Whole-frame lags 1 .. floor(max_fraction (n_frames - 1)), log-spaced, duplicates removed."""
    k_max = int(math.floor(max_fraction * (n_frames - 1)))
    if k_max < 3:
        raise ParameterError("TRAJ", f"needs at least {int(math.ceil(3 / max_fraction)) + 1} frames for a lag grid", n_frames)
    return np.unique(np.round(np.geomspace(1.0, k_max, n_lags)).astype(np.int64))


@dataclass(eq=False)
class RunOverlap:
    """One run's overlap statistics: origin means of Q and Q^2 per kind of positions (2, J) on the
    lags ``lags`` (frames), with every frame up to ``n_frames`` an origin."""

    path: str
    temperature: float
    frame_interval: float
    n_frames: int
    n_large: int
    box: float
    lags: np.ndarray
    q_mean: np.ndarray
    q_sq_mean: np.ndarray
    r: np.ndarray
    g_aa: np.ndarray
    digest: str = ""


def _large_positions(traj, large: np.ndarray, inherent: bool, n_frames: int) -> np.ndarray:
    """Unwrapped positions of the large particles, (n_frames, N_A, dim) float64."""
    out = np.empty((n_frames, large.size, traj.dim))
    for k, x in enumerate(traj.iter_unwrapped(inherent=inherent, stop=n_frames)):
        out[k] = x[large]
    return out


def run_overlap(path: str | Path, *, a: float = 0.3, n_frames: int | None = None, n_lags: int = 40,
                species: str = "A", rdf_frames: int = 20, r_max: float = 4.0) -> RunOverlap:
    """Q statistics of one trajectory (module docstring), its first ``n_frames`` frames (default all)."""
    from trsp_md.analysis import overlap_origin_means, radial_distribution
    from trsp_softness.apply import file_digest
    from trsp_traj import open_trajectory

    _head(Path(path), species)  # the same checks as the door's
    with open_trajectory(path) as traj:
        F = traj.n_frames if n_frames is None else min(int(n_frames), traj.n_frames)
        large = np.flatnonzero(traj.typeid == traj.type_names.index(species))
        lags = frame_lags(F, n_lags)
        qm, qs = np.empty((2, lags.size)), np.empty((2, lags.size))
        for p, kind in enumerate(POSITIONS):
            X = _large_positions(traj, large, kind == "inherent", F)
            qm[p], qs[p] = overlap_origin_means(X, lags, a=a)
            if kind == "thermal":  # g_AA from rdf_frames frames spread over the run (thermal positions)
                pick = np.unique(np.linspace(0, F - 1, min(rdf_frames, F)).astype(int))
                r, g = radial_distribution(X[pick], np.zeros(large.size, dtype=np.int64), float(traj.box[0]), 0, 0, r_max)
            del X
        return RunOverlap(str(path), float(traj.temperature), traj.frame_interval, F, int(large.size), float(traj.box[0]),
                          lags, qm, qs, r, g, file_digest(Path(path)))


def runs_as_replicas(lags: np.ndarray, q_mean: np.ndarray, q_sq_mean: np.ndarray, n_origins: np.ndarray, n_particles: int):
    """Runs (R, J) as trsp_obs.heterogeneity's replicas (StackedStats without spatial arrays), so
    that chi_4, tau_chi, chi_4* and their bootstrap come from TRSP's own estimator."""
    from .heterogeneity import StackedStats

    R, J = q_mean.shape
    nan = np.full((R, J, 1), np.nan)
    return StackedStats(np.asarray(lags, dtype=np.float64), np.asarray(n_origins), np.asarray(q_mean, dtype=np.float64),
                        np.asarray(q_sq_mean, dtype=np.float64), nan, nan.copy(), np.array([1]), int(n_particles), 3, 0, math.nan)


def overlap_time(lags: np.ndarray, q_mean: np.ndarray, rng: np.random.Generator | None, n_bootstrap: int,
                 level: float = INV_E) -> tuple[float, float]:
    """(tau, bootstrap error) of the first time the replica-mean Q(t) falls to ``level`` (1/e:
    tau_alpha), with replicas (rows of ``q_mean``) resampled; NaN when Q stays above ``level``,
    error inf when some resamples do not reach it (like tau_S)."""
    from .heterogeneity import bootstrap_error
    from .softness_memory import decay_time

    q_mean = np.asarray(q_mean, dtype=np.float64)
    tau = decay_time(lags, q_mean.mean(axis=0), level)
    if n_bootstrap <= 0 or q_mean.shape[0] < 2 or not math.isfinite(tau):
        return tau, math.nan
    draws = np.array([decay_time(lags, q_mean[rng.integers(0, q_mean.shape[0], q_mean.shape[0])].mean(axis=0), level)
                      for _ in range(n_bootstrap)])
    return tau, (math.inf if np.any(np.isnan(draws)) else float(bootstrap_error(draws)))


@dataclass(eq=False)
class LiquidData:
    """A trsp-liquid file in memory (module docstring; arrays on the file's axes)."""

    path: str
    temperatures: np.ndarray  # (T,)
    lag_time: np.ndarray  # (T, J), NaN padded
    Q: np.ndarray  # (positions, T, J)
    Q_err: np.ndarray
    chi4: np.ndarray
    chi4_err: np.ndarray
    tau_alpha: np.ndarray  # (positions, T)
    tau_alpha_err: np.ndarray
    tau_chi: np.ndarray
    tau_chi_err: np.ndarray
    chi4_star: np.ndarray
    chi4_star_err: np.ndarray
    peak_resolved: np.ndarray
    n_runs: np.ndarray  # (T,)
    member_q_mean: np.ndarray  # (positions, T, run, J)
    member_q_sq_mean: np.ndarray
    member_done: np.ndarray  # (T, run)
    n_origins: np.ndarray  # (T, J)
    gaa_peak: np.ndarray  # (T,)
    gaa_peak_height: np.ndarray
    r: np.ndarray
    g_aa: np.ndarray  # (T, r)
    attrs: dict = field(default_factory=dict)

    def positions_index(self, kind: str) -> int:
        return POSITIONS.index(kind)


def _head(path: Path, species: str) -> dict:
    """What the door checks of one trajectory, from its metadata and first frame."""
    from trsp_traj import open_trajectory

    with open_trajectory(path) as t:
        if t.temperature is None:
            raise ParameterError("TRAJ", f"{path}: records no temperature")
        if species not in t.type_names:
            raise ParameterError("--species", f"{path} has types {list(t.type_names)}", species)
        if not t.has_inherent:
            raise ParameterError("TRAJ", f"{path}: has no inherent-state positions (the comparison uses inherent-state Q; "
                                         "trsp md writes them)")
        if np.ptp(t.box) > 1e-9 * t.box[0]:
            raise ParameterError("TRAJ", f"{path}: the box is not cubic ({t.box.tolist()})")
        n = int(np.sum(t.typeid == t.type_names.index(species)))
        return {"path": path, "T": float(t.temperature), "key": round(float(t.temperature), 9), "n_frames": t.n_frames,
                "frame_interval": t.frame_interval, "n_large": n}


def _check_groups(heads: list[dict]) -> None:
    """>= 2 runs per temperature, each temperature one system (N_A, frame interval)."""
    groups: dict[float, list[dict]] = {}
    for h in heads:
        groups.setdefault(h["key"], []).append(h)
    for T, hs in groups.items():
        if len(hs) < 2:
            raise ParameterError("TRAJ", f"T = {T:g} has {len(hs)} run; chi_4 needs >= 2 independent runs per temperature "
                                         f"({hs[0]['path']})")
        for h in hs[1:]:
            if h["n_large"] != hs[0]["n_large"] or abs(h["frame_interval"] - hs[0]["frame_interval"]) > 1e-9 * hs[0]["frame_interval"]:
                raise ParameterError("TRAJ", f"{h['path']} is not the system of {hs[0]['path']} at T = {T:g} (number of "
                                             "large particles or frame interval differ)")


def _group_runs(runs: list[RunOverlap]) -> dict[float, list[RunOverlap]]:
    groups: dict[float, list[RunOverlap]] = {}
    for run in runs:
        groups.setdefault(round(run.temperature, 9), []).append(run)
    return dict(sorted(groups.items()))


def summarize_liquid(trajectories: list[str | Path], out: str | Path, *, a: float = 0.3, n_lags: int = 40,
                     species: str = "A", n_bootstrap: int = 1000, seed: int = 0, force: bool = False,
                     progress=None) -> dict:
    """Analyse every trajectory and write the trsp-liquid file ``out`` atomically; returns a dict
    {out, temperatures, runs, cpu_s}.  ``progress(msg)`` is called per trajectory when given."""
    from trsp_runfile.outputs import Output, OutputSet, check_distinct_inputs
    from trsp_runfile.resources import check_bootstrap_count

    from .heterogeneity import analyse

    paths = [Path(p) for p in trajectories]
    if not paths:
        raise ParameterError("TRAJ", "give at least two trajectories per temperature")
    check_distinct_inputs(paths, "TRAJ", "each run counts once")
    if not (math.isfinite(a) and a > 0):
        raise ParameterError("--a", "must be finite and > 0", a)
    if n_lags < 4:
        raise ParameterError("--lags", "must be >= 4", n_lags)
    check_bootstrap_count(n_bootstrap, "--bootstrap")
    outputs = OutputSet([Output("--out", Path(out))], inputs=paths, force=force)
    cpu0 = _time.process_time()

    # the door: every file opened and checked (temperature, species, inherent states, runs per T)
    # before any trajectory is read in full
    heads = [_head(p, species) for p in paths]
    frames_at: dict[float, int] = {}
    for h in heads:
        frames_at[h["key"]] = min(h["n_frames"], frames_at.get(h["key"], h["n_frames"]))
    _check_groups(heads)
    runs = []
    for h in heads:
        F = frames_at[h["key"]]
        if progress:
            progress(f"{h['path']} (T = {h['T']:g}, {F} of {h['n_frames']} frames)")
        runs.append(run_overlap(h["path"], a=a, n_frames=F, n_lags=n_lags, species=species))
    groups = _group_runs(runs)
    temps = np.array(list(groups))
    NT, R = temps.size, max(len(v) for v in groups.values())
    J = max(v[0].lags.size for v in groups.values())
    P = len(POSITIONS)
    nan = np.nan
    lag_time, n_orig = np.full((NT, J), nan), np.zeros((NT, J), dtype=np.int64)
    qm, qs = np.full((P, NT, R, J), nan), np.full((P, NT, R, J), nan)
    done, n_frames = np.zeros((NT, R), dtype=np.int8), np.zeros((NT, R), dtype=np.int64)
    source = np.full((NT, R), "", dtype=object)
    Qv, Qe, C, Ce = (np.full((P, NT, J), nan) for _ in range(4))
    scal = {k: np.full((P, NT), nan) for k in ("tau_alpha", "tau_alpha_err", "tau_chi", "tau_chi_err", "chi4_star",
                                                "chi4_star_err", "peak_resolved")}
    r = runs[0].r
    g = np.full((NT, r.size), nan)
    peak, height = np.full(NT, nan), np.full(NT, nan)
    n_used = np.zeros(NT, dtype=np.int64)
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    from trsp_md.analysis import first_peak

    for i, (T, rs) in enumerate(groups.items()):
        lags = rs[0].lags
        j = lags.size
        F = rs[0].n_frames
        n_used[i] = F
        lag_time[i, :j] = lags * rs[0].frame_interval
        n_orig[i, :j] = F - lags
        for k, run in enumerate(rs):
            qm[:, i, k, :j], qs[:, i, k, :j] = run.q_mean, run.q_sq_mean
            done[i, k] = 1
            source[i, k] = f"{Path(run.path).name} sha256:{run.digest}"
            n_frames[i, k] = next(h["n_frames"] for h in heads if str(h["path"]) == run.path)
        g[i] = np.mean([run.g_aa for run in rs], axis=0)
        peak[i], height[i] = first_peak(r, g[i])
        for p in range(P):
            st = runs_as_replicas(lag_time[i, :j], qm[p, i, : len(rs), :j], qs[p, i, : len(rs), :j], n_orig[i, :j], rs[0].n_large)
            h = analyse(st, rng=rng, n_bootstrap=n_bootstrap)
            Qv[p, i, :j], Qe[p, i, :j], C[p, i, :j], Ce[p, i, :j] = h.Q, h.Q_err, h.chi4, h.chi4_err
            tau_a, tau_a_err = overlap_time(lag_time[i, :j], st.q_mean, rng, n_bootstrap)
            for k, v in (("tau_alpha", tau_a), ("tau_alpha_err", tau_a_err), ("tau_chi", h.tau_chi), ("tau_chi_err", h.tau_chi_err),
                         ("chi4_star", h.chi4_star), ("chi4_star_err", h.chi4_star_err), ("peak_resolved", float(h.peak_resolved))):
                scal[k][p, i] = v
    cpu = _time.process_time() - cpu0
    attrs = dict(
        format=LIQUID_FORMAT, format_version=LIQUID_VERSION, a=float(a), species=species, n_large=int(runs[0].n_large),
        box=float(runs[0].box), frame_interval=float(runs[0].frame_interval), n_bootstrap=int(n_bootstrap), seed=int(seed),
        analysis_cpu_s=float(cpu), created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        software=f"trsp {_version()} (python {sys.version.split()[0]})",
        title="Kob-Andersen MD: overlap Q(t) and chi_4(t) of the large particles (trsp liquid summarize)",
        definition=json.dumps({"overlap": f"|r_i(t0 + t) - r_i(t0)| < {a:g} sigma_AA, type {species} only",
                               "chi4": "N_A Var Q (trsp_obs.heterogeneity)", "tau_alpha": "Q = 1/e, log-linear"}),
    )
    from .sweep.assemble import _dims, _var  # the sweep file's netCDF-4 writers (dimension scales)

    with outputs.writing() as w:
        import h5py

        with h5py.File(w.path("--out", ".h5"), "w") as h5:
            for k, v in attrs.items():
                h5.attrs[k] = v
            _dims(h5, {"positions": np.array(POSITIONS, dtype=object), "temperature": temps, "run": np.arange(R),
                       "lag": np.arange(J), "r": r}, {"r": {"long_name": "pair distance (sigma_AA)"}})
            _var(h5, "lag_time", lag_time, ("temperature", "lag"), "lag in MD time units (NaN: no lag at this index)")
            _var(h5, "n_origins", n_orig, ("temperature", "lag"), "time origins per run at this lag")
            _var(h5, "n_frames_used", n_used, ("temperature",), "frames per run used (the shortest run at this T)")
            _var(h5, "n_runs", done.sum(axis=1).astype(np.int64), ("temperature",), "runs combined")
            _var(h5, "member_done", done, ("temperature", "run"), "1 if this run slot holds a run")
            _var(h5, "member_n_frames", n_frames, ("temperature", "run"), "frames in the run's file")
            _var(h5, "member_source", source, ("temperature", "run"), "file name and the first 16 hex digits of its sha256")
            _var(h5, "member_q_mean", qm, ("positions", "temperature", "run", "lag"), "mean over origins of Q(t0, t)")
            _var(h5, "member_q_sq_mean", qs, ("positions", "temperature", "run", "lag"), "mean over origins of Q(t0, t)^2")
            for name, data, what in (("Q", Qv, "Q(t) (Eq. 31)"), ("Q_err", Qe, "bootstrap error of Q"),
                                     ("chi4", C, "chi_4(t) = N_A Var Q (Eq. 32)"), ("chi4_err", Ce, "bootstrap error of chi_4")):
                _var(h5, name, data, ("positions", "temperature", "lag"), what)
            long = {"tau_alpha": "first time Q = 1/e (log-linear)", "tau_alpha_err": "bootstrap error (inf: some resamples never reach 1/e)",
                    "tau_chi": "time of the chi_4 peak", "tau_chi_err": "bootstrap error", "chi4_star": "chi_4 peak",
                    "chi4_star_err": "bootstrap error", "peak_resolved": "0 if the chi_4 peak is at an end of the lag grid"}
            for k, v in scal.items():
                _var(h5, k, v, ("positions", "temperature"), long[k])
            _var(h5, "g_AA", g, ("temperature", "r"), "g_AA(r), thermal positions, mean over runs")
            _var(h5, "gAA_peak", peak, ("temperature",), "position of g_AA's first peak (sigma_AA): the TRSP lattice spacing")
            _var(h5, "gAA_peak_height", height, ("temperature",), "height of g_AA's first peak")
    return {"out": str(out), "temperatures": temps.tolist(), "runs": [len(v) for v in groups.values()], "cpu_s": cpu}


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("trsp")
    except Exception:  # pragma: no cover - not installed
        return "unknown"


_P, _T, _R, _J, _G = "positions", "temperature", "run", "lag", "r"


def _real(name: str, shape: tuple) -> Item:
    return Item(f"/{name}", "real", shape)


#: what :func:`read_liquid` reads, checked from the metadata at the door (trsp_runfile.schema)
ITEMS = (
    Item("/positions", "strings", (_P,)), _real("temperature", (_T,)), _real("lag_time", (_T, _J)),
    _real("n_origins", (_T, _J)), _real("r", (_G,)), _real("n_runs", (_T,)), Item("/member_done", "flag", (_T, _R)),
    _real("member_q_mean", (_P, _T, _R, _J)), _real("member_q_sq_mean", (_P, _T, _R, _J)),
    *(_real(n, (_P, _T, _J)) for n in ("Q", "Q_err", "chi4", "chi4_err")),
    *(_real(n, (_P, _T)) for n in ("tau_alpha", "tau_alpha_err", "tau_chi", "tau_chi_err", "chi4_star", "chi4_star_err",
                                   "peak_resolved")),
    _real("g_AA", (_T, _G)), _real("gAA_peak", (_T,)), _real("gAA_peak_height", (_T,)),
    Item("/@a", "real"), Item("/@n_large", "integer"), Item("/@box", "real"),
)  # fmt: skip


def read_liquid(path: str | Path, parameter: str = "--md") -> LiquidData:
    """Read a trsp-liquid file; ParameterError(``parameter``) naming the file and item otherwise."""
    from .results_schema import check_results, open_results

    with open_results(path, parameter, formats=(LIQUID_FORMAT,)) as h5:
        check_results(h5, ITEMS, parameter)
        d = {k: h5[k][()] for k in ("temperature", "lag_time", "Q", "Q_err", "chi4", "chi4_err", "tau_alpha", "tau_alpha_err",
                                     "tau_chi", "tau_chi_err", "chi4_star", "chi4_star_err", "peak_resolved", "n_runs",
                                     "member_q_mean", "member_q_sq_mean", "member_done", "n_origins", "gAA_peak",
                                     "gAA_peak_height", "r", "g_AA")}
        attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in h5.attrs.items()}
    return LiquidData(
        path=str(path), temperatures=d["temperature"], lag_time=d["lag_time"], Q=d["Q"], Q_err=d["Q_err"], chi4=d["chi4"],
        chi4_err=d["chi4_err"], tau_alpha=d["tau_alpha"], tau_alpha_err=d["tau_alpha_err"], tau_chi=d["tau_chi"],
        tau_chi_err=d["tau_chi_err"], chi4_star=d["chi4_star"], chi4_star_err=d["chi4_star_err"],
        peak_resolved=d["peak_resolved"], n_runs=d["n_runs"], member_q_mean=d["member_q_mean"],
        member_q_sq_mean=d["member_q_sq_mean"], member_done=d["member_done"], n_origins=d["n_origins"],
        gaa_peak=d["gAA_peak"], gaa_peak_height=d["gAA_peak_height"], r=d["r"], g_aa=d["g_AA"], attrs=attrs,
    )  # fmt: skip
