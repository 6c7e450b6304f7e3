"""The battery's resolution law, measured and confirmed (issue 20; docs/verification.md, "Resolution").

    python3 tests/mutants/resolution_campaign.py law           # k per parameter set -> docs/resolution.toml
    python3 tests/mutants/resolution_campaign.py confirm OUT_DIR [--seeds 20] [--events 20000] [--only NAME ...]
    python3 tests/mutants/resolution_campaign.py scan OUT_DIR  # the statistics' growth with e and n
    python3 tests/mutants/resolution_campaign.py summarize OUT_DIR ...   # -> docs/results/resolution_confirmation.json
    python3 tests/mutants/resolution_campaign.py tables        # the markdown tables of docs/verification.md

``law`` evaluates :func:`trsp_verify.resolution.resolution_law` on every parameter set of
:data:`SETS`, for the exact declared model and for the truncation trsp_fast declares at its
default tolerance, and writes the spec (the worst k of every component, each set's k beside it)
to ``trsp_verify/resolution.toml`` and its copy ``docs/resolution.toml``, and the details
(k(n), the deciding rows, the model constants, the optimal one-dof tests) to
``docs/results/resolution_law.json``.

``confirm`` simulates, for each component on the set where its k is the worst, the dense
numpy implementation of tests/mutants/simulator.py with the error applied (``error=(name, e)``)
at e = e_99(n) of the published law and at e_99(n) / 3 (the sign of e whose e_99 is the
larger), 4 replicas of ``events`` events, ``seeds`` seed sets each, verifies them with the
default battery and appends one JSON line per seed set (resumable: seed sets already in the
file are skipped).  ``scan`` does the same at a few sizes e and n to show how the deciding
row's statistic grows.  Every job runs in this one process; CPU seconds are recorded.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ (for `mutants`)
REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import scipy.optimize  # noqa: E402

from mutants.simulator import write_replicas  # noqa: E402

from trsp_ref.params import params_from_dict  # noqa: E402
from trsp_verify import resolution as law  # noqa: E402

#: the measured parameter sets: name -> (parameter overrides of the built-in example, what it stands for)
SETS: dict[str, tuple[dict, str]] = {
    "catalog_2d": ({"lattice": {"dim": 2, "L": 5}}, "2D L = 5 plaquettes (the mutant catalog's set)"),
    "default_3d_plaquette": ({}, "3D L = 6 plaquettes, the built-in example (trsp verify's default)"),
    "strong_coupling_2d": ({"lattice": {"dim": 2, "L": 6}, "rates": {"gamma": 2.0, "delta": 0.1}},
                           "2D L = 6, strong rate coupling: gamma = 2, delta = 0.1"),
    "weak_coupling_3d": ({"lattice": {"dim": 3, "L": 4}, "rates": {"gamma": 0.5, "delta": 0.02}},
                         "3D L = 4, weak rate coupling: gamma = 0.5, delta = 0.02"),
    "paper_3d_L20": ({"lattice": {"dim": 3, "L": 20}}, "3D L = 20 plaquettes, the paper's system (truncated)"),
}
#: sets whose exact (untruncated) model the dense oracle cannot hold are measured truncated only
TRUNCATED_ONLY = {"paper_3d_L20"}
LAW_JSON = REPO / "docs" / "results" / "resolution_law.json"
CONFIRM_JSON = REPO / "docs" / "results" / "resolution_confirmation.json"
SPEC_COPY = REPO / "docs" / "resolution.toml"
#: the run sizes k(n) is evaluated at (the law's k is the largest: valid from the smallest on)
NS = (2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 1_000_000)


def set_params(name: str):
    return params_from_dict(SETS[name][0])


#: the truncations measured besides the exact model: trsp_fast's default tolerance and a coarse one
#: (the fit round trip's 1e-3; docs/fast.md), so that the spec covers truncated implementations up to it
TOLERANCES = (None, 1e-3)


def sides(name: str):
    """(label, model side) of the declared models of a set: exact, and the truncations trsp_fast
    declares at :data:`TOLERANCES` (None: its default) where they differ from the exact model."""
    from trsp_fast.model import DEFAULT_TOLERANCE, FastModel

    from trsp_verify.model_side import model_side_for

    p = set_params(name)
    out = []
    if name not in TRUNCATED_ONLY:
        out.append(("exact", model_side_for(p)))
    seen = set()
    for tol in TOLERANCES:
        fm = FastModel(p, tolerance=tol or DEFAULT_TOLERANCE)
        radii = (fm.kick_radius, fm.precision_radius, fm.precision_scheme)
        if radii in seen or (math.isinf(radii[0]) and math.isinf(radii[1]) and name not in TRUNCATED_ONLY):
            continue
        seen.add(radii)
        out.append((f"tolerance {tol or DEFAULT_TOLERANCE:g} (kick_radius {radii[0]:.4g}, precision_radius "
                    f"{radii[1]:.4g}, {radii[2]})", model_side_for(p, *radii[:2], scheme=radii[2])))
    return out


def _cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


# ------------------------------------------------------------------------------------ law


def measure_law() -> dict:
    """Per set and declared model: k(n) of every component, the deciding row, the model constants
    and the optimal one-dof k; the spec = per component the worst k over everything."""
    out: dict = {"sets": {}, "cpu_seconds": 0.0}
    c0 = _cpu()
    for name in SETS:
        entry = {"description": SETS[name][1], "models": {}}
        for label, side in sides(name):
            c = law.model_constants(side)
            rows = law.resolution_law(side, c)
            comps = {}
            for comp, rl in rows.items():
                kk = law.k_over_n(rl, ns=NS)
                comps[comp] = {
                    "k": kk["k"],
                    "k_by_n": {str(n): v[0] for n, v in kk["by_n"].items()},
                    "row": kk["by_n"][20_000][1],
                    "sign": _binding_sign(rl, 20_000),
                }
            entry["models"][label] = {
                "components": comps,
                "optimal_k_one_more_row": law.optimal_k(c),
                "optimal_k_alone": law.optimal_k(c, extra_rows=None),
                "information_per_event": law.information_per_event(c),
                "constants": {"checked_sites": c.checked, "orientations": c.orientations, "mean_norm_u": c.mean_norm,
                              "mean_sq_norm_u": c.mean_sq_norm, "norm_u_offset": c.offset_norm,
                              "u1_along_offset": c.shift_along_offset, "norm_u1": c.shift_norm,
                              "gamma0": c.gamma0, "delta0": c.delta0, "mean": c.mean, "wKw": c.q},
            }
            print(f"{name} [{label}]: " + ", ".join(f"{k} {v['k']:.4g}" for k, v in comps.items()), flush=True)
        # the set's k: the worst over its declared models
        entry["k"] = {comp: max(m["components"][comp]["k"] for m in entry["models"].values()) for comp in law.COMPONENTS}
        out["sets"][name] = entry
    spec = {}
    for comp in law.COMPONENTS:
        worst = max(out["sets"], key=lambda s: out["sets"][s]["k"][comp])
        model = max(out["sets"][worst]["models"].values(), key=lambda m: m["components"][comp]["k"])
        spec[comp] = {"k": out["sets"][worst]["k"][comp], "row": model["components"][comp]["row"], "worst_set": worst,
                      "sign": model["components"][comp]["sign"]}
    out["spec"] = spec
    out["cpu_seconds"] = _cpu() - c0
    return out


def _binding_sign(rows, n: int) -> float:
    e_plus = law.e99(rows, law.REPLICAS * n, sign=1.0)[0]
    e_minus = law.e99(rows, law.REPLICAS * n, sign=-1.0)[0]
    return 1.0 if e_plus >= e_minus else -1.0


def _round(k: float) -> float:
    """k rounded up to 3 significant digits (the spec must not be below the law)."""
    if not math.isfinite(k) or k <= 0:
        return k
    digits = 2 - math.floor(math.log10(k))
    return round(math.ceil(k * 10**digits - 1e-9) / 10**digits, max(digits, 0))


def spec_toml(result: dict) -> str:
    """docs/resolution.toml, exactly in the issue's shape."""
    lines = [
        "# The battery's resolution law (docs/verification.md, \"Resolution\"): the smallest error e of each",
        "# component that the default battery (Holm, family-wise alpha 1e-3) rejects with probability >= power,",
        "# e99 = k / sqrt(n) for n events per replica and 4 replicas (n >= 2000; any replica count: n = events / 4).",
        "# k = the worst over the measured parameter sets (sets: each set's k). Written by",
        "# tests/mutants/resolution_campaign.py law; trsp_verify/resolution.toml is the same file.",
        "",
        "[meta]",
        f"replicas = {law.REPLICAS}",
        f"power = {law.POWER}",
        "family_alpha = 1e-3",
        f'law = "{law.LAW}"',
    ]
    for comp in law.COMPONENTS:
        s = result["spec"][comp]
        sets = ", ".join(f"{name} = {_round(result['sets'][name]['k'][comp])}" for name in result["sets"])
        lines += ["", f"[components.{comp}]", f"k = {_round(s['k'])}       # the worst over the measured sets ({s['worst_set']})",
                  f'row = "{s["row"]}"', f"sets = {{ {sets} }}   # k per set"]
    return "\n".join(lines) + "\n"


