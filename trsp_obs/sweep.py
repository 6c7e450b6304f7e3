"""Sweeps: temperatures x replicas x variants (and aging quenches) on Dask, resumable, into one HDF5 file.

A sweep is described by a TOML file (docs/reproduction.md, "Sweep files"); every
(kind, variant, temperature, replica) is a *member*, run by :func:`run_member` on a Dask
worker.  The client saves each finished member atomically in a member store
(``OUT.members/``: one ``.npz`` per member, written to a temporary name, fsync'ed and renamed),
so a crash loses at most the members that were running; ``resume=True`` skips the members
already stored (after checking that the sweep file is the same).  When every member is done
the client combines them (:mod:`trsp_obs.heterogeneity`, :mod:`trsp_obs.aging`) and writes
``OUT`` atomically (temporary file + rename): netCDF4-style HDF5 (dimension scales), whose
schema is docs/sweep-format.md.

Randomness: one ``numpy.random.SeedSequence(seed)``; member (kind k, variant v, temperature i,
replica r) uses the child with spawn key (k, v, i, r) (what ``spawn`` would hand out), so
every member has an independent stream that does not depend on which members ran when.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import os
import sys
import tempfile
import time as _time
from dataclasses import dataclass
from pathlib import Path
import numpy as np

try:  # Python >= 3.11
    import tomllib
except ModuleNotFoundError:  # pragma: no cover
    import tomli as tomllib  # type: ignore[no-redef]

from trsp_ref.params import ParameterError, Params, dumps_toml, params_from_dict

from .presets import PRESETS, preset_dict

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "SweepConfig",
    "Variant",
    "AgingConfig",
    "SweepError",
    "load_sweep_config",
    "sweep_config_from_dict",
    "member_specs",
    "run_member",
    "MemberStore",
    "run_sweep",
    "assemble",
]

FORMAT = "trsp-sweep"
FORMAT_VERSION = "1.0"
KIND_EQUILIBRIUM, KIND_AGING, KIND_TRAP = 0, 1, 2
_KIND_NAMES = {KIND_EQUILIBRIUM: "eq", KIND_AGING: "aging", KIND_TRAP: "trap"}
TRAP_NAME = "trap model"


class SweepError(RuntimeError):
    """Some members of a sweep failed (the sweep file was written without them)."""


# ----------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class Variant:
    """One model variant: a name, parameter overrides (``{section: {key: value}}``) and a factor
    on the run lengths (a variant with faster or slower dynamics needs shorter or longer runs)."""

    name: str
    overrides: dict
    t_max_scale: float = 1.0


@dataclass(frozen=True)
class AgingConfig:
    T_initial: float
    T_final: tuple
    replicas: int
    times: np.ndarray
    variants: tuple  # indices into SweepConfig.variants
    trap_model: bool
    trap_sites: int


@dataclass(frozen=True)
class SweepConfig:
    """A validated sweep file (see :func:`sweep_config_from_dict` for the keys)."""

    name: str
    text: str
    base: dict
    base_label: str
    illustrative: bool
    temperatures: tuple
    replicas: int
    seed: int
    tolerance: float | None
    t_max: tuple
    lag_fractions: np.ndarray
    n_origins: int
    spatial_origins: int
    blocks: tuple | None
    variants: tuple
    aging: AgingConfig | None
    n_bootstrap: int
    oz_qmax: float | None
    block_fit_max: int | None

    def params(self, variant: int, T: float) -> Params:
        """Validated Params of ``variants[variant]`` at temperature T."""
        d = json.loads(json.dumps(self.base))
        for section, updates in self.variants[variant].overrides.items():
            d.setdefault(section, {}).update(updates)
        d.setdefault("temperature", {})["T"] = float(T)
        return params_from_dict(d)

    @property
    def digest(self) -> str:
        """Hash of everything that determines the members' results (resume checks it)."""
        blob = self.text + "\n" + json.dumps(self.base, sort_keys=True)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]

    def run_length(self, v: int, i: int) -> float:
        """t_max of variant v at temperature index i."""
        return self.t_max[i] * self.variants[v].t_max_scale

    def lags(self, v: int, i: int) -> np.ndarray:
        return self.run_length(v, i) * self.lag_fractions


def _get(table: dict, key: str, where: str, kind, default=...):
    if key not in table:
        if default is ...:
            raise ParameterError(f"{where}.{key}", "is required")
        return default
    v = table[key]
    if kind is float:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(float(v)):
            raise ParameterError(f"{where}.{key}", "must be a finite number", v)
        return float(v)
    if kind is int:
        if isinstance(v, bool) or not isinstance(v, int):
            raise ParameterError(f"{where}.{key}", "must be an integer", v)
        return int(v)
    if not isinstance(v, kind):
        raise ParameterError(f"{where}.{key}", f"must be a {getattr(kind, '__name__', kind)}", v)
    return v


