"""Round trip: simulate known parameter sets with trsp_fast, fit them, compare (docs/fit.md, "Validation").

:data:`SETS` holds the three parameter sets of the validation (one with a ``[temperature]``
section simulated at three temperatures) and a fourth that exercises Appendix E's background; :func:`simulate_set` writes their replicas as run
files (``trsp simulate``'s job, seeded), :func:`true_values` gives what ``trsp fit`` should
find (the observed rate law, ``rates.level = "observed"``, via trsp_ref's renormalization when a
set is given at the bare level), and :func:`compare` turns a fit into z-scores and a verdict.

The test: every parameter's |fitted - true| / error below the two-sided quantile of
``alpha / n_parameters`` (Bonferroni) of Student's t with (bootstrap units - 1) degrees of
freedom (the errors are themselves estimated from a few files), so the nominal family-wise
false-alarm rate is ``alpha``; tests/test_fit_roundtrip.py's calibration run measures it.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import scipy.stats

from trsp_ref.lattice import orientation_offsets
from trsp_ref.params import Params, dumps_toml, params_from_dict
from trsp_ref.renormalization import log_gaussian_average, rate_parameters

__all__ = ["SETS", "COVERAGE_SETS", "CI_SIZE", "round_trip", "n_parameters", "FIT_OPTIONS", "TEMPERATURES", "set_params", "simulate_set", "expected_event_rate", "true_values", "compare", "DEFAULT_ALPHA", "Z_SCALE"]

#: nominal family-wise false-alarm rate of the round trip
DEFAULT_ALPHA = 0.01
#: the round trip's threshold is Z_SCALE x the Bonferroni quantile of Student's t (5.61 at CI size), Z_SCALE
#: from its calibration: the 99th percentile (1 - DEFAULT_ALPHA) of max |z| / z_crit over the 100 seeds of
#: docs/results/fit_false_alarms.py with runs to a fixed time, 1.228, rounded up (docs/fit.md, "False-alarm
#: rate of the round trip": at the quantile itself the rate was 4/100; the z-scores' tails are heavier than t's)
Z_SCALE = 1.23

_KICK = {"sigma0": 0.6, "sigma1": 0.5, "xi_sigma": 1.0, "rho1": 0.3, "xi_rho": 1.0}

#: name -> the parameter file as a dict (lattice size filled in by :func:`set_params`)
SETS: dict[str, dict] = {
    "plaquette": {
        "cluster": {"shape": "plaquette"},
        "softness": {"mean": -1.0, "variance": 1.0, "C1": 0.6, "xi": 1.0},
        "rates": {"level": "observed", "A": 0.05, "gamma": 1.0, "delta": 0.05},
        "kick": dict(_KICK),
    },
    "dimer": {
        "cluster": {"shape": "dimer"},
        "softness": {"mean": -0.5, "variance": 0.8, "C1": 0.4, "xi": 1.3},
        "rates": {"level": "observed", "A": 0.08, "gamma": 0.7, "delta": 0.1},
        "kick": {"sigma0": 0.5, "sigma1": 0.4, "xi_sigma": 0.8, "rho1": 0.2, "xi_rho": 1.2},
    },
    "temperature": {
        "cluster": {"shape": "plaquette"},
        "softness": {"variance": 1.0, "C1": 0.6, "xi": 1.0},
        "rates": {"level": "observed"},
        "kick": dict(_KICK),
        "temperature": {"T0": 1.0, "eps0": 1.0, "eps1": -1.0, "eps2": 0.05, "Sigma0": -1.0, "mean_a": 0.0, "mean_b": -0.5},
    },
    # A fourth set for Appendix E: rates independent of S (no facilitation), so rearrangements
    # in the frames around a rearrangement fall anywhere, independently of it: the background
    # that Eqs. E1-E2 assume.  Fitted as frames (the event route has no background: each event's
    # own change is read), with dS over 4 frame intervals (FIT_OPTIONS).
    "background": {
        "cluster": {"shape": "plaquette"},
        "softness": {"mean": -1.0, "variance": 1.0, "C1": 0.6, "xi": 1.0},
        "rates": {"level": "observed", "A": 0.05, "gamma": 0.0, "delta": 0.0},
        "kick": dict(_KICK),
    },
}
#: the coverage study's sets (docs/fit.md, "Errors"; docs/results/fit_coverage.py): 2D, 3D at L = 12, and
#: strong S-dependence of the rates (gamma = 2): name -> (parameter file as a dict, dim, L)
COVERAGE_SETS: dict[str, tuple[dict, int, int]] = {
    "2d_plaquette": (SETS["plaquette"], 2, 12),
    "3d_plaquette": ({
        "cluster": {"shape": "plaquette"},
        "softness": {"mean": -0.5, "variance": 1.0, "C1": 0.6, "xi": 1.0},
        "rates": {"level": "observed", "A": 0.2, "gamma": 1.0, "delta": 0.06},
        "kick": {"sigma0": 0.6, "sigma1": 0.5, "xi_sigma": 0.9, "rho1": 0.4, "xi_rho": 1.0},
    }, 3, 12),
    "2d_strong": ({
        "cluster": {"shape": "dimer"},
        "softness": {"mean": -1.0, "variance": 1.0, "C1": 0.5, "xi": 1.2},
        "rates": {"level": "observed", "A": 0.03, "gamma": 2.0, "delta": 0.1},
        "kick": {"sigma0": 0.5, "sigma1": 0.4, "xi_sigma": 0.8, "rho1": 0.3, "xi_rho": 1.0},
    }, 2, 12),
}
#: fit options per set (the others: the defaults)
FIT_OPTIONS: dict[str, dict] = {"background": {"before": 2, "after": 2, "frame_interval": 1.0}}
#: the temperatures the [temperature] set is simulated at
TEMPERATURES = (0.5, 0.65, 0.8)


def _spec(name: str) -> dict:
    return SETS[name] if name in SETS else COVERAGE_SETS[name][0]


def set_params(name: str, L: int, dim: int = 2, T: float | None = None) -> Params:
    """The parameter set ``name`` (of SETS or COVERAGE_SETS) on an L^dim lattice (at temperature T for the [temperature] set)."""
    doc = {k: dict(v) for k, v in _spec(name).items()}
    doc["lattice"] = {"dim": dim, "L": L}
    if "temperature" in doc:
        doc["temperature"]["T"] = TEMPERATURES[0] if T is None else T
    return params_from_dict(doc)


def expected_event_rate(p: Params) -> float:
    """Events per unit time of ``p`` in equilibrium: N A E[exp(gamma S - delta S^2)] / (m duration), S ~ N(<S>, variance).

    A site rearranges at P(R|S) / duration (Eq. 4, the observed law) and every event rearranges the m sites
    of one cluster.  Only used to size runs (a stopping time with about the wanted number of events), so
    the default tolerance's slightly wider equilibrium does not matter."""
    from .validity import rates_of

    rp = rates_of(p)
    A, gamma, delta = rp.observed
    m = len(orientation_offsets(p.lattice.dim, p.cluster.shape)[0])
    N = p.lattice.L**p.lattice.dim
    return N * A * math.exp(log_gaussian_average(gamma, delta, rp.mean, p.softness.variance)) / (m * p.rates.duration)


