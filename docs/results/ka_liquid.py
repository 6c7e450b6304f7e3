"""Issue 19 end to end: a TRSP model measured from the Kob-Andersen liquid, and its dynamics against the liquid's.

    python3 docs/results/ka_liquid.py --status            # what is done, CPU seconds per stage
    python3 docs/results/ka_liquid.py                     # run (or resume) every stage not yet done, in order
    python3 docs/results/ka_liquid.py --only compare plot # the comparison from the committed summaries (seconds)
    python3 docs/results/ka_liquid.py --redo fit          # force a stage (and nothing else) to run again

Stages (docs/liquid.md), each a ``trsp`` command (or a few) whose outputs say whether it is done:

  md          the MD campaign itself (docs/results/ka_md/campaign.py, the md stream's; checked, not run here)
  md_summary  trsp liquid summarize: the liquid's Q, chi_4, tau_alpha, chi_4*, g_AA -> docs/results/ka_liquid_md.h5
  train       trsp softness train on the lowest temperature's runs -> WORK/softness_T0.55.h5
  cut         the first FIT_FRAMES frames of every run (GSD copies; the fit's frames, see docs/liquid.md)
  apply       trsp softness apply to every cut run -> WORK/particles/T<T>_run<r>.h5 (one per run, resumable)
  fit         trsp fit over all temperatures -> WORK/fit/ka_fit.toml (+ .json report, plots)
  preset      examples/ka_measured.toml (the fit + the lattice: L = 20, spacing = g_AA's first peak; repaired
              where the fitted set is not a valid model: repair_validity) and docs/results/ka_measured_fit.json
              (the fit report), docs/results/ka_measured_repair.json (what the repair changed)
  sweep_L9 / sweep_L20
              trsp sweep of the preset on the matched lattice / the paper's L = 20 -> WORK/*.h5, then
              trsp summarize -> docs/results/ka_measured_L9.h5, ka_measured_L20.h5
  sweep_fast_L9
              the variant (docs/liquid.md "The variants"): the rate x 4.68 through rates.duration, L = 9, of the
              one-temperature set fitted at T = 0.55 in session 3 (docs/results/ka_measured_T055.toml, kept for them)
              -> docs/results/ka_measured_fast_L9.h5
  sweep_fast_site_L9
              the second variant: the same with single-site clusters (m = 1) -> docs/results/ka_measured_fast_site_L9.h5
  verify      trsp simulate (4 replicas) + trsp verify of the preset -> WORK/verify/verify.json,
              docs/results/ka_measured_verify.json
  compare     trsp liquid compare -> docs/results/ka_liquid_verdict.json, .md
  plot        trsp plot docs/results --outdir docs/figures

Run it in the background, one process at a time, niced:

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 nohup nice -n 10 python3 docs/results/ka_liquid.py > ka_liquid.log 2>&1 &

Every stage can be interrupted and the script started again: finished stages are skipped, the
per-run steps (apply) resume run by run, the sweeps with ``--resume``.  ``WORK/pipeline.json``
records the CPU seconds of every stage (children's user + system time).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from cpu_ledger import Ledger  # noqa: E402  (docs/results' shared CPU ledger)

REPO = HERE.parents[1]
CAMPAIGN = Path(os.environ.get("TRSP_MD_CAMPAIGN", "/work/data/md/campaign"))
WORK = Path(os.environ.get("TRSP_LIQUID_WORK", "/work/data/liquid"))
#: the runs the liquid's side (md_summary) uses, per temperature.  The campaign plans 4 runs at each of
#: 0.55, 0.60, 0.65, 0.70 (docs/md.md); these are the runs that had finished when the analysis ran
#: (docs/liquid.md "The data").  Add a run here when it finishes and rerun: the stages whose inputs
#: changed run again (``inputs``), the others are kept.
RUNS_USED = {0.55: (0, 1, 2), 0.60: (0, 1), 0.65: (0, 1), 0.70: (0, 1)}
#: the runs the softness is applied to and the model fitted on (a subset of RUNS_USED: a run landing late
#: can join the liquid's side without a refit, whose consequences -- preset, sweeps, verify -- cost more)
FIT_RUNS = {0.55: (0, 1, 2), 0.60: (0, 1), 0.65: (0, 1), 0.70: (0, 1)}
TEMPERATURES = tuple(sorted(RUNS_USED))
TRAIN_T = 0.55
#: the runs at TRAIN_T the softness is trained on (run 2 stays unseen by the classifier)
TRAIN_RUNS = (0, 1)
#: frames of each run the softness is applied to (the fit's data; docs/liquid.md "Limits")
FIT_FRAMES = 150
#: structure-function cut-off (sigma_AA): 2.5 instead of the paper's 5 (166 functions instead of 266,
#: apply ~8x cheaper; the paper's set measured ~1.9 CPU s per N = 1000 frame here)
SIGMA_MAX = 2.5
RESULTS = REPO / "docs" / "results"
PRESET = REPO / "examples" / "ka_measured.toml"
SWEEPS = {"sweep_L9": REPO / "examples" / "sweeps" / "ka_measured_L9.toml",
          "sweep_L20": REPO / "examples" / "sweeps" / "ka_measured_L20.toml",
          "sweep_fast_L9": REPO / "examples" / "sweeps" / "ka_measured_fast_L9.toml",
          "sweep_fast_site_L9": REPO / "examples" / "sweeps" / "ka_measured_fast_site_L9.toml"}


def used(runs: dict | None = None) -> list[tuple[float, int]]:
    """(T, r) of RUNS_USED (or of ``runs``, e.g. FIT_RUNS)."""
    runs = RUNS_USED if runs is None else runs
    return [(T, r) for T in sorted(runs) for r in runs[T]]


def trajectories(min_runs: int = 1) -> list[Path]:
    """The used runs' trajectories, of temperatures with at least ``min_runs`` runs."""
    return [CAMPAIGN / f"T{T:.2f}" / f"run{r}.gsd" for T, r in used() if len(RUNS_USED[T]) >= min_runs]


