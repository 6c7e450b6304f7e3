"""Validation of ``trsp md`` against Kob & Andersen 1995: D_A(T), tau_alpha from F_s(q = 7.25, t), g_AA's first peak.

    python3 docs/results/ka_md_validation.py                 # run what is missing (resumable), analyse, compare, write the JSON
    python3 docs/results/ka_md_validation.py --analyse-only  # only analyse the trajectories there are, and compare

Runs ``trsp md`` (N = 1000, KA 80:20, density 1.2) at T = 1.0, 0.8, 0.6, three independent runs
(seeds) per temperature, into ``--data`` (default /work/data/kaval/ka_validation; nice -n 10, one
thread, one run at a time, seed by seed so that a partial campaign already has every T), then
writes docs/results/ka_md_validation.json:

- per run: D_A (MSD = 6 D t fitted for t >= 3 tau_alpha), tau_alpha (F_s of the A particles at
  q = 7.25 crossing 1/e, interpolated linearly in log t), the same tau_alpha read from the frames
  one tau apart only (the resolution of the first version of this validation), the first peak of
  g_AA (position, height), the mean kinetic temperature of the NVE production, CPU seconds;
- per temperature: the mean over runs and its standard error (standard deviation / sqrt(runs));
- the comparison with the published values listed in docs/results/ka_md_published.toml (each with
  its source, location and quoted passage): published value in LJ units, ratio ours / published,
  verdict within 10 % or not. Where that file lists no value, the quantity is "not assessed".

Every quantity comes from trsp_md.analysis (the same code issue 19 uses). The frame interval is
0.1 tau at T >= 0.8 (tau_alpha ~ 1-3 tau there: frames 1 tau apart put only one or two points
before F_s reaches 1/e) and 0.5 tau at T = 0.6. The first seed of each T starts production from
the very state of the first version's run (frames do not touch the random stream); its production
then departs from that run by round-off grown chaotically (LAMMPS is stepped in other segments), so
it is an equivalent, not an identical, trajectory.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))

#: T: (equilibration_time, production_time, frame_interval)
RUNS = {1.0: (50.0, 100.0, 0.1), 0.8: (100.0, 150.0, 0.1), 0.6: (150.0, 200.0, 0.5)}
#: independent runs per temperature; the first seed of each T is the one of the first version (1 tau frames)
SEEDS = {1.0: (101, 102, 103), 0.8: (81, 82, 83), 0.6: (61, 62, 63)}
QUANTITIES = ("D_A", "tau_alpha_Fs_q7.25", "g_AA_first_peak_r", "g_AA_first_peak_height")
#: how a quantity's value converts from a paper's time unit u (in LJ tau) to LJ units: multiply by u**power
TIME_POWER = {"D_A": -1, "tau_alpha_Fs_q7.25": 1, "g_AA_first_peak_r": 0, "g_AA_first_peak_height": 0}
TOLERANCE = 0.10


def toml_text(T: float, eq: float, prod: float, frame: float) -> str:
    return f"""[system]
