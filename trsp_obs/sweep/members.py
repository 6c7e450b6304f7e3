"""Members of a sweep: what one worker runs, as typed, picklable specs and results.

A *member* is one (kind, variant, temperature, replica): an equilibrium run (Q, chi_4, S_4
and block statistics of one replica) or a quench (<S>(t) after T_I -> T_F, with trsp_fast or
with the independent-site trap model).  :func:`member_specs` lists them; :func:`run_member`
runs one on a worker and returns an :class:`EquilibriumResult` or a :class:`QuenchResult`.

Randomness: member (kind k, variant v, temperature i, replica r) draws from
``SeedSequence(seed, spawn_key=(k, v, i, r))`` (what ``spawn`` would hand out), so every
member has an independent stream that does not depend on which members ran when.  It draws
its initial field first, then its dynamics, from that one stream.

Paired sweeps (``[sweep] paired = true``): an equilibrium member's initial field is drawn
instead from ``SeedSequence(seed, spawn_key=(KIND_INITIAL_FIELD, i, r))``, which does not
depend on the variant, so replica r at temperature i starts from the same field, bit for
bit, in every variant (the variants share the static field: config checks it); its dynamics
still draw from the member's own stream.  Comparing variants replica by replica then cancels
the initial field's contribution (trsp_obs.paired).  Unpaired sweeps are unchanged.
"""

from __future__ import annotations

import math
import time as _time
from dataclasses import dataclass, field, fields

import numpy as np

from trsp_ref.params import Params, dumps_toml, params_from_dict

from .config import SweepConfig, tomllib

__all__ = [
    "KIND_EQUILIBRIUM",
    "KIND_AGING",
    "KIND_TRAP",
    "KIND_INITIAL_FIELD",
    "MemberSpec",
    "EquilibriumSpec",
    "QuenchSpec",
    "EquilibriumResult",
    "QuenchResult",
    "member_id",
    "member_specs",
    "member_rng",
    "initial_field_rng",
    "run_member",
    "mean_softness_at",
]

KIND_EQUILIBRIUM, KIND_AGING, KIND_TRAP = 0, 1, 2
#: first spawn-key entry of the shared initial-field streams of paired sweeps (no member kind)
KIND_INITIAL_FIELD = 3
_KIND_NAMES = {KIND_EQUILIBRIUM: "eq", KIND_AGING: "aging", KIND_TRAP: "trap"}


def member_id(kind: int, variant: int, temperature: int, replica: int) -> str:
    """The member's name in the store and on the scheduler, e.g. ``eq-v0-T1-r3``."""
    return f"{_KIND_NAMES[kind]}-v{variant}-T{temperature}-r{replica}"


@dataclass(frozen=True)
class MemberSpec:
    """What every member needs: its id and kind, its random stream, its parameter set."""

    id: str
    kind: int
    spawn_key: tuple
    params_toml: str
    seed: int
    tolerance: tuple | None  # (kick, precision) as trsp_fast.FastModel takes it; None = untruncated
    digest: str  # of the sweep file: names the task on a shared scheduler
    cost: float  # for scheduling the longest members first

    @property
    def params(self) -> Params:
        return params_from_dict(tomllib.loads(self.params_toml))


@dataclass(frozen=True)
class EquilibriumSpec(MemberSpec):
    """An equilibrium replica of length ``t_max``, averaged over time origins ``origin_spacing`` apart."""

    t_max: float = 0.0
    lags: np.ndarray = field(default_factory=lambda: np.zeros(0))
    origin_spacing: float = 0.0
    spatial_origins: int = 0
    blocks: np.ndarray | None = None
    memory_origins: int = 0  # origins for C_SS(t) (trsp_obs.softness_memory); 0 = none
    initial_key: tuple | None = None  # paired sweeps: spawn key of the shared initial field


@dataclass(frozen=True)
class QuenchSpec(MemberSpec):
    """A quench from <S> = ``mean_initial`` observed at ``times`` (trap model: on ``n_sites`` sites)."""

    mean_initial: float = 0.0
    times: np.ndarray = field(default_factory=lambda: np.zeros(0))
    n_sites: int = 0