def cmd_law(_a) -> int:
    result = measure_law()
    text = spec_toml(result)
    law.SPEC_PATH.write_text(text, encoding="utf-8")
    SPEC_COPY.write_text(text, encoding="utf-8")
    LAW_JSON.write_text(json.dumps(_jsonable(result), indent=1) + "\n", encoding="utf-8")
    print(text)
    print(f"CPU {result['cpu_seconds']:.0f} s; wrote {law.SPEC_PATH}, {SPEC_COPY}, {LAW_JSON}")
    return 0


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    return x


# ------------------------------------------------------------------------------------ simulation

#: numbers read off a row's statistic text (the rows' display formats, trsp_verify.checks / targeted)
_STAT = {
    "6d_drift_scale": r"Z = (\S+)",
    "6e_drift_parts": r"Z\(offset\) = (\S+?),",
    "replay_kick": r"Z\(sum z\^2\) = (\S+)",
    "waiting_times": r"Z\(mean\) = (\S+?),",
    "3c_rate_score": r"chi2 = (\S+) ",
    "rate_law_intensity": r"chi2 = (\S+) ",
}


def _statistic(row) -> float | None:
    pat = _STAT.get(row.key)
    m = re.search(pat, row.statistic) if pat else None
    return float(m.group(1)) if m else None


