"""Assembling the sweep file: the stored members combined (trsp_obs.heterogeneity,
trsp_obs.aging) and written atomically as netCDF4-style HDF5 with dimension scales; the
schema is docs/sweep-format.md."""

from __future__ import annotations

import datetime as _dt
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trsp_ref.params import Params, dumps_toml
from trsp_runfile.atomic import atomic_path

from .config import TRAP_NAME, SweepConfig
from .members import KIND_AGING, KIND_EQUILIBRIUM, KIND_TRAP, member_id, mean_softness_at
from .store import FORMAT, MemberStore

__all__ = ["assemble", "FORMAT_VERSION"]

FORMAT_VERSION = "1.2"  # 1.1: the softness memory (C_SS, tau_S), optional; 1.2: kick_tolerance, precision_tolerance


@dataclass
class _EquilibriumMembers:
    """Every equilibrium member's results on the (variant, temperature, replica[, lag[, q | block]]) grid; NaN where missing."""

    q_mean: np.ndarray
    q_sq_mean: np.ndarray
    shell_power: np.ndarray
    block_var: np.ndarray
    n_events: np.ndarray
    wall_s: np.ndarray
    cpu_s: np.ndarray
    sim_wall_s: np.ndarray
    mean_S: np.ndarray
    done: np.ndarray
    n_origins: np.ndarray  # (variant, temperature, lag)
    radii: np.ndarray  # (variant, temperature, 2): kick and precision radius
    css_product: np.ndarray  # (variant, temperature, replica, lag): softness memory, NaN where absent
    css_equal_time: np.ndarray
    css_variance: np.ndarray
    initial_digest: np.ndarray = None  # (variant, temperature, replica) str: fingerprint of the initial field

    @classmethod
    def gather(cls, cfg: SweepConfig, store: MemberStore, n_lags: int, n_shells: int, n_blocks: int) -> "_EquilibriumMembers":
        V, NT, R = len(cfg.variants), len(cfg.temperatures), cfg.replicas
        nan = np.nan
        m = cls(
            q_mean=np.full((V, NT, R, n_lags), nan), q_sq_mean=np.full((V, NT, R, n_lags), nan),
            shell_power=np.full((V, NT, R, n_lags, n_shells), nan), block_var=np.full((V, NT, R, n_lags, n_blocks), nan),
            n_events=np.zeros((V, NT, R), dtype=np.int64), wall_s=np.full((V, NT, R), nan),
            cpu_s=np.full((V, NT, R), nan), sim_wall_s=np.full((V, NT, R), nan), mean_S=np.full((V, NT, R), nan),
            done=np.zeros((V, NT, R), dtype=np.int8), n_origins=np.zeros((V, NT, n_lags), dtype=np.int64),
            radii=np.full((V, NT, 2), nan), css_product=np.full((V, NT, R, n_lags), nan),
            css_equal_time=np.full((V, NT, R), nan), css_variance=np.full((V, NT, R), nan),
            initial_digest=np.full((V, NT, R), "", dtype=object),
        )  # fmt: skip
        for v in range(V):
            for i in range(NT):
                for r in range(R):
                    res = store.read(member_id(KIND_EQUILIBRIUM, v, i, r))
                    if res is None:
                        continue
                    m.q_mean[v, i, r], m.q_sq_mean[v, i, r] = res.q_mean, res.q_sq_mean
                    m.shell_power[v, i, r], m.block_var[v, i, r] = res.shell_power, res.block_var
                    m.n_events[v, i, r], m.wall_s[v, i, r], m.sim_wall_s[v, i, r] = res.n_events, res.wall_s, res.sim_wall_s
                    m.cpu_s[v, i, r], m.mean_S[v, i, r], m.done[v, i, r] = res.cpu_s, res.mean_S, 1
                    m.n_origins[v, i] = res.n_origins
                    m.radii[v, i] = res.kick_radius, res.precision_radius
                    if res.css_product is not None:
                        m.css_product[v, i, r] = res.css_product
                        m.css_equal_time[v, i, r], m.css_variance[v, i, r] = res.css_equal_time, res.css_variance
                    m.initial_digest[v, i, r] = str(getattr(res, "initial_digest", ""))
        return m