def _runs_key(runs: dict, min_runs: int = 1) -> str:
    return "; ".join(f"T{T:.2f}: {','.join(map(str, runs[T]))}" for T in sorted(runs) if len(runs[T]) >= min_runs)


def inputs(name: str) -> str | None:
    """What a stage's outputs were made from (recorded in the ledger): a stage whose recorded inputs
    differ from these runs again, with the stages downstream of it.  None: outputs' existence decides
    (per-run files: cut, apply; the softness model: train)."""
    md, fit = f"md[{_runs_key(RUNS_USED, 2)}]", f"fit[{_runs_key(FIT_RUNS)}]"
    if name == "md_summary":
        return md
    if name in ("fit", "preset", "verify", "sweep_L9", "sweep_L20"):
        return fit
    if name in ("compare", "plot"):
        return md + " " + fit
    return None


def done_runs() -> set[tuple[float, int]]:
    """The finished MD runs (T, r), from the md stream's campaign status (its checkpoints)."""
    out = subprocess.run([sys.executable, str(REPO / "docs" / "results" / "ka_md" / "campaign.py"), "--status", "--root",
                          str(CAMPAIGN)], capture_output=True, text=True, env=_env(), cwd=REPO)
    done = set()
    for ln in out.stdout.splitlines():  # "T = 0.55 run 0: done (...)"
        if ln.startswith("T = ") and ": done" in ln:
            head = ln.split(":")[0].split()
            done.add((round(float(head[2]), 2), int(head[4])))
    return done


def campaign_done() -> bool:
    return done_runs() >= set(used())