def one_seed_set(set_name: str, comp: str, e: float, events: int, seed: int, side) -> dict:
    """Simulate 4 replicas of the dense implementation with the error (comp, e), verify, summarize."""
    from trsp_verify import VerifyInputError, load_runs, verify

    p = set_params(set_name)
    c0 = _cpu()
    with tempfile.TemporaryDirectory(dir=os.environ.get("TRSP_SCRATCH")) as d:
        files = write_replicas(d, p, None, law.REPLICAS, events, seed, error=(comp, e))
        c1 = _cpu()
        try:
            report = verify(load_runs(files), side=side)
        except VerifyInputError as exc:  # a run that blew up is a rejection (exit 2), as in the kill table
            return {"seed": seed, "rejected": True, "unusable": str(exc)[:120], "cpu_simulate": c1 - c0,
                    "cpu_verify": _cpu() - c1}
    rows = {r.key: r for r in report.rows}
    return {
        "seed": seed,
        "rejected": not report.passed,
        "failing": [r.key for r in report.rows if r.status == "FAIL"],
        "p": {k: r.p_value for k, r in rows.items() if r.p_value is not None},
        "statistic": {k: _statistic(r) for k, r in rows.items() if _statistic(r) is not None},
        "cpu_simulate": c1 - c0,
        "cpu_verify": _cpu() - c1,
    }


def run_jobs(out: Path, jobs: list[dict]) -> None:
    """Each job: {set, component, e, events, seeds: [...], tag}; one JSON line per seed set, resumable."""
    from trsp_verify.model_side import ModelSide

    out.mkdir(parents=True, exist_ok=True)
    side_cache: dict = {}
    for job in jobs:
        path = out / f"{job['tag']}.jsonl"
        done = set()
        if path.exists():
            done = {json.loads(line)["seed"] for line in path.read_text().splitlines() if line.strip()}
        todo = [s for s in job["seeds"] if s not in done]
        if not todo:
            continue
        if job["set"] not in side_cache:
            side_cache.clear()
            side_cache[job["set"]] = ModelSide(set_params(job["set"]))
        side = side_cache[job["set"]]
        for seed in todo:
            rec = one_seed_set(job["set"], job["component"], job["e"], job["events"], seed, side)
            rec.update({k: job[k] for k in ("set", "component", "e", "events", "tag")})
            with path.open("a") as fh:
                fh.write(json.dumps(_jsonable(rec)) + "\n")
            print(f"{job['tag']} seed {seed}: {'REJECTED' if rec['rejected'] else 'passed'} "
                  f"{rec.get('failing', '')} cpu {rec['cpu_simulate'] + rec['cpu_verify']:.1f}", flush=True)