def assemble(cfg: SweepConfig, store: MemberStore, out: Path) -> dict:
    """Combine the stored members and write the sweep file ``out`` atomically (docs/sweep-format.md)."""
    import h5py

    from ..aging import aging_summary
    from ..heterogeneity import StackedStats, analyse
    from ..lattice import wavevector_shells

    p0 = cfg.params(0, cfg.temperatures[0])
    dim, L, a = p0.lattice.dim, p0.lattice.L, p0.lattice.spacing
    N = p0.N
    q_shells, _, shell_counts = wavevector_shells(dim, L, a)
    blocks = np.arange(1, L + 1) if cfg.blocks is None else np.array(cfg.blocks)
    V, NT, R, J, NQ, NB = len(cfg.variants), len(cfg.temperatures), cfg.replicas, cfg.lag_fractions.size, q_shells.size, blocks.size
    nan = np.nan
    members = _EquilibriumMembers.gather(cfg, store, J, NQ, NB)
    boot_rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(cfg.seed, spawn_key=(9,))))
    combined = {k: np.full((V, NT), nan) for k in (
        "tau_chi", "tau_chi_err", "chi4_star", "chi4_star_err", "xi4_oz", "xi4_oz_err", "S4_0_oz", "s4_lag",
        "xi4_block", "xi4_block_err", "chi4_block_inf", "block_A0", "block_A1", "mean_S", "mean_S_err", "mean_S_expected",
    )}  # fmt: skip
    combined["peak_resolved"] = np.zeros((V, NT), dtype=np.int8)
    combined["n_replicas"] = members.done.sum(axis=2).astype(np.int64)
    curves = {k: np.full((V, NT, J), nan) for k in ("Q", "Q_err", "chi4", "chi4_err")}
    s4 = {k: np.full((V, NT, NQ), nan) for k in ("S4", "S4_err")}
    block_peak = {k: np.full((V, NT, NB), nan) for k in ("chi4_block_star", "chi4_block_star_err")}
    chi4_block = np.full((V, NT, J, NB), nan)
    memory: dict = {}  # (v, i) -> softness-memory results (format 1.1)
    for v in range(V):
        for i, T in enumerate(cfg.temperatures):
            combined["mean_S_expected"][v, i] = mean_softness_at(cfg.params(v, T), T)
            ok = np.flatnonzero(members.done[v, i])
            if ok.size >= 1:
                combined["mean_S"][v, i] = members.mean_S[v, i, ok].mean()
                if ok.size >= 2:
                    combined["mean_S_err"][v, i] = members.mean_S[v, i, ok].std(ddof=1) / math.sqrt(ok.size)
            if ok.size < 2:
                continue
            stacked = StackedStats(
                cfg.lags(v, i), members.n_origins[v, i], members.q_mean[v, i, ok], members.q_sq_mean[v, i, ok],
                members.shell_power[v, i, ok], members.block_var[v, i, ok], blocks, N, dim, L, a,
            )  # fmt: skip
            het = analyse(stacked, rng=boot_rng, n_bootstrap=cfg.n_bootstrap, oz_qmax=cfg.oz_qmax, block_fit_max=cfg.block_fit_max)
            for k in ("tau_chi", "tau_chi_err", "chi4_star", "chi4_star_err", "xi4_oz", "xi4_oz_err", "S4_0_oz", "s4_lag",
                      "xi4_block", "xi4_block_err", "chi4_block_inf", "block_A0", "block_A1"):  # fmt: skip
                combined[k][v, i] = getattr(het, k)
            combined["peak_resolved"][v, i] = int(het.peak_resolved)
            for k in curves:
                if getattr(het, k) is not None:
                    curves[k][v, i] = getattr(het, k)
            if het.S4.size == NQ:
                s4["S4"][v, i] = het.S4
                if het.S4_err is not None:
                    s4["S4_err"][v, i] = het.S4_err
            block_peak["chi4_block_star"][v, i] = het.chi4_block_star
            if het.chi4_block_star_err is not None:
                block_peak["chi4_block_star_err"][v, i] = het.chi4_block_star_err
            chi4_block[v, i] = het.chi4_block
            has_css = np.all(np.isfinite(members.css_variance[v, i, ok]))
            if has_css:
                memory[(v, i)] = _softness_memory(stacked, members.css_product[v, i, ok], members.css_variance[v, i, ok],
                                                  members.css_equal_time[v, i, ok], boot_rng, cfg.n_bootstrap)  # fmt: skip

    settings = dict(
        oz_qmax=1.75 / a if cfg.oz_qmax is None else cfg.oz_qmax,
        block_fit_max=L // 2 if cfg.block_fit_max is None else cfg.block_fit_max,
        n_bootstrap=cfg.n_bootstrap,
    )
    with atomic_path(out, suffix=".h5") as tmp:
        with h5py.File(tmp, "w") as h5:
            _write_root_attrs(h5, cfg, settings, p0)
            dims = {
                "variant": np.array([v.name for v in cfg.variants], dtype=object),
                "temperature": np.array(cfg.temperatures),
                "replica": np.arange(R),
                "lag": np.arange(J),
                "q": q_shells,
                "block": blocks,
            }
            _dims(h5, dims, {
                "temperature": {"long_name": "temperature T"},
                "q": {"long_name": "|q| of the shell of lattice wave vectors", "units": "1/sigma_AA"},
                "block": {"long_name": "block side L_B", "units": "lattice sites"},
                "lag": {"long_name": "lag index (lag_time holds the lag of each variant and temperature)"},
            })  # fmt: skip
            vshape = np.array([cfg.params(v, cfg.temperatures[0]).cluster.shape for v in range(V)], dtype=object)
            vfac = np.array([cfg.params(v, cfg.temperatures[0]).kick.facilitation for v in range(V)])
            vm = np.array([cfg.params(v, cfg.temperatures[0]).m for v in range(V)])
            _var(h5, "variant_shape", vshape, ("variant",), "cluster shape")
            _var(h5, "variant_facilitation", vfac, ("variant",), "facilitation scale f (kick.facilitation)")
            _var(h5, "variant_m", vm, ("variant",), "cluster size m")
            _var(h5, "variant_params", np.array([dumps_toml(cfg.params(v, cfg.temperatures[0])) for v in range(V)], dtype=object),
                 ("variant",), "parameter file of the variant (at the first temperature; each member uses its own T)")  # fmt: skip
            _var(h5, "shell_modes", shell_counts, ("q",), "number of lattice wave vectors in the shell")
            _var(h5, "t_max", np.array([[cfg.run_length(v, i) for i in range(NT)] for v in range(V)]), ("variant", "temperature"),
                 "run length of each replica")  # fmt: skip
            lag_time = np.array([[cfg.lags(v, i) for i in range(NT)] for v in range(V)])
            _var(h5, "lag_time", lag_time, ("variant", "temperature", "lag"), "lag t")
            _var(h5, "n_origins", members.n_origins, ("variant", "temperature", "lag"), "time origins averaged per replica at this lag")
            _var(h5, "kick_radius", members.radii[..., 0], ("variant", "temperature"), "trsp_fast kick window radius (sigma_AA)")
            _var(h5, "precision_radius", members.radii[..., 1], ("variant", "temperature"), "trsp_fast precision truncation radius (sigma_AA)")
            # per member
            md = ("variant", "temperature", "replica")
            _var(h5, "member_done", members.done, md, "1 if the member finished")
            _var(h5, "member_n_events", members.n_events, md, "events simulated")
            _var(h5, "member_wall_s", members.wall_s, md, "worker wall time (simulation + statistics), s")
            _var(h5, "member_sim_wall_s", members.sim_wall_s, md, "worker wall time of the simulation alone, s")
            _var(h5, "member_cpu_s", members.cpu_s, md, "worker CPU time (simulation + statistics), s")
            _var(h5, "member_mean_S", members.mean_S, md, "time average of the site-averaged S (equilibrium check)")
            _var(h5, "member_initial_digest", members.initial_digest, md, "fingerprint of the initial field's bits (paired sweeps: equal across variants)")
            _var(h5, "member_q_mean", members.q_mean, md + ("lag",), "origin average of Q(t0, t) (Eq. 31)")
            _var(h5, "member_q_sq_mean", members.q_sq_mean, md + ("lag",), "origin average of Q(t0, t)^2")
            _var(h5, "member_shell_power", members.shell_power, md + ("lag", "q"), "origin and shell average of |Q~(q; t0, t)|^2 (Eq. 33)")
            _var(h5, "member_block_var", members.block_var, md + ("lag", "block"), "origin average of the variance over block positions of Q_B")
            # combined
            vt, vtl = ("variant", "temperature"), ("variant", "temperature", "lag")
            _var(h5, "n_replicas", combined["n_replicas"], vt, "replicas combined")
            _var(h5, "Q", curves["Q"], vtl, "overlap Q(t) (Eq. 31), average over origins and replicas")
            _var(h5, "Q_err", curves["Q_err"], vtl, "bootstrap standard error of Q")
            _var(h5, "chi4", curves["chi4"], vtl, "chi_4(t) = N Var Q(t) (Eq. 32)")
            _var(h5, "chi4_err", curves["chi4_err"], vtl, "bootstrap standard error of chi_4")
            for k, desc in (
                ("tau_chi", "time of the chi_4 peak"), ("chi4_star", "chi_4 at its peak"),
                ("xi4_oz", "xi_4 from the Ornstein-Zernike fit of S_4(q, tau_chi)"),
                ("xi4_block", "xi_4 from the block analysis (Appendix H)"),
                ("mean_S", "replica average of member_mean_S"),
            ):  # fmt: skip
                _var(h5, k, combined[k], vt, desc)
                _var(h5, k + "_err", combined[k + "_err"], vt, "bootstrap standard error of " + k if k != "mean_S" else "standard error of mean_S")
            _var(h5, "peak_resolved", combined["peak_resolved"], vt, "0 if the chi_4 maximum is at an end of the lag grid")
            _var(h5, "S4_0_oz", combined["S4_0_oz"], vt, "S_4(0) of the Ornstein-Zernike fit")
            _var(h5, "s4_lag", combined["s4_lag"], vt, "grid lag at which S_4 is evaluated (nearest tau_chi)")
            _var(h5, "chi4_block_inf", combined["chi4_block_inf"], vt, "L_B -> infinity limit of the block fit")
            _var(h5, "block_A0", combined["block_A0"], vt, "block fit chi4_block_star = block_A0 + block_A1 h(L_B; xi4_block): self term")
            _var(h5, "block_A1", combined["block_A1"], vt, "block fit: amplitude of the correlated term")
            _var(h5, "mean_S_expected", combined["mean_S_expected"], vt, "<S>(T) = mean_a + mean_b / T")
            _var(h5, "S4", s4["S4"], vt + ("q",), "S_4(q, t) (Eqs. 33-34) at s4_lag, shell averaged; q = 0 holds chi_4")
            _var(h5, "S4_err", s4["S4_err"], vt + ("q",), "bootstrap standard error of S4")
            _var(h5, "chi4_block", chi4_block, vtl + ("block",), "block chi_4^B(L_B, t)")
            _var(h5, "chi4_block_star", block_peak["chi4_block_star"], vt + ("block",), "peak over t of chi4_block")
            _var(h5, "chi4_block_star_err", block_peak["chi4_block_star_err"], vt + ("block",), "bootstrap standard error")
            if memory:
                _write_memory(h5, memory, members, (V, NT, J))
            if cfg.aging is not None:
                aging_info = _write_aging(h5, cfg, store, aging_summary)
            else:
                aging_info = {}
            h5.flush()
    return dict(
        out=str(out), members_done=int(members.done.sum()), members_total=int(members.done.size),
        events=int(members.n_events.sum()), member_wall_s=float(np.nansum(members.wall_s)),
        member_cpu_s=float(np.nansum(members.cpu_s)), sim_wall_s=float(np.nansum(members.sim_wall_s)), **aging_info,
    )


