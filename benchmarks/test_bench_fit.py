"""pytest-benchmark benchmarks of ``trsp fit`` at scale (run: ``python3 -m pytest benchmarks --benchmark-only``).

Speed is measured here, never asserted in tests/ (house rule 5).  Issue 18's target: the fit of run
files takes within 2x the time of reading them once (``RunFile.iter_events``, which checks and
replays every event), with memory bounded by a chunk, not the run.  Both are measured in the same
run, on the same files: 3D L = 12 plaquettes (the 3d_plaquette coverage set), 2 run files.

The paper-scale measurement (4 x 10^6 events at 3D L = 20: memory, CPU time, the ratio) is a
whole-command run documented with its command in docs/fit.md ("Scale").
"""

from __future__ import annotations

import resource
import time

import numpy as np
import pytest

from trsp_fit.pipeline import FitOptions, collect, estimate
from trsp_fit.roundtrip import simulate_set
from trsp_runfile import RunFile


@pytest.mark.benchmark(group="fit")
def test_fit_against_reading_the_files(benchmark, tmp_path):
    files = simulate_set("3d_plaquette", tmp_path, L=12, dim=3, replicas=2, events=10000, seed=3)
    collect(files[:1], FitOptions(bootstrap=20))  # compile the kernel outside the timing
    out = {}

    def run():
        t = time.process_time()
        n = sum(len(rec) for f in files for rec in RunFile.open(f).iter_events())
        out["read"] = time.process_time() - t
        t = time.process_time()
        opts = FitOptions(bootstrap=50)
        col = collect(files, opts)
        out["collect"] = time.process_time() - t
        res = estimate(col, opts)
        out["total"] = time.process_time() - t
        out["events"] = n
        return res

    res = benchmark.pedantic(run, rounds=1, iterations=1)
    assert np.isfinite(res.report["estimates"]["sigma0"]["value"])
    benchmark.extra_info.update({k: float(v) for k, v in out.items()})
    benchmark.extra_info["ratio_fit_over_read"] = out["total"] / out["read"]
    benchmark.extra_info["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
    print(f"\nread {out['read']:.2f} CPU s, collect {out['collect']:.2f}, fit {out['total']:.2f} ({out['events']} events): "
          f"ratio {out['total'] / out['read']:.2f}")