def _spec_and_law() -> tuple[dict, dict]:
    return law.load_spec(), json.loads(LAW_JSON.read_text())


def _components(only):
    """(index, name, the law's spec details, the published k) of the components asked for."""
    spec, res = _spec_and_law()
    for i, comp in enumerate(law.COMPONENTS):
        if not only or comp in only:
            yield i, comp, res["spec"][comp], spec["components"][comp]["k"]


def confirm_jobs(seeds: int, events: int, only=None) -> list[dict]:
    jobs = []
    for i, comp, s, k in _components(only):
        e99 = k / math.sqrt(events) * s["sign"]
        for j, (label, e) in enumerate((("e99", e99), ("e99_over_3", e99 / 3.0))):
            jobs.append({"set": s["worst_set"], "component": comp, "e": e, "events": events,
                         "seeds": [100_000 + 1000 * i + 100 * j + x for x in range(seeds)],
                         "tag": f"confirm_{comp}_{label}_{events}"})
    return jobs


def scan_jobs(seeds: int, only=None) -> list[dict]:
    """The deciding row's statistic vs e and n: e = 2 e99(n) and e99(n) at n = 5 000 (e99(20 000) and a
    third of it at n = 20 000 are the confirmation runs), e99(n) at the law's smallest n (N_MIN = 2 000,
    where the errors are largest and first-order laws most strained), on the same sets; and H_scale at
    e = +-0.2 (how its statistic departs from the first-order law)."""
    jobs = []
    for n, mults, base in ((5_000, (1.0, 2.0), 200_000), (law.N_MIN, (1.0,), 400_000)):
        for i, comp, s, k in _components(only):
            for j, mult in enumerate(mults):
                jobs.append({"set": s["worst_set"], "component": comp, "e": mult * k / math.sqrt(n) * s["sign"],
                             "events": n, "seeds": [base + 1000 * i + 100 * j + x for x in range(seeds)],
                             "tag": f"scan_{comp}_{mult:g}e99_{n}"})
    res = _spec_and_law()[1]
    if not only or "H_scale" in only:
        for j, e in enumerate((0.2, -0.2)):
            jobs.append({"set": res["spec"]["H_scale"]["worst_set"], "component": "H_scale", "e": e, "events": 20_000,
                         "seeds": [300_000 + 100 * j + x for x in range(4)], "tag": f"scan_H_scale_{e:+g}_20000"})
    return jobs


def cmd_confirm(a) -> int:
    run_jobs(Path(a.out), confirm_jobs(a.seeds, a.events, a.only))
    return 0


def cmd_scan(a) -> int:
    run_jobs(Path(a.out), scan_jobs(a.seeds, a.only))
    return 0


# ------------------------------------------------------------------------------------ summary


def predicted_statistic(comp: str, set_name: str, e: float, events: int) -> float | None:
    """The law's mean of the deciding row's displayed statistic (Z; the chi2 of 3c) at (e, E)."""
    from trsp_verify.model_side import ModelSide

    side = ModelSide(set_params(set_name))
    c = law.model_constants(side)
    E = law.REPLICAS * events
    if comp == "H_scale":  # the law's: first order, divided by 1 + c e for e > 0 (law.H_SCALE_CONTRACTION)
        return law.resolution_law(side, c)[comp][0].kappa(e) * math.sqrt(E)
    if comp == "mu_prime_shift":
        return e * c.sigma * c.shift_along_offset * math.sqrt(E)
    if comp == "kick_noise_scale":
        return ((1 + e) ** 2 - 1) * math.sqrt(E * c.checked / 2)
    if comp == "rate_scale":
        return (1 / (1 + e) - 1) * math.sqrt(E)
    if comp == "kick_range_scale":
        w = law.resolution_law(side, c)[comp][0].weights(e)
        return float((w.sum() - w.size) * math.sqrt(E / (2 * w.size)))
    if comp in ("gamma0_scale", "delta0_scale"):
        rl = [r for r in law.resolution_law(side, c)[comp] if r.key == "3c_rate_score"][0]
        mu, V, S1 = rl.laws(e)
        # M ~ N(E mu, E S1), Q = M^T (E V)^-1 M: E Q = E mu^T V^-1 mu + tr(V^-1 S1)
        return float(E * mu @ np.linalg.solve(V, mu) + np.trace(np.linalg.solve(V, S1)))
    return None