def _softness_memory(stacked, products, variances, equal_time, rng, n_bootstrap) -> dict:
    """C_SS, tau_S, C_SS(tau_chi) and tau_S / tau_chi of one (variant, T) (trsp_obs.softness_memory),
    with tau_chi bootstrapped on the same resamples of the replicas."""
    from ..heterogeneity import chi4_peak, overlap_and_chi4
    from ..softness_memory import memory_analysis

    def tau_chi_of(idx):
        _, chi4 = overlap_and_chi4(stacked.take(idx))
        return chi4_peak(stacked.lags, chi4)[0]

    res = memory_analysis(stacked.lags, products, float(np.mean(variances)), tau_chi_of=tau_chi_of, rng=rng, n_bootstrap=n_bootstrap)
    return dict(
        C_SS=res.css, C_SS_err=res.css_err, tau_S=res.tau_S, tau_S_err=res.tau_S_err, tau_S_resolved=int(res.tau_S_resolved),
        tau_S_lower=res.tau_S_lower, css_at_tau_chi=res.css_at_tau_chi, css_at_tau_chi_err=res.css_at_tau_chi_err,
        tau_S_over_tau_chi=res.tau_ratio, tau_S_over_tau_chi_err=res.tau_ratio_err,
        css_equal_time=float(np.mean(equal_time) / np.mean(variances)), css_variance=float(np.mean(variances)),
    )  # fmt: skip


