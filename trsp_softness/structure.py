"""Structure functions of a configuration: the feature vectors g_i of Eq. 1 (Appendix A).

:func:`structure_functions` is the one entry point (training, applying, benchmarks): neighbour
list (:mod:`trsp_softness.neighbours`), then the Numba kernels (:mod:`trsp_softness.kernels`).
The definitions, with the corrections of proofs/ERRATA.md, are in
:mod:`trsp_softness.definitions`; the tests check this against a brute-force oracle.
"""

from __future__ import annotations

import numpy as np

from trsp_ref.params import ParameterError
from trsp_softness.definitions import StructureFunctionSet
from trsp_softness.kernels import (PAPER_EXP, PAPER_LAYOUT, RADIAL_ZERO, SLOTS, UNIFORM_MAX_STEPS, UNIFORM_MU_TOL,
                                   angular_generic, angular_kernel, angular_kernel_paper, exp_error, radial_kernel,
                                   radial_kernel_uniform)
from trsp_softness.neighbours import neighbour_list

__all__ = ["structure_functions", "radial_functions"]

_SLOT = {s: i for i, s in enumerate(SLOTS)}


def _angular_plan(fs: StructureFunctionSet):
    """Distinct xi values, the kernel mode of each, and where each triple's value lands."""
    xi, lam, zeta = fs.angular.T
    fast = np.array([(int(l), int(z)) in _SLOT and float(z).is_integer() for l, z in zip(lam, zeta)], dtype=bool)
    groups = sorted(set(xi[fast].tolist()), reverse=True)
    gidx = np.array([groups.index(x) if f else -1 for x, f in zip(xi, fast)], dtype=np.int64)
    slot = np.array([_SLOT[(int(l), int(z))] if f else -1 for l, z, f in zip(lam, zeta, fast)], dtype=np.int64)
    mode = np.zeros(len(groups), dtype=np.int64)
    for g in range(len(groups)):
        used = {SLOTS[s] for s, gg in zip(slot, gidx) if gg == g}
        if used <= {(1, 1), (1, 2), (-1, 1), (-1, 2)}:
            mode[g] = 0
        elif all(l == 1 for l, _ in used):
            mode[g] = 1
        else:
            mode[g] = 2
    inv_xi2 = 1.0 / np.asarray(groups, dtype=np.float64) ** 2 if groups else np.zeros(0)
    return fast, gidx, slot, mode, inv_xi2


def radial_functions(nl, fs: StructureFunctionSet, out: np.ndarray) -> None:
    """out[c, b * M + m] += G_b(centre c; mu_m, sigma) (Eq. A1) for the neighbour list ``nl``.

    Equally spaced centres (the paper's grid) take the two-exponential recurrence of
    radial_kernel_uniform where its error bound holds; any other set the direct kernel."""
    mu = fs.mu
    if mu.shape[0] >= 2:
        h = (mu[-1] - mu[0]) / (mu.shape[0] - 1)
        # a centre off the grid by delta moves the exponent by up to 2 |z| delta / sigma, |z| <= sqrt(RADIAL_ZERO)
        off = np.max(np.abs(mu - (mu[0] + h * np.arange(mu.shape[0])))) * 2.0 * np.sqrt(RADIAL_ZERO) / fs.sigma
        if off <= UNIFORM_MU_TOL and np.sqrt(RADIAL_ZERO) * fs.sigma / h <= UNIFORM_MAX_STEPS:
            radial_kernel_uniform(nl.offsets, nl.distance, nl.ntype, float(mu[0]), float(h), mu.shape[0],
                                  1.0 / fs.sigma, fs.n_types, out)
            return
    radial_kernel(nl.offsets, nl.distance, nl.ntype, mu, 1.0 / fs.sigma, fs.n_types, out)


def _paper_layout_xi(fs: StructureFunctionSet) -> np.ndarray | None:
    """The six xi of a set laid out as PAPER_LAYOUT (each within its exponential's range), else None."""
    rows = [(g, lz) for g, group in enumerate(PAPER_LAYOUT) for lz in group]
    if fs.angular.shape[0] != len(rows):
        return None
    xi = np.full(len(PAPER_LAYOUT), np.nan)
    for (g, (lam, zeta)), (x, l, z) in zip(rows, fs.angular):
        if (l, z) != (lam, zeta) or (not np.isnan(xi[g]) and xi[g] != x):
            return None
        xi[g] = x
    tri_max = 6.0 * fs.sigma_max**2  # r_ij^2 + r_ik^2 + r_jk^2 <= s^2 + s^2 + (2 s)^2
    if any(exp_error(tri_max / x**2, sq, deg) > 1e-13 for x, (sq, deg) in zip(xi, PAPER_EXP)):
        return None
    return xi


def structure_functions(positions: np.ndarray, box: np.ndarray, typeid: np.ndarray, centres: np.ndarray,
                        fs: StructureFunctionSet) -> np.ndarray:
    """Features (n_centres, fs.n_features) of the particles ``centres`` (indices) of one frame.

    positions (N, dim) wrapped into [0, L); box (dim,) periodic; typeid (N,) in [0, fs.n_types).
    """
    positions = np.asarray(positions, dtype=np.float64)
    centres = np.asarray(centres, dtype=np.int64)
    typeid = np.asarray(typeid, dtype=np.int64)
    nl = neighbour_list(positions, box, typeid, centres, fs.sigma_max)
    if nl.distance.size and nl.distance.min() <= 0.0:
        e = int(np.argmin(nl.distance))
        c = int(np.searchsorted(nl.offsets, e, side="right") - 1)
        raise ParameterError("positions", f"particles {int(centres[c])} and {int(nl.index[e])} are at the same place: "
                                          "the angles of the structure functions are undefined")
    nc = centres.shape[0]
    T = fs.n_types
    out = np.zeros((nc, fs.n_features))
    radial = np.zeros((nc, fs.n_radial))
    radial_functions(nl, fs, radial)
    out[:, : fs.n_radial] = radial
    pairs = fs.type_pairs
    pair_index = np.full((T, T), -1, dtype=np.int64)
    for p, (b, c) in enumerate(pairs):
        pair_index[b, c] = p
    A = fs.angular.shape[0]
    paper_xi = _paper_layout_xi(fs)
    if paper_xi is not None:
        ang = np.zeros((nc, len(pairs), A))
        angular_kernel_paper(nl.offsets, nl.vector, nl.distance, nl.ntype, T, pair_index, 1.0 / paper_xi**2, ang)
        out[:, fs.n_radial:] = ang.reshape(nc, -1)
        return out
    fast, gidx, slot, mode, inv_xi2 = _angular_plan(fs)
    ang = np.zeros((nc, len(pairs), A))
    if fast.any():
        acc = np.zeros((nc, len(pairs), inv_xi2.shape[0], len(SLOTS)))
        angular_kernel(nl.offsets, nl.vector, nl.distance, nl.ntype, T, pair_index, inv_xi2, mode, acc)
        ft = np.flatnonzero(fast)
        ang[:, :, ft] = acc[:, :, gidx[ft], slot[ft]]
    if not fast.all():
        st = np.flatnonzero(~fast)
        xi, lam, zeta = (np.ascontiguousarray(fs.angular[st, i]) for i in range(3))
        slow = np.zeros((nc, len(pairs), st.shape[0]))
        angular_generic(nl.offsets, nl.vector, nl.distance, nl.ntype, T, pair_index, xi, lam, zeta, slow)
        ang[:, :, st] = slow
    out[:, fs.n_radial:] = ang.reshape(nc, -1)
    return out
