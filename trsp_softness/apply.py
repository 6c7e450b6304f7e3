"""`trsp softness apply`: a model and trajectories -> particle-data files `trsp fit` reads.

For every frame where p_hop is defined (frames h .. K - h), the particles of the types the model
was trained on get S = w0 + w . g (the model's structure functions, on the model's kind of
positions) and p_hop; the file (docs/formats-particles.md, format 1.1) holds softness, p_hop with
the paper's threshold p_c = 0.2, ``rearrangement_kind = "sustained"``, positions per frame, type
ids with ``type_names``, the temperature and a ``source`` line of provenance.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from trsp_fit.particles import DEFAULT_P_HOP_THRESHOLD, ParticleData
from trsp_softness.model_file import SoftnessModel
from trsp_softness.structure import structure_functions
from trsp_softness.trajectories import check_frames, note, progress_bar, select_types, trajectory_p_hop
from trsp_traj import Trajectory, TrajectoryError

__all__ = ["ApplyOptions", "apply_model", "apply_all", "check_compatible", "file_digest", "frame_features", "score_frames"]


@dataclass
class ApplyOptions:
    p_hop_window: float | None = None  # None: the model's t_R
    p_hop_threshold: float = DEFAULT_P_HOP_THRESHOLD
    progress: bool = True


def file_digest(path: Path) -> str:
    """The first 16 hex digits of a file's SHA-256 (provenance)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def check_compatible(model: SoftnessModel, traj: Trajectory) -> None:
    """The trajectory is a system the model can score: same dimension and types (names, in order)."""
    if traj.dim != model.dim:
        raise TrajectoryError(traj.path, f"is a {traj.dim}D system; the model {model.path} was trained on a {model.dim}D one")
    if traj.type_names != model.structure.type_names:
        raise TrajectoryError(
            traj.path, f"has types {list(traj.type_names)}; the model {model.path} was trained on types "
                       f"{list(model.structure.type_names)} (rename the trajectory's types with --type-names if they are the same)")
    if select_types(traj, model.trained_types).size < 2:
        raise TrajectoryError(traj.path, f"has fewer than 2 particles of the trained types {list(model.trained_types)}")


def frame_features(traj: Trajectory, frames: np.ndarray, particles: np.ndarray, structure, inherent: bool,
                   progress: bool = False, label: str = "structure functions"):
    """Yield (row, positions of every particle, structure functions of ``particles``) per frame."""
    with progress_bar(progress, len(frames), f"{label} {traj.path.name}") as advance:
        for row, k in enumerate(frames):
            p = traj.positions(int(k), inherent=inherent)
            yield row, p, structure_functions(p, traj.box, traj.typeid, particles, structure)
            advance()


def score_frames(model: SoftnessModel, traj: Trajectory, frames: np.ndarray, particles: np.ndarray, inherent: bool,
                 progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Softness (len(frames), n) of ``particles`` at ``frames`` and their positions (len(frames), n, dim)."""
    soft = np.empty((len(frames), particles.size))
    pos = np.empty((len(frames), particles.size, traj.dim))
    for row, p, g in frame_features(traj, frames, particles, model.structure, inherent, progress, "softness"):
        soft[row] = model.softness(g)
        pos[row] = p[particles]
    return soft, pos


def apply_model(model: SoftnessModel, traj: Trajectory, opts: ApplyOptions) -> ParticleData:
    """Softness and p_hop of the trained types on every frame with p_hop defined."""
    check_compatible(model, traj)
    if traj.temperature is None:
        raise TrajectoryError(traj.path, "records no temperature: give it with --temperature")
    inherent = model.positions == "inherent"
    if inherent and not traj.has_inherent:
        note(f"{traj.path} has no inherent states: p_hop and the structure functions use thermal positions "
             "(the model was trained on inherent ones)")
        inherent = False
    t_r = model.p_hop_window if opts.p_hop_window is None else opts.p_hop_window
    h = check_frames(traj, t_r)
    particles = select_types(traj, model.trained_types)
    ph = trajectory_p_hop(traj, h, inherent, particles, opts.progress)
    frames = np.arange(h, h + ph.shape[0])
    if frames.size < 2:
        raise TrajectoryError(traj.path, f"p_hop is defined on {frames.size} frame(s); a particle-data file needs at least 2 "
                                         f"(more than {2 * h} frames, or a shorter --p-hop-window)")
    soft, pos = score_frames(model, traj, frames, particles, inherent, opts.progress)
    kind = "inherent" if inherent else "thermal"
    source = (f"trsp softness apply: model {model.path} (sha256 {file_digest(Path(model.path))}, trained on "
              f"{list(model.trained_types)} at T = {model.temperature:g}); trajectory {traj.path} ({traj.format}, "
              f"sha256 {file_digest(traj.path)}, times from {traj.time_source}); p_hop on {kind} positions, "
              f"t_R = {t_r:g} (2 x {h} frames), threshold {opts.p_hop_threshold:g}; structure functions and positions: "
              f"{kind}; frames {frames[0]}..{frames[-1]} of {traj.n_frames}")
    return ParticleData(
        time=traj.time[frames].copy(), box=traj.box.copy(), positions=pos, types=traj.typeid[particles].copy(),
        softness=soft, rearranging=ph > opts.p_hop_threshold, temperature=float(traj.temperature), kind="sustained",
        source=source, name=str(traj.path), type_names=traj.type_names, p_hop=ph, p_hop_threshold=opts.p_hop_threshold,
    ).validate()


def apply_all(model: SoftnessModel, trajs: Sequence[Trajectory], outputs: Sequence[Path], opts: ApplyOptions,
              write) -> list[Path]:
    """Apply to each trajectory and ``write(data, out)`` each file as soon as it is done."""
    big = float(np.max(np.abs(model.svm.weights)))
    if not np.isfinite(model.svm.min_spread) and big > 1e6:
        note(f"the model {model.path} (format 1.0) has weights up to {big:.3g}: it was trained before features of "
             "negligible training spread were left out, and its S can be astronomically large; retrain it")
    for t in trajs:
        check_compatible(model, t)
        if t.temperature is None:
            raise TrajectoryError(t.path, "records no temperature: give it with --temperature")
    done = []
    for t, out in zip(trajs, outputs):
        write(apply_model(model, t, opts), out)
        done.append(out)
    return done