def _check_keys(table: dict, allowed: set, where: str) -> None:
    for k in table:
        if k not in allowed:
            raise ParameterError(f"{where}.{k}", f"unknown key; [{where}] takes {sorted(allowed)}")


def _number_list(v, where: str) -> list[float]:
    if not isinstance(v, list) or not v:
        raise ParameterError(where, "must be a nonempty list of numbers", v)
    out = []
    for x in v:
        if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(float(x)):
            raise ParameterError(where, "must be a list of finite numbers", v)
        out.append(float(x))
    return out


def sweep_config_from_dict(data: dict, *, text: str = "", base_dir: Path | None = None) -> SweepConfig:
    """Validate a sweep document (the TOML as a dict); ParameterError names the bad key.

    [sweep]   name, params (preset name or parameter-file path relative to the sweep file),
              temperatures (list), replicas (>= 2), seed (>= 0), tolerance (>= 0; default 1e-3;
              0 = untruncated), overrides ({section = {key = value}}, applied to every member)
    [run]     t_max (number or list per temperature), lag_min_fraction (default 1e-4),
              n_lags (default 33), n_origins (default 256), spatial_origins (default 32),
              blocks (list of block sides; default 1 .. L)
    [[variants]]  name, t_max_scale (factor on run.t_max, default 1), and overrides: shape
              (cluster.shape), facilitation (kick.facilitation), or full tables
              {section = {key = value}}; default one variant "base"
    [aging]   T_initial, T_final (list), replicas, t_min, t_max, n_times, variants (names;
              default the first), trap_model (bool, default true), trap_sites (default N)
    [analysis] n_bootstrap (default 200), oz_qmax, block_fit_max
    """
    base_dir = Path(".") if base_dir is None else Path(base_dir)
    if not isinstance(data, dict):
        raise ParameterError("<sweep>", "must be a table")
    _check_keys(data, {"sweep", "run", "variants", "aging", "analysis"}, "<sweep file>")
    sw = _get(data, "sweep", "<sweep file>", dict)
    _check_keys(sw, {"name", "params", "temperatures", "replicas", "seed", "tolerance", "overrides"}, "sweep")
    name = _get(sw, "name", "sweep", str, "sweep")
    src = _get(sw, "params", "sweep", str)
    if src in PRESETS:
        base, label, illustrative = preset_dict(src), src, True
    else:
        path = (base_dir / src) if not Path(src).is_absolute() else Path(src)
        try:
            base = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ParameterError("sweep.params", f"is neither a preset {sorted(PRESETS)} nor a readable file: {exc.strerror}", src) from None
        except tomllib.TOMLDecodeError as exc:
            raise ParameterError("sweep.params", f"is not valid TOML: {exc}", src) from None
        label, illustrative = str(path), False
    if "temperature" not in base:
        raise ParameterError("sweep.params", "the parameter set needs a [temperature] section (Eqs. 27-28) to sweep T", src)
    overrides = _get(sw, "overrides", "sweep", dict, {})
    for section, upd in overrides.items():
        if not isinstance(upd, dict):
            raise ParameterError(f"sweep.overrides.{section}", "must be a table {key = value}", upd)
        base.setdefault(section, {}).update(upd)
    temps = _number_list(_get(sw, "temperatures", "sweep", list), "sweep.temperatures")
    if any(t <= 0 for t in temps) or len(set(temps)) != len(temps):
        raise ParameterError("sweep.temperatures", "must be distinct temperatures > 0", temps)
    replicas = _get(sw, "replicas", "sweep", int)
    if replicas < 2:
        raise ParameterError("sweep.replicas", "must be >= 2 (chi_4 needs the between-replica variance)", replicas)
    seed = _get(sw, "seed", "sweep", int)
    if seed < 0:
        raise ParameterError("sweep.seed", "must be >= 0", seed)
    tol = _get(sw, "tolerance", "sweep", float, 1e-3)
    if tol < 0:
        raise ParameterError("sweep.tolerance", "must be >= 0 (0 = no truncation)", tol)

    run = _get(data, "run", "<sweep file>", dict, {})
    _check_keys(run, {"t_max", "lag_min_fraction", "n_lags", "n_origins", "spatial_origins", "blocks"}, "run")
    tm = run.get("t_max")
    if tm is None:
        raise ParameterError("run.t_max", "is required: a run length per temperature (several tau_chi)")
    t_max = _number_list(tm, "run.t_max") if isinstance(tm, list) else [_get(run, "t_max", "run", float)] * len(temps)
    if len(t_max) != len(temps) or any(t <= 0 for t in t_max):
        raise ParameterError("run.t_max", f"must be a number > 0 or a list of {len(temps)} (one per temperature)", tm)
    fmin = _get(run, "lag_min_fraction", "run", float, 1e-4)
    n_lags = _get(run, "n_lags", "run", int, 33)
    if not 0 < fmin < 0.5 or n_lags < 3:
        raise ParameterError("run.lag_min_fraction", "need 0 < lag_min_fraction < 0.5 and n_lags >= 3", (fmin, n_lags))
    n_origins = _get(run, "n_origins", "run", int, 256)
    if not 2 <= n_origins <= 4096:
        raise ParameterError("run.n_origins", "must lie in [2, 4096]", n_origins)
    spatial = _get(run, "spatial_origins", "run", int, 32)
    if spatial < 0:
        raise ParameterError("run.spatial_origins", "must be >= 0", spatial)
    blocks = run.get("blocks")
    if blocks is not None:
        if not isinstance(blocks, list) or not blocks or not all(isinstance(b, int) and not isinstance(b, bool) for b in blocks):
            raise ParameterError("run.blocks", "must be a list of integer block sides", blocks)
        if sorted(set(blocks)) != blocks or blocks[0] < 1:
            raise ParameterError("run.blocks", "must be increasing integers >= 1", blocks)
        blocks = tuple(blocks)

    variants = []
    for k, v in enumerate(_get(data, "variants", "<sweep file>", list, [{"name": "base"}])):
        where = f"variants[{k}]"
        if not isinstance(v, dict):
            raise ParameterError(where, "must be a table", v)
        vname = _get(v, "name", where, str)
        scale = _get(v, "t_max_scale", where, float, 1.0)
        if not scale > 0:
            raise ParameterError(f"{where}.t_max_scale", "must be > 0", scale)
        ov: dict = {}
        for key, val in v.items():
            if key in ("name", "t_max_scale"):
                continue
            if key == "shape":
                ov.setdefault("cluster", {})["shape"] = val
            elif key == "facilitation":
                ov.setdefault("kick", {})["facilitation"] = val
            elif isinstance(val, dict):
                ov.setdefault(key, {}).update(val)
            else:
                raise ParameterError(
                    f"{where}.{key}", "unknown key; a variant takes name, shape, facilitation, t_max_scale or {section = {key = value}} tables"
                )
        variants.append(Variant(vname, ov, scale))
    if len({v.name for v in variants}) != len(variants) or any(v.name == TRAP_NAME for v in variants):
        raise ParameterError("variants", f"variant names must be distinct (and not {TRAP_NAME!r})")

    ana = _get(data, "analysis", "<sweep file>", dict, {})
    _check_keys(ana, {"n_bootstrap", "oz_qmax", "block_fit_max"}, "analysis")
    n_boot = _get(ana, "n_bootstrap", "analysis", int, 200)
    if n_boot < 0:
        raise ParameterError("analysis.n_bootstrap", "must be >= 0", n_boot)
    oz_qmax = _get(ana, "oz_qmax", "analysis", float, None)
    bfm = _get(ana, "block_fit_max", "analysis", int, None)

    aging = None
    if "aging" in data:
        ag = _get(data, "aging", "<sweep file>", dict)
        _check_keys(ag, {"T_initial", "T_final", "replicas", "t_min", "t_max", "n_times", "variants", "trap_model", "trap_sites"}, "aging")
        T_I = _get(ag, "T_initial", "aging", float)
        T_F = _number_list(_get(ag, "T_final", "aging", list), "aging.T_final")
        if T_I <= 0 or any(t <= 0 for t in T_F):
            raise ParameterError("aging.T_final", "temperatures must be > 0", T_F)
        a_reps = _get(ag, "replicas", "aging", int)
        if a_reps < 1:
            raise ParameterError("aging.replicas", "must be >= 1", a_reps)
        t_min = _get(ag, "t_min", "aging", float, 0.1)
        a_tmax = _get(ag, "t_max", "aging", float)
        n_times = _get(ag, "n_times", "aging", int, 41)
        if not (0 < t_min < a_tmax) or n_times < 2:
            raise ParameterError("aging.t_max", "need 0 < t_min < t_max and n_times >= 2", (t_min, a_tmax, n_times))
        names = _get(ag, "variants", "aging", list, [variants[0].name])
        idx = []
        for nm in names:
            hits = [k for k, v in enumerate(variants) if v.name == nm]
            if not hits:
                raise ParameterError("aging.variants", f"names no variant; variants are {[v.name for v in variants]}", nm)
            idx.append(hits[0])
        trap = _get(ag, "trap_model", "aging", bool, True)
        trap_sites = _get(ag, "trap_sites", "aging", int, 0)
        aging = AgingConfig(T_I, tuple(T_F), a_reps, np.geomspace(t_min, a_tmax, n_times), tuple(idx), trap, trap_sites)

    cfg = SweepConfig(
        name=name, text=text or json.dumps(data, sort_keys=True, default=str), base=base, base_label=label,
        illustrative=illustrative, temperatures=tuple(temps), replicas=replicas, seed=seed,
        tolerance=tol if tol > 0 else None, t_max=tuple(t_max),
        lag_fractions=np.geomspace(fmin, 0.5, n_lags), n_origins=n_origins, spatial_origins=spatial,
        blocks=blocks, variants=tuple(variants), aging=aging, n_bootstrap=n_boot, oz_qmax=oz_qmax,
        block_fit_max=bfm,
    )  # fmt: skip
    # validate every parameter set now (scalar conditions); members validate the lattice ones
    Ls = set()
    for v in range(len(variants)):
        for T in temps + (list(aging.T_final) if aging else []):
            p = cfg.params(v, T)
            Ls.add((p.lattice.dim, p.lattice.L, p.lattice.spacing))
    if len(Ls) != 1:
        raise ParameterError("variants", "all variants must share one lattice (dim, L, spacing): the sweep file has one q and block axis")
    dim, L, _ = Ls.pop()
    if blocks is not None and blocks[-1] > L:
        raise ParameterError("run.blocks", f"block sides must be <= L = {L}", list(blocks))
    return cfg


