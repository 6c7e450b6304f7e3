"""Is the fitted parameter set a valid model on the lattice it is written for?

``params_from_dict`` checks each value's range, but K (Eq. 29) and rho (Eq. 30) must also be positive
definite on the written lattice, a lattice-level condition (trsp_ref.covariance): a fitted C1 larger
than the variance allows, as MD data can give, makes a set that ``trsp simulate`` and the oracle
refuse.  The fit says so (a warning and ``report.model_check``) instead of leaving it to the next
command.

Both matrices are translation invariant on the periodic lattice (their entries depend on the
minimum-image distance only), so they are circulant: their eigenvalues are the discrete Fourier
transform of one row, exact and O(N log N) at any lattice size (a dense eigensolver would need N^2
memory at L = 20 in 3D).

The kick's own condition (Eq. 19, detailed balance): every eigenvalue of K_Delta K'^-1 below 1 for a
firing cluster, K' = (K^-1 + 2 delta0 w w^T)^-1 the covariance given that the cluster fires (Eq. 24,
w = 1/m on its sites).  K_Delta = f D rho D (Eq. 30) is not circulant, but every product with it, K^-1
and rho^(1/2) is a diagonal scaling or a circulant one (FFT), so the largest eigenvalue is found by
Lanczos on the symmetric G^T K'^-1 G, G = sqrt(f) D rho^(1/2) (same nonzero eigenvalues as K_Delta
K'^-1 = G G^T K'^-1): O(N log N) per product, no N x N matrix, any lattice size.  All clusters are
images of cluster 0 under lattice symmetries, so cluster 0 stands for all.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse.linalg

from trsp_ref.lattice import orientation_offsets
from trsp_ref.params import ParameterError, Params
from trsp_ref.renormalization import rate_parameters

__all__ = ["circulant_eigenvalues", "largest_kick_eigenvalue", "model_check", "model_warnings", "rates_of"]


def _row_distances(dim: int, L: int, spacing: float) -> np.ndarray:
    """Minimum-image distance of every site from site 0, shaped (L,) * dim."""
    k = np.arange(L)
    d1 = np.minimum(k, L - k) * spacing
    grids = np.meshgrid(*([d1] * dim), indexing="ij")
    return np.sqrt(sum(g**2 for g in grids))


def _spectrum(dim: int, L: int, spacing: float, at_zero: float, amplitude: float, length: float) -> np.ndarray:
    """The DFT of the first row of M_ij = at_zero (r_ij = 0), amplitude exp(-r_ij / length) (r_ij > 0),
    shaped (L,) * dim: M's eigenvalues, and M x = ifftn(spectrum * fftn(x)) for x on the grid."""
    r = _row_distances(dim, L, spacing)
    row = np.where(r == 0.0, at_zero, amplitude * np.exp(-r / length))
    return np.fft.fftn(row).real


def circulant_eigenvalues(dim: int, L: int, spacing: float, at_zero: float, amplitude: float, length: float) -> np.ndarray:
    """Eigenvalues of the matrix M_ij = at_zero (r_ij = 0), amplitude exp(-r_ij / length) (r_ij > 0) on
    the periodic lattice (the form of Eqs. 29 and 30): the DFT of its first row (real: the row is
    symmetric under k -> -k)."""
    return _spectrum(dim, L, spacing, at_zero, amplitude, length).ravel()


def _circulant_product(spectrum: np.ndarray, x: np.ndarray) -> np.ndarray:
    """M x for the circulant M whose eigenvalues are ``spectrum`` (:func:`_spectrum`), x on the grid."""
    return np.fft.ifftn(spectrum * np.fft.fftn(x)).real


def _cluster0_distance(p: Params) -> tuple[np.ndarray, np.ndarray]:
    """(rt, w) on the grid: every site's minimum-image distance to the nearest site of cluster 0
    (orientation 0 at the origin), and w = 1/m on its sites."""
    lat = p.lattice
    offsets = orientation_offsets(lat.dim, p.cluster.shape)[0] % lat.L
    from_origin = _row_distances(lat.dim, lat.L, lat.spacing)
    axes = tuple(range(lat.dim))
    # the distance from site o is the distance from the origin shifted by o (the lattice is periodic)
    rt = np.min([np.roll(from_origin, tuple(o), axis=axes) for o in offsets], axis=0)
    w = np.zeros(from_origin.shape)
    for o in offsets:
        w[tuple(o)] = 1.0 / len(offsets)
    return rt, w


def rates_of(p: Params):
    """trsp_ref.renormalization.rate_parameters(p) without the dense K: Eq. 23's c = w^T K w / variance
    (w = 1/m on cluster 0's sites) with K w by FFT.  At 3D L = 20 the dense route takes ~90 CPU s and
    0.5 GB for this one number."""
    lat, s = p.lattice, p.softness
    _, w = _cluster0_distance(p)
    K_w = _circulant_product(_spectrum(lat.dim, lat.L, lat.spacing, s.variance, s.C1, s.xi), w)
    return rate_parameters(p, c=float(np.sum(w * K_w)) / s.variance)


