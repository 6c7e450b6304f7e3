"""The one in-memory record of a block of consecutive events (docs/formats.md, ``/events``).

:class:`EventRecord` is what the simulator yields (``trsp_fast.Simulation.run``), what the
reader returns (``RunFile.events``, ``RunFile.iter_events``), what the writer appends
(``RunWriter.append_events``) and what the verifier and the observables consume: one type,
with the field names of the simulator and the observables (``times``, ``clusters``), for
every block of events from a whole run down to a chunk of a streaming replay.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["EventRecord"]


@dataclass(frozen=True, eq=False)
class EventRecord:
    """A block of consecutive events.

    times    : (n,) absolute event times (MD units), non-decreasing
    clusters : (n,) int64 fired cluster ids (orientation * N + anchor, docs/model.md)
    and, for a "full" record (every site change known; None in a "light" one):
    change_offsets : (n + 1,) int64; event ``j`` changed the entries
                     ``change_offsets[j] : change_offsets[j+1]`` of the three arrays below
                     (``change_offsets[0]`` need not be 0: a record may index into larger arrays)
    change_sites   : site index of each change
    before, after  : the site's value just before and just after the event
    """

    times: np.ndarray
    clusters: np.ndarray
    change_offsets: np.ndarray | None = None
    change_sites: np.ndarray | None = None
    before: np.ndarray | None = None
    after: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.times.shape[0])

    @property
    def has_changes(self) -> bool:
        """Every site change is recorded (a "full" record), so the trajectory can be replayed."""
        return self.change_offsets is not None

    @property
    def n_changes(self) -> int:
        if self.change_offsets is None:
            return 0
        return int(self.change_offsets[-1] - self.change_offsets[0])

    def compact(self) -> "EventRecord":
        """The same events with change arrays of their own, indexed from 0 (``change_offsets[0] == 0``)."""
        if not self.has_changes:
            return self
        o = np.asarray(self.change_offsets, dtype=np.int64)
        a, b = int(o[0]), int(o[-1])
        if a == 0 and b == len(self.change_sites) and (self.before is None or len(self.before) == b):
            return self
        return EventRecord(
            self.times,
            self.clusters,
            o - a,
            self.change_sites[a:b],
            None if self.before is None else self.before[a:b],
            self.after[a:b],
        )

    def slice(self, lo: int, hi: int) -> "EventRecord":
        """Events ``lo .. hi-1`` (views, change offsets rebased to 0)."""
        if not self.has_changes:
            return EventRecord(self.times[lo:hi], self.clusters[lo:hi])
        o = self.change_offsets
        a, b = int(o[lo]), int(o[hi])
        return EventRecord(
            self.times[lo:hi],
            self.clusters[lo:hi],
            o[lo : hi + 1] - a,
            self.change_sites[a:b],
            None if self.before is None else self.before[a:b],
            self.after[a:b],
        )

    def chunks(self, size: int):
        """Consecutive sub-records of at most ``size`` events (views)."""
        n = len(self)
        for lo in range(0, n, max(1, int(size))):
            yield self.slice(lo, min(n, lo + size))
