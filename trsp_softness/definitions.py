"""The structure functions of Appendix A: which ones, in which order, under which names.

A :class:`StructureFunctionSet` fixes every feature g_alpha of Eq. 1 (S_i = w0 + sum_alpha w_alpha
g_alpha,i): the radial functions (Eq. A1, as corrected in proofs/ERRATA.md)

    G_b(i; mu, sigma) = sum_{j of type b, r_ij < sigma_max} exp(-(r_ij - mu)^2 / sigma^2),

one per neighbour type b and centre mu, and the angular functions (Eq. A2, corrected)

    Psi_bc(i; xi, lambda, zeta) = sum_{pairs {j, k}, j != k, types {b, c}, r_ij < sigma_max, r_ik < sigma_max}
                                  exp(-(r_ij^2 + r_ik^2 + r_jk^2) / xi^2) (1 + lambda cos theta_jik)^zeta,

one per unordered neighbour-type pair {b, c} and (xi, lambda, zeta) triple, each unordered pair
{j, k} counted once.  Sums run over every periodic image of every particle (the centre's own
images included, for boxes smaller than 2 sigma_max).  Lengths are in units of sigma_AA.

:func:`paper_set` is the paper's set: mu = 0.05, 0.10, ..., 5.00, sigma = 0.05, sigma_max = 5 and
the 22 (xi, lambda, zeta) triples of Cubuk et al. 2015 (the paper's ref. [21]) for each of the
three type pairs AA, AB, BB: 2 x 100 + 3 x 22 = 266 functions, the paper's M = 266 (Sec. II).
docs/softness.md gives the provenance of the triples.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from trsp_ref.params import ParameterError

__all__ = ["StructureFunctionSet", "paper_set", "PAPER_ANGULAR", "PAPER_MU", "PAPER_SIGMA", "PAPER_SIGMA_MAX"]

#: Appendix A: mu = 0.05 sigma_AA, 0.10 sigma_AA, ..., 5 sigma_AA
PAPER_MU = np.round(0.05 * np.arange(1, 101), 10)
#: Appendix A: sigma = 0.05 sigma_AA
PAPER_SIGMA = 0.05
#: Appendix A: sigma_max = 5 sigma_AA (radial and angular sums)
PAPER_SIGMA_MAX = 5.0
#: (xi, lambda, zeta): the 22 triples of ref. [21] (Cubuk et al., PRL 114, 108001 (2015)),
#: taken per neighbour-type pair (3 pairs x 22 = the paper's 66).  The last 18 are the set in
#: S. A. Ridout's own softness code (github.com/saridout/structure_dynamics_across_dimensions_code,
#: lib_softness/scripts/static_df.py); docs/softness.md says where the first four come from.
PAPER_ANGULAR = np.array(
    [(14.638, -1, 1), (14.638, 1, 1), (14.638, -1, 2), (14.638, 1, 2),
     (2.554, -1, 1), (2.554, 1, 1), (2.554, -1, 2), (2.554, 1, 2),
     (1.648, 1, 1), (1.648, 1, 2),
     (1.204, 1, 1), (1.204, 1, 2), (1.204, 1, 4), (1.204, 1, 16),
     (0.933, 1, 1), (0.933, 1, 2), (0.933, 1, 4), (0.933, 1, 16),
     (0.695, 1, 1), (0.695, 1, 2), (0.695, 1, 4), (0.695, 1, 16)],
    dtype=np.float64,
)


@dataclass(frozen=True)
class StructureFunctionSet:
    """Every structure function of one descriptor set, in feature order (radial, then angular).

    type_names : names of the neighbour types, in type-id order (the radial functions are per
        neighbour type, the angular ones per unordered type pair).
    mu : (M_r,) radial centres; sigma : radial width; sigma_max : cut-off of every sum.
    angular : (M_a, 3) rows (xi, lambda, zeta) with xi > 0, lambda in {-1, +1}, zeta > 0.
    """

    type_names: tuple[str, ...]
    mu: np.ndarray = field(default_factory=lambda: PAPER_MU.copy())
    sigma: float = PAPER_SIGMA
    sigma_max: float = PAPER_SIGMA_MAX
    angular: np.ndarray = field(default_factory=lambda: PAPER_ANGULAR.copy())

    def __post_init__(self):
        object.__setattr__(self, "type_names", tuple(str(t) for t in self.type_names))
        object.__setattr__(self, "mu", np.asarray(self.mu, dtype=np.float64).reshape(-1))
        object.__setattr__(self, "angular", np.asarray(self.angular, dtype=np.float64).reshape(-1, 3))
        if not self.type_names:
            raise ParameterError("structure.type_names", "needs at least one type")
        if not (np.isfinite(self.sigma) and self.sigma > 0):
            raise ParameterError("structure.sigma", "must be finite and > 0", self.sigma)
        if not (np.isfinite(self.sigma_max) and self.sigma_max > 0):
            raise ParameterError("structure.sigma_max", "must be finite and > 0", self.sigma_max)
        if not np.all(np.isfinite(self.mu)) or np.any(np.diff(self.mu) <= 0):
            raise ParameterError("structure.mu", "must be finite and strictly increasing")
        xi, lam, zeta = self.angular.T
        if not (np.all(np.isfinite(self.angular)) and np.all(xi > 0) and np.all(zeta > 0) and np.all(np.abs(lam) == 1)):
            raise ParameterError("structure.angular", "rows must be (xi > 0, lambda = +-1, zeta > 0)")

    @property
    def n_types(self) -> int:
        return len(self.type_names)

    @property
    def type_pairs(self) -> list[tuple[int, int]]:
        """Unordered neighbour-type pairs (b <= c), in the order of the angular features."""
        return list(itertools.combinations_with_replacement(range(self.n_types), 2))

    @property
    def n_radial(self) -> int:
        return self.n_types * self.mu.shape[0]

    @property
    def n_angular(self) -> int:
        return len(self.type_pairs) * self.angular.shape[0]

    @property
    def n_features(self) -> int:
        return self.n_radial + self.n_angular

    def names(self) -> list[str]:
        """One name per feature, e.g. ``G[A](mu=0.05)`` and ``Psi[AB](xi=2.554,lambda=-1,zeta=1)``."""
        out = [f"G[{b}](mu={m:g})" for b in self.type_names for m in self.mu]
        for b, c in self.type_pairs:
            pair = self.type_names[b] + self.type_names[c] if max(len(self.type_names[b]), len(self.type_names[c])) == 1 \
                else f"{self.type_names[b]},{self.type_names[c]}"
            out += [f"Psi[{pair}](xi={x:g},lambda={int(l):d},zeta={z:g})" for x, l, z in self.angular]
        return out

    def same_as(self, other: "StructureFunctionSet") -> bool:
        return (self.type_names == other.type_names and np.array_equal(self.mu, other.mu) and self.sigma == other.sigma
                and self.sigma_max == other.sigma_max and np.array_equal(self.angular, other.angular))


def paper_set(type_names: Sequence[str], sigma_max: float = PAPER_SIGMA_MAX) -> StructureFunctionSet:
    """Appendix A's set for a system whose types are ``type_names`` (KA: ('A', 'B') -> 266 functions).

    ``sigma_max`` below the paper's 5 shortens every sum and drops the radial centres beyond it
    (a cheaper set for quick runs; the model file records the set used)."""
    if not (np.isfinite(sigma_max) and 0 < sigma_max):
        raise ParameterError("--sigma-max", "must be finite and > 0", sigma_max)
    mu = PAPER_MU[PAPER_MU <= sigma_max + 1e-12]
    if mu.size == 0:
        raise ParameterError("--sigma-max", f"must be at least the first radial centre {PAPER_MU[0]:g}", sigma_max)
    return StructureFunctionSet(type_names=tuple(type_names), mu=mu, sigma_max=float(sigma_max))
