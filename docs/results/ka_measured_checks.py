"""Is the measured preset a valid TRSP model?  Detailed-balance bounds of examples/ka_measured.toml (issue 19).

    python3 docs/results/ka_measured_checks.py [PARAMS.toml] [--out docs/results/ka_measured_checks.json]

At every MD temperature, on the matched lattice (3D L = 9; the kick and K' are local, so the
bound does not depend on L once the box holds the kick): trsp_ref.model.validate (K positive
definite, Appendix D's renormalization solvable, rho positive definite, finite rates, P(S |
cluster fires) normalizable, every eigenvalue of K_Delta K'^-1 below 1) and the margin:
lam_max, the largest eigenvalue of K_Delta K'^-1 for a plaquette (Eq. 19 needs < 1), and the
renormalization discriminant c^2 - 2 c (1 - c) delta sigma^2 (docs/model.md: must be > 0).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tomllib
from pathlib import Path

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # dense 729 x 729 algebra: one thread
    os.environ.setdefault(_v, "1")  # (a BLAS pool on a loaded 2-core machine is 20x slower here)
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from trsp_ref.kick import kick_covariance, largest_kick_eigenvalue  # noqa: E402
from trsp_ref.model import ReferenceModel  # noqa: E402
from trsp_ref.params import ParameterError, params_from_dict  # noqa: E402

TEMPERATURES = (0.55, 0.60, 0.65, 0.70)


#: the kick is scaled by this to measure lam_max of a set whose kick breaks the bound (the model refuses it)
PROBE = 0.25


def check(d: dict, T: float, L: int = 9) -> dict:
    d = {k: (dict(v) if isinstance(v, dict) else v) for k, v in d.items()}
    if "temperature" in d:  # else a one-temperature set: its rates are that temperature's
        d["temperature"]["T"] = T
    d["lattice"]["L"] = L
    row = {"T": T, "L": L}
    try:
        p = params_from_dict(d)
        m = ReferenceModel(p, cache_size=1)
    except ParameterError as exc:
        row.update(valid=False, error=str(exc))
        if exc.parameter == "kick":  # lam_max >= 1: measure it on a smaller kick; K_Delta, so lam_max, scale
            probe = dict(d, kick=dict(d["kick"], sigma0=d["kick"]["sigma0"] * PROBE, sigma1=d["kick"]["sigma1"] * PROBE))
            small = check(probe, T, L)  # with sigma0, sigma1 squared (Eq. 30), K' does not depend on them
            if small["valid"]:
                row["lam_max"] = small["lam_max"] / PROBE**2
        return row
    sites = m.clusters[0]
    ops = m.kick_operators(0)
    KD = kick_covariance(p, m.dist, sites, rho=m.rho)
    A0, g0, d0 = m.rates.bare
    c = float(m.K[sites][:, sites].mean() / p.softness.variance)
    row.update(valid=True, lam_max=largest_kick_eigenvalue(KD, ops.K_prime), cluster_correlation=c,
               renormalization_discriminant=c * c - 2 * c * (1 - c) * float(m.rates.observed[2]) * p.softness.variance,
               bare_A0=float(A0), bare_gamma0=float(g0), bare_delta0=float(d0), mean=float(m.mean))
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("params", nargs="?", default=str(HERE.parents[1] / "examples" / "ka_measured.toml"))
    ap.add_argument("--out", default=str(HERE / "ka_measured_checks.json"))
    ap.add_argument("--at", type=float, default=0.55, help="the temperature of a set without [temperature] (a label)")
    a = ap.parse_args()
    d = tomllib.loads(Path(a.params).read_text())
    temps = TEMPERATURES if "temperature" in d else (a.at,)
    rows = [check(d, T) for T in temps]
    doc = {"params": Path(a.params).name, "rows": rows, "all_valid": all(r["valid"] for r in rows)}
    Path(a.out).write_text(json.dumps(doc, indent=1) + "\n")
    print(json.dumps(doc, indent=1))
    return 0 if doc["all_valid"] else 1


if __name__ == "__main__":
    sys.exit(main())
