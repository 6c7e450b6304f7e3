"""The Kob-Andersen MD campaign behind issue 19 (and the softness training of issue 17): regenerate or resume it.

    python3 docs/results/ka_md/campaign.py            # run (or resume) every run, one at a time
    python3 docs/results/ka_md/campaign.py --status   # what is done, what is left, CPU seconds so far

Each run is ``trsp md T<T>.toml --out <root>/T<T>/run<r>.gsd --seed <seed>`` (``--resume`` when its
checkpoint exists), in the order of RUNS (the lowest temperature first: the softness model is
trained there).  Run it in the background with ``nice -n 10`` and one thread:

    OMP_NUM_THREADS=1 nohup nice -n 10 python3 docs/results/ka_md/campaign.py > campaign.log 2>&1 &

It can be stopped at any moment (kill, a reboot) and started again with the same command: each
run continues from its last checkpoint, bit for bit.  Trajectories go to ``--root`` (default
/work/data/md/campaign), not to git; ``campaign.json`` there records each run's CPU seconds.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
sys.path.insert(0, str(HERE.parent))
from cpu_ledger import Ledger  # noqa: E402  (docs/results' shared CPU ledger)

#: (temperature, number of independent runs); seeds are 1000 * round(100 T) + r
TEMPERATURES = [(0.55, 4), (0.60, 4), (0.65, 4), (0.70, 4)]


def runs(root: Path):
    for T, n in TEMPERATURES:
        for r in range(n):
            tag = f"T{T:.2f}"
            yield T, r, HERE / f"{tag}.toml", root / tag / f"run{r}.gsd", 1000 * round(100 * T) + r


def status(root: Path) -> list[dict]:
    sys.path.insert(0, str(REPO))
    from trsp_md.checkpoint import load_checkpoint
    from trsp_md.params import load_md_params, params_from_dict
    from trsp_md.resources import total_frames

    rows = []
    for T, r, toml, out, seed in runs(root):
        ck = out.with_name(out.name + ".checkpoint")
        row = {"T": T, "run": r, "out": str(out), "seed": seed, "state": "not started"}
        if ck.exists():
            c = load_checkpoint(ck)
            p = params_from_dict(c.params)
            # the run's length is the TOML's: a longer production_time there extends a finished
            # run (trsp md --resume), as the T = 0.55 runs were extended to 20 tau_alpha of Q
            n = total_frames(load_md_params(toml))
            blocks = round((p.protocol.melt_time + p.protocol.equilibration_time) / p.protocol.thermostat_interval)
            row.update(state="done" if c.phase == "produce" and c.frames >= n else
                       f"{c.phase}: block {c.blocks_done}/{blocks}, frame {c.frames}/{n}", frames=c.frames)
        rows.append(row)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=Path("/work/data/md/campaign"))
    ap.add_argument("--status", action="store_true")
    a = ap.parse_args()
    a.root.mkdir(parents=True, exist_ok=True)
    ledger = Ledger(a.root / "campaign.json")
    if a.status:
        for row in status(a.root):
            print(f"T = {row['T']:.2f} run {row['run']}: {row['state']} (CPU of finished invocations {ledger.cpu(row['out']):.0f} s)")
        print(f"total CPU so far: {ledger.total():.0f} s")
        return 0
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    for row, (T, r, toml, out, seed) in zip(status(a.root), runs(a.root)):
        if row["state"] == "done":
            continue
        out.parent.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "trsp_cli.main", "md", str(toml), "--out", str(out), "--no-progress"]
        cmd += ["--resume"] if row["state"] != "not started" else ["--seed", str(seed)]
        print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} start T = {T:.2f} run {r}: {' '.join(cmd[2:])}", flush=True)
        rc, cpu = ledger.run(str(out), cmd, env=env, cwd=REPO, T=T, run=r, seed=seed)
        print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} end T = {T:.2f} run {r}: exit {rc}, CPU {cpu:.0f} s", flush=True)
        if rc != 0:
            return rc
    return 0


if __name__ == "__main__":
    sys.exit(main())