def _write_memory(h5, memory: dict, members: _EquilibriumMembers, shape: tuple) -> None:
    """The softness-memory variables (format 1.1, docs/sweep-format.md)."""
    V, NT, J = shape
    curves = {k: np.full((V, NT, J), np.nan) for k in ("C_SS", "C_SS_err")}
    scalars = {k: np.full((V, NT), np.nan) for k in (
        "tau_S", "tau_S_err", "tau_S_lower", "css_at_tau_chi", "css_at_tau_chi_err", "tau_S_over_tau_chi",
        "tau_S_over_tau_chi_err", "css_equal_time", "css_variance",
    )}  # fmt: skip
    resolved = np.zeros((V, NT), dtype=np.int8)
    for (v, i), res in memory.items():
        for k in curves:
            curves[k][v, i] = res[k]
        for k in scalars:
            scalars[k][v, i] = res[k]
        resolved[v, i] = res["tau_S_resolved"]
    md, vt, vtl = ("variant", "temperature", "replica"), ("variant", "temperature"), ("variant", "temperature", "lag")
    table = (  # name, values, dims, long_name
        ("member_css_product", members.css_product, md + ("lag",), "origin mean of dS(t0).dS(t0 + t) / N, dS = S - <S>"),
        ("member_css_equal_time", members.css_equal_time, md, "origin mean of |dS(t0)|^2 / N"),
        ("C_SS", curves["C_SS"], vtl, "softness autocorrelation C_SS(t) = <dS_i(t0) dS_i(t0 + t)> / sigma_t^2"),
        ("C_SS_err", curves["C_SS_err"], vtl, "bootstrap standard error of C_SS"),
        ("tau_S", scalars["tau_S"], vt, "first time C_SS = 1/e (log-linear interpolation); NaN if not reached on the lag grid"),
        ("tau_S_err", scalars["tau_S_err"], vt, "bootstrap standard error of tau_S (inf if some resamples do not reach 1/e)"),
        ("tau_S_resolved", resolved, vt, "1 if C_SS reaches 1/e on the lag grid"),
        ("tau_S_lower", scalars["tau_S_lower"], vt, "largest lag: tau_S > tau_S_lower when tau_S_resolved = 0"),
        ("css_at_tau_chi", scalars["css_at_tau_chi"], vt, "C_SS at tau_chi (memory left at the chi_4 peak)"),
        ("css_at_tau_chi_err", scalars["css_at_tau_chi_err"], vt, "bootstrap standard error of css_at_tau_chi"),
        ("tau_S_over_tau_chi", scalars["tau_S_over_tau_chi"], vt, "tau_S / tau_chi"),
        ("tau_S_over_tau_chi_err", scalars["tau_S_over_tau_chi_err"], vt, "bootstrap standard error (joint resamples)"),
        ("css_equal_time", scalars["css_equal_time"], vt, "C_SS(0) measured: mean |dS|^2 / N / sigma_t^2 (1 in equilibrium)"),
        ("css_variance", scalars["css_variance"], vt, "sigma_t^2: equilibrium variance per site of the simulated model"),
    )
    for name, values, dims, long_name in table:
        _var(h5, name, values, dims, long_name)