def summarize(folders: list[Path]) -> dict:
    res = _spec_and_law()[1]
    out: dict = {"jobs": {}, "cpu_seconds": 0.0}
    for path in sorted(p for folder in folders for p in folder.glob("*.jsonl")):
        recs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        if not recs:
            continue
        r0 = recs[0]
        comp, set_name, e, events = r0["component"], r0["set"], r0["e"], r0["events"]
        row = res["spec"][comp]["row"]
        rej = sum(r["rejected"] for r in recs)
        stats = [r["statistic"].get(row) for r in recs if r.get("statistic", {}).get(row) is not None]
        pred = predicted_statistic(comp, set_name, e, events)
        cpu = sum(r["cpu_simulate"] + r["cpu_verify"] for r in recs)
        out["cpu_seconds"] += cpu
        out["jobs"][path.stem] = {
            "component": comp, "set": set_name, "e": e, "events_per_replica": events, "seed_sets": len(recs),
            "rejected": rej, "row": row,
            "row_failed": sum(row in r.get("failing", []) for r in recs),
            "mean_statistic": float(np.mean(stats)) if stats else None,
            "sd_statistic": float(np.std(stats, ddof=1)) if len(stats) > 1 else None,
            "law_mean_statistic": pred,
            "law_power": _law_power(comp, set_name, e, events),
            "failing_rows": sorted({k for r in recs for k in r.get("failing", [])}),
            "cpu_seconds": cpu,
        }
        j = out["jobs"][path.stem]
        print(f"{path.stem:45s} {set_name:18s} e={e:+.4g} n={events}: rejected {rej}/{len(recs)} "
              f"(law power {j['law_power']:.3f}); {row} mean {j['mean_statistic']} vs law {pred}; cpu {cpu:.0f}",
              flush=True)
    return out


def h_scale_contraction(folders: list[Path]) -> dict:
    """c of 6d's mean e E|u| sqrt(E) / (1 + c e) under H_scale at e > 0 (law.H_SCALE_CONTRACTION takes
    it plus two standard errors), least squares over every seed set of the H_scale jobs with e > 0."""
    from trsp_verify.model_side import ModelSide

    e, first, z, sides_ = [], [], [], {}
    for path in sorted(p for folder in folders for p in folder.glob("*H_scale*.jsonl")):
        for r in (json.loads(line) for line in path.read_text().splitlines() if line.strip()):
            if r["component"] != "H_scale" or r["e"] <= 0 or "6d_drift_scale" not in r.get("statistic", {}):
                continue
            if r["set"] not in sides_:
                sides_[r["set"]] = law.model_constants(ModelSide(set_params(r["set"]))).mean_norm
            e.append(r["e"])
            first.append(r["e"] * sides_[r["set"]] * math.sqrt(law.REPLICAS * r["events"]))
            z.append(r["statistic"]["6d_drift_scale"])
    if len(z) < 2:
        return {}
    e, first, z = map(np.asarray, (e, first, z))
    fit = scipy.optimize.least_squares(lambda c: z - first / (1.0 + c * e), [0.3])
    resid = z - first / (1.0 + fit.x[0] * e)
    se = math.sqrt((resid @ resid) / (len(z) - 1) / float((fit.jac.T @ fit.jac)[0, 0]))
    return {"c": float(fit.x[0]), "standard_error": se, "seed_sets": len(z), "sets": sorted(sides_),
            "e_range": [float(e.min()), float(e.max())], "law_uses": law.H_SCALE_CONTRACTION}


def _law_power(comp: str, set_name: str, e: float, events: int) -> float:
    from trsp_verify.model_side import ModelSide

    side = ModelSide(set_params(set_name))
    return max(r.power(e, law.REPLICAS * events) for r in law.resolution_law(side)[comp])


def cmd_summarize(a) -> int:
    out = summarize([Path(f) for f in a.out])
    out["h_scale_contraction"] = h_scale_contraction([Path(f) for f in a.out])
    print(f"H_scale contraction: {out['h_scale_contraction']}")
    CONFIRM_JSON.write_text(json.dumps(_jsonable(out), indent=1) + "\n", encoding="utf-8")
    print(f"CPU {out['cpu_seconds']:.0f} s in the seed sets; wrote {CONFIRM_JSON}")
    return 0


