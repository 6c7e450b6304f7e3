"""A small dense TRSP simulator in plain numpy, correct or with one physics mutation, writing run files.

Written independently of trsp_ref's formula modules (house rule 2 in spirit: the mutants
must be wrong *implementations*, not edits of the oracle), for small lattices only: every
cluster's operators are precomputed as dense N x N matrices.  The correct version
(``mutation=None``) must pass ``trsp verify``; every mutation in :data:`MUTATIONS` is a
mistake a careful person could make reading the paper, and must fail it
(tests/test_verify_mutants.py; tests/mutants/kill_table.py measures how soon).

Independent routes taken here (the oracle takes others):
* the bare rate law from the observed one by matching the coefficients of the Gaussian
  integral of Eq. D2 in S (not Eqs. 20-22);
* H = 1 - sqrtm(1 - K_Delta K'^-1) with scipy.linalg.sqrtm (Schur method) on the
  non-symmetric matrix, not the oracle's symmetric eigen-route;
* geometry from explicit coordinate offsets.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import numpy as np
import scipy.linalg

#: name -> what is wrong (docs/verification.md, "Mutant catalog")
MUTATIONS: dict[str, str] = {
    "observed_conditioning": "K' and mu' (Eqs. 24-26) built with the observed gamma, delta instead of the bare gamma0, delta0",
    "K_in_H": "H = 1 - sqrt(1 - K_Delta K^-1): K instead of K' in Eq. 19",
    "H_transposed": "H replaced by its transpose",
    "no_sqrt": "square root dropped: H = K_Delta K'^-1 / 2 (first order of Eq. 19)",
    "wrong_z": "cluster-count factor z = N_m / N (the text after Eq. 23) instead of m * n_orientations in A0",
    "rho_identity_noise": "kick noise drawn with rho replaced by the identity (H still from the full K_Delta)",
    "rt_from_centre": "rt in K_Delta (Eq. 30) measured from the cluster centre instead of the nearest cluster site",
    "no_duration": "cluster rates P0(<S>_R) without the 1/duration",
    "kick_variance_10pct": "kick noise variance 10% too large",
    "kick_mean_sign": "kick mean sign flipped: dS = -H (mu' - S) + noise",
    "no_quadratic_rate": "rates' quadratic term dropped: P0 = A0 exp(gamma0 s)",
    "noise_window_cut": "kick noise cut off beyond one lattice spacing from the cluster, H from the full K_Delta",
    "stale_rates": "after a kick only the fired cluster's own rate is recomputed (the others keep stale rates)",
    "stale_neighbour_rates": "after a kick only the rates of clusters sharing a site with the fired one are "
    "recomputed (the kick also moved the sites around them)",
    "restore_to_mean": "kick restores towards the equilibrium mean instead of mu' (Eq. 16 ignored)",
    "half_K": "Eq. 2 read literally: the model (and S0) uses covariance K/2",
    "no_renormalization": "bare law = observed law (A0 = A/z, gamma0 = gamma, delta0 = delta): Appendix D skipped",
    "noise_not_sqrt": "kick noise multiplied by K_Delta instead of K_Delta^(1/2)",
    "eq22_printed": "A0 from Eq. 22 as printed (sigma^2 instead of c sigma^2 in the second exponent)",
    "off_by_one_cluster": "the cluster kicked (and recorded) is the one after the cluster the rates chose",
    "deterministic_wait": "waiting time 1/R_tot instead of an exponential draw",
    "uniform_choice": "fired cluster chosen uniformly, ignoring the rates (waiting times still from R_tot)",
    # few-percent errors (issue 13: what the targeted statistics are for)
    "H_scaled_3pct": "drift matrix H 3% too large (H -> 1.03 H)",
    "inexact_sqrt": "H from the binomial series of sqrt(1 - X) cut after X^2 (H = X/2 + X^2/8; 2.8% relative "
    "Frobenius error on the catalog's parameters)",
    "kick_variance_2pct": "kick noise variance 2% too large",
    "gamma0_2pct": "bare gamma0 2% too large (in the rates and in mu', K')",
}

#: the one-parameter error families of the resolution law (issue 20; trsp_verify.resolution.COMPONENTS):
#: name -> the error of relative size e.  ``error=(name, e)`` applies one to either simulator below
ERROR_FAMILIES: dict[str, str] = {
    "H_scale": "the kick's drift matrix is (1 + e) H",
    "kick_noise_scale": "the kick noise's standard deviation is (1 + e) times the model's",
    "mu_prime_shift": "the restoring target mu' is shifted by e x sigma (sigma^2 = softness.variance)",
    "rate_scale": "every cluster's rate is (1 + e) times the model's",
    "gamma0_scale": "the bare gamma0 is (1 + e) gamma0 (in the rates and in mu'; A0, delta0 unchanged)",
    "delta0_scale": "the bare delta0 is (1 + e) delta0 (in the rates, K', mu' and H; A0, gamma0 unchanged)",
    "kick_range_scale": "xi_sigma is (1 + e) xi_sigma (K_Delta and H; the declared kick window unchanged)",
}

#: the mutations of the catalog that are one error family at one size
MUTATION_ERRORS: dict[str, tuple[str, float]] = {
    "H_scaled_3pct": ("H_scale", 0.03),
    "kick_variance_10pct": ("kick_noise_scale", math.sqrt(1.1) - 1.0),
    "kick_variance_2pct": ("kick_noise_scale", math.sqrt(1.02) - 1.0),
    "gamma0_2pct": ("gamma0_scale", 0.02),
}


@dataclass(frozen=True)
class ErrorScales:
    """What an error (name, e) of :data:`ERROR_FAMILIES` changes: factors (1 = none) and the shift of
    mu' in units of sigma.  One place maps a family to the number it changes, for both simulators."""

    H: float = 1.0
    noise: float = 1.0
    mu_shift: float = 0.0
    rate: float = 1.0
    gamma0: float = 1.0
    delta0: float = 1.0
    xi_sigma: float = 1.0

    @classmethod
    def of(cls, error: tuple[str, float] | None) -> "ErrorScales":
        if error is None:
            return cls()
        name, e = error
        fields = {"H_scale": "H", "kick_noise_scale": "noise", "mu_prime_shift": "mu_shift", "rate_scale": "rate",
                  "gamma0_scale": "gamma0", "delta0_scale": "delta0", "kick_range_scale": "xi_sigma"}
        if name not in fields:
            raise ValueError(f"unknown error family {name!r}")
        return cls(**{fields[name]: float(e) if name == "mu_prime_shift" else 1.0 + float(e)})


