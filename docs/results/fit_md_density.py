"""Particle data at MD density (docs/fit.md, "Particle data at MD density"): lattice runs converted
with jitter, many rearrangements in every frame, fitted through the particle route, against the
event route on the same runs and against the truth.

3D L = 16 plaquettes (the 3d_plaquette coverage set of trsp_fit.roundtrip.COVERAGE_SETS on a larger
box: about 45 events per unit time), FILES run files of EVENTS events; frames FRAME_INTERVAL apart
(about 11 rearrangements per frame), positions jittered by JITTER spacings (freud neighbour
queries, pair-distance bins), written as particle files with ``trsp to-particles``'s converter.

Run from the repository root:  nice -n 10 python3 docs/results/fit_md_density.py [WORK] [JITTER]
(WORK default /work/data/fitscale/md_density; writes docs/results/fit_md_density.json, or
fit_md_density_jitter<JITTER>.json when JITTER is given: jitter 0 tells the jitter's effect on the
kick's distance dependence apart from that of many rearrangements per frame; give each JITTER its
own WORK, since particle files already in WORK are reused)
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, ".")  # run from the repository root
for _v in ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

from trsp_fit import FitOptions, fit, runfile_to_particles, write_particles  # noqa: E402
from trsp_fit.roundtrip import compare, simulate_set, true_values  # noqa: E402

SET, DIM, L = "3d_plaquette", 3, 16
FILES, EVENTS, SEED = 4, 25000, 77
FRAME_INTERVAL, JITTER = 0.25, 0.05
OUT = Path("docs/results/fit_md_density.json")


def main(work: Path, jitter: float = JITTER, out_path: Path = OUT) -> None:
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.process_time()
    runs = simulate_set(SET, work, L=L, dim=DIM, replicas=FILES, events=EVENTS, seed=SEED)
    parts = []
    for k, run in enumerate(runs):
        p = work / f"particles_{k}.h5"
        if not p.exists():
            write_particles(runfile_to_particles(run, frame_interval=FRAME_INTERVAL, jitter=jitter, seed=k), p)
        parts.append(p)
    t_prep = time.process_time() - t0
    truth = true_values(SET, L, DIM)
    out = {"set": SET, "dim": DIM, "L": L, "files": FILES, "events": EVENTS, "frame_interval": FRAME_INTERVAL, "jitter": jitter,
           "cpu_s_simulate_and_convert": t_prep, "routes": {}}
    for route, inputs in (("events", runs), ("particles", parts)):
        t = time.process_time()
        res = fit(inputs, FitOptions(bootstrap=100))
        est = res.report["estimates"]
        cmp = compare(est, truth)
        out["routes"][route] = {
            "cpu_s": time.process_time() - t,
            "rows": {k: {"true": r["true"], "fitted": r["fitted"], "error": est[k]["error"], "systematic": est[k].get("systematic", 0.0),
                         "z": r["z"]} for k, r in cmp["rows"].items()},
            "kick": {k: res.report["kick"][k] for k in ("rearrangements_used", "rearrangements_seen", "repeat_fraction")},
            "warnings": res.report["warnings"],
        }
        print(route, {k: round(r["z"], 2) for k, r in cmp["rows"].items()}, flush=True)
    out_path.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    work = Path(sys.argv[1] if len(sys.argv) > 1 else "/work/data/fitscale/md_density")
    if len(sys.argv) > 2:
        j = float(sys.argv[2])
        main(work, j, OUT.with_name(f"fit_md_density_jitter{j:g}.json"))
    else:
        main(work)
