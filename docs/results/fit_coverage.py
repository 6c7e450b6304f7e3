"""Coverage of ``trsp fit``'s error bars (docs/fit.md, "Errors"): do the reported errors mean what they say?

For each set of trsp_fit.roundtrip.COVERAGE_SETS (2D L = 12 plaquettes; 3D L = 12 plaquettes; a 2D
set with strong S-dependence of the rates, gamma = 2) and each seed: simulate FILES run files of
TIME time units (about EVENTS events) (``trsp simulate``'s default tolerance), fit them with the default command
(``trsp_fit.fit``, BOOTSTRAP replicates) and record z = (fitted - true) / error for every parameter,
error = the reported error with the reported systematic term in quadrature.  The errors mean what they
say when, per parameter, the z-scores have mean within +-0.3 and standard deviation within [0.8, 1.25].

Run from the repository root (resumable: one JSON line per set and seed in OUT; rerun to continue):

    nice -n 10 python3 docs/results/fit_coverage.py [SEEDS] [OUT] [--max-cpu S] [--max-3d N]
        # default 100 seeds, /work/data/fitscale/coverage.jsonl; stop after S CPU seconds in all (this
        # run and the lines already in OUT), and after N seeds of the 3D set
    python3 docs/results/fit_coverage.py --summary [OUT]               # writes docs/results/fit_coverage.json

Each line records the CPU seconds of its simulation and fit.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, ".")  # run from the repository root

for _v in ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np  # noqa: E402

from trsp_fit import FitOptions, fit  # noqa: E402
from trsp_fit.roundtrip import COVERAGE_SETS, compare, simulate_set, true_values  # noqa: E402

#: run files per set and seed, events per file, bootstrap replicates
FILES = {"2d_plaquette": 16, "3d_plaquette": 12, "2d_strong": 16}
EVENTS = {"2d_plaquette": 1000, "3d_plaquette": 1000, "2d_strong": 1000}
#: every run stops at this time (about EVENTS events; measured mean time per 1000 events: 2D plaquette
#: 3786, 3D plaquette 50.4, 2D strong 3104): runs stopped at a fixed number of events bias <S> and A
#: low (trsp_fit.roundtrip.simulate_set)
TIME = {"2d_plaquette": 3600.0, "3d_plaquette": 48.0, "2d_strong": 2700.0}
#: seeds per set at most (the 3D set costs ~6x a 2D one); --max-cpu stops the whole study earlier
MAX_SEEDS = {"2d_plaquette": 100, "3d_plaquette": 100, "2d_strong": 100}
BOOTSTRAP = 100
SEED0 = 5000
DEFAULT_OUT = "/work/data/fitscale/coverage.jsonl"
SUMMARY = Path("docs/results/fit_coverage.json")
TARGET = {"mean": 0.3, "sd": (0.8, 1.25)}


def one(name: str, seed: int) -> dict:
    spec, dim, L = COVERAGE_SETS[name]
    t0 = time.process_time()
    folder = Path(tempfile.mkdtemp(prefix=f"cov_{name}_{seed}_"))
    try:
        files = simulate_set(name, folder, L=L, dim=dim, replicas=FILES[name], events=None, time=TIME[name], seed=SEED0 + seed)
        t_sim = time.process_time() - t0
        res = fit(files, FitOptions(bootstrap=BOOTSTRAP, seed=seed))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    est = res.report["estimates"]
    cmp = compare(est, true_values(name, L, dim))
    rows = {k: {"fitted": r["fitted"], "error": est[k]["error"], "systematic": est[k].get("systematic", 0.0), "z": r["z"]}
            for k, r in cmp["rows"].items()}
    return {"set": name, "seed": seed, "rows": rows, "units": res.report["settings"]["bootstrap_units"],
            "cpu_s": time.process_time() - t0, "cpu_s_simulate": t_sim}


def summarize(path: Path) -> dict:
    lines = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    out = {"targets": TARGET, "files": FILES, "time": TIME, "bootstrap": BOOTSTRAP, "sets": {}}
    cpu = 0.0
    for name in COVERAGE_SETS:
        got = [x for x in lines if x["set"] == name]
        cpu += sum(x["cpu_s"] for x in got)
        if not got:
            continue
        table = {}
        for k in got[0]["rows"]:
            z = np.array([x["rows"][k]["z"] for x in got if k in x["rows"]])
            z = z[np.isfinite(z)]
            m, sd = float(z.mean()), float(z.std(ddof=1))
            table[k] = {"n": int(z.size), "mean_z": m, "sd_z": sd, "max_abs_z": float(np.abs(z).max()),
                        "met": bool(abs(m) <= TARGET["mean"] and TARGET["sd"][0] <= sd <= TARGET["sd"][1])}
        spec, dim, L = COVERAGE_SETS[name]
        out["sets"][name] = {"dim": dim, "L": L, "seeds": len(got), "parameters": table,
                             "units_per_seed": float(np.mean([sum(x["units"]["units_per_file"]) for x in got])),
                             "cpu_s_per_seed": float(np.mean([x["cpu_s"] for x in got]))}
    out["cpu_s_total"] = cpu
    out["all_met"] = all(r["met"] for s in out["sets"].values() for r in s["parameters"].values())
    return out


def main(argv: list[str]) -> None:
    if argv and argv[0] == "--summary":
        path = Path(argv[1] if len(argv) > 1 else DEFAULT_OUT)
        SUMMARY.write_text(json.dumps(summarize(path), indent=1) + "\n")
        print(SUMMARY.read_text())
        return
    max_cpu, max_3d = math.inf, MAX_SEEDS["3d_plaquette"]
    for flag in ("--max-cpu", "--max-3d"):
        if flag in argv:
            i = argv.index(flag)
            val = float(argv[i + 1])
            del argv[i:i + 2]
            if flag == "--max-cpu":
                max_cpu = val
            else:
                max_3d = int(val)
    limits = {**MAX_SEEDS, "3d_plaquette": max_3d}
    seeds = int(argv[0]) if argv else 100
    path = Path(argv[1] if len(argv) > 1 else DEFAULT_OUT)
    path.parent.mkdir(parents=True, exist_ok=True)
    done, cpu = set(), 0.0
    if path.exists():
        old = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
        done = {(x["set"], x["seed"]) for x in old}
        cpu = sum(x["cpu_s"] for x in old)
    for s in range(seeds):
        for name in COVERAGE_SETS:
            if (name, s) in done or s >= limits[name]:
                continue
            if cpu >= max_cpu:
                print(f"CPU budget {max_cpu:g} s spent: stopped", flush=True)
                return
            row = one(name, s)
            cpu += row["cpu_s"]
            with path.open("a") as f:
                f.write(json.dumps(row) + "\n")
            worst = max(row["rows"], key=lambda k: abs(row["rows"][k]["z"]))
            print(f"{name} seed {s}: worst {worst} z = {row['rows'][worst]['z']:+.2f}, {row['cpu_s']:.1f} CPU s", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