def _error_of(mutation: str | None, error: tuple[str, float] | None) -> tuple[str, float] | None:
    """The error to apply: ``error``, or the one a catalog mutation stands for (not both)."""
    if error is not None and mutation in MUTATION_ERRORS:
        raise ValueError(f"mutation {mutation!r} is itself an error family; pass only one")
    return error if error is not None else MUTATION_ERRORS.get(mutation)


def _offsets(dim: int, shape: str) -> list[np.ndarray]:
    e = np.eye(dim, dtype=np.int64)
    if shape == "site":
        return [np.zeros((1, dim), np.int64)]
    if shape == "dimer":
        return [np.stack([0 * e[a], e[a]]) for a in range(dim)]
    return [np.stack([0 * e[a], e[a], e[b], e[a] + e[b]]) for a, b in combinations(range(dim), 2)]



def bare_rate_law(r, c: float, var: float, mean: float, z: float) -> tuple[float, float, float]:
    """(A0, gamma0, delta0) of the bare law from the observed one (the mutants' own copy of the
    renormalization, written apart from trsp_ref's; ``z`` is a parameter so a mutant can pass a
    wrong count).  One copy serves every simulator in this module."""
    A, g, d = r.A, r.gamma, r.delta
    v = c * (1 - c) * var
    d0 = d / (c * c - 2 * d * v)
    D = 1 + 2 * d0 * v
    alpha = mean * (1 - c)
    g0 = g * D / c + 2 * d0 * alpha
    A0 = A / z * math.sqrt(D) * math.exp(-(g0 * alpha - d0 * alpha**2 + 0.5 * g0**2 * v) / D)
    return A0, g0, d0