def _env() -> dict:
    return dict(os.environ, OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", PYTHONPATH=str(REPO))


def trsp(*args) -> list[str]:
    return [sys.executable, "-m", "trsp_cli.main", *map(str, args)]


def particles(T: float, r: int) -> Path:
    return WORK / "particles" / f"T{T:.2f}_run{r}.h5"


def cut_path(T: float, r: int) -> Path:
    return WORK / "cut" / f"T{T:.2f}_run{r}.gsd"


# -- stages: (outputs, commands) -------------------------------------------------------------------
def stage_md_summary():
    out = RESULTS / "ka_liquid_md.h5"
    # chi_4 is a variance over runs: a temperature with one run is left out of the MD summary
    return [out], [trsp("liquid", "summarize", *trajectories(min_runs=2), "--out", out, "--force", "--no-progress")]


def stage_train():
    out = WORK / f"softness_T{TRAIN_T:.2f}_s{SIGMA_MAX:g}.h5"
    runs = [CAMPAIGN / f"T{TRAIN_T:.2f}" / f"run{r}.gsd" for r in TRAIN_RUNS]
    return [out], [trsp("softness", "train", *runs, "--sigma-max", SIGMA_MAX, "--out", out, "--force", "--no-progress")]


def stage_cut():
    """Per finished run (the stage can run while the campaign still goes: it does what is ready)."""
    ready = done_runs()
    outs = [cut_path(T, r) for T, r in used(FIT_RUNS)]
    cmds = [[sys.executable, __file__, "--cut", str(CAMPAIGN / f"T{T:.2f}" / f"run{r}.gsd"), str(cut_path(T, r)), str(FIT_FRAMES)]
            for T, r in used(FIT_RUNS) if (T, r) in ready and not cut_path(T, r).exists()]
    return outs, cmds


def stage_apply():
    model = stage_train()[0][0]
    outs = [particles(T, r) for T, r in used(FIT_RUNS)]
    cmds = [trsp("softness", "apply", model, cut_path(T, r), "--out", particles(T, r), "--no-progress")
            for T, r in used(FIT_RUNS) if cut_path(T, r).exists() and not particles(T, r).exists()]
    return outs, cmds


def stage_fit():
    out = WORK / "fit" / "ka_fit.toml"
    files = [particles(T, r) for T, r in used(FIT_RUNS)]
    # the large particles (the softness is trained on them; Sec. V)
    return [out], [trsp("fit", *files, "--types", "A", "--cluster-shape", "plaquette", "--out", out, "--force", "--no-progress")]


def stage_preset():
    return [PRESET, RESULTS / "ka_measured_fit.json"], [[sys.executable, __file__, "--write-preset"]]


def _sweep(name: str):
    toml = SWEEPS[name]
    stem = toml.stem
    full, summary = WORK / f"{stem}.h5", RESULTS / f"{stem}.h5"
    resume = ["--resume"] if Path(str(full) + ".members").exists() else []
    cmds = [] if full.exists() else [trsp("sweep", toml, "--out", full, "--workers", "1", "--no-progress", *resume)]
    return [summary], cmds + [trsp("summarize", full, "-o", summary, "--force")]


#: events per replica of the verify runs (4 replicas at L = 9): sized to this session's CPU; the
#: battery's default is 50 000 (docs/verification.md)
VERIFY_EVENTS = 5000


def stage_verify():
    folder = WORK / "verify"
    runs = [folder / f"run_{k}.h5" for k in range(4)]
    cmds = [trsp("simulate", folder / "ka_measured_T0.55.toml", "--out", p, "--events", VERIFY_EVENTS, "--seed", 1900 + k, "--no-progress")
            for k, p in enumerate(runs) if not p.exists()]
    return [folder / "verify.json"], ([[sys.executable, __file__, "--verify-params"]] + cmds
                                      + [[sys.executable, __file__, "--verify", *map(str, runs)]])


def summaries() -> list[Path]:
    """The TRSP summaries that exist (a sweep not run, e.g. L = 20 when the CPU ran out, is left out)."""
    return [RESULTS / f"{t.stem}.h5" for t in SWEEPS.values() if (RESULTS / f"{t.stem}.h5").exists()]


def discard_intermediates(name: str) -> None:
    """Remove what a stage made from other inputs and would otherwise resume from (a sweep's members,
    the verify runs); the stage's outputs proper are replaced (--force) when it runs."""
    import shutil

    if name in SWEEPS:
        full = WORK / f"{SWEEPS[name].stem}.h5"
        full.unlink(missing_ok=True)
        shutil.rmtree(str(full) + ".members", ignore_errors=True)
    elif name == "verify":
        for p in (WORK / "verify").glob("run_*.h5"):
            p.unlink()


def stage_compare():
    return [RESULTS / "ka_liquid_verdict.json", RESULTS / "ka_liquid_verdict.md"], [trsp(
        "liquid", "compare", RESULTS / "ka_liquid_md.h5", *summaries(),
        "--json", RESULTS / "ka_liquid_verdict.json", "--markdown", RESULTS / "ka_liquid_verdict.md", "--force")]


def stage_plot():
    return [REPO / "docs" / "figures" / "fig_liquid_vs_trsp.png"], [trsp("plot", RESULTS, "--outdir", REPO / "docs" / "figures")]


STAGES = {"md_summary": stage_md_summary, "train": stage_train, "cut": stage_cut, "apply": stage_apply, "fit": stage_fit,
          "preset": stage_preset, "sweep_L9": lambda: _sweep("sweep_L9"), "sweep_L20": lambda: _sweep("sweep_L20"),
          "verify": stage_verify, "sweep_fast_L9": lambda: _sweep("sweep_fast_L9"),
          "sweep_fast_site_L9": lambda: _sweep("sweep_fast_site_L9"), "compare": stage_compare, "plot": stage_plot}


# -- helpers run as their own processes (so the ledger counts them) ----------------------------------
def cut_frames(src: Path, dst: Path, n: int) -> None:
    """Copy the first ``n`` frames of a trsp md trajectory (every logged quantity kept) atomically."""
    import gsd.hoomd

    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".tmp")
    with gsd.hoomd.open(str(src), "r") as f, gsd.hoomd.open(str(tmp), "w") as g:
        if len(f) < n:
            raise SystemExit(f"{src} has {len(f)} frames, fewer than {n}")
        for k in range(n):
            g.append(f[k])
    os.replace(tmp, dst)