def load_sweep_config(path: str | Path) -> SweepConfig:
    """Read and validate a sweep TOML file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ParameterError(str(path), f"cannot read the sweep file: {exc.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ParameterError(str(path), f"is not valid TOML: {exc}") from None
    return sweep_config_from_dict(data, text=text, base_dir=path.parent)


# ----------------------------------------------------------------------------- members


def member_id(kind: int, v: int, i: int, r: int) -> str:
    return f"{_KIND_NAMES[kind]}-v{v}-T{i}-r{r}"


def member_specs(cfg: SweepConfig) -> list[dict]:
    """Every member as a picklable dict for :func:`run_member` (longest runs first)."""
    specs = []
    common = dict(tolerance=cfg.tolerance, seed=cfg.seed, digest=cfg.digest)
    for v in range(len(cfg.variants)):
        for i, T in enumerate(cfg.temperatures):
            p = cfg.params(v, T)
            for r in range(cfg.replicas):
                specs.append(dict(
                    common, id=member_id(KIND_EQUILIBRIUM, v, i, r), kind=KIND_EQUILIBRIUM, spawn_key=(KIND_EQUILIBRIUM, v, i, r),
                    params_toml=dumps_toml(p), t_max=cfg.run_length(v, i), lags=cfg.lags(v, i),
                    origin_spacing=cfg.run_length(v, i) / cfg.n_origins, spatial_origins=cfg.spatial_origins,
                    blocks=None if cfg.blocks is None else np.array(cfg.blocks), cost=cfg.run_length(v, i) / p.m,
                ))  # fmt: skip
    ag = cfg.aging
    if ag is not None:
        for a, v in enumerate(ag.variants):
            for i, T in enumerate(ag.T_final):
                p = cfg.params(v, T)
                for r in range(ag.replicas):
                    specs.append(dict(
                        common, id=member_id(KIND_AGING, a, i, r), kind=KIND_AGING, spawn_key=(KIND_AGING, a, i, r),
                        params_toml=dumps_toml(p), mean_initial=_mean(p, ag.T_initial), times=ag.times,
                        cost=ag.times[-1],
                    ))  # fmt: skip
        if ag.trap_model:
            for i, T in enumerate(ag.T_final):
                p = cfg.params(ag.variants[0], T)
                for r in range(ag.replicas):
                    specs.append(dict(
                        common, id=member_id(KIND_TRAP, 0, i, r), kind=KIND_TRAP, spawn_key=(KIND_TRAP, 0, i, r),
                        params_toml=dumps_toml(p), mean_initial=_mean(p, ag.T_initial), times=ag.times,
                        n_sites=ag.trap_sites or p.N, cost=0.0,
                    ))  # fmt: skip
    specs.sort(key=lambda s: -s["cost"])
    return specs


def _mean(p: Params, T: float) -> float:
    from .runs import mean_softness

    return mean_softness(p, T)


_MODELS: dict = {}


def _model(params_toml: str, tolerance):
    """FastModel cache of a worker process (members of one (variant, T) share the model)."""
    key = (params_toml, tolerance)
    if key not in _MODELS:
        from trsp_fast import FastModel

        if len(_MODELS) >= 4:
            _MODELS.pop(next(iter(_MODELS)))
        p = params_from_dict(tomllib.loads(params_toml))
        _MODELS[key] = FastModel(p, tolerance=tolerance if tolerance is not None else None)
    return _MODELS[key]


def _rng(spec: dict) -> np.random.Generator:
    ss = np.random.SeedSequence(spec["seed"], spawn_key=tuple(spec["spawn_key"]))
    return np.random.Generator(np.random.PCG64(ss))


def run_member(spec: dict) -> dict:
    """Run one member (on a worker) and return its results as a dict of numpy arrays / scalars."""
    from .overlap import replica_stats
    from .runs import equilibrium_log, quench_mean_softness

    t0 = _time.perf_counter()
    c0 = _time.process_time()
    rng = _rng(spec)
    p = params_from_dict(tomllib.loads(spec["params_toml"]))
    if spec["kind"] == KIND_EQUILIBRIUM:
        model = _model(spec["params_toml"], spec["tolerance"])
        log, info = equilibrium_log(model, rng, spec["t_max"])
        t_sim = _time.perf_counter() - t0
        st = replica_stats(
            log, dim=p.lattice.dim, L=p.lattice.L, shape=p.cluster.shape, spacing=p.lattice.spacing,
            lags=spec["lags"], origin_spacing=spec["origin_spacing"], spatial_origins=spec["spatial_origins"],
            blocks=spec["blocks"],
        )  # fmt: skip
        return dict(
            id=spec["id"], lags=st.lags, n_origins=st.n_origins, q_mean=st.q_mean, q_sq_mean=st.q_sq_mean,
            n_spatial=st.n_spatial, shell_power=st.shell_power, block_var=st.block_var, blocks=st.blocks,
            n_events=info["n_events"], mean_S=info["mean_S"], sim_wall_s=t_sim,
            wall_s=_time.perf_counter() - t0, cpu_s=_time.process_time() - c0, kick_radius=float(model.kick_radius),
            precision_radius=float(model.precision_radius),
        )  # fmt: skip
    if spec["kind"] == KIND_AGING:
        model = _model(spec["params_toml"], spec["tolerance"])
        curve, info = quench_mean_softness(model, rng, spec["mean_initial"], spec["times"])
        return dict(
            id=spec["id"], S_mean=curve, n_events=info["n_events"], sim_wall_s=info["wall_s"],
            wall_s=_time.perf_counter() - t0, cpu_s=_time.process_time() - c0,
        )  # fmt: skip
    from .aging import trap_quench_mean_softness

    curve = trap_quench_mean_softness(p, rng, spec["mean_initial"], spec["times"], spec["n_sites"])
    return dict(id=spec["id"], S_mean=curve, n_events=0, sim_wall_s=0.0, wall_s=_time.perf_counter() - t0, cpu_s=_time.process_time() - c0)


# ----------------------------------------------------------------------------- member store


def _umask() -> int:
    mask = os.umask(0o022)  # the only portable way to read it is to set it
    os.umask(mask)
    return mask


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class MemberStore:
    """``DIR/``: ``sweep.json`` (the sweep file's text and digest) and one ``ID.npz`` per finished member."""

    def __init__(self, root: Path):
        self.root = Path(root)

    @property
    def manifest(self) -> Path:
        return self.root / "sweep.json"

    def open(self, cfg: SweepConfig, resume: bool) -> None:
        """Create the store, or (resume) check that it belongs to this sweep."""
        if self.root.exists() and any(self.root.glob("*.npz")):
            if not resume:
                raise ParameterError(
                    "out", f"{self.root} already holds members of a sweep: pass --resume to continue it, or remove it", str(self.root)
                )
            try:
                man = json.loads(self.manifest.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                raise ParameterError("out", f"{self.manifest} is missing or unreadable: cannot check what was run", str(self.root)) from None
            if man.get("digest") != cfg.digest:
                raise ParameterError(
                    "config", "differs from the sweep file the stored members were run with (see sweep.json); resuming would mix two sweeps",
                    str(self.root),
                )
            return
        self.root.mkdir(parents=True, exist_ok=True)
        _atomic_write_bytes(self.manifest, json.dumps({"format": FORMAT, "digest": cfg.digest, "sweep_toml": cfg.text}).encode())

    def done(self) -> set[str]:
        return {p.stem for p in self.root.glob("*.npz")}

    def write(self, result: dict) -> None:
        path = self.root / f"{result['id']}.npz"
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".tmp-", suffix=".npz")
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, **{k: np.asarray(v) for k, v in result.items()})
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _fsync_dir(self.root)

    def read(self, mid: str) -> dict | None:
        path = self.root / f"{mid}.npz"
        if not path.exists():
            return None
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


