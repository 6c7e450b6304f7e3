"""Print the mutant kill table: for each mutant, the smallest run that the battery rejects.

    python3 tests/mutants/kill_table.py [--replicas 4] [--seeds 3] [--max-events 160000] [--only NAME ...]
    python3 tests/mutants/kill_table.py --matrix [--events 20000]
    python3 tests/mutants/kill_table.py --compare-targeted --only NAME ... [--seeds 5]

For each mutant of :data:`mutants.simulator.MUTATIONS` (and the correct simulator, which
must never be rejected), runs of ``replicas`` replicas with ``events`` events each are
simulated for events = 250, 500, 1000, ... (doubling, then the default 20000 and beyond)
and verified; the reported size is the smallest at which *every* one of ``seeds`` seeds is
rejected (exit status 1, or 2 when the mutant's run blows up before it holds enough
events).  The checks that fail for every seed at that size are listed.

``--compare-targeted`` measures from the same runs the kill size of the battery with and
without the targeted rows (trsp_verify.targeted; without them = Holm's procedure over the
other rows only, i.e. the battery before issue 13), scanning sizes until both kill or
``--max-events``.

``--matrix`` prints instead, for one run size (default 4 x 20 000 events, seed 100), which
mutants each check rejects on its own (its row fails after Holm's correction): every check
of the battery has mutants it catches.  docs/verification.md holds both outputs.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ (for `mutants`)
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository (trsp_verify)

from mutants.simulator import MUTATIONS, mutant_params, write_replicas  # noqa: E402

from trsp_verify import VerifyInputError, load_runs, verify  # noqa: E402
from trsp_verify.checks import apply_holm  # noqa: E402
from trsp_verify.model_side import ModelSide  # noqa: E402
from trsp_verify.targeted import ROW_KEYS  # noqa: E402

SIZES = (250, 500, 1000, 2000, 5000, 10000, 20000, 40000, 80000, 160000)


def verdict(side, mutation, replicas, events, seed, folder, *, both=False):
    """(rejected, names of the failing checks); with ``both``, also the same for the battery
    without the targeted rows (Holm over the other rows of the same report)."""
    files = write_replicas(Path(folder) / f"{mutation}_{events}_{seed}", mutant_params(), mutation, replicas, events, seed)
    try:
        report = verify(load_runs(files), side=side)
    except VerifyInputError as exc:
        out = (True, [f"unusable input: {str(exc)[:60]}"])
        return (out, out) if both else out
    after = (not report.passed), [r.name for r in report.rows if r.status == "FAIL"]
    if not both:
        return after
    old = [copy.copy(r) for r in report.rows if r.name not in ROW_KEYS.values()]
    passed = apply_holm(old, report.alpha)
    return after, ((not passed), [r.name for r in old if r.status == "FAIL"])


def compare_targeted(side, names, replicas: int, seeds: int, max_events: int) -> None:
    """Kill sizes with and without the targeted rows, from the same runs."""
    print(f"| mutant | killed without the targeted rows (before) | killed with them (after) | checks failing for every "
          f"seed at the 'after' size |")
    print("|---|---|---|---|")
    t0 = time.time()
    with tempfile.TemporaryDirectory() as folder:
        for name in names:
            found = {"before": None, "after": None}
            checks = []
            for n in (s for s in SIZES if s <= max_events):
                res = [verdict(side, name, replicas, n, 100 + s, folder, both=True) for s in range(seeds)]
                for key, i in (("after", 0), ("before", 1)):
                    if found[key] is None and all(r[i][0] for r in res):
                        found[key] = n
                        if key == "after":
                            checks = sorted(set.intersection(*(set(r[0][1]) for r in res)))
                if None not in found.values():
                    break
            size = {k: (str(v) if v is not None else f"> {max_events}") for k, v in found.items()}
            print(f"| `{name}` | {size['before']} | {size['after']} | {', '.join(checks)} |", flush=True)
    print(f"\n({seeds} seeds per size, {replicas} replicas, 2D L = 5 plaquettes; {time.time() - t0:.0f} s)")


def matrix(side, replicas: int, events: int, seed: int = 100) -> None:
    """For each check, the mutants whose run makes that check's row fail."""
    caught: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory() as folder:
        for name in MUTATIONS:
            _, failing = verdict(side, name, replicas, events, seed, folder)
            for check in failing:
                caught.setdefault(check, []).append(f"`{name}`")
    print(f"| check | mutants it rejects on its own ({replicas} x {events} events, seed {seed}) |")
    print("|---|---|")
    for check in sorted(caught):
        print(f"| {check} | {', '.join(caught[check])} |")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--replicas", type=int, default=4)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--max-events", type=int, default=160000)
    ap.add_argument("--only", nargs="*", default=None)
    ap.add_argument("--matrix", action="store_true")
    ap.add_argument("--events", type=int, default=20000)
    ap.add_argument("--compare-targeted", action="store_true")
    a = ap.parse_args(argv)
    side = ModelSide(mutant_params())
    if a.compare_targeted:
        compare_targeted(side, a.only or list(MUTATIONS), a.replicas, a.seeds, a.max_events)
        return 0
    if a.matrix:
        matrix(side, a.replicas, a.events)
        return 0
    names = a.only or (["none"] + list(MUTATIONS))
    print(f"| mutant | what is wrong | smallest killing run (events per replica x {a.replicas}) | checks failing for every seed at that size |")
    print("|---|---|---|---|")
    t0 = time.time()
    with tempfile.TemporaryDirectory() as folder:
        for name in names:
            mutation = None if name == "none" else name
            found, checks = None, []
            for n in (s for s in SIZES if s <= a.max_events):
                results = [verdict(side, mutation, a.replicas, n, 100 + s, folder) for s in range(a.seeds)]
                if mutation is None:
                    if any(r for r, _ in results):
                        found, checks = n, results[[r for r, _ in results].index(True)][1]
                        break
                    continue
                if all(r for r, _ in results):
                    found = n
                    checks = sorted(set.intersection(*(set(cs) for _, cs in results)))
                    break
            what = "the correct simulator (must never be rejected)" if mutation is None else MUTATIONS[name]
            if mutation is None:
                size = "never rejected" if found is None else f"FALSE ALARM at {found}"
            else:
                size = f"{found}" if found is not None else f"> {a.max_events} (NOT KILLED)"
            print(f"| `{name}` | {what} | {size} | {', '.join(checks)} |", flush=True)
    print(f"\n({a.seeds} seeds per size, {a.replicas} replicas, parameters: 2D L = 5 plaquettes, otherwise the built-in "
          f"example; {time.time() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