def write_preset() -> None:
    """examples/ka_measured.toml: the fitted set with the lattice of the paper's calculation (L = 20,
    spacing = g_AA's first peak, mean over the MD temperatures), repaired where it is not a valid
    model, and docs/results/ka_measured_fit.json, ka_measured_repair.json."""
    import shutil
    import tomllib

    import h5py
    import numpy as np

    from trsp_ref.params import dumps_toml, params_from_dict

    fit, out, stem = WORK / "fit" / "ka_fit.toml", PRESET, "ka_measured"
    with h5py.File(RESULTS / "ka_liquid_md.h5") as h5:
        spacing = float(np.nanmean(h5["gAA_peak"][()]))
    d = tomllib.loads(fit.read_text())
    d.setdefault("lattice", {}).update(dim=3, L=20, spacing=round(spacing, 4))
    repair = repair_validity(d)
    (RESULTS / f"{stem}_repair.json").write_text(json.dumps(repair, indent=1) + "\n")
    runs = "; ".join(f"T = {T:g}: runs {', '.join(map(str, FIT_RUNS[T]))}" for T in sorted(FIT_RUNS))
    head = (f"# {stem}: a TRSP model MEASURED from Kob-Andersen MD (issue 19; docs/liquid.md).\n"
            f"# Made by docs/results/ka_liquid.py: trsp md campaign (N = 1000; {runs}; first {FIT_FRAMES} frames each) ->\n"
            f"# trsp softness train (T = {TRAIN_T:g}, --sigma-max {SIGMA_MAX:g}) / apply -> trsp fit --types A (report:\n"
            f"# docs/results/{stem}_fit.json).\n"
            f"# [lattice] set here: L = 20 (the paper's), spacing = g_AA's first peak {spacing:.4f} (docs/results/ka_liquid_md.h5).\n")
    for step in repair["steps"]:
        head += f"# REPAIRED (docs/liquid.md, docs/results/{stem}_repair.json): {step}\n"
    if "temperature" not in d:
        head += (f"# ONE TEMPERATURE: fitted at T = {TEMPERATURES[0]:g} only, so no [temperature] section (Eqs. 27-28 need >= 3\n"
                 f"# temperatures): the rates and softness.mean are those of T = {TEMPERATURES[0]:g}; do not use it at another T.\n")
    out.write_text(head + dumps_toml(params_from_dict(d)))
    shutil.copyfile(fit.with_suffix(".json"), RESULTS / f"{stem}_fit.json")