def cmd_tables(_a) -> int:
    """The markdown tables of docs/verification.md ("Resolution") from the committed summaries."""
    spec, res = _spec_and_law()
    sets = list(res["sets"])
    print("| component | row | k (spec, worst) | e_99 at 4 x 20 000 | " + " | ".join(f"k {s}" for s in sets)
          + " | k of the best one-dof test (one more row; alone) |")
    print("|---" * (5 + len(sets)) + "|")
    for comp, (_, _, unit) in law.COMPONENTS.items():
        c = spec["components"][comp]
        e = c["k"] / math.sqrt(20_000)
        size = f"{100 * e:.2g}%" if unit == "%" else f"{e:.2g} sigma"
        worst = res["spec"][comp]["worst_set"]
        model = max(res["sets"][worst]["models"].values(), key=lambda m: m["components"][comp]["k"])
        best = f"{model['optimal_k_one_more_row'][comp]:.3g}; {model['optimal_k_alone'][comp]:.3g}"
        print(f"| `{comp}` | `{c['row']}` | **{c['k']:g}** ({worst}) | {size} | "
              + " | ".join(f"{c['sets'][s]:g}" for s in sets) + f" | {best} |")
    print()
    print("| component | k(2 000) | k(5 000) | k(20 000) | k(10^6) | (worst set, its worst declared model) |")
    print("|---|---|---|---|---|---|")
    for comp in law.COMPONENTS:
        worst = res["spec"][comp]["worst_set"]
        model = max(res["sets"][worst]["models"].values(), key=lambda m: m["components"][comp]["k"])
        by = model["components"][comp]["k_by_n"]
        print(f"| `{comp}` | " + " | ".join(f"{by[n]:.4g}" for n in ("2000", "5000", "20000", "1000000")) + f" | {worst} |")
    if CONFIRM_JSON.exists():
        conf = json.loads(CONFIRM_JSON.read_text())["jobs"]
        print()
        print("| component | set | e | rejected at e_99 (law's power) | rejected at e_99 / 3 (law's power) | deciding row's "
              "statistic at e_99: mean over the seed sets (law) |")
        print("|---|---|---|---|---|---|")
        for comp, (_, _, unit) in law.COMPONENTS.items():
            a, b = conf.get(f"confirm_{comp}_e99_20000"), conf.get(f"confirm_{comp}_e99_over_3_20000")
            if a is None:
                continue
            e = a["e"]
            size = f"{100 * e:+.3g}%" if unit == "%" else f"{e:+.3g} sigma"
            bb = f"{b['rejected']}/{b['seed_sets']} ({b['law_power']:.3f})" if b else "-"
            print(f"| `{comp}` | {a['set']} | {size} | {a['rejected']}/{a['seed_sets']} ({a['law_power']:.3f}) | {bb} | "
                  f"{a['mean_statistic']:.3g} ({a['law_mean_statistic']:.3g}) |")
        print()
        print("| component | n | e | seed sets | deciding row's statistic: mean +- its standard error (law) | rejected (law's power) |")
        print("|---|---|---|---|---|---|")
        for tag, j in sorted(conf.items(), key=lambda t: (list(law.COMPONENTS).index(t[1]["component"]), t[1]["events_per_replica"], abs(t[1]["e"]))):
            unit = law.COMPONENTS[j["component"]][2]
            size = f"{100 * j['e']:+.3g}%" if unit == "%" else f"{j['e']:+.3g} sigma"
            se = j["sd_statistic"] / math.sqrt(j["seed_sets"]) if j["sd_statistic"] else float("nan")
            print(f"| `{j['component']}` | {j['events_per_replica']} | {size} | {j['seed_sets']} | "
                  f"{j['mean_statistic']:.3g} +- {se:.2g} ({j['law_mean_statistic']:.3g}) | {j['rejected']}/{j['seed_sets']} "
                  f"({j['law_power']:.3f}) |")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("law").set_defaults(func=cmd_law)
    for name, func in (("confirm", cmd_confirm), ("scan", cmd_scan)):
        sp = sub.add_parser(name)
        sp.add_argument("out")
        sp.add_argument("--seeds", type=int, default=20 if name == "confirm" else 10)
        sp.add_argument("--events", type=int, default=20_000)
        sp.add_argument("--only", nargs="*", default=None)
        sp.set_defaults(func=func)
    sp = sub.add_parser("summarize")
    sp.add_argument("out", nargs="+")
    sp.set_defaults(func=cmd_summarize)
    sub.add_parser("tables").set_defaults(func=cmd_tables)
    a = ap.parse_args(argv)
    return a.func(a)


if __name__ == "__main__":
    sys.exit(main())
