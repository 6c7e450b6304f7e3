"""Validation of ``trsp md`` against Kob & Andersen 1995: D_A(T), tau_alpha from F_s(q = 7.25, t), g_AA's first peak.

    python3 docs/results/ka_md_validation.py                 # run what is missing (resumable), analyse, write the JSON
    python3 docs/results/ka_md_validation.py --analyse-only  # only analyse the trajectories there are

Runs ``trsp md`` (N = 1000, KA 80:20, density 1.2) at T = 1.0, 0.8, 0.6 into ``--data``
(default /work/data/md/validation; nice -n 10, one thread, one at a time), then writes
docs/results/ka_md_validation.json: per temperature D_A (MSD = 6 D t fitted for t >= 3 tau_alpha),
tau_alpha (F_s of the A particles at q = 7.25 crossing 1/e), the first peak of g_AA (position,
height), the mean kinetic temperature of the NVE production, and the CPU seconds of the run.
Every quantity comes from trsp_md.analysis (the same code issue 19 uses).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))

#: T: (equilibration_time, production_time, seed)
RUNS = {1.0: (50.0, 100.0, 101), 0.8: (100.0, 150.0, 81), 0.6: (150.0, 200.0, 61)}


def toml_text(T: float, eq: float, prod: float) -> str:
    return f"""[system]
n_particles = 1000
[protocol]
temperature = {T}
equilibration_time = {eq}
production_time = {prod}
melt_time = 20.0
checkpoint_every = 50
[minimize]
# the validation uses the thermal positions only: one CG iteration keeps the inherent-state
# column (the file format has it) at almost no cost
max_iterations = 1
"""


def run_missing(data: Path) -> dict:
    cpu = {}
    for T, (eq, prod, seed) in RUNS.items():
        out = data / f"T{T:.2f}.gsd"
        toml = data / f"T{T:.2f}.toml"
        ck = out.with_name(out.name + ".checkpoint")
        toml.write_text(toml_text(T, eq, prod))
        cmd = [sys.executable, "-m", "trsp_cli.main", "md", str(toml), "--out", str(out), "--no-progress"]
        if ck.exists():
            cmd.append("--resume")
        elif out.exists():
            continue
        else:
            cmd += ["--seed", str(seed)]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        rc = subprocess.call(cmd, cwd=REPO, env=dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO)))
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu[T] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        if rc != 0:
            raise SystemExit(f"trsp md failed at T = {T} (exit {rc})")
    return cpu


def analyse(data: Path, cpu: dict) -> dict:
    from trsp_md import analysis as an

    rows = []
    for T in RUNS:
        out = data / f"T{T:.2f}.gsd"
        if not out.exists():
            continue
        t, X, typeid, L, _ = an.read_trajectory(out)
        XA = X[:, typeid == 0]
        dt = float(t[1] - t[0])
        lags = np.unique(np.round(np.geomspace(1, len(t) // 2, 30)).astype(int))
        fs = an.self_intermediate_scattering(XA, lags)
        tau = an.crossing_time(lags * dt, fs)
        msd = an.mean_squared_displacement(XA, lags)
        D = an.diffusion_constant(lags * dt, msd, t_min=3 * (tau or 1.0))
        r, g = an.radial_distribution(X[:: max(1, len(t) // 50)], typeid, L, 0, 0, 3.0, 0.01)
        r1, g1 = an.first_peak(r, g)
        import gsd.hoomd

        with gsd.hoomd.open(str(out)) as traj:
            tkin = float(np.mean([f.log["trsp/kinetic_temperature"][0] for f in traj]))
        rows.append({"T": T, "D_A": D, "tau_alpha_Fs_q7.25": tau, "g_AA_first_peak_r": r1, "g_AA_first_peak_height": g1,
                     "mean_kinetic_temperature": tkin, "frames": len(t), "N": int(X.shape[1]), "cpu_s": cpu.get(T),
                     "Fs_at_lags": {"t": (lags * dt).tolist(), "Fs": fs.round(5).tolist()}})
    return {"what": "trsp md (LAMMPS) Kob-Andersen 80:20, N = 1000, density 1.2; NVE production after Andersen equilibration",
            "published": {"note": "Kob & Andersen, PRE 51, 4626 (1995) and PRE 52, 4134 (1995): see docs/md.md, 'Validation' "
                                  "for what could and could not be retrieved"},
            "rows": rows}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("/work/data/md/validation"))
    ap.add_argument("--analyse-only", action="store_true")
    ap.add_argument("--out", type=Path, default=HERE / "ka_md_validation.json")
    a = ap.parse_args()
    a.data.mkdir(parents=True, exist_ok=True)
    cpu_file = a.data / "cpu.json"
    cpu = {float(k): v for k, v in json.loads(cpu_file.read_text()).items()} if cpu_file.exists() else {}
    if not a.analyse_only:
        for T, s in run_missing(a.data).items():
            cpu[T] = cpu.get(T, 0.0) + s
        cpu_file.write_text(json.dumps({str(k): v for k, v in cpu.items()}))
    summary = analyse(a.data, cpu)
    a.out.write_text(json.dumps(summary, indent=1) + "\n")
    for row in summary["rows"]:
        print({k: v for k, v in row.items() if k != "Fs_at_lags"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
