"""The Kob-Andersen 80:20 binary Lennard-Jones mixture (Kob & Andersen, PRE 51, 4626 (1995)).

Pair potential between a particle of species a and one of species b (Eq. 1 of KA 1995):

    V_ab(r) = 4 eps_ab [ (sigma_ab / r)^12 - (sigma_ab / r)^6 ]  -  V_ab^0,   r < r_c,ab
    V_ab(r) = 0,                                                               r >= r_c,ab

cut AND shifted at r_c,ab = 2.5 sigma_ab (the shift V_ab^0 = 4 eps_ab [2.5^-12 - 2.5^-6] makes V
continuous at the cut; the force jumps there, as in the original model).  Equal masses m = 1.

Units: Lennard-Jones units of the A-A pair: lengths sigma_AA, energies eps_AA, masses m,
time tau = sigma_AA sqrt(m / eps_AA), temperature eps_AA / k_B.

This module holds the numbers and the plain closed form (one place); the engine
(:mod:`trsp_md.engine`) hands the same numbers to LAMMPS, and the tests check LAMMPS' energies
and forces against a brute-force pair sum built on :func:`pair_energy`.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "TYPES",
    "EPSILON",
    "SIGMA",
    "CUTOFF_FACTOR",
    "cutoff",
    "shift",
    "pair_energy",
    "pair_force_over_r",
    "box_length",
    "species_counts",
]

#: species names, in typeid order (the GSD file's ``particles/types``)
TYPES = ("A", "B")
#: eps_ab (KA 1995): eps_AA = 1, eps_AB = 1.5, eps_BB = 0.5
EPSILON = np.array([[1.0, 1.5], [1.5, 0.5]])
#: sigma_ab (KA 1995): sigma_AA = 1, sigma_AB = 0.8, sigma_BB = 0.88
SIGMA = np.array([[1.0, 0.8], [0.8, 0.88]])
#: the cut, in units of sigma_ab
CUTOFF_FACTOR = 2.5


def cutoff(a: int, b: int) -> float:
    """r_c,ab = 2.5 sigma_ab."""
    return CUTOFF_FACTOR * float(SIGMA[a, b])


def shift(a: int, b: int) -> float:
    """V_ab^0 = 4 eps_ab [(sigma_ab / r_c)^12 - (sigma_ab / r_c)^6], the unshifted LJ value at the cut."""
    s = 1.0 / CUTOFF_FACTOR
    return 4.0 * float(EPSILON[a, b]) * (s**12 - s**6)


def pair_energy(r, a: int, b: int):
    """V_ab(r), cut and shifted (module docstring); r may be an array."""
    r = np.asarray(r, dtype=float)
    sr6 = (SIGMA[a, b] / r) ** 6
    v = 4.0 * EPSILON[a, b] * (sr6 * sr6 - sr6) - shift(a, b)
    return np.where(r < cutoff(a, b), v, 0.0)


def pair_force_over_r(r, a: int, b: int):
    """-V'_ab(r) / r (the force on the first particle is this times r_vec = r_1 - r_2); 0 beyond the cut."""
    r = np.asarray(r, dtype=float)
    sr6 = (SIGMA[a, b] / r) ** 6
    f = 24.0 * EPSILON[a, b] * (2.0 * sr6 * sr6 - sr6) / (r * r)
    return np.where(r < cutoff(a, b), f, 0.0)


def box_length(n_particles: int, density: float) -> float:
    """Side L of the cubic periodic box: N / L^3 = density."""
    return (n_particles / density) ** (1.0 / 3.0)


def species_counts(n_particles: int, fraction_a: float) -> tuple[int, int]:
    """(N_A, N_B) with N_A = round(fraction_a * N): 800 and 200 for the standard N = 1000."""
    n_a = int(math.floor(fraction_a * n_particles + 0.5))
    return n_a, n_particles - n_a
