"""The performance regression gate (issue 21): machine-independent speed figures, compared with
``benchmarks/baseline.toml``.

    python3 benchmarks/gate.py                # every figure (a few minutes); exit 1 if one regressed
    python3 benchmarks/gate.py --ci           # the CI subset (.ci/run; well under 60 s on 2 cores)
    python3 benchmarks/gate.py --update       # measure every figure and rewrite the baseline
    python3 benchmarks/gate.py --ci --slow kernel=2   # test-only: the kernel does its work twice

Every figure is a ratio of two CPU times measured in the same process, interleaved round by round
(so that both parts see the same machine load), and the median over the rounds: a speed-up over
a dense mat-vec of the same N, a ratio to the kernel's own floor, a cost ratio between lattice
sizes, or a CPU time over a fixed numpy workload.  A figure fails when it is worse than its
baseline by more than its margin (a factor, stored in the baseline with the figure): the margins
were set from the spread of repeated runs on a loaded 2-core machine (docs/fast.md, "The
regression gate"), so that the real code passes and a 2x slowdown of the kernel or of the replay
fails.  Updating the baseline (``--update``) is for an intended change of speed; the commit that
updates it says why (CONTRIBUTING.md, "Performance baseline").

``--slow kernel=F`` / ``--slow replay=F`` (test-only; they exist to show that the gate fires):
every call of trsp_fast's event kernel (``trsp_fast.kernels.run_events``) or of the replay
(``trsp_verify.replay.analyse_replica``) first repeats the same work F - 1 times on copies, so the
code runs F times slower and computes the same results.  They patch this process only; nothing
in the packages reads them.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import resource
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one core: the figures are single-threaded CPU times

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
BASELINE = HERE / "baseline.toml"
sys.path.insert(0, str(HERE))  # the helpers of the pytest-benchmark files (one implementation each)
sys.path.insert(0, str(REPO))

#: the lattice of the kernel and replay figures, and of the dense reference (N = L^3)
L_GATE = 20


@dataclass(frozen=True)
class Figure:
    """A gate figure: ``better`` is "higher" or "lower"; ``ci`` marks the CI subset."""

    better: str
    ci: bool
    what: str


FIGURES = {
    "kernel_over_dense": Figure(
        "higher", True,
        "trsp_fast events/s x the CPU time of one dense mat-vec of the same N (3D L = 20, N = 8000; default "
        "parameters, default tolerances): how many events one dense mat-vec costs",
    ),
    "kernel_floor_ratio": Figure(
        "lower", True,
        "trsp_fast's CPU time per event over its floor (its own block products and rate updates timed bare for "
        "the same fired clusters; benchmarks/test_bench_fast.py), 3D L = 20, default tolerances",
    ),
    "replay_over_dense": Figure(
        "lower", True,
        "trsp verify's replay CPU time per event of a 3D L = 20 trsp_fast run at the default tolerances (periodic "
        "model side) over one dense mat-vec of N = 8000",
    ),
    "kernel_over_dense_preset": Figure(
        "higher", False, "as kernel_over_dense, for the illustrative preset (trsp_obs.presets, L = 20, T = 0.47)",
    ),
    "kernel_over_dense_tol1e-3": Figure("higher", False, "as kernel_over_dense, at tolerance 1e-3 (the sweep examples')"),
    "L128_over_L20": Figure(
        "lower", False, "trsp_fast's CPU time per event at 3D L = 128 over L = 20 (default parameters and tolerances)",
    ),
    "verify_over_numpy": Figure(
        "lower", False,
        "CPU seconds of `trsp verify --seed 1` (the default run: 4 x 50 000 events of the built-in example, "
        "simulated and verified, every process) over the fixed numpy workload of this file (numpy_workload)",
    ),
}


# ------------------------------------------------------------------ references


class DenseReference:
    """One dense mat-vec of N x N float64 (single-threaded BLAS), the yardstick of the kernel and
    replay figures: a dense simulator's kick costs two of them per event."""

    def __init__(self, N: int):
        self.A = np.full((N, N), 1.0 / N)
        self.x = np.ones(N)
        self.A @ self.x  # first touch

    def seconds(self, repeats: int = 3) -> float:
        times = []
        for _ in range(repeats):
            t = time.process_time()
            self.A @ self.x
            times.append(time.process_time() - t)
        return float(np.median(times))