# ----------------------------------------------------------------------------- running


def _check_models(cfg: SweepConfig) -> None:
    """Build each (variant, temperature) model once on the client: lattice-level ParameterErrors
    (K not positive definite, kick eigenvalues, rate overflow, ...) surface before any work."""
    from trsp_fast import FastModel

    temps = set(cfg.temperatures) | (set(cfg.aging.T_final) if cfg.aging else set())
    for v in range(len(cfg.variants)):
        for T in sorted(temps):
            FastModel(cfg.params(v, T), tolerance=cfg.tolerance)


def run_sweep(
    config: str | Path,
    out: str | Path,
    *,
    scheduler: str | None = None,
    resume: bool = False,
    progress: bool = True,
    n_workers: int = 2,
    client=None,
) -> dict:
    """Run (or resume) a sweep and write ``out``; return a summary dict.

    scheduler : address of a running Dask scheduler (e.g. from dask-jobqueue); default a
        LocalCluster of ``n_workers`` single-threaded worker processes.
    client : an existing ``dask.distributed.Client`` (tests); overrides ``scheduler``.
    Raises ParameterError for bad input, SweepError (after writing the members that finished)
    if members failed.
    """
    cfg = load_sweep_config(config)
    out = Path(out)
    if out.exists() and not resume:
        raise ParameterError("out", "already exists: pass --resume to finish/rebuild it, or choose another name", str(out))
    if not out.parent.exists():
        raise ParameterError("out", "its directory does not exist", str(out))
    store = MemberStore(out.with_name(out.name + ".members"))
    store.open(cfg, resume)
    _check_models(cfg)
    specs = member_specs(cfg)
    done = store.done()
    todo = [s for s in specs if s["id"] not in done]
    failures: list[tuple[str, str]] = []
    t_start = _time.perf_counter()
    if todo:
        failures = _execute(todo, store, scheduler=scheduler, progress=progress, n_workers=n_workers, client=client)
    wall = _time.perf_counter() - t_start
    summary = assemble(cfg, store, out)
    summary.update(run_wall_s=wall, ran=len(todo) - len(failures), skipped=len(specs) - len(todo), failed=failures)
    if failures:
        raise SweepError(
            f"{len(failures)} of {len(specs)} members failed (first: {failures[0][0]}: {failures[0][1]}); "
            f"{out} was written without them; fix the cause and rerun with --resume"
        )
    return summary


