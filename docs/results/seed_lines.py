"""Resumable many-seed studies of docs/results (fit_false_alarms.py, fit_coverage_jackknife.py): one JSON
line per seed, appended as each seed finishes, so a study stopped at any point continues where it was."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Iterable


def read_lines(path: Path) -> list[dict]:
    """The study's lines so far ([] when the file does not exist)."""
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()] if path.exists() else []


def run_seeds(path: Path, seeds: Iterable[int], one: Callable[[int], dict], say: Callable[[dict], str]) -> None:
    """one(seed) for every seed not yet in ``path`` (a line's "seed"), each line appended when done and
    said (``say``) on stdout."""
    path.parent.mkdir(parents=True, exist_ok=True)
    done = {x["seed"] for x in read_lines(path)}
    for s in seeds:
        if s in done:
            continue
        row = one(s)
        with path.open("a") as f:
            f.write(json.dumps(row) + "\n")
        print(say(row), flush=True)