@dataclass
class EquilibriumResult:
    """One equilibrium replica's origin averages (trsp_obs.overlap.replica_stats) and costs."""

    id: str
    lags: np.ndarray
    n_origins: np.ndarray
    q_mean: np.ndarray
    q_sq_mean: np.ndarray
    n_spatial: int
    shell_power: np.ndarray
    block_var: np.ndarray
    blocks: np.ndarray
    n_events: int
    mean_S: float
    sim_wall_s: float
    wall_s: float
    kick_radius: float
    precision_radius: float
    cpu_s: float = math.nan
    # softness memory (trsp_obs.softness_memory); absent (None) in members run before format 1.1
    css_product: np.ndarray | None = None  # (J,) origin mean of dS(t0).dS(t0+t)/N
    css_equal_time: float = math.nan  # origin mean of |dS(t0)|^2 / N
    css_variance: float = math.nan  # sigma_t^2, the simulated model's equilibrium variance per site
    initial_digest: str = ""  # trsp_obs.runs.field_digest of the initial field (paired sweeps share it)


@dataclass
class QuenchResult:
    """One quench's site-averaged <S>(t) and costs."""

    id: str
    S_mean: np.ndarray
    n_events: int
    sim_wall_s: float
    wall_s: float
    cpu_s: float = math.nan


def result_from_arrays(arrays: dict) -> EquilibriumResult | QuenchResult:
    """The typed result stored as ``arrays`` (the member store's .npz files; unknown keys ignored)."""
    cls = QuenchResult if "S_mean" in arrays else EquilibriumResult
    names = {f.name for f in fields(cls)}
    values = {}
    for k, v in arrays.items():
        if k in names:
            v = np.asarray(v)
            values[k] = v.item() if v.ndim == 0 else v
    return cls(**values)


def mean_softness_at(p: Params, T: float) -> float:
    """<S>(T) of the parameter set (trsp_obs.runs.mean_softness); a set without [temperature]
    is one temperature's, its softness.mean."""
    from ..runs import mean_softness

    return mean_softness(p, T if p.temperature is not None else None)


def member_specs(cfg: SweepConfig) -> list[MemberSpec]:
    """Every member of the sweep (longest runs first)."""
    specs: list[MemberSpec] = []
    common = dict(tolerance=cfg.tolerance, seed=cfg.seed, digest=cfg.digest)
    for v in range(len(cfg.variants)):
        for i, T in enumerate(cfg.temperatures):
            p = cfg.params(v, T)
            t_max = cfg.run_length(v, i)
            for r in range(cfg.replicas):
                specs.append(EquilibriumSpec(
                    id=member_id(KIND_EQUILIBRIUM, v, i, r), kind=KIND_EQUILIBRIUM, spawn_key=(KIND_EQUILIBRIUM, v, i, r),
                    params_toml=dumps_toml(p), cost=t_max / p.m, t_max=t_max, lags=cfg.lags(v, i),
                    origin_spacing=t_max / cfg.n_origins, spatial_origins=cfg.spatial_origins,
                    blocks=None if cfg.blocks is None else np.array(cfg.blocks),
                    memory_origins=cfg.memory_origins,
                    initial_key=(KIND_INITIAL_FIELD, i, r) if cfg.paired else None, **common,
                ))  # fmt: skip
    ag = cfg.aging
    if ag is not None:
        for a, v in enumerate(ag.variants):
            for i, T in enumerate(ag.T_final):
                p = cfg.params(v, T)
                for r in range(ag.replicas):
                    specs.append(QuenchSpec(
                        id=member_id(KIND_AGING, a, i, r), kind=KIND_AGING, spawn_key=(KIND_AGING, a, i, r),
                        params_toml=dumps_toml(p), cost=float(ag.times[-1]),
                        mean_initial=mean_softness_at(p, ag.T_initial), times=ag.times, **common,
                    ))  # fmt: skip
        if ag.trap_model:
            for i, T in enumerate(ag.T_final):
                p = cfg.params(ag.variants[0], T)
                for r in range(ag.replicas):
                    specs.append(QuenchSpec(
                        id=member_id(KIND_TRAP, 0, i, r), kind=KIND_TRAP, spawn_key=(KIND_TRAP, 0, i, r),
                        params_toml=dumps_toml(p), cost=0.0, mean_initial=mean_softness_at(p, ag.T_initial),
                        times=ag.times, n_sites=ag.trap_sites or p.N, **common,
                    ))  # fmt: skip
    specs.sort(key=lambda s: -s.cost)
    return specs