def _execute(todo: list[dict], store: MemberStore, *, scheduler, progress, n_workers, client) -> list:
    from dask.distributed import Client, LocalCluster, as_completed

    own_cluster = own_client = None
    if client is None:
        if scheduler:
            client = own_client = Client(scheduler)
        else:
            # one BLAS / Numba thread per worker: the workers are the parallelism
            for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
                os.environ.setdefault(var, "1")
            own_cluster = LocalCluster(
                n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                silence_logs=40,
            )  # fmt: skip
            client = own_client = Client(own_cluster)
    failures = []
    try:
        # the key names the task on a (possibly shared) scheduler: sweep digest + member id
        futures = [client.submit(run_member, s, key=f"trsp-{s['digest']}-{s['id']}", pure=False) for s in todo]
        bar = _progress(progress, len(todo))
        with bar as pb:
            task = pb.add_task("members", total=len(todo)) if pb else None
            for fut in as_completed(futures):
                try:
                    res = fut.result()
                except Exception as exc:  # a member failed: keep going, report at the end
                    failures.append((fut.key, f"{type(exc).__name__}: {exc}"))
                else:
                    store.write(res)
                fut.release()
                if pb:
                    pb.advance(task)
    finally:
        if own_client is not None:  # never close a client (or cluster) the caller owns
            own_client.close()
        if own_cluster is not None:
            own_cluster.close()
    return failures