#: the repair's margins (docs/liquid.md "The measured model is not valid as fitted"): K's smallest
#: eigenvalue at least K_FLOOR x variance on the lattices used (L = 9, 20, and 8 where the test suite
#: builds the examples); lam_max (K_Delta K'^-1,
#: Eq. 19 needs < 1) at most LAM_TARGET
K_FLOOR = 0.02
LAM_TARGET = 0.95


def smallest_eigenvalue(spacing: float, L: int, diag: float, amp: float, length: float) -> float:
    """The smallest eigenvalue of the periodic L^3 lattice matrix with ``diag`` at r = 0 and
    amp exp(-r/length) beyond: K of Eq. 29 (variance, C1, xi), rho of Eq. 30 (1, rho1, xi_rho)
    (trsp_fit.validity, the fit's own check, FFT of the circulant's first row)."""
    from trsp_fit.validity import circulant_eigenvalues

    return float(circulant_eigenvalues(3, L, spacing, diag, amp, length).min())


def lower_to_floor(d: dict, section: str, diag: float, amp_key: str, length_key: str, lattices, steps: list) -> float:
    """Lower d[section][amp_key] (bisection) until the matrix's smallest eigenvalue is K_FLOOR x diag on
    every lattice; returns the fitted smallest eigenvalue (a step is recorded when it changed)."""
    sec, a = d[section], d["lattice"]["spacing"]

    def lowest():
        return min(smallest_eigenvalue(a, L, diag, sec[amp_key], sec[length_key]) for L in lattices)

    fitted = lowest()
    if fitted >= K_FLOOR * diag:
        return fitted
    amp, lo, hi = sec[amp_key], 0.0, sec[amp_key]
    for _ in range(60):
        sec[amp_key] = mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if lowest() >= K_FLOOR * diag else (lo, mid)
    sec[amp_key] = lo
    steps.append(f"{section}.{amp_key} {amp:.4g} -> {lo:.4g}: the matrix was indefinite on the lattice (smallest eigenvalue "
                 f"{fitted:.3g}); now {K_FLOOR:g} x its diagonal {diag:.4g}")
    return fitted


