"""Rearranging and non-rearranging training examples from p_hop (Sec. II of the paper).

* A **rearrangement** of particle i is a maximal run of frames with p_hop > p_c (the paper's
  detection threshold, 0.2).  Runs whose peak exceeds 0.6 are the rearranging examples; each
  gives one example, the particle's structure at the first frame of window A when the run begins
  (``start - h``): the configuration before the particle moved (the Liu group's
  ``constructTrainingSetHopsv2``, docs/softness.md).
* The **non-rearranging** examples: the frames where p_hop is defined are tiled with disjoint
  windows of W frames (W ~ 2 tau_alpha); a particle whose p_hop stays below 0.02 through a window
  gives one example, its structure at the window's middle frame.
* Only particles of the trained types (the paper: the large A particles) take part; the classes
  are balanced by drawing the same number from each (at most ``max_per_class``), with a seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from trsp_ref.params import ParameterError

__all__ = ["TrainingThresholds", "Examples", "find_examples", "rearrangement_runs", "balance"]


@dataclass(frozen=True)
class TrainingThresholds:
    """rearranging: run peak above this (paper 0.6); event: p_c of a run (paper 0.2); quiet: p_hop
    below this through the window (paper 0.02); all in sigma_AA^2."""

    rearranging: float = 0.6
    event: float = 0.2
    quiet: float = 0.02

    def check(self) -> "TrainingThresholds":
        for name, v in (("--rearranging-p-hop", self.rearranging), ("--event-p-hop", self.event), ("--quiet-p-hop", self.quiet)):
            if not (np.isfinite(v) and v > 0):
                raise ParameterError(name, "must be finite and > 0", v)
        if not self.quiet < self.event <= self.rearranging:
            raise ParameterError("--quiet-p-hop/--event-p-hop/--rearranging-p-hop",
                                 f"need quiet < event <= rearranging (got {self.quiet}, {self.event}, {self.rearranging})")
        return self


@dataclass
class Examples:
    """Candidate examples of one trajectory: (frame, particle) pairs, frame = absolute frame index."""

    rearranging: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.int64))
    quiet: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.int64))


def rearrangement_runs(flags: np.ndarray) -> list[tuple[int, int, int]]:
    """(particle, first, last) of every maximal run of True along axis 0 of flags (frames, particles)."""
    runs = []
    F, _ = flags.shape
    padded = np.zeros((F + 2, flags.shape[1]), dtype=np.int8)
    padded[1:-1] = flags
    d = np.diff(padded, axis=0)
    starts = np.argwhere(d == 1)
    ends = np.argwhere(d == -1)
    starts = starts[np.lexsort((starts[:, 0], starts[:, 1]))]
    ends = ends[np.lexsort((ends[:, 0], ends[:, 1]))]
    for (s, i), (e, _) in zip(starts, ends):
        runs.append((int(i), int(s), int(e) - 1))
    return runs


def find_examples(p_hop: np.ndarray, h: int, particles: np.ndarray, window: int, th: TrainingThresholds) -> Examples:
    """Candidates from p_hop (F, n) of the selected ``particles`` (n,) at frames h .. h + F - 1.

    ``window``: W frames of the non-rearranging windows (W <= F is checked by the caller)."""
    particles = np.asarray(particles, dtype=np.int64)
    F = p_hop.shape[0]
    rearr = []
    for col, s, e in rearrangement_runs(p_hop > th.event):
        if p_hop[s: e + 1, col].max() > th.rearranging:
            # p_hop row s is frame s + h, whose window A starts h frames earlier: frame s
            rearr.append((s, particles[col]))
    quiet = []
    for w0 in range(0, F - window + 1, window):
        ok = np.all(p_hop[w0: w0 + window] < th.quiet, axis=0)
        mid = w0 + window // 2 + h
        quiet += [(mid, particles[c]) for c in np.flatnonzero(ok)]
    return Examples(rearranging=np.array(rearr, dtype=np.int64).reshape(-1, 2),
                    quiet=np.array(quiet, dtype=np.int64).reshape(-1, 2))


def balance(n_rearranging: int, n_quiet: int, max_per_class: int, min_per_class: int, rng: np.random.Generator):
    """Indices (rearranging, quiet) of a balanced draw, or a ParameterError naming what is missing."""
    for name, n, what in (("rearranging", n_rearranging, "p_hop runs peaking above --rearranging-p-hop"),
                          ("non-rearranging", n_quiet, "particle-windows with p_hop below --quiet-p-hop")):
        if n < min_per_class:
            raise ParameterError(
                "training set", f"too few {name} examples: found {n} ({what}), need at least {min_per_class} "
                                f"(--min-examples); use a longer or lower-temperature trajectory, or relax the thresholds")
    n = min(n_rearranging, n_quiet, max_per_class)
    return (np.sort(rng.choice(n_rearranging, size=n, replace=False)),
            np.sort(rng.choice(n_quiet, size=n, replace=False)))
