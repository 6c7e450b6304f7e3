"""Run files (lattice trajectories) as frames: the converter behind ``trsp to-particles`` and
``trsp fit --frame-interval``.

A lattice run is made of instantaneous events.  The converter samples it at frames
t_k = t0 + k * frame_interval (the state in effect at t_k: after the last event with time
<= t_k) and marks ``rearranging[k, i]`` when site i belongs to the cluster of an event in
(t_{k-1}, t_k] (``kind = "instantaneous"``).  Positions are the lattice sites, optionally
jittered off the lattice (a fixed Gaussian displacement per particle) so that the particle
route of ``trsp fit`` (freud neighbour queries, pair-distance binning) can be tested on data
whose answer is known.

:func:`run_frames` yields the frames in consecutive pieces while it replays the events chunk
by chunk, so memory is bounded by a piece, not the run (:class:`RunFrames`, the fit's frame
source for run files; :func:`runfile_to_particles` concatenates them for ``to-particles``).

Only the geometry (lattice, cluster shape) and the temperature T are read from ``/params``;
never the softness, rate or kick values: the fit must find those from the trajectory.
"""

from __future__ import annotations

import math
import os
from collections import deque
from pathlib import Path
from typing import Iterator

import numpy as np

from trsp_ref.lattice import cluster_sites, site_coords
from trsp_ref.params import ParameterError
from trsp_runfile import RunFile, TrspFileError, apply_changes

from .particles import ParticleData
from .sources import FrameSource

__all__ = ["runfile_to_particles", "run_frames", "RunFrames", "frame_count", "DEFAULT_DURATION", "DEFAULT_FRAME_INTERVAL", "run_temperature"]

#: the paper's rearrangement duration (Sec. V: "roughly 4 tau"); lattice events are instantaneous,
#: so the data fix only A / duration and the duration is a given value
DEFAULT_DURATION = 4.0
#: time between frames of ``trsp to-particles`` (MD time units); ``trsp fit`` reads run files
#: event by event unless given a frame interval (docs/fit.md)
DEFAULT_FRAME_INTERVAL = 1.0


def _check(frame_interval: float, duration: float, jitter: float = 0.0) -> None:
    for name, v in (("--frame-interval", frame_interval), ("--duration", duration)):
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
            raise ParameterError(name, "must be a finite number > 0", v)
    if not (isinstance(jitter, (int, float)) and math.isfinite(jitter) and jitter >= 0):
        raise ParameterError("--jitter", "must be a finite number >= 0", jitter)


def run_temperature(run: RunFile, temperature: float | None = None) -> float:
    """The temperature to record: given, else the run's ``[temperature] T``, else 1.0."""
    if temperature is not None:
        return float(temperature)
    return float(run.params.temperature.T) if run.params.temperature is not None else 1.0


def frame_count(run: RunFile, frame_interval: float) -> int:
    """The frames :func:`runfile_to_particles` makes of ``run``: t0, t0 + dt, ... up to the end
    of its observation window ("full" runs), or its snapshots ("light" runs).  Known from the
    run's header alone, so the frames' memory can be estimated before they are made."""
    if run.mode == "full":
        return int(math.floor((run.checkpoint.observed_until - run.t0) / frame_interval + 1e-9)) + 1
    return int(run.checkpoint.n_snapshots)


def frame_times(run: RunFile, frame_interval: float) -> np.ndarray:
    """t0, t0 + dt, ... up to the end of the observation window (``observed_until``); snapshots for 'light' runs."""
    if run.mode != "full":
        t = run.snapshot_times()
        if t.shape[0] < 2:
            raise TrspFileError(run.path, "a 'light' run needs at least 2 snapshots to be converted (or record it in 'full' mode)", "/snapshots")
        return t
    n = frame_count(run, frame_interval)
    if n < 2:
        raise TrspFileError(run.path, f"observes {run.checkpoint.observed_until - run.t0:.4g} time units, less than two frames of {frame_interval:g}")
    return run.t0 + frame_interval * np.arange(n)