def numpy_workload() -> float:
    """CPU seconds of a fixed numpy workload (sorting, FFTs, transcendental functions, small dense
    linear algebra, fancy indexing: the operations the replay spends its time in)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(1 << 18)
    idx = rng.integers(0, x.size, x.size)
    M = rng.standard_normal((200, 200))
    t = time.process_time()
    for _ in range(4):
        np.sort(x)
        np.fft.irfft(np.fft.rfft(x))
        np.exp(x).sum()
        x[idx].sum()
        np.linalg.solve(M @ M.T + 200 * np.eye(200), M)
    return time.process_time() - t


# ------------------------------------------------------------------ measurements


def _median_ratio(num: list, den: list) -> float:
    return float(np.median(np.asarray(num) / np.asarray(den)))


def _fast_model(params, tolerance):
    from trsp_fast import FastModel
    from trsp_fast._blas import single_threaded_blas

    with single_threaded_blas():
        return FastModel(params, tolerance=tolerance)


def measure_kernel(params, tolerance, dense: DenseReference, rounds: int, events: int, floor: bool) -> dict:
    """Per round: dense mat-vec, ``events`` events, and (``floor``) the floor of the same clusters."""
    from test_bench_fast import _floor_seconds_per_event, _run_timed, _simulation

    model = _fast_model(params, tolerance)
    sim = _simulation(model, 0)
    d, e, f = [], [], []
    for _ in range(rounds):
        d.append(dense.seconds())
        per_event, clusters = _run_timed(sim, events)
        e.append(per_event)
        if floor:
            f.append(_floor_seconds_per_event(model, sim, clusters))
    out = {"over_dense": _median_ratio(d, e), "us_per_event": 1e6 * float(np.median(e)), "dense_ms": 1e3 * float(np.median(d))}
    if floor:
        out["floor_ratio"] = _median_ratio(e, f)
    return out


def measure_sizes(params_small, params_big, tolerance, rounds: int, events: int) -> float:
    from test_bench_fast import _run_timed, _simulation

    sims = [_simulation(_fast_model(p, tolerance), 1) for p in (params_small, params_big)]
    small, big = [], []
    for _ in range(rounds):
        small.append(_run_timed(sims[0], events)[0])
        big.append(_run_timed(sims[1], events)[0])
    return _median_ratio(big, small)


def measure_replay(params, dense: DenseReference, rounds: int, events: int) -> dict:
    from test_bench_verify import _per_event, held_replicas

    from trsp_verify.simulate import DEFAULT_TOLERANCE

    runs, side = held_replicas(params, 1, events, seed=5, tolerance=DEFAULT_TOLERANCE)
    d, r = [], []
    _per_event(side, runs)  # warm up (first-call costs of the side)
    for _ in range(rounds):
        d.append(dense.seconds())
        r.append(_per_event(side, runs))
    return {"over_dense": _median_ratio(r, d), "us_per_event": 1e6 * float(np.median(r))}


def measure_verify(rounds: int) -> dict:
    """`trsp verify --seed 1` in a child process (its CPU time and its workers'), between two
    runs of the numpy workload."""
    ratios, cpu = [], []
    for _ in range(rounds):
        w0 = numpy_workload()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run([sys.executable, "-m", "trsp_cli.main", "verify", "--seed", "1", "--json"], cwd=REPO,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)  # fmt: skip
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        w1 = numpy_workload()
        seconds = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        cpu.append(seconds)
        ratios.append(seconds / (0.5 * (w0 + w1)))
    return {"over_numpy": float(np.median(ratios)), "cpu_s": float(np.median(cpu))}


def measure(ci: bool, rounds: int) -> dict:
    """The figures (the CI subset when ``ci``) and the raw numbers behind them."""
    from trsp_fast.model import DEFAULT_TOLERANCE

    from trsp_obs.presets import preset_params
    from trsp_ref.params import params_from_dict

    p20 = params_from_dict({"lattice": {"dim": 3, "L": L_GATE}})
    dense = DenseReference(p20.N)
    raw: dict = {}
    k = measure_kernel(p20, DEFAULT_TOLERANCE, dense, rounds, 1000, floor=True)
    raw["kernel"] = k
    figures = {"kernel_over_dense": k["over_dense"], "kernel_floor_ratio": k["floor_ratio"]}
    rp = measure_replay(p20, dense, rounds, 300)
    raw["replay"] = rp
    figures["replay_over_dense"] = rp["over_dense"]
    if not ci:
        kp = measure_kernel(preset_params("ka_illustrative"), DEFAULT_TOLERANCE, dense, rounds, 1000, floor=False)
        k3 = measure_kernel(p20, 1e-3, dense, rounds, 3000, floor=False)
        raw.update(kernel_preset=kp, kernel_tol1e_3=k3)
        figures["kernel_over_dense_preset"] = kp["over_dense"]
        figures["kernel_over_dense_tol1e-3"] = k3["over_dense"]
        del dense  # 512 MB
        p128 = params_from_dict({"lattice": {"dim": 3, "L": 128}})
        figures["L128_over_L20"] = measure_sizes(p20, p128, DEFAULT_TOLERANCE, rounds, 1000)
        v = measure_verify(1)
        raw["verify"] = v
        figures["verify_over_numpy"] = v["over_numpy"]
    raw["load_average"] = os.getloadavg()
    return {"figures": figures, "raw": raw}


# ------------------------------------------------------------------ the test-only slowdowns


def slow_down(part: str, factor: int) -> None:
    """Make trsp_fast's event kernel (``part`` = "kernel") or the replay ("replay") do its work
    ``factor`` times per call in this process (the extra runs on copies; results unchanged)."""
    if factor < 1:
        raise ValueError("the slowdown factor must be >= 1")
    if part == "kernel":
        from trsp_fast import kernels

        real = kernels.run_events

        def slowed(S, tree, mark, clock, rng, *rest):
            for _ in range(factor - 1):
                copy = np.random.Generator(type(rng.bit_generator)())
                copy.bit_generator.state = rng.bit_generator.state
                real(S.copy(), tree.copy(), mark.copy(), clock.copy(), copy, *rest)
            return real(S, tree, mark, clock, rng, *rest)

        kernels.run_events = slowed
    elif part == "replay":
        from trsp_verify import replay

        real = replay.analyse_replica

        def slowed(*args, **kwargs):
            for _ in range(factor - 1):
                real(*args, **kwargs)
            return real(*args, **kwargs)

        replay.analyse_replica = slowed
    else:
        raise ValueError(f"unknown part {part!r}: kernel or replay")


# ------------------------------------------------------------------ baseline and comparison


def load_baseline(path: Path = BASELINE) -> dict:
    """{name: {"value", "margin", ...}} from the baseline file."""
    with open(path, "rb") as f:
        data = tomllib.load(f)
    return data.get("figures", {})


def compare(baseline: dict, fresh: dict) -> list[dict]:
    """One row per figure measured: baseline value, fresh value, the limit (baseline worsened by the
    margin) and whether the fresh value is within it."""
    rows = []
    for name, value in fresh.items():
        fig = FIGURES[name]
        base = baseline.get(name)
        if base is None:
            rows.append(dict(name=name, fresh=value, baseline=None, limit=None, ok=True, note="not in the baseline"))
            continue
        margin = float(base["margin"])
        limit = base["value"] / margin if fig.better == "higher" else base["value"] * margin
        ok = value >= limit if fig.better == "higher" else value <= limit
        rows.append(dict(name=name, fresh=value, baseline=base["value"], limit=limit, ok=bool(ok),
                         change=value / base["value"], better=fig.better))  # fmt: skip
    return rows


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(float(v)) if isinstance(v, float) else str(v)
    return json.dumps(str(v))


def write_baseline(path: Path, figures: dict, old: dict, note: str) -> None:
    """The baseline file: each figure's value (this run), its margin (kept from ``old``), its meaning."""
    from trsp_runfile.atomic import write_text_atomic

    lines = [
        "# Performance baseline of benchmarks/gate.py (issue 21): machine-independent figures (ratios of CPU",
        "# times measured in one process).  A figure fails the gate when it is worse than `value` by more",
        "# than the factor `margin` (set from the measured run-to-run spread under load: docs/fast.md,",
        "# \"The regression gate\").  Regenerate with `python3 benchmarks/gate.py --update` only for an",
        "# intended change of speed, and say why in the commit message (CONTRIBUTING.md).",
        "",
        "[meta]",
        f"updated = {_toml_value(_dt.date.today().isoformat())}",
        f"machine = {_toml_value(platform.processor() or platform.machine())}",
        f"note = {_toml_value(note)}",
    ]
    for name, fig in FIGURES.items():
        if name not in figures:
            continue
        margin = old.get(name, {}).get("margin", 1.5)
        lines += ["", f'[figures."{name}"]', f"value = {figures[name]:.6g}", f"margin = {float(margin)}",
                  f"better = {_toml_value(fig.better)}", f"ci = {_toml_value(fig.ci)}", f"what = {_toml_value(fig.what)}"]  # fmt: skip
    write_text_atomic(path, "\n".join(lines) + "\n")


def _table(rows: list[dict]) -> str:
    out = [f"{'figure':28s} {'baseline':>10s} {'fresh':>10s} {'limit':>10s}  verdict"]
    for r in rows:
        fmt = lambda v: "-" if v is None else f"{v:10.4g}"  # noqa: E731
        verdict = "ok" if r["ok"] else "REGRESSED"
        if r.get("note"):
            verdict += f" ({r['note']})"
        elif r["baseline"] is not None:
            verdict += f" ({r['change']:.2f}x the baseline; {r['better']} is better)"
        out.append(f"{r['name']:28s} {fmt(r['baseline'])} {fmt(r['fresh'])} {fmt(r['limit'])}  {verdict}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="benchmarks/gate.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("--ci", action="store_true", help="the CI subset only (kernel and replay at L = 20)")
    ap.add_argument("--rounds", type=int, default=7, help="interleaved rounds per figure (default 7)")
    ap.add_argument("--update", action="store_true", help="measure every figure --repeat times and write their medians as the baseline (keeps the margins)")
    ap.add_argument("--repeat", type=int, default=3, help="with --update: whole measurements whose median is stored (default 3)")
    ap.add_argument("--note", default="", help="with --update: why (also say it in the commit message)")
    ap.add_argument("--slow", default=None, metavar="PART=F", help="test-only: make the kernel or the replay F times slower")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures, raw numbers and verdicts here")
    ap.add_argument("--baseline", type=Path, default=BASELINE)
    args = ap.parse_args(argv)
    if args.update and (args.ci or args.slow):
        ap.error("--update measures every figure of the real code: no --ci, no --slow")
    if args.slow:
        part, _, factor = args.slow.partition("=")
        try:
            slow_down(part, int(factor))
        except ValueError as exc:
            ap.error(f"--slow: {exc}")
    if args.rounds < 1 or args.repeat < 1:
        ap.error("--rounds and --repeat must be >= 1")
    old = load_baseline(args.baseline) if args.baseline.exists() else {}
    t0, c0 = time.perf_counter(), time.process_time()
    runs = [measure(ci=args.ci, rounds=args.rounds) for _ in range(args.repeat if args.update else 1)]
    result = {"figures": {k: float(np.median([r["figures"][k] for r in runs])) for k in runs[0]["figures"]},
              "raw": runs[0]["raw"] if len(runs) == 1 else [r["raw"] for r in runs]}  # fmt: skip
    rows = compare(old, result["figures"])
    print(_table(rows))
    print(f"gate: {time.perf_counter() - t0:.1f} s wall, {time.process_time() - c0:.1f} CPU s; raw: "
          + json.dumps(result["raw"], default=float))  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps({**result, "rows": rows, "slow": args.slow}, indent=1, default=float))
    if args.update:
        write_baseline(args.baseline, result["figures"], old, args.note)
        print(f"wrote {args.baseline}")
        return 0
    if not args.baseline.exists():
        print(f"gate: no baseline at {args.baseline} (create it with --update)", file=sys.stderr)
        return 2
    bad = [r["name"] for r in rows if not r["ok"]]
    if bad:
        print(f"gate: FAIL: {', '.join(bad)} regressed beyond the margin", file=sys.stderr)
        return 1
    print("gate: pass")
    return 0


if __name__ == "__main__":
    sys.exit(main())
