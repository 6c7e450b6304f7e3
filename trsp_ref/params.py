"""Parameter types, TOML loading and scalar validation for TRSP models.

This module is the one piece of code that ``trsp_ref`` and ``trsp_fast`` share
(DEVELOPERS.md: shared parameter types and validation, never formulas).  It
knows the parameter file's sections and keys (``docs/model.md``), checks types
and scalar conditions, and raises :class:`ParameterError` naming the parameter
and the violated condition.  Conditions that need the lattice (K positive
definite, the eigenvalues of K_Delta K'^-1 below 1, ...) are checked by the
model builders, which raise the same error type.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Mapping

import numpy as np

try:  # Python >= 3.11
    import tomllib
except ModuleNotFoundError:  # pragma: no cover
    import tomli as tomllib  # type: ignore[no-redef]

__all__ = [
    "ParameterError",
    "Lattice",
    "Softness",
    "Rates",
    "Kick",
    "Cluster",
    "Temperature",
    "Params",
    "CLUSTER_SHAPES",
    "CLUSTER_SIZE",
    "params_from_dict",
    "load_params",
    "read_toml",
    "DefaultedSections",
    "DEFAULTABLE_SECTIONS",
    "params_to_dict",
    "dumps_toml",
    "LOG_HUGE",
    "PLAUSIBLE_SD",
    "reported_rate_error",
    "check_rate_range",
    "checked_state",
    "checked_cluster_id",
]

#: exp() of more than this overflows a double (and of less than minus this underflows)
LOG_HUGE = 700.0
#: rates must stay finite for cluster-mean softness within mean +- PLAUSIBLE_SD standard deviations
PLAUSIBLE_SD = 10.0

#: Cluster shapes and their size m.
CLUSTER_SIZE = {"site": 1, "dimer": 2, "plaquette": 4}
CLUSTER_SHAPES = tuple(CLUSTER_SIZE)


class ParameterError(ValueError):
    """An invalid parameter set.

    Attributes
    ----------
    parameter : str
        Dotted name of the offending parameter, e.g. ``"kick.sigma0"``, or of
        the group of parameters a lattice-level condition involves.
    condition : str
        The violated condition, in words.
    """

    def __init__(self, parameter: str, condition: str, value: Any = None):
        self.parameter = parameter
        self.condition = condition
        self.value = value
        msg = f"invalid parameter '{parameter}': {condition}"
        if value is not None:
            msg += f" (got {value!r})"
        super().__init__(msg)


# --------------------------------------------------------------------------
# parameter groups, one per TOML section
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Lattice:
    """``[lattice]``: periodic hypercubic lattice of ``L**dim`` sites, spacing ``spacing`` (sigma_AA units)."""

    dim: int = 3
    L: int = 6
    spacing: float = 1.0


@dataclass(frozen=True)
class Softness:
    """``[softness]``: S ~ N(mean, K), K_ij = C(r_ij), C(0) = variance, C(r>0) = C1 exp(-r/xi) (Eq. 29)."""

    mean: float | None = -1.0
    variance: float = 1.0
    C1: float = 0.6
    xi: float = 1.0


@dataclass(frozen=True)
class Rates:
    """``[rates]``: P(R|S) = A exp(gamma S - delta S^2) (Eq. 4), given at ``level`` "observed" (per particle)
    or "bare" (per cluster, P0 of Eq. D1); a cluster fires at rate P0(<S>_cluster) / duration."""

    level: str = "observed"
    A: float | None = 0.05
    gamma: float | None = 1.0
    delta: float | None = 0.05
    duration: float = 4.0


@dataclass(frozen=True)
class Kick:
    """``[kick]``: K_Delta(i,j) = f sD(rt_i) sD(rt_j) rho(r_ij) (Eq. 30); sD(0) = sigma0,
    sD(r>0) = sigma1 exp(-r/xi_sigma); rho(0) = 1, rho(r>0) = rho1 exp(-r/xi_rho); f = facilitation
    (the facilitation scale of Sec. VII.B, which the paper calls c; 1 = the paper's model)."""

    sigma0: float = 0.6
    sigma1: float = 0.5
    xi_sigma: float = 1.0
    rho1: float = 0.3
    xi_rho: float = 1.0
    facilitation: float = 1.0


@dataclass(frozen=True)
class Cluster:
    """``[cluster]``: rearranging cluster shape: "site" (m=1), "dimer" (m=2), "plaquette" (m=4)."""

    shape: str = "plaquette"

    @property
    def m(self) -> int:
        return CLUSTER_SIZE[self.shape]


@dataclass(frozen=True)
class Temperature:
    """``[temperature]``: Eqs. 27-28 with the onset sign derived in proofs/ (see ERRATA.md):
    Delta E(S) = eps0 + eps1 S + eps2 S^2, Sigma(S) = Sigma0 + (eps1 S + eps2 S^2)/T0, and
    <S>(T) = mean_a + mean_b / T.  Supplies the rate law A, gamma, delta (at ``rates.level``)
    and ``softness.mean``."""

    T: float
    T0: float
    eps0: float
    eps1: float
    eps2: float
    Sigma0: float
    mean_a: float
    mean_b: float


@dataclass(frozen=True)
class Params:
    """A complete TRSP parameter set (one parameter file)."""

    lattice: Lattice = field(default_factory=Lattice)
    softness: Softness = field(default_factory=Softness)
    rates: Rates = field(default_factory=Rates)
    kick: Kick = field(default_factory=Kick)
    cluster: Cluster = field(default_factory=Cluster)
    temperature: Temperature | None = None

    @property
    def N(self) -> int:
        """Number of lattice sites, L**dim."""
        return self.lattice.L ** self.lattice.dim

    @property
    def m(self) -> int:
        """Cluster size."""
        return self.cluster.m

    def replace(self, **sections: Any) -> "Params":
        """A copy with whole sections, or ``section={key: value}`` updates, replaced, re-validated."""
        d = params_to_dict(self)
        for name, new in sections.items():
            if isinstance(new, Mapping):
                d.setdefault(name, {}).update(new)
            elif new is None:
                d.pop(name, None)
            else:
                d[name] = asdict(new)
        return params_from_dict(d)


# --------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------

_SECTIONS = {
    "lattice": Lattice,
    "softness": Softness,
    "rates": Rates,
    "kick": Kick,
    "cluster": Cluster,
    "temperature": Temperature,
}
_INT_KEYS = {("lattice", "dim"), ("lattice", "L")}
_STR_KEYS = {("rates", "level"), ("cluster", "shape")}
# keys that [temperature] supplies and that must then be left out of the file
_SUPPLIED_BY_TEMPERATURE = {("softness", "mean"), ("rates", "A"), ("rates", "gamma"), ("rates", "delta")}


def _number(section: str, key: str, value: Any) -> float:
    name = f"{section}.{key}"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ParameterError(name, "must be a number", value)
    v = float(value)
    if not math.isfinite(v):
        raise ParameterError(name, "must be finite (not NaN or infinite)", value)
    return v


def _integer(section: str, key: str, value: Any) -> int:
    name = f"{section}.{key}"
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            return int(value)
        raise ParameterError(name, "must be an integer", value)
    return int(value)


def _check(cond: bool, name: str, condition: str, value: Any) -> None:
    if not cond:
        raise ParameterError(name, condition, value)


def params_from_dict(data: Mapping[str, Any]) -> Params:
    """Build and validate a :class:`Params` from a nested mapping (the TOML document).

    Raises :class:`ParameterError` for unknown sections or keys, wrong types,
    non-finite values and violated scalar conditions.  Missing keys take the
    defaults of the built-in example, except that ``[temperature]``, when
    present, must give all its keys.
    """
    if not isinstance(data, Mapping):
        raise ParameterError("<file>", "must be a table of sections", type(data).__name__)
    for section in data:
        if section not in _SECTIONS:
            raise ParameterError(
                str(section), f"unknown section; expected one of {sorted(_SECTIONS)}"
            )
    has_temperature = "temperature" in data
    built: dict[str, Any] = {}
    for section, cls in _SECTIONS.items():
        raw = data.get(section)
        if raw is None:
            if section != "temperature":
                built[section] = cls()
            continue
        if not isinstance(raw, Mapping):
            raise ParameterError(section, "must be a table", raw)
        known = {f.name for f in fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, value in raw.items():
            if key not in known:
                raise ParameterError(
                    f"{section}.{key}", f"unknown key; [{section}] takes {sorted(known)}"
                )
            if has_temperature and (section, key) in _SUPPLIED_BY_TEMPERATURE:
                raise ParameterError(
                    f"{section}.{key}",
                    "is supplied by [temperature] (Eqs. 27-28 and <S>(T) = mean_a + mean_b/T); leave it out",
                )
            if (section, key) in _INT_KEYS:
                kwargs[key] = _integer(section, key, value)
            elif (section, key) in _STR_KEYS:
                if not isinstance(value, str):
                    raise ParameterError(f"{section}.{key}", "must be a string", value)
                kwargs[key] = value
            else:
                kwargs[key] = _number(section, key, value)
        if section == "temperature":
            missing = known - set(kwargs)
            if missing:
                raise ParameterError(
                    f"temperature.{sorted(missing)[0]}", "is required when [temperature] is given"
                )
        if has_temperature and section in ("softness", "rates"):
            for s, k in _SUPPLIED_BY_TEMPERATURE:
                if s == section:
                    kwargs[k] = None
        built[section] = cls(**kwargs)
    if has_temperature:
        if "softness" not in built or built["softness"].mean is not None:
            built["softness"] = replace(built.get("softness", Softness()), mean=None)
        if built["rates"].A is not None:
            built["rates"] = replace(built["rates"], A=None, gamma=None, delta=None)
    p = Params(**built)
    validate_scalars(p)
    return p


def validate_scalars(p: Params) -> None:
    """Check every condition on a single parameter (or on a section), without the lattice."""
    lat, sof, rat, kik, clu, tem = p.lattice, p.softness, p.rates, p.kick, p.cluster, p.temperature
    # A Params built directly (not through params_from_dict) has skipped the type checks:
    # catch the non-finite numbers and the missing rate law here too.
    for name in _SECTIONS:
        sec = getattr(p, name)
        if sec is None:
            continue
        for f in fields(sec):
            v = getattr(sec, f.name)
            if isinstance(v, float) and not math.isfinite(v):
                raise ParameterError(f"{name}.{f.name}", "must be finite (not NaN or infinite)", v)
    if tem is None:
        for s, k in sorted(_SUPPLIED_BY_TEMPERATURE):
            if getattr(getattr(p, s), k) is None:
                raise ParameterError(f"{s}.{k}", "is required when [temperature] is not given")
    _check(lat.dim in (2, 3), "lattice.dim", "must be 2 or 3", lat.dim)
    _check(lat.L >= 2, "lattice.L", "must be >= 2", lat.L)
    _check(lat.spacing > 0, "lattice.spacing", "must be > 0", lat.spacing)
    _check(sof.variance > 0, "softness.variance", "must be > 0", sof.variance)
    _check(sof.xi > 0, "softness.xi", "must be > 0", sof.xi)
    _check(
        rat.level in ("observed", "bare"), "rates.level", "must be 'observed' or 'bare'", rat.level
    )
    if rat.A is not None:
        _check(rat.A > 0, "rates.A", "must be > 0", rat.A)
    _check(rat.duration > 0, "rates.duration", "must be > 0", rat.duration)
    _check(kik.sigma0 >= 0, "kick.sigma0", "must be >= 0", kik.sigma0)
    _check(kik.sigma1 >= 0, "kick.sigma1", "must be >= 0", kik.sigma1)
    _check(kik.xi_sigma > 0, "kick.xi_sigma", "must be > 0", kik.xi_sigma)
    _check(kik.xi_rho > 0, "kick.xi_rho", "must be > 0", kik.xi_rho)
    _check(kik.facilitation >= 0, "kick.facilitation", "must be >= 0", kik.facilitation)
    _check(
        clu.shape in CLUSTER_SHAPES,
        "cluster.shape",
        f"must be one of {list(CLUSTER_SHAPES)}",
        clu.shape,
    )
    if clu.shape != "site":
        # With L = 2 the periodic images x + e and x - e coincide: a cluster would
        # contain the same pair twice as two different clusters.
        _check(
            lat.L >= 3,
            "lattice.L",
            f"a {clu.shape} cluster does not fit the lattice: needs L >= 3",
            lat.L,
        )
    if tem is not None:
        _check(tem.T > 0, "temperature.T", "must be > 0", tem.T)
        _check(tem.T0 > 0, "temperature.T0", "must be > 0", tem.T0)


class DefaultedSections(UserWarning):
    """A parameter file left out whole sections, which take the built-in example's values.

    A verification tool must not guess silently: :func:`load_params` names every such
    section in one warning (the CLI prints it as one ``trsp: note:`` line).  An empty file is
    refused outright (docs/model.md, "Parameter files")."""


def read_toml(path: str | Path, what: str) -> tuple[dict, str]:
    """Read a TOML file: (document, text); ParameterError naming the file for every way it can be unusable.

    ``what`` says what the file is ("parameter file", "sweep file"): a missing or unreadable
    file, a folder, a file that is not UTF-8 text (binary), and invalid TOML are each one
    error naming the path and the condition."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except IsADirectoryError:
        raise ParameterError(str(path), f"is a folder, not a {what}") from None
    except OSError as exc:
        raise ParameterError(str(path), f"cannot read the {what}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ParameterError(
            str(path), f"is not a text file: the {what} must be UTF-8 TOML (byte {exc.start} is {raw[exc.start:exc.start + 1]!r})"
        ) from None
    if "\x00" in text:
        raise ParameterError(str(path), f"is not a text file (it holds NUL bytes): the {what} must be TOML")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ParameterError(str(path), f"is not valid TOML: {' '.join(str(exc).split())}") from None
    return data, text


#: sections that take the built-in example's values when a file leaves them out
DEFAULTABLE_SECTIONS = ("lattice", "softness", "rates", "kick", "cluster")


def load_params(path: str | Path) -> Params:
    """Read and validate a parameter file (TOML, format in ``docs/model.md``).

    An empty file (no section) is refused: the built-in example is what you get by giving
    no file at all, never by accident.  Each section the file leaves out takes the built-in
    example's values and is named in one :class:`DefaultedSections` warning."""
    import warnings

    data, _ = read_toml(path, "parameter file")
    if not data:
        raise ParameterError(
            str(path),
            "is empty: a parameter file must give at least one section "
            f"({', '.join('[' + s + ']' for s in _SECTIONS)}); give no file to use the built-in example",
        )
    p = params_from_dict(data)
    missing = [s for s in DEFAULTABLE_SECTIONS if s not in data]
    if missing:
        warnings.warn(
            DefaultedSections(
                f"{path}: {', '.join('[' + s + ']' for s in missing)} not given: "
                "using the built-in example's values (docs/model.md)"
            ),
            stacklevel=2,
        )
    return p


def params_to_dict(p: Params) -> dict[str, dict[str, Any]]:
    """The parameter file as a nested dict (sections with None values left out)."""
    out: dict[str, dict[str, Any]] = {}
    for name in _SECTIONS:
        sec = getattr(p, name)
        if sec is None:
            continue
        out[name] = {k: v for k, v in asdict(sec).items() if v is not None}
    return out


def dumps_toml(p: Params) -> str:
    """Serialize to the TOML parameter format (round-trips through :func:`params_from_dict`)."""
    lines: list[str] = []
    for name, sec in params_to_dict(p).items():
        lines.append(f"[{name}]")
        for k, v in sec.items():
            lines.append(f"{k} = {_toml_value(v)}")
        lines.append("")
    return "\n".join(lines)


def _toml_value(v: Any) -> str:
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, bool):  # pragma: no cover - no booleans in the format
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    return repr(float(v))


# --------------------------------------------------------------------------
# rate-law range checks (validation both implementations share)
# --------------------------------------------------------------------------

# Names of the [temperature] parameters that supply a rate-law parameter: an error about
# rates.X is reported against the key the user actually wrote.
_SUPPLIED_BY = {
    "rates.A": ("temperature.Sigma0", "A = exp(Sigma0 - eps0/T)"),
    "rates.gamma": ("temperature.eps1", "gamma = eps1 (1/T0 - 1/T)"),
    "rates.delta": ("temperature.eps2", "delta = eps2 (1/T - 1/T0)"),
    "rates": ("temperature", "A, gamma and delta from Eqs. 27-28"),
}


def reported_rate_error(p: Params, err: ParameterError) -> ParameterError:
    """The error to show the user: with [temperature], re-aimed at the temperature key that supplies the rate parameter."""
    if p.temperature is None or err.parameter not in _SUPPLIED_BY:
        return err
    name, formula = _SUPPLIED_BY[err.parameter]
    return ParameterError(name, f"{err.condition} ({err.parameter} is supplied by [temperature]: {formula})")


def check_rate_range(p: Params, bare: tuple[float, float, float], mean: float, n_clusters: int) -> None:
    """The total rate must be finite for cluster means within mean +- PLAUSIBLE_SD sd, and nonzero at the mean.

    ``bare`` = (A0, gamma0, delta0) of P0 (Eq. D1); the rate of a cluster is P0(<S>)/duration.
    Raises :class:`ParameterError` (re-aimed at [temperature] keys when those supply the law).
    """
    A0, g0, d0 = bare
    sd = math.sqrt(p.softness.variance)
    lo, hi = mean - PLAUSIBLE_SD * sd, mean + PLAUSIBLE_SD * sd
    candidates = [lo, hi]
    if d0 > 0 and lo < g0 / (2 * d0) < hi:
        candidates.append(g0 / (2 * d0))  # the maximum of the bare exponent
    exponent = [g0 * s - d0 * s * s for s in candidates]
    worst = max(range(len(candidates)), key=exponent.__getitem__)
    log_prefactor = math.log(A0) - math.log(p.rates.duration)
    log_total = log_prefactor + exponent[worst] + math.log(n_clusters)
    if log_total >= LOG_HUGE:
        s = candidates[worst]
        # blame the term that contributes most to the overflowing exponent
        terms = {"rates.A": math.log(A0), "rates.gamma": g0 * s, "rates.delta": -d0 * s * s}
        name = max(terms, key=terms.__getitem__)
        raise reported_rate_error(
            p,
            ParameterError(
                name,
                f"the total cluster rate overflows: A0 exp(gamma0 s - delta0 s^2)/duration summed over "
                f"{n_clusters} clusters reaches exp({log_total:.4g}) at s = {s:.4g}, within "
                f"mean +- {PLAUSIBLE_SD:g} sd; reduce rates.A or |rates.gamma|, or increase rates.delta",
            ),
        )
    log_at_mean = log_prefactor + g0 * mean - d0 * mean**2
    if log_at_mean <= -LOG_HUGE:
        raise reported_rate_error(
            p,
            ParameterError(
                "rates.A",
                f"the cluster rate at the mean softness underflows: exp({log_at_mean:.4g}); "
                "increase rates.A or move softness.mean toward larger rates",
            ),
        )


def checked_state(S, N: int, name: str = "S") -> np.ndarray:
    """S as a contiguous float64 vector of length N, all finite (ValueError naming ``name`` otherwise).

    Argument checking both models' public methods share (a state or a normal vector zeta)."""
    S = np.ascontiguousarray(S, dtype=np.float64)
    if S.shape != (N,):
        raise ValueError(f"{name} must have shape ({N},), got {S.shape}")
    if not np.all(np.isfinite(S)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return S


def checked_cluster_id(cluster_id, n_clusters: int) -> int:
    """cluster_id as a Python int in [0, n_clusters) (TypeError / IndexError otherwise; bools are refused)."""
    if isinstance(cluster_id, (bool, np.bool_)) or not isinstance(cluster_id, (int, np.integer)):
        raise TypeError(f"cluster_id must be an integer, got {cluster_id!r}")
    cid = int(cluster_id)
    if not 0 <= cid < n_clusters:
        raise IndexError(f"cluster_id {cid} out of range [0, {n_clusters})")
    return cid
