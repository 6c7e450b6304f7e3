"""Small synthetic trajectories for the softness tests and the CI end-to-end case.

:func:`hopping_system` makes particles that vibrate around fixed sites and now and then hop to a
new site (a sharp p_hop peak of height ~ hop^2); particles sitting in loose local environments
(a random subset, their sites pushed apart from their neighbours') hop more often, so the
structure functions carry a signal the SVM can learn.  ``one_per_frame`` makes exactly one hop
per frame interval (isolated rearrangements, which `trsp fit`'s kick statistics need).  :func:`write_gsd` writes it as `trsp md`
does (docs/formats-trajectory.md: HOOMD schema, ``log/trsp/time``, ``log/trsp/temperature``,
inherent positions and images), or as a plain HOOMD file (no trsp logs, time = step x dt);
:func:`write_lammps_dump` as a LAMMPS text dump.  Pure NumPy, seeded, fast.

``tiny_training_options()`` are the training options that let a tiny, short, high-temperature
run train (thresholds and windows scaled down), for the CI end-to-end case:
``trsp softness train TRAJ --out M.h5 $(tiny_training_args())``.  Checked on `trsp md`'s
embedded default (300 particles, T = 1, 41 frames): 33 + 33 training examples.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class HoppingSystem:
    box: np.ndarray  # (dim,)
    typeid: np.ndarray  # (N,)
    type_names: tuple
    time: np.ndarray  # (K,)
    thermal: np.ndarray  # (K, N, dim) unwrapped
    inherent: np.ndarray  # (K, N, dim) unwrapped (the sites)
    temperature: float
    step: np.ndarray  # (K,) MD steps
    dt: float  # MD time step (time = step x dt)


def hopping_system(n: int = 64, dim: int = 3, frames: int = 80, frame_interval: float = 1.0, density: float = 1.0,
                   hop: float = 0.9, rate_soft: float = 0.08, rate_hard: float = 0.002, soft_fraction: float = 0.3,
                   jitter: float = 0.05, temperature: float = 1.0, seed: int = 0, md_dt: float = 0.005,
                   one_per_frame: bool = False) -> HoppingSystem:
    rng = np.random.default_rng(seed)
    L = (n / density) ** (1.0 / dim)
    box = np.full(dim, L)
    side = int(np.ceil(n ** (1.0 / dim)))
    grid = np.stack(np.meshgrid(*[np.arange(side)] * dim, indexing="ij"), -1).reshape(-1, dim)[:n]
    sites = (grid + 0.5) * (L / side) + rng.normal(0.0, 0.08 * L / side, (n, dim))
    typeid = (np.arange(n) >= int(0.8 * n)).astype(np.int64)
    soft = rng.random(n) < soft_fraction
    # loose environments: soft particles' neighbours are pushed away a little
    centre = sites[soft]
    for c in centre:
        d = sites - c
        d -= L * np.round(d / L)
        r = np.linalg.norm(d, axis=1)
        near = (r > 0) & (r < 1.6 * L / side)
        sites[near] += 0.12 * d[near] / r[near, None]
    sites %= L
    inherent = np.empty((frames, n, dim))
    cur = sites.copy()
    rate = np.where(soft, rate_soft, rate_hard)
    for k in range(frames):
        if one_per_frame:  # exactly one hop per frame interval, by a particle drawn with weight = rate
            hopping = np.zeros(n, bool)
            if k > 0:
                hopping[rng.choice(n, p=rate / rate.sum())] = True
        else:
            hopping = rng.random(n) < rate
        direction = rng.normal(size=(n, dim))
        direction /= np.linalg.norm(direction, axis=1, keepdims=True)
        cur = cur + hopping[:, None] * hop * direction
        inherent[k] = cur
    thermal = inherent + rng.normal(0.0, jitter, inherent.shape)
    steps = np.round(np.arange(frames) * frame_interval / md_dt).astype(np.int64)
    return HoppingSystem(box=box, typeid=typeid, type_names=("A", "B"), time=steps * md_dt, thermal=thermal,
                         inherent=inherent, temperature=temperature, step=steps, dt=md_dt)


def _hoomd(pos_unwrapped: np.ndarray, box: np.ndarray):
    """HOOMD convention: wrapped into [-L/2, L/2) with image flags; 3 columns."""
    dim = box.shape[0]
    img = np.floor(np.nan_to_num(pos_unwrapped / box, nan=0.0, posinf=0.0, neginf=0.0)).astype(np.int32)  # NaN stays NaN
    wrapped = pos_unwrapped - img * box - 0.5 * box
    out = np.zeros((pos_unwrapped.shape[0], 3), np.float32)
    out[:, :dim] = wrapped
    im3 = np.zeros((pos_unwrapped.shape[0], 3), np.int32)
    im3[:, :dim] = img
    return out, im3


def write_gsd(sys: HoppingSystem, path: Path, *, trsp_logs: bool = True, inherent: bool = True, frames=None) -> Path:
    import gsd.hoomd

    dim = sys.box.shape[0]
    with gsd.hoomd.open(str(path), "w") as f:
        for k in range(sys.time.shape[0]) if frames is None else frames:
            fr = gsd.hoomd.Frame()
            fr.configuration.box = [sys.box[0], sys.box[1], sys.box[2] if dim == 3 else 0.0, 0, 0, 0]
            fr.configuration.dimensions = dim
            fr.configuration.step = int(sys.step[k])
            fr.particles.N = sys.typeid.shape[0]
            fr.particles.types = list(sys.type_names)
            fr.particles.typeid = sys.typeid.astype(np.uint32)
            pos, img = _hoomd(sys.thermal[k], sys.box)
            fr.particles.position = pos
            fr.particles.image = img
            if trsp_logs:
                fr.log["trsp/time"] = np.array([sys.time[k]], dtype=np.float64)
                fr.log["trsp/temperature"] = np.array([sys.temperature], dtype=np.float64)
            if inherent:
                ipos, iimg = _hoomd(sys.inherent[k], sys.box)
                fr.log["particles/inherent_position"] = ipos
                fr.log["particles/inherent_image"] = iimg
            f.append(fr)
    return Path(path)


def write_lammps_dump(sys: HoppingSystem, path: Path, *, images: bool = True, unwrapped: bool = False,
                      boundary: str = "pp pp pp", box_lo: float = -1.0) -> Path:
    """A LAMMPS ``dump custom`` file: id type x y z [ix iy iz] (or xu yu zu), ids shuffled per frame."""
    rng = np.random.default_rng(1)
    dim = sys.box.shape[0]
    n = sys.typeid.shape[0]
    L3 = np.r_[sys.box, [1.0] * (3 - dim)]
    with open(path, "w") as f:
        for k in range(sys.time.shape[0]):
            f.write(f"ITEM: TIMESTEP\n{sys.step[k]}\nITEM: NUMBER OF ATOMS\n{n}\nITEM: BOX BOUNDS {boundary}\n")
            for a in range(3):
                f.write(f"{float(box_lo)!r} {float(box_lo + L3[a])!r}\n")
            cols = "xu yu zu" if unwrapped else ("x y z ix iy iz" if images else "x y z")
            f.write(f"ITEM: ATOMS id type {cols}\n")
            p = np.zeros((n, 3))
            p[:, :dim] = sys.thermal[k]
            img = np.floor(p / L3).astype(int)
            img[:, dim:] = 0
            w = p - img * L3 + box_lo
            if dim == 2:
                w[:, 2] = 0.0
            for i in rng.permutation(n):
                if unwrapped:
                    xyz = p[i] + box_lo
                    if dim == 2:
                        xyz[2] = 0.0
                    f.write(f"{i + 1} {sys.typeid[i] + 1} {float(xyz[0])!r} {float(xyz[1])!r} {float(xyz[2])!r}\n")
                elif images:
                    f.write(f"{i + 1} {sys.typeid[i] + 1} {float(w[i, 0])!r} {float(w[i, 1])!r} {float(w[i, 2])!r} {img[i, 0]} {img[i, 1]} {img[i, 2]}\n")
                else:
                    f.write(f"{i + 1} {sys.typeid[i] + 1} {float(w[i, 0])!r} {float(w[i, 1])!r} {float(w[i, 2])!r}\n")
    return Path(path)


def tiny_training_options() -> dict:
    """Options of `trsp softness train` that let a tiny, short, high-temperature trajectory train:
    a short p_hop window and non-rearranging window, low thresholds, few examples, two CV folds."""
    return {"p_hop_window": 2.0, "rearranging_p_hop": 0.5, "event_p_hop": 0.2, "quiet_p_hop": 0.1,
            "slow_window": 4.0, "min_examples": 5, "max_examples": 200, "cv_folds": 2, "c_grid": "0.1,1", "sigma_max": 2.5}


def tiny_training_args() -> list[str]:
    """The same as command-line arguments."""
    out = []
    for k, v in tiny_training_options().items():
        out += [f"--{k.replace('_', '-')}", str(v)]
    return out
