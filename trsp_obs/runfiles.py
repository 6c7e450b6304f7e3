"""Observables from HDF5 run files (trsp_runfile.runfile, docs/formats.md).

* :func:`event_log`: the run's events as an :class:`~trsp_obs.overlap.EventLog` for
  :func:`~trsp_obs.overlap.replica_stats` (observed from t0 to the checkpoint's
  ``observed_until``: no event is missing in that interval).
* :func:`mean_softness_replayed`: the site-averaged S at any times, exactly, from a "full"
  file's recorded changes (vectorized replay of the sum of S; aging curves, Fig. 8).
* :func:`mean_softness_snapshots`: the site-averaged S of each stored snapshot (any file).
"""

from __future__ import annotations

import numpy as np

from trsp_ref.params import ParameterError

from .overlap import EventLog

__all__ = ["event_log", "mean_softness_replayed", "mean_softness_snapshots"]


def event_log(run) -> EventLog:
    """The events of ``run`` (a ``trsp_runfile.runfile.RunFile``) on [t0, observed_until]."""
    ev = run.events
    return EventLog(ev.times, ev.clusters, float(run.t0), float(run.checkpoint.observed_until))


def mean_softness_replayed(run, times) -> np.ndarray:
    """<S>_sites at each of ``times`` (the state after every event at or before t), replayed
    from S0 with the recorded changes of a "full" file.  Times must lie in [t0, observed_until]."""
    if run.mode != "full":
        raise ParameterError("run", "is a 'light' run file: use mean_softness_snapshots (no changes recorded)", str(run.path))
    times = np.asarray(times, dtype=np.float64)
    if np.any(times < run.t0) or np.any(times > run.checkpoint.observed_until) or not np.all(np.isfinite(times)):
        raise ParameterError("times", f"must lie in the observed interval [{run.t0}, {run.checkpoint.observed_until}]")
    # sum of S after event e: sum(S0) + cumulative sum over events of each event's total change,
    # streamed chunk by chunk (memory bounded by one chunk, not the run)
    per_event, event_times = [], []
    for rec in run.iter_events():
        owner = np.repeat(np.arange(len(rec)), np.diff(rec.change_offsets))
        per_event.append(np.bincount(owner, weights=rec.after - rec.before, minlength=len(rec)))
        event_times.append(rec.times)
    cum = np.concatenate(([0.0], np.cumsum(np.concatenate(per_event)) if per_event else []))
    all_times = np.concatenate(event_times) if event_times else np.zeros(0)
    k = np.searchsorted(all_times, times, side="right")  # events at or before t
    return (float(np.sum(run.S0)) + cum[k]) / run.N


def mean_softness_snapshots(run) -> tuple[np.ndarray, np.ndarray]:
    """(times, <S>_sites) of the run's snapshots (empty arrays if it has none)."""
    snap = run.snapshots
    return snap.time.copy(), snap.S.mean(axis=1) if len(snap) else np.zeros(0)