def simulate_set(
    name: str, folder: str | Path, *, L: int, replicas: int, events: int | None, seed: int, dim: int = 2,
    tolerance: float | tuple | None = None, time: float | None = None, exact_count: bool = False,
) -> list[Path]:
    """Run files for the set: ``replicas`` per temperature, seeds seed*1000 + 100*t + r; ``tolerance``
    is trsp_fast's truncation, one number or (kick, precision) (None: ``trsp simulate``'s default,
    trsp_fast.model.DEFAULT_TOLERANCE).

    Every run stops at a fixed time: ``time`` when given, else the time by which ``events`` events are
    expected at that temperature (:func:`expected_event_rate`).  ``exact_count``: stop at exactly
    ``events`` events instead, which biases the pooled <S> (and A) low on a small box: a file whose slow
    global mode is low fires less often, so it takes longer to reach its events and weighs more in the
    pooled exposures (measured: docs/fit.md, "Coverage"; kept to show that bias and the fit's warning)."""
    from trsp_fast.run_job import simulate_to_file as run_simulate

    if (time is None) == (events is None):
        raise ValueError("simulate_set needs exactly one of events and time")
    if exact_count and events is None:
        raise ValueError("simulate_set: exact_count needs events")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    temps = TEMPERATURES if "temperature" in _spec(name) else (None,)
    files = []
    for ti, T in enumerate(temps):
        p = set_params(name, L, dim, T)
        cfg = folder / f"{name}_T{ti}.toml"
        cfg.write_text(dumps_toml(p))
        stop = dict(events=events) if exact_count else dict(time=time if time is not None else events / expected_event_rate(p))
        for r in range(replicas):
            out = folder / f"{name}_T{ti}_r{r}.h5"
            if not out.exists():
                run_simulate(cfg, out, **stop, seed=seed * 1000 + 100 * ti + r, progress=False, tolerance=tolerance)
            files.append(out)
    return files