class _NoProgress:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def _progress(enabled: bool, total: int):
    if not enabled:
        return _NoProgress()
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TimeRemainingColumn(), transient=False,
    )  # fmt: skip


# ----------------------------------------------------------------------------- assembling the sweep file


def assemble(cfg: SweepConfig, store: MemberStore, out: Path) -> dict:
    """Combine the stored members and write the sweep file ``out`` atomically (docs/sweep-format.md)."""
    import h5py

    from .aging import aging_summary
    from .heterogeneity import StackedStats, analyse
    from .lattice import wavevector_shells

    p0 = cfg.params(0, cfg.temperatures[0])
    dim, L, a = p0.lattice.dim, p0.lattice.L, p0.lattice.spacing
    N = p0.N
    q_shells, _, shell_counts = wavevector_shells(dim, L, a)
    blocks = np.arange(1, L + 1) if cfg.blocks is None else np.array(cfg.blocks)
    V, NT, R, J, NQ, NB = len(cfg.variants), len(cfg.temperatures), cfg.replicas, cfg.lag_fractions.size, q_shells.size, blocks.size
    nan = np.nan
    mq = np.full((V, NT, R, J), nan)
    mq2 = np.full((V, NT, R, J), nan)
    msp = np.full((V, NT, R, J, NQ), nan)
    mbv = np.full((V, NT, R, J, NB), nan)
    mev = np.zeros((V, NT, R), dtype=np.int64)
    mwall = np.full((V, NT, R), nan)
    mcpu = np.full((V, NT, R), nan)
    msim = np.full((V, NT, R), nan)
    mS = np.full((V, NT, R), nan)
    mdone = np.zeros((V, NT, R), dtype=np.int8)
    n_orig = np.zeros((V, NT, J), dtype=np.int64)
    radii = np.full((V, NT, 2), nan)
    for v in range(V):
        for i in range(NT):
            for r in range(R):
                m = store.read(member_id(KIND_EQUILIBRIUM, v, i, r))
                if m is None:
                    continue
                mq[v, i, r], mq2[v, i, r] = m["q_mean"], m["q_sq_mean"]
                msp[v, i, r], mbv[v, i, r] = m["shell_power"], m["block_var"]
                mev[v, i, r], mwall[v, i, r], msim[v, i, r] = m["n_events"], m["wall_s"], m["sim_wall_s"]
                mcpu[v, i, r] = m["cpu_s"] if "cpu_s" in m else nan
                mS[v, i, r], mdone[v, i, r] = m["mean_S"], 1
                n_orig[v, i] = m["n_origins"]
                radii[v, i] = m["kick_radius"], m["precision_radius"]

    boot_rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(cfg.seed, spawn_key=(9,))))
    agg = {k: np.full((V, NT), nan) for k in (
        "tau_chi", "tau_chi_err", "chi4_star", "chi4_star_err", "xi4_oz", "xi4_oz_err", "S4_0_oz", "s4_lag",
        "xi4_block", "xi4_block_err", "chi4_block_inf", "block_A0", "block_A1", "mean_S", "mean_S_err", "mean_S_expected",
    )}  # fmt: skip
    agg["peak_resolved"] = np.zeros((V, NT), dtype=np.int8)
    agg["n_replicas"] = mdone.sum(axis=2).astype(np.int64)
    curves = {k: np.full((V, NT, J), nan) for k in ("Q", "Q_err", "chi4", "chi4_err")}
    s4 = {k: np.full((V, NT, NQ), nan) for k in ("S4", "S4_err")}
    blk = {k: np.full((V, NT, NB), nan) for k in ("chi4_block_star", "chi4_block_star_err")}
    chi4_block = np.full((V, NT, J, NB), nan)
    for v in range(V):
        for i, T in enumerate(cfg.temperatures):
            agg["mean_S_expected"][v, i] = _mean(cfg.params(v, T), T)
            ok = np.flatnonzero(mdone[v, i])
            if ok.size >= 1:
                agg["mean_S"][v, i] = mS[v, i, ok].mean()
                if ok.size >= 2:
                    agg["mean_S_err"][v, i] = mS[v, i, ok].std(ddof=1) / math.sqrt(ok.size)
            if ok.size < 2:
                continue
            st = StackedStats(cfg.lags(v, i), n_orig[v, i], mq[v, i, ok], mq2[v, i, ok], msp[v, i, ok], mbv[v, i, ok], blocks, N, dim, L, a)
            h = analyse(st, rng=boot_rng, n_bootstrap=cfg.n_bootstrap, oz_qmax=cfg.oz_qmax, block_fit_max=cfg.block_fit_max)
            for k in ("tau_chi", "tau_chi_err", "chi4_star", "chi4_star_err", "xi4_oz", "xi4_oz_err", "S4_0_oz", "s4_lag",
                      "xi4_block", "xi4_block_err", "chi4_block_inf", "block_A0", "block_A1"):  # fmt: skip
                agg[k][v, i] = getattr(h, k)
            agg["peak_resolved"][v, i] = int(h.peak_resolved)
            for k in curves:
                if getattr(h, k) is not None:
                    curves[k][v, i] = getattr(h, k)
            if h.S4.size == NQ:
                s4["S4"][v, i] = h.S4
                if h.S4_err is not None:
                    s4["S4_err"][v, i] = h.S4_err
            blk["chi4_block_star"][v, i] = h.chi4_block_star
            if h.chi4_block_star_err is not None:
                blk["chi4_block_star_err"][v, i] = h.chi4_block_star_err
            chi4_block[v, i] = h.chi4_block

    settings = dict(
        oz_qmax=1.75 / a if cfg.oz_qmax is None else cfg.oz_qmax,
        block_fit_max=L // 2 if cfg.block_fit_max is None else cfg.block_fit_max,
        n_bootstrap=cfg.n_bootstrap,
    )
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
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
            _var(h5, "n_origins", n_orig, ("variant", "temperature", "lag"), "time origins averaged per replica at this lag")
            _var(h5, "kick_radius", radii[..., 0], ("variant", "temperature"), "trsp_fast kick window radius (sigma_AA)")
            _var(h5, "precision_radius", radii[..., 1], ("variant", "temperature"), "trsp_fast precision truncation radius (sigma_AA)")
            # per member
            md = ("variant", "temperature", "replica")
            _var(h5, "member_done", mdone, md, "1 if the member finished")
            _var(h5, "member_n_events", mev, md, "events simulated")
            _var(h5, "member_wall_s", mwall, md, "worker wall time (simulation + statistics), s")
            _var(h5, "member_sim_wall_s", msim, md, "worker wall time of the simulation alone, s")
            _var(h5, "member_cpu_s", mcpu, md, "worker CPU time (simulation + statistics), s")
            _var(h5, "member_mean_S", mS, md, "time average of the site-averaged S (equilibrium check)")
            _var(h5, "member_q_mean", mq, md + ("lag",), "origin average of Q(t0, t) (Eq. 31)")
            _var(h5, "member_q_sq_mean", mq2, md + ("lag",), "origin average of Q(t0, t)^2")
            _var(h5, "member_shell_power", msp, md + ("lag", "q"), "origin and shell average of |Q~(q; t0, t)|^2 (Eq. 33)")
            _var(h5, "member_block_var", mbv, md + ("lag", "block"), "origin average of the variance over block positions of Q_B")
            # combined
            vt, vtl = ("variant", "temperature"), ("variant", "temperature", "lag")
            _var(h5, "n_replicas", agg["n_replicas"], vt, "replicas combined")
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
                _var(h5, k, agg[k], vt, desc)
                _var(h5, k + "_err", agg[k + "_err"], vt, "bootstrap standard error of " + k if k != "mean_S" else "standard error of mean_S")
            _var(h5, "peak_resolved", agg["peak_resolved"], vt, "0 if the chi_4 maximum is at an end of the lag grid")
            _var(h5, "S4_0_oz", agg["S4_0_oz"], vt, "S_4(0) of the Ornstein-Zernike fit")
            _var(h5, "s4_lag", agg["s4_lag"], vt, "grid lag at which S_4 is evaluated (nearest tau_chi)")
            _var(h5, "chi4_block_inf", agg["chi4_block_inf"], vt, "L_B -> infinity limit of the block fit")
            _var(h5, "block_A0", agg["block_A0"], vt, "block fit chi4_block_star = block_A0 + block_A1 h(L_B; xi4_block): self term")
            _var(h5, "block_A1", agg["block_A1"], vt, "block fit: amplitude of the correlated term")
            _var(h5, "mean_S_expected", agg["mean_S_expected"], vt, "<S>(T) = mean_a + mean_b / T")
            _var(h5, "S4", s4["S4"], vt + ("q",), "S_4(q, t) (Eqs. 33-34) at s4_lag, shell averaged; q = 0 holds chi_4")
            _var(h5, "S4_err", s4["S4_err"], vt + ("q",), "bootstrap standard error of S4")
            _var(h5, "chi4_block", chi4_block, vtl + ("block",), "block chi_4^B(L_B, t)")
            _var(h5, "chi4_block_star", blk["chi4_block_star"], vt + ("block",), "peak over t of chi4_block")
            _var(h5, "chi4_block_star_err", blk["chi4_block_star_err"], vt + ("block",), "bootstrap standard error")
            if cfg.aging is not None:
                aging_info = _write_aging(h5, cfg, store, aging_summary)
            else:
                aging_info = {}
            h5.flush()
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, out)
        _fsync_dir(out.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return dict(
        out=str(out), members_done=int(mdone.sum()), members_total=int(mdone.size),
        events=int(mev.sum()), member_wall_s=float(np.nansum(mwall)), member_cpu_s=float(np.nansum(mcpu)),
        sim_wall_s=float(np.nansum(msim)), **aging_info,
    )


def _write_root_attrs(h5, cfg: SweepConfig, settings: dict, p0: Params) -> None:
    import trsp_obs

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
    h5.attrs["T0"] = float(p0.temperature.T0)
    h5.attrs["N"] = int(p0.N)
    h5.attrs["dim"] = int(p0.lattice.dim)
    h5.attrs["L"] = int(p0.lattice.L)
    h5.attrs["spacing"] = float(p0.lattice.spacing)
    h5.attrs["tolerance"] = float(cfg.tolerance or 0.0)
    h5.attrs["seed"] = int(cfg.seed)
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
                m = store.read(member_id(kind, 0 if kind == KIND_TRAP else a, i, r))
                if m is None:
                    continue
                curves[a, i, r], done[a, i, r] = m["S_mean"], 1
                n_ev[a, i, r], wall[a, i, r] = m["n_events"], m["wall_s"]
    mean = np.full((NA, NF, NTm), np.nan)
    err = np.full((NA, NF, NTm), np.nan)
    for a in range(NA):
        for i in range(NF):
            mean[a, i], err[a, i] = aging_summary(curves[a, i])
    g = h5.create_group("aging")
    g.attrs["T_initial"] = ag.T_initial
    g.attrs["S_initial"] = _mean(cfg.params(ag.variants[0], ag.T_initial), ag.T_initial)
    _dims(g, {
        "model": np.array(names, dtype=object), "T_final": np.array(ag.T_final), "replica": np.arange(R), "time": ag.times,
    }, {"time": {"long_name": "time since the quench"}, "T_final": {"long_name": "final temperature T_F"}})  # fmt: skip
    _var(g, "member_S_mean", curves, ("model", "T_final", "replica", "time"), "site-averaged S after the quench")
    _var(g, "member_done", done, ("model", "T_final", "replica"), "1 if the member finished")
    _var(g, "member_n_events", n_ev, ("model", "T_final", "replica"), "events simulated (0 for the trap model)")
    _var(g, "member_wall_s", wall, ("model", "T_final", "replica"), "worker wall time, s")
    _var(g, "S_mean", mean, ("model", "T_final", "time"), "<S>(t): replica average")
    _var(g, "S_mean_err", err, ("model", "T_final", "time"), "standard error over replicas")
    eq = np.array([_mean(cfg.params(ag.variants[0], T), T) for T in ag.T_final])
    _var(g, "S_equilibrium", eq, ("T_final",), "<S>(T_F), the equilibrium value the curves return to")
    return {"aging_members_done": int(done.sum()), "aging_events": int(n_ev.sum())}
