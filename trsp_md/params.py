"""Parameters of ``trsp md`` (TOML, docs/md.md): typed, validated, with an embedded default.

A parameter file has up to three sections; a key left out takes the embedded default's value
(the default is small enough to run end to end in a couple of minutes)::

    [system]            # the Kob-Andersen mixture (trsp_md.model)
    n_particles = 1000
    fraction_a = 0.8
    density = 1.2

    [protocol]          # LJ units of the A-A pair (docs/md.md)
    temperature = 0.5           # target T of equilibration and production
    timestep = 0.005            # velocity-Verlet step
    melt_temperature = 2.0      # the random start is melted at this T first ...
    melt_time = 20.0            # ... for this long
    equilibration_time = 1000.0 # then equilibrated at T (Andersen thermostat)
    thermostat_interval = 1.0   # every particle's velocity redrawn from Maxwell-Boltzmann this often
    production_time = 1000.0    # then NVE (velocity Verlet, no thermostat), frames from t = 0 to this
    frame_interval = 1.0        # time between saved frames (each with its inherent state)
    checkpoint_every = 100      # frames (equilibration: the same span of time) between checkpoints

    [minimize]          # the inherent state of every saved frame (LAMMPS conjugate gradient)
    force_tolerance = 1e-2      # stop when |F| (2-norm of the 3N-vector) < this
    max_iterations = 100000

Every bad value is a :class:`trsp_ref.params.ParameterError` naming ``section.key`` and the
violated condition (one line and exit 2 from the CLI).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Mapping

from trsp_ref.params import ParameterError, read_toml

from .model import species_counts

__all__ = ["System", "Protocol", "Minimize", "MdParams", "params_from_dict", "load_md_params", "md_params_to_dict",
           "DEFAULT", "steps"]


@dataclass(frozen=True)
class System:
    """``[system]``: N particles, a fraction ``fraction_a`` of them A, at number density ``density``."""

    n_particles: int = 300
    fraction_a: float = 0.8
    density: float = 1.2


@dataclass(frozen=True)
class Protocol:
    """``[protocol]``: melt, equilibrate (Andersen), produce (NVE) with frames every ``frame_interval``."""

    temperature: float = 1.0
    timestep: float = 0.005
    melt_temperature: float = 2.0
    melt_time: float = 5.0
    equilibration_time: float = 20.0
    thermostat_interval: float = 1.0
    production_time: float = 40.0
    frame_interval: float = 1.0
    checkpoint_every: int = 20


@dataclass(frozen=True)
class Minimize:
    """``[minimize]``: the inherent-state minimisation of each saved frame."""

    force_tolerance: float = 1e-2
    max_iterations: int = 100_000


@dataclass(frozen=True)
class MdParams:
    system: System = System()
    protocol: Protocol = Protocol()
    minimize: Minimize = Minimize()


#: the embedded default (``trsp md`` with no parameter file): 300 particles at T = 1, 40 frames
DEFAULT = MdParams()

_SECTIONS = {"system": System, "protocol": Protocol, "minimize": Minimize}
_INT_KEYS = {("system", "n_particles"), ("protocol", "checkpoint_every"), ("minimize", "max_iterations")}


def _value(section: str, key: str, value: Any):
    name = f"{section}.{key}"
    if (section, key) in _INT_KEYS:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ParameterError(name, "must be a whole number", value)
        return int(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ParameterError(name, "must be a number", value)
    if not math.isfinite(float(value)):
        raise ParameterError(name, "must be finite (not NaN or infinite)", value)
    return float(value)


def steps(span: float, timestep: float, name: str, *, allow_zero: bool = True) -> int:
    """``span / timestep`` as a whole number of steps; ParameterError naming ``name`` if it is not one."""
    n = span / timestep
    k = int(round(n))
    if abs(n - k) > 1e-9 * max(1.0, abs(n)) or (k == 0 and not allow_zero):
        raise ParameterError(name, f"must be a whole {'positive ' if not allow_zero else ''}multiple of protocol.timestep = {timestep:g}", span)
    return k


def validate(p: MdParams) -> None:
    """Every condition on the values (ParameterError naming the first violated one)."""
    s, pr, mi = p.system, p.protocol, p.minimize

    def check(cond: bool, name: str, condition: str, value: Any) -> None:
        if not cond:
            raise ParameterError(name, condition, value)

    check(s.n_particles >= 2, "system.n_particles", "must be >= 2", s.n_particles)
    check(s.n_particles <= 10_000_000, "system.n_particles", "must be <= 10,000,000", s.n_particles)
    check(0.0 < s.fraction_a <= 1.0, "system.fraction_a", "must be in (0, 1]", s.fraction_a)
    check(species_counts(s.n_particles, s.fraction_a)[0] >= 1, "system.fraction_a", "leaves no A particle", s.fraction_a)
    check(0.0 < s.density <= 5.0, "system.density", "must be in (0, 5] (particles per sigma_AA^3)", s.density)
    check(pr.temperature > 0, "protocol.temperature", "must be > 0", pr.temperature)
    check(0 < pr.timestep <= 0.05, "protocol.timestep", "must be in (0, 0.05] (LJ time units; 0.005 is usual)", pr.timestep)
    check(pr.melt_temperature > 0, "protocol.melt_temperature", "must be > 0", pr.melt_temperature)
    for key in ("melt_time", "equilibration_time", "production_time"):
        check(getattr(pr, key) >= 0, f"protocol.{key}", "must be >= 0", getattr(pr, key))
    check(pr.thermostat_interval > 0, "protocol.thermostat_interval", "must be > 0", pr.thermostat_interval)
    check(pr.frame_interval > 0, "protocol.frame_interval", "must be > 0", pr.frame_interval)
    check(pr.checkpoint_every >= 1, "protocol.checkpoint_every", "must be >= 1 (frames)", pr.checkpoint_every)
    steps(pr.frame_interval, pr.timestep, "protocol.frame_interval", allow_zero=False)
    steps(pr.thermostat_interval, pr.timestep, "protocol.thermostat_interval", allow_zero=False)
    for key in ("melt_time", "equilibration_time"):
        n = getattr(pr, key) / pr.thermostat_interval
        check(abs(n - round(n)) <= 1e-9 * max(1.0, n), f"protocol.{key}",
              f"must be a whole multiple of protocol.thermostat_interval = {pr.thermostat_interval:g}", getattr(pr, key))
    n = pr.production_time / pr.frame_interval
    check(abs(n - round(n)) <= 1e-9 * max(1.0, n), "protocol.production_time",
          f"must be a whole multiple of protocol.frame_interval = {pr.frame_interval:g}", pr.production_time)
    check(mi.force_tolerance > 0, "minimize.force_tolerance", "must be > 0", mi.force_tolerance)
    check(mi.max_iterations >= 1, "minimize.max_iterations", "must be >= 1", mi.max_iterations)


def params_from_dict(data: Mapping[str, Any], base: MdParams = DEFAULT) -> MdParams:
    """Build and validate :class:`MdParams` from a TOML document; keys left out keep ``base``'s values."""
    if not isinstance(data, Mapping):
        raise ParameterError("<file>", "must be a table of sections", type(data).__name__)
    built = {}
    for section in data:
        if section not in _SECTIONS:
            raise ParameterError(str(section), f"unknown section; expected one of {sorted(_SECTIONS)}")
    for section, cls in _SECTIONS.items():
        raw = data.get(section, {})
        if not isinstance(raw, Mapping):
            raise ParameterError(section, "must be a table", raw)
        known = {f.name for f in fields(cls)}
        kwargs = {}
        for key, value in raw.items():
            if key not in known:
                raise ParameterError(f"{section}.{key}", f"unknown key; [{section}] takes {sorted(known)}")
            kwargs[key] = _value(section, key, value)
        built[section] = replace(getattr(base, section), **kwargs)
    p = MdParams(**built)
    validate(p)
    return p


def load_md_params(path: str | Path | None) -> MdParams:
    """The parameter file at ``path`` (None: the embedded default), validated."""
    if path is None:
        return DEFAULT
    data, _ = read_toml(path, "md parameter file")
    if not data:
        raise ParameterError(str(path), "is empty: give at least one section ([system], [protocol], [minimize]); "
                             "give no file to use the embedded default")
    return params_from_dict(data)


def md_params_to_dict(p: MdParams) -> dict[str, dict[str, Any]]:
    """The parameters as a nested dict (round-trips through :func:`params_from_dict`)."""
    return {name: asdict(getattr(p, name)) for name in _SECTIONS}