def _write_root_attrs(h5, cfg: SweepConfig, settings: dict, p0: Params) -> None:
    h5.attrs["format"] = FORMAT
    h5.attrs["format_version"] = FORMAT_VERSION
    h5.attrs["Conventions"] = "CF-1.8"
    h5.attrs["title"] = f"trsp sweep {cfg.name}"
    h5.attrs["created"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    h5.attrs["sweep_toml"] = cfg.text
    h5.attrs["sweep_digest"] = cfg.digest
    h5.attrs["params_source"] = cfg.base_label
    h5.attrs["illustrative"] = np.int8(cfg.illustrative)
    if cfg.illustrative:
        h5.attrs["note"] = "ILLUSTRATIVE parameters (trsp_obs.presets): not the fitted values of Ridout & Liu, who do not print theirs"
    h5.attrs["T0"] = float(p0.temperature.T0) if p0.temperature is not None else float("nan")  # NaN: one-temperature set
    h5.attrs["N"] = int(p0.N)
    h5.attrs["dim"] = int(p0.lattice.dim)
    h5.attrs["L"] = int(p0.lattice.L)
    h5.attrs["spacing"] = float(p0.lattice.spacing)
    kick, precision = cfg.tolerance or (0.0, 0.0)
    h5.attrs["tolerance"] = float(max(kick, precision))  # one bound for both (the attribute before issue 21)
    h5.attrs["kick_tolerance"] = float(kick)
    h5.attrs["precision_tolerance"] = float(precision)
    h5.attrs["seed"] = int(cfg.seed)
    h5.attrs["paired"] = np.int8(cfg.paired)
    h5.attrs["analysis"] = json.dumps(settings)
    h5.attrs["software"] = f"trsp_obs (python {sys.version.split()[0]}, numpy {np.__version__})"


def _dims(g, dims: dict, attrs: dict) -> None:
    import h5py

    for name, values in dims.items():
        if values.dtype == object:
            ds = g.create_dataset(name, data=values.astype(object), dtype=h5py.string_dtype("utf-8"))
        else:
            ds = g.create_dataset(name, data=values)
        ds.make_scale(name)
        for k, v in attrs.get(name, {}).items():
            ds.attrs[k] = v


def _var(g, name: str, data, dims: tuple, long_name: str) -> None:
    import h5py

    data = np.asarray(data)
    if data.dtype == object:
        ds = g.create_dataset(name, data=data, dtype=h5py.string_dtype("utf-8"))
    else:
        kw = {"fillvalue": np.nan} if data.dtype.kind == "f" else {}
        big = data.size > 4096
        ds = g.create_dataset(name, data=data, compression="gzip" if big else None, shuffle=big, **kw)
    if len(dims) != data.ndim:  # pragma: no cover - programming error
        raise AssertionError(f"{name}: {data.ndim} axes, {len(dims)} dims")
    for axis, d in enumerate(dims):
        ds.dims[axis].attach_scale(g[d])
    ds.attrs["long_name"] = long_name


def _write_aging(h5, cfg: SweepConfig, store: MemberStore, aging_summary) -> dict:
    ag = cfg.aging
    names = [cfg.variants[v].name for v in ag.variants] + ([TRAP_NAME] if ag.trap_model else [])
    NA, NF, R, NTm = len(names), len(ag.T_final), ag.replicas, ag.times.size
    curves = np.full((NA, NF, R, NTm), np.nan)
    done = np.zeros((NA, NF, R), dtype=np.int8)
    n_ev = np.zeros((NA, NF, R), dtype=np.int64)
    wall = np.full((NA, NF, R), np.nan)
    for a in range(NA):
        kind = KIND_TRAP if (ag.trap_model and a == NA - 1) else KIND_AGING
        for i in range(NF):
            for r in range(R):
                result = store.read(member_id(kind, 0 if kind == KIND_TRAP else a, i, r))
                if result is None:
                    continue
                curves[a, i, r], done[a, i, r] = result.S_mean, 1
                n_ev[a, i, r], wall[a, i, r] = result.n_events, result.wall_s
    mean = np.full((NA, NF, NTm), np.nan)
    err = np.full((NA, NF, NTm), np.nan)
    for a in range(NA):
        for i in range(NF):
            mean[a, i], err[a, i] = aging_summary(curves[a, i])
    g = h5.create_group("aging")
    g.attrs["T_initial"] = ag.T_initial
    g.attrs["S_initial"] = mean_softness_at(cfg.params(ag.variants[0], ag.T_initial), ag.T_initial)
    _dims(g, {
        "model": np.array(names, dtype=object), "T_final": np.array(ag.T_final), "replica": np.arange(R), "time": ag.times,
    }, {"time": {"long_name": "time since the quench"}, "T_final": {"long_name": "final temperature T_F"}})  # fmt: skip
    _var(g, "member_S_mean", curves, ("model", "T_final", "replica", "time"), "site-averaged S after the quench")
    _var(g, "member_done", done, ("model", "T_final", "replica"), "1 if the member finished")
    _var(g, "member_n_events", n_ev, ("model", "T_final", "replica"), "events simulated (0 for the trap model)")
    _var(g, "member_wall_s", wall, ("model", "T_final", "replica"), "worker wall time, s")
    _var(g, "S_mean", mean, ("model", "T_final", "time"), "<S>(t): replica average")
    _var(g, "S_mean_err", err, ("model", "T_final", "time"), "standard error over replicas")
    eq = np.array([mean_softness_at(cfg.params(ag.variants[0], T), T) for T in ag.T_final])
    _var(g, "S_equilibrium", eq, ("T_final",), "<S>(T_F), the equilibrium value the curves return to")
    return {"aging_members_done": int(done.sum()), "aging_events": int(n_ev.sum())}
