"""The run's checkpoint ``OUT.checkpoint`` (HDF5, replaced atomically): everything to continue bit for bit.

Datasets ``x``, ``image``, ``v`` (N, 3; float64, int64, float64) and ``typeid`` (N,): the exact
dynamical state (:class:`trsp_md.engine.MdState`); attributes: ``format`` =
"trsp-md-checkpoint", ``L``, ``step``, ``phase`` ("melt", "equilibrate", "produce"),
``blocks_done`` (thermostat blocks of the melt and equilibration done), ``frames`` (frames the
trajectory file holds), ``params`` (the parameter TOML as JSON), ``seed`` (the SeedSequence
entropy, decimal string) and ``rng`` (the generator's bit-generator state, JSON), ``engine``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trsp_ref.params import ParameterError
from trsp_runfile.atomic import atomic_path

from .engine import MdState

__all__ = ["Checkpoint", "save_checkpoint", "load_checkpoint", "CHECKPOINT_FORMAT"]

CHECKPOINT_FORMAT = "trsp-md-checkpoint"


@dataclass
class Checkpoint:
    state: MdState
    phase: str
    blocks_done: int
    frames: int
    params: dict
    seed: int
    rng_state: dict
    engine: str


def save_checkpoint(path: Path, ck: Checkpoint) -> None:
    import h5py

    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as h:
            st = ck.state
            h.create_dataset("x", data=st.x)
            h.create_dataset("image", data=st.image.astype(np.int64))
            h.create_dataset("v", data=st.v)
            h.create_dataset("typeid", data=st.typeid.astype(np.int64))
            a = h.attrs
            a["format"] = CHECKPOINT_FORMAT
            a["L"] = st.L
            a["step"] = st.step
            a["phase"] = ck.phase
            a["blocks_done"] = ck.blocks_done
            a["frames"] = ck.frames
            a["params"] = json.dumps(ck.params, sort_keys=True)
            a["seed"] = str(ck.seed)
            a["rng"] = json.dumps(ck.rng_state)
            a["engine"] = ck.engine


def load_checkpoint(path: Path) -> Checkpoint:
    """The checkpoint at ``path``; ParameterError naming it if it is not one."""
    import h5py

    try:
        with h5py.File(path, "r") as h:
            a = h.attrs
            if a.get("format") != CHECKPOINT_FORMAT:
                raise ParameterError(str(path), f"is not a trsp md checkpoint (format {a.get('format')!r})")
            st = MdState(h["x"][()], h["image"][()], h["v"][()], h["typeid"][()], float(a["L"]), int(a["step"]))
            return Checkpoint(st, str(a["phase"]), int(a["blocks_done"]), int(a["frames"]), json.loads(a["params"]),
                              int(a["seed"]), json.loads(a["rng"]), str(a["engine"]))
    except (OSError, KeyError) as exc:
        raise ParameterError(str(path), f"cannot read the checkpoint: {exc}") from None