def run_frames(run: RunFile, frames: np.ndarray) -> Iterator[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
    """Consecutive pieces (k0, S (n, N), rearranging (n, N) bool, events per frame (n,)) of the
    frames at times ``frames``, replaying the events chunk by chunk (memory: one chunk)."""
    lat, shape = run.params.lattice, run.params.cluster.shape  # geometry only
    members = cluster_sites(lat.dim, lat.L, shape)
    n_frames = frames.shape[0]
    full = run.mode == "full"
    state = run.S0.copy() if full else None
    k_done = 0  # frames emitted
    pending_flags: list[tuple[np.ndarray, np.ndarray]] = []  # (frame index, cluster id) of events not yet emitted

    def emit(upto: int, last_chunk) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
        """Frames k_done .. upto-1, with the events of ``last_chunk`` (times, clusters, offsets, sites, after) applied as needed."""
        nonlocal k_done
        n = upto - k_done
        S = np.empty((n, run.N))
        F = np.zeros((n, run.N), dtype=bool)
        counts = np.zeros(n, np.int64)
        if full:
            times, _, o, sites, after = last_chunk
            upto_ev = np.searchsorted(times, frames[k_done:upto], side="right")
            done = 0
            for i, ne in enumerate(upto_ev):
                if ne > done:
                    apply_changes(state, sites[o[done] : o[ne]], after[o[done] : o[ne]])
                    done = ne
                S[i] = state
        else:
            for i in range(n):
                S[i] = run.snapshot_state(k_done + i)
        for ks, cl in pending_flags:
            sel = (ks >= k_done) & (ks < upto)
            if sel.any():
                kk = ks[sel] - k_done
                m = members[cl[sel]]
                F[np.repeat(kk, m.shape[1]), m.ravel()] = True
                counts += np.bincount(kk, minlength=n)
        pending_flags[:] = [(ks[ks >= upto], cl[ks >= upto]) for ks, cl in pending_flags if (ks >= upto).any()]
        k0 = k_done
        k_done = upto
        return k0, S, F, counts

    chunks = run.iter_events() if run.n_events else iter(())
    empty = (np.zeros(0), np.zeros(0, np.int64), np.zeros(1, np.int64), np.zeros(0, np.int64), np.zeros(0))
    for rec in chunks:
        k_of = np.searchsorted(frames, rec.times, side="left")  # event in (t_{k-1}, t_k] -> frame k
        keep = (k_of >= 1) & (k_of < n_frames)
        pending_flags.append((k_of[keep], rec.clusters[keep]))
        # every frame whose time is before this chunk's last event can be completed now ... except
        # that later events with the same time as the chunk's last still belong to it: stop one short
        upto = int(np.searchsorted(frames, rec.times[-1], side="left"))
        chunk = (rec.times, rec.clusters, rec.change_offsets, rec.change_sites, rec.after) if full else None
        if upto > k_done:
            yield emit(upto, chunk)
        elif full:
            apply_changes(state, rec.change_sites, rec.after)
            continue
        if full:  # the rest of the chunk's events (times >= frames[upto]) are applied now
            a = int(np.searchsorted(rec.times, frames[upto - 1], side="right"))
            o = rec.change_offsets
            apply_changes(state, rec.change_sites[o[a] :], rec.after[o[a] :])
    if k_done < n_frames:
        yield emit(n_frames, empty if full else None)


def _jittered_positions(run: RunFile, jitter: float, seed: int | None) -> np.ndarray:
    lat = run.params.lattice
    positions = site_coords(lat.dim, lat.L).astype(np.float64) * lat.spacing
    if jitter > 0:
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed)))
        positions = positions + rng.normal(0.0, jitter * lat.spacing, size=positions.shape)
    return np.mod(positions, lat.L * lat.spacing)


class RunFrames(FrameSource):
    """A run file sampled at ``frame_interval`` as a frame source (read sequentially, streamed)."""

    def __init__(self, path, *, frame_interval: float = DEFAULT_FRAME_INTERVAL, duration: float = DEFAULT_DURATION,
                 jitter: float = 0.0, seed: int | None = 0, temperature: float | None = None):
        _check(frame_interval, duration, jitter)
        self.run = run = RunFile.open(path)
        lat = run.params.lattice
        self.time = frame_times(run, frame_interval)
        self.box = np.full(lat.dim, lat.L * lat.spacing)
        self.types = np.zeros(run.N, np.int64)
        self.type_names = None
        self.temperature = run_temperature(run, temperature)
        self.kind = "instantaneous"
        self.duration = float(duration)
        self.lattice = {"L": lat.L, "spacing": lat.spacing, "on_lattice": jitter == 0}
        self.cluster_shape = run.params.cluster.shape
        self.source = f"trsp run file {Path(path).name} (run_id {run.run_id}), jitter {jitter:g} spacings"
        self.name = str(path)
        self.static_positions = _jittered_positions(run, jitter, seed)
        self.kick_radius = float(run.truncation.kick_radius)  # the simulated model's kick window (trsp_fit.systematics)
        self._gen = None
        self._buf: deque = deque()
        self._next = 0

    def _read(self, lo, hi):
        if self._gen is None or lo < self._next - sum(p[1].shape[0] for p in self._buf):
            self._gen, self._buf, self._next = run_frames(self.run, self.time), deque(), 0
        while self._next < hi:
            piece = next(self._gen)
            self._buf.append(piece)
            self._next = piece[0] + piece[1].shape[0]
        while self._buf and self._buf[0][0] + self._buf[0][1].shape[0] <= lo:
            self._buf.popleft()
        S = np.concatenate([p[1] for p in self._buf])
        F = np.concatenate([p[2] for p in self._buf])
        a = lo - self._buf[0][0]
        return S[a : a + hi - lo], F[a : a + hi - lo], None


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
    src = RunFrames(path, frame_interval=frame_interval, duration=duration, jitter=jitter, seed=seed, temperature=temperature)
    pieces = list(run_frames(src.run, src.time))
    data = ParticleData(
        time=src.time,
        box=src.box,
        positions=src.static_positions,
        types=src.types,
        softness=np.concatenate([p[1] for p in pieces]),
        rearranging=np.concatenate([p[2] for p in pieces]),
        temperature=src.temperature,
        kind="instantaneous",
        duration=src.duration,
        lattice=src.lattice,
        cluster_shape=src.cluster_shape,
        source=src.source,
        name=str(path),
        n_rearrangements=np.concatenate([p[3] for p in pieces]),
    )
    return data.validate()