def repair_validity(d: dict, lattices=(8, 9, 20)) -> dict:
    """Make the fitted set a valid TRSP model on the lattices it is run on, changing as little as
    possible, in place; returns what was changed and why.  1. K (Eq. 29) and the kick's correlation
    rho (Eq. 30) positive definite: C1 and rho1 lowered (bisection) until the smallest eigenvalue is
    K_FLOOR x the diagonal on every lattice (correlations of the liquid measured in continuous space
    do not carry over to the lattice's neighbour shells).
    2. Detailed balance (Eq. 19): sigma0 and sigma1 scaled by one factor until lam_max <= LAM_TARGET
    (K_Delta scales with their square; lam_max measured by ka_measured_checks.check at L = 9)."""
    from ka_measured_checks import check

    out = {"fitted": {"softness": dict(d["softness"]), "kick": dict(d["kick"])}, "steps": [], "K_floor": K_FLOOR,
           "lam_target": LAM_TARGET, "lattices": list(lattices), "spacing": d["lattice"]["spacing"]}
    out["fitted_smallest_K_eigenvalue"] = lower_to_floor(d, "softness", d["softness"]["variance"], "C1", "xi", lattices, out["steps"])
    out["fitted_smallest_rho_eigenvalue"] = lower_to_floor(d, "kick", 1.0, "rho1", "xi_rho", lattices, out["steps"])
    # a set with [temperature] is run at every MD temperature: the bound must hold at each (the worst decides)
    temps = TEMPERATURES if "temperature" in d else TEMPERATURES[:1]

    def worst() -> dict:
        rows = [check(d, T) for T in temps]
        bad = [r for r in rows if r.get("lam_max") is None]  # invalid for another reason than the kick's bound
        return bad[0] if bad else max(rows, key=lambda r: r["lam_max"])

    row = worst()
    out["fitted_lam_max"] = row.get("lam_max")
    for _ in range(4):
        if row.get("lam_max") is None or row["lam_max"] <= LAM_TARGET:  # (an invalid set without it: stop below)
            break
        f = math.sqrt(LAM_TARGET / row["lam_max"]) * 0.999
        old = (d["kick"]["sigma0"], d["kick"]["sigma1"])
        d["kick"]["sigma0"], d["kick"]["sigma1"] = old[0] * f, old[1] * f
        out["steps"].append(f"kick.sigma0, sigma1 {old[0]:.4g}, {old[1]:.4g} -> {old[0] * f:.4g}, {old[1] * f:.4g}: lam_max "
                            f"(K_Delta K'^-1, Eq. 19 needs < 1) was {row['lam_max']:.3g} at T = {row['T']:g}")
        row = worst()
    out["final"] = {"softness": dict(d["softness"]), "kick": dict(d["kick"]), "check": row}
    if not row["valid"] or row["lam_max"] >= 1:
        raise SystemExit(f"the repaired set is still not a valid TRSP model: {row}")
    return out


def verify_params() -> None:
    """The preset at T = 0.55 on the matched lattice (L = 9), the run files trsp verify checks."""
    import tomllib

    from trsp_ref.params import dumps_toml, params_from_dict

    d = tomllib.loads(PRESET.read_text())
    if "temperature" in d:  # a one-temperature set (fit at one T) is already that temperature's
        d["temperature"]["T"] = TRAIN_T
    d["lattice"]["L"] = 9
    (WORK / "verify").mkdir(parents=True, exist_ok=True)
    (WORK / "verify" / "ka_measured_T0.55.toml").write_text(dumps_toml(params_from_dict(d)))


def verify(runs: list[str]) -> None:
    out = subprocess.run(trsp("verify", "--json", *runs), capture_output=True, text=True, env=_env(), cwd=REPO)
    (WORK / "verify" / "verify.json").write_text(out.stdout)
    (RESULTS / "ka_measured_verify.json").write_text(out.stdout)  # committed: the battery's verdict on the preset
    print(f"trsp verify exit status {out.returncode}")


