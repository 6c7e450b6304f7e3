"""The kill table at the paper's scale: truncated implementations on 3D L = 20 plaquettes.

    python3 tests/mutants/kill_table_large.py [--events 20000] [--replicas 4] [--seed 100] [--only NAME ...]

Each mutation of :data:`mutants.simulator.LOCAL_MUTATIONS` (and the correct truncated
implementation, which must pass) is rebuilt as a truncated implementation
(:class:`mutants.simulator.LocalTRSP`: a kick window and a cut precision, RADII, declared in
the run files' /truncation), simulated on 3D L = 20 (N = 8000) and verified with
``trsp verify`` (2 worker processes).  One process per mutant (``--only NAME``) runs the
table in parallel.  Prints one row per mutant: rejected
or not, the failing checks (stable keys), and the CPU seconds of simulation and verification.
docs/verification.md ("Verifying an L = 20 implementation") holds the output.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ (for `mutants`)
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository

from mutants.simulator import LOCAL_MUTATIONS, large_params, write_local_replicas  # noqa: E402

from trsp_verify import VerifyInputError, load_runs, verify  # noqa: E402

#: the radii trsp_fast chose at tolerance 1e-4 for the built-in example under the plain cut of the
#: precision (LocalTRSP's scheme; trsp_fast's row_sum scheme now needs precision_radius 11.27 there)
RADII = (3.8708286933869704, 5.567039912272021)


def _cpu() -> float:
    ru, rc = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime + rc.ru_utime + rc.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=20000)
    ap.add_argument("--replicas", type=int, default=4)
    ap.add_argument("--seed", type=int, default=100)
    ap.add_argument("--L", type=int, default=20)
    ap.add_argument("--only", nargs="*", default=None)
    a = ap.parse_args()
    names = [None, *LOCAL_MUTATIONS] if a.only is None else [None if n == "none" else n for n in a.only]
    p = large_params(a.L)
    print(f"| mutant | {a.replicas} x {a.events} events, 3D L = {a.L} | failing checks | CPU s (simulate, verify) |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        for name in names:
            c0 = _cpu()
            files = write_local_replicas(Path(folder) / str(name), p, RADII, name, a.replicas, a.events, a.seed)
            c1 = _cpu()
            try:
                report = verify(load_runs(files), workers=2)
                verdict = "rejected" if not report.passed else "passed"
                failing = ", ".join(f"`{r.key}`" for r in report.rows if r.status == "FAIL")
            except VerifyInputError as exc:
                verdict, failing = "rejected (unusable)", str(exc)[:60]
            c2 = _cpu()
            print(f"| `{name or 'none'}` | {verdict} | {failing} | {c1 - c0:.0f}, {c2 - c1:.0f} |", flush=True)
            for f in files:
                f.unlink()


if __name__ == "__main__":
    main()
