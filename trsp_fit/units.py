"""Bootstrap units of ``trsp fit``: stretches of files long enough to be independent of each other.

The bootstrap resamples units (docs/fit.md, "Errors"), so its errors are right only when units are
nearly independent.  Files are (independent equilibrium starts), but stretches of one file are not
when the slowest mode of the softness field (on a periodic box, its site mean, the q = 0 mode)
relaxes over a good part of the file.  So the fit reads each file in many short stretches
(additive statistics), measures the integrated autocorrelation time tau of the site mean and of the
site variance of its sampled frames (the slowest modes it estimates from), and merges consecutive
stretches into units at least :data:`UNIT_TAUS` tau long: adjacent units are then correlated by
about tau / (2 x unit length) <= 5%, which biases the bootstrap variance by <= 10%.  Files too short
for that are one unit each; the errors then come from the spread between files.
"""

from __future__ import annotations

import math

import numpy as np

from .statistics import UnitStats

__all__ = ["UNIT_TAUS", "SUB_UNITS", "integrated_time", "merge_units", "units_per_file"]

#: a bootstrap unit spans at least this many integrated autocorrelation times of the slowest mode
UNIT_TAUS = 10.0
#: each file is read in SUB_UNITS x (the largest number of units per file) stretches, merged afterwards
SUB_UNITS = 4
#: Sokal's window: the sum of the autocorrelation runs to the first lag W >= SOKAL_C x tau(W)
SOKAL_C = 5.0


def integrated_time(series: list[np.ndarray]) -> tuple[float, bool]:
    """The correlation time, in frames, of the per-frame series (columns: site mean, site variance; one
    array per file), the larger over the columns: the integrated time tau = 1/2 + sum_t rho(t) with
    Sokal's automatic window, or the first lag where rho < 1/e if that is longer; the autocovariances
    pooled over files, about one mean for all.  Returns (tau, resolved): resolved is False when the
    window condition or the e-folding was never met within the files (they are shorter than a few tau;
    tau is then a lower bound)."""
    series = [s for s in series if s.shape[0] >= 4]
    if not series:
        return 0.5, False
    n_max = max(s.shape[0] for s in series)
    worst, resolved = 0.5, True
    for col in range(series[0].shape[1]):
        acov = np.zeros(n_max)
        count = np.zeros(n_max)
        grand = np.concatenate([s[:, col] for s in series]).mean()  # one mean for all files: less bias at long lags
        for s in series:
            x = s[:, col] - grand
            n = x.size
            f = np.fft.rfft(x, 2 * n)
            a = np.fft.irfft(f * np.conj(f), 2 * n)[:n]
            acov[:n] += a
            count[:n] += np.arange(n, 0, -1)
        c = acov / np.maximum(count, 1)
        if not c[0] > 0:
            continue
        rho = c / c[0]
        taus = 0.5 + np.cumsum(rho[1:])  # tau(W) for W = 1, 2, ...
        W = np.arange(1, rho.size)
        ok = np.flatnonzero(W >= SOKAL_C * taus)
        below = np.flatnonzero(rho < math.exp(-1.0))
        if ok.size and below.size:
            # Sokal's window stops early when a slow tail hides in the noise: also the e-folding lag
            tau = max(float(taus[ok[0]]), float(below[0]))
        else:
            tau, resolved = float(np.max(taus)) if taus.size else 0.5, False
        worst = max(worst, tau)
    return worst, resolved


def units_per_file(frames_per_file: list[int], tau: float, resolved: bool, most: int, least_total: int = 0) -> list[int]:
    """Units per file: as many as fit UNIT_TAUS x tau frames each, between 1 and ``most``; then, if that
    makes fewer than ``least_total`` units in all, more per file (shorter units: the caller warns)."""
    if resolved:
        n = [int(min(most, max(1, math.floor(f / (UNIT_TAUS * tau))))) for f in frames_per_file]
    else:
        n = [1] * len(frames_per_file)
    if sum(n) < least_total:
        need = math.ceil(least_total / max(1, len(frames_per_file)))
        n = [max(k, min(most, need)) for k in n]
    return n


def merge_units(fine: list[UnitStats], n: int) -> list[UnitStats]:
    """``fine`` (consecutive stretches of one file) merged into ``n`` consecutive units."""
    groups = np.array_split(np.arange(len(fine)), min(n, len(fine)))
    return [sum((fine[i] for i in g[1:]), fine[g[0]]) for g in groups]