class DenseTRSP:
    """The model for ``params`` (a trsp_ref.params.Params; only its values are read), possibly mutated,
    and with an ``error`` (name, e) of :data:`ERROR_FAMILIES` applied (or none)."""

    def __init__(self, params, mutation: str | None = None, error: tuple[str, float] | None = None):
        if mutation is not None and mutation not in MUTATIONS:
            raise ValueError(f"unknown mutation {mutation!r}")
        if params.temperature is not None:
            raise ValueError("the mutant simulator takes explicit rates (no [temperature])")
        self.params, self.mutation = params, mutation
        self.error = _error_of(mutation, error)
        err = ErrorScales.of(self.error)
        mu_t = mutation
        dim, L, a = params.lattice.dim, params.lattice.L, params.lattice.spacing
        N = L**dim
        self.N = N
        coords = np.indices((L,) * dim).reshape(dim, -1).T
        self.coords = coords
        diff = np.abs(coords[:, None, :] - coords[None, :, :])
        diff = np.minimum(diff, L - diff)
        dist = np.sqrt((diff**2).sum(-1)) * a
        s = params.softness
        K = np.where(dist == 0, s.variance, s.C1 * np.exp(-dist / s.xi))
        if mu_t == "half_K":
            K = K / 2
        self.K = K
        self.mean = float(s.mean)
        offs = _offsets(dim, params.cluster.shape)
        m = offs[0].shape[0]
        self.m = m
        clusters = []
        for off in offs:
            for x in range(N):
                c = (coords[x][None, :] + off) % L
                clusters.append(np.ravel_multi_index(c.T, (L,) * dim))
        self.clusters = np.array(clusters, dtype=np.int64)
        n_orient = len(offs)
        self.n_clusters = self.clusters.shape[0]
        z = m * n_orient
        # ---- rate law (bare) from the observed one: coefficients of the Gaussian integral
        r = params.rates
        var = s.variance / (2 if mu_t == "half_K" else 1)
        blk = K[np.ix_(self.clusters[0], self.clusters[0])]
        c = float(blk.mean()) / var
        if r.level == "bare":
            A0, g0, d0 = r.A, r.gamma, r.delta
        elif mu_t == "no_renormalization":
            A0, g0, d0 = r.A / z, r.gamma, r.delta
        else:
            A, g, d = r.A, r.gamma, r.delta
            A0, g0, d0 = bare_rate_law(r, c, var, self.mean, n_orient if mu_t == "wrong_z" else z)
            if mu_t == "eq22_printed":
                mu_, s2 = self.mean, var
                A0 = (A / z) * math.sqrt((1 + 2 * c * d0 * s2) / (1 + 2 * d * s2)) * math.exp(
                    (g * mu_ - d * mu_**2 + g * g * s2 / 2) / (1 + 2 * d * s2)
                    - (g0 * mu_ - d0 * mu_**2 + g0 * g0 * s2 / 2) / (1 + 2 * d0 * s2)
                )
        g0, d0 = g0 * err.gamma0, d0 * err.delta0  # after A0: only the one coefficient is off
        self.A0, self.g0, self.d0 = A0, g0, d0
        self.rate_prefactor = err.rate * A0 / (1.0 if mu_t == "no_duration" else r.duration)
        # ---- kick operators of every cluster
        k = params.kick
        rho = np.where(dist == 0, 1.0, k.rho1 * np.exp(-dist / k.xi_rho))
        Kinv = np.linalg.inv(K)
        cg, cd = (r.gamma, r.delta) if (mu_t == "observed_conditioning" and r.level == "observed") else (g0, d0)
        self.H, self.noise, self.mu_prime = [], [], []
        for sites in self.clusters:
            w = np.zeros(N)
            w[sites] = 1.0 / m
            Kp = np.linalg.inv(Kinv + 2 * cd * np.outer(w, w))
            Kp = 0.5 * (Kp + Kp.T)
            mu_p = self.mean + (cg - 2 * cd * self.mean) * Kp @ w
            if mu_t == "restore_to_mean":
                mu_p = np.full(N, self.mean)
            mu_p = mu_p + err.mu_shift * math.sqrt(s.variance)
            if mu_t == "rt_from_centre":
                centre = coords[sites].mean(axis=0)
                dc = np.abs(coords - centre)
                dc = np.minimum(dc, L - dc)
                rt = np.sqrt((dc**2).sum(-1)) * a
            else:
                rt = dist[:, sites].min(axis=1)
            sD = np.where(rt == 0, k.sigma0, k.sigma1 * np.exp(-rt / (k.xi_sigma * err.xi_sigma)))
            KD = k.facilitation * np.outer(sD, sD) * rho
            Kref = K if mu_t == "K_in_H" else Kp
            X = KD @ np.linalg.inv(Kref)
            if mu_t == "no_sqrt":
                H = X / 2
            elif mu_t == "inexact_sqrt":
                H = X / 2 + X @ X / 8
            else:
                H = np.eye(N) - np.real(scipy.linalg.sqrtm(np.eye(N) - X))
            if mu_t == "H_transposed":
                H = H.T.copy()
            H = err.H * H
            KDn = KD
            if mu_t == "rho_identity_noise":
                KDn = k.facilitation * np.diag(sD * sD)
            elif mu_t == "noise_window_cut":
                inside = rt <= a * (1 + 1e-9)
                KDn = KD * np.outer(inside, inside)
            lam, V = np.linalg.eigh(0.5 * (KDn + KDn.T))
            if mu_t == "noise_not_sqrt":
                R = KDn
            else:
                R = (V * np.sqrt(np.clip(lam, 0, None))) @ V.T
            R = err.noise * R
            self.H.append(H)
            self.noise.append(R)
            self.mu_prime.append(mu_p)
        self.chol_K = np.linalg.cholesky(K)
        # clusters sharing a site with each cluster (for the stale-rates mutant)
        members = [set(map(int, c)) for c in self.clusters]
        self.touching = [np.array([j for j, mj in enumerate(members) if mj & mi]) for mi in members]

    def rates(self, S: np.ndarray, only: np.ndarray | None = None, out: np.ndarray | None = None) -> np.ndarray:
        cl = self.clusters if only is None else self.clusters[only]
        sbar = S[cl].mean(axis=1)
        d0 = 0.0 if self.mutation == "no_quadratic_rate" else self.d0
        r = self.rate_prefactor * np.exp(self.g0 * sbar - d0 * sbar * sbar)
        if out is None:
            return r
        out[only] = r
        return out

    def sample_equilibrium(self, rng: np.random.Generator) -> np.ndarray:
        return self.mean + self.chol_K @ rng.standard_normal(self.N)

    def run(self, S0: np.ndarray, rng: np.random.Generator, n_events: int):
        """(times, clusters, S_after (n, N)) of n_events events from S0 (every site recorded).

        Stops early (like a real code that crashes) when the state runs away (|S| > 100):
        an unstable mutant then leaves the finite part of its trajectory."""
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return self._run(S0, rng, n_events)

    def _run(self, S0, rng, n_events):
        S = S0.copy()
        mut = self.mutation
        rates = self.rates(S)
        t = 0.0
        times = np.empty(n_events)
        fired = np.empty(n_events, dtype=np.int64)
        states = np.empty((n_events, self.N))
        for e in range(n_events):
            if mut not in ("stale_rates", "stale_neighbour_rates"):
                rates = self.rates(S)
            R = rates.sum()
            u1, u2 = rng.random(), rng.random()
            dt = 1.0 / R if mut == "deterministic_wait" else -math.log1p(-u1) / R
            if mut == "uniform_choice":
                kc = int(u2 * self.n_clusters)
            else:
                kc = int(np.searchsorted(np.cumsum(rates), u2 * R, side="right"))
                kc = min(kc, self.n_clusters - 1)
            if mut == "off_by_one_cluster":
                kc = (kc + 1) % self.n_clusters
            zeta = rng.standard_normal(self.N)
            drift = self.H[kc] @ (self.mu_prime[kc] - S)
            S = S + (-drift if mut == "kick_mean_sign" else drift) + self.noise[kc] @ zeta
            if mut == "stale_rates":
                rates = self.rates(S, only=np.array([kc]), out=rates)
            elif mut == "stale_neighbour_rates":
                rates = self.rates(S, only=self.touching[kc], out=rates)
            t += dt
            if not (np.all(np.abs(S) < 100.0) and math.isfinite(t)):
                return times[:e], fired[:e], states[:e]
            times[e], fired[e], states[e] = t, kc, S
        return times, fired, states


