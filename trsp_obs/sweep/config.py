"""Sweep files: the TOML description of a sweep, validated into a :class:`SweepConfig`.

The keys are documented in :func:`sweep_config_from_dict` and docs/reproduction.md ("Sweep
files").  Every error is a ParameterError naming the key (a variant's errors name the
variant: ``variants[k].section.key``).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

try:  # Python >= 3.11
    import tomllib
except ModuleNotFoundError:  # pragma: no cover
    import tomli as tomllib  # type: ignore[no-redef]

from trsp_ref.params import ParameterError, Params, params_from_dict, read_toml
from trsp_runfile.resources import check_bootstrap_count

from ..presets import PRESETS, preset_dict

__all__ = ["SweepConfig", "Variant", "AgingConfig", "TRAP_NAME", "load_sweep_config", "sweep_config_from_dict", "tomllib"]

#: the name of the independent-site trap model in the aging group (no variant may take it)
TRAP_NAME = "trap model"


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
    tolerance: tuple | None  # (kick, precision), as trsp_fast.FastModel takes it; None = untruncated
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
    memory_origins: int = 16  # origins per replica for the softness autocorrelation C_SS (trsp_obs.softness_memory)
    paired: bool = False

    def variant_params(self, variant: int, T: float) -> Params:
        """:meth:`params`, with an error re-aimed at the variant that caused it
        (``variants[k].section.key``, naming the variant and the temperature)."""
        try:
            return self.params(variant, T)
        except ParameterError as err:
            raise variant_error(self, variant, T, err) from None

    def params(self, variant: int, T: float) -> Params:
        """Validated Params of ``variants[variant]`` at temperature T."""
        d = json.loads(json.dumps(self.base))
        for section, updates in self.variants[variant].overrides.items():
            d.setdefault(section, {}).update(updates)
        if "temperature" in d:  # without it the set is one temperature's (load_sweep_config lists only that T)
            d["temperature"]["T"] = float(T)
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
              temperatures (list), replicas (>= 2), seed (>= 0), tolerance (>= 0, both parts;
              default trsp_fast.model.DEFAULT_TOLERANCE; 0 = untruncated), kick_tolerance and
              precision_tolerance (>= 0: one part, overriding tolerance's), overrides ({section = {key = value}}, applied to every member),
              paired (bool, default false: every variant's replica r at temperature T starts from
              the same initial field; the variants must share the static field, i.e. the
              [softness] and [lattice] sections and <S>(T); see members.initial_field_key)
    [run]     t_max (number or list per temperature), lag_min_fraction (default 1e-4),
              n_lags (default 33), n_origins (default 256), spatial_origins (default 32),
              blocks (list of block sides; default 1 .. L), memory_origins (origins per replica
              for C_SS(t), trsp_obs.softness_memory; default 16; 0 = no C_SS)
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
    _check_keys(
        sw, {"name", "params", "temperatures", "replicas", "seed", "tolerance", "kick_tolerance", "precision_tolerance",
             "overrides", "paired"}, "sweep",
    )  # fmt: skip
    name = _get(sw, "name", "sweep", str, "sweep")
    src = _get(sw, "params", "sweep", str)
    if src in PRESETS:
        base, label, illustrative = preset_dict(src), src, True
    else:
        path = (base_dir / src) if not Path(src).is_absolute() else Path(src)
        if not path.exists():
            raise ParameterError("sweep.params", f"is neither a preset {sorted(PRESETS)} nor an existing file ({path})", src)
        try:
            base, _ = read_toml(path, "parameter file")
        except ParameterError as err:
            raise ParameterError("sweep.params", f"{path} {err.condition}", src) from None
        label, illustrative = str(path), False
    # a set without [temperature] (e.g. trsp fit at one temperature) describes one temperature:
    # its rates and <S> are used as given, and the sweep must list exactly that one T (a label)
    one_temperature = "temperature" not in base
    overrides = _get(sw, "overrides", "sweep", dict, {})
    for section, upd in overrides.items():
        if not isinstance(upd, dict):
            raise ParameterError(f"sweep.overrides.{section}", "must be a table {key = value}", upd)
        base.setdefault(section, {}).update(upd)
    temps = _number_list(_get(sw, "temperatures", "sweep", list), "sweep.temperatures")
    if any(t <= 0 for t in temps) or len(set(temps)) != len(temps):
        raise ParameterError("sweep.temperatures", "must be distinct temperatures > 0", temps)
    if one_temperature and len(temps) != 1:
        raise ParameterError("sweep.temperatures", "must list exactly one temperature: the parameter set has no [temperature] "
                             "section (Eqs. 27-28), so it describes the one temperature it was measured at", temps)
    replicas = _get(sw, "replicas", "sweep", int)
    if replicas < 2:
        raise ParameterError("sweep.replicas", "must be >= 2 (chi_4 needs the between-replica variance)", replicas)
    seed = _get(sw, "seed", "sweep", int)
    if seed < 0:
        raise ParameterError("sweep.seed", "must be >= 0", seed)
    if "tolerance" in sw:
        tol = (_get(sw, "tolerance", "sweep", float),) * 2
        if tol[0] < 0:
            raise ParameterError("sweep.tolerance", "must be >= 0 (0 = no truncation)", tol[0])
    else:
        # one default for trsp simulate and trsp sweep (issues 9, 21: chosen by measurement,
        # docs/fast.md); imported here because trsp_fast's import costs ~1 s (Numba)
        from trsp_fast.model import DEFAULT_TOLERANCE

        tol = tuple(DEFAULT_TOLERANCE)
    for part, key in enumerate(("kick_tolerance", "precision_tolerance")):
        if key in sw:
            value = _get(sw, key, "sweep", float)
            if value < 0:
                raise ParameterError(f"sweep.{key}", "must be >= 0 (0 = no truncation of that part)", value)
            tol = tol[:part] + (value,) + tol[part + 1 :]
    paired = _get(sw, "paired", "sweep", bool, False)

    run = _get(data, "run", "<sweep file>", dict, {})
    _check_keys(run, {"t_max", "lag_min_fraction", "n_lags", "n_origins", "spatial_origins", "blocks", "memory_origins"}, "run")
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
    memory_origins = _get(run, "memory_origins", "run", int, 16)
    if not 0 <= memory_origins <= 4096:
        raise ParameterError("run.memory_origins", "must lie in [0, 4096]", memory_origins)
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
    check_bootstrap_count(n_boot, "analysis.n_bootstrap")
    oz_qmax = _get(ana, "oz_qmax", "analysis", float, None)
    bfm = _get(ana, "block_fit_max", "analysis", int, None)

    aging = None
    if "aging" in data:
        ag = _get(data, "aging", "<sweep file>", dict)
        if one_temperature:
            raise ParameterError("aging", "quenches need the rates at other temperatures: the parameter set has no "
                                 "[temperature] section (Eqs. 27-28)", src)
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
        tolerance=tuple(float(t) for t in tol) if max(tol) > 0 else None, t_max=tuple(t_max),
        lag_fractions=np.geomspace(fmin, 0.5, n_lags), n_origins=n_origins, spatial_origins=spatial,
        blocks=blocks, variants=tuple(variants), aging=aging, n_bootstrap=n_boot, oz_qmax=oz_qmax,
        block_fit_max=bfm, memory_origins=memory_origins,
        paired=paired,
    )  # fmt: skip
    # validate every parameter set now (scalar conditions); members validate the lattice ones
    Ls = set()
    for T in temps + (list(aging.T_final) if aging else []):
        base_at_T = json.loads(json.dumps(base))
        if not one_temperature:
            base_at_T["temperature"]["T"] = float(T)
        params_from_dict(base_at_T)  # an error here is the base's: its keys name it
        for v in range(len(variants)):
            p = cfg.variant_params(v, T)
            Ls.add((p.lattice.dim, p.lattice.L, p.lattice.spacing))
    if len(Ls) != 1:
        raise ParameterError("variants", "all variants must share one lattice (dim, L, spacing): the sweep file has one q and block axis")
    dim, L, _ = Ls.pop()
    if paired:
        _check_shared_static_field(cfg)
    if blocks is not None and blocks[-1] > L:
        raise ParameterError("run.blocks", f"block sides must be <= L = {L}", list(blocks))
    return cfg


def _check_shared_static_field(cfg: SweepConfig) -> None:
    """``paired = true`` shares one initial field between the variants: refuse variants whose
    equilibrium field differs (softness covariance, lattice, or <S>(T)), since then the same
    draw would not be an equilibrium sample of both."""
    from .members import mean_softness_at

    for T in cfg.temperatures:
        p0 = cfg.params(0, T)
        for v in range(1, len(cfg.variants)):
            p = cfg.params(v, T)
            if p.softness != p0.softness or p.lattice != p0.lattice or mean_softness_at(p, T) != mean_softness_at(p0, T):
                raise ParameterError(
                    "sweep.paired",
                    f"variant {cfg.variants[v].name!r} changes the equilibrium softness field ([softness], [lattice] or "
                    f"<S>(T) at T = {T:g}) of variant {cfg.variants[0].name!r}: paired variants must share it",
                    True,
                )


def load_sweep_config(path: str | Path) -> SweepConfig:
    """Read and validate a sweep TOML file."""
    path = Path(path)
    data, text = read_toml(path, "sweep file")
    return sweep_config_from_dict(data, text=text, base_dir=path.parent)


def variant_error(cfg: SweepConfig, variant: int, T: float, err: ParameterError) -> ParameterError:
    """``err`` (about one variant's parameter set at temperature T) re-aimed at that variant."""
    name = cfg.variants[variant].name
    return ParameterError(f"variants[{variant}].{err.parameter}", f"{err.condition} (variant {name!r} at T = {T:g})", err.value)
