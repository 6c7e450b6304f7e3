"""`trsp softness train`: trajectories at one temperature -> a softness model file (Sec. II).

The steps, each in its own module: p_hop on every trajectory (:mod:`~trsp_softness.p_hop`), the
non-rearranging window 2 tau_alpha (:mod:`~trsp_softness.relaxation`), candidate examples and a
balanced draw (:mod:`~trsp_softness.training_set`), the structure functions of the drawn
examples only (:mod:`~trsp_softness.structure`), the cross-validated linear SVM
(:mod:`~trsp_softness.classifier`) and the model file (:mod:`~trsp_softness.model_file`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from trsp_ref.params import ParameterError
from trsp_softness.classifier import DEFAULT_C_GRID, DEFAULT_MIN_SPREAD, fit_linear_svm
from trsp_softness.definitions import PAPER_SIGMA_MAX, paper_set
from trsp_softness.model_file import SoftnessModel
from trsp_softness.p_hop import DEFAULT_T_R
from trsp_softness.relaxation import DEFAULT_Q, measure_tau_alpha
from trsp_softness.structure import structure_functions
from trsp_softness.trajectories import check_frames, note, position_kind, progress_bar, select_types, trajectory_p_hop
from trsp_softness.training_set import TrainingThresholds, balance, find_examples
from trsp_traj import Trajectory, TrajectoryError

__all__ = ["TrainOptions", "train_model", "SLOW_WINDOW_TAU_ALPHA"]

#: the non-rearranging window in units of tau_alpha (the paper: 1000 tau ~ 2 tau_alpha)
SLOW_WINDOW_TAU_ALPHA = 2.0
#: at most this many particles enter the F_s(q, t) estimate of tau_alpha
_FS_PARTICLES = 500


@dataclass
class TrainOptions:
    """Options of `trsp softness train` (docs/softness.md explains each default)."""

    types: tuple[str, ...] | None = None  # trained types; None: the first type (the paper's A)
    positions: str = "auto"
    p_hop_window: float = DEFAULT_T_R
    thresholds: TrainingThresholds = field(default_factory=TrainingThresholds)
    slow_window: float | None = None  # None: 2 tau_alpha measured
    q: float = DEFAULT_Q
    max_per_class: int = 2000
    min_per_class: int = 20
    test_fraction: float = 0.2
    folds: int = 5
    c_grid: tuple[float, ...] = DEFAULT_C_GRID
    sigma_max: float = PAPER_SIGMA_MAX  # the cut-off of the structure functions (Appendix A: 5)
    min_spread: float = DEFAULT_MIN_SPREAD  # features of smaller training spread are dropped
    seed: int = 0
    progress: bool = True

    def check(self) -> "TrainOptions":
        self.thresholds.check()
        if self.slow_window is not None and not (math.isfinite(self.slow_window) and self.slow_window > 0):
            raise ParameterError("--slow-window", "must be finite and > 0", self.slow_window)
        if not (math.isfinite(self.q) and self.q > 0):
            raise ParameterError("--q", "must be finite and > 0", self.q)
        if self.min_per_class < 2:
            raise ParameterError("--min-examples", "must be >= 2", self.min_per_class)
        if self.max_per_class < self.min_per_class:
            raise ParameterError("--max-examples", f"must be >= --min-examples ({self.min_per_class})", self.max_per_class)
        if not 0.0 < self.test_fraction < 1.0:
            raise ParameterError("--test-fraction", "must be in (0, 1)", self.test_fraction)
        if self.folds < 2:
            raise ParameterError("--cv-folds", "must be >= 2", self.folds)
        if not self.c_grid or any(not (math.isfinite(c) and c > 0) for c in self.c_grid):
            raise ParameterError("--c-grid", "must list penalties C > 0", self.c_grid)
        if not (math.isfinite(self.min_spread) and self.min_spread >= 0):
            raise ParameterError("--min-spread", "must be finite and >= 0", self.min_spread)
        paper_set(("A",), self.sigma_max)  # checks --sigma-max
        return self


def _slow_window_frames(traj: Trajectory, particles: np.ndarray, opts: TrainOptions) -> tuple[int, float, float | None]:
    """(W frames, window time, tau_alpha or None when given)."""
    dt = traj.frame_interval
    if opts.slow_window is not None:
        return max(1, int(round(opts.slow_window / dt))), opts.slow_window, None
    rng = np.random.default_rng(opts.seed)
    sub = particles if particles.size <= _FS_PARTICLES else np.sort(rng.choice(particles, _FS_PARTICLES, replace=False))
    pos = np.stack([p[sub] for p in traj.iter_unwrapped(inherent=False)])
    tau = measure_tau_alpha(pos, opts.q, dt)
    if tau is None:
        raise TrajectoryError(
            traj.path, f"cannot measure tau_alpha: F_s(q = {opts.q:g}) stays above 1/e for the whole trajectory "
                       f"({traj.time[-1] - traj.time[0]:g} time units); give the non-rearranging window with --slow-window")
    window = SLOW_WINDOW_TAU_ALPHA * tau
    return max(1, int(round(window / dt))), window, tau


def train_model(trajs: Sequence[Trajectory], opts: TrainOptions) -> SoftnessModel:
    """Train a softness model on ``trajs`` (checked, same system); nothing is written here."""
    opts.check()
    first = trajs[0]
    for t in trajs[1:]:
        if t.dim != first.dim or t.type_names != first.type_names:
            raise TrajectoryError(t.path, f"is a {t.dim}D system with types {list(t.type_names)}; the first trajectory "
                                          f"({first.path}) is {first.dim}D with {list(first.type_names)}: train on one system")
    types = tuple(opts.types) if opts.types else (first.type_names[0],)
    missing = [n for n in types if n not in first.type_names]
    if missing:
        raise ParameterError("--types", f"{missing} are not types of the trajectory (its types: {list(first.type_names)})")
    if not opts.types:
        note(f"training on type {types[0]!r} (the first type; the paper trains on the large A particles; choose with --types)")
    fs = paper_set(first.type_names, opts.sigma_max)
    kinds = [position_kind(t, opts.positions) for t in trajs]
    if len(set(kinds)) > 1:
        raise ParameterError("--positions", f"the trajectories differ in inherent states ({kinds}); choose --positions thermal")
    kind = kinds[0]
    hs = [check_frames(t, opts.p_hop_window) for t in trajs]
    cands = []  # (traj index, Examples)
    windows = []
    for ti, (t, h) in enumerate(zip(trajs, hs)):
        particles = select_types(t, types)
        ph = trajectory_p_hop(t, h, kind == "inherent", particles, opts.progress)
        W, window, tau = _slow_window_frames(t, particles, opts)
        if W > ph.shape[0]:
            raise TrajectoryError(
                t.path, f"too few frames for the non-rearranging window: p_hop is defined on {ph.shape[0]} frames, "
                        f"the window ({window:g} time units{' = 2 tau_alpha' if tau is not None else ''}) needs {W}")
        windows.append({"window": window, "frames": W, "tau_alpha": tau})
        cands.append(find_examples(ph, h, particles, W, opts.thresholds))
    rearr = np.vstack([np.c_[np.full(len(c.rearranging), i), c.rearranging] for i, c in enumerate(cands)]).astype(np.int64)
    quiet = np.vstack([np.c_[np.full(len(c.quiet), i), c.quiet] for i, c in enumerate(cands)]).astype(np.int64)
    rng = np.random.default_rng(opts.seed)
    ir, iq = balance(len(rearr), len(quiet), opts.max_per_class, opts.min_per_class, rng)
    chosen = np.vstack([rearr[ir], quiet[iq]])
    label = np.r_[np.ones(len(ir), bool), np.zeros(len(iq), bool)]
    X = np.empty((len(chosen), fs.n_features))
    by_frame = defaultdict(list)
    for row, (ti, k, i) in enumerate(chosen):
        by_frame[(int(ti), int(k))].append((row, int(i)))
    with progress_bar(opts.progress, len(by_frame), "structure functions") as advance:
        for (ti, k), items in sorted(by_frame.items()):
            t = trajs[ti]
            rows = np.array([r for r, _ in items])
            X[rows] = structure_functions(t.positions(k, inherent=kind == "inherent"), t.box, t.typeid,
                                          np.array([i for _, i in items]), fs)
            advance()
    svm = fit_linear_svm(X[label], X[~label], c_grid=opts.c_grid, folds=opts.folds, test_fraction=opts.test_fraction,
                         seed=opts.seed, min_spread=opts.min_spread)
    dropped = int(np.sum(~svm.used))
    if dropped:
        names = fs.names()
        shown = [names[i] for i in np.flatnonzero(~svm.used)[:4]]
        note(f"{dropped} of {fs.n_features} structure functions have a training spread below --min-spread "
             f"{opts.min_spread:g} and are left out (weight 0; e.g. {', '.join(shown)}{', ...' if dropped > 4 else ''})")
    temps = [t.temperature for t in trajs]
    known = [x for x in temps if x is not None]
    if known and max(known) - min(known) > 1e-9 * max(known):
        note(f"training trajectories have different temperatures {known}; the model records their mean")
    tau_list = [w["tau_alpha"] for w in windows]
    training = {
        "sources": [str(t.path) for t in trajs],
        "source_formats": [t.format for t in trajs],
        "source_temperatures": np.array([np.nan if x is None else x for x in temps], dtype=np.float64),
        "source_frames": np.array([t.n_frames for t in trajs], dtype=np.int64),
        "time_source": [t.time_source for t in trajs],
        "rearranging_p_hop": opts.thresholds.rearranging,
        "event_p_hop": opts.thresholds.event,
        "quiet_p_hop": opts.thresholds.quiet,
        "slow_window": np.array([w["window"] for w in windows], dtype=np.float64),
        "slow_window_source": "given (--slow-window)" if opts.slow_window is not None else f"{SLOW_WINDOW_TAU_ALPHA:g} tau_alpha, F_s(q = {opts.q:g}) = 1/e",
        "tau_alpha": np.array([np.nan if x is None else x for x in tau_list], dtype=np.float64),
        "q": opts.q,
        "candidates_rearranging": int(len(rearr)),
        "candidates_non_rearranging": int(len(quiet)),
        "examples_per_class": int(len(ir)),
        "max_examples_per_class": opts.max_per_class,
        "min_examples_per_class": opts.min_per_class,
        "test_fraction": opts.test_fraction,
        "cv_folds": opts.folds,
        "seed": opts.seed,
        "svm": "sklearn.svm.LinearSVC(loss='hinge') on standardised features",
    }
    return SoftnessModel(structure=fs, svm=svm, dim=first.dim, trained_types=types, positions=kind,
                         p_hop_window=opts.p_hop_window, frame_interval=first.frame_interval,
                         temperature=float(np.mean(known)) if known else float("nan"), training=training)