def member_rng(spec: MemberSpec) -> np.random.Generator:
    """The member's own stream: the child of SeedSequence(seed) with the member's spawn key."""
    ss = np.random.SeedSequence(spec.seed, spawn_key=tuple(spec.spawn_key))
    return np.random.Generator(np.random.PCG64(ss))


def initial_field_rng(spec: MemberSpec) -> np.random.Generator | None:
    """The stream of a paired member's initial field (shared by the variants), else None."""
    key = getattr(spec, "initial_key", None)
    if key is None:
        return None
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(spec.seed, spawn_key=tuple(key))))


_MODELS: dict = {}


def _model(params_toml: str, tolerance):
    """FastModel cache of a worker process (members of one (variant, T) share the model)."""
    key = (params_toml, tolerance)
    if key not in _MODELS:
        from trsp_fast import FastModel

        if len(_MODELS) >= 4:
            _MODELS.pop(next(iter(_MODELS)))
        _MODELS[key] = FastModel(params_from_dict(tomllib.loads(params_toml)), tolerance=tolerance)
    return _MODELS[key]


def run_member(spec: MemberSpec) -> EquilibriumResult | QuenchResult:
    """Run one member (on a worker)."""
    from ..overlap import replica_stats
    from ..runs import equilibrium_log, quench_mean_softness
    from ..softness_memory import MemoryAccumulator, memory_origins

    wall0, cpu0 = _time.perf_counter(), _time.process_time()
    rng = member_rng(spec)
    p = spec.params
    if isinstance(spec, EquilibriumSpec):
        model = _model(spec.params_toml, spec.tolerance)
        memory = None
        if spec.memory_origins > 0:
            memory = MemoryAccumulator(memory_origins(0.0, spec.t_max, spec.memory_origins), spec.lags, model.mean, spec.t_max)
        log, info = equilibrium_log(model, rng, spec.t_max, memory=memory, initial_rng=initial_field_rng(spec))
        sim_wall = _time.perf_counter() - wall0
        st = replica_stats(
            log, dim=p.lattice.dim, L=p.lattice.L, shape=p.cluster.shape, spacing=p.lattice.spacing,
            lags=spec.lags, origin_spacing=spec.origin_spacing, spatial_origins=spec.spatial_origins,
            blocks=spec.blocks,
        )  # fmt: skip
        return EquilibriumResult(
            id=spec.id, lags=st.lags, n_origins=st.n_origins, q_mean=st.q_mean, q_sq_mean=st.q_sq_mean,
            n_spatial=st.n_spatial, shell_power=st.shell_power, block_var=st.block_var, blocks=st.blocks,
            n_events=info["n_events"], mean_S=info["mean_S"], sim_wall_s=sim_wall,
            wall_s=_time.perf_counter() - wall0, cpu_s=_time.process_time() - cpu0,
            kick_radius=float(model.kick_radius), precision_radius=float(model.precision_radius),
            **({} if memory is None else dict(
                css_product=memory.product_mean, css_equal_time=memory.equal_time,
                css_variance=float(model.covariance_row[0]),
            )),
            initial_digest=info["initial_digest"],
        )  # fmt: skip
    if spec.kind == KIND_AGING:
        model = _model(spec.params_toml, spec.tolerance)
        curve, info = quench_mean_softness(model, rng, spec.mean_initial, spec.times)
        return QuenchResult(
            id=spec.id, S_mean=curve, n_events=info["n_events"], sim_wall_s=info["wall_s"],
            wall_s=_time.perf_counter() - wall0, cpu_s=_time.process_time() - cpu0,
        )  # fmt: skip
    from ..aging import trap_quench_mean_softness

    curve = trap_quench_mean_softness(p, rng, spec.mean_initial, spec.times, spec.n_sites)
    return QuenchResult(
        id=spec.id, S_mean=curve, n_events=0, sim_wall_s=0.0,
        wall_s=_time.perf_counter() - wall0, cpu_s=_time.process_time() - cpu0,
    )  # fmt: skip
