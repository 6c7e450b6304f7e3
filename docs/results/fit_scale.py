"""``trsp fit`` at the paper's scale (docs/fit.md, "Scale"): memory and time of the default command.

Reads the run files once (``RunFile.iter_events``: checked and replayed, the baseline), then runs
``trsp fit RUNS --out WORK/fitted.toml`` under ``/usr/bin/time -v`` (CPU seconds, peak memory), and
compares the estimates with the truth of the parameter file the runs were simulated from.

    nice -n 10 python3 docs/results/fit_scale.py NAME PARAMS.toml RUN.h5 [RUN2.h5 ...]
    # writes docs/results/fit_scale_NAME.json

The runs of the committed results: 3D L = 12 (4 x 100 000 events) and 3D L = 20 (4 x 10^6 events)
of the 3d_plaquette set (trsp_fit.roundtrip.COVERAGE_SETS), ``trsp simulate PARAMS --events N
--seed 101..104`` (L = 12) and ``--seed 501..504`` (L = 20) at the default tolerance.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, ".")  # run from the repository root
for _v in ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

from trsp_ref.params import load_params  # noqa: E402
from trsp_runfile import RunFile  # noqa: E402


def truth(p) -> dict:
    s, r, k = p.softness, p.rates, p.kick
    return {"variance": s.variance, "C1": s.C1, "xi": s.xi, "sigma0": k.sigma0, "sigma1": k.sigma1, "xi_sigma": k.xi_sigma,
            "rho1": k.rho1, "xi_rho": k.xi_rho, "A@T=1": r.A, "gamma@T=1": r.gamma, "delta@T=1": r.delta, "mean@T=1": s.mean}


def main(name: str, params: str, runs: list[str]) -> None:
    t = time.process_time()
    events = sum(len(rec) for f in runs for rec in RunFile.open(f).iter_events())
    read = time.process_time() - t
    work = Path(tempfile.mkdtemp(prefix="fit_scale_"))
    cmd = ["/usr/bin/time", "-v", sys.executable, "-m", "trsp_cli.main", "fit", *runs, "--out", str(work / "fitted.toml"), "--no-progress"]
    r = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": os.getcwd()})
    if r.returncode != 0:
        raise SystemExit(r.stderr)

    def field(label):
        return float(re.search(rf"{re.escape(label)}: ([0-9.:]+)", r.stderr).group(1))

    user, system, rss = field("User time (seconds)"), field("System time (seconds)"), field("Maximum resident set size (kbytes)")
    report = json.loads((work / "fitted.json").read_text())
    p = load_params(params)
    rows = {}
    for k, true in truth(p).items():
        e = report["estimates"][k]
        err = (e["error"] ** 2 + e.get("systematic", 0.0) ** 2) ** 0.5
        rows[k] = {"true": true, "fitted": e["value"], "error": e["error"], "systematic": e.get("systematic", 0.0),
                   "relative": (e["value"] - true) / true, "z": (e["value"] - true) / err}
    out = {"name": name, "runs": [str(x) for x in runs], "events": events, "lattice": {"dim": p.lattice.dim, "L": p.lattice.L},
           "read_cpu_s": read, "fit_cpu_s": user + system, "fit_user_s": user, "fit_system_s": system,
           "ratio_fit_over_read": (user + system) / read, "max_rss_gb": rss / 1e6, "estimates": rows,
           "units": report["settings"]["bootstrap_units"], "kick": report["kick"], "warnings": report["warnings"]}
    Path(f"docs/results/fit_scale_{name}.json").write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps({k: v for k, v in out.items() if k not in ("estimates", "kick", "units")}, indent=1))
    for k, row in rows.items():
        print(f"{k:10s} true {row['true']:+.4f} fitted {row['fitted']:+.5f} +- {row['error']:.5f} (sys {row['systematic']:.5f}) "
              f"{100 * row['relative']:+.2f}% z {row['z']:+.2f}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