def _implementation_name(prefix: str, mutation: str | None, error: tuple[str, float] | None) -> str:
    return f"{prefix}:{mutation or 'none'}" + (f"+{error[0]}={error[1]:.6g}" if error is not None else "")


def write_run(path, params, mutation: str | None, n_events: int, seed, *, spawn_key=(), error=None) -> Path:
    """Simulate ``n_events`` from an equilibrium S0 and write a "full" run file with trsp's RunWriter
    (declaring ``params``: an ``error`` is in the simulation, not in the declared model)."""
    from trsp_runfile.runfile import Implementation, RunWriter, SeedRecord, Truncation

    model = DenseTRSP(params, mutation, error)
    ss = np.random.SeedSequence(seed, spawn_key=tuple(spawn_key))
    rng = np.random.Generator(np.random.PCG64(ss))
    S0 = model.sample_equilibrium(rng)
    times, fired, states = model.run(S0, rng, n_events)
    n_events = times.shape[0]
    N = model.N
    before = np.vstack([S0[None, :], states[:-1]]) if n_events else np.zeros((0, N))
    path = Path(path)
    w = RunWriter.create(
        path,
        params=params,
        truncation=Truncation(math.inf, math.inf, 0.0),
        S0=S0,
        implementation=Implementation(_implementation_name("mutant", mutation, error), "tests"),
        seed=SeedRecord("PCG64", int(ss.entropy), tuple(int(x) for x in ss.spawn_key)),
        target_events=n_events,
        overwrite=True,
    )
    try:
        offsets = np.arange(n_events + 1, dtype=np.int64) * N
        sites = np.tile(np.arange(N, dtype=np.int64), n_events)
        w.append_events(times, fired, offsets, sites, before.ravel(), states.ravel())
        final = states[-1] if n_events else S0
        w.commit(final, float(times[-1]) if n_events else 0.0, n_events, 0.0, None, status="finished", target_events=n_events)
    finally:
        w.close()
    return path


