"""Why the frame route's delta is biased at gamma = 2 (docs/fit.md, "The bias against the frame interval").

Frames give a rearranging site the softness it had at the start of its interval, S(t_k); the event
route reads the softness just before its event, S(t_e-).  This script replays run files (their exact
site changes) and, for every rearranging site of the first EVENTS events and for several intervals dt,
compares the two: the fraction of rearranging sites whose softness was changed by another event's kick
inside the interval before their own event, and per softness bin the ratio of rearrangement counts
binned by S(t_k) to those binned by S(t_e-).  A ratio below 1 in the soft bins means frames put soft
sites' rearrangements at lower S: the soft end of P(R|S) is undercounted, which the fit's curvature
(delta) absorbs.  The files are those of the bias table (`/work/data/fitscale/{l12,g2}/r1.h5`).

    nice -n 10 python3 docs/results/fit_frame_assignment.py FILE [FILE ...]   # writes docs/results/fit_frame_assignment.json
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, ".")  # run from the repository root

import numpy as np  # noqa: E402

from trsp_ref.lattice import cluster_sites  # noqa: E402
from trsp_runfile import RunFile  # noqa: E402

INTERVALS = (0.01, 0.05, 0.1, 0.4)
EVENTS = 20_000
EDGES = np.arange(-1.0, 4.01, 0.5)
#: a bin's ratio is given when it holds at least this many rearrangements
MIN_COUNT = 30
OUT = Path("docs/results/fit_frame_assignment.json")


def assignments(path: str) -> tuple[dict, dict]:
    """{dt: (n, 2) array of (S(t_k), S(t_e-)) of every rearranging site}, and facts about the file."""
    run = RunFile.open(path)
    p = run.params
    sites = cluster_sites(p.lattice.dim, p.lattice.L, p.cluster.shape)
    S0 = run.state_at(0)
    # each site's recent changes (time, value after), enough to look back one interval
    hist_t: list[list[float]] = [[] for _ in range(p.N)]
    hist_v: list[list[float]] = [[] for _ in range(p.N)]
    out: dict = {dt: [] for dt in INTERVALS}
    done = 0
    for rec in run.iter_events():
        off = rec.change_offsets
        for j in range(rec.times.size):
            te = rec.times[j]
            for i in sites[rec.clusters[j]]:
                ts, vs = hist_t[i], hist_v[i]
                s_now = vs[-1] if ts else S0[i]
                for dt in INTERVALS:
                    tk = np.floor(te / dt) * dt
                    k = len(ts)
                    while k > 0 and ts[k - 1] > tk:
                        k -= 1
                    out[dt].append((vs[k - 1] if k > 0 else S0[i], s_now))
            for i, ai in zip(rec.change_sites[off[j] : off[j + 1]], rec.after[off[j] : off[j + 1]]):
                hist_t[i].append(te)
                hist_v[i].append(ai)
                if len(hist_t[i]) > 60:
                    del hist_t[i][:30], hist_v[i][:30]
            done += 1
            if done >= EVENTS:
                break
        if done >= EVENTS:
            break
    facts = {"file": path, "events": done, "gamma": p.rates.gamma, "A": p.rates.A, "delta": p.rates.delta, "dim": p.lattice.dim, "L": p.lattice.L}
    return {dt: np.array(v) for dt, v in out.items()}, facts


def main(paths: list[str]) -> None:
    t0 = time.process_time()
    result = {"bins_of_S": EDGES.tolist(), "min_count": MIN_COUNT, "files": []}
    for path in paths:
        v, facts = assignments(path)
        per = {}
        for dt, a in v.items():
            by_start, _ = np.histogram(a[:, 0], EDGES)
            by_event, _ = np.histogram(a[:, 1], EDGES)
            per[f"{dt:g}"] = {"changed_within_interval": float(np.mean(np.abs(a[:, 1] - a[:, 0]) > 1e-12)),
                              "count_ratio_start_over_event": [float(x / y) if y >= MIN_COUNT else None for x, y in zip(by_start, by_event)]}
            print(f"{path} dt {dt:g}: changed {per[f'{dt:g}']['changed_within_interval']:.3f}, ratios "
                  + " ".join("-" if r is None else f"{r:.2f}" for r in per[f"{dt:g}"]["count_ratio_start_over_event"]), flush=True)
        result["files"].append({**facts, "intervals": per})
    result["cpu_s"] = time.process_time() - t0
    OUT.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