def largest_kick_eigenvalue(p: Params) -> float:
    """The largest eigenvalue of K_Delta K'^-1 for a firing cluster on ``p``'s lattice, untruncated (Eq. 19
    needs it < 1).  Needs K and rho positive definite and a solvable renormalization (ParameterError
    otherwise, from trsp_ref)."""
    lat, s, k = p.lattice, p.softness, p.kick
    spec_K = _spectrum(lat.dim, lat.L, lat.spacing, s.variance, s.C1, s.xi)
    spec_rho = _spectrum(lat.dim, lat.L, lat.spacing, 1.0, k.rho1, k.xi_rho)
    if not (spec_K.min() > 0.0 and spec_rho.min() > 0.0):
        raise ParameterError("softness.C1" if not spec_K.min() > 0.0 else "kick.rho1", "K or rho is not positive definite on the lattice")
    rt, w = _cluster0_distance(p)
    delta0 = rates_of(p).bare[2]
    sD = np.where(rt == 0.0, k.sigma0, k.sigma1 * np.exp(-rt / k.xi_sigma))
    g = np.sqrt(k.facilitation) * sD
    root_rho, inv_K = np.sqrt(spec_rho), 1.0 / spec_K
    shape = spec_K.shape

    def product(x):  # G^T K'^-1 G x, G = sqrt(f) D rho^(1/2), K'^-1 = K^-1 + 2 delta0 w w^T
        y = g * _circulant_product(root_rho, np.reshape(x, shape))
        y = _circulant_product(inv_K, y) + 2.0 * delta0 * w * float(np.sum(w * y))
        return _circulant_product(root_rho, g * y).ravel()

    n = spec_K.size
    if n <= 64:  # small lattices: the dense matrix of the same products (Lanczos wants k < n - 1 anyway)
        B = np.stack([product(e) for e in np.eye(n)], axis=1)
        return float(np.linalg.eigvalsh(0.5 * (B + B.T))[-1])
    op = scipy.sparse.linalg.LinearOperator((n, n), matvec=product, dtype=float)
    # The start vector must have no symmetry: the operator commutes with the cluster's point group, so
    # Lanczos from a symmetric vector (ones) never leaves the symmetric subspace and returned 0.909 for
    # an antisymmetric top eigenvalue of 0.962 (the measured KA set at L = 6).  A fixed seed keeps the
    # result deterministic.
    v0 = np.random.default_rng(0).standard_normal(n)
    return float(scipy.sparse.linalg.eigsh(op, k=1, which="LA", tol=1e-10, v0=v0)[0][0])


def model_check(p: Params) -> dict:
    """Smallest and largest eigenvalue of K and of rho on ``p``'s lattice, and whether each is
    positive definite (smallest eigenvalue > 1e-12 x largest, trsp_ref.covariance's rule); and the
    kick's detailed-balance bound: the largest eigenvalue of K_Delta K'^-1 and whether it is < 1 (None,
    with the reason, where K or rho is not positive definite or the rate law has no bare form)."""
    lat, s, k = p.lattice, p.softness, p.kick
    out = {"lattice": {"dim": lat.dim, "L": lat.L, "spacing": lat.spacing}}
    for name, args in (("K", (s.variance, s.C1, s.xi)), ("rho", (1.0, k.rho1, k.xi_rho))):
        eig = circulant_eigenvalues(lat.dim, lat.L, lat.spacing, *args)
        lo, hi = float(eig.min()), float(eig.max())
        out[name] = {"smallest_eigenvalue": lo, "largest_eigenvalue": hi, "positive_definite": bool(lo > 0.0 and lo > 1e-12 * hi)}
    kick = {"what": "largest eigenvalue of K_Delta K'^-1 for a firing cluster (Eq. 19: must be < 1), untruncated kick"}
    if out["K"]["positive_definite"] and out["rho"]["positive_definite"]:
        try:
            lam = largest_kick_eigenvalue(p)
        except (ParameterError, scipy.sparse.linalg.ArpackNoConvergence) as exc:
            kick.update(largest_eigenvalue=None, below_one=None, reason=str(exc))
        else:
            kick.update(largest_eigenvalue=lam, below_one=bool(lam < 1.0))
    else:
        kick.update(largest_eigenvalue=None, below_one=None, reason="K or rho is not positive definite")
    out["kick"] = kick
    return out


def model_warnings(check: dict) -> list[str]:
    """The fit's warnings for a :func:`model_check` that fails: each names the parameter to look at."""
    lat = check["lattice"]
    out = []
    for name, what, fix in (("K", "K (Eq. 29)", "softness.C1 too large for the variance at this xi"),
                            ("rho", "the kick correlation rho (Eq. 30)", "kick.rho1 too large at this xi_rho")):
        if not check[name]["positive_definite"]:
            out.append(f"the fitted {what} is not positive definite on the written lattice (L = {lat['L']}, spacing "
                       f"{lat['spacing']:.4g}): smallest eigenvalue {check[name]['smallest_eigenvalue']:.3g}, so trsp "
                       f"simulate and the oracle refuse the set ({fix}: the exponential form does not describe these data); "
                       "see report.model_check")
    kick = check["kick"]
    if kick["below_one"] is False:
        out.append(f"kick: the fitted kick is larger than detailed balance allows on the written lattice (L = {lat['L']}): the "
                   f"largest eigenvalue of K_Delta K'^-1 is {kick['largest_eigenvalue']:.4g} >= 1 (Eq. 19 needs < 1), so trsp "
                   "simulate and the oracle refuse the set (kick.sigma0, kick.sigma1 or kick.facilitation too large for the "
                   "fitted K); see report.model_check")
    elif kick["below_one"] is None and check["K"]["positive_definite"] and check["rho"]["positive_definite"]:
        out.append(f"kick: the detailed-balance bound (eigenvalues of K_Delta K'^-1 < 1, Eq. 19) could not be checked: {kick['reason']}")
    return out
