"""The member store ``OUT.members/``: finished members, saved as they arrive, so a crash loses
only the members that were running and ``--resume`` skips the rest.

``sweep.json`` records the sweep file's text and digest (resume refuses a different sweep);
each finished member is one ``ID.npz``, written atomically (trsp_runfile.atomic).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from trsp_ref.params import ParameterError
from trsp_runfile.atomic import atomic_path, write_text_atomic

from .config import SweepConfig
from .members import EquilibriumResult, QuenchResult, result_from_arrays

__all__ = ["MemberStore", "FORMAT"]

#: the ``format`` of sweep files and of the store's manifest
FORMAT = "trsp-sweep"


class MemberStore:
    """``DIR/``: ``sweep.json`` (the sweep file's text and digest) and one ``ID.npz`` per finished member."""

    def __init__(self, root: Path):
        self.root = Path(root)

    @property
    def manifest(self) -> Path:
        return self.root / "sweep.json"

    def open(self, cfg: SweepConfig, resume: bool) -> None:
        """Create the store, or (resume) check that it belongs to this sweep."""
        if self.root.exists() and not self.root.is_dir():
            raise ParameterError("--out", f"{self.root} (where the members are kept) exists and is not a folder", str(self.root))
        if self.root.exists() and any(self.root.glob("*.npz")):
            if not resume:
                raise ParameterError(
                    "--out", f"{self.root} already holds members of a sweep: pass --resume to continue it, or remove it", str(self.root)
                )
            try:
                manifest = json.loads(self.manifest.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                raise ParameterError("--out", f"{self.manifest} is missing or unreadable: cannot check what was run", str(self.root)) from None
            if manifest.get("digest") != cfg.digest:
                raise ParameterError(
                    "config", "differs from the sweep file the stored members were run with (see sweep.json); resuming would mix two sweeps",
                    str(self.root),
                )
            return
        self.root.mkdir(parents=True, exist_ok=True)
        write_text_atomic(self.manifest, json.dumps({"format": FORMAT, "digest": cfg.digest, "sweep_toml": cfg.text}))

    def done(self) -> set[str]:
        """Ids of the stored members."""
        return {p.stem for p in self.root.glob("*.npz")}

    def write(self, result: EquilibriumResult | QuenchResult) -> None:
        """Save a finished member (atomically: a reader sees the whole member or none)."""
        arrays = {k: np.asarray(v) for k, v in dataclasses.asdict(result).items() if v is not None}
        with atomic_path(self.root / f"{result.id}.npz", suffix=".npz") as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, **arrays)

    def read(self, member: str) -> EquilibriumResult | QuenchResult | None:
        """The stored member ``member`` (an id), or None if it has not finished."""
        path = self.root / f"{member}.npz"
        if not path.exists():
            return None
        with np.load(path, allow_pickle=False) as z:
            return result_from_arrays({k: z[k] for k in z.files})