# -- the driver ----------------------------------------------------------------------------------------
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--status", action="store_true")
    ap.add_argument("--only", nargs="+", choices=list(STAGES))
    ap.add_argument("--redo", nargs="+", choices=list(STAGES), default=[])
    ap.add_argument("--cut", nargs=3, metavar=("SRC", "DST", "N"))
    ap.add_argument("--write-preset", action="store_true")
    ap.add_argument("--verify-params", action="store_true")
    ap.add_argument("--verify", nargs="+")
    a = ap.parse_args()
    if a.cut:
        return cut_frames(Path(a.cut[0]), Path(a.cut[1]), int(a.cut[2])) or 0
    if a.write_preset:
        return write_preset() or 0
    if a.verify_params:
        return verify_params() or 0
    if a.verify:
        return verify(a.verify) or 0
    WORK.mkdir(parents=True, exist_ok=True)
    ledger = Ledger(WORK / "pipeline.json")

    def current(name: str, outs) -> bool:
        want = inputs(name)
        return all(Path(o).exists() for o in outs) and (want is None or ledger.entries.get(name, {}).get("inputs") == want)

    if a.status:
        print(f"md campaign: {'done' if campaign_done() else 'not finished'} ({CAMPAIGN})")
        for name, stage in STAGES.items():
            outs, _ = stage()
            state = "done" if current(name, outs) else "to do"
            print(f"{name:18s} {state:6s} CPU {ledger.cpu(name):8.0f} s  {inputs(name) or ''}")
        print(f"total CPU {ledger.total():.0f} s")
        return 0
    names = a.only or list(STAGES)
    ready = done_runs()
    all_particles = [particles(T, r) for T, r in used(FIT_RUNS)]
    requires = {  # what a stage waits for (cut and apply do what the finished runs allow)
        "md_summary": (campaign_done, "the MD campaign (python3 docs/results/ka_md/campaign.py --status)"),
        "train": (lambda: {(TRAIN_T, r) for r in TRAIN_RUNS} <= ready, f"the T = {TRAIN_T} runs {TRAIN_RUNS}"),
        "fit": (lambda: all(p.exists() for p in all_particles), "every run's particle file (stages cut, apply)"),
        "preset": (lambda: (WORK / "fit" / "ka_fit.toml").exists() and (RESULTS / "ka_liquid_md.h5").exists(),
                   "the fit and the MD summary"),
        "sweep_L9": (PRESET.exists, "examples/ka_measured.toml"), "sweep_L20": (PRESET.exists, "examples/ka_measured.toml"),
        "verify": (PRESET.exists, "examples/ka_measured.toml"),
        "sweep_fast_L9": (PRESET.exists, "examples/ka_measured.toml"),
        "sweep_fast_site_L9": (PRESET.exists, "examples/ka_measured.toml"),
        "compare": (lambda: (RESULTS / "ka_measured_L9.h5").exists() and (RESULTS / "ka_liquid_md.h5").exists(),
                    "the MD summary and the matched-lattice TRSP summary"),
    }
    waited = 0
    for name in names:
        ok, why = requires.get(name, (lambda: True, ""))
        if not ok():
            print(f"[{name}] waits for {why}", file=sys.stderr)
            waited += 1
            continue
        outs, _ = STAGES[name]()
        if current(name, outs) and name not in a.redo and not (name in ("compare", "plot") and a.only):
            continue
        want = inputs(name)
        entry = ledger.entries.setdefault(name, {"cpu_s": 0.0, "wall_s": 0.0})
        if name in a.redo or (want is not None and entry.get("inputs_started") != want):
            discard_intermediates(name)  # made from other inputs: not resumable, start afresh
        entry["inputs_started"] = want
        outs, cmds = STAGES[name]()
        if not cmds:
            continue
        for o in outs:
            Path(o).parent.mkdir(parents=True, exist_ok=True)
        rc, cpu = 0, 0.0
        for cmd in cmds:
            print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} [{name}] {' '.join(map(str, cmd[2:] if cmd[1] == '-m' else cmd[1:]))}",
                  flush=True)
            rc, c = ledger.run(name, cmd, env=_env(), cwd=REPO)
            cpu += c
            if rc != 0:
                break
        if rc == 0:
            entry["inputs"] = want
            ledger.save()
        print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} [{name}] exit {rc}, CPU {cpu:.0f} s", flush=True)
        if rc != 0:
            return rc
    return 1 if waited else 0


if __name__ == "__main__":
    sys.exit(main())
