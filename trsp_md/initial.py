"""Random starting configurations and Maxwell-Boltzmann velocities (every draw from a Generator passed in).

The start is a simple cubic lattice of ceil(N^(1/3))^3 sites in the box, N of them chosen at
random and given the species at random (N_A of type A); the protocol then melts it at
``melt_temperature``.  Velocities are Gaussian with variance T (k_B = m = 1) per component,
with the centre-of-mass velocity removed so that the NVE production does not drift (the mean
squared displacement would otherwise pick up a ballistic term).
"""

from __future__ import annotations

import math

import numpy as np

from .engine import MdState
from .model import box_length, species_counts
from .params import MdParams

__all__ = ["lattice_start", "maxwell_boltzmann", "kinetic_temperature"]


def maxwell_boltzmann(rng: np.random.Generator, n: int, temperature: float, *, exact: bool = False) -> np.ndarray:
    """(n, 3) velocities at ``temperature``, total momentum zero; ``exact``: rescaled so that the
    kinetic temperature (3n - 3 degrees of freedom) is exactly ``temperature``."""
    v = rng.normal(0.0, math.sqrt(temperature), size=(n, 3))
    v -= v.mean(axis=0)
    if exact and n > 1:
        v *= math.sqrt(temperature / kinetic_temperature(v))
    return v


def kinetic_temperature(v: np.ndarray) -> float:
    """2 K / (3N - 3): the kinetic temperature with the total momentum fixed (m = k_B = 1)."""
    n = v.shape[0]
    return float(np.sum(v * v) / max(3 * n - 3, 1))


def lattice_start(p: MdParams, rng: np.random.Generator) -> MdState:
    """The random lattice start of ``p`` at the melt temperature (module docstring)."""
    N = p.system.n_particles
    L = box_length(N, p.system.density)
    n_a, _ = species_counts(N, p.system.fraction_a)
    n = math.ceil(round(N ** (1.0 / 3.0), 9))
    grid = np.stack(np.meshgrid(*[np.arange(n)] * 3, indexing="ij"), axis=-1).reshape(-1, 3)
    sites = rng.choice(grid.shape[0], size=N, replace=False)
    x = (grid[sites] + 0.5) * (L / n) - L / 2.0
    typeid = np.zeros(N, dtype=np.int64)
    typeid[rng.permutation(N)[: N - n_a]] = 1
    # no velocities yet: the first thermostat block draws them
    return MdState(x, np.zeros((N, 3), dtype=np.int64), np.zeros((N, 3)), typeid, L, 0)
