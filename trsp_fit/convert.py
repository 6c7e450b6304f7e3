"""Run files (lattice trajectories) as particle data: the converter behind ``trsp to-particles``.

A lattice run is made of instantaneous events.  The converter samples it at frames
t_k = t0 + k * frame_interval (the state in effect at t_k: after the last event with time
<= t_k) and marks ``rearranging[k, i]`` when site i belongs to the cluster of an event in
(t_{k-1}, t_k] (``kind = "instantaneous"``).  Positions are the lattice sites, optionally
jittered off the lattice (a fixed Gaussian displacement per particle) so that the particle
route of ``trsp fit`` (freud neighbour queries, pair-distance binning) can be tested on data
whose answer is known.

Only the geometry (lattice, cluster shape) and the temperature T are read from ``/params``;
never the softness, rate or kick values: the fit must find those from the trajectory.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from trsp_ref.lattice import cluster_sites, site_coords
from trsp_ref.params import ParameterError
from trsp_runfile import RunFile, TrspFileError, apply_changes

from .particles import ParticleData

__all__ = ["runfile_to_particles", "frame_count", "DEFAULT_DURATION", "DEFAULT_FRAME_INTERVAL"]

#: the paper's rearrangement duration (Sec. V: "roughly 4 tau"); lattice events are instantaneous,
#: so the data fix only A / duration and the duration is a given value
DEFAULT_DURATION = 4.0
#: time between frames (MD time units)
DEFAULT_FRAME_INTERVAL = 1.0


def frame_count(run: RunFile, frame_interval: float) -> int:
    """The frames :func:`runfile_to_particles` makes of ``run``: t0, t0 + dt, ... up to the end
    of its observation window ("full" runs), or its snapshots ("light" runs).  Known from the
    run's header alone, so the frames' memory can be estimated before they are made."""
    if run.mode == "full":
        return int(math.floor((run.checkpoint.observed_until - run.t0) / frame_interval + 1e-9)) + 1
    return int(run.checkpoint.n_snapshots)


def runfile_to_particles(
    path: str | os.PathLike,
    *,
    frame_interval: float = DEFAULT_FRAME_INTERVAL,
    duration: float = DEFAULT_DURATION,
    jitter: float = 0.0,
    seed: int | None = 0,
    temperature: float | None = None,
) -> ParticleData:
    """Convert one run file (``trsp simulate`` output, "full" mode or with snapshots) to particle data.

    frame_interval : time between frames; the frames are t0, t0 + dt, ... up to the end of the
        observation window (``observed_until``).  Ignored for "light" runs, whose snapshots are the frames.
    duration : the rearrangement duration to record (given, not measured: events are instantaneous).
    jitter : standard deviation of the fixed random displacement of each particle, in lattice
        spacings (0 = on the lattice).
    seed : seeds the jitter (numpy SeedSequence).
    temperature : the temperature to record; default the run's ``[temperature] T``, or 1.0 when
        the run has no ``[temperature]`` section (then a single-temperature fit does not use it).
    """
    for name, v, lo in (("--frame-interval", frame_interval, 0.0), ("--duration", duration, 0.0)):
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v > lo):
            raise ParameterError(name, "must be a finite number > 0", v)
    if not (math.isfinite(jitter) and jitter >= 0):
        raise ParameterError("--jitter", "must be a finite number >= 0", jitter)
    run = RunFile.open(path)
    lat, shape = run.params.lattice, run.params.cluster.shape  # geometry only
    if temperature is None:
        temperature = run.params.temperature.T if run.params.temperature is not None else 1.0
    ev = run.events
    t_end = run.checkpoint.observed_until
    if ev.has_changes:
        n_frames = frame_count(run, frame_interval)
        frames = run.t0 + frame_interval * np.arange(n_frames)
        S = np.empty((n_frames, run.N))
        state = run.S0.copy()
        o = ev.change_offsets
        upto = np.searchsorted(ev.times, frames, side="right")
        done = 0
        for k, n in enumerate(upto):
            if n > done:
                apply_changes(state, ev.change_sites[o[done] : o[n]], ev.after[o[done] : o[n]])
                done = n
            S[k] = state
    else:
        snaps = run.snapshots
        if len(snaps) < 2:
            raise TrspFileError(run.path, "a 'light' run needs at least 2 snapshots to be converted (or record it in 'full' mode)", "/snapshots")
        frames, S = snaps.time.copy(), snaps.S.copy()
        n_frames = frames.shape[0]
    if n_frames < 2:
        raise TrspFileError(run.path, f"observes {t_end - run.t0:.4g} time units, less than two frames of {frame_interval:g}")
    rearranging = np.zeros((n_frames, run.N), dtype=bool)
    k_of_event = np.searchsorted(frames, ev.times, side="left")
    keep = (k_of_event >= 1) & (k_of_event < n_frames)
    members = cluster_sites(lat.dim, lat.L, shape)[ev.clusters[keep]]
    rearranging[np.repeat(k_of_event[keep], members.shape[1]), members.ravel()] = True
    positions = site_coords(lat.dim, lat.L).astype(np.float64) * lat.spacing
    if jitter > 0:
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed)))
        positions = positions + rng.normal(0.0, jitter * lat.spacing, size=positions.shape)
    box = np.full(lat.dim, lat.L * lat.spacing)
    data = ParticleData(
        time=frames,
        box=box,
        positions=np.mod(positions, box),
        types=np.zeros(run.N, np.int64),
        softness=S,
        rearranging=rearranging,
        temperature=float(temperature),
        kind="instantaneous",
        duration=float(duration),
        lattice={"L": lat.L, "spacing": lat.spacing, "on_lattice": jitter == 0},
        cluster_shape=shape,
        source=f"trsp run file {Path(path).name} (run_id {run.run_id}), jitter {jitter:g} spacings",
        name=str(path),
        n_rearrangements=np.bincount(k_of_event[keep], minlength=n_frames).astype(np.int64),
    )
    return data.validate()
