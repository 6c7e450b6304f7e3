"""The engine choice of trsp md, measured: LAMMPS vs OpenMM on the same Kob-Andersen system.

    OMP_NUM_THREADS=1 python3 benchmarks/md_engine_choice.py [--threads 1] [--n 1000]

Same system in both (N = 1000, 80:20, density 1.2, cut and shifted at 2.5 sigma_ab, one melted
configuration at T ~ 1, velocity Verlet at dt = 0.005), steps per CPU second of this process
(time.process_time(): on a shared machine wall time counts the other jobs too).  Also timed:
each engine's plain single-species LJ (its floor).  OpenMM (CPU platform) can only take the KA
pair table (not Lorentz-Berthelot) as a CustomNonbondedForce; LAMMPS' lj/cut takes per-pair
coefficients natively.  OpenMM is in the md extra for this measurement alone (trsp md runs on
LAMMPS), so that the choice can be re-measured; without it only LAMMPS is measured.  Results: docs/md.md, "Engine choice".
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trsp_md import model  # noqa: E402
from trsp_md.engine import Engine  # noqa: E402
from trsp_md.initial import lattice_start, maxwell_boltzmann  # noqa: E402
from trsp_md.params import params_from_dict  # noqa: E402


def melted(N: int, seed: int = 1):
    p = params_from_dict({"system": {"n_particles": N}})
    rng = np.random.default_rng(seed)
    st = lattice_start(p, rng)
    with Engine(st, 0.005) as e:
        for _ in range(10):
            e.set_velocities(maxwell_boltzmann(rng, N, 2.0))
            e.run(200)
        e.set_velocities(maxwell_boltzmann(rng, N, 1.0, exact=True))
        e.run(200)
        return e.state()


def rate(step, n0: int = 20, min_cpu: float = 2.0) -> float:
    step(5)
    n = n0
    while True:
        t0 = time.process_time()
        step(n)
        cpu = time.process_time() - t0
        if cpu >= min_cpu:
            return n / cpu
        n *= 4


def lammps_rates(st) -> dict:
    out = {}
    for name, single in (("ka", False), ("plain_lj", True)):
        s = type(st)(st.x.copy(), st.image.copy(), st.v.copy(), st.typeid.copy() * (0 if single else 1), st.L, 0)
        with Engine(s, 0.005) as e:
            out[name] = rate(e.run)
    return out


def openmm_rates(st, threads: int) -> dict | None:
    try:
        import openmm as mm
    except ImportError:
        return None
    N = st.typeid.shape[0]
    L = st.L
    c = 4.0 * (model.CUTOFF_FACTOR**-12 - model.CUTOFF_FACTOR**-6)

    def system(force):
        s = mm.System()
        s.setDefaultPeriodicBoxVectors(mm.Vec3(L, 0, 0), mm.Vec3(0, L, 0), mm.Vec3(0, 0, L))
        for _ in range(N):
            s.addParticle(1.0)
        s.addForce(force)
        return s

    # KA: eps, sigma as functions of the two species (t in {0, 1}); the shift is c * eps (r_c = 2.5 sigma_ab)
    f = mm.CustomNonbondedForce(
        f"step(2.5*s-r)*(4*e*((s/r)^12-(s/r)^6)-e*{c!r}); e=eps(t1,t2); s=sig(t1,t2)")
    f.addTabulatedFunction("eps", mm.Discrete2DFunction(2, 2, list(model.EPSILON.T.ravel())))
    f.addTabulatedFunction("sig", mm.Discrete2DFunction(2, 2, list(model.SIGMA.T.ravel())))
    f.addPerParticleParameter("t")
    for t in st.typeid:
        f.addParticle([float(t)])
    f.setNonbondedMethod(f.CutoffPeriodic)
    f.setCutoffDistance(2.5)
    # the same table without lookups: eps and sigma as polynomials in t1, t2 (OpenMM's fastest custom form found)
    fp = mm.CustomNonbondedForce(
        f"step(2.5*s-r)*(4*e*((s/r)^12-(s/r)^6)-e*{c!r}); "
        "e=1+0.5*(t1+t2)-1.5*t1*t2; s=1-0.2*(t1+t2)+0.28*t1*t2")
    fp.addPerParticleParameter("t")
    for t in st.typeid:
        fp.addParticle([float(t)])
    fp.setNonbondedMethod(fp.CutoffPeriodic)
    fp.setCutoffDistance(2.5)
    plain = mm.NonbondedForce()
    for _ in range(N):
        plain.addParticle(0.0, 1.0, 1.0)
    plain.setNonbondedMethod(plain.CutoffPeriodic)
    plain.setCutoffDistance(2.5)
    plain.setUseDispersionCorrection(False)
    out = {}
    for name, force in (("ka_custom_nonbonded_tables", f), ("ka_custom_nonbonded_polynomial", fp), ("plain_lj_nonbonded", plain)):
        integ = mm.VerletIntegrator(0.005)
        ctx = mm.Context(system(force), integ, mm.Platform.getPlatformByName("CPU"), {"Threads": str(threads)})
        ctx.setPositions(st.x)
        ctx.setVelocities(st.v)
        out[name] = rate(integ.step)
    out["version"] = mm.__version__
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    st = melted(a.n)
    res = {"N": a.n, "threads": a.threads, "lammps_steps_per_cpu_s": lammps_rates(st),
           "openmm_steps_per_cpu_s": openmm_rates(st, a.threads)}
    try:
        res["load_average"] = open("/proc/loadavg").read().split()[:3]
    except OSError:
        pass
    print(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