def write_replicas(folder, params, mutation: str | None, replicas: int, n_events: int, seed: int, *, error=None) -> list[Path]:
    """``replicas`` run files from one SeedSequence (spawn keys 0, 1, ...)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return [
        write_run(folder / f"{mutation or 'none'}_{k:03d}.h5", params, mutation, n_events, seed, spawn_key=(k,), error=error)
        for k in range(replicas)
    ]


def mutant_params():
    """The parameter set of the catalog: 2D L = 5 plaquettes (N = 25, 25 clusters), the
    built-in example's softness, rates and kick otherwise."""
    from trsp_ref.params import params_from_dict

    return params_from_dict({"lattice": {"dim": 2, "L": 5}})


# ======================================================================================
# truncated implementations on large lattices (issue 8: the kill table at 3D L = 20)
# ======================================================================================

#: the mutations the local (truncated, any-lattice) simulator implements
LOCAL_MUTATIONS = (
    "kick_variance_10pct",
    "kick_mean_sign",
    "no_sqrt",
    "no_quadratic_rate",
    "no_duration",
    "stale_rates",
    "deterministic_wait",
    "restore_to_mean",
)


class LocalTRSP:
    """A truncated TRSP implementation for large periodic lattices in plain numpy, correct or with
    one of :data:`LOCAL_MUTATIONS`: the kick acts on the window A (sites within ``kick_radius`` of
    the cluster) through the truncated precision (``precision_radius``, rule "cut") as a truncated
    code would, from operators computed once per orientation and translated.

    Independent routes (the verifier's periodic side takes others): the precision row by an
    FFT of the covariance row computed here from the coordinates; the drift on the window as
    (1 - sqrtm(1 - D P_AA)) P_AA^-1 (scipy's Schur sqrtm of the non-symmetric matrix) applied to
    P (mu' - S); mu' from an explicit solve on the window's neighbourhood; the bare rate law as
    in :class:`DenseTRSP`; S0 ~ N(mean, K_t) by FFT filtering of white noise.
    """

    def __init__(self, params, kick_radius: float, precision_radius: float, mutation: str | None = None,
                 error: tuple[str, float] | None = None):
        if mutation is not None and mutation not in LOCAL_MUTATIONS:
            raise ValueError(f"unknown local mutation {mutation!r}")
        self.params, self.mutation = params, mutation
        self.error = _error_of(mutation, error)
        err = ErrorScales.of(self.error)
        dim, L, a = params.lattice.dim, params.lattice.L, params.lattice.spacing
        N = L**dim
        self.N, self.L, self.dim = N, L, dim
        self.kick_radius, self.precision_radius = kick_radius, precision_radius
        coords = np.indices((L,) * dim).reshape(dim, -1).T
        self.coords = coords
        shape = (L,) * dim

        def index(c):
            c = np.mod(c, L)
            out = np.zeros(c.shape[:-1], dtype=np.int64)
            for ax in range(dim):
                out = out * L + c[..., ax]
            return out

        self.index = index
        fold = np.minimum(coords, L - coords)
        d0 = np.sqrt((fold**2).sum(-1)) * a  # distance of every site from site 0
        s, k, r = params.softness, params.kick, params.rates
        K_row = np.where(d0 == 0, s.variance, s.C1 * np.exp(-d0 / s.xi))
        eig = np.fft.fftn(K_row.reshape(shape)).real
        lam_row = np.fft.ifftn(1.0 / eig).real.ravel()
        lam_t = np.where(d0 <= precision_radius, lam_row, 0.0)
        eig_t = np.fft.fftn(lam_t.reshape(shape)).real
        self.sqrt_cov = np.sqrt(1.0 / eig_t)  # spectrum of K_t^(1/2)
        Kt_row = np.fft.ifftn(1.0 / eig_t).real.ravel()
        self.mean = float(s.mean)
        offs = _offsets(dim, params.cluster.shape)
        m = offs[0].shape[0]
        self.m, self.n_orient = m, len(offs)
        self.clusters = np.concatenate([index(coords[:, None, :] + off[None, :, :]) for off in offs])
        self.n_clusters = self.clusters.shape[0]
        z = m * len(offs)
        # bare law from the observed one (as DenseTRSP; c from the untruncated K)
        cl0 = self.clusters[0]
        pair = index(coords[cl0][None, :, :] - coords[cl0][:, None, :])
        var = s.variance
        c = float(K_row[pair].mean()) / var
        if r.level == "bare":
            A0, g0, d0_ = r.A, r.gamma, r.delta
        else:
            A0, g0, d0_ = bare_rate_law(r, c, var, self.mean, z)
        g0, d0_ = g0 * err.gamma0, d0_ * err.delta0
        self.g0, self.d0 = g0, d0_
        self.rate_prefactor = err.rate * A0 / (1.0 if mutation == "no_duration" else r.duration)
        # per orientation: window A, neighbourhood B, drift and noise operators
        nz = np.flatnonzero(lam_t)
        self.frames = []
        for o in range(len(offs)):
            sites = self.clusters[o * N]
            rt = np.min([d0[index(coords - coords[c_])] for c_ in sites], axis=0)
            sD = np.where(rt == 0, k.sigma0, k.sigma1 * np.exp(-rt / (k.xi_sigma * err.xi_sigma)))
            A_ = np.flatnonzero((rt <= kick_radius) & (sD > 0))
            B_ = np.union1d(np.unique(index(coords[A_][:, None, :] + coords[nz][None, :, :])), sites)
            rho = lambda dd: np.where(dd == 0, 1.0, k.rho1 * np.exp(-dd / k.xi_rho))  # noqa: E731
            dAA = d0[index(coords[A_][None, :, :] - coords[A_][:, None, :])]
            KD = k.facilitation * np.outer(sD[A_], sD[A_]) * rho(dAA)
            w_A = np.isin(A_, sites) / m
            w_B = np.isin(B_, sites) / m
            P_AB = lam_t[index(coords[B_][None, :, :] - coords[A_][:, None, :])] + 2 * d0_ * np.outer(w_A, w_B)
            P_AA = P_AB[:, np.searchsorted(B_, A_)]
            X = KD @ P_AA
            if mutation == "no_sqrt":
                M1 = (X / 2) @ np.linalg.inv(P_AA)
            else:
                M1 = (np.eye(A_.size) - np.real(scipy.linalg.sqrtm(np.eye(A_.size) - X))) @ np.linalg.inv(P_AA)
            M1 = err.H * M1
            noise = err.noise * np.linalg.cholesky(KD)
            cvec = (g0 - 2 * d0_ * self.mean) * w_A
            if mutation == "restore_to_mean":
                cvec = 0.0 * cvec  # kick towards the mean: P (mean - S) instead of P (mu' - S)
            HB = M1 @ P_AB
            # mu' + shift: H (mu' + shift 1 - S) adds shift H 1 = shift (M1 P_AB 1_B) on A
            h0 = M1 @ (cvec + self.mean * P_AB.sum(axis=1)) + err.mu_shift * math.sqrt(var) * HB.sum(axis=1)
            self.frames.append((coords[A_], coords[B_], HB, h0, noise))
        self.site_clusters = np.argsort(self.clusters.ravel(), kind="stable").reshape(N, -1) // m

    def rates(self, S: np.ndarray, ids=None) -> np.ndarray:
        cl = self.clusters if ids is None else self.clusters[ids]
        sbar = S[cl].mean(axis=1)
        d0 = 0.0 if self.mutation == "no_quadratic_rate" else self.d0
        return self.rate_prefactor * np.exp(self.g0 * sbar - d0 * sbar * sbar)

    def sample_equilibrium(self, rng: np.random.Generator) -> np.ndarray:
        shape = (self.L,) * self.dim
        z = rng.standard_normal(shape)
        return self.mean + np.fft.ifftn(self.sqrt_cov * np.fft.fftn(z)).real.ravel()

    def run(self, S0, rng, n_events: int):
        """Yield (time, cluster, sites, after) per event."""
        S = S0.copy()
        rates = self.rates(S)
        t = 0.0
        mut = self.mutation
        mark = np.zeros(self.n_clusters, dtype=bool)
        for _ in range(n_events):
            R = rates.sum()
            u1, u2 = rng.random(), rng.random()
            t += 1.0 / R if mut == "deterministic_wait" else -math.log1p(-u1) / R
            kc = min(int(np.searchsorted(np.cumsum(rates), u2 * R, side="right")), self.n_clusters - 1)
            o, anchor = divmod(kc, self.N)
            cA, cB, HB, h0, noise = self.frames[o]
            shift = self.coords[anchor]
            a_sites = self.index(cA + shift)
            b_sites = self.index(cB + shift)
            drift = h0 - HB @ S[b_sites]
            if mut == "kick_mean_sign":
                drift = -drift
            S[a_sites] = S[a_sites] + drift + noise @ rng.standard_normal(cA.shape[0])
            if mut == "stale_rates":
                rates[kc] = self.rates(S, [kc])[0]
            else:
                mark[self.site_clusters[a_sites].ravel()] = True  # (a mark, not np.unique: faster)
                touched = np.flatnonzero(mark)
                mark[touched] = False
                rates[touched] = self.rates(S, touched)
            yield t, kc, a_sites, S[a_sites].copy()