n_particles = 1000
[protocol]
temperature = {T}
equilibration_time = {eq}
production_time = {prod}
frame_interval = {frame}
melt_time = 20.0
checkpoint_every = {max(1, round(20.0 / frame))}
[minimize]
# the validation uses the thermal positions only: one CG iteration keeps the inherent-state
# column (the file format has it) at almost no cost
max_iterations = 1
"""


def run_name(T: float, seed: int) -> str:
    return f"T{T:.2f}_s{seed}"


def expected_frames(T: float) -> int:
    _, prod, frame = RUNS[T]
    return round(prod / frame) + 1


def finished(path: Path, T: float) -> bool:
    """Whether ``path`` holds the whole production of a run at T (its checkpoint stays, so it can be extended)."""
    if not path.exists():
        return False
    import gsd.hoomd

    with gsd.hoomd.open(str(path)) as traj:
        return len(traj) >= expected_frames(T)


def run_missing(data: Path, cpu: dict, cpu_file: Path) -> None:
    """Run (or resume) every missing run, seed index by seed index; CPU seconds into ``cpu`` and ``cpu_file``."""
    for r in range(max(len(s) for s in SEEDS.values())):
        for T, (eq, prod, frame) in RUNS.items():
            if r >= len(SEEDS[T]):
                continue
            name = run_name(T, SEEDS[T][r])
            out, toml = data / f"{name}.gsd", data / f"{name}.toml"
            ck = out.with_name(out.name + ".checkpoint")
            if finished(out, T):
                continue
            if out.exists() and not ck.exists():
                raise SystemExit(f"{out} is incomplete and has no checkpoint: remove it to rerun")
            toml.write_text(toml_text(T, eq, prod, frame))
            cmd = [sys.executable, "-m", "trsp_cli.main", "md", str(toml), "--out", str(out), "--no-progress"]
            cmd += ["--resume"] if ck.exists() else ["--seed", str(SEEDS[T][r])]
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            rc = subprocess.call(cmd, cwd=REPO, env=dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO)))
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu[name] = cpu.get(name, 0.0) + (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            cpu_file.write_text(json.dumps(cpu, indent=1))
            if rc != 0:
                raise SystemExit(f"trsp md failed for {name} (exit {rc})")


def analyse_run(path: Path) -> dict:
    import gsd.hoomd

    from trsp_md import analysis as an

    t, X, typeid, L, _ = an.read_trajectory(path)
    XA = X[:, typeid == 0]
    dt = float(t[1] - t[0])
    lags = np.unique(np.round(np.geomspace(1, len(t) // 2, 40)).astype(int))
    fs = an.self_intermediate_scattering(XA, lags)
    tau = an.crossing_time(lags * dt, fs)
    per_tau = max(1, round(1.0 / dt))  # frames one tau apart: the first version's resolution
    coarse = np.arange(1, (len(t) // 2) // per_tau + 1) * per_tau
    tau_coarse = an.crossing_time(coarse * dt, an.self_intermediate_scattering(XA, coarse))
    msd = an.mean_squared_displacement(XA, lags)
    D = an.diffusion_constant(lags * dt, msd, t_min=3 * (tau or 1.0))
    r, g = an.radial_distribution(X[:: max(1, len(t) // 50)], typeid, L, 0, 0, 3.0, 0.01)
    r1, g1 = an.first_peak(r, g)
    with gsd.hoomd.open(str(path)) as traj:
        tkin = float(np.mean([f.log["trsp/kinetic_temperature"][0] for f in traj]))
    return {"D_A": D, "tau_alpha_Fs_q7.25": tau, "tau_alpha_from_frames_1_tau_apart": tau_coarse,
            "g_AA_first_peak_r": r1, "g_AA_first_peak_height": g1, "mean_kinetic_temperature": tkin,
            "frames": len(t), "frame_interval": dt, "N": int(X.shape[1]),
            "Fs_at_lags": {"t": (lags * dt).round(6).tolist(), "Fs": fs.round(5).tolist()}}


def mean_and_error(values: list[float]) -> tuple[float, float | None]:
    """(mean, standard error = sample standard deviation / sqrt(n)); no error from a single value."""
    v = np.asarray(values, dtype=float)
    return float(v.mean()), (float(v.std(ddof=1) / math.sqrt(v.size)) if v.size > 1 else None)


def summarise(runs: dict[float, list[dict]]) -> list[dict]:
    rows = []
    for T, rs in runs.items():
        row = {"T": T, "runs": len(rs)}
        for q in QUANTITIES + ("tau_alpha_from_frames_1_tau_apart", "mean_kinetic_temperature"):
            vals = [x[q] for x in rs if x[q] is not None]
            if vals:
                row[q], row[q + "_stderr"] = mean_and_error(vals)
        rows.append(row)
    return rows


class PublishedError(ValueError):
    """A bad entry of the published-values file (one line naming the entry and the condition)."""


def load_published(path: Path) -> dict:
    """The published-values file: ``[[value]]`` entries (checked) and the ``[[searched]]`` log."""
    try:
        doc = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise PublishedError(f"{path}: cannot read it as TOML ({e})") from None
    values = doc.get("value", [])
    for i, v in enumerate(values):
        where = f"{path.name}: value[{i}]"
        if v.get("quantity") not in QUANTITIES:
            raise PublishedError(f"{where}.quantity must be one of {', '.join(QUANTITIES)}, got {v.get('quantity')!r}")
        for key in ("T", "value", "time_unit_in_tau"):
            x = v.get(key, 1.0 if key == "time_unit_in_tau" else None)
            if not isinstance(x, (int, float)) or isinstance(x, bool) or not math.isfinite(x) or x <= 0:
                raise PublishedError(f"{where}.{key} must be a finite number > 0, got {x!r}")
        for key in ("source", "location", "url", "passage"):
            if not isinstance(v.get(key), str) or not v[key].strip():
                raise PublishedError(f"{where}.{key} must be a non-empty string: every published number is cited")
    return {"values": values, "searched": doc.get("searched", [])}


def compare(rows: list[dict], published: list[dict]) -> list[dict]:
    """One comparison per (quantity, T) measured here: the published value in LJ units (a paper's
    time unit u, in tau, converts a value by u ** TIME_POWER), ratio ours / published, verdict."""
    by_key = {(v["quantity"], float(v["T"])): v for v in published}
    out = []
    for row in rows:
        for q in QUANTITIES:
            if q not in row:
                continue
            c = {"T": row["T"], "quantity": q, "ours": row[q], "ours_stderr": row.get(q + "_stderr")}
            v = by_key.pop((q, float(row["T"])), None)
            if v is None:
                c.update(published=None, ratio=None, verdict="not assessed: no published value retrieved")
            else:
                pub = float(v["value"]) * float(v.get("time_unit_in_tau", 1.0)) ** TIME_POWER[q]
                ratio = row[q] / pub
                ok = abs(ratio - 1.0) <= TOLERANCE
                c.update(published=pub, published_as_printed=v["value"], time_unit_in_tau=v.get("time_unit_in_tau", 1.0),
                         ratio=ratio, verdict=f"{'within' if ok else 'misses'} 10 % ({100 * (ratio - 1):+.1f} %)",
                         source=v["source"], location=v["location"], url=v["url"])
            out.append(c)
    for (q, T), v in by_key.items():
        out.append({"T": T, "quantity": q, "ours": None, "published": v["value"], "ratio": None,
                    "verdict": f"not assessed: no run at T = {T} (add it to RUNS)", "source": v["source"]})
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("/work/data/kaval/ka_validation"))
    ap.add_argument("--analyse-only", action="store_true")
    ap.add_argument("--published", type=Path, default=HERE / "ka_md_published.toml")
    ap.add_argument("--out", type=Path, default=HERE / "ka_md_validation.json")
    a = ap.parse_args()
    try:
        published = load_published(a.published)
    except PublishedError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    a.data.mkdir(parents=True, exist_ok=True)
    cpu_file = a.data / "cpu.json"
    cpu = json.loads(cpu_file.read_text()) if cpu_file.exists() else {}
    if not a.analyse_only:
        run_missing(a.data, cpu, cpu_file)
    runs: dict[float, list[dict]] = {}
    per_run = []
    for T in RUNS:
        for seed in SEEDS[T]:
            name = run_name(T, seed)
            path = a.data / f"{name}.gsd"
            if not finished(path, T):
                continue
            res = {"T": T, "seed": seed, **analyse_run(path), "cpu_s": cpu.get(name)}
            runs.setdefault(T, []).append(res)
            per_run.append(res)
    rows = summarise(runs)
    summary = {"what": "trsp md (LAMMPS) Kob-Andersen 80:20, N = 1000, density 1.2; NVE production after Andersen "
                       "equilibration; LJ units (time tau = sigma_AA sqrt(m / eps_AA))",
               "tolerance": TOLERANCE,
               "rows": rows,
               "comparison": compare(rows, published["values"]),
               "published": {"file": str(a.published.relative_to(REPO)) if a.published.is_relative_to(REPO) else str(a.published),
                             "values": len(published["values"]),
                             "searched": published["searched"]},
               "runs": per_run}
    a.out.write_text(json.dumps(summary, indent=1) + "\n")
    for row in rows:
        print(row)
    for c in summary["comparison"]:
        print(c["T"], c["quantity"], c["verdict"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