def true_values(name: str, L: int, dim: int = 2) -> dict[str, float]:
    """What the fit should report for the set, keyed as in the fit report's ``estimates``."""
    spec = _spec(name)
    out: dict[str, float] = {}
    p = set_params(name, L, dim)
    out.update(variance=p.softness.variance, C1=p.softness.C1, xi=p.softness.xi)
    out.update({k: getattr(p.kick, k) for k in ("sigma0", "sigma1", "xi_sigma", "rho1", "xi_rho")})
    temps = TEMPERATURES if "temperature" in spec else (None,)
    for T in temps:
        q = set_params(name, L, dim, T)
        rp = rate_parameters(q)
        key = f"@T={1.0 if T is None else T:g}"
        A, g, d = rp.observed
        out.update({"A" + key: A, "gamma" + key: g, "delta" + key: d, "mean" + key: rp.mean})
    if "temperature" in spec:
        out.update(spec["temperature"])
    return out


#: the size of the round trip in CI (tests/test_fit_roundtrip.py) and of its false-alarm calibration
#: (docs/results/fit_false_alarms.py): 2D L = 8, 12 run files per temperature, each stopped at the time of
#: 300 expected events (simulate_set), 30 bootstrap replicates.  Twelve short files: every file is one
#: bootstrap unit (each is shorter than the slowest mode's correlation time), so the errors have 11
#: degrees of freedom.
CI_SIZE = {"L": 8, "replicas": 12, "events": 300, "bootstrap": 30}


def n_parameters(L: int = CI_SIZE["L"]) -> int:
    """The number of true parameters over all SETS (the Bonferroni count of the round trip)."""
    return sum(len(true_values(name, L)) for name in SETS)


def round_trip(seed: int, folder: str | Path, alpha: float = DEFAULT_ALPHA, size: dict | None = None) -> dict:
    """Simulate every set of SETS at ``size`` (default CI_SIZE) with ``seed``, fit each (fit seed 1) and
    compare with the truth: {set: compare(...)}, z_crit from Student's t on (units - 1) degrees of freedom."""
    from .pipeline import FitOptions, collect, estimate

    size = size or CI_SIZE
    n = n_parameters(size["L"])
    out = {}
    for name in SETS:
        files = simulate_set(name, Path(folder) / name, L=size["L"], replicas=size["replicas"], events=size["events"], seed=seed)
        opts = FitOptions(**{"bootstrap": size["bootstrap"], "seed": 1, **FIT_OPTIONS.get(name, {})})
        res = estimate(collect(files, opts), opts)
        dof = min(res.report["settings"]["bootstrap_units_per_temperature"].values()) - 1
        out[name] = compare(res.report["estimates"], true_values(name, size["L"]), alpha, n, dof, Z_SCALE)
    return out


def compare(estimates: dict, truth: dict, alpha: float = DEFAULT_ALPHA, n_tests: int | None = None, dof: int | None = None,
            scale: float = 1.0) -> dict:
    """z = (fitted - true) / error for every true parameter; passed = max |z| <= z_crit (Bonferroni over n_tests).

    ``dof``: the errors are bootstrap estimates from dof + 1 units, so z is compared with Student's t
    on dof degrees of freedom (None: the normal distribution).  ``scale``: z_crit = scale x that
    quantile (the round trip passes :data:`Z_SCALE`, its calibration); ``z_crit_nominal`` is the quantile."""
    rows = {}
    for k, t in truth.items():
        if k not in estimates:
            continue
        v, e = estimates[k]["value"], estimates[k]["error"]
        e = math.hypot(e, estimates[k].get("systematic", 0.0))  # a known systematic term counts in the error (docs/fit.md)
        rows[k] = {"true": t, "fitted": v, "error": e, "z": (v - t) / e if e > 0 else math.inf}
    n = n_tests or len(rows)
    q = alpha / (2 * n)
    nominal = float(scipy.stats.norm.isf(q) if dof is None else scipy.stats.t.isf(q, dof))
    z_crit = scale * nominal
    worst = max(rows, key=lambda k: abs(rows[k]["z"]))
    return {"rows": rows, "z_crit": z_crit, "z_crit_nominal": nominal, "worst": worst, "passed": bool(abs(rows[worst]["z"]) <= z_crit)}