def write_local_run(path, params, radii, mutation: str | None, n_events: int, seed, *, spawn_key=(), error=None) -> Path:
    """A "full" run file of the truncated implementation (declaring its radii in /truncation)."""
    from trsp_runfile.events import EventRecord
    from trsp_runfile.runfile import Implementation, RunWriter, SeedRecord, Truncation

    model = LocalTRSP(params, radii[0], radii[1], mutation, error)
    ss = np.random.SeedSequence(seed, spawn_key=tuple(spawn_key))
    rng = np.random.Generator(np.random.PCG64(ss))
    S0 = model.sample_equilibrium(rng)
    path = Path(path)
    w = RunWriter.create(
        path, params=params, truncation=Truncation(radii[0], radii[1], 0.0), S0=S0,
        implementation=Implementation(_implementation_name("local-mutant", mutation, error), "tests"),
        seed=SeedRecord("PCG64", int(ss.entropy), tuple(int(x) for x in ss.spawn_key)),
        target_events=n_events, overwrite=True,
    )  # fmt: skip

    def flush(buf):
        if buf:
            sizes = [len(b[2]) for b in buf]
            w.append(EventRecord(
                np.array([b[0] for b in buf]), np.array([b[1] for b in buf], dtype=np.int64),
                np.concatenate(([0], np.cumsum(sizes))).astype(np.int64), np.concatenate([b[2] for b in buf]),
                None, np.concatenate([b[3] for b in buf]),
            ))  # fmt: skip

    try:
        buf, t, S = [], 0.0, S0.copy()
        for ev in model.run(S0, rng, n_events):
            buf.append(ev)
            t = ev[0]
            S[ev[2]] = ev[3]
            if len(buf) == 4096:
                flush(buf)
                buf = []
        flush(buf)
        w.commit(S, t, n_events, 0.0, None, status="finished", target_events=n_events)
    finally:
        w.close()
    return path


def write_local_replicas(folder, params, radii, mutation, replicas: int, n_events: int, seed: int, *, error=None) -> list[Path]:
    """``replicas`` run files of :class:`LocalTRSP` from one SeedSequence (spawn keys 0, 1, ...)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return [
        write_local_run(folder / f"local_{mutation or 'none'}_{k:03d}.h5", params, radii, mutation, n_events, seed,
                        spawn_key=(k,), error=error)
        for k in range(replicas)
    ]


def large_params(L: int = 20):
    """The paper's system: 3D plaquettes at L = 20 (N = 8000), the built-in example otherwise."""
    from trsp_ref.params import params_from_dict

    return params_from_dict({"lattice": {"dim": 3, "L": L}})


if __name__ == "__main__":  # python3 tests/mutants/simulator.py MUTATION OUT_FOLDER [replicas events seed]
    name = None if sys.argv[1] == "none" else sys.argv[1]
    args = [int(x) for x in sys.argv[3:6]] + [4, 20000, 1][len(sys.argv[3:6]) :]
    for f in write_replicas(sys.argv[2], mutant_params(), name, *args):
        print(f)
