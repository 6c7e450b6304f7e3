"""The CPU ledger of the docs/results campaign scripts (ka_md/campaign.py, ka_liquid.py).

Each command runs as a child process; its CPU seconds (user + system, from
``getrusage(RUSAGE_CHILDREN)``, so the children's children count too) and wall seconds are added to
one entry of a JSON file, which is rewritten (atomically) after every command: a campaign stopped
halfway keeps what it has measured, and a resumed one adds to it.  Wall time on the shared machine
is inflated by the load; CPU time is the figure to report.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import time
from pathlib import Path

__all__ = ["Ledger"]


class Ledger:
    """``{key: {"cpu_s", "wall_s", ...}}`` kept in ``path``."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.entries: dict = json.loads(self.path.read_text()) if self.path.exists() else {}

    def cpu(self, key: str) -> float:
        return self.entries.get(key, {}).get("cpu_s", 0.0)

    def total(self) -> float:
        return sum(e.get("cpu_s", 0.0) for e in self.entries.values())

    def save(self) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(self.entries, indent=1))
        os.replace(tmp, self.path)

    def run(self, key: str, cmd: list, *, env: dict, cwd: Path, **fields) -> tuple[int, float]:
        """Run ``cmd``; add its CPU and wall seconds to entry ``key`` (created with ``fields``).
        Returns (exit status, CPU seconds of this command)."""
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.time()
        rc = subprocess.call([str(c) for c in cmd], env=env, cwd=cwd)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        e = self.entries.setdefault(key, {**fields, "cpu_s": 0.0, "wall_s": 0.0})
        e["cpu_s"] += cpu
        e["wall_s"] += time.time() - t0
        self.save()
        return rc, cpu
